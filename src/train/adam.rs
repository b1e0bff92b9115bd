//! Adam and AdamW as Burn's `Adam` and `AdamW` compute them, with the per-parameter step on
//! the CPU (flex) done in one pass (`model::cpu::adam`). Their states are Burn's `AdamState`
//! and `AdamWState`, so checkpoints and resumed runs read and write the same optimizer record
//! as before. The first step of each parameter, AMSGrad state and tensors off flex go
//! through Burn's own optimizer.

use burn::optim::{
    Adam, AdamConfig, AdamState, AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState,
    LearningRate, Optimizer,
};
use burn::tensor::{Device, Tensor};

use crate::model::cpu::adam::{self as cpu_adam, AdamStep, AdamWStep};
use crate::model::cpu::on_flex;
use crate::train::optim::MomentumCell;

/// What Adam and AdamW share: the betas, epsilon, AMSGrad, and beta1 when OneCycleLR cycles
/// it.
#[derive(Clone, Debug)]
pub struct Moments {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
    /// AMSGrad: the denominator uses the largest second moment so far (Burn's steps).
    pub amsgrad: bool,
    /// Set by the schedule (OneCycleLR): replaces `beta_1` at every step.
    pub cycled: MomentumCell,
}

impl Moments {
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32) -> Self {
        Self {
            beta_1,
            beta_2,
            epsilon,
            amsgrad: false,
            cycled: MomentumCell::default(),
        }
    }

    /// This step's beta1; the bias correction uses it too, as PyTorch's Adam does.
    fn beta_1(&self) -> f32 {
        self.cycled.get().unwrap_or(self.beta_1)
    }
}

#[derive(Clone)]
pub struct FlexAdam {
    m: Moments,
    weight_decay: Option<f32>,
}

impl FlexAdam {
    /// `weight_decay`: the L2 penalty added to the gradient, as Burn's `WeightDecayConfig`.
    pub fn new(m: Moments, weight_decay: Option<f32>) -> Self {
        Self { m, weight_decay }
    }

    /// Burn's Adam at this step's scalars (a plain struct: building it allocates nothing).
    fn burn(&self) -> Adam {
        AdamConfig::new()
            .with_beta_1(self.m.beta_1())
            .with_beta_2(self.m.beta_2)
            .with_epsilon(self.m.epsilon)
            .with_weight_decay(
                self.weight_decay
                    .map(burn::optim::decay::WeightDecayConfig::new),
            )
            .with_amsgrad(self.m.amsgrad)
            .build()
    }

    /// The scalars of step `time` (1 = the first), as burn-optim 0.22's `AdaptiveMomentum`.
    fn coefs(&self, time: usize, lr: LearningRate) -> AdamStep {
        let t = time as i32;
        let beta_1 = self.m.beta_1();
        let bias_correction2_sqrt = (1.0 - self.m.beta_2.powi(t)).sqrt();
        AdamStep {
            beta_1,
            beta_2: self.m.beta_2,
            combined: bias_correction2_sqrt / (1.0 - beta_1.powi(t)),
            epsilon: self.m.epsilon * bias_correction2_sqrt,
            lr: lr as f32,
            weight_decay: self.weight_decay,
        }
    }
}

impl Optimizer for FlexAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        match state {
            Some(AdamState { momentum: st }) if one_pass(&tensor, &grad, &st) => {
                let time = st.time + 1;
                let coefs = self.coefs(time, lr);
                let (p, m, v) = cpu_adam::step(tensor, grad, st.moment_1, st.moment_2, &coefs);
                let momentum = AdamState::new(AdaptiveMomentumState::new(time, m, v));
                (p, Some(momentum))
            }
            state => self.burn().step(lr, tensor, grad, state),
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        Adam::to_device(state, device)
    }
}

/// Whether the one-pass step applies: a second or later step, no AMSGrad, all on flex.
fn one_pass<const D: usize>(
    tensor: &Tensor<D>,
    grad: &Tensor<D>,
    st: &AdaptiveMomentumState<D>,
) -> bool {
    st.max_moment_2.is_none()
        && [tensor, grad, &st.moment_1, &st.moment_2]
            .iter()
            .all(|t| on_flex(t))
}

#[derive(Clone)]
pub struct FlexAdamW {
    m: Moments,
    weight_decay: f32,
}

impl FlexAdamW {
    /// `weight_decay`: decoupled, the parameter shrinks by lr * weight_decay each step.
    pub fn new(m: Moments, weight_decay: f32) -> Self {
        Self { m, weight_decay }
    }

    /// Burn's AdamW at this step's scalars.
    fn burn(&self) -> AdamW {
        AdamWConfig::new()
            .with_beta_1(self.m.beta_1())
            .with_beta_2(self.m.beta_2)
            .with_epsilon(self.m.epsilon)
            .with_weight_decay(self.weight_decay)
            .with_amsgrad(self.m.amsgrad)
            .build()
    }

    /// The scalars of step `time` (1 = the first), as burn-optim 0.22's `AdamW::step`.
    fn coefs(&self, time: usize, lr: LearningRate) -> AdamWStep {
        let t = time as i32;
        let beta_1 = self.m.beta_1();
        let decay_rate = lr * self.weight_decay as f64;
        AdamWStep {
            beta_1,
            beta_2: self.m.beta_2,
            bias_1: 1.0 - beta_1.powi(t),
            bias_2: 1.0 - self.m.beta_2.powi(t),
            epsilon: self.m.epsilon,
            lr: lr as f32,
            keep: (decay_rate != 0.0).then_some((1.0 - decay_rate) as f32),
        }
    }
}

impl Optimizer for FlexAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        match state {
            Some(AdamWState { momentum: st }) if one_pass(&tensor, &grad, &st) => {
                let time = st.time + 1;
                let coefs = self.coefs(time, lr);
                let (p, m, v) = cpu_adam::step_w(tensor, grad, st.moment_1, st.moment_2, &coefs);
                let momentum = AdaptiveMomentumState::new(time, m, v);
                (p, Some(AdamWState::new(momentum)))
            }
            state => self.burn().step(lr, tensor, grad, state),
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        AdamW::to_device(state, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::optim_fixtures::{bits, values};

    /// Five steps of `ours` and `burn` from the same start, lr changing every step: the
    /// parameter, m and v have the same bits after each (`moments` reads m and v of a state).
    fn assert_same_steps<O: Optimizer, B: Optimizer<State<2> = O::State<2>>>(
        ours: &O,
        burn: &B,
        moments: impl Fn(&O::State<2>) -> &AdaptiveMomentumState<2>,
    ) {
        let (mut p_ours, mut p_burn) = (values(1), values(1));
        let (mut s_ours, mut s_burn) = (None, None);
        for step in 0..5u32 {
            let grad = values(100 + step);
            let lr = 0.05 / (1 + step) as f64;
            (p_ours, s_ours) = ours.step(lr, p_ours, grad.clone(), s_ours);
            (p_burn, s_burn) = burn.step(lr, p_burn, grad, s_burn);
            assert_eq!(bits(&p_ours), bits(&p_burn), "parameter after step {step}");
            let (mo, mb) = (
                moments(s_ours.as_ref().unwrap()),
                moments(s_burn.as_ref().unwrap()),
            );
            assert_eq!(mo.time, mb.time);
            assert_eq!(
                bits(&mo.moment_1),
                bits(&mb.moment_1),
                "m after step {step}"
            );
            assert_eq!(
                bits(&mo.moment_2),
                bits(&mb.moment_2),
                "v after step {step}"
            );
        }
        // The values moved (the comparison is not between untouched tensors).
        assert_ne!(bits(&p_ours), bits(&values(1)));
    }

    /// The one-pass step gives the bits of Burn's Adam, with and without weight decay, at the
    /// betas and epsilons runs use (PyTorch's 1e-8 and Burn's 1e-5).
    #[test]
    fn steps_give_the_bits_of_burns_adam() {
        for (b1, b2, eps, wd) in [(0.9, 0.999, 1e-8, None), (0.8, 0.99, 1e-5, Some(0.01))] {
            let ours = FlexAdam::new(Moments::new(b1, b2, eps), wd);
            assert_same_steps(&ours, &ours.burn(), |s: &AdamState<2>| &s.momentum);
        }
    }

    /// Likewise AdamW, at PyTorch's default decay 0.01, a large one, and none.
    #[test]
    fn steps_give_the_bits_of_burns_adamw() {
        for (b1, b2, eps, wd) in [
            (0.9, 0.999, 1e-8, 0.01),
            (0.8, 0.99, 1e-5, 0.5),
            (0.9, 0.999, 1e-8, 0.0),
        ] {
            let ours = FlexAdamW::new(Moments::new(b1, b2, eps), wd);
            assert_same_steps(&ours, &ours.burn(), |s: &AdamWState<2>| &s.momentum);
        }
    }
}
