//! Which gradients reach the optimizer, and how scaled: the whitening layer's filters are
//! never trained and its bias only for its first epochs; a batch norm with `weight = false`
//! keeps its scale at 1; all gradients together may be clipped to a norm (`grad_clip`), or
//! each value to a bound (`grad_clip_value`);
//! batch-norm shifts may learn `bn_bias_lr_scale` times faster.
//!
//! A parameter without a gradient is left alone by the optimizer (no step, no weight decay),
//! as PyTorch's SGD skips a parameter with `requires_grad = False`. Scaling a gradient by f
//! before SGD (with momentum, Nesterov, coupled weight decay) is exactly airbench's separate
//! parameter group with lr * f and weight decay / f: every term of the update is linear.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::nn::BatchNorm;
use burn::optim::GradientsParams;
use burn::prelude::*;

use crate::model::net::{Layer, Net};
use crate::model::spec::LayerSpec;
use crate::train::optim::OptimizerConfig;

#[derive(Debug, Clone, Default)]
pub struct GradPlan {
    /// (parameter, rank) whose gradient is dropped.
    frozen: Vec<(ParamId, usize)>,
    /// Batch-norm shifts, whose gradient is multiplied by `bias_scale`.
    bn_biases: Vec<ParamId>,
    bias_scale: f64,
    /// Largest norm of all gradients together; 0 = no clipping.
    clip_norm: f64,
    /// Largest magnitude of any gradient value; 0 = no clipping.
    clip_value: f64,
}

impl GradPlan {
    /// Every gradient as it is.
    pub fn none() -> Self {
        Self::default()
    }

    /// The plan for `epoch` (0-based) of training `model`, built from `layers`.
    pub fn new(model: &Net, layers: &[LayerSpec], epoch: usize, bias_scale: f64) -> Self {
        let mut plan = GradPlan {
            bias_scale,
            ..Default::default()
        };
        for (layer, spec) in model.layers.iter().zip(layers) {
            match (layer, spec) {
                (Layer::Conv(c), LayerSpec::Whiten { bias_epochs, .. }) => {
                    plan.frozen.push((c.weight.id, 4));
                    if let Some(b) = &c.bias
                        && epoch >= *bias_epochs
                    {
                        plan.frozen.push((b.id, 1));
                    }
                }
                (Layer::Bn(bn), LayerSpec::Bn { weight, .. }) => {
                    if !weight {
                        plan.frozen.push((bn.gamma.id, 1));
                    }
                    plan.bn_biases.push(bn.beta.id);
                }
                (Layer::Residual(r), _) => {
                    let shortcut = r.shortcut.as_ref().map(|s| &s.bn);
                    let bns: [Option<&BatchNorm>; 3] = [Some(&r.bn1), Some(&r.bn2), shortcut];
                    plan.bn_biases
                        .extend(bns.into_iter().flatten().map(|b| b.beta.id));
                }
                _ => {}
            }
        }
        if bias_scale == 1.0 {
            plan.bn_biases.clear();
        }
        plan
    }

    /// The optimizer config's clip: the norm of all trained gradients together to
    /// `grad_clip`, or every trained gradient value to [-grad_clip_value, grad_clip_value]
    /// (0: off; the config allows one of the two).
    pub fn with_clips(mut self, o: &OptimizerConfig) -> Self {
        self.clip_norm = o.grad_clip;
        self.clip_value = o.grad_clip_value;
        self
    }

    /// Drop the frozen gradients, clip the rest to the plan's norm or bound, and scale the
    /// batch-norm shifts' (after clipping: the scale stands for a larger learning rate, as in
    /// airbench, not for a larger gradient). `model` is the net the gradients belong to.
    pub fn apply(&self, grads: &mut GradientsParams, model: &Net) {
        for &(id, rank) in &self.frozen {
            match rank {
                4 => drop(grads.remove::<4>(id)),
                _ => drop(grads.remove::<1>(id)),
            }
        }
        if self.clip_norm > 0.0 {
            clip_global_norm(grads, model, self.clip_norm);
        }
        if self.clip_value > 0.0 {
            // PyTorch's clip_grad_value_: each value clamped, no norm involved.
            let bound = self.clip_value;
            model.visit(&mut ClampAll { grads, bound });
        }
        for &id in &self.bn_biases {
            if let Some(g) = grads.remove::<1>(id) {
                grads.register::<1>(id, g * self.bias_scale);
            }
        }
    }
}

/// PyTorch's `clip_grad_norm_`: the norm of every gradient present, taken as one vector; when
/// it exceeds `max_norm`, every gradient is scaled by max_norm / (norm + 1e-6). The factor
/// stays a tensor on the device, so clipping costs no host sync.
fn clip_global_norm(grads: &mut GradientsParams, model: &Net, max_norm: f64) {
    let mut sum = SquaredSum { grads, total: None };
    model.visit(&mut sum);
    let Some(total) = sum.total else { return };
    let factor = (total.sqrt().add_scalar(1e-6).recip() * max_norm).clamp_max(1.0);
    model.visit(&mut ScaleAll { grads, factor });
}

/// Clamps every gradient present to [-bound, bound].
struct ClampAll<'a> {
    grads: &'a mut GradientsParams,
    bound: f64,
}

impl ModuleVisitor for ClampAll<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let clamped = g.clamp(-self.bound, self.bound);
            self.grads.register::<D>(param.id, clamped);
        }
    }
}

struct SquaredSum<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredSum<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s = g.square().sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + s,
                None => s,
            });
        }
    }
}

struct ScaleAll<'a> {
    grads: &'a mut GradientsParams,
    factor: Tensor<1>,
}

impl ModuleVisitor for ScaleAll<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let factor = self.factor.clone().reshape([1; D]);
            self.grads.register::<D>(param.id, g * factor);
        }
    }
}
