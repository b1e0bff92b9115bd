//! The training loop: epochs of shuffled, augmented batches; validation and test after each
//! epoch; schedules, early stopping with best-weight restore, the divergence guard; and the
//! run folder kept up to date after every epoch.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use crate::data::loader::{self, Plan};
use crate::data::transform::{Augment, Normalize};
use crate::data::{Dataset, Splits, split_validation};
use crate::error::{Error, Result};
use crate::experiment::config::RunConfig;
use crate::experiment::run_store::{BURN_VERSION, RunInfo, RunStore};
use crate::model::Net;
use crate::model::checkpoint::{self, CheckpointMeta};
use crate::model::presets::resolve_layers;
use crate::model::spec::{LayerSpec, Shape, check_net, lint_net};
use crate::train::eval::{batch_tensors, correct, cross_entropy, evaluate, scalar, scalar_int};
use crate::train::guard::{self, Guard};
use crate::train::metrics::{EpochMetrics, Tally};
use crate::train::optim;
use crate::train::resume::{self, LoopState};
use crate::train::schedule::Schedule;

/// Read the running loss back from the device every this many batches: often enough for
/// the progress bar and the NaN guard, rarely enough not to stall a GPU queue.
const SYNC_EVERY: usize = 16;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// "completed", "early-stopped" or "diverged".
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub best_val_loss: Option<f64>,
    pub best_val_acc: Option<f64>,
    /// Test metrics of the weights the run ends with (the best ones when restored).
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
    pub seconds: f64,
    pub parameters: usize,
}

/// Everything fixed before the first epoch.
pub struct Prepared {
    pub layers: Vec<LayerSpec>,
    pub input: Shape,
    pub classes: Vec<String>,
    pub norm: Arc<Normalize>,
    pub train: Arc<Dataset>,
    pub val: Option<Arc<Dataset>>,
    pub test: Arc<Dataset>,
}

/// Index of the classifier head: the last linear layer.
pub fn head_index(layers: &[LayerSpec]) -> usize {
    layers
        .iter()
        .rposition(|l| matches!(l, LayerSpec::Linear { .. }))
        .unwrap_or(layers.len().saturating_sub(1))
}

/// Copy a checkpoint's weights into `model`: all of them when the nets are equal, every
/// layer but the head when only the head's class count differs.
fn from_pretrained(
    mut model: Net,
    layers: &[LayerSpec],
    ckpt: &std::path::Path,
    device: &Device,
) -> Result<Net> {
    let (meta, old) = checkpoint::load(ckpt, device)?;
    if meta.layers == layers {
        return Ok(old);
    }
    let head = head_index(layers);
    let same_body = meta.layers.len() == layers.len()
        && meta
            .layers
            .iter()
            .zip(layers)
            .enumerate()
            .all(|(i, (a, b))| i == head || a == b);
    if !same_body {
        return Err(Error::input(
            ckpt.display(),
            "model.layers differ from the pretrained checkpoint's beyond the last linear layer",
        ));
    }
    for (i, layer) in old.layers.into_iter().enumerate() {
        if i != head {
            model.layers[i] = layer;
        }
    }
    Ok(model)
}

/// Check the net against the data and carve the validation split.
pub fn prepare(cfg: &RunConfig, splits: Splits, origin: &str) -> Result<Prepared> {
    let [c, h, w] = splits.train.shape;
    let input = Shape::Image { c, h, w };
    let classes = splits.train.classes.clone();
    let layers = resolve_layers(&cfg.model, classes.len(), origin)?;
    check_net(&layers, input, classes.len(), origin)?;
    for warning in lint_net(&layers) {
        eprintln!("warning: {origin}: {warning}");
    }
    let (train, val) = split_validation(&splits.train, cfg.data.val_fraction, cfg.seed);
    if train.is_empty() || splits.test.is_empty() {
        return Err(Error::input(
            origin,
            "the dataset has no training or no test images",
        ));
    }
    let pretrained = match &cfg.model.pretrained {
        Some(ckpt) => {
            let (meta, _) = checkpoint::read_meta(ckpt)?;
            if meta.input != splits.train.shape {
                return Err(Error::input(
                    ckpt.display(),
                    format!(
                        "the pretrained model takes {:?} images but {origin}'s data has {:?}",
                        meta.input, splits.train.shape
                    ),
                ));
            }
            Some(meta)
        }
        None => None,
    };
    let norm = if let Some(meta) = pretrained {
        // Fine-tuning keeps the normalization the features were learned with.
        Normalize::new(meta.mean, meta.std)
    } else if cfg.data.normalize {
        let (mean, std) = train.channel_stats();
        Normalize::new(mean, std)
    } else {
        Normalize::identity(c)
    };
    Ok(Prepared {
        layers,
        input,
        classes,
        norm: Arc::new(norm),
        train: Arc::new(train),
        val: val.map(Arc::new),
        test: Arc::new(splits.test),
    })
}

fn progress_bar(len: usize, quiet: bool) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    if quiet || !std::io::stderr().is_terminal() {
        pb.set_draw_target(ProgressDrawTarget::hidden());
    }
    pb.set_style(
        ProgressStyle::with_template("  {bar:30} {pos}/{len} batches  {msg}  {elapsed}<{eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

pub struct Trainer<'a> {
    pub cfg: &'a RunConfig,
    pub prep: &'a Prepared,
    pub store: &'a RunStore,
    pub device: Device,
    pub device_name: String,
    pub dataset: String,
    pub quiet: bool,
    /// Continue from the run folder's resume file when there is one (sweeps); otherwise
    /// start from scratch.
    pub resume: bool,
}

/// The device RNG seed for epoch `epoch` (dropout masks): reseeding every epoch makes a
/// resumed run draw exactly what an uninterrupted one would.
fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(epoch as u64 + 1)
}

impl Trainer<'_> {
    fn meta(&self, epoch: usize, summary: serde_json::Value) -> CheckpointMeta {
        let Shape::Image { c, h, w } = self.prep.input else {
            unreachable!("inputs are images")
        };
        CheckpointMeta {
            convlab_version: env!("CARGO_PKG_VERSION").into(),
            burn_version: BURN_VERSION.into(),
            layers: self.prep.layers.clone(),
            input: [c, h, w],
            classes: self.prep.classes.clone(),
            dataset: self.dataset.clone(),
            mean: self.prep.norm.mean.clone(),
            std: self.prep.norm.std.clone(),
            device: self.device_name.clone(),
            epoch,
            summary,
        }
    }

    /// Train; the run folder holds everything after each epoch. A diverged run is stored
    /// with its diagnosis and returned as `Error::Diverged`.
    pub fn run(&self) -> Result<Summary> {
        let cfg = self.cfg;
        let p = self.prep;
        let started = Instant::now();
        let ad = self.device.clone().autodiff();
        self.device.seed(cfg.seed);
        ad.seed(cfg.seed);
        let mut model = Net::new(&p.layers, p.input, &cfg.model.init, &ad);
        if let Some(ckpt) = &cfg.model.pretrained {
            model = from_pretrained(model, &p.layers, ckpt, &ad)?;
        }
        let head = head_index(&p.layers);
        let parameters = model.num_params();
        let resume_path = self.store.path(resume::FILE);
        let resumed = if self.resume && resume_path.exists() {
            Some(resume::load(&resume_path)?)
        } else {
            None
        };

        self.store.write_config(cfg)?;
        if resumed.is_none() {
            self.store.write_json(
                "run.json",
                &RunInfo {
                    name: &cfg.name,
                    seed: cfg.seed,
                    convlab_version: env!("CARGO_PKG_VERSION"),
                    burn_version: BURN_VERSION,
                    device: &self.device_name,
                    cpu_threads: std::thread::available_parallelism()
                        .map(|n| n.get())
                        .unwrap_or(1),
                    dataset: &self.dataset,
                    train_images: p.train.len(),
                    val_images: p.val.as_ref().map_or(0, |v| v.len()),
                    test_images: p.test.len(),
                    parameters,
                    command: std::env::args().collect::<Vec<_>>().join(" "),
                    started_unix: std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs())
                        .unwrap_or(0),
                },
            )?;
        }

        let bs = cfg.train.batch_size;
        let steps = p.train.len().div_ceil(bs);
        let mut optim = optim::build(&cfg.optimizer);
        let mut schedule = Schedule::new(&cfg.schedule, cfg.optimizer.lr, cfg.train.epochs, steps);
        let mut guard = Guard::new(&p.train.labels, cfg.train.chance_epochs);
        let augment = Augment {
            crop_padding: cfg.data.crop_padding,
            hflip: cfg.data.hflip,
        };
        let plain = self.device.clone();

        let mut rows: Vec<EpochMetrics> = Vec::new();
        let mut best: Option<(f64, usize, Net)> = None; // (val loss, epoch, weights)
        let mut status = "completed";
        let mut diagnosis = None;
        let mut seconds_before = 0.0;
        let mut first_epoch = 0;

        if let Some(r) = resumed {
            let origin = resume_path.display().to_string();
            // The record carries the parameter ids, so the optimizer state finds its params.
            model = checkpoint::load_weights(model, r.model, &origin)?;
            optim = optim
                .from_bytes(burn::tensor::Bytes::from_bytes_vec(r.optimizer))
                .map_err(|e| Error::input(&origin, format!("corrupt optimizer state: {e}")))?;
            let st = r.state;
            rows = st.rows;
            for (row, s) in rows.iter_mut().zip(&st.epoch_seconds) {
                row.seconds = *s;
            }
            schedule.restore(st.schedule);
            guard.set_stuck_epochs(st.guard_stuck);
            seconds_before = st.seconds_before;
            first_epoch = st.epochs_done;
            if let Some((score, e)) = st.best {
                let (_, weights) = checkpoint::load(&self.store.path("best.ckpt"), &plain)?;
                best = Some((score, e, weights));
            }
            if !self.quiet {
                println!("resuming {} after epoch {first_epoch}", cfg.name);
            }
        }

        'epochs: for epoch in first_epoch..cfg.train.epochs {
            let t0 = Instant::now();
            let dropout_seed = epoch_seed(cfg.seed, epoch);
            self.device.seed(dropout_seed);
            ad.seed(dropout_seed);
            let seed = cfg.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64);
            let rx = loader::spawn(
                p.train.clone(),
                p.norm.clone(),
                Plan {
                    batch_size: bs,
                    shuffle_seed: Some(seed),
                    augment,
                },
            );
            let pb = progress_bar(steps, self.quiet);
            let mut tally = Tally::default();
            let mut pending: Vec<(Tensor<1>, Tensor<1, Int>, u64)> = Vec::with_capacity(SYNC_EVERY);
            let mut lr = schedule.lr(epoch, 0);
            for (step, batch) in rx.into_iter().enumerate() {
                lr = schedule.lr(epoch, step);
                let n = batch.len() as u64;
                let (x, y) = batch_tensors(batch, p.train.shape, &ad);
                let logits = model.forward(x);
                let loss = cross_entropy(logits.clone(), y.clone(), cfg.train.label_smoothing);
                let ok = correct(logits.detach(), y);
                let grads = if epoch < cfg.train.freeze_epochs {
                    // Frozen features: only the head's gradients reach the optimizer.
                    let mut g = loss.backward();
                    GradientsParams::from_module(&mut g, &model.layers[head])
                } else {
                    GradientsParams::from_grads(loss.backward(), &model)
                };
                model = optim.step(lr, model, grads);
                pending.push((loss.detach(), ok, n));
                if pending.len() == SYNC_EVERY || step + 1 == steps {
                    for (l, c, n) in pending.drain(..) {
                        let l = scalar(l);
                        if !l.is_finite() {
                            pb.finish_and_clear();
                            status = "diverged";
                            diagnosis = Some(guard::non_finite(l, epoch + 1, step + 1, cfg));
                            break 'epochs;
                        }
                        tally.add(l, scalar_int(c), n);
                    }
                    pb.set_position(step as u64 + 1);
                    pb.set_message(format!(
                        "loss {:.4} acc {:.2}%",
                        tally.loss(),
                        tally.accuracy() * 100.0
                    ));
                }
            }
            pb.finish_and_clear();

            let eval_model = model.valid();
            let val = p
                .val
                .as_ref()
                .map(|v| evaluate(&eval_model, v, &p.norm, bs.max(256), &plain));
            let last = epoch + 1 == cfg.train.epochs;
            let test = (cfg.train.test_every_epoch || last)
                .then(|| evaluate(&eval_model, &p.test, &p.norm, bs.max(256), &plain));
            let row = EpochMetrics {
                epoch: epoch + 1,
                train_loss: tally.loss(),
                train_acc: tally.accuracy(),
                val_loss: val.map(|t| t.loss()),
                val_acc: val.map(|t| t.accuracy()),
                test_loss: test.map(|t| t.loss()),
                test_acc: test.map(|t| t.accuracy()),
                lr,
                seconds: t0.elapsed().as_secs_f64(),
            };
            if !self.quiet {
                println!("{}", row.line(cfg.train.epochs));
            }
            rows.push(row.clone());
            self.store.write_metrics(&rows)?;
            let row_json = serde_json::to_value(&row).unwrap_or_default();
            checkpoint::save(
                &self.store.path("last.ckpt"),
                &self.meta(epoch + 1, row_json.clone()),
                &eval_model,
            )?;

            // Best weights: lowest val loss, or the latest epoch without a validation split.
            let score = row.val_loss.unwrap_or(-(epoch as f64));
            if best.as_ref().is_none_or(|(b, _, _)| score < *b) {
                checkpoint::save(
                    &self.store.path("best.ckpt"),
                    &self.meta(epoch + 1, row_json),
                    &eval_model,
                )?;
                best = Some((score, epoch + 1, eval_model));
            }
            crate::report::curves::draw(&self.store.path("curves.png"), &rows, &cfg.name)?;

            if !row.train_loss.is_finite() {
                status = "diverged";
                diagnosis = Some(guard::non_finite(row.train_loss, epoch + 1, steps, cfg));
                break;
            }
            if let Some(d) = guard.check_epoch(row.train_acc, cfg) {
                status = "diverged";
                diagnosis = Some(d);
                break;
            }
            schedule.end_epoch(row.val_loss);
            if self.resume {
                let state = LoopState {
                    epochs_done: epoch + 1,
                    rows: rows.clone(),
                    epoch_seconds: rows.iter().map(|r| r.seconds).collect(),
                    best: best.as_ref().map(|(s, e, _)| (*s, *e)),
                    guard_stuck: guard.stuck_epochs(),
                    schedule: schedule.state(),
                    seconds_before: seconds_before + started.elapsed().as_secs_f64(),
                };
                let weights = model.clone().into_record().into_bytes();
                let moments = optim.into_bytes();
                match (weights, moments) {
                    (Ok(w), Ok(m)) => resume::save(&resume_path, &state, &w, &m)?,
                    (Err(e), _) | (_, Err(e)) => {
                        return Err(Error::Other(format!(
                            "could not save the resume state: {e}"
                        )));
                    }
                }
            }
            let patience = cfg.train.early_stopping_patience;
            if patience > 0
                && best
                    .as_ref()
                    .is_some_and(|(_, e, _)| epoch + 1 - e >= patience)
                && !last
            {
                status = "early-stopped";
                if !self.quiet {
                    println!("early stopping: no val-loss improvement for {patience} epochs");
                }
                break;
            }
        }

        // Early stopping restores the best weights, so the final test is theirs.
        let mut test = rows.last().and_then(|r| r.test_acc.zip(r.test_loss));
        if status == "early-stopped"
            && let Some((_, e, weights)) = &best
        {
            let t = evaluate(weights, &p.test, &p.norm, bs.max(256), &plain);
            test = Some((t.accuracy(), t.loss()));
            if !self.quiet {
                println!(
                    "restored best weights of epoch {e}: test loss {:.4} acc {:.2}%",
                    t.loss(),
                    t.accuracy() * 100.0
                );
            }
        }
        let best_row = best.as_ref().and_then(|(_, e, _)| rows.get(e - 1));
        let summary = Summary {
            status: status.into(),
            diagnosis: diagnosis.clone(),
            epochs_run: rows.len(),
            best_epoch: best.as_ref().map_or(0, |(_, e, _)| *e),
            best_val_loss: best_row.and_then(|r| r.val_loss),
            best_val_acc: best_row.and_then(|r| r.val_acc),
            test_acc: test.map(|t| t.0),
            test_loss: test.map(|t| t.1),
            seconds: seconds_before + started.elapsed().as_secs_f64(),
            parameters,
        };
        // summary.json marks the run finished; only then is the resume file dropped.
        self.store.write_json("summary.json", &summary)?;
        if resume_path.exists() {
            std::fs::remove_file(&resume_path).map_err(|e| Error::io(&resume_path, e))?;
        }
        match diagnosis {
            Some(d) => Err(Error::Diverged(d)),
            None => Ok(summary),
        }
    }
}
