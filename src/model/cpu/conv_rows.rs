//! Stride-1 convolutions lowered along one axis only (Cho and Brand's "MEC", 2017): the
//! patch matrix holds each input row segment once per kernel column, and the kernel rows
//! become k GEMMs over shifted column ranges of it. im2col copies every input value k * k
//! times; on a 32 -> 64 5x5 conv on 16x16 planes the copies (forward and backward) and
//! col2im's adds were a quarter of the layer's time, and the net around it ran at 0.8x
//! PyTorch.
//!
//! The lowered matrix `q` of an image [c, h, w] with padding p has rows (channel, kernel
//! column kj) and columns (padded row yy, output column x): q[(ci, kj), yy * ow + x] =
//! x[ci, yy - p, x + kj - p], 0 in the padding. Output row y under kernel row ki reads
//! padded row y + ki, so for each ki the output's columns are the contiguous range
//! ki * ow .. ki * ow + oh * ow of `q`: y = sum over ki of W_ki [o, c * k] times that range.
//!
//! Backward: the weight gradient is the same k products with the output gradient on the left;
//! the input gradient is the full correlation of the output gradient with the flipped,
//! transposed kernel (padding k - 1 - p), lowered the same way. No col2im.
//!
//! The sums run in another order than im2col's (k partial sums of c * k products each), fixed
//! by the shapes: the same bits whatever the thread count.

use std::mem::MaybeUninit;

use super::chunks::{filled_in_chunks, with_scratch};
use super::conv_kernels::{CHUNK, ConvShape, Grads, add_bias, add_bias_grads, grads_by_chunks};
use super::conv_side_by_side;
use super::matmul::{matmul, matmul_uninit};

/// Fewest rows (c * k, and o * k for the input gradient) of the lowered matrix: below it each
/// kernel row's GEMM would sum only a few products. The value is a guess, not a measured
/// crossover: of the convs it leaves to im2col, a 3 -> 32 5x5 (15 rows) took half PyTorch's
/// time and a 6 -> 16 5x5 (30 rows) about as long (bench/RESULTS.md, fifty-fifth session).
const MIN_ROWS: usize = 32;

/// Whether `s` runs lowered by rows: stride 1, a kernel wider than 1, padding below the
/// kernel size (so the input gradient's padding k - 1 - p exists), enough rows, f32 GEMMs.
pub(super) fn applies(s: &ConvShape) -> bool {
    s.stride == 1
        && s.k > 1
        && s.pad < s.k
        && s.c * s.k >= MIN_ROWS
        && s.o * s.k >= MIN_ROWS
        && !s.bf16_gemms()
        && !conv_side_by_side::by_image_only()
}

/// One image's lowered matrix with its shape: `rows` = c * k, `cols` = (h + 2p) * ow.
struct Lowered {
    rows: usize,
    cols: usize,
}

impl Lowered {
    fn of(s: &ConvShape) -> Self {
        Self {
            rows: s.c * s.k,
            cols: (s.h + 2 * s.pad) * s.out_w(),
        }
    }
    fn len(&self) -> usize {
        self.rows * self.cols
    }
}

wide! {
    /// `img` ([c, h, w]) lowered into `q` (see the module doc).
    fn lower(s: &ConvShape, img: &[f32], q: &mut [f32]) {
        let (ow, (h, w, pad)) = (s.out_w(), (s.h, s.w, s.pad));
        let padded_rows = h + 2 * pad;
        for (ci, plane) in img.chunks_exact(h * w).enumerate() {
            for kj in 0..s.k {
                let row = &mut q[(ci * s.k + kj) * padded_rows * ow..][..padded_rows * ow];
                let (first, last) = s.inside(kj);
                for (yy, out) in row.chunks_exact_mut(ow).enumerate() {
                    if yy < pad || yy >= h + pad {
                        out.fill(0.0);
                        continue;
                    }
                    let src = &plane[(yy - pad) * w..][..w];
                    out[..first].fill(0.0);
                    if first < last {
                        let run = &src[first + kj - pad..last + kj - pad];
                        out[first..last].copy_from_slice(run);
                    }
                    out[last..].fill(0.0);
                }
            }
        }
    }
}

/// out[m, oh * ow] = sum over ki of lhs[ki] [m, rows] times q's columns from ki * ow on: the
/// k GEMMs of one image. `lhs` holds the k blocks one after another.
fn product<'a>(
    m: usize,
    s: &ConvShape,
    lhs: &[f32],
    q: &[f32],
    out: &'a mut [MaybeUninit<f32>],
) -> &'a mut [f32] {
    let (low, l, ow) = (Lowered::of(s), s.l(), s.out_w());
    let block = m * low.rows;
    let at = |ki: usize| (&lhs[ki * block..][..block], &q[ki * ow..]);
    let (w0, q0) = at(0);
    let (w_s, q_s) = ((low.rows as isize, 1), (low.cols as isize, 1));
    let out = matmul_uninit(m, l, low.rows, out, w0, w_s, q0, q_s);
    for ki in 1..s.k {
        let (wk, qk) = at(ki);
        matmul(m, l, low.rows, out, wk, w_s, qk, q_s, true);
    }
    out
}

/// The weight [o, c, k, k] regrouped by kernel row: block ki is [o, c * k] with
/// entry (oi, ci * k + kj) = weight[oi, ci, ki, kj].
fn by_kernel_row(s: &ConvShape, weight: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; weight.len()];
    regroup(s, |from, to| out[to.by_row] = weight[from]);
    out
}

/// The input gradient's kernel, regrouped by kernel row as `by_kernel_row` does for a conv
/// from o to c channels: entry (ki, ci, oi * k + kj) = weight[oi, ci, k - 1 - ki, k - 1 - kj].
fn flipped_by_kernel_row(s: &ConvShape, weight: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; weight.len()];
    regroup(s, |from, to| out[to.flipped] = weight[from]);
    out
}

/// `by_kernel_row`'s layout back to [o, c, k, k].
fn regroup_weight_gradient(s: &ConvShape, dwr: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; dwr.len()];
    regroup(s, |to, from| out[to] = dwr[from.by_row]);
    out
}

/// Where weight entry (oi, ci, ki, kj) lies in the two regrouped layouts.
struct Regrouped {
    by_row: usize,
    flipped: usize,
}

/// Calls `f(i, where)` for every index i of a [o, c, k, k] weight, in order.
fn regroup(s: &ConvShape, mut f: impl FnMut(usize, Regrouped)) {
    let (k, mut i) = (s.k, 0);
    for oi in 0..s.o {
        for ci in 0..s.c {
            for ki in 0..k {
                for kj in 0..k {
                    let by_row = ((ki * s.o + oi) * s.c + ci) * k + kj;
                    let flipped = (((k - 1 - ki) * s.c + ci) * s.o + oi) * k + (k - 1 - kj);
                    f(i, Regrouped { by_row, flipped });
                    i += 1;
                }
            }
        }
    }
}

/// The conv from the output gradient back to the input: o -> c channels on the output plane,
/// padding k - 1 - p, the same kernel size; its output plane is the input's.
fn input_gradient_shape(s: &ConvShape) -> ConvShape {
    ConvShape {
        c: s.o,
        o: s.c,
        h: s.out_h(),
        w: s.out_w(),
        pad: s.k - 1 - s.pad,
        ..*s
    }
}

/// Forward: y = conv(x, weight) + bias, y is [n, o, oh, ow].
pub(super) fn forward(s: &ConvShape, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (l, out_len, in_len) = (s.l(), s.out_len(), s.in_len());
    let bias = bias.filter(|b| b.iter().any(|&v| v != 0.0));
    let wr = by_kernel_row(s, weight);
    let (y, _) = filled_in_chunks(s.n * out_len, CHUNK * out_len, |chunk, ys| {
        with_scratch([Lowered::of(s).len(), 0, 0], |q, _, _| {
            for (i, yi) in ys.chunks_mut(out_len).enumerate() {
                lower(s, &x[(chunk * CHUNK + i) * in_len..][..in_len], q);
                let yi = product(s.o, s, &wr, q, yi);
                if let Some(b) = bias {
                    add_bias(yi, l, b);
                }
            }
        })
    });
    y
}

/// Gradients for the input (when `need_x`), the weight and the bias.
pub(super) fn backward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need_x: bool,
    need_bias: bool,
) -> Grads {
    let (l, ow, out_len, in_len) = (s.l(), s.out_w(), s.out_len(), s.in_len());
    let (low, back) = (Lowered::of(s), input_gradient_shape(s));
    let back_len = if need_x { Lowered::of(&back).len() } else { 0 };
    let flipped = if need_x {
        flipped_by_kernel_row(s, weight)
    } else {
        Vec::new()
    };
    let block = s.o * low.rows;
    let work = |chunk: usize, mut dx_chunk: Option<&mut [MaybeUninit<f32>]>| {
        // By kernel row, as `by_kernel_row`; the chunks' sums are regrouped to [o, c, k, k].
        let mut dwr = vec![0.0f32; s.k * block];
        let mut db = vec![0.0f32; if need_bias { s.o } else { 0 }];
        let first = chunk * CHUNK;
        let last = (first + CHUNK).min(s.n);
        with_scratch([low.len(), back_len, 0], |q, qb, _| {
            for (i, img_n) in (first..last).enumerate() {
                let g = &dy[img_n * out_len..][..out_len];
                add_bias_grads(g, l, &mut db);
                lower(s, &x[img_n * in_len..][..in_len], q);
                // dW_ki[o, c * k] += dY[o, l] times (q's columns from ki * ow on)^T.
                let (g_s, q_t) = ((l as isize, 1), (1, low.cols as isize));
                for (ki, dw) in dwr.chunks_exact_mut(block).enumerate() {
                    matmul(s.o, low.rows, l, dw, g, g_s, &q[ki * ow..], q_t, true);
                }
                if let Some(dxc) = dx_chunk.as_deref_mut() {
                    lower(&back, g, qb);
                    product(s.c, &back, &flipped, qb, &mut dxc[i * in_len..][..in_len]);
                }
            }
        });
        (dwr, db)
    };
    // The chunk-order sum is element-wise, so it can add the by-row layout as it is.
    let mut grads = grads_by_chunks(s, need_x, work);
    grads.weight = regroup_weight_gradient(s, &grads.weight);
    grads
}

#[cfg(test)]
#[path = "conv_rows_tests.rs"]
mod tests;
