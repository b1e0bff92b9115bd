//! The deep layers' per-position GEMMs with bf16 GEMMs (`gemm_bf16`), every chunk's tiles side
//! by side in one GEMM. Chunk by chunk, as the f32 path goes, each GEMM is as wide as one
//! chunk's tiles (16 on ResNet-18's 4x4 planes), half of the bf16 kernel's 32 columns, and the
//! weight gradient's sum over a chunk's 16 tiles is 8 pairs of k between reading and writing
//! all of dU[xi] (1 MB on a 512-channel layer) again. Side by side the forward and input
//! gradient GEMMs are the whole batch wide and dU[xi] is one GEMM over the whole batch's tiles.
//!
//! The sums run in another order than the f32 path's (fixed by the shapes all the same, so
//! the bits do not depend on the thread count).

use super::conv_kernels::ConvShape;
use super::gemm_bf16::{self, Strided};

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

/// dU[xi] (`dux`, written) = the sum over every chunk of Yh[xi] V[xi]^T, and, given U[xi]^T
/// packed (`ut`), each chunk's Z[xi] = U[xi]^T Yh[xi] written over its V[xi] (`vs`).
pub(super) fn backward_tiles(
    s: &ConvShape,
    dux: &mut [f32],
    yhs: &[&[f32]],
    vs: &mut [&mut [f32]],
    ut: Option<&[u32]>,
) {
    let (yh, n) = side_by_side(yhs, s.o);
    let vs_read: Vec<&[f32]> = vs.iter().map(|v| &v[..]).collect();
    let (v, _) = side_by_side(&vs_read, s.c);
    let a = Strided {
        data: &yh,
        rs: n,
        cs: 1,
    };
    gemm_bf16::matmul(
        s.o,
        s.c,
        n,
        dux,
        a,
        Strided {
            data: &v,
            rs: 1,
            cs: n,
        },
        false,
    );
    if let Some(ut) = ut {
        let mut z = vec![0.0f32; s.c * n];
        gemm_bf16::matmul_packed_a(s.c, n, s.o, &mut z, ut, a, false);
        split_columns(&z, s.c, n, vs);
    }
}
