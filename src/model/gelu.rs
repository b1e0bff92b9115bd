//! GELU as PyTorch's `nn.GELU()` computes it, forward and backward: x * Phi(x), with the
//! exact derivative Phi(x) + x * phi(x).
//!
//! Burn's flex backend has both exact (convlab's f32 pass in `cpu::smooth` too). Every other backend (CubeCL on CUDA or the CPU,
//! fusion, ndarray) takes Burn's default pair: the erf forward, but the derivative of the
//! *tanh approximation* backward, with its constants cut to six digits (up to 8.7e-4 off the
//! true slope, near x = -2). There the same formula is built from tensor ops instead, so the
//! gradient comes from autodiff through erf (exact) and training matches PyTorch's; under
//! fusion the few elementwise ops fuse, forward and backward.

use burn::prelude::*;

/// gelu(x) = x * (1 + erf(x / sqrt 2)) / 2, with the exact gradient on every backend: on
/// flex in f32 as one vectorized pass each way (`cpu::smooth`; Burn's op calls the C
/// library's erf one element at a time), in bf16 Burn's op.
pub fn forward<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if super::cpu::is_flex(&x.device()) {
        let kind = super::cpu::smooth::Smooth::Gelu;
        return super::cpu::smooth::forward(x, kind, burn::tensor::activation::gelu);
    }
    // The ops of Burn's default forward, in its order: the same values on every backend.
    let cdf_times_two = x
        .clone()
        .div_scalar(std::f32::consts::SQRT_2)
        .erf()
        .add_scalar(1.0);
    (x * cdf_times_two).div_scalar(2.0)
}
