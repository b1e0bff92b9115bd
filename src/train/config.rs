//! The run configuration: `[train]` here, every other table beside what it configures
//! (`data::DataConfig`, `model::ModelConfig`, `OptimizerConfig`, `ScheduleConfig`), and
//! [`RunConfig`] composing them. Unknown keys are errors (a misspelt `lerning_rate` must not
//! silently train with the default); reading files and `--set` is `experiment::config`'s.

use serde::{Deserialize, Serialize};

use crate::data::DataConfig;
use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::model::config::Precision;
use crate::train::device::DeviceName;
use crate::train::optim::OptimizerConfig;
use crate::train::schedule::ScheduleConfig;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Run folder name under `runs/`; defaults to the config file's stem.
    pub name: String,
    /// Seed for weight init, shuffling, augmentation, dropout and the validation split.
    pub seed: u64,
    /// "cpu" (Burn's flex backend), "cuda" (needs `--features cuda`) or "ndarray".
    pub device: DeviceName,
    pub data: DataConfig,
    pub model: ModelConfig,
    pub optimizer: OptimizerConfig,
    pub schedule: ScheduleConfig,
    pub train: TrainConfig,
}

impl Default for RunConfig {
    fn default() -> Self {
        Self {
            name: "run".into(),
            seed: 0,
            device: DeviceName::Cpu,
            data: DataConfig::default(),
            model: ModelConfig::default(),
            optimizer: OptimizerConfig::default(),
            schedule: ScheduleConfig::default(),
            train: TrainConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Gradient accumulation (Lightning's `accumulate_grad_batches`): sum the gradients of
    /// this many batches, then take one optimizer step, so batch_size x N images make a step
    /// without the memory of one batch that large. Each batch's loss counts by its share of
    /// the group's images, so (without batch norm) the steps are those of one batch of
    /// batch_size x N; an epoch's last, shorter group is a mean over its own images (Lightning
    /// divides it by N: its open issue 19987). Schedules and lookahead count optimizer
    /// steps; batch norm and dropout still see batches of batch_size. 1 = off.
    pub accumulate_grad_batches: usize,
    /// Cross-entropy label smoothing in [0, 1).
    pub label_smoothing: f64,
    /// Weights of the classes in the training loss, as PyTorch's
    /// `CrossEntropyLoss(weight=...)`: "none", "balanced" (n / (classes x count of the class),
    /// scikit-learn's and Keras' usual choice for unbalanced data) or one number per class.
    /// Validation and test losses stay unweighted, as Keras' `class_weight`.
    pub class_weights: ClassWeights,
    /// What picks best.ckpt and drives early stopping: "val_loss" (lowest) or "val_acc"
    /// (highest), as Keras' and Lightning's `monitor`.
    pub monitor: Monitor,
    /// Stop after this many epochs without improvement of `monitor` and restore the best
    /// weights; 0 = off.
    pub early_stopping_patience: usize,
    /// An epoch improves on the best only by more than this (Keras' `min_delta`, in the
    /// monitor's units: val_acc is a fraction); 0 = any improvement.
    pub early_stopping_min_delta: f64,
    /// Divergence guard: stop when train accuracy stays at chance for this many epochs
    /// (0 = off). A NaN/inf loss always stops the run.
    pub chance_epochs: usize,
    /// Evaluate on the test split every epoch (the final epoch is always evaluated).
    pub test_every_epoch: bool,
    /// Fine-tuning: train only the last layer for the first N epochs (needs model.pretrained).
    pub freeze_epochs: usize,
    /// Test-time augmentation of val and test: "none", "flip" (mean logits of the image and
    /// its mirror) or "flip-translate" (also the pair shifted one pixel up-left and
    /// down-right, borders reflected: airbench's level 2).
    pub tta: Tta,
    /// Lookahead weight averaging (airbench): every N steps the weights (and batch-norm
    /// statistics) move to an exponential average of themselves; 0 = off.
    pub lookahead_every: usize,
    /// Its per-step decay; the average's weight ramps as decay^N * (step / total)^3.
    pub lookahead_decay: f64,
    /// An exponential moving average of the weights and batch-norm statistics, updated
    /// after every optimizer step with this decay (PyTorch's AveragedModel with
    /// get_ema_multi_avg_fn, timm's ModelEma, Keras' `ema_momentum`; 0.999 is usual): val,
    /// test, best.ckpt and last.ckpt are the average's, training goes on with the weights
    /// (whose own val figures are metrics.csv's raw_val_*). 0 = off.
    pub ema_decay: f64,
    /// Training steps' activations: "fp32" or "bf16" (mixed precision, f32 weights; see
    /// `Precision`). Evaluation always runs in f32.
    pub precision: Precision,
}

/// `train.class_weights`: a name ("none", "balanced") or one weight per class.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum ClassWeights {
    Named(String),
    List(Vec<f64>),
}

impl ClassWeights {
    /// What is wrong with the value, for `classes` classes when known.
    pub fn problem(&self, classes: Option<usize>) -> Option<String> {
        match self {
            Self::Named(n) if n == "none" || n == "balanced" => None,
            Self::Named(n) => Some(format!(
                "unknown value \"{n}\" (expected \"none\", \"balanced\" or one number per class)"
            )),
            Self::List(w) if classes.is_some_and(|k| k != w.len()) => Some(format!(
                "{} weights for {} classes",
                w.len(),
                classes.unwrap_or_default()
            )),
            Self::List(w) if w.iter().any(|x| !(*x >= 0.0 && x.is_finite())) => {
                Some("weights must be numbers >= 0".into())
            }
            Self::List(w) if w.iter().all(|x| *x == 0.0) => {
                Some("at least one weight must be positive".into())
            }
            Self::List(_) => None,
        }
    }

    /// Each class's weight for a training set with these labels; None: unweighted.
    pub fn resolve(&self, labels: &[u8], classes: usize) -> Option<Vec<f32>> {
        match self {
            Self::Named(n) if n == "balanced" => {
                let mut count = vec![0usize; classes];
                for &l in labels {
                    count[l as usize] += 1;
                }
                let n = labels.len() as f64;
                // A class without training images is never a target; 1 keeps it neutral.
                let w = count.iter().map(|&c| match c {
                    0 => 1.0,
                    c => (n / (classes * c) as f64) as f32,
                });
                Some(w.collect())
            }
            Self::Named(_) => None,
            Self::List(w) => Some(w.iter().map(|&x| x as f32).collect()),
        }
    }
}

crate::choice! {
    /// The validation metric that picks the best epoch.
    pub enum Monitor("value") {
        ValLoss => "val_loss",
        ValAcc => "val_acc",
    }
}

crate::choice! {
    /// Test-time augmentation.
    pub enum Tta("value") {
        None => "none",
        Flip => "flip",
        FlipTranslate => "flip-translate",
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            batch_size: 64,
            accumulate_grad_batches: 1,
            label_smoothing: 0.0,
            class_weights: ClassWeights::Named("none".into()),
            monitor: Monitor::ValLoss,
            early_stopping_patience: 0,
            early_stopping_min_delta: 0.0,
            chance_epochs: 2,
            test_every_epoch: true,
            freeze_epochs: 0,
            tta: Tta::None,
            lookahead_every: 0,
            lookahead_decay: 0.95,
            ema_decay: 0.0,
            precision: Precision::Fp32,
        }
    }
}

impl TrainConfig {
    /// Optimizer steps in an epoch over `images` training images: one per group of
    /// `accumulate_grad_batches` batches, the last group possibly shorter.
    pub fn optimizer_steps(&self, images: usize) -> usize {
        images
            .div_ceil(self.batch_size)
            .div_ceil(self.accumulate_grad_batches)
    }

    /// Impossible values, as (key, problem).
    pub fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        if self.batch_size == 0 {
            return Err(("train.batch_size", "must be at least 1".into()));
        }
        if self.epochs == 0 {
            return Err(("train.epochs", "must be at least 1".into()));
        }
        if self.accumulate_grad_batches == 0 {
            return Err((
                "train.accumulate_grad_batches",
                "must be at least 1 (1 = a step after every batch)".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err((
                "train.label_smoothing",
                format!("{} is not in [0, 1)", self.label_smoothing),
            ));
        }
        if let Some(problem) = self.class_weights.problem(None) {
            return Err(("train.class_weights", problem));
        }
        if !(self.early_stopping_min_delta >= 0.0 && self.early_stopping_min_delta.is_finite()) {
            return Err((
                "train.early_stopping_min_delta",
                format!("{} is not a number >= 0", self.early_stopping_min_delta),
            ));
        }
        if !(0.0..=1.0).contains(&self.lookahead_decay) {
            return Err((
                "train.lookahead_decay",
                format!("{} is not in [0, 1]", self.lookahead_decay),
            ));
        }
        if !(0.0..1.0).contains(&self.ema_decay) {
            return Err((
                "train.ema_decay",
                format!(
                    "{} is not in [0, 1) (0 = off; 0.999 is usual)",
                    self.ema_decay
                ),
            ));
        }
        Ok(())
    }
}

impl RunConfig {
    /// Fill the defaults other values imply, so the stored config says what really ran.
    pub fn resolve(&mut self) {
        self.optimizer.resolve();
        // The stored config holds the preset's own name (`resnet18` for "ResNet-18").
        if let Some(preset) = crate::model::presets::find(&self.model.preset) {
            self.model.preset = preset.name.to_string();
        }
    }

    /// The resolved config as TOML, as stored in a run folder.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self).map_err(|e| Error::Serialize {
            what: format!("config of run {}", self.name),
            problem: e.to_string(),
        })
    }

    /// Reject impossible values before anything trains; `origin` names the config.
    pub fn validate(&self, origin: &str) -> Result<()> {
        self.check()
            .map_err(|(key, problem)| Error::input(origin, format!("{key}: {problem}")))
    }

    fn check(&self) -> std::result::Result<(), (&'static str, String)> {
        let has_val = self.data.val_fraction > 0.0;
        self.data.check()?;
        self.train.check()?;
        self.optimizer.check()?;
        self.model.check()?;
        // Before the data is looked for: it named a missing dataset first.
        if !self.model.preset.is_empty()
            && crate::model::presets::find(&self.model.preset).is_none()
        {
            return Err((
                "model.preset",
                crate::model::presets::unknown_preset(&self.model.preset),
            ));
        }
        self.schedule.check(has_val)?;
        if self.train.early_stopping_patience > 0 && !has_val {
            return Err((
                "train.early_stopping_patience",
                "early stopping needs a validation split (data.val_fraction > 0)".into(),
            ));
        }
        if self.schedule.warmup_epochs >= self.train.epochs {
            return Err((
                "schedule.warmup_epochs",
                format!(
                    "{} leaves none of the {} to the schedule",
                    self.schedule.warmup_epochs,
                    crate::text::counted(self.train.epochs, "epoch")
                ),
            ));
        }
        let onecycle = self.schedule.name == crate::train::schedule::ScheduleName::Onecycle;
        let name = self.optimizer.name;
        let no_momentum = matches!(
            name,
            crate::train::optim::OptimizerName::Adagrad
                | crate::train::optim::OptimizerName::Adadelta
        );
        if onecycle && self.schedule.cycle_momentum && no_momentum {
            return Err((
                "schedule.cycle_momentum",
                format!(
                    "{name} has no momentum or beta1 for onecycle to cycle (PyTorch's OneCycleLR refuses it too); set schedule.cycle_momentum = false"
                ),
            ));
        }
        if self.train.freeze_epochs > self.train.epochs {
            return Err((
                "train.freeze_epochs",
                format!(
                    "{} is more than train.epochs {}: the frozen epochs are among them (equal: \
                     only the last layer ever trains)",
                    self.train.freeze_epochs, self.train.epochs
                ),
            ));
        }
        if self.train.freeze_epochs > 0 && self.model.pretrained.is_none() {
            return Err((
                "train.freeze_epochs",
                "freezing needs pretrained features: set model.pretrained = \"CHECKPOINT\"".into(),
            ));
        }
        Ok(())
    }
}
