//! SGD (weight decay, momentum, Nesterov; dampening 0, as PyTorch's default) as Burn's `Sgd`
//! computes it, with the per-parameter step on the CPU (flex) done in one pass
//! (`model::cpu::sgd`). Elsewhere (CUDA, and the first momentum step, where the velocity is
//! the gradient itself) it runs Burn's tensor operations in Burn's order. The state is
//! recorded under Burn's names (`momentum.velocity`), so resume files written with Burn's
//! `Sgd` load here and the other way round.

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource, join_path};
use burn::tensor::{Device, Tensor};

use crate::model::cpu::on_flex;
use crate::model::cpu::sgd::{self as cpu_sgd, SgdStep};
use crate::train::optim::MomentumCell;

#[derive(Clone, Debug)]
pub struct FlexSgd {
    /// L2 penalty added to the gradient, as Burn's `WeightDecayConfig`.
    pub weight_decay: Option<f32>,
    /// Momentum factor; None: plain SGD (no state).
    pub momentum: Option<f32>,
    pub nesterov: bool,
    /// Set by the schedule (OneCycleLR): replaces `momentum` at every step.
    pub cycled: MomentumCell,
}

/// Burn's `SgdState`: the velocity of momentum SGD, none without momentum.
#[derive(Clone)]
pub struct SgdState<const D: usize> {
    pub velocity: Option<Tensor<D>>,
}

/// Burn's `SgdState { momentum: Option<MomentumState { velocity }> }` names its one tensor
/// `{prefix}.momentum.velocity`.
const MOMENTUM: &str = "momentum";
const VELOCITY: &str = "velocity";

impl<const D: usize> RecordState for SgdState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        if let Some(v) = &self.velocity {
            out.push_tensor(
                &join_path(prefix, MOMENTUM),
                VELOCITY,
                v.clone().into_data(),
            );
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let velocity = src
            .take_tensor(&join_path(prefix, MOMENTUM), VELOCITY)
            .map(|data| Tensor::from_data(data, device));
        Some(Self { velocity })
    }
}

/// Burn's `WeightDecay::transform` (tensor * penalty + grad), as tensor operations.
pub(super) fn with_decay<const D: usize>(
    wd: Option<f32>,
    tensor: &Tensor<D>,
    grad: Tensor<D>,
) -> Tensor<D> {
    match wd {
        Some(wd) => tensor.clone().mul_scalar(wd).add(grad),
        None => grad,
    }
}

impl FlexSgd {
    /// This step's momentum: the schedule's when it cycles it, else the config's.
    fn momentum(&self) -> Option<f32> {
        self.cycled.get().or(self.momentum)
    }

    fn coefs(&self, lr: LearningRate) -> SgdStep {
        SgdStep {
            lr: lr as f32,
            weight_decay: self.weight_decay,
            momentum: self.momentum().unwrap_or(0.0),
            nesterov: self.nesterov,
        }
    }

    /// Burn's `Sgd::step` as tensor operations (any device).
    pub(crate) fn step_tensors<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        velocity: Option<Tensor<D>>,
    ) -> (Tensor<D>, Option<Tensor<D>>) {
        let grad = with_decay(self.weight_decay, &tensor, grad);
        let (grad, velocity) = match self.momentum() {
            Some(m) => {
                // Dampening 0: Burn's `grad * (1 - dampening)` is `grad` itself.
                let v = match velocity {
                    Some(v) => grad.clone().add(v.mul_scalar(m)),
                    None => grad.clone(),
                };
                let g = if self.nesterov {
                    v.clone().mul_scalar(m).add(grad)
                } else {
                    v.clone()
                };
                (g, Some(v))
            }
            None => (grad, None),
        };
        (tensor - grad.mul_scalar(lr), velocity)
    }
}

impl Optimizer for FlexSgd {
    type State<const D: usize> = SgdState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let velocity = state.and_then(|s| s.velocity);
        let flex = on_flex(&tensor) && on_flex(&grad);
        let (tensor, velocity) = match (self.momentum(), velocity) {
            (None, _) if flex => (cpu_sgd::step(tensor, grad, &self.coefs(lr)), None),
            (Some(_), Some(v)) if flex && on_flex(&v) => {
                let (p, v) = cpu_sgd::momentum_step(tensor, grad, v, &self.coefs(lr));
                (p, Some(v))
            }
            (_, velocity) => self.step_tensors(lr, tensor, grad, velocity),
        };
        (tensor, Some(SgdState { velocity }))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        SgdState {
            velocity: state.velocity.map(|v| v.to_device(device)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::optim::decay::WeightDecayConfig;
    use burn::optim::momentum::MomentumConfig;
    use burn::optim::{Sgd, SgdConfig};

    use crate::train::optim_fixtures::{bits, recorded, values};

    /// Each configuration's steps give the bits of Burn's Sgd (parameter and recorded
    /// velocity, under the same name), step after step; the lr changes every step.
    #[test]
    fn steps_give_the_bits_of_burns_sgd() {
        for (momentum, nesterov, wd) in [
            (None, false, None),
            (None, false, Some(5e-4)),
            (Some(0.9), false, None),
            (Some(0.85), true, Some(0.01)),
        ] {
            let ours = FlexSgd {
                weight_decay: wd,
                momentum,
                nesterov,
                cycled: MomentumCell::default(),
            };
            let burn: Sgd = SgdConfig::new()
                .with_weight_decay(wd.map(WeightDecayConfig::new))
                .with_momentum(momentum.map(|m| MomentumConfig {
                    momentum: m as f64,
                    dampening: 0.0,
                    nesterov,
                }))
                .build();
            // The one-pass step, and the tensor operations other devices (CUDA) run.
            for tensor_ops in [false, true] {
                let (mut p_ours, mut p_burn) = (values(1), values(1));
                let (mut s_ours, mut s_burn) = (None, None);
                for step in 0..5u32 {
                    let grad = values(100 + step);
                    let lr = 0.05 / (1 + step) as f64;
                    (p_ours, s_ours) = if tensor_ops {
                        let v = s_ours.and_then(|s: SgdState<2>| s.velocity);
                        let (p, velocity) = ours.step_tensors(lr, p_ours, grad.clone(), v);
                        (p, Some(SgdState { velocity }))
                    } else {
                        ours.step(lr, p_ours, grad.clone(), s_ours)
                    };
                    (p_burn, s_burn) = burn.step(lr, p_burn, grad, s_burn);
                    let case = format!("{momentum:?} {nesterov} {wd:?} {tensor_ops}, step {step}");
                    assert_eq!(bits(&p_ours), bits(&p_burn), "{case}");
                    let (r_ours, r_burn) = (
                        recorded(s_ours.as_ref().unwrap()),
                        recorded(s_burn.as_ref().unwrap()),
                    );
                    assert_eq!(r_ours, r_burn, "velocity, {case}");
                    assert_eq!(r_ours.0.len(), momentum.is_some() as usize, "{case}");
                }
                // The values moved (the comparison is not between untouched tensors).
                assert_ne!(bits(&p_ours), bits(&values(1)));
            }
        }
    }

    /// A velocity recorded from Burn's `SgdState` (an older resume file) loads as ours.
    #[test]
    fn loads_the_velocity_burn_recorded() {
        let device = Device::flex();
        let burn: Sgd = SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_dampening(0.0)))
            .build();
        let (_, state) = burn.step(0.1, values(1), values(2), None);
        let mut sink = StateSink::default();
        state.unwrap().state_flatten("p", &mut sink);
        let mut src = StateSource::default();
        for (name, data) in sink.tensors {
            src.insert_tensor(name, data);
        }
        let ours = SgdState::<2>::state_unflatten("p", &mut src, &device).unwrap();
        // The first velocity is the gradient itself.
        assert_eq!(bits(&ours.velocity.unwrap()), bits(&values(2)));
    }
}
