//! OneCycleLR's cycled momentum (a `MomentumCell` set before each step) takes the same bits
//! through the one-pass CPU steps and through the tensor operations other devices (CUDA)
//! run: SGD and RMSprop against their own `step_tensors`, Adam against Burn's Adam rebuilt
//! with each step's beta1.

use burn::optim::{AdamConfig, Optimizer};

use crate::model::cpu::rmsprop::RmsStep;
use crate::train::adam::{FlexAdam, Moments};
use crate::train::optim::MomentumCell;
use crate::train::optim_fixtures::{bits, values};
use crate::train::rmsprop::{FlexRmsProp, RmsPropState};
use crate::train::sgd::{FlexSgd, SgdState};

/// OneCycleLR's momentum over five steps: down from 0.95, then back up.
const MOMENTA: [f64; 5] = [0.95, 0.8688, 0.8528, 0.9, 0.94];

#[test]
fn cycled_sgd_one_pass_matches_the_tensor_path() {
    // Plain SGD (no configured momentum) gains it from the cycle, as in PyTorch.
    for (momentum, nesterov) in [(None, false), (Some(0.5), true)] {
        let cell = MomentumCell::cycled();
        let sgd = FlexSgd {
            weight_decay: Some(5e-4),
            momentum,
            nesterov,
            cycled: cell.clone(),
        };
        let (mut p_one, mut p_ten) = (values(1), values(1));
        let (mut s_one, mut v_ten) = (None, None);
        for (step, m) in MOMENTA.iter().enumerate() {
            cell.set(*m);
            let grad = values(100 + step as u32);
            (p_one, s_one) = sgd.step(0.05, p_one, grad.clone(), s_one);
            (p_ten, v_ten) = sgd.step_tensors(0.05, p_ten, grad, v_ten);
            assert_eq!(bits(&p_one), bits(&p_ten), "{momentum:?}, step {step}");
            let v_one = s_one
                .as_ref()
                .and_then(|s: &SgdState<2>| s.velocity.as_ref());
            assert_eq!(bits(v_one.unwrap()), bits(v_ten.as_ref().unwrap()));
        }
    }
}

#[test]
fn cycled_rmsprop_one_pass_matches_the_tensor_path() {
    let cell = MomentumCell::cycled();
    let rms = FlexRmsProp {
        base: RmsStep {
            lr: 0.0,
            weight_decay: None,
            epsilon: 1e-8,
            alpha: 0.99,
            momentum: 0.0,
        },
        cycled: cell.clone(),
    };
    let (mut p_one, mut p_ten) = (values(1), values(1));
    let (mut s_one, mut s_ten): (Option<RmsPropState<2>>, _) = (None, None);
    for (step, m) in MOMENTA.iter().enumerate() {
        cell.set(*m);
        let grad = values(100 + step as u32);
        (p_one, s_one) = rms.step(0.01, p_one, grad.clone(), s_one);
        (p_ten, s_ten) = rms.step_tensors(0.01, p_ten, grad, s_ten);
        assert_eq!(bits(&p_one), bits(&p_ten), "step {step}");
    }
    assert!(
        s_one.unwrap().buf.is_some(),
        "the cycle gave RMSprop momentum"
    );
}

#[test]
fn cycled_adam_matches_burns_adam_at_each_steps_beta1() {
    let cell = MomentumCell::cycled();
    let moments = Moments {
        cycled: cell.clone(),
        ..Moments::new(0.9, 0.999, 1e-8)
    };
    let ours = FlexAdam::new(moments, None);
    let (mut p_ours, mut p_burn) = (values(1), values(1));
    let (mut s_ours, mut s_burn) = (None, None);
    for (step, m) in MOMENTA.iter().enumerate() {
        cell.set(*m);
        let burn = AdamConfig::new()
            .with_beta_1(*m as f32)
            .with_beta_2(0.999)
            .with_epsilon(1e-8)
            .build();
        let grad = values(100 + step as u32);
        (p_ours, s_ours) = ours.step(0.05, p_ours, grad.clone(), s_ours);
        (p_burn, s_burn) = burn.step(0.05, p_burn, grad, s_burn);
        assert_eq!(bits(&p_ours), bits(&p_burn), "step {step}");
    }
}
