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

#[path = "conv_probe_common.rs"]
mod conv_probe_common;
use conv_probe_common::{OneConv, chosen, interleaved};
use convlab::model::cpu::conv::force_winograd_outputs;

fn main() {
    // Both columns on F(2x2, 3x3), the Winograd variant bf16 steps run, so that the GEMMs are
    // the only difference (f32 steps take F(4x4, 3x3) on the wide convs).
    force_winograd_outputs(Some(2));
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
    println!("one 3x3 conv, pad 1, forward + backward; median of 7 rounds of 5 passes");
    for (_, (n, c, o, hw)) in chosen(&shapes) {
        let conv = OneConv::new((n, c, o, hw));
        let (f, h) = interleaved(|| conv.seconds(false, 5), || conv.seconds(true, 5));
        println!(
            "batch {n}, {c} -> {o} channels, {hw}x{hw}: f32 GEMMs {:.2} ms, bf16 GEMMs {:.2} ms, \
             speed-up {:.2}x",
            f * 1e3,
            h * 1e3,
            f / h
        );
    }
}
