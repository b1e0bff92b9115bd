//! 2-D convolution on the CPU as im2col + GEMM, forward and both gradients, on plain NCHW
//! `f32` slices. Burn's flex backend computes the input gradient through a generic 3-D
//! transposed convolution and the weight gradient as a convolution whose kernel is the whole
//! output gradient; on the small nets of the seed notebooks those two paths were most of a
//! training step (bench/README.md). Here every pass is one GEMM per image on a patch matrix.
//!
//! Work is split over images in fixed chunks and partial weight gradients are summed in chunk
//! order, so results do not depend on the number of threads (runs stay byte-reproducible
//! across `--jobs`).

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::chunks::{backward_in_chunks, sum_in_chunk_order, with_scratch, zeroed};
use super::gemm_bf16::{self, Strided};
use super::im2col::{col2im_add, im2col};
use super::matmul::{add_product_nt, matmul, matmul_uninit};
use super::{conv_rows, conv_side_by_side};

/// Shapes of one convolution: input `[n, c, h, w]`, weight `[o, c, k, k]`, square kernel,
/// equal stride and padding on both axes, no dilation, no groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub k: usize,
    pub stride: usize,
    pub pad: usize,
    /// The GEMMs round their operands to bf16 and add bf16 products in f32 (emulated bf16,
    /// `train.precision = "bf16"`) where the CPU has AVX512-BF16 (`gemm_bf16`); elsewhere
    /// they stay f32 GEMMs (on operands the net has rounded already).
    pub bf16: bool,
}

/// Images per work item: small enough to spread a batch of 32 over the cores, large enough
/// that the per-chunk weight-gradient partials stay few.
pub(super) const CHUNK: usize = 4;

impl ConvShape {
    pub fn out_h(&self) -> usize {
        (self.h + 2 * self.pad - self.k) / self.stride + 1
    }
    pub fn out_w(&self) -> usize {
        (self.w + 2 * self.pad - self.k) / self.stride + 1
    }
    /// Output positions per image.
    pub(super) fn l(&self) -> usize {
        self.out_h() * self.out_w()
    }
    /// Rows of the patch matrix: c * k * k.
    pub(super) fn ckk(&self) -> usize {
        self.c * self.k * self.k
    }
    pub(super) fn in_len(&self) -> usize {
        self.c * self.h * self.w
    }
    pub(super) fn out_len(&self) -> usize {
        self.o * self.l()
    }
    /// Whether this conv's GEMMs run in bf16: asked for (`bf16`) and the CPU has AVX512-BF16
    /// (`gemm_bf16::available`). The one place the two are combined.
    pub(super) fn bf16_gemms(&self) -> bool {
        self.bf16 && gemm_bf16::available()
    }
    /// The output columns `first..last` whose input column (`xo * stride + kj - pad`) lies
    /// inside the image, for kernel column `kj`.
    pub(super) fn inside(&self, kj: usize) -> (usize, usize) {
        let ow = self.out_w();
        let first = self.pad.saturating_sub(kj).div_ceil(self.stride).min(ow);
        let last = (self.w + self.pad).saturating_sub(kj).div_ceil(self.stride);
        (first, last.min(ow).max(first))
    }
    /// A 1x1 stride-1 unpadded conv reads the image itself as its patch matrix.
    pub(super) fn is_pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1 && self.pad == 0
    }
}

/// Forward: y = conv(x, weight) + bias, y is [n, o, oh, ow].
pub fn forward(s: &ConvShape, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    if conv_side_by_side::applies(s) {
        conv_side_by_side::forward(s, x, weight, bias)
    } else if conv_rows::applies(s) {
        conv_rows::forward(s, x, weight, bias)
    } else {
        forward_by_image(s, x, weight, bias)
    }
}

/// `forward` with one GEMM per image.
pub(super) fn forward_by_image(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let (l, ckk, out_len, in_len) = (s.l(), s.ckk(), s.out_len(), s.in_len());
    let cols_len = if s.is_pointwise() { 0 } else { ckk * l };
    // Skipped when zero: the bias-free convs before batch norm pass zeros.
    let bias = bias.filter(|b| b.iter().any(|&v| v != 0.0));
    let w = Strided {
        data: weight,
        rs: ckk,
        cs: 1,
    };
    let packed_w = gemm_bf16::pack_once(s.bf16_gemms(), s.o, ckk, w);
    let mut y: Vec<f32> = Vec::with_capacity(s.n * out_len);
    y.spare_capacity_mut()[..s.n * out_len]
        .par_chunks_mut(out_len * CHUNK)
        .enumerate()
        .for_each(|(chunk, ys)| {
            with_scratch([cols_len, 0, 0], |cols, _, _| {
                for (i, yi) in ys.chunks_mut(out_len).enumerate() {
                    let img = &x[(chunk * CHUNK + i) * in_len..][..in_len];
                    let patches = if s.is_pointwise() {
                        img
                    } else {
                        im2col(s, img, cols, l);
                        &*cols
                    };
                    // The GEMM writes (never reads) all of yi: accumulate = false.
                    let (w_s, p_s) = ((ckk as isize, 1), (l as isize, 1));
                    let yi = match &packed_w {
                        Some(pw) => {
                            let yi = zeroed(yi);
                            let p = Strided {
                                data: patches,
                                rs: l,
                                cs: 1,
                            };
                            gemm_bf16::matmul_packed_a(s.o, l, ckk, yi, pw, p, false);
                            yi
                        }
                        None => matmul_uninit(s.o, l, ckk, yi, weight, w_s, patches, p_s),
                    };
                    if let Some(b) = bias {
                        add_bias(yi, l, b);
                    }
                }
            })
        });
    // SAFETY: the chunks cover all s.n * out_len elements and matmul_uninit wrote each one.
    unsafe { y.set_len(s.n * out_len) };
    y
}

/// One image's output `y` ([o, l]) plus each channel's bias.
pub(super) fn add_bias(y: &mut [f32], l: usize, bias: &[f32]) {
    for (row, bo) in y.chunks_mut(l).zip(bias) {
        row.iter_mut().for_each(|v| *v += bo);
    }
}

/// Adds one image's bias gradients (the sums of each channel's rows of `dy`, [o, l]) to `db`;
/// an empty `db` (no bias) takes none.
pub(super) fn add_bias_grads(dy: &[f32], l: usize, db: &mut [f32]) {
    for (row, dbo) in dy.chunks(l).zip(db.iter_mut()) {
        *dbo += super::sum_zip(row, row, |v, _| v);
    }
}

/// Gradients of the loss with respect to x (when `need_x`), the weight and the bias, given
/// the output gradient `dy` ([n, o, oh, ow]).
pub struct Grads {
    pub x: Option<Vec<f32>>,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

pub fn backward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need_x: bool,
    need_bias: bool,
) -> Grads {
    if conv_side_by_side::applies(s) {
        conv_side_by_side::backward(s, x, weight, dy, need_x, need_bias)
    } else if conv_rows::applies(s) {
        conv_rows::backward(s, x, weight, dy, need_x, need_bias)
    } else {
        backward_by_image(s, x, weight, dy, need_x, need_bias)
    }
}

/// `backward` with one GEMM per image and pass.
pub(super) fn backward_by_image(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need_x: bool,
    need_bias: bool,
) -> Grads {
    let (l, ckk, out_len, in_len) = (s.l(), s.ckk(), s.out_len(), s.in_len());
    let cols_len = if s.is_pointwise() { 0 } else { ckk * l };
    let dcols_len = if need_x && !s.is_pointwise() {
        ckk * l
    } else {
        0
    };
    let bf16 = s.bf16_gemms();
    let w_t = Strided {
        data: weight,
        rs: 1,
        cs: ckk,
    };
    let packed_wt = gemm_bf16::pack_once(bf16 && need_x, ckk, s.o, w_t);
    // Per chunk: its partial weight and bias gradients, and (if asked) its images' dx.
    let work = |chunk: usize, dx_chunk: Option<&mut [MaybeUninit<f32>]>| -> (Vec<f32>, Vec<f32>) {
        let mut dw: Vec<f32> = Vec::with_capacity(s.o * ckk);
        let mut db = vec![0.0f32; if need_bias { s.o } else { 0 }];
        // Zeroed here, in parallel, rather than on the calling thread: col2im adds into it.
        let mut dx_chunk = dx_chunk.map(zeroed);
        let first = chunk * CHUNK;
        let last = (first + CHUNK).min(s.n);
        with_scratch([cols_len, dcols_len, 0], |cols, dcols, _| {
            for (i, img_n) in (first..last).enumerate() {
                let img = &x[img_n * in_len..][..in_len];
                let g = &dy[img_n * out_len..][..out_len];
                add_bias_grads(g, l, &mut db);
                let patches: &[f32] = if s.is_pointwise() {
                    img
                } else {
                    im2col(s, img, cols, l);
                    cols
                };
                // dW[o, ckk] (+)= dY[o, l] * P[ckk, l]^T; the chunk's first image writes dW.
                if bf16 {
                    let first = dw.is_empty();
                    dw.resize(s.o * ckk, 0.0);
                    let (a, b) = (
                        Strided {
                            data: g,
                            rs: l,
                            cs: 1,
                        },
                        Strided {
                            data: patches,
                            rs: 1,
                            cs: l,
                        },
                    );
                    gemm_bf16::matmul(s.o, ckk, l, &mut dw, a, b, !first);
                } else {
                    add_product_nt(s.o, ckk, l, &mut dw, g, patches);
                }
                if let Some(dxc) = dx_chunk.as_deref_mut() {
                    let dxi = &mut dxc[i * in_len..(i + 1) * in_len];
                    // dP[ckk, l] = W[o, ckk]^T * dY[o, l]
                    let (w_t, g_s) = ((1, ckk as isize), (l as isize, 1));
                    let dp = if s.is_pointwise() {
                        &mut *dxi
                    } else {
                        &mut *dcols
                    };
                    match &packed_wt {
                        Some(pw) => {
                            let gy = Strided {
                                data: g,
                                rs: l,
                                cs: 1,
                            };
                            gemm_bf16::matmul_packed_a(ckk, l, s.o, dp, pw, gy, false);
                        }
                        None => matmul(ckk, l, s.o, dp, weight, w_t, g, g_s, false),
                    }
                    if !s.is_pointwise() {
                        col2im_add(s, dcols, dxi, l);
                    }
                }
            }
        });
        (dw, db)
    };
    grads_by_chunks(s, need_x, work)
}

/// The backward pass over the batch in chunks of `CHUNK` images: `work(chunk, its dx)`
/// returns the chunk's partial weight and bias gradients, summed here in chunk order.
pub(super) fn grads_by_chunks(
    s: &ConvShape,
    need_x: bool,
    work: impl Fn(usize, Option<&mut [MaybeUninit<f32>]>) -> (Vec<f32>, Vec<f32>) + Sync,
) -> Grads {
    let (dx, partials) = backward_in_chunks(s.n, CHUNK, s.in_len(), need_x, work);
    Grads {
        x: dx,
        weight: sum_in_chunk_order(partials.iter().map(|p| &p.0[..]), s.o * s.ckk()),
        bias: sum_in_chunk_order(partials.iter().map(|p| &p.1[..]), s.o),
    }
}

#[cfg(test)]
#[path = "conv_kernels_tests.rs"]
pub(super) mod tests;
