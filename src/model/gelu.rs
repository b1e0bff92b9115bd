//! GELU as PyTorch's `nn.GELU()` computes it, forward and backward: x * Phi(x), with the
//! exact derivative Phi(x) + x * phi(x).
//!
//! Burn's flex backend has both exact. Every other backend (CubeCL on CUDA or the CPU,
//! fusion, ndarray) takes Burn's default pair: the erf forward, but the derivative of the
//! *tanh approximation* backward, with its constants cut to six digits (up to 8.7e-4 off the
//! true slope, near x = -2). There the same formula is built from tensor ops instead, so the
//! gradient comes from autodiff through erf (exact) and training matches PyTorch's; under
//! fusion the few elementwise ops fuse, forward and backward.

use burn::prelude::*;

/// gelu(x) = x * (1 + erf(x / sqrt 2)) / 2, with the exact gradient on every backend.
pub fn forward<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if super::cpu::is_flex(&x.device()) {
        return burn::tensor::activation::gelu(x);
    }
    // The ops of Burn's default forward, in its order: the same values on every backend.
    let cdf_times_two = x
        .clone()
        .div_scalar(std::f32::consts::SQRT_2)
        .erf()
        .add_scalar(1.0);
    (x * cdf_times_two).div_scalar(2.0)
}
