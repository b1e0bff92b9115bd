//! ELU and SELU as PyTorch's `nn.ELU()` and `nn.SELU()` compute them, forward and backward.
//!
//! Burn's `elu` and `selu` evaluate exp(x) on every element and then pick a branch. For an
//! input above ~88.7, exp(x) overflows f32 to inf: the forward still picks x, but backward
//! sends the unpicked branch a zero gradient times exp(x), 0 * inf = NaN, and one such
//! pre-activation makes the whole step NaN. Here the exponential sees min(x, 0), which is
//! exact on the branch that uses it and finite everywhere. Burn's `selu` also puts x = 0 on
//! the linear branch (slope scale, where PyTorch's is alpha * scale); both take x <= 0 as
//! negative here, as PyTorch does.

use burn::prelude::*;

/// SELU's fixed constants, from the paper (PyTorch's values); `cpu::smooth` rounds them to f32.
pub(crate) const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
pub(crate) const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

/// elu(x) = x where x > 0, else alpha * (exp(x) - 1).
pub fn elu<const D: usize>(x: Tensor<D>, alpha: f64) -> Tensor<D> {
    let negative = x.clone().lower_equal_scalar(0.0);
    let curve = x
        .clone()
        .clamp_max(0.0)
        .exp()
        .sub_scalar(1.0)
        .mul_scalar(alpha);
    x.mask_where(negative, curve)
}

/// selu(x) = scale * elu(x, alpha), with the paper's constants.
pub fn selu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    elu(x, SELU_ALPHA).mul_scalar(SELU_SCALE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tensor-op forms (CUDA's, and bf16's on the CPU), on flex in f32: no NaN slope where
    /// exp(x) overflows, and PyTorch's slopes (tests/pytorch_semantics.rs has the snippet).
    #[test]
    fn slopes_are_pytorchs_and_finite_far_out() {
        let device = Device::flex().autodiff();
        let x = [-200.0f32, -2.0, 0.0, 2.0, 100.0];
        let check = |f: &dyn Fn(Tensor<1>) -> Tensor<1>, want: [f32; 5]| {
            let input = Tensor::<1>::from_floats(x, &device).require_grad();
            let grads = f(input.clone()).sum().backward();
            let got: Vec<f32> = input
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec()
                .unwrap();
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-6, "{got:?} vs {want:?}");
            }
        };
        check(&|x| elu(x, 1.0), [0.0, 0.135_335_28, 1.0, 1.0, 1.0]);
        check(
            &selu,
            [0.0, 0.237_932_86, 1.758_099_3, 1.050_701, 1.050_701],
        );
    }
}
