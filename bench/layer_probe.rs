//! convlab's time for ResNet-18's convolutions that Winograd does not take (the stride-2 3x3
//! convs and the 1x1 shortcuts, at CIFAR size), forward and backward, beside which
//! `python3 bench/torch_conv_layers.py 32 [bf16]` gives PyTorch's: median of 10 calls after
//! 2 warm-up calls, as that script times them.
//!
//!     DTYPE=bf16 cargo run --release --example layer_probe
//!     DTYPE=bf16 CONVLAB_CPU_IM2COL=by-image cargo run --release --example layer_probe
//!     SHAPES="32,256,512,8,3,2,1;..." (batch, in, out, plane, kernel, stride, padding)
//!
//! DTYPE=bf16 runs the convs as `train.precision = "bf16"` does (bf16 GEMMs on CPUs with
//! AVX512-BF16). The second command keeps the im2col passes image by image, as before the
//! side-by-side passes of src/model/cpu/conv_side_by_side.rs.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::ops::ConvOptions;
use convlab::model::cpu::conv::conv2d_fast;
use std::time::Instant;

#[path = "probe_shapes.rs"]
mod probe_shapes;

// As the convlab binary: Burn allocates a tensor per op (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// torch_conv_layers.py's shapes: (batch, in, out, plane, kernel, stride, padding).
const RESNET18: [[usize; 7]; 6] = [
    [32, 64, 128, 32, 3, 2, 1],
    [32, 128, 256, 16, 3, 2, 1],
    [32, 256, 512, 8, 3, 2, 1],
    [32, 64, 128, 32, 1, 2, 0],
    [32, 128, 256, 16, 1, 2, 0],
    [32, 256, 512, 8, 1, 2, 0],
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let bf16 = std::env::var("DTYPE").is_ok_and(|v| v == "bf16");
    let device = Device::flex().autodiff();
    let normal = |std| Distribution::Normal(0.0, std);
    for [n, c, o, hw, k, stride, pad] in probe_shapes::from_env(&RESNET18) {
        let x = Tensor::<4>::random([n, c, hw, hw], normal(1.0), &device).require_grad();
        let w = Tensor::<4>::random([o, c, k, k], normal(0.1), &device).require_grad();
        let (mut fwd, mut bwd) = (vec![], vec![]);
        for i in 0..12 {
            let options = ConvOptions::new([stride; 2], [pad; 2], [1, 1], 1);
            let t0 = Instant::now();
            let y = conv2d_fast(x.clone(), w.clone(), None, options, bf16);
            let t1 = Instant::now();
            let _grads = y.sum().backward();
            let t2 = Instant::now();
            if i >= 2 {
                fwd.push((t1 - t0).as_secs_f64());
                bwd.push((t2 - t1).as_secs_f64());
            }
        }
        println!(
            "b{n} {c}->{o} k{k} s{stride} {hw}x{hw}: fwd {:.1} ms bwd {:.1} ms",
            median(fwd) * 1e3,
            median(bwd) * 1e3
        );
    }
}
