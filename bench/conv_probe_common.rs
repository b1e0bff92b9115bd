//! What bench/bf16_conv_probe.rs and bench/winograd_probe.rs share: one 3x3, pad-1 conv's
//! forward and backward pass on the CPU (`conv2d_fast`), and two variants of it timed in
//! interleaved rounds.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::ops::ConvOptions;
use convlab::model::cpu::conv::conv2d_fast;
use std::time::Instant;

/// (batch, in channels, out channels, plane side)
pub type Shape = (usize, usize, usize, usize);

/// One conv's random input, weights and bias, tracked for the backward pass.
pub struct OneConv {
    x: Tensor<4>,
    w: Tensor<4>,
    b: Tensor<1>,
}

impl OneConv {
    pub fn new((n, c, o, hw): Shape) -> Self {
        let device = Device::flex().autodiff();
        let normal = |std| Distribution::Normal(0.0, std);
        OneConv {
            x: Tensor::random([n, c, hw, hw], normal(1.0), &device).require_grad(),
            w: Tensor::random([o, c, 3, 3], normal(0.1), &device).require_grad(),
            b: Tensor::zeros([o], &device).require_grad(),
        }
    }

    /// Seconds per forward + backward pass, the mean of `passes`.
    pub fn seconds(&self, bf16: bool, passes: usize) -> f64 {
        let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let t = Instant::now();
        for _ in 0..passes {
            let (x, w, b) = (self.x.clone(), self.w.clone(), Some(self.b.clone()));
            let _grads = conv2d_fast(x, w, b, options.clone(), bf16).sum().backward();
        }
        t.elapsed().as_secs_f64() / passes as f64
    }
}

/// The shapes to run: all, or the one whose index `ONLY` names.
pub fn chosen(shapes: &[Shape]) -> Vec<(usize, Shape)> {
    let only: Option<usize> = std::env::var("ONLY").ok().and_then(|v| v.parse().ok());
    let all = shapes.iter().copied().enumerate();
    all.filter(|(i, _)| only.is_none_or(|k| k == *i)).collect()
}

/// Medians of `a` and `b` over 7 interleaved rounds, after one untimed call of each.
pub fn interleaved(mut a: impl FnMut() -> f64, mut b: impl FnMut() -> f64) -> (f64, f64) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(|p, q| p.total_cmp(q));
        v[v.len() / 2]
    };
    a();
    b();
    let (mut ta, mut tb) = (vec![], vec![]);
    for _ in 0..7 {
        ta.push(a());
        tb.push(b());
    }
    (median(ta), median(tb))
}
