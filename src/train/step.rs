//! One training step, the same for training runs, the learning-rate range test and the
//! benchmark: forward, cross-entropy, backward, optimizer step; gradient accumulation calls
//! the backward and the optimizer step apart.

use burn::optim::{GradientsAccumulator, GradientsParams, ModuleOptimizer};
use burn::prelude::*;

use crate::model::Net;
use crate::train::eval::Criterion;
use crate::train::grad_plan::GradPlan;

/// What a step leaves to look at, detached from the graph (reading them is the only sync).
pub struct StepOutput {
    pub loss: Tensor<1>,
    pub logits: Tensor<2>,
}

/// Train `model` on one batch with learning rate `lr`. With `only_layer`, the gradients of
/// that layer alone reach the optimizer (fine-tuning a head on frozen features); `plan`
/// drops frozen parameters' gradients, clips the rest and scales the batch-norm shifts'.
#[allow(clippy::too_many_arguments)]
pub fn train_step(
    model: Net,
    optim: &mut ModuleOptimizer,
    batch: (Tensor<4>, Tensor<1, Int>),
    lr: f64,
    criterion: &Criterion,
    only_layer: Option<usize>,
    plan: &GradPlan,
) -> (Net, StepOutput) {
    let (grads, out) = backward(&model, batch, criterion, only_layer, 1.0);
    (optimizer_step(model, optim, grads, lr, plan), out)
}

/// Forward and backward of one batch: the gradients of its loss times `scale` (a batch's
/// share of an accumulation group; 1 for a step of its own), and the unscaled loss.
pub fn backward(
    model: &Net,
    (x, y): (Tensor<4>, Tensor<1, Int>),
    criterion: &Criterion,
    only_layer: Option<usize>,
    scale: f64,
) -> (GradientsParams, StepOutput) {
    let logits = model.forward(x);
    let loss = criterion.loss(logits.clone(), y);
    // Skipping the product at 1 keeps a plain step's bits as they were.
    let mut grads = match scale == 1.0 {
        true => loss.backward(),
        false => loss.clone().mul_scalar(scale).backward(),
    };
    let grads = match only_layer.and_then(|i| model.layers.get(i)) {
        Some(layer) => GradientsParams::from_module(&mut grads, layer),
        None => GradientsParams::from_grads(grads, model),
    };
    let out = StepOutput {
        loss: loss.detach(),
        logits: logits.detach(),
    };
    (grads, out)
}

/// The optimizer's step on (accumulated) gradients, after `plan` has dropped, clipped and
/// scaled them.
pub fn optimizer_step(
    model: Net,
    optim: &mut ModuleOptimizer,
    mut grads: GradientsParams,
    lr: f64,
    plan: &GradPlan,
) -> Net {
    plan.apply(&mut grads, &model);
    optim.step(lr, model, grads)
}

/// Gradient accumulation's bookkeeping (`train.accumulate_grad_batches`): which batches form
/// a group, and each one's share of the group's images.
pub struct Accumulation {
    images: usize,
    batch_size: usize,
    k: usize,
    sum: GradientsAccumulator<Net>,
}

impl Accumulation {
    pub fn new(images: usize, batch_size: usize, k: usize) -> Self {
        let sum = GradientsAccumulator::new();
        Self {
            images,
            batch_size,
            k,
            sum,
        }
    }

    /// The weight of batch `step` (of `size` images) in its group's loss: its share of the
    /// group's images, so the group's gradient is that of one batch of all of them. Exactly
    /// 1 without accumulation.
    pub fn share(&self, step: usize, size: usize) -> f64 {
        let span = self.k * self.batch_size;
        let first = step / self.k * span;
        let group = (first + span).min(self.images) - first;
        size as f64 / group as f64
    }

    /// Add batch `step`'s gradients; the group's sum when it is complete (after k batches or
    /// the epoch's last of `steps`), to take a step with.
    pub fn add(
        &mut self,
        model: &Net,
        grads: GradientsParams,
        step: usize,
        steps: usize,
    ) -> Option<GradientsParams> {
        if self.k == 1 {
            return Some(grads);
        }
        self.sum.accumulate(model, grads);
        ((step + 1).is_multiple_of(self.k) || step + 1 == steps).then(|| self.sum.grads())
    }
}
