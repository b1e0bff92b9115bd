//! `[optimizer]` of a run config and the optimizer it builds, with PyTorch's defaults and
//! semantics (Burn's differ: epsilon 1e-5, RMSprop momentum 0.9, SGD dampening 0.1, gradient
//! clipping per tensor), so a study compares the same algorithms a PyTorch notebook would.
//! Gradient clipping is `torch.nn.utils.clip_grad_norm_` over all parameters together, done
//! in `grad_plan` because Burn's optimizers clip each tensor on its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use burn::optim::ModuleOptimizer;
use serde::{Deserialize, Serialize};

use crate::model::cpu::rmsprop::RmsStep;
use crate::train::adadelta::FlexAdadelta;
use crate::train::adam::{FlexAdam, FlexAdamW, Moments};
use crate::train::adam_family::{FlexAdamFamily, Variant};
use crate::train::rmsprop::{FlexAdagrad, FlexRmsProp};
use crate::train::sgd::FlexSgd;

crate::choice! {
    pub enum OptimizerName("value") {
        Sgd => "sgd",
        /// SGD with momentum 0.9 unless `momentum` says otherwise.
        SgdMomentum => "sgd-momentum",
        Adam => "adam",
        Adamw => "adamw",
        Adagrad => "adagrad",
        Rmsprop => "rmsprop",
        /// PyTorch's Adadelta (its lr 1.0 is usual; convlab's default lr is Adam's 1e-3).
        Adadelta => "adadelta",
        /// Adam with the infinity norm in place of the second moment (PyTorch's Adamax).
        Adamax => "adamax",
        /// Adam with Nesterov momentum (PyTorch's NAdam, Keras' Nadam).
        Nadam => "nadam",
        /// Adam with its variance rectified in the first steps (PyTorch's RAdam, fastai's).
        Radam => "radam",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    pub name: OptimizerName,
    pub lr: f64,
    /// SGD and RMSprop momentum (PyTorch semantics: no dampening).
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    /// The betas of Adam, AdamW, Adamax, NAdam and RAdam.
    pub beta1: f64,
    pub beta2: f64,
    /// NAdam's momentum schedule: beta1 x (1 - 0.5 x 0.96^(step x momentum_decay)).
    pub momentum_decay: f64,
    /// Adam/AdamW: AMSGrad's running maximum of the second moment (PyTorch's `amsgrad`).
    pub amsgrad: bool,
    /// The denominator's epsilon (every optimizer but SGD); unset: PyTorch's
    /// default for the optimizer, 1e-10 for Adagrad, 1e-6 for Adadelta, 1e-8 for the others.
    pub eps: Option<f64>,
    /// RMSprop smoothing constant (PyTorch's alpha).
    pub alpha: f64,
    /// Adadelta's smoothing constant of both its running averages (PyTorch's rho).
    pub rho: f64,
    /// Clip the norm of all gradients together to this value, as PyTorch's
    /// `clip_grad_norm_(model.parameters(), grad_clip)` before each step; 0 = off.
    pub grad_clip: f64,
    /// Clip every gradient value to [-grad_clip_value, grad_clip_value] before each step, as
    /// PyTorch's `clip_grad_value_` (Keras' `clipvalue`); 0 = off. One of the two clips.
    pub grad_clip_value: f64,
    /// SGD: batch-norm shifts (beta) learn this many times faster, with the same decay per
    /// step as the other weights (airbench's bias_scaler: lr * f, weight decay / f).
    pub bn_bias_lr_scale: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            name: OptimizerName::Adam,
            lr: 1e-3,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            momentum_decay: 4e-3,
            amsgrad: false,
            eps: None,
            alpha: 0.99,
            rho: 0.9,
            grad_clip: 0.0,
            grad_clip_value: 0.0,
            bn_bias_lr_scale: 1.0,
        }
    }
}

impl OptimizerConfig {
    /// Fill the defaults a name implies, so the stored config says what really ran:
    /// `sgd-momentum` means momentum 0.9, AdamW's weight decay defaults to 0.01, Adagrad's
    /// epsilon to 1e-10 and Adadelta's to 1e-6 (PyTorch's).
    pub fn resolve(&mut self) {
        match self.name {
            OptimizerName::SgdMomentum if self.momentum == 0.0 => self.momentum = 0.9,
            OptimizerName::Adamw if self.weight_decay == 0.0 => self.weight_decay = 0.01,
            _ => {}
        }
        self.eps = Some(self.epsilon());
    }

    /// The epsilon in use: the configured one, else PyTorch's default for this optimizer.
    pub fn epsilon(&self) -> f64 {
        self.eps.unwrap_or(match self.name {
            OptimizerName::Adagrad => 1e-10,
            OptimizerName::Adadelta => 1e-6,
            _ => 1e-8,
        })
    }

    /// Impossible values, as (key, problem).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err((
                "optimizer.lr",
                format!("{} must be a positive number", self.lr),
            ));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return Err((
                "optimizer.momentum",
                format!("{} is not in [0, 1)", self.momentum),
            ));
        }
        // PyTorch's Adam and AdamW refuse betas outside [0, 1); RMSprop's alpha there too,
        // as 1 or more never updates its square average or makes it negative (NaN).
        for (key, coefficient) in [
            ("optimizer.beta1", self.beta1),
            ("optimizer.beta2", self.beta2),
            ("optimizer.alpha", self.alpha),
        ] {
            if !(0.0..1.0).contains(&coefficient) {
                return Err((key, format!("{coefficient} is not in [0, 1)")));
            }
        }
        if !(self.momentum_decay >= 0.0 && self.momentum_decay.is_finite()) {
            return Err((
                "optimizer.momentum_decay",
                format!("{} must be a number >= 0", self.momentum_decay),
            ));
        }
        // PyTorch's Adadelta takes rho = 1 (its averages then stay zero: steps of lr * grad).
        if !(0.0..=1.0).contains(&self.rho) {
            return Err(("optimizer.rho", format!("{} is not in [0, 1]", self.rho)));
        }
        if self.nesterov && self.momentum == 0.0 && self.name == OptimizerName::Sgd {
            return Err(("optimizer.nesterov", "needs optimizer.momentum > 0".into()));
        }
        let sgd = matches!(self.name, OptimizerName::Sgd | OptimizerName::SgdMomentum);
        if self.bn_bias_lr_scale != 1.0 && !sgd {
            return Err((
                "optimizer.bn_bias_lr_scale",
                "is for SGD (a gradient scale equals an lr scale only there)".into(),
            ));
        }
        if !(self.bn_bias_lr_scale > 0.0 && self.bn_bias_lr_scale.is_finite()) {
            return Err((
                "optimizer.bn_bias_lr_scale",
                format!("{} must be a positive number", self.bn_bias_lr_scale),
            ));
        }
        if self.amsgrad && !matches!(self.name, OptimizerName::Adam | OptimizerName::Adamw) {
            return Err((
                "optimizer.amsgrad",
                format!("is for adam and adamw, not {}", self.name),
            ));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err((
                "optimizer.weight_decay",
                format!("{} must be a number >= 0", self.weight_decay),
            ));
        }
        if !(self.epsilon() >= 0.0 && self.epsilon().is_finite()) {
            return Err((
                "optimizer.eps",
                format!("{} must be a number >= 0", self.epsilon()),
            ));
        }
        if !(self.grad_clip >= 0.0 && self.grad_clip.is_finite()) {
            return Err((
                "optimizer.grad_clip",
                format!("{} must be a number >= 0 (0 = off)", self.grad_clip),
            ));
        }
        if !(self.grad_clip_value >= 0.0 && self.grad_clip_value.is_finite()) {
            return Err((
                "optimizer.grad_clip_value",
                format!("{} must be a number >= 0 (0 = off)", self.grad_clip_value),
            ));
        }
        // Keras refuses clipnorm with clipvalue, and Lightning takes one clipping algorithm.
        if self.grad_clip > 0.0 && self.grad_clip_value > 0.0 {
            return Err((
                "optimizer.grad_clip_value",
                "cannot be set with optimizer.grad_clip (the norm clip): set one of the two".into(),
            ));
        }
        Ok(())
    }
}

/// The momentum (SGD, RMSprop) or Adam's beta1 of the next step, when the schedule sets it
/// (OneCycleLR's cycle_momentum): the training loop writes it before each step and the
/// optimizer built with the cell reads it. Empty: the config's momentum holds.
#[derive(Clone, Debug, Default)]
pub struct MomentumCell(Option<Arc<AtomicU32>>);

impl MomentumCell {
    /// A cell the schedule will set (before the first step, too).
    pub fn cycled() -> Self {
        Self(Some(Arc::new(AtomicU32::new(0f32.to_bits()))))
    }

    pub fn set(&self, momentum: f64) {
        if let Some(c) = &self.0 {
            c.store((momentum as f32).to_bits(), Ordering::Relaxed);
        }
    }

    /// The momentum of this step, if the schedule sets it.
    pub fn get(&self) -> Option<f32> {
        self.0
            .as_ref()
            .map(|c| f32::from_bits(c.load(Ordering::Relaxed)))
    }
}

/// The optimizer a config names, with a constant momentum.
pub fn build(cfg: &OptimizerConfig) -> ModuleOptimizer {
    build_with(cfg, &MomentumCell::default())
}

/// The optimizer a config names; a cycled `momentum` cell replaces the momentum of SGD and
/// RMSprop, and the beta1 of Adam and its kin, at every step.
pub fn build_with(cfg: &OptimizerConfig, momentum: &MomentumCell) -> ModuleOptimizer {
    // The L2 penalty added to the gradient (Burn's `WeightDecayConfig::penalty`); AdamW's
    // decoupled decay takes the value itself.
    let wd = (cfg.weight_decay > 0.0).then_some(cfg.weight_decay as f32);
    let eps = cfg.epsilon() as f32;
    let base = RmsStep {
        lr: cfg.lr as f32, // replaced by each step's
        weight_decay: wd,
        epsilon: eps,
        alpha: cfg.alpha as f32,
        momentum: cfg.momentum as f32,
    };
    let moments = Moments {
        amsgrad: cfg.amsgrad,
        cycled: momentum.clone(),
        ..Moments::new(cfg.beta1 as f32, cfg.beta2 as f32, eps)
    };
    match cfg.name {
        // Burn's Sgd (dampening 0), one pass per parameter on the CPU (train/sgd.rs).
        OptimizerName::Sgd | OptimizerName::SgdMomentum => ModuleOptimizer::from(FlexSgd {
            weight_decay: wd,
            momentum: (cfg.momentum > 0.0).then_some(cfg.momentum as f32),
            nesterov: cfg.nesterov,
            cycled: momentum.clone(),
        }),
        // Burn's AdamW, one pass per parameter on the CPU (train/adam.rs).
        OptimizerName::Adamw => {
            ModuleOptimizer::from(FlexAdamW::new(moments, cfg.weight_decay as f32))
        }
        // Burn's AdaGrad and RmsProp, one pass per parameter on the CPU (train/rmsprop.rs).
        OptimizerName::Adagrad => ModuleOptimizer::from(FlexAdagrad { base }),
        OptimizerName::Rmsprop => ModuleOptimizer::from(FlexRmsProp {
            base,
            cycled: momentum.clone(),
        }),
        // PyTorch's Adadelta, one pass per parameter on the CPU (train/adadelta.rs).
        OptimizerName::Adadelta => ModuleOptimizer::from(FlexAdadelta {
            base: RmsStep {
                alpha: cfg.rho as f32,
                ..base
            },
        }),
        // Burn's Adam, one pass per parameter on the CPU (train/adam.rs).
        OptimizerName::Adam => ModuleOptimizer::from(FlexAdam::new(moments, wd)),
        // PyTorch's, as tensor operations (train/adam_family.rs).
        OptimizerName::Adamax | OptimizerName::Nadam | OptimizerName::Radam => {
            let variant = match cfg.name {
                OptimizerName::Adamax => Variant::Adamax,
                OptimizerName::Nadam => Variant::Nadam {
                    momentum_decay: cfg.momentum_decay,
                },
                _ => Variant::Radam,
            };
            ModuleOptimizer::from(FlexAdamFamily {
                variant,
                m: moments,
                weight_decay: wd,
            })
        }
    }
}
