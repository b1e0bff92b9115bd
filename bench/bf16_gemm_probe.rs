//! How fast a bf16 GEMM on AVX512-BF16 (`vdpbf16ps`) is on this CPU, beside the `gemm`
//! crate's f32 GEMM that convlab's CPU convolutions use, one thread each, on the shapes of
//! convlab's Winograd and im2col GEMMs. It began as a probe for bf16 on the CPU with its own
//! kernel (bench/RESULTS.md, "CPU, bf16 mixed precision": 182-225 GFLOP/s); since
//! src/model/cpu/gemm_bf16.rs grew from it, it times that GEMM (the same 8 x 32 kernel).
//!
//!     cargo run --release --example bf16_gemm_probe
//!
//! "packed" times include packing both operands (rounding to bf16, vector code); "kernel"
//! times reuse packs made once, as a layer's weights are.

use convlab::model::cpu::gemm_bf16::{self, Strided};
use std::time::Instant;

const REPEATS: usize = 20;

fn seconds(mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..REPEATS {
        f();
    }
    t.elapsed().as_secs_f64() / REPEATS as f64
}

fn main() {
    if !gemm_bf16::available() {
        println!("this CPU has no AVX512-BF16 (or CONVLAB_CPU_BF16_GEMM=off): nothing to probe");
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
        let (sa, sb) = (
            Strided {
                data: &a,
                rs: k,
                cs: 1,
            },
            Strided {
                data: &b,
                rs: n,
                cs: 1,
            },
        );
        let packed_s = seconds(|| gemm_bf16::matmul(m, n, k, &mut c16, sa, sb, false));
        let (mut pa, mut pb) = (Vec::new(), Vec::new());
        gemm_bf16::pack_a(&mut pa, m, k, sa);
        gemm_bf16::pack_b(&mut pb, k, n, sb);
        let kernel_s = seconds(|| gemm_bf16::matmul_packed(m, n, k, &mut c16, &pa, &pb, false));
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
