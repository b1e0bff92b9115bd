//! 3x3 stride-1 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of outputs comes
//! from a 4x4 input tile with 16 multiplies per input/output channel pair instead of im2col's
//! 36, so the GEMMs of the forward pass and of both gradients do 2.25x fewer flops. The three
//! passes share the same transforms (B, G, A are the F(2x2, 3x3) matrices):
//!   forward      y  = A^T [ sum_c U[o, c] * V[c] ] A             U = G w G^T,  V = B^T d B
//!   input grad   dx = sum over tiles of B [ sum_o U[o, c] * Yh[o] ] B^T       Yh = A dy A^T
//!   weight grad  dw = G^T [ sum over tiles of Yh[o] * V[c] ] G
//! (`*` elementwise on the 4x4 tiles). Each bracket is 16 GEMMs over the channels, one per
//! tile position xi, run by `gemm`. The tile transforms (`winograd_tiles.rs`) work on a whole
//! row of tiles at a time, so the compiler vectorizes them across tiles; the weight
//! transforms (`winograd_weights.rs`) go across filters. This file runs the passes chunk of
//! images by chunk; deep layers go tile position by tile position (`winograd_deep.rs`).
//!
//! Deterministic like the im2col path: chunks of images fixed by the shapes, partial weight
//! gradients summed in chunk order.

use std::mem::MaybeUninit;

use super::chunks::{
    backward_in_chunks, filled_in_chunks, sum_in_chunk_order, with_scratch, zeroed,
};
use super::conv_kernels::{ConvShape, Grads};
use super::gemm_bf16::{self, Strided};
use super::matmul::{matmul, matmul_uninit};
use super::winograd_deep;
use super::winograd_grid::{Grid, grid};
use super::winograd_tiles::{grad_tiles, input_grad_tiles, input_tiles, output_tiles};
use super::winograd_weights::{UTile, UTiles, weight_grad};

/// Whether a convolution goes through this module: 3x3 kernel, stride 1.
pub(super) fn applies(s: &ConvShape) -> bool {
    s.k == 3 && s.stride == 1 && s.c * s.o >= 64
}

/// Images per work item: enough tiles (~256; 64 for F(4x4, 3x3), whose 36 positions make a
/// tile 2.25x F(2x2, 3x3)'s data: 256 ran slower, bench/winograd_probe.rs) for the GEMMs to
/// run at speed, yet at least
/// eight items per batch where the batch allows, to spread over the cores; and never fewer
/// than 16 tiles, the width of `gemm`'s full microkernel (ResNet-18's 4x4 planes at batch 16
/// gave 8-tile chunks, which ran its half-width kernel).
fn chunk_images(s: &ConvShape, g: &Grid) -> usize {
    let target: usize = if g.m == 4 { 64 } else { 256 };
    target
        .div_ceil(g.tiles())
        .min((s.n / 8).max(1))
        .max(MIN_TILES.div_ceil(g.tiles()))
}

const MIN_TILES: usize = 16;

/// Forward: y = conv(x, weight) + bias, y is [n, o, oh, ow].
pub(super) fn forward(s: &ConvShape, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    forward_on(s, &grid(s), x, weight, bias)
}

/// `forward` on a given tile grid.
pub(super) fn forward_on(
    s: &ConvShape,
    g: &Grid,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let per = chunk_images(s, g);
    if deep_layer(s, g) {
        winograd_deep::forward(s, g, per, x, weight, bias)
    } else {
        forward_by_chunks(s, g, per, x, weight, bias)
    }
}

/// The forward pass chunk by chunk: each chunk of images runs all its steps on one thread.
fn forward_by_chunks(
    s: &ConvShape,
    g: &Grid,
    per: usize,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let out_len = s.o * g.oh * g.ow;
    let u = UTiles::new(s, g, weight, false);
    let fill = |chunk: usize, ys: &mut [MaybeUninit<f32>]| {
        let images = chunk * per..chunk * per + ys.len() / out_len;
        let tt = images.len() * g.tiles();
        let p = g.positions();
        let lens = [p * s.c * tt, p * s.o * tt, g.scratch_len()];
        with_scratch(lens, |v, m, buf| {
            chunk_input_tiles(s, g, x, images, v, buf);
            for xi in 0..p {
                let vx = &v[xi * s.c * tt..][..s.c * tt];
                output_tile(s, &mut m[xi * s.o * tt..][..s.o * tt], &u, xi, vx, tt);
            }
            chunk_output(s, g, m, tt, bias, ys, buf);
        })
    };
    filled_in_chunks(s.n * out_len, per * out_len, fill).0
}

/// The input tiles V (`[16][c][tiles]`) of `images`.
pub(super) fn chunk_input_tiles(
    s: &ConvShape,
    g: &Grid,
    x: &[f32],
    images: std::ops::Range<usize>,
    v: &mut [f32],
    buf: &mut [f32],
) {
    let plane_in = s.h * s.w;
    let tt = images.len() * g.tiles();
    for (i, n) in images.enumerate() {
        let img = &x[n * s.c * plane_in..][..s.c * plane_in];
        for (c, plane) in img.chunks_exact(plane_in).enumerate() {
            input_tiles(g, plane, v, s.c * tt, c * tt + i * g.tiles(), buf);
        }
    }
}

/// M[xi] = U[xi] (o x c) * V[xi] (c x tt), for one tile position xi of `tt` tiles.
pub(super) fn output_tile(
    s: &ConvShape,
    mx: &mut [f32],
    u: &UTiles,
    xi: usize,
    vx: &[f32],
    tt: usize,
) {
    u_times(s, mx, u, xi, (s.o, s.c), (s.c as isize, 1), vx, tt);
}

/// dst (m x tt) = U[xi] read as m x k with `u_strides` (U, or U^T) times `b` (k x tt), by
/// U's bf16 pack where `u` holds one, else the f32 GEMM.
#[allow(clippy::too_many_arguments)]
fn u_times(
    s: &ConvShape,
    dst: &mut [f32],
    u: &UTiles,
    xi: usize,
    (m, k): (usize, usize),
    u_strides: (isize, isize),
    b: &[f32],
    tt: usize,
) {
    match u.at(s, xi) {
        UTile::Packed(pa) => {
            let b = Strided {
                data: b,
                rs: tt,
                cs: 1,
            };
            gemm_bf16::matmul_packed_a(m, tt, k, dst, pa, b, false);
        }
        UTile::F32(ux) => matmul(m, tt, k, dst, ux, u_strides, b, (tt as isize, 1), false),
    }
}

/// y (plus bias) of a chunk's images (`ys`, written whole) from their M tiles (`[16][o][tt]`).
pub(super) fn chunk_output(
    s: &ConvShape,
    g: &Grid,
    m: &[f32],
    tt: usize,
    bias: Option<&[f32]>,
    ys: &mut [MaybeUninit<f32>],
    buf: &mut [f32],
) {
    let plane_out = g.oh * g.ow;
    for (i, yi) in ys.chunks_mut(s.o * plane_out).enumerate() {
        for (o, plane) in yi.chunks_mut(plane_out).enumerate() {
            let b = bias.map_or(0.0, |b| b[o]);
            output_tiles(g, m, s.o * tt, o * tt + i * g.tiles(), b, plane, buf);
        }
    }
}

/// Whether the passes go tile position by tile position over the whole batch
/// (`winograd_deep.rs`): in deep layers (many channels, few tiles) one partial dU per chunk
/// would be larger than the whole batch's tiles, and each chunk would stream all of U (16 MB
/// on a 512-channel layer) through its own narrow GEMMs.
pub(super) fn deep_layer(s: &ConvShape, g: &Grid) -> bool {
    (s.c + s.o) * s.n * g.tiles() < s.o * s.c * s.n.div_ceil(chunk_images(s, g))
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
    backward_on(s, &grid(s), [x, weight, dy], need_x, need_bias)
}

/// `backward` on a given tile grid.
pub(super) fn backward_on(
    s: &ConvShape,
    g: &Grid,
    [x, weight, dy]: [&[f32]; 3],
    need_x: bool,
    need_bias: bool,
) -> Grads {
    let per = chunk_images(s, g);
    if deep_layer(s, g) {
        winograd_deep::backward(s, g, per, [x, weight, dy], need_x, need_bias)
    } else {
        backward_by_chunks(s, g, per, [x, weight, dy], need_x, need_bias)
    }
}

/// The backward pass chunk by chunk: each chunk of images runs all its steps on one thread,
/// into its own partial dU.
fn backward_by_chunks(
    s: &ConvShape,
    g: &Grid,
    per: usize,
    [x, weight, dy]: [&[f32]; 3],
    need_x: bool,
    need_bias: bool,
) -> Grads {
    let oc = s.o * s.c;
    let u = need_x.then(|| UTiles::new(s, g, weight, true));
    let work = |chunk: usize, dxc: Option<&mut [MaybeUninit<f32>]>| -> (Vec<f32>, Vec<f32>) {
        let first = chunk * per;
        let imgs = (s.n - first).min(per);
        let tt = imgs * g.tiles();
        let p = g.positions();
        // Each position's GEMM writes its whole block of dU, so dU is not zeroed first (a
        // memset of up to 36 x o x c values per chunk, ~1% of an f32 ResNet-18 b128 step's
        // profile).
        let mut du: Vec<f32> = Vec::with_capacity(p * oc);
        let mut db = vec![0.0f32; if need_bias { s.o } else { 0 }];
        let lens = [p * s.c * tt, p * s.o * tt, g.scratch_len()];
        with_scratch(lens, |v, yh, buf| {
            chunk_tiles(s, g, x, dy, first..first + imgs, v, yh, &mut db, buf);
            let blocks = du.spare_capacity_mut()[..p * oc].chunks_exact_mut(oc);
            for (xi, dux) in blocks.enumerate() {
                let (yx, vx) = (&yh[xi * s.o * tt..][..s.o * tt], &v[xi * s.c * tt..]);
                weight_tile_grad_into(s, dux, yx, &vx[..s.c * tt], tt);
            }
            // SAFETY: the p blocks of oc values cover the first p * oc elements, and
            // `weight_tile_grad_into` wrote every element of each.
            unsafe { du.set_len(p * oc) };
            if let (Some(dxc), Some(u)) = (dxc, u.as_ref()) {
                // Z = U^T Yh over V, which is no longer needed.
                for xi in 0..p {
                    let yx = &yh[xi * s.o * tt..][..s.o * tt];
                    input_tile_grad(s, &mut v[xi * s.c * tt..][..s.c * tt], u, xi, yx, tt);
                }
                chunk_input_grad(s, g, v, tt, dxc, buf);
            }
        });
        (du, db)
    };
    let (dx, parts) = backward_in_chunks(s.n, per, s.c * s.h * s.w, need_x, work);
    let du = sum_in_chunk_order(parts.iter().map(|p| &p.0[..]), g.positions() * oc);
    Grads {
        x: dx,
        weight: weight_grad(s, g, &du),
        bias: sum_in_chunk_order(parts.iter().map(|p| &p.1[..]), s.o),
    }
}

/// The input tiles V and gradient tiles Yh of `images` (each `[16][channels][tiles]`), and
/// their bias gradient added to `db` (when not empty).
#[allow(clippy::too_many_arguments)]
pub(super) fn chunk_tiles(
    s: &ConvShape,
    g: &Grid,
    x: &[f32],
    dy: &[f32],
    images: std::ops::Range<usize>,
    v: &mut [f32],
    yh: &mut [f32],
    db: &mut [f32],
    buf: &mut [f32],
) {
    let plane_out = g.oh * g.ow;
    let out_len = s.o * plane_out;
    let tt = images.len() * g.tiles();
    chunk_input_tiles(s, g, x, images.clone(), v, buf);
    for (i, n) in images.enumerate() {
        let gy = &dy[n * out_len..][..out_len];
        for (o, plane) in gy.chunks_exact(plane_out).enumerate() {
            grad_tiles(g, plane, yh, s.o * tt, o * tt + i * g.tiles(), buf);
            if let Some(b) = db.get_mut(o) {
                *b += super::sum_zip(plane, plane, |v, _| v);
            }
        }
    }
}

/// dx of a chunk's images (`dxc`, written whole) from their Z tiles (`[16][c][tt]`).
pub(super) fn chunk_input_grad(
    s: &ConvShape,
    g: &Grid,
    z: &[f32],
    tt: usize,
    dxc: &mut [MaybeUninit<f32>],
    buf: &mut [f32],
) {
    let plane_in = s.h * s.w;
    for (i, dxi) in dxc.chunks_mut(s.c * plane_in).enumerate() {
        for (c, plane) in dxi.chunks_mut(plane_in).enumerate() {
            input_grad_tiles(g, z, s.c * tt, c * tt + i * g.tiles(), plane, buf);
        }
    }
}

/// dU[xi] (+)= Yh[xi] (o x tt) * V[xi]^T (tt x c), for one tile position xi of `tt` tiles.
pub(super) fn weight_tile_grad(
    s: &ConvShape,
    dux: &mut [f32],
    yx: &[f32],
    vx: &[f32],
    tt: usize,
    accumulate: bool,
) {
    if s.bf16_gemms() {
        let (a, b) = (
            Strided {
                data: yx,
                rs: tt,
                cs: 1,
            },
            Strided {
                data: vx,
                rs: 1,
                cs: tt,
            },
        );
        gemm_bf16::matmul(s.o, s.c, tt, dux, a, b, accumulate);
    } else {
        let t = tt as isize;
        matmul(s.o, s.c, tt, dux, yx, (t, 1), vx, (1, t), accumulate);
    }
}

/// [`weight_tile_grad`] without `accumulate`, into unwritten memory: every element of `dux`
/// is written (the f32 GEMM writes it straight; the bf16 GEMM takes initialized memory, so
/// that path zeroes it first, as before).
fn weight_tile_grad_into(
    s: &ConvShape,
    dux: &mut [MaybeUninit<f32>],
    yx: &[f32],
    vx: &[f32],
    tt: usize,
) {
    if s.bf16_gemms() {
        weight_tile_grad(s, zeroed(dux), yx, vx, tt, false);
    } else {
        let t = tt as isize;
        matmul_uninit(s.o, s.c, tt, dux, yx, (t, 1), vx, (1, t));
    }
}

/// Z[xi] = U[xi]^T (c x o) * Yh[xi] (o x tt), for one tile position xi of `tt` tiles (`u`
/// made `transposed`).
pub(super) fn input_tile_grad(
    s: &ConvShape,
    zx: &mut [f32],
    u: &UTiles,
    xi: usize,
    yx: &[f32],
    tt: usize,
) {
    u_times(s, zx, u, xi, (s.c, s.o), (1, s.c as isize), yx, tt);
}

#[cfg(test)]
#[path = "winograd_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "winograd_rounding_tests.rs"]
mod rounding_tests;
