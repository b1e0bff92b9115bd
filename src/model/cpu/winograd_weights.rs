//! The F(2x2, 3x3) weight transforms of `winograd.rs`: U = G w G^T (forward and input
//! gradient) and dw = G^T dU G (weight gradient), for every (o, c) pair.
//!
//! They run once per convolution per pass whatever the batch, so on ResNet-18's 512-channel
//! layers (262,144 filters, 16 MB of tiles) they were a large part of a small batch's step:
//! one filter at a time on one core, 11.5 ms and 28 ms per conv at batch 32 (2-core VM). Here
//! the filters go in blocks, in parallel: within a block the nine weights and the sixteen
//! tile positions are each a contiguous run across filters, so every step of the transform is
//! one vectorized pass. Each value is computed by the same expression as one filter at a time
//! (the tests compare the bits), so results are unchanged and do not depend on the threads.

use rayon::prelude::*;

use super::chunks::by_piece;
use super::conv_kernels::ConvShape;
use super::gemm_bf16::{self, Strided};
use super::winograd_grid::Grid;
use super::winograd_weights_packed::packed_tiles;
use super::winograd_weights43::{self as w43, BLOCK};

/// G applied to one column (a, b, c) of a 3x3 filter: its four rows.
#[inline(always)]
fn g(a: f32, b: f32, c: f32) -> [f32; 4] {
    [a, 0.5 * (a + b + c), 0.5 * (a - b + c), c]
}

/// G^T applied to one row (four values) of a 4x4 tile gradient: its three columns.
#[inline(always)]
fn gt(x: [f32; 4]) -> [f32; 3] {
    [
        x[0] + 0.5 * (x[1] + x[2]),
        0.5 * (x[1] - x[2]),
        0.5 * (x[1] + x[2]) + x[3],
    ]
}

/// G on lanes: the four rows of (a, b, c), each filter one lane.
#[inline(always)]
fn g_lanes(a: &[f32], b: &[f32], c: &[f32], out: [&mut [f32]; 4]) {
    let [r0, r1, r2, r3] = out;
    for f in 0..a.len().min(b.len()).min(c.len()).min(r0.len()) {
        let v = g(a[f], b[f], c[f]);
        (r0[f], r1[f], r2[f], r3[f]) = (v[0], v[1], v[2], v[3]);
    }
}

/// G^T on lanes: the three columns of (x0, x1, x2, x3), each filter one lane.
#[inline(always)]
fn gt_lanes(x: [&[f32]; 4], out: [&mut [f32]; 3]) {
    let [c0, c1, c2] = out;
    let n = x.iter().map(|r| r.len()).fold(c0.len(), usize::min);
    for f in 0..n {
        let v = gt([x[0][f], x[1][f], x[2][f], x[3][f]]);
        (c0[f], c1[f], c2[f]) = (v[0], v[1], v[2]);
    }
}

wide! {
    /// U of one block's filters: `w` holds them as [filter][9], `u` gets the 16 tile positions.
    fn weight_tiles_block(w: &[f32], u: &mut [&mut [f32]]) {
        let n = w.len() / 9;
        // The nine weights as runs across filters, then G down each column of the filters
        // (cols[j][i]), then G along each row i.
        let mut t = [[0.0f32; BLOCK]; 9];
        for (f, wf) in w.chunks_exact(9).enumerate() {
            (0..9).for_each(|k| t[k][f] = wf[k]);
        }
        let mut cols = [[[0.0f32; BLOCK]; 4]; 3];
        for (j, col) in cols.iter_mut().enumerate() {
            let [c0, c1, c2, c3] = col;
            g_lanes(&t[j][..n], &t[3 + j][..n], &t[6 + j][..n], [c0, c1, c2, c3]);
        }
        for i in 0..4 {
            let [u0, u1, u2, u3] = &mut u[4 * i..4 * i + 4] else { unreachable!() };
            g_lanes(&cols[0][i][..n], &cols[1][i][..n], &cols[2][i][..n], [u0, u1, u2, u3]);
        }
    }
}

wide! {
    /// dw of one block's filters from their 16 runs of dU; `dw` gets them as [filter][9].
    fn weight_grad_block(du: &[&[f32]], dw: &mut [f32]) {
        let n = dw.len() / 9;
        // rows[j][a]: G^T down tile column j; then G^T along each row a.
        let mut rows = [[[0.0f32; BLOCK]; 3]; 4];
        for (j, row) in rows.iter_mut().enumerate() {
            let [r0, r1, r2] = row;
            gt_lanes([du[j], du[4 + j], du[8 + j], du[12 + j]], [r0, r1, r2]);
        }
        let mut t = [[0.0f32; BLOCK]; 9];
        for a in 0..3 {
            let [t0, t1, t2] = &mut t[3 * a..3 * a + 3] else { unreachable!() };
            let x = [&rows[0][a][..n], &rows[1][a][..n], &rows[2][a][..n], &rows[3][a][..n]];
            gt_lanes(x, [t0, t1, t2]);
        }
        for (f, out) in dw.chunks_exact_mut(9).enumerate() {
            (0..9).for_each(|k| out[k] = t[k][f]);
        }
    }
}

/// U = G w G^T of every (o, c) pair, laid out [positions][o][c] (`g.m` picks the transform).
pub(super) fn weight_tiles(s: &ConvShape, g: &Grid, weight: &[f32]) -> Vec<f32> {
    let oc = s.o * s.c;
    let mut u = vec![0.0f32; g.positions() * oc];
    let rows = u.chunks_mut(oc).map(|r| r.chunks_mut(BLOCK)).collect();
    let blocks = by_piece(rows, oc.div_ceil(BLOCK)).into_par_iter();
    let block = tiles_block_fn(g);
    blocks
        .zip(weight.par_chunks(9 * BLOCK))
        .for_each(|(mut runs, w)| block(w, &mut runs));
    u
}

/// The transform of one block of up to `BLOCK` filters (`[filter][9]`) into their runs at
/// each tile position, for `g`'s variant.
pub(super) fn tiles_block_fn(g: &Grid) -> fn(&[f32], &mut [&mut [f32]]) {
    if g.m == 4 {
        w43::weight_tiles_block
    } else {
        weight_tiles_block
    }
}

/// dw = G^T du G of every (o, c) pair, from du laid out [positions][o][c]; dw is
/// [o][c][3][3].
pub(super) fn weight_grad(s: &ConvShape, g: &Grid, du: &[f32]) -> Vec<f32> {
    let oc = s.o * s.c;
    let mut dw = vec![0.0f32; oc * 9];
    let block = grad_block_fn(g);
    by_piece(
        du.chunks(oc).map(|r| r.chunks(BLOCK)).collect(),
        oc.div_ceil(BLOCK),
    )
    .into_par_iter()
    .zip(dw.par_chunks_mut(9 * BLOCK))
    .for_each(|(runs, dw)| block(&runs, dw));
    dw
}

/// The transform of one block of up to `BLOCK` filters' dU runs (one per tile position) into
/// their dw (`[filter][9]`), for `g`'s variant.
pub(super) fn grad_block_fn(g: &Grid) -> fn(&[&[f32]], &mut [f32]) {
    if g.m == 4 {
        w43::weight_grad_block
    } else {
        weight_grad_block
    }
}

/// U = G w G^T at the 16 tile positions (`[16][o][c]`), or under bf16 GEMMs
/// (`ConvShape::bf16_gemms`) each position packed for the GEMM that reads it (U for the
/// forward pass, U^T for the input gradient: `transposed`), once per pass rather than once
/// per chunk of images.
pub(super) enum UTiles {
    F32(Vec<f32>),
    Packed(Vec<Vec<u32>>),
}

/// One tile position's U, as [`UTiles`] holds it.
pub(super) enum UTile<'a> {
    F32(&'a [f32]),
    Packed(&'a [u32]),
}

impl UTiles {
    pub(super) fn new(s: &ConvShape, g: &Grid, weight: &[f32], transposed: bool) -> Self {
        if s.bf16_gemms()
            && let Some(packs) = packed_tiles(s, g, weight, transposed)
        {
            return UTiles::Packed(packs);
        }
        let u = weight_tiles(s, g, weight);
        if !s.bf16_gemms() {
            return UTiles::F32(u);
        }
        let oc = s.o * s.c;
        let pack = |xi: usize| {
            let data = &u[xi * oc..][..oc];
            let mut pa = Vec::new();
            if transposed {
                let ut = Strided {
                    data,
                    rs: 1,
                    cs: s.c,
                };
                gemm_bf16::pack_a(&mut pa, s.c, s.o, ut);
            } else {
                gemm_bf16::pack_a(
                    &mut pa,
                    s.o,
                    s.c,
                    Strided {
                        data,
                        rs: s.c,
                        cs: 1,
                    },
                );
            }
            pa
        };
        UTiles::Packed((0..g.positions()).into_par_iter().map(pack).collect())
    }

    /// Position xi's U (`[o][c]`), or its pack.
    pub(super) fn at(&self, s: &ConvShape, xi: usize) -> UTile<'_> {
        match self {
            UTiles::F32(u) => UTile::F32(&u[xi * s.o * s.c..][..s.o * s.c]),
            UTiles::Packed(p) => UTile::Packed(&p[xi]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu::conv_kernels::tests::values;

    /// U of one filter at a time, as it was before the blocks.
    fn weight_tiles_one_by_one(oc: usize, weight: &[f32]) -> Vec<f32> {
        let mut u = vec![0.0f32; 16 * oc];
        for (k, w) in weight.chunks_exact(9).enumerate() {
            let cols = [0, 1, 2].map(|j| g(w[j], w[3 + j], w[6 + j]));
            for i in 0..4 {
                for (j, v) in g(cols[0][i], cols[1][i], cols[2][i])
                    .into_iter()
                    .enumerate()
                {
                    u[(i * 4 + j) * oc + k] = v;
                }
            }
        }
        u
    }

    /// dw of one filter at a time, as it was before the blocks.
    fn weight_grad_one_by_one(oc: usize, du: &[f32]) -> Vec<f32> {
        let mut dw = vec![0.0f32; oc * 9];
        for (k, out) in dw.chunks_exact_mut(9).enumerate() {
            let rows = [0, 1, 2, 3].map(|j| gt([0, 1, 2, 3].map(|i| du[(i * 4 + j) * oc + k])));
            for a in 0..3 {
                out[a * 3..a * 3 + 3].copy_from_slice(&gt([0, 1, 2, 3].map(|j| rows[j][a])));
            }
        }
        dw
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|f| f.to_bits()).collect()
    }

    /// Whole blocks, a short last block and a single short one; 1 and 3 threads.
    #[test]
    fn blocks_give_the_bits_of_one_filter_at_a_time() {
        for (o, c) in [(16, 16), (40, 9), (3, 5)] {
            let s = ConvShape {
                n: 1,
                c,
                h: 4,
                w: 4,
                o,
                k: 3,
                stride: 1,
                pad: 1,
                bf16: false,
            };
            let oc = o * c;
            let w = values(oc * 9, 11);
            let du = values(16 * oc, 12);
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let g = Grid::new(&s);
                let (u, dw) = pool.install(|| (weight_tiles(&s, &g, &w), weight_grad(&s, &g, &du)));
                assert_eq!(
                    bits(&u),
                    bits(&weight_tiles_one_by_one(oc, &w)),
                    "U {o}x{c}"
                );
                assert_eq!(
                    bits(&dw),
                    bits(&weight_grad_one_by_one(oc, &du)),
                    "dw {o}x{c}"
                );
            }
        }
    }
}
