//! The run configuration: one TOML file of overrides, every default written out when a run
//! is stored. Unknown keys are errors (a misspelt `lerning_rate` must not silently train
//! with the default).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::spec::LayerSpec;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Run folder name under `runs/`; defaults to the config file's stem.
    pub name: String,
    /// Seed for weight init, shuffling, augmentation, dropout and the validation split.
    pub seed: u64,
    /// "cpu" (Burn's flex backend), "cuda" (needs `--features cuda`) or "ndarray".
    pub device: String,
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
            device: "cpu".into(),
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
pub struct DataConfig {
    /// "mnist", "fashion-mnist", "cifar10" or "folder" (then `path` is required).
    pub dataset: String,
    /// For "folder": ROOT with train/ and test/ subfolders (or a .tar.gz of such a tree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Fraction of the training set held out for validation (seeded); 0 disables it.
    pub val_fraction: f64,
    /// Normalize with the training set's per-channel mean and std.
    pub normalize: bool,
    /// Random crop after zero-padding by this many pixels (train split only); 0 = off.
    pub crop_padding: usize,
    /// Random horizontal flip (train split only).
    pub hflip: bool,
    /// Use only N training / test images, spread evenly over each set (quick runs); 0 = all.
    pub limit_train: usize,
    pub limit_test: usize,
}

impl DataConfig {
    /// What a run and its checkpoints record as the dataset: the name, or the folder's path.
    pub fn label(&self) -> String {
        self.path
            .as_ref()
            .map_or(self.dataset.clone(), |p| p.display().to_string())
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: "mnist".into(),
            path: None,
            val_fraction: 0.1,
            normalize: true,
            crop_padding: 0,
            hflip: false,
            limit_train: 0,
            limit_test: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// A preset name (`convlab presets` lists them), or empty when `layers` is given.
    pub preset: String,
    /// Activation for every hidden activation: relu, leaky-relu, prelu, rrelu, elu, gelu.
    /// Empty keeps the preset's own.
    pub activation: String,
    /// Dropout probability for every dropout layer; negative keeps the preset's own.
    pub dropout: f64,
    /// Batch norm after every conv: "on", "off", or "preset" to keep the preset's choice.
    pub batch_norm: String,
    /// Weight init: "default" (Burn's, the same bounds as PyTorch's), "kaiming", "xavier".
    pub init: String,
    /// A custom net, used when `preset` is empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerSpec>,
    /// Start from this checkpoint's weights (fine-tuning). Every layer but the last must
    /// match it; the last linear layer is new when the class count differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PathBuf>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            preset: "mnist-cnn".into(),
            activation: String::new(),
            dropout: -1.0,
            batch_norm: "preset".into(),
            init: "default".into(),
            layers: Vec::new(),
            pretrained: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct OptimizerConfig {
    /// sgd, sgd-momentum (momentum 0.9), adam, adamw, adagrad, rmsprop.
    pub name: String,
    pub lr: f64,
    /// SGD and RMSprop momentum (PyTorch semantics: no dampening).
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    /// Adam/AdamW betas.
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// RMSprop smoothing constant (PyTorch's alpha).
    pub alpha: f64,
    /// Clip the gradient norm to this value; 0 = off.
    pub grad_clip: f64,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            name: "adam".into(),
            lr: 1e-3,
            momentum: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            alpha: 0.99,
            grad_clip: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// constant, step, multistep, exponential, cosine, onecycle, plateau.
    pub name: String,
    /// step: decay every `step_size` epochs by `gamma`.
    pub step_size: usize,
    /// step, multistep, exponential: the decay factor.
    pub gamma: f64,
    /// multistep: the epochs at which lr is multiplied by `gamma`.
    pub milestones: Vec<usize>,
    /// cosine: the lr reached at the last epoch.
    pub min_lr: f64,
    /// onecycle (per batch, as PyTorch's OneCycleLR): peak lr, warm-up fraction, divisors.
    pub max_lr: f64,
    pub pct_start: f64,
    pub div_factor: f64,
    pub final_div_factor: f64,
    /// plateau: multiply lr by `factor` after `patience` epochs without val-loss improvement.
    pub factor: f64,
    pub patience: usize,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            name: "constant".into(),
            step_size: 10,
            gamma: 0.1,
            milestones: Vec::new(),
            min_lr: 0.0,
            max_lr: 0.0,
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
            factor: 0.1,
            patience: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Cross-entropy label smoothing in [0, 1).
    pub label_smoothing: f64,
    /// Stop after this many epochs without val-loss improvement and restore the best
    /// weights; 0 = off.
    pub early_stopping_patience: usize,
    /// Divergence guard: stop when train accuracy stays at chance for this many epochs
    /// (0 = off). A NaN/inf loss always stops the run.
    pub chance_epochs: usize,
    /// Evaluate on the test split every epoch (the final epoch is always evaluated).
    pub test_every_epoch: bool,
    /// Fine-tuning: train only the last layer for the first N epochs (needs model.pretrained).
    pub freeze_epochs: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 3,
            batch_size: 64,
            label_smoothing: 0.0,
            early_stopping_patience: 0,
            chance_epochs: 2,
            test_every_epoch: true,
            freeze_epochs: 0,
        }
    }
}

pub const OPTIMIZERS: &[&str] = &["sgd", "sgd-momentum", "adam", "adamw", "adagrad", "rmsprop"];
pub const SCHEDULES: &[&str] = &[
    "constant",
    "step",
    "multistep",
    "exponential",
    "cosine",
    "onecycle",
    "plateau",
];
pub const DATASETS: &[&str] = &["mnist", "fashion-mnist", "cifar10", "folder"];
pub const DEVICES: &[&str] = &["cpu", "cuda", "ndarray"];

impl RunConfig {
    /// Read a config file, apply `--set KEY=VALUE` overrides, parse, resolve and validate.
    /// The run name defaults to the file stem.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let text = apply_overrides(&text, &origin, overrides)?;
        // Line numbers refer to the file only when no --set rewrote it.
        let parse_origin = if overrides.is_empty() {
            origin.clone()
        } else {
            format!("{origin} (with --set overrides)")
        };
        let mut cfg = Self::parse(&text, &parse_origin)?;
        if !text_sets_key(&text, "name")
            && let Some(stem) = path.file_stem()
        {
            cfg.name = stem.to_string_lossy().into_owned();
        }
        cfg.resolve();
        cfg.validate(&origin)?;
        Ok(cfg)
    }

    /// Parse TOML text; `origin` names the input in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        toml::from_str::<RunConfig>(text).map_err(|e| {
            // serde's message does not name the key: quote the offending line.
            let line = e
                .span()
                .map(|s| {
                    let start = s.start.min(text.len());
                    let n = text[..start].matches('\n').count();
                    format!(
                        " (line {}: `{}`)",
                        n + 1,
                        text.lines().nth(n).unwrap_or("").trim()
                    )
                })
                .unwrap_or_default();
            Error::input(
                origin,
                format!("{}{line}", e.message().trim().replace('\n', " ")),
            )
        })
    }

    /// Fill optimizer-specific defaults so the stored config says what really ran:
    /// `sgd-momentum` means momentum 0.9, AdamW's weight decay defaults to 0.01 (PyTorch's).
    pub fn resolve(&mut self) {
        match self.optimizer.name.as_str() {
            "sgd-momentum" if self.optimizer.momentum == 0.0 => self.optimizer.momentum = 0.9,
            "adamw" if self.optimizer.weight_decay == 0.0 => self.optimizer.weight_decay = 0.01,
            _ => {}
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not serialize: {e}\n"))
    }

    /// Reject impossible values before anything trains.
    pub fn validate(&self, origin: &str) -> Result<()> {
        let bad =
            |key: &str, problem: String| Err(Error::input(origin, format!("{key}: {problem}")));
        let one_of = |key: &str, v: &str, allowed: &[&str]| -> Result<()> {
            if allowed.contains(&v) {
                Ok(())
            } else {
                Err(Error::input(
                    origin,
                    format!(
                        "{key}: unknown value \"{v}\" (expected one of: {})",
                        allowed.join(", ")
                    ),
                ))
            }
        };
        one_of("device", &self.device, DEVICES)?;
        one_of("data.dataset", &self.data.dataset, DATASETS)?;
        one_of("optimizer.name", &self.optimizer.name, OPTIMIZERS)?;
        one_of("schedule.name", &self.schedule.name, SCHEDULES)?;
        one_of(
            "model.batch_norm",
            &self.model.batch_norm,
            &["preset", "on", "off"],
        )?;
        one_of(
            "model.init",
            &self.model.init,
            &["default", "kaiming", "xavier"],
        )?;
        if !self.model.activation.is_empty() {
            one_of(
                "model.activation",
                &self.model.activation,
                crate::model::spec::ACTIVATIONS,
            )?;
        }
        if self.data.dataset == "folder" && self.data.path.is_none() {
            return bad(
                "data.path",
                "dataset \"folder\" needs data.path = \"ROOT\" (with train/ and test/)".into(),
            );
        }
        if !(0.0..1.0).contains(&self.data.val_fraction) {
            return bad(
                "data.val_fraction",
                format!("{} is not in [0, 1)", self.data.val_fraction),
            );
        }
        if self.train.batch_size == 0 {
            return bad("train.batch_size", "must be at least 1".into());
        }
        if self.train.epochs == 0 {
            return bad("train.epochs", "must be at least 1".into());
        }
        if !(self.optimizer.lr > 0.0 && self.optimizer.lr.is_finite()) {
            return bad(
                "optimizer.lr",
                format!("{} must be a positive number", self.optimizer.lr),
            );
        }
        if self.optimizer.momentum < 0.0 || self.optimizer.momentum >= 1.0 {
            return bad(
                "optimizer.momentum",
                format!("{} is not in [0, 1)", self.optimizer.momentum),
            );
        }
        if self.optimizer.nesterov && self.optimizer.momentum == 0.0 && self.optimizer.name == "sgd"
        {
            return bad("optimizer.nesterov", "needs optimizer.momentum > 0".into());
        }
        if self.optimizer.weight_decay < 0.0 {
            return bad("optimizer.weight_decay", "must not be negative".into());
        }
        if self.model.dropout >= 1.0 {
            return bad(
                "model.dropout",
                format!("{} is not in [0, 1)", self.model.dropout),
            );
        }
        if !(0.0..1.0).contains(&self.train.label_smoothing) {
            return bad(
                "train.label_smoothing",
                format!("{} is not in [0, 1)", self.train.label_smoothing),
            );
        }
        if self.train.early_stopping_patience > 0 && self.data.val_fraction == 0.0 {
            return bad(
                "train.early_stopping_patience",
                "early stopping needs a validation split (data.val_fraction > 0)".into(),
            );
        }
        let s = &self.schedule;
        match s.name.as_str() {
            "step" if s.step_size == 0 => {
                return bad("schedule.step_size", "must be at least 1".into());
            }
            "step" | "multistep" | "exponential" if s.gamma.is_nan() || s.gamma <= 0.0 => {
                return bad("schedule.gamma", format!("{} must be positive", s.gamma));
            }
            "multistep" if s.milestones.is_empty() => {
                return bad("schedule.milestones", "must list at least one epoch".into());
            }
            "onecycle" if !(s.pct_start > 0.0 && s.pct_start < 1.0) => {
                return bad(
                    "schedule.pct_start",
                    format!("{} is not in (0, 1)", s.pct_start),
                );
            }
            "plateau" if self.data.val_fraction == 0.0 => {
                return bad(
                    "schedule.name",
                    "plateau needs a validation split (data.val_fraction > 0)".into(),
                );
            }
            _ => {}
        }
        if self.train.freeze_epochs > 0 && self.model.pretrained.is_none() {
            return bad(
                "train.freeze_epochs",
                "freezing needs pretrained features: set model.pretrained = \"CHECKPOINT\"".into(),
            );
        }
        if self.model.preset.is_empty() && self.model.layers.is_empty() {
            return bad("model", "set model.preset or list model.layers".into());
        }
        Ok(())
    }
}

/// Whether the top level of a TOML text sets `key` (so a file stem does not override it).
fn text_sets_key(text: &str, key: &str) -> bool {
    toml::from_str::<toml::Table>(text)
        .map(|t| t.contains_key(key))
        .unwrap_or(false)
}

/// Apply `KEY=VALUE` overrides (dotted keys, TOML values; bare words are strings).
pub fn apply_overrides(text: &str, origin: &str, overrides: &[String]) -> Result<String> {
    if overrides.is_empty() {
        return Ok(text.to_string());
    }
    let mut table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| Error::input(origin, e.message().replace('\n', " ")))?;
    for o in overrides {
        let (key, raw) = o
            .split_once('=')
            .ok_or_else(|| Error::input(format!("--set {o}"), "expected KEY=VALUE"))?;
        let value: toml::Value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_string()));
        let parts: Vec<&str> = key.trim().split('.').collect();
        let mut cur = &mut table;
        for part in &parts[..parts.len() - 1] {
            cur = cur
                .entry(part.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| {
                    Error::input(format!("--set {o}"), format!("{part} is not a table"))
                })?;
        }
        cur.insert(parts[parts.len() - 1].to_string(), value);
    }
    Ok(table.to_string())
}
