//! One 3x3 convolution's forward and backward pass on the CPU with its GEMMs in bf16 (the
//! `bf16` flag of `conv2d_fast`, src/model/cpu/gemm_bf16.rs) against the same pass with f32
//! GEMMs, in one process, interleaved: the measurement behind `BF16_GEMM_MIN_CHANNELS` in
//! src/model/cpu/conv.rs (the seed nets' conv shapes, then ResNet-18's at batch 32).
//!
//!     CONVLAB_CPU_BF16_GEMM=all cargo run --release --example bf16_conv_probe
//!     ONLY=10 ... (one shape, by its index)
//!
//! `=all` makes the narrow convs take the bf16 GEMMs too (convlab leaves them to f32 GEMMs);
//! without it those rows compare f32 with f32. On a CPU without AVX512-BF16 both columns are
//! f32. Times: median of 7 interleaved rounds of 5 passes each.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::ops::ConvOptions;
use convlab::model::cpu::conv::conv2d_fast;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let device = Device::flex().autodiff();
    // (batch, in channels, out channels, plane side)
    let shapes = [
        (64, 1, 10, 28),
        (64, 10, 32, 14),
        (64, 3, 15, 32),
        (64, 15, 45, 16),
        (32, 3, 16, 32),
        (32, 16, 32, 32),
        (32, 32, 64, 16),
        (32, 64, 64, 32),
        (32, 128, 128, 16),
        (32, 256, 256, 8),
        (32, 512, 512, 4),
    ];
    let only: Option<usize> = std::env::var("ONLY").ok().and_then(|v| v.parse().ok());
    println!("one 3x3 conv, pad 1, forward + backward; median of 7 rounds of 5 passes");
    for (i, (n, c, o, hw)) in shapes.into_iter().enumerate() {
        if only.is_some_and(|k| k != i) {
            continue;
        }
        let x = Tensor::<4>::random([n, c, hw, hw], Distribution::Normal(0.0, 1.0), &device)
            .require_grad();
        let w = Tensor::<4>::random([o, c, 3, 3], Distribution::Normal(0.0, 0.1), &device)
            .require_grad();
        let b = Tensor::<1>::zeros([o], &device).require_grad();
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let seconds = |bf16: bool| {
            let t = Instant::now();
            for _ in 0..5 {
                let y = conv2d_fast(x.clone(), w.clone(), Some(b.clone()), options.clone(), bf16);
                let _grads = y.sum().backward();
            }
            t.elapsed().as_secs_f64() / 5.0
        };
        seconds(false);
        seconds(true);
        let (mut f32s, mut bf16s) = (vec![], vec![]);
        for _ in 0..7 {
            f32s.push(seconds(false));
            bf16s.push(seconds(true));
        }
        let (f, h) = (median(f32s), median(bf16s));
        println!(
            "batch {n}, {c} -> {o} channels, {hw}x{hw}: f32 GEMMs {:.2} ms, bf16 GEMMs {:.2} ms, \
             speed-up {:.2}x",
            f * 1e3,
            h * 1e3,
            f / h
        );
    }
}
