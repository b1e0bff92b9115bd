//! Which gradients reach the optimizer, and how scaled: the whitening layer's filters are
//! never trained and its bias only for its first epochs; a batch norm with `weight = false`
//! keeps its scale at 1; batch-norm shifts may learn `bn_bias_lr_scale` times faster.
//!
//! A parameter without a gradient is left alone by the optimizer (no step, no weight decay),
//! as PyTorch's SGD skips a parameter with `requires_grad = False`. Scaling a gradient by f
//! before SGD (with momentum, Nesterov, coupled weight decay) is exactly airbench's separate
//! parameter group with lr * f and weight decay / f: every term of the update is linear.

use burn::module::ParamId;
use burn::nn::BatchNorm;
use burn::optim::GradientsParams;

use crate::model::net::{Layer, Net};
use crate::model::spec::LayerSpec;

#[derive(Debug, Clone, Default)]
pub struct GradPlan {
    /// (parameter, rank) whose gradient is dropped.
    frozen: Vec<(ParamId, usize)>,
    /// Batch-norm shifts, whose gradient is multiplied by `bias_scale`.
    bn_biases: Vec<ParamId>,
    bias_scale: f64,
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

    /// Drop the frozen gradients and scale the batch-norm shifts'.
    pub fn apply(&self, grads: &mut GradientsParams) {
        for &(id, rank) in &self.frozen {
            match rank {
                4 => drop(grads.remove::<4>(id)),
                _ => drop(grads.remove::<1>(id)),
            }
        }
        for &id in &self.bn_biases {
            if let Some(g) = grads.remove::<1>(id) {
                grads.register::<1>(id, g * self.bias_scale);
            }
        }
    }
}
