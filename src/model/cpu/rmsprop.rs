//! RMSprop's, Adagrad's and Adadelta's update of one parameter tensor as one pass over its
//! values, in place (see `adam.rs` for why). Each value goes through Burn's f32 operations in
//! Burn's order (burn-optim 0.22 `RmsProp::step`, not centered; `AdaGrad::step` with lr decay
//! 0; Burn has no Adadelta: `train/adadelta.rs`'s tensor operations), with no fused
//! multiply-add, so the results have the tensor path's bits (tests: `src/train/rmsprop.rs`,
//! `src/train/adadelta.rs`).

use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;

use super::step_parts::in_parts;

/// One step's scalars (f32, as Burn applies them). Adagrad uses lr, weight decay, epsilon;
/// Adadelta those and `alpha` as its rho.
#[derive(Clone, Copy, Debug)]
pub struct RmsStep {
    pub lr: f32,
    /// L2 penalty added to the gradient, if any.
    pub weight_decay: Option<f32>,
    pub epsilon: f32,
    /// RMSprop's smoothing constant (Adadelta's rho: the same role, PyTorch's other name).
    pub alpha: f32,
    /// RMSprop's momentum; 0: none.
    pub momentum: f32,
}

impl RmsStep {
    fn pack(&self) -> [f32; 5] {
        let decay = self.weight_decay.unwrap_or(f32::NAN);
        [self.lr, decay, self.epsilon, self.alpha, self.momentum]
    }

    fn unpack([lr, decay, epsilon, alpha, momentum]: [f32; 5]) -> Self {
        let weight_decay = (!decay.is_nan()).then_some(decay);
        Self {
            lr,
            weight_decay,
            epsilon,
            alpha,
            momentum,
        }
    }
}

#[backend_extension(Flex)]
pub trait CpuRmsProp: Backend {
    /// (parameter, square average) after an RMSprop step without momentum.
    fn cpu_rmsprop_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        square_avg: FloatTensor<Self>,
        coefs: [f32; 5],
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// (parameter, square average, momentum buffer) after an RMSprop step with momentum.
    fn cpu_rmsprop_momentum_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        square_avg: FloatTensor<Self>,
        buf: FloatTensor<Self>,
        coefs: [f32; 5],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);

    /// (parameter, sum of squares) after an Adagrad step.
    fn cpu_adagrad_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        sum: FloatTensor<Self>,
        coefs: [f32; 5],
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// (parameter, square average, accumulated squared update) after an Adadelta step.
    fn cpu_adadelta_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        square_avg: FloatTensor<Self>,
        acc_delta: FloatTensor<Self>,
        coefs: [f32; 5],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

type D = burn::backend::Dispatch;

/// (parameter, square average, buffer if momentum) after an RMSprop step; every tensor f32
/// on flex (`super::on_flex`), of one shape; `buf` given exactly when `s.momentum > 0`.
pub fn rmsprop_step<const N: usize>(
    param: Tensor<N>,
    grad: Tensor<N>,
    square_avg: Tensor<N>,
    buf: Option<Tensor<N>>,
    s: &RmsStep,
) -> (Tensor<N>, Tensor<N>, Option<Tensor<N>>) {
    let (p, g, sq) = (
        param.into_dispatch(),
        grad.into_dispatch(),
        square_avg.into_dispatch(),
    );
    let (p, sq, buf) = match buf {
        Some(b) => {
            let (p, sq, b) = D::cpu_rmsprop_momentum_step(p, g, sq, b.into_dispatch(), s.pack());
            (p, sq, Some(Tensor::from_dispatch(b)))
        }
        None => {
            let (p, sq) = D::cpu_rmsprop_step(p, g, sq, s.pack());
            (p, sq, None)
        }
    };
    (Tensor::from_dispatch(p), Tensor::from_dispatch(sq), buf)
}

/// (parameter, sum of squares) after an Adagrad step; as `rmsprop_step`.
pub fn adagrad_step<const N: usize>(
    param: Tensor<N>,
    grad: Tensor<N>,
    sum: Tensor<N>,
    s: &RmsStep,
) -> (Tensor<N>, Tensor<N>) {
    let (p, sum) = D::cpu_adagrad_step(
        param.into_dispatch(),
        grad.into_dispatch(),
        sum.into_dispatch(),
        s.pack(),
    );
    (Tensor::from_dispatch(p), Tensor::from_dispatch(sum))
}

/// (parameter, square average, accumulated squared update) after an Adadelta step; as
/// `rmsprop_step`.
pub fn adadelta_step<const N: usize>(
    param: Tensor<N>,
    grad: Tensor<N>,
    square_avg: Tensor<N>,
    acc_delta: Tensor<N>,
    s: &RmsStep,
) -> (Tensor<N>, Tensor<N>, Tensor<N>) {
    let (p, sq, acc) = D::cpu_adadelta_step(
        param.into_dispatch(),
        grad.into_dispatch(),
        square_avg.into_dispatch(),
        acc_delta.into_dispatch(),
        s.pack(),
    );
    (
        Tensor::from_dispatch(p),
        Tensor::from_dispatch(sq),
        Tensor::from_dispatch(acc),
    )
}

impl CpuRmsProp for Flex {
    fn cpu_rmsprop_step(
        param: FlexTensor,
        grad: FlexTensor,
        square_avg: FlexTensor,
        coefs: [f32; 5],
    ) -> (FlexTensor, FlexTensor) {
        let s = RmsStep::unpack(coefs);
        let update = |p: &mut [f32], g: &[f32], [sq]: [&mut [f32]; 1]| rmsprop_part(p, g, sq, &s);
        let (p, [sq]) = in_parts(param, grad, [square_avg], update);
        (p, sq)
    }

    fn cpu_rmsprop_momentum_step(
        param: FlexTensor,
        grad: FlexTensor,
        square_avg: FlexTensor,
        buf: FlexTensor,
        coefs: [f32; 5],
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let s = RmsStep::unpack(coefs);
        let update = |p: &mut [f32], g: &[f32], [sq, b]: [&mut [f32]; 2]| {
            rmsprop_momentum_part(p, g, sq, b, &s)
        };
        let (p, [sq, b]) = in_parts(param, grad, [square_avg, buf], update);
        (p, sq, b)
    }

    fn cpu_adagrad_step(
        param: FlexTensor,
        grad: FlexTensor,
        sum: FlexTensor,
        coefs: [f32; 5],
    ) -> (FlexTensor, FlexTensor) {
        let s = RmsStep::unpack(coefs);
        let update = |p: &mut [f32], g: &[f32], [sum]: [&mut [f32]; 1]| adagrad_part(p, g, sum, &s);
        let (p, [sum]) = in_parts(param, grad, [sum], update);
        (p, sum)
    }

    fn cpu_adadelta_step(
        param: FlexTensor,
        grad: FlexTensor,
        square_avg: FlexTensor,
        acc_delta: FlexTensor,
        coefs: [f32; 5],
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let s = RmsStep::unpack(coefs);
        let update =
            |p: &mut [f32], g: &[f32], [sq, acc]: [&mut [f32]; 2]| adadelta_part(p, g, sq, acc, &s);
        let (p, [sq, acc]) = in_parts(param, grad, [square_avg, acc_delta], update);
        (p, sq, acc)
    }
}

/// The gradient with the L2 penalty (Burn's `WeightDecay::transform`: p * wd + g).
#[inline(always)]
fn decayed(p: f32, g: f32, s: &RmsStep) -> f32 {
    match s.weight_decay {
        Some(wd) => p * wd + g,
        None => g,
    }
}

/// RMSprop's direction g / (sqrt(square_avg) + eps), updating square_avg.
#[inline(always)]
fn rms_direction(g: f32, sq: &mut f32, s: &RmsStep) -> f32 {
    *sq = *sq * s.alpha + g * g * (1.0 - s.alpha);
    g / (sq.sqrt() + s.epsilon)
}

wide! {
    fn rmsprop_part(p: &mut [f32], g: &[f32], sq: &mut [f32], s: &RmsStep) {
        for ((p, &g), sq) in p.iter_mut().zip(g).zip(sq.iter_mut()) {
            let d = rms_direction(decayed(*p, g, s), sq, s);
            *p -= d * s.lr;
        }
    }
}

wide! {
    fn rmsprop_momentum_part(p: &mut [f32], g: &[f32], sq: &mut [f32], b: &mut [f32], s: &RmsStep) {
        for (((p, &g), sq), b) in p.iter_mut().zip(g).zip(sq.iter_mut()).zip(b.iter_mut()) {
            let d = rms_direction(decayed(*p, g, s), sq, s);
            *b = *b * s.momentum + d;
            *p -= *b * s.lr;
        }
    }
}

wide! {
    fn adagrad_part(p: &mut [f32], g: &[f32], sum: &mut [f32], s: &RmsStep) {
        for ((p, &g), sum) in p.iter_mut().zip(g).zip(sum.iter_mut()) {
            let g = decayed(*p, g, s);
            *sum += g * g;
            *p -= g / (sum.sqrt() + s.epsilon) * s.lr;
        }
    }
}

wide! {
    fn adadelta_part(p: &mut [f32], g: &[f32], sq: &mut [f32], acc: &mut [f32], s: &RmsStep) {
        for (((p, &g), sq), acc) in p.iter_mut().zip(g).zip(sq.iter_mut()).zip(acc.iter_mut()) {
            let g = decayed(*p, g, s);
            *sq = *sq * s.alpha + g * g * (1.0 - s.alpha);
            let d = (*acc + s.epsilon).sqrt() / (*sq + s.epsilon).sqrt() * g;
            *acc = *acc * s.alpha + d * d * (1.0 - s.alpha);
            *p -= d * s.lr;
        }
    }
}
