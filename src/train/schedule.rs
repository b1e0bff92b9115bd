//! `[schedule]` of a run config and the learning-rate schedule, with PyTorch's semantics:
//! StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR and CosineAnnealingWarmRestarts
//! change per epoch, OneCycleLR per batch, ReduceLROnPlateau on val loss; an optional linear warm-up before the per-epoch ones
//! is `SequentialLR([LinearLR, main], milestones=[warmup_epochs])`.

use serde::{Deserialize, Serialize};

use crate::train::optim::MomentumCell;

crate::choice! {
    pub enum ScheduleName("value") {
        // PyTorch's class names are read too (`StepLR`); not ConstantLR, which scales the lr
        // for its first total_iters steps only, where `constant` keeps it.
        Constant => "constant",
        Step => "step" | "step-lr",
        Multistep => "multistep" | "multistep-lr",
        Exponential => "exponential" | "exponential-lr",
        Cosine => "cosine" | "cosine-annealing-lr",
        /// CosineAnnealingWarmRestarts (SGDR), stepped once per epoch.
        CosineRestarts => "cosine-restarts" | "sgdr" | "cosine-annealing-warm-restarts",
        Onecycle => "onecycle" | "onecycle-lr",
        Plateau => "plateau" | "reduce-lr-on-plateau",
    }
}

crate::choice! {
    /// OneCycleLR's anneal_strategy.
    pub enum Anneal("value") {
        Cos => "cos",
        Linear => "linear",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    pub name: ScheduleName,
    /// step: decay every `step_size` epochs by `gamma`.
    pub step_size: usize,
    /// step, multistep, exponential: the decay factor.
    pub gamma: f64,
    /// multistep: the epochs at which lr is multiplied by `gamma`.
    pub milestones: Vec<usize>,
    /// cosine: eta_min of PyTorch's CosineAnnealingLR with T_max = epochs: the lr the curve
    /// reaches after the last epoch (the last epoch itself trains a little above it);
    /// cosine-restarts: the lr each cycle falls towards.
    pub min_lr: f64,
    /// cosine-restarts: the first cycle's length in epochs (PyTorch's T_0), and the factor
    /// each later cycle is longer by (T_mult, a whole number >= 1).
    pub restart_epochs: usize,
    pub restart_mult: usize,
    /// onecycle (per batch, as PyTorch's OneCycleLR): peak lr, warm-up fraction, divisors.
    pub max_lr: f64,
    pub pct_start: f64,
    pub div_factor: f64,
    pub final_div_factor: f64,
    /// onecycle: "cos" (PyTorch's default) or "linear" (airbench's triangle).
    pub anneal: Anneal,
    /// onecycle: cycle the momentum (SGD, RMSprop) or Adam's beta1 against the lr, from
    /// `max_momentum` down to `base_momentum` while the lr rises and back up while it falls,
    /// as PyTorch's OneCycleLR does by default (`cycle_momentum=True`) and fastai's
    /// fit_one_cycle. It replaces the optimizer's momentum; plain SGD gains momentum, as in
    /// PyTorch. Adagrad and Adadelta have none to cycle.
    pub cycle_momentum: bool,
    pub base_momentum: f64,
    pub max_momentum: f64,
    /// Linear warm-up over the first `warmup_epochs` epochs, from `warmup_start_factor` x lr
    /// (PyTorch's LinearLR, default factor 1/3), then the schedule `name` counting its epochs
    /// from the end of the warm-up (SequentialLR: cosine's T_max is epochs - warmup_epochs,
    /// step and multistep count from there); 0 = none.
    pub warmup_epochs: usize,
    pub warmup_start_factor: f64,
    /// plateau: multiply lr by `factor` after `patience` epochs without val-loss improvement.
    pub factor: f64,
    pub patience: usize,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        Self {
            name: ScheduleName::Constant,
            step_size: 10,
            gamma: 0.1,
            milestones: Vec::new(),
            min_lr: 0.0,
            restart_epochs: 10,
            restart_mult: 1,
            max_lr: 0.0,
            pct_start: 0.3,
            div_factor: 25.0,
            final_div_factor: 1e4,
            anneal: Anneal::Cos,
            cycle_momentum: true,
            base_momentum: 0.85,
            max_momentum: 0.95,
            warmup_epochs: 0,
            warmup_start_factor: 1.0 / 3.0,
            factor: 0.1,
            patience: 10,
        }
    }
}

impl ScheduleConfig {
    /// onecycle's peak when `max_lr` is set: every step's lr then comes from it, and
    /// `optimizer.lr` reaches no step. None under any other schedule or with max_lr 0.
    pub fn onecycle_max_lr(&self) -> Option<f64> {
        (self.name == ScheduleName::Onecycle && self.max_lr > 0.0).then_some(self.max_lr)
    }

    /// Impossible values, as (key, problem); `has_val` says whether a validation split
    /// exists (ReduceLROnPlateau needs one).
    pub fn check(&self, has_val: bool) -> Result<(), (&'static str, String)> {
        use ScheduleName::*;
        if self.warmup_epochs > 0 {
            let why = match self.name {
                Onecycle => Some("onecycle warms up by itself (pct_start)"),
                Plateau => Some("PyTorch's SequentialLR cannot hold ReduceLROnPlateau"),
                _ => None,
            };
            if let Some(why) = why {
                return Err((
                    "schedule.warmup_epochs",
                    format!("{} cannot follow a warm-up: {why}", self.name),
                ));
            }
            if !(self.warmup_start_factor > 0.0 && self.warmup_start_factor <= 1.0) {
                return Err((
                    "schedule.warmup_start_factor",
                    format!("{} is not in (0, 1]", self.warmup_start_factor),
                ));
            }
        }
        for (key, lr, zero) in [
            ("schedule.min_lr", self.min_lr, ""),
            ("schedule.max_lr", self.max_lr, " (0 = optimizer.lr)"),
        ] {
            if !(lr >= 0.0 && lr.is_finite()) {
                return Err((key, format!("{lr} must be a number >= 0{zero}")));
            }
        }
        let positive = |x: f64| x > 0.0 && x.is_finite();
        match self.name {
            Step if self.step_size == 0 => Err(("schedule.step_size", "must be at least 1".into())),
            CosineRestarts if self.restart_epochs == 0 => {
                Err(("schedule.restart_epochs", "must be at least 1".into()))
            }
            CosineRestarts if self.restart_mult == 0 => {
                Err(("schedule.restart_mult", "must be at least 1".into()))
            }
            Step | Multistep | Exponential if self.gamma.is_nan() || self.gamma <= 0.0 => {
                Err(("schedule.gamma", format!("{} must be positive", self.gamma)))
            }
            Multistep if self.milestones.is_empty() => {
                Err(("schedule.milestones", "must list at least one epoch".into()))
            }
            Onecycle
                if self.cycle_momentum
                    && !(0.0 <= self.base_momentum
                        && self.base_momentum <= self.max_momentum
                        && self.max_momentum < 1.0) =>
            {
                Err((
                    "schedule.base_momentum",
                    format!(
                        "{} and max_momentum {} must satisfy 0 <= base_momentum <= max_momentum < 1",
                        self.base_momentum, self.max_momentum
                    ),
                ))
            }
            Onecycle if !(self.pct_start > 0.0 && self.pct_start < 1.0) => Err((
                "schedule.pct_start",
                format!("{} is not in (0, 1)", self.pct_start),
            )),
            Onecycle if !positive(self.div_factor) => Err((
                "schedule.div_factor",
                format!("{} must be a positive number", self.div_factor),
            )),
            Onecycle if !positive(self.final_div_factor) => Err((
                "schedule.final_div_factor",
                format!("{} must be a positive number", self.final_div_factor),
            )),
            // PyTorch's ReduceLROnPlateau refuses factor >= 1; 0 or less ends all training.
            Plateau if !(self.factor > 0.0 && self.factor < 1.0) => Err((
                "schedule.factor",
                format!("{} is not in (0, 1)", self.factor),
            )),
            Plateau if !has_val => Err((
                "schedule.name",
                "plateau needs a validation split (data.val_fraction > 0)".into(),
            )),
            _ => Ok(()),
        }
    }
}

/// The part of a schedule that changes while training (ReduceLROnPlateau's), saved so an
/// interrupted run resumes with the same lr.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ScheduleState {
    pub plateau_lr: f64,
    /// Best val loss so far; None before the first epoch.
    pub best: Option<f64>,
    pub bad_epochs: usize,
}

/// CosineAnnealingLR's curve: from `lr` at epoch 0 down towards `min` at epoch `period`.
fn cosine(min: f64, lr: f64, epoch: usize, period: usize) -> f64 {
    let t = epoch as f64 / period.max(1) as f64;
    min + (lr - min) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
}

pub struct Schedule {
    cfg: ScheduleConfig,
    base_lr: f64,
    epochs: usize,
    steps_per_epoch: usize,
    /// ReduceLROnPlateau state.
    plateau_lr: f64,
    best: f64,
    bad_epochs: usize,
}

impl Schedule {
    pub fn new(cfg: &ScheduleConfig, base_lr: f64, epochs: usize, steps_per_epoch: usize) -> Self {
        Self {
            cfg: cfg.clone(),
            base_lr,
            epochs,
            steps_per_epoch: steps_per_epoch.max(1),
            plateau_lr: base_lr,
            best: f64::INFINITY,
            bad_epochs: 0,
        }
    }

    pub fn state(&self) -> ScheduleState {
        ScheduleState {
            plateau_lr: self.plateau_lr,
            best: self.best.is_finite().then_some(self.best),
            bad_epochs: self.bad_epochs,
        }
    }

    pub fn restore(&mut self, s: ScheduleState) {
        self.plateau_lr = s.plateau_lr;
        self.best = s.best.unwrap_or(f64::INFINITY);
        self.bad_epochs = s.bad_epochs;
    }

    /// The lr for batch `step` (0-based) of epoch `epoch` (0-based).
    pub fn lr(&self, epoch: usize, step: usize) -> f64 {
        let c = &self.cfg;
        let lr = self.base_lr;
        // `check` allows a warm-up only before the per-epoch schedules.
        let warmup = c.warmup_epochs;
        if epoch < warmup {
            let f = c.warmup_start_factor;
            return lr * (f + (1.0 - f) * epoch as f64 / warmup as f64);
        }
        // The main schedule's own epoch count, from the end of the warm-up.
        let (epoch, epochs) = (epoch - warmup, self.epochs.saturating_sub(warmup));
        match c.name {
            ScheduleName::Step => lr * c.gamma.powi((epoch / c.step_size.max(1)) as i32),
            ScheduleName::Multistep => {
                lr * c
                    .gamma
                    .powi(c.milestones.iter().filter(|&&m| m <= epoch).count() as i32)
            }
            ScheduleName::Exponential => lr * c.gamma.powi(epoch as i32),
            ScheduleName::Cosine => cosine(c.min_lr, lr, epoch, epochs),
            ScheduleName::CosineRestarts => {
                // PyTorch's step(): T_cur += 1, and past T_i a restart with T_i *= T_mult.
                let (mut t, mut period) = (epoch, c.restart_epochs.max(1));
                while t >= period {
                    t -= period;
                    period *= c.restart_mult.max(1);
                }
                cosine(c.min_lr, lr, t, period)
            }
            ScheduleName::Onecycle => self.one_cycle(epoch * self.steps_per_epoch + step),
            ScheduleName::Plateau => self.plateau_lr,
            ScheduleName::Constant => lr,
        }
    }

    /// Whether this schedule sets the momentum (or Adam's beta1) of every step.
    pub fn cycles_momentum(&self) -> bool {
        self.cfg.name == ScheduleName::Onecycle && self.cfg.cycle_momentum
    }

    /// The cell the optimizer reads this schedule's momentum from (empty unless it cycles).
    pub fn momentum_cell(&self) -> MomentumCell {
        match self.cycles_momentum() {
            true => MomentumCell::cycled(),
            false => MomentumCell::default(),
        }
    }

    /// OneCycleLR's momentum (or Adam's beta1) for batch `step` of epoch `epoch`, when the
    /// schedule cycles it: the mirror image of the lr.
    pub fn momentum(&self, epoch: usize, step: usize) -> Option<f64> {
        let c = &self.cfg;
        self.cycles_momentum().then(|| {
            let (rising, pct) = self.one_cycle_phase(epoch * self.steps_per_epoch + step);
            if rising {
                self.anneal(c.max_momentum, c.base_momentum, pct)
            } else {
                self.anneal(c.base_momentum, c.max_momentum, pct)
            }
        })
    }

    /// OneCycleLR's phase at `step`: (in the rising phase, fraction of the phase done).
    fn one_cycle_phase(&self, step: usize) -> (bool, f64) {
        let total = (self.epochs * self.steps_per_epoch) as f64;
        let up = self.cfg.pct_start * total - 1.0;
        let down = total - up - 1.0;
        let s = step as f64;
        if s <= up {
            (true, if up > 0.0 { s / up } else { 1.0 })
        } else {
            (false, ((s - up) / down.max(1.0)).min(1.0))
        }
    }

    /// OneCycleLR's anneal_strategy: from `start` to `end` at fraction `pct`.
    fn anneal(&self, start: f64, end: f64, pct: f64) -> f64 {
        match self.cfg.anneal {
            Anneal::Linear => start + (end - start) * pct,
            Anneal::Cos => end + (start - end) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0),
        }
    }

    /// torch.optim.lr_scheduler.OneCycleLR's lr.
    fn one_cycle(&self, step: usize) -> f64 {
        let c = &self.cfg;
        let max_lr = c.onecycle_max_lr().unwrap_or(self.base_lr);
        let initial = max_lr / c.div_factor;
        let min = initial / c.final_div_factor;
        match self.one_cycle_phase(step) {
            (true, pct) => self.anneal(initial, max_lr, pct),
            (false, pct) => self.anneal(max_lr, min, pct),
        }
    }

    /// Called after each epoch with the validation loss (ReduceLROnPlateau, mode "min",
    /// relative threshold 1e-4, as PyTorch's defaults).
    pub fn end_epoch(&mut self, val_loss: Option<f64>) {
        if self.cfg.name != ScheduleName::Plateau {
            return;
        }
        let Some(v) = val_loss else { return };
        if v < self.best * (1.0 - 1e-4) {
            self.best = v;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
            if self.bad_epochs > self.cfg.patience {
                self.plateau_lr *= self.cfg.factor;
                self.bad_epochs = 0;
            }
        }
    }
}
