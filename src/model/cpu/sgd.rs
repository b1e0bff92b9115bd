//! SGD's update of one parameter tensor (weight decay, momentum, Nesterov) as one pass over
//! its values, in place. Burn's Sgd makes a fresh tensor for each of its two to seven
//! operations per parameter, which cost vgg-blocks at batch 16 more than its one-pass Adam.
//! Each value goes through Burn's f32 operations in Burn's order (burn-optim 0.22 `Sgd::step`
//! and `Momentum::transform` with dampening 0), with no fused multiply-add, so the results
//! have Burn's bits (test: `src/train/sgd.rs`).

use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;

use super::step_parts::in_parts;

/// One step's scalars (f32, as Burn applies them).
#[derive(Clone, Copy, Debug)]
pub struct SgdStep {
    pub lr: f32,
    /// L2 penalty added to the gradient, if any.
    pub weight_decay: Option<f32>,
    pub momentum: f32,
    pub nesterov: bool,
}

impl SgdStep {
    fn pack(&self) -> [f32; 4] {
        [
            self.lr,
            self.weight_decay.unwrap_or(f32::NAN),
            self.momentum,
            if self.nesterov { 1.0 } else { 0.0 },
        ]
    }

    fn unpack([lr, decay, momentum, nesterov]: [f32; 4]) -> Self {
        Self {
            lr,
            weight_decay: (!decay.is_nan()).then_some(decay),
            momentum,
            nesterov: nesterov != 0.0,
        }
    }
}

#[backend_extension(Flex)]
pub trait CpuSgd: Backend {
    /// The parameter after one step without momentum; `coefs`: `SgdStep` packed.
    fn cpu_sgd_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        coefs: [f32; 4],
    ) -> FloatTensor<Self>;

    /// (parameter, velocity) after one step with momentum, from the previous velocity.
    fn cpu_sgd_momentum_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        velocity: FloatTensor<Self>,
        coefs: [f32; 4],
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// The parameter after a step without momentum; both tensors f32 on flex, of one shape.
pub fn step<const D: usize>(param: Tensor<D>, grad: Tensor<D>, s: &SgdStep) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as CpuSgd>::cpu_sgd_step(
        param.into_dispatch(),
        grad.into_dispatch(),
        s.pack(),
    ))
}

/// (parameter, velocity) after a step with momentum; all three f32 on flex, of one shape.
pub fn momentum_step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    velocity: Tensor<D>,
    s: &SgdStep,
) -> (Tensor<D>, Tensor<D>) {
    let (p, v) = <burn::backend::Dispatch as CpuSgd>::cpu_sgd_momentum_step(
        param.into_dispatch(),
        grad.into_dispatch(),
        velocity.into_dispatch(),
        s.pack(),
    );
    (Tensor::from_dispatch(p), Tensor::from_dispatch(v))
}

impl CpuSgd for Flex {
    fn cpu_sgd_step(param: FlexTensor, grad: FlexTensor, coefs: [f32; 4]) -> FlexTensor {
        let s = SgdStep::unpack(coefs);
        in_parts(param, grad, [], |p, g, []| plain_part(p, g, &s)).0
    }

    fn cpu_sgd_momentum_step(
        param: FlexTensor,
        grad: FlexTensor,
        velocity: FlexTensor,
        coefs: [f32; 4],
    ) -> (FlexTensor, FlexTensor) {
        let s = SgdStep::unpack(coefs);
        let (p, [v]) = in_parts(param, grad, [velocity], |p, g, [v]| {
            momentum_part(p, g, v, &s)
        });
        (p, v)
    }
}

wide! {
    fn plain_part(p: &mut [f32], g: &[f32], s: &SgdStep) {
        for (p, &g) in p.iter_mut().zip(g) {
            let g = match s.weight_decay {
                Some(wd) => *p * wd + g,
                None => g,
            };
            *p -= g * s.lr;
        }
    }
}

wide! {
    fn momentum_part(p: &mut [f32], g: &[f32], v: &mut [f32], s: &SgdStep) {
        for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
            let g = match s.weight_decay {
                Some(wd) => *p * wd + g,
                None => g,
            };
            // Burn: grad * (1 - dampening) + velocity * momentum, dampening 0 (x * 1.0 == x).
            *v = g + *v * s.momentum;
            let d = if s.nesterov { *v * s.momentum + g } else { *v };
            *p -= d * s.lr;
        }
    }
}
