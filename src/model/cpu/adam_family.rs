//! Adamax's, NAdam's and RAdam's update of one parameter tensor as one pass over its values,
//! in place (see `adam.rs` for why: the tensor operations of `train/adam_family.rs` are ten
//! to fifteen passes into fresh tensors, 5-10% of an MNIST epoch). Each value goes through
//! those operations' f32 arithmetic in their order, with the same f32 scalars and no fused
//! multiply-add, so both give the same bits (test: `src/train/adam_family.rs`).

use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;

use super::step_parts::in_parts;

/// One step's scalars, as f32 (as Burn's scalar operations apply them).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FamilyStep {
    /// L2 penalty added to the gradient, if any.
    pub weight_decay: Option<f32>,
    /// 1 - beta1: the first moment moves this far towards the gradient (PyTorch's lerp).
    pub weight: f32,
    pub beta_2: f32,
    /// 1 - beta2, rounded from f64.
    pub fresh_2: f32,
    pub epsilon: f32,
    pub update: Update,
}

/// What each of the three does with the moments.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Update {
    /// p -= exp_avg / exp_inf * lr / (1 - beta1^t)
    Adamax { lr_corrected: f32 },
    /// denom = sqrt(v / bias_2) + eps; p -= g / denom * grad_coef; p -= m / denom * avg_coef
    Nadam {
        bias_2: f32,
        grad_coef: f32,
        avg_coef: f32,
    },
    /// m / bias_1 * lr, times sqrt(bias_2) / (sqrt(v) + eps) * rect once rectified
    Radam {
        bias_1: f32,
        lr: f32,
        rectified: Option<(f32, f32)>,
    },
}

impl FamilyStep {
    fn pack(&self) -> [f32; 10] {
        let none = f32::NAN;
        let (kind, a, b, c, d) = match self.update {
            Update::Adamax { lr_corrected } => (0.0, lr_corrected, none, none, none),
            Update::Nadam {
                bias_2,
                grad_coef,
                avg_coef,
            } => (1.0, bias_2, grad_coef, avg_coef, none),
            Update::Radam {
                bias_1,
                lr,
                rectified,
            } => {
                let (root, rect) = rectified.unwrap_or((none, none));
                (2.0, bias_1, lr, root, rect)
            }
        };
        let decay = self.weight_decay.unwrap_or(none);
        let (w, b2, f2, eps) = (self.weight, self.beta_2, self.fresh_2, self.epsilon);
        [kind, decay, w, b2, f2, eps, a, b, c, d]
    }

    fn unpack([kind, decay, weight, beta_2, fresh_2, epsilon, a, b, c, d]: [f32; 10]) -> Self {
        let update = match kind as u8 {
            0 => Update::Adamax { lr_corrected: a },
            1 => Update::Nadam {
                bias_2: a,
                grad_coef: b,
                avg_coef: c,
            },
            _ => Update::Radam {
                bias_1: a,
                lr: b,
                rectified: (!c.is_nan()).then_some((c, d)),
            },
        };
        Self {
            weight_decay: (!decay.is_nan()).then_some(decay),
            weight,
            beta_2,
            fresh_2,
            epsilon,
            update,
        }
    }
}

#[backend_extension(Flex)]
pub trait CpuAdamFamily: Backend {
    /// (parameter, exp_avg, second statistic) after one step; `coefs`: `FamilyStep::pack`.
    fn cpu_adam_family_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        exp_avg: FloatTensor<Self>,
        second: FloatTensor<Self>,
        coefs: [f32; 10],
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// (param, exp_avg, second) after one step; all four tensors f32 on flex
/// (`super::on_flex`) and of one shape.
pub fn step<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    exp_avg: Tensor<D>,
    second: Tensor<D>,
    s: &FamilyStep,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let (p, m, v) = <burn::backend::Dispatch as CpuAdamFamily>::cpu_adam_family_step(
        param.into_dispatch(),
        grad.into_dispatch(),
        exp_avg.into_dispatch(),
        second.into_dispatch(),
        s.pack(),
    );
    (
        Tensor::from_dispatch(p),
        Tensor::from_dispatch(m),
        Tensor::from_dispatch(v),
    )
}

impl CpuAdamFamily for Flex {
    fn cpu_adam_family_step(
        param: FlexTensor,
        grad: FlexTensor,
        exp_avg: FlexTensor,
        second: FlexTensor,
        coefs: [f32; 10],
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let s = FamilyStep::unpack(coefs);
        let update = |p: &mut [f32], g: &[f32], [m, v]: [&mut [f32]; 2]| match s.update {
            Update::Adamax { lr_corrected } => adamax_part(p, g, m, v, &s, lr_corrected),
            Update::Nadam {
                bias_2,
                grad_coef,
                avg_coef,
            } => nadam_part(p, g, m, v, &s, [bias_2, grad_coef, avg_coef]),
            Update::Radam {
                bias_1,
                lr,
                rectified,
            } => radam_part(p, g, m, v, &s, [bias_1, lr], rectified),
        };
        let (p, [m, v]) = in_parts(param, grad, [exp_avg, second], update);
        (p, m, v)
    }
}

/// The gradient with the L2 penalty (p * wd + g) and the first moment moved towards it.
#[inline(always)]
fn decayed_and_averaged(p: f32, g: f32, m: &mut f32, s: &FamilyStep) -> f32 {
    let g = match s.weight_decay {
        Some(wd) => p * wd + g,
        None => g,
    };
    *m += (g - *m) * s.weight;
    g
}

wide! {
    fn adamax_part(p: &mut [f32], g: &[f32], m: &mut [f32], inf: &mut [f32], s: &FamilyStep, lr_corrected: f32) {
        for (((p, &g), m), inf) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(inf.iter_mut()) {
            let g = decayed_and_averaged(*p, g, m, s);
            let (decayed, fresh) = (*inf * s.beta_2, g.abs() + s.epsilon);
            // Burn's max_pair: the other where this one is lower.
            *inf = if decayed < fresh { fresh } else { decayed };
            *p -= *m / *inf * lr_corrected;
        }
    }
}

wide! {
    fn nadam_part(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: &FamilyStep, c: [f32; 3]) {
        let [bias_2, grad_coef, avg_coef] = c;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = decayed_and_averaged(*p, g, m, s);
            *v = *v * s.beta_2 + g * g * s.fresh_2;
            let denom = (*v / bias_2).sqrt() + s.epsilon;
            *p = *p - g / denom * grad_coef - *m / denom * avg_coef;
        }
    }
}

wide! {
    fn radam_part(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], s: &FamilyStep, c: [f32; 2], rectified: Option<(f32, f32)>) {
        let [bias_1, lr] = c;
        for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
            let g = decayed_and_averaged(*p, g, m, s);
            *v = *v * s.beta_2 + g * g * s.fresh_2;
            let corrected = *m / bias_1 * lr;
            *p -= match rectified {
                Some((root, rect)) => corrected * (1.0 / (v.sqrt() + s.epsilon) * root) * rect,
                None => corrected,
            };
        }
    }
}
