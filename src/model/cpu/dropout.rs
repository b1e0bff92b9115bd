//! Element-wise dropout (`nn.Dropout`) on flex with its mask drawn by a counter-based hash
//! (SplitMix64's value for the per-call seed plus the element index), in parallel. Burn's
//! `Dropout` samples a Bernoulli value per element through a ChaCha generator one at a time,
//! then multiplies twice: on Keras' mnist_mlp (784-512-512-10, dropout 0.2) the sampling was
//! a fifth of a training step. Here the mask is one pass that writes factors 0 or 1 / keep,
//! and one multiply applies them (its backward: the gradient times the same factors).
//!
//! Kept values are x * (1 / keep), the same bits as Burn's (x * 1) * (1 / keep) and as
//! PyTorch's. The per-call seed is drawn from Burn's generator, which the training loop seeds
//! per epoch (`seed::Stream::Dropout`), so a seed gives the same masks on every run and
//! thread count.

use burn::nn::Dropout;
use burn::prelude::*;
use burn::tensor::{Distribution, TensorData};
use rayon::prelude::*;

use super::on_flex;

/// Elements per parallel job of the mask pass.
const JOB: usize = 16_384;

/// `layer.forward(x)`, with the mask drawn here when `x` is f32 on flex.
pub fn forward<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let active = layer.training.is_enabled() && x.device().is_autodiff() && layer.prob > 0.0;
    if !active || !on_flex(&x) {
        return layer.forward(x);
    }
    let device = x.device();
    let shape = x.shape();
    let factors = keep_factors(shape.num_elements(), 1.0 - layer.prob, call_seed(&device));
    x * Tensor::<D>::from_data(TensorData::new(factors, shape), &device)
}

/// 64 bits from Burn's generator on `device` (four uniform draws, 23 mantissa bits each).
fn call_seed(device: &Device) -> u64 {
    let draws = Tensor::<1>::random([4], Distribution::Default, device).into_data();
    let draws = draws.try_to_vec::<f32>().unwrap_or_default();
    draws
        .iter()
        .fold(0u64, |s, v| s.rotate_left(23) ^ u64::from(v.to_bits()))
}

/// `n` factors: 1 / keep with probability `keep`, else 0. Element i keeps when the top 24
/// bits of mix(seed + i) fall below keep * 2^24: the mask depends on the seed and the index
/// only, not on how the work is split.
pub fn keep_factors(n: usize, keep: f64, seed: u64) -> Vec<f32> {
    let threshold = (keep * (1u64 << 24) as f64).round() as u64;
    let kept = (1.0 / keep) as f32;
    let mut out = vec![0.0f32; n];
    out.par_chunks_mut(JOB)
        .enumerate()
        .for_each(|(job, chunk)| {
            let first = (job * JOB) as u64;
            fill_factors(chunk, seed.wrapping_add(first), threshold, kept);
        });
    out
}

wide! {
    fn fill_factors(out: &mut [f32], start: u64, threshold: u64, kept: f32) {
        for (i, o) in out.iter_mut().enumerate() {
            let r = mix(start.wrapping_add(i as u64)) >> 40;
            *o = if r < threshold { kept } else { 0.0 };
        }
    }
}

/// SplitMix64 (Steele, Lea and Flood 2014) at state i times its golden-ratio increment: its
/// output function, a bijection of 64-bit words, applied there. So consecutive i give
/// consecutive values of one SplitMix64 stream, which look independent.
#[inline(always)]
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
