//! One training step, the same for training runs, the learning-rate range test and the
//! benchmark: forward, cross-entropy, backward, optimizer step.

use burn::optim::{GradientsParams, ModuleOptimizer};
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
    (x, y): (Tensor<4>, Tensor<1, Int>),
    lr: f64,
    criterion: &Criterion,
    only_layer: Option<usize>,
    plan: &GradPlan,
) -> (Net, StepOutput) {
    let logits = model.forward(x);
    let loss = criterion.loss(logits.clone(), y);
    let mut grads = loss.backward();
    let mut grads = match only_layer.and_then(|i| model.layers.get(i)) {
        Some(layer) => GradientsParams::from_module(&mut grads, layer),
        None => GradientsParams::from_grads(grads, &model),
    };
    plan.apply(&mut grads, &model);
    let model = optim.step(lr, model, grads);
    (
        model,
        StepOutput {
            loss: loss.detach(),
            logits: logits.detach(),
        },
    )
}
