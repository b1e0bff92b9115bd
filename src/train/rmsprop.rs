//! RMSprop (not centered) and Adagrad (no lr decay) as Burn's `RmsProp` and `AdaGrad`
//! compute them, with the per-parameter step on the CPU (flex) done in one pass
//! (`model::cpu::rmsprop`). Elsewhere (CUDA, and each parameter's first step) they run
//! Burn's tensor operations in Burn's order. Their states are recorded under Burn's names, so
//! resume files written with Burn's optimizers load here and the other way round.

use burn::optim::{LearningRate, Optimizer, RecordState, StateSink, StateSource, join_path};
use burn::tensor::{Device, Tensor};
use burn_pack::Scalar;

use crate::model::cpu::on_flex;
use crate::model::cpu::rmsprop::{self as cpu, RmsStep};
use crate::train::optim::MomentumCell;
use crate::train::sgd::with_decay;

#[derive(Clone, Debug)]
pub struct FlexRmsProp {
    /// The step's scalars; `lr` is replaced by each step's.
    pub base: RmsStep,
    /// Set by the schedule (OneCycleLR): replaces `base.momentum` at every step.
    pub cycled: MomentumCell,
}

/// Burn's `RmsPropState` when not centered: the square average (recorded twice, as Burn
/// records it: `square_avg.square_avg` and `centered.avg`) and the momentum buffer.
#[derive(Clone)]
pub struct RmsPropState<const D: usize> {
    pub square_avg: Tensor<D>,
    pub buf: Option<Tensor<D>>,
}

impl<const D: usize> RecordState for RmsPropState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        let data = self.square_avg.clone().into_data();
        out.push_tensor(&join_path(prefix, "square_avg"), "square_avg", data.clone());
        out.push_tensor(&join_path(prefix, "centered"), "avg", data);
        if let Some(b) = &self.buf {
            out.push_tensor(&join_path(prefix, "momentum"), "buf", b.clone().into_data());
        }
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let mut take = |parent: &str, leaf: &str| {
            src.take_tensor(&join_path(prefix, parent), leaf)
                .map(|data| Tensor::from_data(data, device))
        };
        let square_avg = take("square_avg", "square_avg")?;
        let _copy: Option<Tensor<D>> = take("centered", "avg"); // the same values
        let buf = take("momentum", "buf");
        Some(Self { square_avg, buf })
    }
}

impl FlexRmsProp {
    /// The scalars of a step at `lr`, with the schedule's momentum when it cycles it.
    fn scalars(&self, lr: LearningRate) -> RmsStep {
        RmsStep {
            lr: lr as f32,
            momentum: self.cycled.get().unwrap_or(self.base.momentum),
            ..self.base
        }
    }

    /// Burn's `RmsProp::step` as tensor operations (any device).
    pub(crate) fn step_tensors<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<RmsPropState<D>>,
    ) -> (Tensor<D>, Option<RmsPropState<D>>) {
        let s = &self.scalars(lr);
        let grad = with_decay(s.weight_decay, &tensor, grad);
        let (square_avg, buf) = match state {
            Some(st) => (Some(st.square_avg), st.buf),
            None => (None, None),
        };
        let fresh = grad.clone().square().mul_scalar(1.0 - s.alpha);
        let square_avg = match square_avg {
            Some(sq) => sq.mul_scalar(s.alpha).add(fresh),
            None => fresh,
        };
        let mut delta = grad.div(square_avg.clone().sqrt().add_scalar(s.epsilon));
        let buf = (s.momentum > 0.0).then(|| match buf {
            Some(b) => b.mul_scalar(s.momentum).add(delta.clone()),
            None => delta.clone(),
        });
        if let Some(b) = &buf {
            delta = b.clone();
        }
        let state = RmsPropState { square_avg, buf };
        (tensor - delta.mul_scalar(lr), Some(state))
    }
}

impl Optimizer for FlexRmsProp {
    type State<const D: usize> = RmsPropState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let s = self.scalars(lr);
        let ready = |st: &RmsPropState<D>| {
            [&tensor, &grad, &st.square_avg].iter().all(|t| on_flex(t))
                && (s.momentum > 0.0) == st.buf.as_ref().is_some_and(on_flex)
        };
        match state {
            Some(st) if ready(&st) => {
                let (p, square_avg, buf) =
                    cpu::rmsprop_step(tensor, grad, st.square_avg, st.buf, &s);
                (p, Some(RmsPropState { square_avg, buf }))
            }
            state => self.step_tensors(lr, tensor, grad, state),
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        RmsPropState {
            square_avg: state.square_avg.to_device(device),
            buf: state.buf.map(|b| b.to_device(device)),
        }
    }
}

#[derive(Clone, Debug)]
pub struct FlexAdagrad {
    /// Weight decay and epsilon; `lr` is replaced by each step's, alpha and momentum unused.
    pub base: RmsStep,
}

/// Burn's `AdaGradState`: `lr_decay.time` (steps taken) and `lr_decay.sum` (of squares).
#[derive(Clone)]
pub struct AdagradState<const D: usize> {
    pub time: usize,
    pub sum: Tensor<D>,
}

impl<const D: usize> RecordState for AdagradState<D> {
    fn state_flatten(&self, prefix: &str, out: &mut StateSink) {
        let path = join_path(prefix, "lr_decay");
        out.push_scalar(&path, "time", Scalar::from(self.time));
        out.push_tensor(&path, "sum", self.sum.clone().into_data());
    }

    fn state_unflatten(prefix: &str, src: &mut StateSource, device: &Device) -> Option<Self> {
        let path = join_path(prefix, "lr_decay");
        let time = usize::try_from(src.take_scalar(&path, "time")?).ok()?;
        let sum = Tensor::from_data(src.take_tensor(&path, "sum")?, device);
        Some(Self { time, sum })
    }
}

impl FlexAdagrad {
    /// Burn's `AdaGrad::step` as tensor operations, any device (lr decay 0: the lr is
    /// unchanged).
    pub(crate) fn step_tensors<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<AdagradState<D>>,
    ) -> (Tensor<D>, Option<AdagradState<D>>) {
        let grad = with_decay(self.base.weight_decay, &tensor, grad);
        let (time, sum) = match state {
            Some(st) => (st.time + 1, st.sum.add(grad.clone().square())),
            None => (1, grad.clone().square()),
        };
        let denominator = sum.clone().sqrt().add_scalar(self.base.epsilon);
        let delta = grad.div(denominator).mul_scalar(lr);
        (tensor - delta, Some(AdagradState { time, sum }))
    }
}

impl Optimizer for FlexAdagrad {
    type State<const D: usize> = AdagradState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        match state {
            Some(st) if [&tensor, &grad, &st.sum].iter().all(|t| on_flex(t)) => {
                let s = RmsStep {
                    lr: lr as f32,
                    ..self.base
                };
                let (p, sum) = cpu::adagrad_step(tensor, grad, st.sum, &s);
                let time = st.time + 1;
                (p, Some(AdagradState { time, sum }))
            }
            state => self.step_tensors(lr, tensor, grad, state),
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdagradState {
            time: state.time,
            sum: state.sum.to_device(device),
        }
    }
}

#[cfg(test)]
#[path = "rmsprop_tests.rs"]
mod tests;
