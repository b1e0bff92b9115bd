//! One 3x3 convolution's forward and backward pass on the CPU by F(2x2, 3x3) and by
//! F(4x4, 3x3) Winograd (src/model/cpu/winograd_tiles43.rs), in one process, interleaved: the
//! measurement behind `winograd::grid`'s choice (ResNet-18's convs at batch 32 and 128,
//! VGG-11's at 64, seed 004's and the fast recipe's).
//!
//!     cargo run --release --example winograd_probe
//!     DTYPE=bf16 ... (bf16 GEMMs, as `train.precision = "bf16"` runs them)
//!     ONLY=3 ... (one shape, by its index)
//!     PROFILE=f43 ONLY=3 perf record ... (one variant, 60 passes, nothing timed)
//!
//! Times: median of 7 interleaved rounds of 3 passes each.

#[path = "conv_probe_common.rs"]
mod conv_probe_common;
use conv_probe_common::{OneConv, chosen, interleaved};
use convlab::model::cpu::conv::force_winograd_outputs;

fn main() {
    let bf16 = std::env::var("DTYPE").is_ok_and(|d| d == "bf16");
    // (batch, in channels, out channels, plane side)
    let shapes = [
        (32, 16, 32, 32),
        (32, 32, 64, 16),
        (32, 64, 64, 32),
        (32, 128, 128, 16),
        (32, 256, 256, 8),
        (32, 512, 512, 4),
        (128, 64, 64, 32),
        (128, 128, 128, 16),
        (128, 256, 256, 8),
        (128, 512, 512, 4),
        (64, 64, 128, 16),
        (64, 128, 256, 8),
        (64, 256, 512, 4),
        (64, 512, 512, 2),
        (64, 24, 64, 31),
        (64, 64, 256, 15),
        (64, 256, 256, 7),
    ];
    println!("one 3x3 conv, pad 1, forward + backward, bf16 GEMMs: {bf16}; median of 7 rounds");
    for (i, (n, c, o, hw)) in chosen(&shapes) {
        let conv = OneConv::new((n, c, o, hw));
        let seconds = |variant: &str| {
            force_winograd_outputs(Some(if variant == "f43" { 4 } else { 2 }));
            conv.seconds(bf16, 3)
        };
        if let Ok(variant) = std::env::var("PROFILE") {
            // One variant only, for `perf record`.
            (0..20).for_each(|_| {
                seconds(&variant);
            });
            continue;
        }
        let (a, b) = interleaved(|| seconds("f23"), || seconds("f43"));
        println!(
            "{i:>2} batch {n:>3}, {c:>3} -> {o:>3}, {hw:>2}x{hw:<2}: F(2,3) {:7.2} ms, F(4,3) {:7.2} ms, \
             speed-up {:.2}x",
            a * 1e3,
            b * 1e3,
            a / b
        );
    }
}
