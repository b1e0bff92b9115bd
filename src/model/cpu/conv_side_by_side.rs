//! The im2col passes on small output planes: a chunk's images side by side in one GEMM per
//! pass. Image by image, ResNet-18's 256 -> 512 stride-2 conv (4x4 outputs) runs GEMMs 16
//! columns wide (half the bf16 kernel's 32), and its weight gradient is 512 x 2304 sums over
//! only 16 products per image: each image's GEMM read and wrote all 4.7 MB of the partial dW
//! for 8 pairs of k. With f32 GEMMs, gemm's kernel for narrow right-hand sides was 15% of
//! such a net's step, and every image's GEMM took all of the weights through it again.
//! Side by side, a chunk's 4 images make the GEMMs 64 columns wide and the weight gradient
//! one GEMM over 64 products per sum.
//!
//! The weight gradient's sums run in another order than image by image (fixed by the shapes,
//! so the bits do not depend on the thread count); the output and the input gradient are the
//! same sums as image by image.

use std::mem::MaybeUninit;

use super::chunks::{filled_in_chunks, with_scratch, zeroed};
use super::conv_kernels::{CHUNK, ConvShape, Grads, grads_by_chunks};
use super::gemm_bf16::{self, Strided};
use super::im2col::{col2im_add, im2col};
use super::matmul::{add_product_nt, matmul};

/// Output planes of at most this many positions take the f32 GEMMs side by side: 6x6 and
/// smaller gained 1.3-2x per pass (4x4: ResNet-18's 256 -> 512 stride-2 conv 33 -> 21 ms
/// forward, 95 -> 65 ms backward, batch 128), 7x7 and 8x8 were level with image by image
/// (bench/layer_probe.rs).
const F32_MAX_POSITIONS: usize = 36;

/// Whether `s` runs here rather than image by image: a patch matrix (not a 1x1 stride-1
/// conv, which reads the image as it lies) and small output planes: with bf16 GEMMs,
/// narrower than the kernel's 32 columns (on 8x8 planes, 64 columns an image, side by side
/// was 0.9x image by image); with f32 ones, up to `F32_MAX_POSITIONS`.
pub(super) fn applies(s: &ConvShape) -> bool {
    let small = if s.bf16_gemms() {
        s.l() < gemm_bf16::NR
    } else {
        s.l() <= F32_MAX_POSITIONS
    };
    !by_image_only() && !s.is_pointwise() && small
}

/// `CONVLAB_CPU_IM2COL=by-image` (read once) keeps every im2col conv image by image, neither
/// side by side nor lowered by rows (`conv_rows`), to measure one against the other.
pub(super) fn by_image_only() -> bool {
    static BY_IMAGE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *BY_IMAGE.get_or_init(|| std::env::var("CONVLAB_CPU_IM2COL").is_ok_and(|v| v == "by-image"))
}

/// Forward: y = conv(x, weight) + bias, y is [n, o, oh, ow].
pub(super) fn forward(s: &ConvShape, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (l, ckk, out_len, in_len) = (s.l(), s.ckk(), s.out_len(), s.in_len());
    let bias = bias.filter(|b| b.iter().any(|&v| v != 0.0));
    let w = Strided {
        data: weight,
        rs: ckk,
        cs: 1,
    };
    let bf16 = s.bf16_gemms();
    let mut pw = Vec::new();
    if bf16 {
        gemm_bf16::pack_a(&mut pw, s.o, ckk, w);
    }
    let (y, _) = filled_in_chunks(s.n * out_len, CHUNK * out_len, |chunk, ys| {
        let wide = ys.len() / out_len * l;
        with_scratch([ckk * wide, s.o * wide, 0], |cols, ym, _| {
            for i in 0..wide / l {
                im2col(
                    s,
                    &x[(chunk * CHUNK + i) * in_len..][..in_len],
                    &mut cols[i * l..],
                    wide,
                );
            }
            let p = Strided {
                data: cols,
                rs: wide,
                cs: 1,
            };
            if bf16 {
                gemm_bf16::matmul_packed_a(s.o, wide, ckk, ym, &pw, p, false);
            } else {
                let (w_s, p_s) = ((ckk as isize, 1), (wide as isize, 1));
                matmul(s.o, wide, ckk, ym, weight, w_s, cols, p_s, false);
            }
            // The images' columns back into their own [o, l] outputs.
            for (i, yi) in ys.chunks_mut(out_len).enumerate() {
                for (o, row) in yi.chunks_mut(l).enumerate() {
                    let src = &ym[o * wide + i * l..][..l];
                    let b = bias.map(|b| b[o]);
                    for (d, &v) in row.iter_mut().zip(src) {
                        d.write(b.map_or(v, |b| v + b));
                    }
                }
            }
        })
    });
    y
}

/// Gradients with respect to x (when `need_x`), the weight and the bias.
pub(super) fn backward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need_x: bool,
    need_bias: bool,
) -> Grads {
    let (l, ckk, out_len, in_len) = (s.l(), s.ckk(), s.out_len(), s.in_len());
    let w_t = Strided {
        data: weight,
        rs: 1,
        cs: ckk,
    };
    let bf16 = s.bf16_gemms();
    let packed_wt = gemm_bf16::pack_once(bf16 && need_x, ckk, s.o, w_t);
    let work = |chunk: usize, dx_chunk: Option<&mut [MaybeUninit<f32>]>| -> (Vec<f32>, Vec<f32>) {
        let first = chunk * CHUNK;
        let wide = ((first + CHUNK).min(s.n) - first) * l;
        let mut dw = if bf16 {
            vec![0.0f32; s.o * ckk]
        } else {
            Vec::new()
        };
        let mut db = vec![0.0f32; if need_bias { s.o } else { 0 }];
        let dcols_len = if need_x { ckk * wide } else { 0 };
        with_scratch([ckk * wide, s.o * wide, dcols_len], |cols, gy, dcols| {
            for i in 0..wide / l {
                let img_n = first + i;
                im2col(s, &x[img_n * in_len..][..in_len], &mut cols[i * l..], wide);
                let g = &dy[img_n * out_len..][..out_len];
                for (o, row) in g.chunks(l).enumerate() {
                    gy[o * wide + i * l..][..l].copy_from_slice(row);
                    if need_bias {
                        db[o] += super::sum_zip(row, row, |v, _| v);
                    }
                }
            }
            // dW[o, ckk] = dY[o, wide] * P[ckk, wide]^T over the chunk's images at once.
            let a = Strided {
                data: gy,
                rs: wide,
                cs: 1,
            };
            let p_t = Strided {
                data: cols,
                rs: 1,
                cs: wide,
            };
            if bf16 {
                gemm_bf16::matmul(s.o, ckk, wide, &mut dw, a, p_t, false);
            } else {
                add_product_nt(s.o, ckk, wide, &mut dw, gy, cols);
            }
            if let Some(dxc) = dx_chunk.map(zeroed) {
                // dP[ckk, wide] = W^T dY, then each image's columns back onto its dx.
                match &packed_wt {
                    Some(pw) => gemm_bf16::matmul_packed_a(ckk, wide, s.o, dcols, pw, a, false),
                    None => {
                        let (w_t, g_s) = ((1, ckk as isize), (wide as isize, 1));
                        matmul(ckk, wide, s.o, dcols, weight, w_t, gy, g_s, false);
                    }
                }
                for (i, dxi) in dxc.chunks_mut(in_len).enumerate() {
                    col2im_add(s, &dcols[i * l..], dxi, wide);
                }
            }
        });
        (dw, db)
    };
    grads_by_chunks(s, need_x, work)
}

#[cfg(test)]
#[path = "conv_side_by_side_tests.rs"]
mod tests;
