//! Adamax, NAdam and RAdam as PyTorch's `torch.optim.Adamax`, `NAdam` and `RAdam` compute
//! them (single-tensor path, `weight_decay` as an L2 penalty on the gradient, PyTorch's
//! default); Burn has none of the three. Each keeps Adam's first moment `exp_avg` and one
//! second statistic: Adamax the decayed infinity norm `exp_inf`, the other two Adam's
//! `exp_avg_sq`. NAdam also carries the product of its momentum schedule, `mu_product`, as
//! PyTorch's state does, so a cycled beta1 (OneCycleLR) enters it step by step.
//!
//! On the CPU (flex) each parameter's step is one pass (`model::cpu::adam_family`); elsewhere
//! (CUDA) the same arithmetic as tensor operations, with the same bits.

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource, join_path};
use burn::tensor::{Device, Tensor};

use crate::model::cpu::adam_family::{self as cpu, FamilyStep, Update};
use crate::model::cpu::on_flex;
use crate::train::adam::Moments;
use crate::train::sgd::with_decay;

/// Which of the three, with NAdam's momentum decay (PyTorch's `momentum_decay`, 4e-3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Variant {
    Adamax,
    Nadam { momentum_decay: f64 },
    Radam,
}

#[derive(Clone, Debug)]
pub struct FlexAdamFamily {
    pub variant: Variant,
    /// betas, epsilon and a cycled beta1 (AMSGrad is Adam's and AdamW's only).
    pub m: Moments,
    /// The L2 penalty added to the gradient.
    pub weight_decay: Option<f32>,
}

/// The state of one parameter: the step count, the first moment, the second statistic
/// (Adamax's `exp_inf`, else `exp_avg_sq`) and NAdam's `mu_product` (1 for the others).
#[derive(Clone)]
pub struct FamilyState<const D: usize> {
    pub step: usize,
    pub exp_avg: Tensor<D>,
    pub second: Tensor<D>,
    pub mu_product: f64,
}

impl<const D: usize> RecordState for FamilyState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        let path = join_path(prefix, "adam_family");
        out.push_scalar(&path, "step", (self.step as u64).into());
        out.push_scalar(&path, "mu_product", self.mu_product.into());
        out.push_tensor(&path, "exp_avg", self.exp_avg.clone().into_data());
        out.push_tensor(&path, "second", self.second.clone().into_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let path = join_path(prefix, "adam_family");
        let step = u64::try_from(src.take_scalar(&path, "step")?).ok()? as usize;
        let mu_product = f64::try_from(src.take_scalar(&path, "mu_product")?).ok()?;
        let exp_avg = Tensor::from_data(src.take_tensor(&path, "exp_avg")?, device);
        let second = Tensor::from_data(src.take_tensor(&path, "second")?, device);
        Some(Self {
            step,
            exp_avg,
            second,
            mu_product,
        })
    }
}

/// NAdam's momentum coefficient at step `t` (Dozat's schedule, PyTorch's constants).
fn nadam_mu(beta_1: f64, momentum_decay: f64, t: f64) -> f64 {
    beta_1 * (1.0 - 0.5 * 0.96f64.powf(t * momentum_decay))
}

/// RAdam's variance rectification at step `t`, or None while the approximated moving
/// average is 5 steps long or less (then the step is momentum SGD's, unscaled).
fn radam_rect(beta_2: f64, t: f64) -> Option<f64> {
    let rho_inf = 2.0 / (1.0 - beta_2) - 1.0;
    let rho_t = rho_inf - 2.0 * t * beta_2.powf(t) / (1.0 - beta_2.powf(t));
    (rho_t > 5.0).then(|| {
        ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
            .sqrt()
    })
}

impl FlexAdamFamily {
    /// The scalars of step `t` (1 = the first), computed in f64 as PyTorch computes them in
    /// Python, then rounded to f32 as both paths apply them. Updates NAdam's `mu_product`.
    fn scalars(&self, lr: LearningRate, t: f64, mu_product: &mut f64) -> FamilyStep {
        let beta_1 = self.m.cycled.get().unwrap_or(self.m.beta_1) as f64;
        let beta_2 = self.m.beta_2 as f64;
        let update = match self.variant {
            Variant::Adamax => Update::Adamax {
                lr_corrected: (lr / (1.0 - beta_1.powf(t))) as f32,
            },
            Variant::Nadam { momentum_decay } => {
                let mu = nadam_mu(beta_1, momentum_decay, t);
                let mu_next = nadam_mu(beta_1, momentum_decay, t + 1.0);
                // PyTorch keeps mu_product as a float32 tensor.
                *mu_product = (*mu_product as f32 * mu as f32) as f64;
                Update::Nadam {
                    bias_2: (1.0 - beta_2.powf(t)) as f32,
                    grad_coef: (lr * (1.0 - mu) / (1.0 - *mu_product)) as f32,
                    avg_coef: (lr * mu_next / (1.0 - *mu_product * mu_next)) as f32,
                }
            }
            Variant::Radam => Update::Radam {
                bias_1: (1.0 - beta_1.powf(t)) as f32,
                lr: lr as f32,
                rectified: radam_rect(beta_2, t)
                    .map(|rect| ((1.0 - beta_2.powf(t)).sqrt() as f32, rect as f32)),
            },
        };
        FamilyStep {
            weight_decay: self.weight_decay,
            weight: (1.0 - beta_1) as f32,
            beta_2: self.m.beta_2,
            fresh_2: (1.0 - beta_2) as f32,
            epsilon: self.m.epsilon,
            update,
        }
    }

    /// The step as tensor operations (any device), in the order of the CPU pass so both give
    /// the same bits.
    pub(crate) fn step_tensors<const D: usize>(
        s: &FamilyStep,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        exp_avg: Tensor<D>,
        second: Tensor<D>,
    ) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
        let f = |x: f32| x as f64;
        let grad = with_decay(s.weight_decay, &tensor, grad);
        // exp_avg.lerp_(grad, 1 - beta1) as PyTorch computes a lerp of weight below one half
        // (beta1 above it, as always in practice; above, its form differs by rounding only).
        let exp_avg = exp_avg.clone() + (grad.clone() - exp_avg).mul_scalar(f(s.weight));
        let squared = |v: Tensor<D>| {
            v.mul_scalar(f(s.beta_2)) + grad.clone().square().mul_scalar(f(s.fresh_2))
        };
        match s.update {
            Update::Adamax { lr_corrected } => {
                let fresh = grad.clone().abs().add_scalar(f(s.epsilon));
                let exp_inf = second.mul_scalar(f(s.beta_2)).max_pair(fresh);
                let moved = exp_avg.clone().div(exp_inf.clone());
                (tensor - moved.mul_scalar(f(lr_corrected)), exp_avg, exp_inf)
            }
            Update::Nadam {
                bias_2,
                grad_coef,
                avg_coef,
            } => {
                let v = squared(second);
                let denom = v
                    .clone()
                    .div_scalar(f(bias_2))
                    .sqrt()
                    .add_scalar(f(s.epsilon));
                let grad_part = grad.div(denom.clone()).mul_scalar(f(grad_coef));
                let avg_part = exp_avg.clone().div(denom).mul_scalar(f(avg_coef));
                (tensor - grad_part - avg_part, exp_avg, v)
            }
            Update::Radam {
                bias_1,
                lr,
                rectified,
            } => {
                let v = squared(second);
                let corrected = exp_avg.clone().div_scalar(f(bias_1)).mul_scalar(f(lr));
                let moved = match rectified {
                    Some((root, rect)) => {
                        let adaptive = v.clone().sqrt().add_scalar(f(s.epsilon)).recip();
                        let adaptive = adaptive.mul_scalar(f(root));
                        corrected.mul(adaptive).mul_scalar(f(rect))
                    }
                    None => corrected,
                };
                (tensor - moved, exp_avg, v)
            }
        }
    }
}

impl Optimizer for FlexAdamFamily {
    type State<const D: usize> = FamilyState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let st = state.unwrap_or_else(|| FamilyState {
            step: 0,
            exp_avg: grad.zeros_like(),
            second: grad.zeros_like(),
            mu_product: 1.0,
        });
        let step = st.step + 1;
        let mut mu_product = st.mu_product;
        let s = self.scalars(lr, step as f64, &mut mu_product);
        let one_pass = [&tensor, &grad, &st.exp_avg, &st.second]
            .iter()
            .all(|t| on_flex(t));
        let (param, exp_avg, second) = match one_pass {
            true => cpu::step(tensor, grad, st.exp_avg, st.second, &s),
            false => Self::step_tensors(&s, tensor, grad, st.exp_avg, st.second),
        };
        let state = FamilyState {
            step,
            exp_avg,
            second,
            mu_product,
        };
        (param, Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        FamilyState {
            exp_avg: state.exp_avg.to_device(device),
            second: state.second.to_device(device),
            ..state
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim_fixtures::{bits, recorded, reread, values};

    /// RAdam's rectification switches on at step 6 with PyTorch's betas (rho_t 5.994, after
    /// 4.996 at step 5: torch.optim.RAdam's formula evaluated in Python), and its value there.
    #[test]
    fn radam_rectifies_from_the_sixth_step() {
        assert_eq!(radam_rect(0.999, 5.0), None);
        let rect = radam_rect(0.999, 6.0).unwrap();
        // sqrt((5.994164 - 4)(5.994164 - 2) 1999 / (1995 * 1997 * 5.994164)) = 0.0258211
        assert!((rect - 0.02582111).abs() < 1e-7, "{rect}");
    }

    fn variants() -> [Variant; 3] {
        let nadam = Variant::Nadam {
            momentum_decay: 4e-3,
        };
        [Variant::Adamax, nadam, Variant::Radam]
    }

    /// Eight steps of each on the CPU pass and as tensor operations, lr changing every step,
    /// with and without the L2 penalty: the same bits for the parameter and both moments
    /// after each (RAdam's rectification starts at step 6).
    #[test]
    fn the_cpu_pass_gives_the_bits_of_the_tensor_operations() {
        for variant in variants() {
            for (b1, b2, eps, wd) in [(0.9, 0.999, 1e-8, None), (0.8, 0.99, 1e-6, Some(0.01))] {
                let opt = FlexAdamFamily {
                    variant,
                    m: Moments::new(b1, b2, eps),
                    weight_decay: wd,
                };
                let (mut p_cpu, mut state) = (values(1), None::<FamilyState<2>>);
                let mut p_ops = values(1);
                let (mut m_ops, mut v_ops) = (p_ops.zeros_like(), p_ops.zeros_like());
                let mut mu_product = 1.0;
                for step in 0..8u32 {
                    let (grad, lr) = (values(100 + step), 0.05 / (1 + step) as f64);
                    (p_cpu, state) = opt.step(lr, p_cpu, grad.clone(), state);
                    let s = opt.scalars(lr, (step + 1) as f64, &mut mu_product);
                    (p_ops, m_ops, v_ops) =
                        FlexAdamFamily::step_tensors(&s, p_ops, grad, m_ops, v_ops);
                    let st = state.as_ref().unwrap();
                    let case = format!("{variant:?} {wd:?} step {step}");
                    assert_eq!(bits(&p_cpu), bits(&p_ops), "{case}");
                    assert_eq!(bits(&st.exp_avg), bits(&m_ops), "{case}");
                    assert_eq!(bits(&st.second), bits(&v_ops), "{case}");
                    assert_eq!(st.mu_product, mu_product);
                }
                assert_ne!(bits(&p_cpu), bits(&values(1)));
            }
        }
    }

    /// A state written to a resume record and read back takes the next step to the same bits.
    #[test]
    fn a_resumed_state_steps_as_the_live_one() {
        for variant in variants() {
            let opt = FlexAdamFamily {
                variant,
                m: Moments::new(0.9, 0.999, 1e-8),
                weight_decay: Some(0.01),
            };
            let mut p = values(1);
            let mut state = None;
            for step in 0..7u32 {
                (p, state) = opt.step(1e-3, p, values(100 + step), state);
            }
            let live = state.unwrap();
            let back: FamilyState<2> = reread(&live);
            assert_eq!(recorded(&back), recorded(&live), "{variant:?}");
            let (a, _) = opt.step(1e-3, p.clone(), values(200), Some(live));
            let (b, _) = opt.step(1e-3, p.clone(), values(200), Some(back));
            assert_eq!(bits(&a), bits(&b), "{variant:?}");
            assert_ne!(bits(&a), bits(&p), "{variant:?}");
        }
    }
}
