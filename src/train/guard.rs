//! The divergence guard: a NaN/inf loss, or train accuracy stuck at chance for N epochs,
//! stops the run with a diagnosis instead of letting it train on silently (the seed
//! notebooks' "24.71% on every epoch").

use crate::train::config::RunConfig;
use crate::train::optim::OptimizerName;

/// See [`Guard::at_chance`].
const CHANCE_FACTOR: f64 = 1.2;
const CHANCE_MARGIN: f64 = 0.01;
/// An epoch counts as stuck only once the run has taken this many optimizer steps: on a
/// small image folder (a few steps an epoch) any net is still at chance after two epochs,
/// and stopping it there as "diverged" blamed the learning rate for a run that had barely
/// started.
pub const MIN_STEPS_FOR_CHANCE: usize = 50;

pub struct Guard {
    chance: f64,
    patience: usize,
    /// Optimizer steps per epoch.
    steps: usize,
    stuck: usize,
}

impl Guard {
    /// Chance is the majority-class frequency of the training labels: what a net that
    /// predicts one class for everything scores (24.71% is such a number).
    pub fn new(labels: &[u8], patience: usize, steps_per_epoch: usize) -> Self {
        let mut counts = [0usize; 256];
        for &l in labels {
            counts[l as usize] += 1;
        }
        let majority = counts.iter().max().copied().unwrap_or(0);
        Self {
            chance: majority as f64 / labels.len().max(1) as f64,
            patience,
            steps: steps_per_epoch,
            stuck: 0,
        }
    }

    /// Epochs in a row at chance so far (saved for resuming).
    pub fn stuck_epochs(&self) -> usize {
        self.stuck
    }

    pub fn set_stuck_epochs(&mut self, n: usize) {
        self.stuck = n;
    }

    /// Accuracy this close to chance counts as "not learning": within 20% of the majority
    /// rate plus one point, so a net that barely beats always-the-same-class (24.71% on a
    /// 24.55% majority) is caught, while one that learns anything at all is not.
    pub fn at_chance(&self, acc: f64) -> bool {
        acc < self.chance * CHANCE_FACTOR + CHANCE_MARGIN
    }

    /// After epoch `epoch` (0-based): Some(diagnosis) when the run should stop.
    pub fn check_epoch(&mut self, train_acc: f64, epoch: usize, cfg: &RunConfig) -> Option<String> {
        if self.patience == 0 {
            return None;
        }
        let started = (epoch + 1) * self.steps >= MIN_STEPS_FOR_CHANCE;
        if started && self.at_chance(train_acc) {
            self.stuck += 1;
        } else {
            self.stuck = 0;
        }
        (self.stuck >= self.patience).then(|| {
            format!(
                "train accuracy stayed at chance level ({:.2}%; always predicting the commonest class scores {:.2}%) for {}; {}",
                train_acc * 100.0,
                self.chance * 100.0,
                crate::text::counted(self.stuck, "epoch"),
                likely_causes(cfg, Symptom::Stalled)
            )
        })
    }
}

/// The first non-finite loss among `losses`, the losses of the batches up to `last` (1-based)
/// read back together: (that loss, its batch). The losses are read a few batches at a time,
/// so the batch that went wrong is not the one at which it was seen.
pub fn first_non_finite(losses: &[f64], last: usize) -> Option<(f64, usize)> {
    let first = (last + 1).saturating_sub(losses.len());
    let i = losses.iter().position(|l| !l.is_finite())?;
    Some((losses[i], first + i))
}

/// A non-finite loss: the diagnosis.
pub fn non_finite(loss: f64, epoch: usize, batch: usize, cfg: &RunConfig) -> String {
    format!(
        "loss became {loss} at epoch {epoch}, batch {batch}; {}",
        likely_causes(cfg, Symptom::NonFinite)
    )
}

/// What the guard saw: the causes differ (an lr far too low stalls a run but does not make
/// its loss NaN).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Symptom {
    Stalled,
    NonFinite,
}

/// What usually causes a run to diverge or stall, most likely first, for this config.
pub fn likely_causes(cfg: &RunConfig, symptom: Symptom) -> String {
    let o = &cfg.optimizer;
    // The peak lr: onecycle's max_lr when set (optimizer.lr then never reaches a step).
    let lr = cfg.schedule.onecycle_max_lr().unwrap_or(o.lr);
    let mut causes = Vec::new();
    // Adaptive methods are usually stable at 1e-3 and below; plain SGD up to ~0.1 at batch 64.
    // (above which an lr is high, the lr to suggest at most): 10x lower than a far too high
    // lr (1e4 for SGD) is still far too high.
    let (high, usual) = match o.name {
        OptimizerName::Adam
        | OptimizerName::Adamw
        | OptimizerName::Adamax
        | OptimizerName::Nadam
        | OptimizerName::Radam
        | OptimizerName::Rmsprop => (3e-3, 1e-3),
        OptimizerName::Adagrad => (5e-2, 1e-2),
        // Its step is lr times a ratio of running averages: 1.0 is PyTorch's default.
        OptimizerName::Adadelta => (10.0, 1.0),
        OptimizerName::Sgd | OptimizerName::SgdMomentum => {
            let sgd = 0.1 * (cfg.train.batch_size as f64 / 64.0).max(0.25);
            (sgd, sgd)
        }
    };
    // Adadelta's step is lr times its own (about sqrt(eps) at first): far below 1 it stalls.
    if symptom == Symptom::Stalled && o.name == OptimizerName::Adadelta && lr <= 0.1 {
        causes.push(format!(
            "adadelta's learning rate {lr:.0e} is far below its usual 1 (PyTorch's default): its steps are that many times its own, so it barely moves; try optimizer.lr = 1.0"
        ));
    }
    if lr > high {
        causes.push(format!(
            "the learning rate {lr:.0e} is likely too high for {} at batch size {}: try {:.0e} (or a larger batch; `convlab lr-find` suggests one)",
            o.name,
            cfg.train.batch_size,
            (lr / 10.0).min(usual)
        ));
    }
    if !cfg.data.normalize {
        causes
            .push("the inputs are not normalized (data.normalize = false): set it to true".into());
    }
    if causes.is_empty() {
        causes.push(format!(
            "the learning rate {lr:.0e} may still be too high for batch size {}: try 10x lower; also check the labels and that the last layer has no activation",
            cfg.train.batch_size
        ));
    }
    format!("likely cause: {}", causes.join("; "))
}

#[cfg(test)]
mod tests {
    use super::{Guard, Symptom, first_non_finite, likely_causes};
    use crate::train::config::RunConfig;

    /// Batches 13-16 read back together, the third NaN: batch 15 is named, not 16.
    #[test]
    fn the_first_non_finite_loss_names_its_own_batch() {
        let read = [2.3, 2.1, f64::NAN, f64::INFINITY];
        let (loss, batch) = first_non_finite(&read, 16).unwrap();
        assert!(loss.is_nan());
        assert_eq!(batch, 15);
        assert_eq!(
            first_non_finite(&[1.0, f64::INFINITY], 2),
            Some((f64::INFINITY, 2))
        );
        assert_eq!(first_non_finite(&[1.0, 0.5], 2), None);
    }

    /// Two classes, chance 50%, a run at 50% every epoch, patience 2. With 1 step an epoch
    /// (a 6-image folder at batch 32) epochs 1-49 are before step 50 and do not count, so
    /// the guard stops at epoch 51 (0-based 50), not at epoch 2; with 100 steps an epoch it
    /// stops at epoch 2 as before.
    #[test]
    fn chance_counts_only_after_the_first_steps() {
        let cfg = RunConfig::default();
        let labels = [0, 1, 0, 1, 0, 1];
        let stops = |steps: usize| {
            let mut guard = Guard::new(&labels, 2, steps);
            (0..200).find(|&e| guard.check_epoch(0.5, e, &cfg).is_some())
        };
        assert_eq!(stops(1), Some(50));
        assert_eq!(stops(100), Some(1));
        assert_eq!(stops(25), Some(2));
        // A run that learns is never stopped.
        let mut guard = Guard::new(&labels, 2, 100);
        assert!((0..10).all(|e| guard.check_epoch(0.9, e, &cfg).is_none()));
    }

    /// The lr suggested for a diverged run: 10x lower, capped at what the optimizer usually
    /// trains at (`try 1e3` for SGD at 1e4 was no help).
    #[test]
    fn a_too_high_lr_gets_a_usual_one_suggested() {
        let cause = |name: &str, lr: f64, batch: usize| {
            let mut cfg = RunConfig::default();
            cfg.optimizer.name = name.parse().unwrap();
            cfg.optimizer.lr = lr;
            cfg.train.batch_size = batch;
            cfg.data.normalize = true;
            likely_causes(&cfg, Symptom::Stalled)
        };
        assert!(
            cause("sgd", 1e4, 32)
                .contains("1e4 is likely too high for sgd at batch size 32: try 5e-2")
        );
        assert!(cause("sgd-momentum", 0.3, 32).contains("try 3e-2"));
        assert!(cause("adam", 10.0, 64).contains("try 1e-3"));
        assert!(cause("adam", 1e-2, 64).contains("try 1e-3"));
        assert!(cause("adagrad", 1.0, 64).contains("try 1e-2"));
        assert!(cause("adam", 1e-3, 64).contains("may still be too high"));
        assert!(cause("adadelta", 100.0, 64).contains("1e2 is likely too high for adadelta"));
        assert!(cause("adadelta", 100.0, 64).contains("try 1e0"));
        // A stall at Adadelta's convlab-default lr: the cause is an lr too low, not too high.
        let low = cause("adadelta", 1e-3, 64);
        assert!(
            low.contains("1e-3 is far below its usual 1") && !low.contains("high"),
            "{low}"
        );
        // A NaN at that lr is not explained by it: too low an lr does not blow a loss up.
        let mut cfg = RunConfig::default();
        cfg.optimizer.name = "adadelta".parse().unwrap();
        cfg.optimizer.lr = 1e-3;
        cfg.data.normalize = true;
        let nan = likely_causes(&cfg, Symptom::NonFinite);
        assert!(
            !nan.contains("far below") && nan.contains("may still be too high"),
            "{nan}"
        );
        // Under onecycle with max_lr set, the peak is max_lr, whatever optimizer.lr says.
        let mut cfg = RunConfig::default();
        cfg.optimizer.lr = 1.0;
        cfg.schedule.name = crate::train::schedule::ScheduleName::Onecycle;
        cfg.schedule.max_lr = 1e-3;
        assert!(
            likely_causes(&cfg, Symptom::Stalled)
                .contains("the learning rate 1e-3 may still be too high")
        );
    }
}
