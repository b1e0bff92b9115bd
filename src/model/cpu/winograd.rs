//! 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of outputs comes
//! from a 4x4 input tile with 16 multiplies per input/output channel pair instead of im2col's
//! 36, so the GEMMs of the forward pass and of both gradients do 2.25x fewer flops. The three
//! passes share the same transforms (B, G, A are the F(2x2, 3x3) matrices):
//!   forward      y  = A^T [ sum_c U[o, c] * V[c] ] A             U = G w G^T,  V = B^T d B
//!   input grad   dx = sum over tiles of B [ sum_o U[o, c] * Yh[o] ] B^T       Yh = A dy A^T
//!   weight grad  dw = G^T [ sum over tiles of Yh[o] * V[c] ] G
//! (`*` elementwise on the 4x4 tiles). Each bracket is 16 GEMMs over the channels, one per
//! tile position xi, run by `gemm`. The transforms work on a whole row of tiles at a time, so
//! the compiler vectorizes them across tiles.
//!
//! Deterministic like the im2col path: chunks of images fixed by the shapes, partial weight
//! gradients summed in chunk order.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::chunks::{backward_in_chunks, sum_in_chunk_order, with_scratch};
use super::conv_kernels::{ConvShape, Grads, matmul};
use super::winograd_tiles::{Grid, grad_tiles, input_grad_tiles, input_tiles, output_tiles};
use super::winograd_weights::{weight_grad, weight_tiles};

/// Whether a convolution goes through this module: 3x3 kernel, stride 1.
pub(super) fn applies(s: &ConvShape) -> bool {
    s.k == 3 && s.stride == 1 && s.c * s.o >= 64
}

/// Images per work item: enough tiles (~256) for the GEMMs to run at speed, yet at least
/// eight items per batch where the batch allows, to spread over the cores.
fn chunk_images(s: &ConvShape, g: &Grid) -> usize {
    256usize.div_ceil(g.tiles()).min((s.n / 8).max(1))
}

/// Forward: y = conv(x, weight) + bias, y is [n, o, oh, ow].
pub(super) fn forward(s: &ConvShape, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let g = Grid::new(s);
    let per = chunk_images(s, &g);
    let (in_len, plane_in, plane_out) = (s.c * s.h * s.w, s.h * s.w, g.oh * g.ow);
    let out_len = s.o * plane_out;
    let u = weight_tiles(s, weight);
    let mut y: Vec<f32> = Vec::with_capacity(s.n * out_len);
    y.spare_capacity_mut()[..s.n * out_len]
        .par_chunks_mut(out_len * per)
        .enumerate()
        .for_each(|(chunk, ys)| {
            let imgs = ys.len() / out_len;
            let tt = imgs * g.tiles();
            let lens = [16 * s.c * tt, 16 * s.o * tt, g.scratch_len()];
            with_scratch(lens, |v, m, buf| {
                for i in 0..imgs {
                    let img = &x[(chunk * per + i) * in_len..][..in_len];
                    for (c, plane) in img.chunks_exact(plane_in).enumerate() {
                        input_tiles(&g, plane, v, s.c * tt, c * tt + i * g.tiles(), buf);
                    }
                }
                for xi in 0..16 {
                    let (mx, ux) = (&mut m[xi * s.o * tt..][..s.o * tt], &u[xi * s.o * s.c..]);
                    let vx = &v[xi * s.c * tt..][..s.c * tt];
                    matmul(
                        s.o,
                        tt,
                        s.c,
                        mx,
                        ux,
                        (s.c as isize, 1),
                        vx,
                        (tt as isize, 1),
                        false,
                    );
                }
                for (i, yi) in ys.chunks_mut(out_len).enumerate() {
                    for (o, plane) in yi.chunks_mut(plane_out).enumerate() {
                        let b = bias.map_or(0.0, |b| b[o]);
                        output_tiles(&g, m, s.o * tt, o * tt + i * g.tiles(), b, plane, buf);
                    }
                }
            })
        });
    // SAFETY: the chunks cover all s.n * out_len elements and output_tiles wrote each one.
    unsafe { y.set_len(s.n * out_len) };
    y
}

/// Whether dU is taken over the whole batch at once: in deep layers (many channels, few
/// tiles) one partial dU per chunk would be larger than the whole batch's tiles, so the
/// tiles are kept and dU's 16 GEMMs run over the whole batch, in parallel over xi, with no
/// partials to zero and sum.
fn whole_batch_weight_grad(s: &ConvShape, g: &Grid) -> bool {
    (s.c + s.o) * s.n * g.tiles() < s.o * s.c * s.n.div_ceil(chunk_images(s, g))
}

/// One chunk's share of the weight and bias gradients: its partial dU, or (in whole-batch
/// mode) its input and gradient tiles, kept for the 16 GEMMs over the whole batch.
struct ChunkGrads {
    du: Vec<f32>,
    db: Vec<f32>,
    tiles: Option<(Vec<f32>, Vec<f32>)>,
    tt: usize,
}

/// Gradients with respect to x (when `need_x`), the weight and the bias, given dy.
pub(super) fn backward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need_x: bool,
    need_bias: bool,
) -> Grads {
    let g = Grid::new(s);
    let per = chunk_images(s, &g);
    let (in_len, plane_in, plane_out) = (s.c * s.h * s.w, s.h * s.w, g.oh * g.ow);
    let (out_len, oc) = (s.o * plane_out, s.o * s.c);
    let whole = whole_batch_weight_grad(s, &g);
    let u = need_x.then(|| weight_tiles(s, weight));
    let work = |chunk: usize, dxc: Option<&mut [MaybeUninit<f32>]>| -> ChunkGrads {
        let first = chunk * per;
        let imgs = (s.n - first).min(per);
        let tt = imgs * g.tiles();
        let (v_len, y_len) = (16 * s.c * tt, 16 * s.o * tt);
        let mut kept = whole.then(|| (vec![0.0f32; v_len], vec![0.0f32; y_len]));
        let mut du = vec![0.0f32; if whole { 0 } else { 16 * oc }];
        let mut db = vec![0.0f32; if need_bias { s.o } else { 0 }];
        let lens = [v_len, if whole { 0 } else { y_len }, g.scratch_len()];
        with_scratch(lens, |scratch_v, scratch_y, buf| {
            let (v, yh) = match kept.as_mut() {
                Some((v, y)) => (&mut v[..], &mut y[..]),
                None => (&mut *scratch_v, &mut *scratch_y),
            };
            for i in 0..imgs {
                let img = &x[(first + i) * in_len..][..in_len];
                for (c, plane) in img.chunks_exact(plane_in).enumerate() {
                    input_tiles(&g, plane, v, s.c * tt, c * tt + i * g.tiles(), buf);
                }
                let gy = &dy[(first + i) * out_len..][..out_len];
                for (o, plane) in gy.chunks_exact(plane_out).enumerate() {
                    grad_tiles(&g, plane, yh, s.o * tt, o * tt + i * g.tiles(), buf);
                    if need_bias {
                        db[o] += super::sum_zip(plane, plane, |v, _| v);
                    }
                }
            }
            if !whole {
                for (xi, dux) in du.chunks_exact_mut(oc).enumerate() {
                    weight_tile_grad(s, xi, dux, yh, v, tt, false);
                }
            }
            if let (Some(dxc), Some(u)) = (dxc, u.as_deref()) {
                // Z = U^T Yh: over V where V is not kept (no longer needed), else in scratch.
                let z: &mut [f32] = if whole { scratch_v } else { v };
                let tt_s = tt as isize;
                for xi in 0..16 {
                    let (yx, ux) = (&yh[xi * s.o * tt..][..s.o * tt], &u[xi * oc..][..oc]);
                    let zx = &mut z[xi * s.c * tt..][..s.c * tt];
                    matmul(
                        s.c,
                        tt,
                        s.o,
                        zx,
                        ux,
                        (1, s.c as isize),
                        yx,
                        (tt_s, 1),
                        false,
                    );
                }
                for (i, dxi) in dxc.chunks_mut(in_len).enumerate() {
                    for (c, plane) in dxi.chunks_mut(plane_in).enumerate() {
                        input_grad_tiles(&g, z, s.c * tt, c * tt + i * g.tiles(), plane, buf);
                    }
                }
            }
        });
        ChunkGrads {
            du,
            db,
            tiles: kept,
            tt,
        }
    };
    let (dx, parts) = backward_in_chunks(s.n, per, in_len, need_x, work);
    let du = if whole {
        let blocks: Vec<Vec<f32>> = (0..16)
            .into_par_iter()
            .map(|xi| {
                let mut dux = vec![0.0f32; oc];
                for (k, p) in parts.iter().enumerate() {
                    let (v, yh) = p.tiles.as_ref().expect("tiles kept in whole-batch mode");
                    weight_tile_grad(s, xi, &mut dux, yh, v, p.tt, k > 0);
                }
                dux
            })
            .collect();
        blocks.concat()
    } else {
        sum_in_chunk_order(parts.iter().map(|p| &p.du[..]), 16 * oc)
    };
    Grads {
        x: dx,
        weight: weight_grad(s, &du),
        bias: sum_in_chunk_order(parts.iter().map(|p| &p.db[..]), s.o),
    }
}

/// dU[xi] (+)= Yh[xi] (o x tiles) * V[xi]^T (tiles x c), for one chunk's `tt` tiles.
fn weight_tile_grad(
    s: &ConvShape,
    xi: usize,
    dux: &mut [f32],
    yh: &[f32],
    v: &[f32],
    tt: usize,
    accumulate: bool,
) {
    let yx = &yh[xi * s.o * tt..][..s.o * tt];
    let vx = &v[xi * s.c * tt..][..s.c * tt];
    let tt = tt as isize;
    matmul(
        s.o,
        s.c,
        tt as usize,
        dux,
        yx,
        (tt, 1),
        vx,
        (1, tt),
        accumulate,
    );
}

#[cfg(test)]
#[path = "winograd_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "winograd_rounding_tests.rs"]
mod rounding_tests;
