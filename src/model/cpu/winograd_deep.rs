//! Winograd's passes for deep layers (many channels, few tiles per image: ResNet-18's 256- and
//! 512-channel stages), tile position by tile position instead of chunk by chunk.
//!
//! Chunk by chunk, each chunk of images ran its 16 GEMMs against all of U: on a 512-channel
//! 4x4 layer at batch 32 that is 16 MB of U streamed from memory by each of 8 chunks, through
//! GEMMs only 16 tiles wide (~50 GFLOPS on 2 cores where the same GEMMs reach ~80 per core
//! from cache). Here each pass goes in three parallel steps:
//!   1. per chunk: its input tiles V (backward: and gradient tiles Yh and bias gradient);
//!   2. per tile position xi, over every chunk in chunk order, while U[xi] (1 MB) stays in
//!      cache: forward M[xi] = U[xi] V[xi]; backward dU[xi] (summed over the chunks), then
//!      Z[xi] = U[xi]^T Yh[xi] written over V[xi] (no longer needed);
//!   3. per chunk: y from its M, or dx from its Z.
//!
//! Every GEMM and sum is the one the chunked passes run, in the same order, so the bits are
//! those of `winograd.rs` before this file existed, whatever the thread count.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::chunks::{by_piece, filled_in_chunks, sum_in_chunk_order, with_scratch};
use super::conv_kernels::{ConvShape, Grads};
use super::winograd::{
    chunk_input_grad, chunk_input_tiles, chunk_output, chunk_tiles, input_tile_grad, output_tile,
    weight_tile_grad,
};
use super::winograd_deep_bf16 as bf16_wide;
use super::winograd_grid::Grid;
use super::winograd_weights::{UTile, UTiles, weight_grad};

/// One chunk's tiles: V (then Z) and Yh, `[16][channels][tt]` each, and its bias gradient.
struct ChunkTiles {
    v: Vec<f32>,
    yh: Vec<f32>,
    db: Vec<f32>,
    tt: usize,
}

/// Each chunk's tiles (`[16][rows][tt]`) cut into their 16 tile positions, regrouped by
/// position.
fn by_position<'a>(
    g: &Grid,
    tiles: impl Iterator<Item = (&'a mut Vec<f32>, usize)>,
    rows: usize,
) -> Vec<Vec<&'a mut [f32]>> {
    by_piece(
        tiles.map(|(t, tt)| t.chunks_mut(rows * tt)).collect(),
        g.positions(),
    )
}

/// `f(chunk, its images' slice, row scratch)` over the batch in chunks of `per` images, in
/// parallel, into a new vector of `len` values per image; `f` must write its whole slice.
fn per_chunk(
    s: &ConvShape,
    g: &Grid,
    per: usize,
    len: usize,
    f: impl Fn(usize, &mut [MaybeUninit<f32>], &mut [f32]) + Sync,
) -> Vec<f32> {
    let fill = |k, part: &mut [MaybeUninit<f32>]| {
        with_scratch([0, 0, g.scratch_len()], |_, _, buf| f(k, part, buf))
    };
    filled_in_chunks(s.n * len, per * len, fill).0
}

/// y = conv(x, weight) + bias of one deep layer; the chunking as `winograd::forward`.
pub(super) fn forward(
    s: &ConvShape,
    g: &Grid,
    per: usize,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let mut v: Vec<(Vec<f32>, usize)> = (0..s.n.div_ceil(per))
        .into_par_iter()
        .map(|chunk| {
            let images = chunk * per..(chunk * per + per).min(s.n);
            let tt = images.len() * g.tiles();
            let mut v = vec![0.0f32; g.positions() * s.c * tt];
            with_scratch([0, 0, g.scratch_len()], |_, _, buf| {
                chunk_input_tiles(s, g, x, images, &mut v, buf)
            });
            (v, tt)
        })
        .collect();
    let u = UTiles::new(s, g, weight, false);
    let mut m: Vec<(Vec<f32>, usize)> = v
        .iter()
        .map(|(_, tt)| (vec![0.0f32; g.positions() * s.o * tt], *tt))
        .collect();
    let m_by_xi = by_position(g, m.iter_mut().map(|(m, tt)| (m, *tt)), s.o);
    let v_by_xi = by_position(g, v.iter_mut().map(|(v, tt)| (v, *tt)), s.c);
    m_by_xi
        .into_par_iter()
        .zip(v_by_xi)
        .enumerate()
        .for_each(|(xi, (mut ms, vs))| match u.at(s, xi) {
            UTile::Packed(pa) => bf16_wide::output_tiles(s, pa, &mut ms, &vs),
            UTile::F32(_) => {
                for (mx, vx) in ms.into_iter().zip(vs) {
                    output_tile(s, mx, &u, xi, vx, vx.len() / s.c);
                }
            }
        });
    per_chunk(s, g, per, s.o * g.oh * g.ow, |k, ys, buf| {
        chunk_output(s, g, &m[k].0, m[k].1, bias, ys, buf)
    })
}

/// Gradients of one deep layer; `[x, weight, dy]` and the chunking as `winograd::backward`.
pub(super) fn backward(
    s: &ConvShape,
    g: &Grid,
    per: usize,
    [x, weight, dy]: [&[f32]; 3],
    need_x: bool,
    need_bias: bool,
) -> Grads {
    let oc = s.o * s.c;
    let mut chunks: Vec<ChunkTiles> = (0..s.n.div_ceil(per))
        .into_par_iter()
        .map(|chunk| {
            let images = chunk * per..(chunk * per + per).min(s.n);
            let tt = images.len() * g.tiles();
            let mut v = vec![0.0f32; g.positions() * s.c * tt];
            let mut yh = vec![0.0f32; g.positions() * s.o * tt];
            let mut db = vec![0.0f32; if need_bias { s.o } else { 0 }];
            with_scratch([0, 0, g.scratch_len()], |_, _, buf| {
                chunk_tiles(s, g, x, dy, images, &mut v, &mut yh, &mut db, buf)
            });
            ChunkTiles { v, yh, db, tt }
        })
        .collect();
    let u = need_x.then(|| UTiles::new(s, g, weight, true));
    if s.bf16_gemms() {
        let weight = backward_bf16(s, g, &mut chunks, u.as_ref());
        return Grads {
            x: need_x.then(|| input_grad(s, g, per, &chunks)),
            weight,
            bias: sum_in_chunk_order(chunks.iter().map(|ch| &ch.db[..]), s.o),
        };
    }
    let mut du = vec![0.0f32; g.positions() * oc];
    {
        let (v, yh): (Vec<_>, Vec<(&[f32], usize)>) = chunks
            .iter_mut()
            .map(|ch| ((&mut ch.v, ch.tt), (&ch.yh[..], ch.tt)))
            .unzip();
        let v_by_xi = by_position(g, v.into_iter(), s.c);
        du.par_chunks_mut(oc)
            .zip(v_by_xi)
            .enumerate()
            .for_each(|(xi, (dux, mut vs))| {
                let yx = |k: usize| &yh[k].0[xi * s.o * yh[k].1..][..s.o * yh[k].1];
                for (k, vx) in vs.iter().enumerate() {
                    weight_tile_grad(s, dux, yx(k), vx, yh[k].1, k > 0);
                }
                if let Some(u) = u.as_ref() {
                    for (k, zx) in vs.iter_mut().enumerate() {
                        input_tile_grad(s, zx, u, xi, yx(k), yh[k].1);
                    }
                }
            });
    }
    Grads {
        x: need_x.then(|| input_grad(s, g, per, &chunks)),
        weight: weight_grad(s, g, &du),
        bias: sum_in_chunk_order(chunks.iter().map(|ch| &ch.db[..]), s.o),
    }
}

/// dx from each chunk's Z tiles.
fn input_grad(s: &ConvShape, g: &Grid, per: usize, chunks: &[ChunkTiles]) -> Vec<f32> {
    per_chunk(s, g, per, s.c * s.h * s.w, |k, dxc, buf| {
        chunk_input_grad(s, g, &chunks[k].v, chunks[k].tt, dxc, buf)
    })
}

/// Step 2 under bf16 GEMMs, whole-batch GEMMs (`winograd_deep_bf16`): per tile position, the
/// packs of dU[xi]'s operands and Z[xi] over V[xi]; then dw from the packs, block by block.
fn backward_bf16(
    s: &ConvShape,
    g: &Grid,
    chunks: &mut [ChunkTiles],
    u: Option<&UTiles>,
) -> Vec<f32> {
    let (v, yh): (Vec<_>, Vec<(&[f32], usize)>) = chunks
        .iter_mut()
        .map(|ch| ((&mut ch.v, ch.tt), (&ch.yh[..], ch.tt)))
        .unzip();
    let packs: Vec<bf16_wide::GradPacks> = by_position(g, v.into_iter(), s.c)
        .into_par_iter()
        .enumerate()
        .map(|(xi, mut vs)| {
            let yxs: Vec<&[f32]> = yh
                .iter()
                .map(|(y, tt)| &y[xi * s.o * tt..][..s.o * tt])
                .collect();
            let ut = u.and_then(|u| match u.at(s, xi) {
                UTile::Packed(pa) => Some(pa),
                UTile::F32(_) => None,
            });
            bf16_wide::backward_tiles(s, &yxs, &mut vs, ut)
        })
        .collect();
    bf16_wide::weight_grad(s, g, &packs)
}
