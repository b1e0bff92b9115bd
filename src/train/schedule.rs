//! Learning-rate schedules with PyTorch's semantics: StepLR, MultiStepLR, ExponentialLR and
//! CosineAnnealingLR change per epoch, OneCycleLR per batch, ReduceLROnPlateau on val loss.

use serde::{Deserialize, Serialize};

use crate::experiment::config::ScheduleConfig;

/// The part of a schedule that changes while training (ReduceLROnPlateau's), saved so an
/// interrupted run resumes with the same lr.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct ScheduleState {
    pub plateau_lr: f64,
    /// Best val loss so far; None before the first epoch.
    pub best: Option<f64>,
    pub bad_epochs: usize,
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
        match c.name.as_str() {
            "step" => lr * c.gamma.powi((epoch / c.step_size.max(1)) as i32),
            "multistep" => {
                lr * c
                    .gamma
                    .powi(c.milestones.iter().filter(|&&m| m <= epoch).count() as i32)
            }
            "exponential" => lr * c.gamma.powi(epoch as i32),
            "cosine" => {
                let t = epoch as f64 / self.epochs.max(1) as f64;
                c.min_lr + (lr - c.min_lr) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
            }
            "onecycle" => self.one_cycle(epoch * self.steps_per_epoch + step),
            "plateau" => self.plateau_lr,
            _ => lr,
        }
    }

    /// torch.optim.lr_scheduler.OneCycleLR with cosine annealing (its default).
    fn one_cycle(&self, step: usize) -> f64 {
        let c = &self.cfg;
        let max_lr = if c.max_lr > 0.0 {
            c.max_lr
        } else {
            self.base_lr
        };
        let initial = max_lr / c.div_factor;
        let min = initial / c.final_div_factor;
        let total = (self.epochs * self.steps_per_epoch) as f64;
        let up = c.pct_start * total - 1.0;
        let down = total - up - 1.0;
        let cos = |start: f64, end: f64, pct: f64| {
            end + (start - end) / 2.0 * ((std::f64::consts::PI * pct).cos() + 1.0)
        };
        let s = step as f64;
        if s <= up {
            cos(initial, max_lr, if up > 0.0 { s / up } else { 1.0 })
        } else {
            cos(max_lr, min, ((s - up) / down.max(1.0)).min(1.0))
        }
    }

    /// Called after each epoch with the validation loss (ReduceLROnPlateau, mode "min",
    /// relative threshold 1e-4, as PyTorch's defaults).
    pub fn end_epoch(&mut self, val_loss: Option<f64>) {
        if self.cfg.name != "plateau" {
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
