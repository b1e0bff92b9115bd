//! convlab's training-mode batch norm (src/model/cpu/batch_norm.rs), forward and backward, on
//! the batch-norm shapes of ResNet-18 (batch 128) and of bn-prelu-cnn (batch 32): median of 30
//! calls after 3 warm-up calls. The backward pass is that of `(bn(x) * r).sum()` for a fixed
//! random r, so it includes one elementwise product's gradient (the same in every variant).
//! Also the fastest call of each, the steadiest figure on a busy machine.
//!
//!     cargo run --release --example bn_probe
//!     SHAPES="128,64,32;..." (batch, channels, plane side) cargo run --release --example bn_probe

use burn::nn::BatchNormConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use convlab::model::cpu::batch_norm;
use std::time::Instant;

#[path = "probe_shapes.rs"]
mod probe_shapes;

// As the convlab binary: Burn allocates a tensor per op (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// (batch, channels, plane side).
const SHAPES: [[usize; 3]; 7] = [
    [128, 64, 32],
    [128, 128, 16],
    [128, 256, 8],
    [128, 512, 4],
    [32, 16, 32],
    [32, 32, 16],
    [32, 64, 8],
];

/// (median, fastest) in ms.
fn median_min(mut v: Vec<f64>) -> (f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2] * 1e3, v[0] * 1e3)
}

fn main() {
    let device = Device::flex().autodiff();
    for [n, c, hw] in probe_shapes::from_env(&SHAPES) {
        let bn = BatchNormConfig::new(c).init(&device);
        let normal = Distribution::Normal(0.5, 2.0);
        let x = Tensor::<4>::random([n, c, hw, hw], normal, &device).require_grad();
        let r = Tensor::<4>::random([n, c, hw, hw], normal, &device);
        let (mut fwd, mut bwd) = (vec![], vec![]);
        let mut check = 0.0;
        for i in 0..33 {
            let t0 = Instant::now();
            let y = batch_norm::forward(&bn, x.clone());
            let t1 = Instant::now();
            let grads = (y * r.clone()).sum().backward();
            let t2 = Instant::now();
            check = x
                .grad(&grads)
                .map_or(0.0, |g| g.abs().sum().into_scalar::<f32>());
            if i >= 3 {
                fwd.push((t1 - t0).as_secs_f64());
                bwd.push((t2 - t1).as_secs_f64());
            }
        }
        let ((f, fmin), (b, bmin)) = (median_min(fwd), median_min(bwd));
        println!(
            "b{n} {c}x{hw}x{hw}: fwd {f:.2} ms bwd {b:.2} ms, fastest {fmin:.2} / {bmin:.2} (sum |dx| {check:.6e})"
        );
    }
}
