//! Adadelta as PyTorch's `torch.optim.Adadelta` computes it (Burn has none): the running
//! average of squared gradients `square_avg`, the step `sqrt(acc_delta + eps) /
//! sqrt(square_avg + eps) * grad`, then the running average of squared steps `acc_delta`,
//! and the parameter moved by lr times the step (PyTorch's default lr is 1.0, Keras' 0.001).
//! On the CPU (flex) each parameter's step is one pass (`model::cpu::rmsprop`); elsewhere
//! (CUDA, and each parameter's first step) the same arithmetic as tensor operations. The state
//! is recorded under PyTorch's names.

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource, join_path};
use burn::tensor::{Device, Tensor};

use crate::model::cpu::on_flex;
use crate::model::cpu::rmsprop::{self as cpu, RmsStep};
use crate::train::sgd::with_decay;

#[derive(Clone, Debug)]
pub struct FlexAdadelta {
    /// Weight decay, epsilon and rho (as `alpha`); `lr` is replaced by each step's.
    pub base: RmsStep,
}

/// PyTorch's Adadelta state: the two running averages.
#[derive(Clone)]
pub struct AdadeltaState<const D: usize> {
    pub square_avg: Tensor<D>,
    pub acc_delta: Tensor<D>,
}

impl<const D: usize> RecordState for AdadeltaState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        let path = join_path(prefix, "adadelta");
        out.push_tensor(&path, "square_avg", self.square_avg.clone().into_data());
        out.push_tensor(&path, "acc_delta", self.acc_delta.clone().into_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let path = join_path(prefix, "adadelta");
        let square_avg = Tensor::from_data(src.take_tensor(&path, "square_avg")?, device);
        let acc_delta = Tensor::from_data(src.take_tensor(&path, "acc_delta")?, device);
        Some(Self {
            square_avg,
            acc_delta,
        })
    }
}

impl FlexAdadelta {
    /// The step as tensor operations (any device), in the order of the CPU pass so both give
    /// the same bits. Before the first step both averages are zero, as in PyTorch.
    pub(crate) fn step_tensors<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdadeltaState<D>>,
    ) -> (Tensor<D>, Option<AdadeltaState<D>>) {
        let (rho, eps) = (self.base.alpha, self.base.epsilon);
        let grad = with_decay(self.base.weight_decay, &tensor, grad);
        let (square_avg, acc_delta) = match state {
            Some(st) => (st.square_avg, st.acc_delta),
            None => (grad.zeros_like(), grad.zeros_like()),
        };
        let fresh = grad.clone().square().mul_scalar(1.0 - rho);
        let square_avg = square_avg.mul_scalar(rho).add(fresh);
        let std = square_avg.clone().add_scalar(eps).sqrt();
        let delta = acc_delta.clone().add_scalar(eps).sqrt().div(std).mul(grad);
        let moved = delta.clone().square().mul_scalar(1.0 - rho);
        let acc_delta = acc_delta.mul_scalar(rho).add(moved);
        let state = AdadeltaState {
            square_avg,
            acc_delta,
        };
        (tensor - delta.mul_scalar(lr), Some(state))
    }
}

impl Optimizer for FlexAdadelta {
    type State<const D: usize> = AdadeltaState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let on_cpu = |st: &AdadeltaState<D>| {
            [&tensor, &grad, &st.square_avg, &st.acc_delta]
                .iter()
                .all(|t| on_flex(t))
        };
        match state {
            Some(st) if on_cpu(&st) => {
                let s = RmsStep {
                    lr: lr as f32,
                    ..self.base
                };
                let (p, square_avg, acc_delta) =
                    cpu::adadelta_step(tensor, grad, st.square_avg, st.acc_delta, &s);
                let state = AdadeltaState {
                    square_avg,
                    acc_delta,
                };
                (p, Some(state))
            }
            state => self.step_tensors(lr, tensor, grad, state),
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdadeltaState {
            square_avg: state.square_avg.to_device(device),
            acc_delta: state.acc_delta.to_device(device),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim_fixtures::assert_same_steps;

    /// Five steps on the CPU pass and five as tensor operations, lr changing every step:
    /// the same bits for the parameter and both averages after each; the state written to a
    /// resume record and read back takes the next step to the same bits (optim_fixtures.rs).
    #[test]
    fn the_cpu_pass_gives_the_bits_of_the_tensor_operations() {
        for (rho, eps, wd) in [(0.9, 1e-6, None), (0.95, 1e-8, Some(0.01))] {
            let ours = FlexAdadelta {
                base: RmsStep {
                    lr: 0.0,
                    weight_decay: wd,
                    epsilon: eps,
                    alpha: rho,
                    momentum: 0.0,
                },
            };
            let (tensors, _) = assert_same_steps(
                1.0,
                |lr, p, g, s| ours.step(lr, p, g, s),
                |lr, p, g, s| ours.step_tensors(lr, p, g, s),
            );
            let names: Vec<&str> = tensors.iter().map(|(name, _)| name.as_str()).collect();
            assert_eq!(names, ["p.adadelta.square_avg", "p.adadelta.acc_delta"]);
        }
    }
}
