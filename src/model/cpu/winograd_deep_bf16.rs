//! The deep layers' per-position GEMMs with bf16 GEMMs (`gemm_bf16`), every chunk's tiles side
//! by side in one GEMM. Chunk by chunk, as the f32 path goes, each GEMM is as wide as one
//! chunk's tiles (16 on ResNet-18's 4x4 planes), half of the bf16 kernel's 32 columns, and the
//! weight gradient's sum over a chunk's 16 tiles is 8 pairs of k between reading and writing
//! all of dU[xi] (1 MB on a 512-channel layer) again. Side by side the forward and input
//! gradient GEMMs are the whole batch wide and dU[xi] is one GEMM over the whole batch's tiles,
//! made 16 filters at a time and turned into dw while in cache (`weight_grad`).
//!
//! The sums run in another order than the f32 path's (fixed by the shapes all the same, so
//! the bits do not depend on the thread count).

use std::cell::RefCell;
use std::mem::MaybeUninit;

use super::chunks::{filled_in_chunks, zeroed};
use super::conv_kernels::ConvShape;
use super::gemm_bf16::{self, Strided};
use super::winograd_grid::Grid;
use super::winograd_weights::grad_block_fn;
use super::winograd_weights43::BLOCK;

/// Blocks `[rows][tt_k]` side by side: `[rows][sum of tt_k]`.
fn side_by_side(blocks: &[&[f32]], rows: usize) -> (Vec<f32>, usize) {
    let width: usize = blocks.iter().map(|b| b.len() / rows).sum();
    let mut out = Vec::with_capacity(rows * width);
    for r in 0..rows {
        for b in blocks {
            let tt = b.len() / rows;
            out.extend_from_slice(&b[r * tt..][..tt]);
        }
    }
    (out, width)
}

/// `side_by_side` undone: `[rows][width]` back into the blocks `[rows][tt_k]`.
fn split_columns(src: &[f32], rows: usize, width: usize, blocks: &mut [&mut [f32]]) {
    let mut at = 0;
    for b in blocks.iter_mut() {
        let tt = b.len() / rows;
        for (r, row) in b.chunks_exact_mut(tt).enumerate() {
            row.copy_from_slice(&src[r * width + at..][..tt]);
        }
        at += tt;
    }
}

/// M[xi] of every chunk (`ms`, each `[o][tt_k]`) = U[xi] (packed: `pa`) times its V[xi]
/// (`vs`, each `[c][tt_k]`).
pub(super) fn output_tiles(s: &ConvShape, pa: &[u32], ms: &mut [&mut [f32]], vs: &[&mut [f32]]) {
    let vs: Vec<&[f32]> = vs.iter().map(|v| &v[..]).collect();
    let (v, n) = side_by_side(&vs, s.c);
    let mut m = vec![0.0f32; s.o * n];
    let b = Strided {
        data: &v,
        rs: n,
        cs: 1,
    };
    gemm_bf16::matmul_packed_a(s.o, n, s.c, &mut m, pa, b, false);
    split_columns(&m, s.o, n, ms);
}

/// The operands of dU[xi] = the sum over every chunk of Yh[xi] V[xi]^T, packed for
/// `weight_grad` (Yh[xi] as A, V[xi]^T as B, k = the batch's tiles); and, given U[xi]^T
/// packed (`ut`), each chunk's Z[xi] = U[xi]^T Yh[xi] written over its V[xi] (`vs`).
pub(super) fn backward_tiles(
    s: &ConvShape,
    yhs: &[&[f32]],
    vs: &mut [&mut [f32]],
    ut: Option<&[u32]>,
) -> GradPacks {
    let (yh, n) = side_by_side(yhs, s.o);
    let vs_read: Vec<&[f32]> = vs.iter().map(|v| &v[..]).collect();
    let (v, _) = side_by_side(&vs_read, s.c);
    let a = Strided {
        data: &yh,
        rs: n,
        cs: 1,
    };
    let mut packs = GradPacks {
        yh: Vec::new(),
        vt: Vec::new(),
        tiles: n,
    };
    gemm_bf16::pack_a(&mut packs.yh, s.o, n, a);
    let vt = Strided {
        data: &v,
        rs: 1,
        cs: n,
    };
    gemm_bf16::pack_b(&mut packs.vt, n, s.c, vt);
    if let Some(ut) = ut {
        let mut z = vec![0.0f32; s.c * n];
        gemm_bf16::matmul_packed_a(s.c, n, s.o, &mut z, ut, a, false);
        split_columns(&z, s.c, n, vs);
    }
    packs
}

/// One tile position's packed Yh[xi] (A, `[o][tiles]`) and V[xi]^T (B, `[tiles][c]`).
pub(super) struct GradPacks {
    yh: Vec<u32>,
    vt: Vec<u32>,
    tiles: usize,
}

/// Filters o per block of `weight_grad`: two of the GEMM's 8-row panels. (16, 32, 64 and 128
/// ran alike on ResNet-18's 256- and 512-channel convs at batch 32 and 128.)
const ROWS: usize = 16;

thread_local! {
    /// Each thread's dU rows of one block at every tile position, kept between calls.
    static DU_ROWS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// dw (`[o][c][3][3]`) from every position's packs, by blocks of 16 filters o: the block's
/// rows of each dU[xi] (16 x c), then G^T dU G of its 16 c filters while they are in cache.
/// Made whole, dU is 16 MB on a 512-channel layer, written and read back once per pass. The
/// GEMMs and the transform are those of the whole dU, so dw has the same bits.
pub(super) fn weight_grad(s: &ConvShape, g: &Grid, packs: &[GradPacks]) -> Vec<f32> {
    let block = grad_block_fn(g);
    // u32s of 16 packed rows of Yh (two 8-row panels, or AMX's layout).
    let rows16 = gemm_bf16::rows16_len(packs[0].tiles);
    let fill = |b: usize, dw: &mut [MaybeUninit<f32>]| {
        let rows = dw.len() / (9 * s.c);
        let count = rows * s.c;
        let dw = zeroed(dw);
        DU_ROWS.with_borrow_mut(|du| {
            du.resize(packs.len() * count, 0.0);
            for (p, dux) in packs.iter().zip(du.chunks_exact_mut(count)) {
                let a = &p.yh[b * rows16..];
                gemm_bf16::matmul_packed(rows, s.c, p.tiles, dux, a, &p.vt, false);
            }
            for (j, dwj) in dw.chunks_mut(9 * BLOCK).enumerate() {
                let runs: Vec<&[f32]> = du
                    .chunks_exact(count)
                    .map(|d| &d[j * BLOCK..][..dwj.len() / 9])
                    .collect();
                block(&runs, dwj);
            }
        })
    };
    filled_in_chunks(s.o * s.c * 9, ROWS * s.c * 9, fill).0
}
