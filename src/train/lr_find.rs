//! The learning-rate range test (Smith 2015; fastai's `lr_find`, Lightning's `lr_find`):
//! train briefly while the lr grows exponentially from `start` to `end`, record the
//! smoothed loss, stop once it explodes, and suggest an lr inside its longest descent
//! (fastai's valley); the steepest descent (Lightning's) and fastai's older min-loss / 10 are
//! kept beside it. A step is an optimizer step: with `train.accumulate_grad_batches`, a
//! group of batches.

use std::sync::Arc;

use burn::prelude::*;

use crate::data::loader::{self, Plan};
use crate::data::transform::Augment;
use crate::error::Result;
use crate::run::{LR_FIND_EXPLODE, LrFinding as Finding, LrPoint as Point};
use crate::seed::{Stream, derive_seed};
use crate::train::config::RunConfig;
use crate::train::eval::{batch_tensors, scalar};
use crate::train::grad_plan::GradPlan;
use crate::train::optim;
use crate::train::prepare::{Prepared, fresh_model};
use crate::train::step::{Accumulation, backward, optimizer_step};

/// Exponential smoothing of the loss (fastai and Lightning use 0.98).
const BETA: f64 = 0.98;
/// Stop once the smoothed loss exceeds this many times its minimum.
const EXPLODE: f64 = LR_FIND_EXPLODE;

#[derive(Debug, Clone, Copy)]
pub struct RangeTest {
    pub start: f64,
    pub end: f64,
    pub steps: usize,
}

/// Index of the steepest descent of `smoothed` against log(lr), skipping the first
/// `skip_begin` points (noisy) and the last `skip_end` (exploding), as Lightning does.
pub fn steepest(
    lrs: &[f64],
    smoothed: &[f64],
    skip_begin: usize,
    skip_end: usize,
) -> Option<usize> {
    let n = lrs.len().min(smoothed.len());
    if n < skip_begin + skip_end + 2 {
        return None;
    }
    let x: Vec<f64> = lrs.iter().map(|l| l.ln()).collect();
    // Central differences inside, one-sided at the ends (numpy.gradient).
    let slope = |i: usize| {
        let (a, b) = if i == 0 {
            (0, 1)
        } else if i == n - 1 {
            (n - 2, n - 1)
        } else {
            (i - 1, i + 1)
        };
        (smoothed[b] - smoothed[a]) / (x[b] - x[a])
    };
    (skip_begin..n - skip_end)
        .filter(|&i| slope(i).is_finite())
        .min_by(|&i, &j| slope(i).total_cmp(&slope(j)))
}

/// `smoothed` without its first `skip_begin` and last `skip_end` points; None when too short.
fn inside(smoothed: &[f64], skip_begin: usize, skip_end: usize) -> Option<&[f64]> {
    smoothed.get(skip_begin..smoothed.len().checked_sub(skip_end)?)
}

/// Index of fastai's "valley" (its default suggestion since fastai 2.5) in `smoothed`,
/// skipping the first `skip_begin` points and the last `skip_end` as fastai does: the
/// longest strictly falling run of the loss (not necessarily contiguous: a subsequence),
/// then 1/3 + 1/6 of the way along it. It sits inside the long descent rather than at its
/// steepest point, which on these nets is often an lr that diverges (README).
pub fn valley(smoothed: &[f64], skip_begin: usize, skip_end: usize) -> Option<usize> {
    let window = inside(smoothed, skip_begin, skip_end)?;
    if window.len() < 2 {
        return None;
    }
    // falling[i]: the longest strictly falling subsequence ending at window[i], by patience
    // sorting on the negated values (O(n log n): `--steps` may be large). `tails[k]` is the
    // smallest negated last value of such a subsequence of length k + 1.
    let mut tails: Vec<f64> = Vec::new();
    let mut falling = Vec::with_capacity(window.len());
    for &v in window {
        if !v.is_finite() {
            falling.push(0);
            continue;
        }
        let k = tails.partition_point(|&t| t < -v);
        match tails.get_mut(k) {
            Some(t) => *t = -v,
            None => tails.push(-v),
        }
        falling.push(k + 1);
    }
    // The first index where the longest run ends; fastai counts its start as the end minus
    // the run's length, and steps a third plus a sixth of the span in from there.
    let longest = *falling.iter().max()?;
    let last = falling.iter().position(|&f| f == longest)?;
    let first = last.saturating_sub(longest);
    let third = (last - first) as f64 / 3.0;
    Some(skip_begin + first + third as usize + (third / 2.0) as usize)
}

/// Index of the lowest finite smoothed loss, in the window `valley` uses (fastai's for its
/// min-loss rule too). The first points count no more: a lucky first batch, debiased,
/// can be the lowest smoothed loss of a run that learns little in its 100 steps, and
/// its lr / 10 (1.2e-8) then trains nothing (README).
pub fn min_loss(smoothed: &[f64], skip_begin: usize, skip_end: usize) -> Option<usize> {
    (inside(smoothed, skip_begin, skip_end)?.iter().enumerate())
        .filter(|(_, v)| v.is_finite())
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| skip_begin + i)
}

pub fn run(cfg: &RunConfig, p: &Prepared, device: &Device, t: RangeTest) -> Result<Finding> {
    let ad = device.clone().autodiff();
    device.seed(cfg.seed);
    ad.seed(cfg.seed);
    let mut model = fresh_model(cfg, p, &ad);
    let plan = GradPlan::new(&model, &p.layers, 0, cfg.optimizer.bn_bias_lr_scale)
        .with_clips(&cfg.optimizer);
    let mut opt = optim::build(&cfg.optimizer);
    let criterion = p.criterion(cfg, &ad);
    let ratio = t.end / t.start;
    let mut points = Vec::with_capacity(t.steps);
    let (mut avg, mut best) = (0.0, f64::INFINITY);
    let mut stopped_early = false;
    let augment = Augment::for_epoch(&cfg.data, cfg.seed, 0);
    let (b, k) = (cfg.train.batch_size, cfg.train.accumulate_grad_batches);
    let batches = p.train.len().div_ceil(b);
    'outer: for pass in 0u64.. {
        let rx = loader::spawn(
            p.train.clone(),
            Arc::clone(&p.norm),
            Plan {
                batch_size: cfg.train.batch_size,
                shuffle_seed: Some(derive_seed(cfg.seed, Stream::LrFindPass { pass })),
                shuffle: true,
                augment,
            },
        );
        // With gradient accumulation each point is one optimizer step over a group of
        // batches, as in training, and its loss the group's mean.
        let mut group = Accumulation::new(p.train.len(), b, k);
        let mut group_loss = 0.0;
        for (i, batch) in rx.into_iter().enumerate() {
            let step = points.len();
            if step == t.steps {
                break 'outer;
            }
            let lr = t.start * ratio.powf(step as f64 / (t.steps - 1).max(1) as f64);
            let xy = batch_tensors(batch, p.train.shape, &ad);
            let share = group.share(i, xy.1.dims()[0]);
            let (grads, out) = backward(&model, xy, &criterion, None, share);
            group_loss += scalar(out.loss) * share;
            let Some(grads) = group.add(&model, grads, i, batches) else {
                continue;
            };
            model = optimizer_step(model, &mut opt, grads, lr, &plan);
            let value = std::mem::take(&mut group_loss);
            avg = BETA * avg + (1.0 - BETA) * value;
            let smoothed = avg / (1.0 - BETA.powi(step as i32 + 1));
            points.push(Point {
                step,
                lr,
                loss: value,
                smoothed,
            });
            if !smoothed.is_finite() || (step > 0 && smoothed > EXPLODE * best) {
                stopped_early = true;
                break 'outer;
            }
            best = best.min(smoothed);
        }
    }
    let lrs: Vec<f64> = points.iter().map(|p| p.lr).collect();
    let sm: Vec<f64> = points.iter().map(|p| p.smoothed).collect();
    let skip_begin = (t.steps / 10).min(10);
    // fastai's window for both of its rules: the first tenth and the last 5 points left out.
    let suggested_lr = valley(&sm, t.steps / 10, 5).map(|i| lrs[i]);
    let steepest_lr = steepest(&lrs, &sm, skip_begin, 1).map(|i| lrs[i]);
    let min_loss_lr_over_10 = min_loss(&sm, t.steps / 10, 5).map(|i| lrs[i] / 10.0);
    Ok(Finding {
        points,
        suggested_lr,
        steepest_lr,
        min_loss_lr_over_10,
        stopped_early,
    })
}
