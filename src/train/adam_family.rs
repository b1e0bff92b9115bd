//! Adamax, NAdam and RAdam as PyTorch's `torch.optim.Adamax`, `NAdam` and `RAdam` compute
//! them (single-tensor path, `weight_decay` as an L2 penalty on the gradient, PyTorch's
//! default); Burn has none of the three. Each keeps Adam's first moment `exp_avg` and one
//! second statistic: Adamax the decayed infinity norm `exp_inf`, the other two Adam's
//! `exp_avg_sq`. NAdam also carries the product of its momentum schedule, `mu_product`, as
//! PyTorch's state does, so a cycled beta1 (OneCycleLR) enters it step by step.
//!
//! The steps are tensor operations on any device: an optimizer step is a few passes over the
//! weights, small beside a training step's convolutions (README, "Speed on the CPU").

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource, join_path};
use burn::tensor::{Device, Tensor};

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

impl Optimizer for FlexAdamFamily {
    type State<const D: usize> = FamilyState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let grad = with_decay(self.weight_decay, &tensor, grad);
        let st = state.unwrap_or_else(|| FamilyState {
            step: 0,
            exp_avg: grad.zeros_like(),
            second: grad.zeros_like(),
            mu_product: 1.0,
        });
        let step = st.step + 1;
        let t = step as f64;
        let beta_1 = self.m.cycled.get().unwrap_or(self.m.beta_1) as f64;
        let (beta_2, eps) = (self.m.beta_2 as f64, self.m.epsilon as f64);
        // exp_avg.lerp_(grad, 1 - beta1): PyTorch's lerp for a weight below one half.
        let weight = 1.0 - beta_1;
        let exp_avg = st.exp_avg.clone() + (grad.clone() - st.exp_avg).mul_scalar(weight);
        let squared = || {
            st.second.clone().mul_scalar(beta_2) + grad.clone().square().mul_scalar(1.0 - beta_2)
        };
        let mut mu_product = st.mu_product;
        let (param, second) = match self.variant {
            Variant::Adamax => {
                let exp_inf = (st.second.clone().mul_scalar(beta_2))
                    .max_pair(grad.clone().abs().add_scalar(eps));
                let clr = lr / (1.0 - beta_1.powf(t));
                let moved = exp_avg.clone().div(exp_inf.clone()).mul_scalar(clr);
                (tensor - moved, exp_inf)
            }
            Variant::Nadam { momentum_decay } => {
                let exp_avg_sq = squared();
                let mu = nadam_mu(beta_1, momentum_decay, t);
                let mu_next = nadam_mu(beta_1, momentum_decay, t + 1.0);
                // PyTorch keeps mu_product as a float32 tensor.
                mu_product = (mu_product as f32 * mu as f32) as f64;
                let denom = exp_avg_sq
                    .clone()
                    .div_scalar(1.0 - beta_2.powf(t))
                    .sqrt()
                    .add_scalar(eps);
                let grad_part = grad
                    .div(denom.clone())
                    .mul_scalar(lr * (1.0 - mu) / (1.0 - mu_product));
                let avg_part = exp_avg
                    .clone()
                    .div(denom)
                    .mul_scalar(lr * mu_next / (1.0 - mu_product * mu_next));
                (tensor - grad_part - avg_part, exp_avg_sq)
            }
            Variant::Radam => {
                let exp_avg_sq = squared();
                let corrected = exp_avg
                    .clone()
                    .div_scalar(1.0 - beta_1.powf(t))
                    .mul_scalar(lr);
                let moved = match radam_rect(beta_2, t) {
                    Some(rect) => {
                        let adaptive = exp_avg_sq
                            .clone()
                            .sqrt()
                            .add_scalar(eps)
                            .recip()
                            .mul_scalar((1.0 - beta_2.powf(t)).sqrt());
                        corrected.mul(adaptive).mul_scalar(rect)
                    }
                    None => corrected,
                };
                (tensor - moved, exp_avg_sq)
            }
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

    /// A state written to a resume record and read back takes the next step to the same bits.
    #[test]
    fn a_resumed_state_steps_as_the_live_one() {
        for variant in [
            Variant::Adamax,
            Variant::Nadam {
                momentum_decay: 4e-3,
            },
            Variant::Radam,
        ] {
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
