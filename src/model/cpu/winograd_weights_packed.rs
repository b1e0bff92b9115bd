//! U = G w G^T packed for the bf16 GEMMs straight from the filters, 16 GEMM rows at a time
//! (16 filters' rows of U for the forward pass, 16 input channels' rows of U^T for the input
//! gradient), each block's tiles made in a thread's scratch and packed from there while
//! they are in cache.
//!
//! Why: the deep layers' weights are large beside their few tiles. On ResNet-18's 512-channel
//! 4x4 layers at batch 32 U is 16 MB in f32 per pass; made whole and then packed, it was
//! zeroed, written, read back and packed (~60 MB of memory traffic for 8 MB of packs), a
//! larger part of the pass than its GEMMs. The values are those of
//! `winograd_weights::weight_tiles` and the rounding the packing's, so the packs have the
//! same bits (the tests compare them).

use std::cell::RefCell;

use rayon::prelude::*;

use super::chunks::by_piece;
use super::conv_kernels::ConvShape;
use super::gemm_bf16;
use super::winograd_grid::Grid;
use super::winograd_weights::tiles_block_fn;
use super::winograd_weights43::BLOCK;

/// GEMM rows per block: the vector packing's block of lines (`gemm_bf16_pack`).
const ROWS: usize = 16;

thread_local! {
    /// Each thread's block of filters (U^T: gathered) and of their tiles, kept between calls.
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// Every tile position's U (or U^T when `transposed`) packed as `gemm_bf16::pack_a` packs it,
/// or None where this path does not apply (rows not a multiple of 16, or no vector packing
/// on this CPU): the caller then packs from the whole U.
pub(super) fn packed_tiles(
    s: &ConvShape,
    g: &Grid,
    weight: &[f32],
    transposed: bool,
) -> Option<Vec<Vec<u32>>> {
    let (rows, k) = if transposed { (s.c, s.o) } else { (s.o, s.c) };
    if !rows.is_multiple_of(ROWS) || !gemm_bf16::available() {
        return None;
    }
    let p = g.positions();
    // Blocks of 16 rows (two panels of MR = 8, or AMX's layout), every pair of each written
    // by the packing.
    let block = gemm_bf16::rows16_len(k);
    let mut packs: Vec<Vec<u32>> = (0..p).map(|_| vec![0u32; rows / ROWS * block]).collect();
    let blocks = by_piece(
        packs.iter_mut().map(|pk| pk.chunks_mut(block)).collect(),
        rows / ROWS,
    );
    let tiles_block = tiles_block_fn(g);
    blocks
        .into_par_iter()
        .enumerate()
        .for_each(|(b, mut outs)| {
            SCRATCH.with_borrow_mut(|(gathered, tiles)| {
                // The block's filters, (row, k) in the order the rows and k run in memory:
                // forward: filters o of the block, every c (contiguous in `weight`);
                // transposed: every o, channels c of the block (16 filters per o, gathered).
                let filters: &[f32] = if transposed {
                    gathered.clear();
                    for o in 0..s.o {
                        let first = o * s.c + b * ROWS;
                        gathered.extend_from_slice(&weight[9 * first..][..9 * ROWS]);
                    }
                    gathered
                } else {
                    &weight[b * ROWS * s.c * 9..][..ROWS * s.c * 9]
                };
                let count = ROWS * k;
                tiles.resize(p * count, 0.0);
                for (j, w) in filters.chunks(9 * BLOCK).enumerate() {
                    let mut runs: Vec<&mut [f32]> = tiles
                        .chunks_mut(count)
                        .map(|t| &mut t[j * BLOCK..][..w.len() / 9])
                        .collect();
                    tiles_block(w, &mut runs);
                }
                // Forward: row o_l's k = c run along memory; transposed: row c_l is element
                // c_l of each o's 16.
                let (line_stride, k_stride) = if transposed { (1, ROWS) } else { (k, 1) };
                for (xi, out) in outs.iter_mut().enumerate() {
                    let src = &tiles[xi * count..][..count];
                    gemm_bf16::pack_rows16(out, src, k, line_stride, k_stride);
                }
            })
        });
    Some(packs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu::conv_kernels::tests::values;
    use crate::model::cpu::gemm_bf16::{Strided, pack_a};
    use crate::model::cpu::winograd_weights::weight_tiles;

    /// The packs equal `pack_a` of the whole U (and of U^T), bit for bit, for F(2x2) and
    /// F(4x4), with k odd and k past a vector's 32, and 1 and 3 threads.
    #[test]
    fn packed_tiles_are_the_packs_of_the_whole_u() {
        if !gemm_bf16::available() {
            eprintln!("skipped: no AVX512-BF16 here");
            return;
        }
        for (o, c) in [(16, 48), (32, 16), (48, 37), (37, 32)] {
            let s = ConvShape {
                n: 1,
                c,
                h: 8,
                w: 8,
                o,
                k: 3,
                stride: 1,
                pad: 1,
                bf16: true,
            };
            let w = values(o * c * 9, 5);
            for m in [2, 4] {
                let g = if m == 2 {
                    Grid::new(&s)
                } else {
                    Grid::with_outputs(&s, 4)
                };
                let u = weight_tiles(&s, &g, &w);
                for transposed in [false, true] {
                    let (rows, k) = if transposed { (c, o) } else { (o, c) };
                    let got = |threads| {
                        let pool = rayon::ThreadPoolBuilder::new()
                            .num_threads(threads)
                            .build()
                            .unwrap();
                        pool.install(|| packed_tiles(&s, &g, &w, transposed))
                    };
                    let (one, three) = (got(1), got(3));
                    if !rows.is_multiple_of(ROWS) {
                        assert!(one.is_none(), "{rows} rows are not whole blocks");
                        continue;
                    }
                    let (one, three) = (one.unwrap(), three.unwrap());
                    assert_eq!(
                        one, three,
                        "threads, {o}x{c} F({m}) transposed={transposed}"
                    );
                    for (xi, pack) in one.iter().enumerate() {
                        let data = &u[xi * o * c..][..o * c];
                        let (rs, cs) = if transposed { (1, c) } else { (c, 1) };
                        let mut want = Vec::new();
                        pack_a(&mut want, rows, k, Strided { data, rs, cs });
                        assert_eq!(
                            pack, &want,
                            "{o}x{c} F({m}) xi={xi} transposed={transposed}"
                        );
                    }
                }
            }
        }
    }
}
