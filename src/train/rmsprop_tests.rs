//! FlexRmsProp and FlexAdagrad against Burn's RmsProp and AdaGrad: the same bits for the
//! parameter and for every recorded state tensor, under the same names.

use super::*;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdaGradConfig, RmsPropConfig};

use crate::train::optim_fixtures::assert_same_steps;

/// Ours against Burn's optimizer, five steps from lr 0.05 (optim_fixtures.rs); ours is
/// rebuilt from Burn's record after each, as from an older resume file.
fn assert_same_steps_as_burn<S: RecordState, B: Optimizer>(
    ours: impl Fn(f64, Tensor<2>, Tensor<2>, Option<S>) -> (Tensor<2>, Option<S>),
    burn: &B,
) {
    assert_same_steps(0.05, ours, |lr, p, g, s| burn.step(lr, p, g, s));
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
        assert_same_steps_as_burn(|lr, p, g, s| ours.step(lr, p, g, s), &burn);
        // The tensor operations other devices run (CUDA), at every step.
        assert_same_steps_as_burn(|lr, p, g, s| ours.step_tensors(lr, p, g, s), &burn);
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
        assert_same_steps_as_burn(|lr, p, g, s| ours.step(lr, p, g, s), &burn);
        assert_same_steps_as_burn(|lr, p, g, s| ours.step_tensors(lr, p, g, s), &burn);
    }
}
