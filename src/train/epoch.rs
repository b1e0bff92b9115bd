//! One epoch's training pass: shuffled, augmented (and possibly mixed) batches, each a
//! forward and backward, and an optimizer step after each (or after each group of
//! `train.accumulate_grad_batches`), with the losses read back a few batches at a time
//! for the progress bar and the NaN guard.

use std::io::IsTerminal;
use std::mem::take;

use burn::prelude::*;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::data::loader::{self, Plan};
use crate::model::Net;
use crate::seed::{Stream, derive_seed};
use crate::train::eval::{batch_tensors, correct, read_back};
use crate::train::grad_plan::GradPlan;
use crate::train::guard;
use crate::train::metrics::Tally;
use crate::train::mix::{self, Mixer};
use crate::train::prepare::head_index;
use crate::train::step::{Accumulation, backward, optimizer_step};
use crate::train::trainer::{Progress, Trainer};

/// Read the batches' losses and correct counts back every this many batches, in one transfer:
/// often enough for the progress bar and the NaN guard, rarely enough not to stall a GPU queue.
const SYNC_EVERY: usize = 16;

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

impl Trainer<'_> {
    /// One pass over the training set: the mean loss and accuracy, and the last lr; or the
    /// diagnosis when the loss stopped being finite.
    pub(super) fn train_epoch(
        &self,
        p: &mut Progress,
        epoch: usize,
    ) -> std::result::Result<(Tally, f64), String> {
        let (cfg, prep) = (self.cfg, self.prep);
        let ad = p.ad.clone();
        let dropout_seed = derive_seed(cfg.seed, Stream::Dropout { epoch });
        self.device.seed(dropout_seed);
        ad.seed(dropout_seed);
        let plan = Plan::training(&cfg.data, cfg.seed, cfg.train.batch_size, epoch);
        let batches: Box<dyn Iterator<Item = (Tensor<4>, Tensor<1, Int>)>> = match &p.resident {
            Some(set) => Box::new(set.pass(plan)),
            None => {
                let (shape, ad) = (prep.train.shape, ad.clone());
                let rx = loader::spawn(prep.train.clone(), prep.norm.clone(), plan);
                Box::new(rx.into_iter().map(move |b| batch_tensors(b, shape, &ad)))
            }
        };
        let steps = prep.train.len().div_ceil(cfg.train.batch_size);
        let frozen = (epoch < cfg.train.freeze_epochs).then(|| head_index(&prep.layers));
        let bias_scale = cfg.optimizer.bn_bias_lr_scale;
        let plan =
            GradPlan::new(&p.model, &prep.layers, epoch, bias_scale).with_clips(&cfg.optimizer);
        let (pb, criterion) = (progress_bar(steps, self.quiet), prep.criterion(cfg, &ad));
        let mut mixer = Mixer::for_epoch(&cfg.data, cfg.seed, epoch);
        let mut tally = Tally::default();
        // Each step's loss and correct count, read back SYNC_EVERY steps at a time.
        let (mut losses, mut hits, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
        let mut lr = p.schedule.lr(epoch, 0);
        let k = cfg.train.accumulate_grad_batches;
        let optimizer_steps = cfg.train.optimizer_steps(prep.train.len());
        let mut group = Accumulation::new(prep.train.len(), cfg.train.batch_size, k);
        for (step, (x, y)) in batches.enumerate() {
            let (x, crit, counted) = mix::apply(mixer.as_mut(), x, &y, &criterion);
            let x = cfg.train.precision.input(x);
            // Schedules count optimizer steps: one per group of k batches.
            let opt_step = step / k;
            lr = p.schedule.lr(epoch, opt_step);
            if let Some(m) = p.schedule.momentum(epoch, opt_step) {
                p.momentum.set(m);
            }
            let share = group.share(step, y.dims()[0]);
            let (grads, out) = backward(&p.model, (x, y.clone()), &crit, frozen, share);
            if let Some(grads) = group.add(&p.model, grads, step, steps) {
                // The step consumes the model; an empty net holds its place meanwhile.
                let model = std::mem::replace(&mut p.model, Net { layers: Vec::new() });
                let model = optimizer_step(model, &mut p.optim, grads, lr, &plan);
                p.model = match p.lookahead.as_mut() {
                    Some(l) => l.after_step(model, epoch * optimizer_steps + opt_step + 1),
                    None => model,
                };
                if let Some(ema) = p.ema.as_mut() {
                    ema.update(&p.model);
                }
            }
            losses.push(out.loss);
            hits.push(correct(out.logits, counted));
            sizes.push(y.dims()[0] as u64);
            if sizes.len() == SYNC_EVERY || step + 1 == steps {
                let read = read_back(take(&mut losses), take(&mut hits));
                let read_losses: Vec<f64> = read.iter().map(|&(l, _)| l).collect();
                if let Some((l, batch)) = guard::first_non_finite(&read_losses, step + 1) {
                    pb.finish_and_clear();
                    return Err(guard::non_finite(l, epoch + 1, batch, cfg));
                }
                for ((l, c), n) in read.into_iter().zip(sizes.drain(..)) {
                    tally.add(l, c, n);
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
        Ok((tally, lr))
    }
}
