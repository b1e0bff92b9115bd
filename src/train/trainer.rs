//! The training loop (one epoch's pass is `epoch`): validation and test after each
//! epoch; schedules, early stopping with best-weight restore, the divergence guard; and the
//! run folder kept up to date after every epoch.

use std::time::Instant;

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::prelude::*;

use crate::data::resident::Resident;
use crate::data::transform::Augment;
use crate::error::{Error, Result};
use crate::model::Net;
use crate::model::checkpoint;
use crate::model::params::trainable_params;
use crate::run::{EpochMetrics, RunDir, Status, Summary, files};
use crate::train::config::{Monitor, RunConfig};
use crate::train::ema::Ema;
use crate::train::eval::evaluate;
use crate::train::guard::{self, Guard};
use crate::train::lookahead::Lookahead;
use crate::train::metrics::Tally;
use crate::train::optim::{self, MomentumCell};
use crate::train::prepare::{Prepared, device_pipeline, fresh_model, from_pretrained};
use crate::train::schedule::Schedule;

/// Evaluation batches are at least this large: without a backward pass they fit easily,
/// and fewer, larger batches amortise the per-batch overhead. (Changing it would change
/// the float summation order, so stored val/test losses, in their last digits.)
const MIN_EVAL_BATCH: usize = 256;

/// Called with every row so far after an epoch's files are written (e.g. to draw curves).
pub type EpochHook<'a> = &'a dyn Fn(&RunDir, &[EpochMetrics]) -> Result<()>;

pub struct Trainer<'a> {
    pub cfg: &'a RunConfig,
    pub prep: &'a Prepared,
    pub dir: &'a RunDir,
    pub device: Device,
    pub quiet: bool,
    /// Continue from the run folder's resume file when there is one, and keep one after
    /// every epoch (sweeps); otherwise start from scratch.
    pub resume: bool,
    pub after_epoch: EpochHook<'a>,
}

/// The best weights so far by `train.monitor`, or the latest epoch without a validation split.
pub(super) struct Best {
    pub(super) score: f64,
    pub(super) epoch: usize,
    pub(super) weights: Net,
}

/// Why the epoch loop ended early.
enum Stop {
    Diverged(String),
    EarlyStopped,
}

/// What the loop carries from one epoch to the next.
pub(super) struct Progress {
    /// The autodiff device the model trains on (one handle for the whole run).
    pub(super) ad: Device,
    pub(super) model: Net,
    pub(super) optim: ModuleOptimizer,
    /// The momentum the schedule sets before each step, read by `optim` (OneCycleLR).
    pub(super) momentum: MomentumCell,
    pub(super) schedule: Schedule,
    /// Weight averaging (train.lookahead_every); restarts from the weights on resume.
    pub(super) lookahead: Option<Lookahead>,
    /// The moving average that is evaluated and saved (train.ema_decay).
    pub(super) ema: Option<Ema>,
    pub(super) guard: Guard,
    pub(super) rows: Vec<EpochMetrics>,
    pub(super) best: Option<Best>,
    /// Seconds spent in earlier sessions of a resumed run.
    pub(super) seconds_before: f64,
    pub(super) first_epoch: usize,
    pub(super) parameters: usize,
    /// The training set on the device, when batches are built there (`data.pipeline`).
    pub(super) resident: Option<Resident>,
}

impl Trainer<'_> {
    /// Train; the run folder holds everything after each epoch. A diverged run is a result:
    /// its summary says so and carries the diagnosis.
    pub fn run(&self) -> Result<Summary> {
        let started = Instant::now();
        let mut p = self.start()?;
        let mut stop = None;
        for epoch in p.first_epoch..self.cfg.train.epochs {
            let t0 = Instant::now();
            let (tally, lr) = match self.train_epoch(&mut p, epoch) {
                Ok(done) => done,
                Err(diagnosis) => {
                    stop = Some(Stop::Diverged(diagnosis));
                    break;
                }
            };
            stop = self.end_epoch(&mut p, epoch, tally, lr, t0, started)?;
            if stop.is_some() {
                break;
            }
        }
        self.finish(p, stop, started)
    }

    /// The model, optimizer and loop state to begin with: fresh (or pretrained), or as
    /// the resume file left them. Writes config.toml and, for a new run, run.json.
    fn start(&self) -> Result<Progress> {
        let (cfg, p) = (self.cfg, self.prep);
        let ad = self.device.clone().autodiff();
        self.device.seed(cfg.seed);
        ad.seed(cfg.seed);
        let mut model = fresh_model(cfg, p, &ad);
        if let Some(ckpt) = &cfg.model.pretrained {
            model = from_pretrained(model, &p.layers, ckpt, &ad)?;
        }
        let steps = cfg.train.optimizer_steps(p.train.len());
        let (every, decay) = (cfg.train.lookahead_every, cfg.train.lookahead_decay);
        let resident = device_pipeline(cfg, p).then(|| {
            let augment = Augment::for_epoch(&cfg.data, cfg.seed, 0);
            Resident::upload(&p.train, &p.norm, &augment, &ad)
        });
        let schedule = Schedule::new(&cfg.schedule, cfg.optimizer.lr, cfg.train.epochs, steps);
        let momentum = schedule.momentum_cell();
        let mut progress = Progress {
            resident,
            ad,
            parameters: trainable_params(&p.layers, p.input),
            lookahead: Lookahead::new(&model, every, decay, steps * cfg.train.epochs),
            ema: Ema::new(cfg.train.ema_decay),
            model,
            optim: optim::build_with(&cfg.optimizer, &momentum),
            momentum,
            schedule,
            guard: Guard::new(&p.train.labels, cfg.train.chance_epochs, steps),
            rows: Vec::new(),
            best: None,
            seconds_before: 0.0,
            first_epoch: 0,
        };
        self.dir.write_config(&cfg.to_toml()?)?;
        let resume_path = self.dir.path(files::RESUME);
        if self.resume && resume_path.exists() {
            self.restore(&mut progress)?;
        } else {
            self.dir.write_info(&self.info(progress.parameters))?;
        }
        Ok(progress)
    }

    /// After an epoch's training pass: evaluate, store metrics and checkpoints, call the
    /// hook, then ask the guard, the schedule and early stopping whether to go on.
    fn end_epoch(
        &self,
        p: &mut Progress,
        epoch: usize,
        tally: Tally,
        lr: f64,
        t0: Instant,
        started: Instant,
    ) -> Result<Option<Stop>> {
        let (cfg, prep) = (self.cfg, self.prep);
        let eval_batch = cfg.train.batch_size.max(MIN_EVAL_BATCH);
        let eval_model = match &p.ema {
            Some(ema) => ema.weights(&p.model),
            None => p.model.valid(),
        };
        let tta = cfg.train.tta;
        let last = epoch + 1 == cfg.train.epochs;
        let val = prep
            .val
            .as_ref()
            .map(|v| evaluate(&eval_model, v, &prep.norm, eval_batch, &self.device, tta));
        // The training weights' own val figures beside the average's (timm validates both).
        let raw_val = prep.val.as_ref().filter(|_| p.ema.is_some()).map(|v| {
            let weights = p.model.valid();
            evaluate(&weights, v, &prep.norm, eval_batch, &self.device, tta)
        });
        let test = (cfg.train.test_every_epoch || last).then(|| {
            evaluate(
                &eval_model,
                &prep.test,
                &prep.norm,
                eval_batch,
                &self.device,
                tta,
            )
        });
        let row = EpochMetrics {
            epoch: epoch + 1,
            train_loss: tally.loss(),
            train_acc: tally.accuracy(),
            val_loss: val.map(|t| t.loss()),
            val_acc: val.map(|t| t.accuracy()),
            raw_val_loss: raw_val.map(|t| t.loss()),
            raw_val_acc: raw_val.map(|t| t.accuracy()),
            test_loss: test.map(|t| t.loss()),
            test_acc: test.map(|t| t.accuracy()),
            lr,
            seconds: t0.elapsed().as_secs_f64(),
        };
        if !self.quiet {
            println!("{}", row.line(cfg.train.epochs));
        }
        p.rows.push(row.clone());
        self.dir.write_metrics(&p.rows)?;
        let meta = self.meta(epoch + 1, &row)?;
        checkpoint::save(&self.dir.path(files::LAST), &meta, &eval_model)?;
        // Lower is better; without a validation split the latest epoch is the best.
        let score = match cfg.train.monitor {
            Monitor::ValLoss => row.val_loss,
            Monitor::ValAcc => row.val_acc.map(|a| -a),
        }
        .unwrap_or(-(epoch as f64));
        let min_delta = cfg.train.early_stopping_min_delta;
        if p.best.as_ref().is_none_or(|b| score < b.score - min_delta) {
            checkpoint::save(&self.dir.path(files::BEST), &meta, &eval_model)?;
            p.best = Some(Best {
                score,
                epoch: epoch + 1,
                weights: eval_model,
            });
        }
        (self.after_epoch)(self.dir, &p.rows)?;

        if !row.train_loss.is_finite() {
            let steps = prep.train.len().div_ceil(cfg.train.batch_size);
            let d = guard::non_finite(row.train_loss, epoch + 1, steps, cfg);
            return Ok(Some(Stop::Diverged(d)));
        }
        if let Some(d) = p.guard.check_epoch(row.train_acc, epoch, cfg) {
            return Ok(Some(Stop::Diverged(d)));
        }
        p.schedule.end_epoch(row.val_loss);
        if self.resume {
            self.save_resume(p, epoch, started)?;
        }
        let patience = cfg.train.early_stopping_patience;
        let stale = p
            .best
            .as_ref()
            .is_some_and(|b| epoch + 1 - b.epoch >= patience);
        if patience > 0 && stale && !last {
            if !self.quiet {
                println!(
                    "early stopping: no {} improvement for {patience} epochs",
                    cfg.train.monitor
                );
            }
            return Ok(Some(Stop::EarlyStopped));
        }
        Ok(None)
    }

    /// The summary: early stopping restores the best weights, so the final test is
    /// theirs. summary.json marks the run finished; only then is the resume file dropped.
    fn finish(&self, p: Progress, stop: Option<Stop>, started: Instant) -> Result<Summary> {
        let mut test = p.rows.last().and_then(|r| r.test_acc.zip(r.test_loss));
        let (status, diagnosis) = match stop {
            None => (Status::Completed, None),
            Some(Stop::EarlyStopped) => (Status::EarlyStopped, None),
            Some(Stop::Diverged(d)) => (Status::Diverged, Some(d)),
        };
        if status == Status::EarlyStopped
            && let Some(b) = &p.best
        {
            let eval_batch = self.cfg.train.batch_size.max(MIN_EVAL_BATCH);
            let prep = self.prep;
            let tta = self.cfg.train.tta;
            let t = evaluate(
                &b.weights,
                &prep.test,
                &prep.norm,
                eval_batch,
                &self.device,
                tta,
            );
            test = Some((t.accuracy(), t.loss()));
            if !self.quiet {
                println!(
                    "restored best weights of epoch {}: test loss {:.4} acc {:.2}%",
                    b.epoch,
                    t.loss(),
                    t.accuracy() * 100.0
                );
            }
        }
        let best_row = p.best.as_ref().and_then(|b| p.rows.get(b.epoch - 1));
        let summary = Summary {
            status,
            diagnosis,
            epochs_run: p.rows.len(),
            best_epoch: p.best.as_ref().map_or(0, |b| b.epoch),
            best_val_loss: best_row.and_then(|r| r.val_loss),
            best_val_acc: best_row.and_then(|r| r.val_acc),
            test_acc: test.map(|t| t.0),
            test_loss: test.map(|t| t.1),
            seconds: p.seconds_before + started.elapsed().as_secs_f64(),
            parameters: p.parameters,
        };
        self.dir.write_summary(&summary)?;
        let resume_path = self.dir.path(files::RESUME);
        if resume_path.exists() {
            std::fs::remove_file(&resume_path).map_err(|e| Error::io(&resume_path, e))?;
        }
        Ok(summary)
    }
}
