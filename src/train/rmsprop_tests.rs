//! FlexRmsProp and FlexAdagrad against Burn's RmsProp and AdaGrad: the same bits for the
//! parameter and for every recorded state tensor, under the same names.

use super::*;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdaGradConfig, RmsPropConfig};

use crate::train::optim_fixtures::{bits, recorded, reread, values};

/// Five steps of `ours` and `burn` from the same start, lr changing every step; after each,
/// the parameter and the recorded state are equal, and the state rebuilt from Burn's record
/// (an older resume file) takes the next step to the same bits.
fn assert_same_steps<S: RecordState, B: Optimizer>(
    ours: impl Fn(f64, Tensor<2>, Tensor<2>, Option<S>) -> (Tensor<2>, Option<S>),
    burn: &B,
) {
    let (mut p_ours, mut p_burn) = (values(1), values(1));
    let (mut s_ours, mut s_burn) = (None, None);
    for step in 0..5u32 {
        let grad = values(100 + step);
        let lr = 0.05 / (1 + step) as f64;
        (p_ours, s_ours) = ours(lr, p_ours, grad.clone(), s_ours);
        (p_burn, s_burn) = burn.step(lr, p_burn, grad, s_burn);
        assert_eq!(bits(&p_ours), bits(&p_burn), "step {step}");
        let (ro, rb) = (
            recorded(s_ours.as_ref().unwrap()),
            recorded(s_burn.as_ref().unwrap()),
        );
        assert_eq!(ro, rb, "state after step {step}");
        assert!(!ro.0.is_empty());
        // Ours from Burn's record.
        s_ours = Some(reread(s_burn.as_ref().unwrap()));
    }
    assert_ne!(bits(&p_ours), bits(&values(1)));
}

#[test]
fn rmsprop_steps_give_the_bits_of_burns_rmsprop() {
    for (alpha, momentum, wd) in [(0.99, 0.0, None), (0.9, 0.9, Some(0.01))] {
        let base = RmsStep {
            lr: 0.0,
            weight_decay: wd,
            epsilon: 1e-8,
            alpha,
            momentum,
        };
        let burn = RmsPropConfig::new()
            .with_alpha(alpha)
            .with_momentum(momentum)
            .with_epsilon(1e-8)
            .with_weight_decay(wd.map(WeightDecayConfig::new))
            .build();
        let ours = FlexRmsProp {
            base,
            cycled: Default::default(),
        };
        assert_same_steps(|lr, p, g, s| ours.step(lr, p, g, s), &burn);
        // The tensor operations other devices run (CUDA), at every step.
        assert_same_steps(|lr, p, g, s| ours.step_tensors(lr, p, g, s), &burn);
    }
}

#[test]
fn adagrad_steps_give_the_bits_of_burns_adagrad() {
    for (eps, wd) in [(1e-10, None), (1e-5, Some(0.01))] {
        let base = RmsStep {
            lr: 0.0,
            weight_decay: wd,
            epsilon: eps,
            alpha: 0.0,
            momentum: 0.0,
        };
        let burn = AdaGradConfig::new()
            .with_epsilon(eps)
            .with_weight_decay(wd.map(WeightDecayConfig::new))
            .build();
        let ours = FlexAdagrad { base };
        assert_same_steps(|lr, p, g, s| ours.step(lr, p, g, s), &burn);
        assert_same_steps(|lr, p, g, s| ours.step_tensors(lr, p, g, s), &burn);
    }
}
