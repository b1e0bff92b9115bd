//! Optimizers from the config, with PyTorch's defaults and semantics (Burn's differ:
//! epsilon 1e-5, RMSprop momentum 0.9, SGD dampening 0.1), so a study compares the same
//! algorithms a PyTorch notebook would.

use burn::grad_clipping::GradientClippingConfig;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{
    AdaGradConfig, AdamConfig, AdamWConfig, ModuleOptimizer, RmsPropConfig, SgdConfig,
};

use crate::experiment::config::OptimizerConfig;

pub fn build(cfg: &OptimizerConfig) -> ModuleOptimizer {
    let wd = (cfg.weight_decay > 0.0).then(|| WeightDecayConfig::new(cfg.weight_decay as f32));
    let clip = (cfg.grad_clip > 0.0).then_some(GradientClippingConfig::Norm(cfg.grad_clip as f32));
    let eps = cfg.eps as f32;
    match cfg.name.as_str() {
        "sgd" | "sgd-momentum" => {
            let momentum = (cfg.momentum > 0.0).then_some(MomentumConfig {
                momentum: cfg.momentum,
                dampening: 0.0,
                nesterov: cfg.nesterov,
            });
            SgdConfig::new()
                .with_momentum(momentum)
                .with_weight_decay(wd)
                .with_gradient_clipping(clip)
                .init()
        }
        "adamw" => AdamWConfig::new()
            .with_beta_1(cfg.beta1 as f32)
            .with_beta_2(cfg.beta2 as f32)
            .with_epsilon(eps)
            .with_weight_decay(cfg.weight_decay as f32)
            .with_grad_clipping(clip)
            .init(),
        "adagrad" => AdaGradConfig::new()
            .with_epsilon(eps)
            .with_weight_decay(wd)
            .with_grad_clipping(clip)
            .init(),
        "rmsprop" => RmsPropConfig::new()
            .with_alpha(cfg.alpha as f32)
            .with_momentum(cfg.momentum as f32)
            .with_epsilon(eps)
            .with_weight_decay(wd)
            .with_grad_clipping(clip)
            .init(),
        // "adam"; config validation has rejected unknown names.
        _ => AdamConfig::new()
            .with_beta_1(cfg.beta1 as f32)
            .with_beta_2(cfg.beta2 as f32)
            .with_epsilon(eps)
            .with_weight_decay(wd)
            .with_grad_clipping(clip)
            .init(),
    }
}
