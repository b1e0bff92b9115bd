//! How fast a bf16 GEMM on AVX512-BF16 (`vdpbf16ps`) could be on this CPU, beside the `gemm`
//! crate's f32 GEMM that convlab's CPU convolutions use, one thread each, on the shapes of
//! convlab's Winograd and im2col GEMMs. A probe for the next step of bf16 on the CPU
//! (bench/RESULTS.md, "CPU, bf16 mixed precision"): convlab computes bf16 steps in f32, and
//! PyTorch's oneDNN uses these instructions. convlab's own bf16 GEMM grew from it
//! (src/model/cpu/gemm_bf16.rs); this probe stays as the measurement that motivated it.
//!
//!     cargo run --release --example bf16_gemm_probe
//!
//! The kernel: C (MR x NR tile, 16 f32 accumulators of 16 lanes) += A-pairs x B-pairs, one
//! `vdpbf16ps` per (row, 16 columns, 2 k) with A's pair broadcast; operands packed as bf16
//! pairs along k (rounded to nearest, ties to even). "packed" times include packing both
//! operands (scalar code here); "kernel" times reuse packs made once, as a layer's weights
//! could be.

use std::time::Instant;

const MR: usize = 8;
const NR: usize = 32;
const REPEATS: usize = 20;

fn bf16_bits(v: f32) -> u32 {
    let b = v.to_bits();
    b.wrapping_add(0x7fff + ((b >> 16) & 1)) >> 16
}

/// The pair (m[r][2q], m[r][2q + 1]) of a rows x cols row-major matrix read along k = cols
/// (`along_rows` false) or k = rows (true), as one u32: low half first.
fn pair(m: &[f32], cols: usize, k: usize, r: usize, q: usize, along_rows: bool) -> u32 {
    let at = |kk: usize| {
        if kk >= k {
            0.0
        } else if along_rows {
            m[kk * cols + r]
        } else {
            m[r * cols + kk]
        }
    };
    bf16_bits(at(2 * q)) | bf16_bits(at(2 * q + 1)) << 16
}

/// A (m x k) as panels of MR rows, [panel][k / 2][MR]; B (k x n) as panels of NR columns,
/// [panel][k / 2][NR]. Rows and columns past the end are zero.
fn pack(src: &[f32], lines: usize, k: usize, width: usize, along_rows: bool) -> Vec<u32> {
    let (kp, panels) = (k.div_ceil(2), lines.div_ceil(width));
    let cols = if along_rows { lines } else { k };
    let mut out = vec![0u32; panels * kp * width];
    for p in 0..panels {
        for q in 0..kp {
            for l in 0..width.min(lines - p * width) {
                out[(p * kp + q) * width + l] = pair(src, cols, k, p * width + l, q, along_rows);
            }
        }
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use super::{MR, NR};
    use std::arch::x86_64::*;

    /// C[MR x NR] (row stride `ldc`) = A panel x B panel over `kp` k-pairs.
    ///
    /// # Safety
    /// The CPU has AVX512F and AVX512-BF16; `a` holds kp * MR and `b` kp * NR pairs; `c`
    /// has MR rows of NR f32s, `ldc` apart.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn tile(kp: usize, a: *const u32, b: *const u32, c: *mut f32, ldc: usize) {
        let mut acc = [_mm512_setzero_ps(); 2 * MR];
        for q in 0..kp {
            // SAFETY: within the panels (the caller's contract).
            unsafe {
                let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(q * NR).cast()));
                let b1: __m512bh =
                    std::mem::transmute(_mm512_loadu_si512(b.add(q * NR + 16).cast()));
                for r in 0..MR {
                    let a: __m512bh =
                        std::mem::transmute(_mm512_set1_epi32(*a.add(q * MR + r) as i32));
                    acc[2 * r] = _mm512_dpbf16_ps(acc[2 * r], a, b0);
                    acc[2 * r + 1] = _mm512_dpbf16_ps(acc[2 * r + 1], a, b1);
                }
            }
        }
        for r in 0..MR {
            // SAFETY: c has MR rows of NR values (the caller's contract).
            unsafe {
                _mm512_storeu_ps(c.add(r * ldc), acc[2 * r]);
                _mm512_storeu_ps(c.add(r * ldc + 16), acc[2 * r + 1]);
            }
        }
    }
}

/// C = A x B from packed operands; m and n multiples of MR and NR.
#[cfg(target_arch = "x86_64")]
fn gemm_bf16(m: usize, n: usize, k: usize, a: &[u32], b: &[u32], c: &mut [f32]) {
    let kp = k.div_ceil(2);
    assert!(m.is_multiple_of(MR) && n.is_multiple_of(NR) && c.len() >= m * n);
    assert!(a.len() >= m / MR * kp * MR && b.len() >= n / NR * kp * NR);
    for pn in 0..n / NR {
        for pm in 0..m / MR {
            // SAFETY: the probe runs only where the CPU has AVX512-BF16 (`main`); the panels
            // and the tile are in bounds (asserted above).
            unsafe {
                kernel::tile(
                    kp,
                    a.as_ptr().add(pm * kp * MR),
                    b.as_ptr().add(pn * kp * NR),
                    c.as_mut_ptr().add(pm * MR * n + pn * NR),
                    n,
                )
            }
        }
    }
}

fn seconds(mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..REPEATS {
        f();
    }
    t.elapsed().as_secs_f64() / REPEATS as f64
}

#[cfg(target_arch = "x86_64")]
fn main() {
    if !std::is_x86_feature_detected!("avx512bf16") {
        println!("this CPU has no AVX512-BF16: nothing to probe");
        return;
    }
    // (m, n, k): Winograd's per-position GEMMs (out channels x tiles x in channels) of
    // ResNet-18's 128- and 256-channel layers, and an im2col GEMM of its first layer.
    let shapes = [
        (128, 1024, 128),
        (256, 512, 256),
        (512, 256, 512),
        (64, 2048, 576),
    ];
    println!("m x n x k: GFLOP/s, one thread, mean of {REPEATS} calls");
    for (m, n, k) in shapes {
        let a: Vec<f32> = (0..m * k)
            .map(|i| (i * 7919 % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let b: Vec<f32> = (0..k * n)
            .map(|i| (i * 104729 % 1000) as f32 / 1000.0 - 0.5)
            .collect();
        let (mut c32, mut c16) = (vec![0f32; m * n], vec![0f32; m * n]);
        let f32_s = seconds(|| {
            // SAFETY: row-major m x k, k x n and m x n buffers of exactly those sizes.
            unsafe {
                gemm::gemm(
                    m,
                    n,
                    k,
                    c32.as_mut_ptr(),
                    1,
                    n as isize,
                    false,
                    a.as_ptr(),
                    1,
                    k as isize,
                    b.as_ptr(),
                    1,
                    n as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            }
        });
        let packed_s = seconds(|| {
            let (pa, pb) = (pack(&a, m, k, MR, false), pack(&b, n, k, NR, true));
            gemm_bf16(m, n, k, &pa, &pb, &mut c16);
        });
        let (pa, pb) = (pack(&a, m, k, MR, false), pack(&b, n, k, NR, true));
        let kernel_s = seconds(|| gemm_bf16(m, n, k, &pa, &pb, &mut c16));
        let scale = c32.iter().fold(0f32, |s, v| s.max(v.abs()));
        let worst = c32
            .iter()
            .zip(&c16)
            .fold(0f32, |w, (x, y)| w.max((x - y).abs()));
        let flops = 2.0 * (m * n * k) as f64 / 1e9;
        println!(
            "{m} x {n} x {k}: f32 gemm {:.0}, bf16 packed {:.0}, bf16 kernel {:.0} \
             (kernel / f32 {:.2}x); largest difference {:.1e} of the largest value",
            flops / f32_s,
            flops / packed_s,
            flops / kernel_s,
            f32_s / kernel_s,
            worst / scale,
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("AVX512-BF16 is an x86-64 extension: nothing to probe here");
}
