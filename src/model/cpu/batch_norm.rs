//! Batch norm's training pass as one operation with its own backward step. Burn's default
//! (used by flex) builds the statistics and the gradient from a dozen tensor operations, each
//! transposing the activation to channel-major first; here each direction reads the data from
//! memory about once (`batch_norm_passes.rs`: blocks of channels, their sums, then their
//! outputs while the block is still in cache). Same arithmetic as Burn's (biased batch
//! variance); the running variance is updated with the unbiased one, as PyTorch's.

use burn::backend::AutodiffBackend;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::BatchNorm;
use burn::tensor::Tensor;

use super::batch_norm_passes as passes;
use super::plane_affine;
use super::{channel_planes, dims, on_flex, tensor, values};

#[backend_extension(Flex, Autodiff)]
pub trait CpuBatchNorm: Backend {
    /// Training-mode batch norm over dimension 1: (output, batch mean, biased batch variance).
    fn cpu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// `BatchNorm::forward`, with the training and inference passes through one-op versions on
/// flex (inference: on a device without autodiff, as evaluation and serving run), and the
/// training pass through convlab's CubeCL kernels on the CubeCL backend (`model::cube`).
/// Every training pass updates the running variance as PyTorch does (see
/// [`update_running_stats`]), whichever path computes it.
pub fn forward<const D: usize>(bn: &BatchNorm, x: Tensor<D>) -> Tensor<D> {
    let (dtype, own) = (x.dtype(), bn.gamma.val().dtype());
    if dtype != own {
        // bf16 activations: normalized in f32 with the f32 statistics (as autocast does).
        return forward(bn, x.cast(own)).cast(dtype);
    }
    // As Burn's `BatchNorm::forward`: a frozen layer in a training graph runs as in inference.
    let training = bn.training.is_enabled() && x.device().is_autodiff();
    let per_channel = x.shape().num_elements() / x.dims().get(1).copied().unwrap_or(1).max(1);
    #[cfg(any(feature = "cuda", feature = "cubecl-cpu"))]
    if training && crate::model::cube::batch_norm::applies(&x) {
        let (out, mean, var) = crate::model::cube::batch_norm::forward_train(bn, x);
        update_running_stats(bn, mean, var, per_channel);
        return out;
    }
    let flex = D >= 2 && on_flex(&x);
    if !training {
        if flex && !x.device().is_autodiff() {
            // Inference: one pass of x * scale + shift per channel, from the running statistics.
            let scale = bn.gamma.val() / (bn.running_var.value() + bn.epsilon).sqrt();
            let shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
            return plane_affine::apply(x, scale, shift);
        }
        // Frozen in a training graph: Burn's, so gamma and beta still get their gradients.
        return bn.forward(x);
    }
    if !flex {
        let r =
            burn::tensor::module::batch_norm_train(x, bn.gamma.val(), bn.beta.val(), bn.epsilon);
        update_running_stats(bn, r.mean, r.variance, per_channel);
        return r.output;
    }
    let (out, mean, var) = <burn::backend::Dispatch as CpuBatchNorm>::cpu_batch_norm_train(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
    );
    update_running_stats(
        bn,
        Tensor::<1>::from_dispatch(mean),
        Tensor::<1>::from_dispatch(var),
        per_channel,
    );
    Tensor::from_dispatch(out)
}

/// The running statistics from one training batch's mean and biased variance over `count`
/// values per channel. As PyTorch's `BatchNorm`, the running variance takes the unbiased
/// variance (times count / (count - 1)); Burn's own layer takes the biased one, which leaves
/// evaluation-mode outputs off PyTorch's, most at small batches of flat features (batch 32:
/// the variance 3% low). The normalization in the training pass itself stays biased in both.
fn update_running_stats(bn: &BatchNorm, mean: Tensor<1>, var: Tensor<1>, count: usize) {
    let m = bn.momentum;
    let unbias = if count > 1 {
        count as f64 / (count - 1) as f64
    } else {
        1.0
    };
    let running_mean = bn
        .running_mean
        .value_sync()
        .mul_scalar(1.0 - m)
        .add(mean.detach().mul_scalar(m));
    let running_var = bn
        .running_var
        .value_sync()
        .mul_scalar(1.0 - m)
        .add(var.detach().mul_scalar(m * unbias));
    bn.running_mean.update(running_mean.detach());
    bn.running_var.update(running_var.detach());
}

fn train_forward(
    x: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
    eps: f64,
) -> (FlexTensor, Vec<f32>, Vec<f32>) {
    let (xs, g, b) = (values(x), values(gamma), values(beta));
    let (y, mean, var) = passes::forward(&xs, channel_planes(x), &g, &b, eps as f32);
    (tensor(y, dims(x)), mean, var)
}

impl CpuBatchNorm for Flex {
    fn cpu_batch_norm_train(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let (y, mean, var) = train_forward(&x, &gamma, &beta, epsilon);
        let c = mean.len();
        (y, tensor(mean, [c]), tensor(var, [c]))
    }
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Flex, 3> for BatchNormBackward {
    /// Input, gamma, batch mean, batch variance, epsilon.
    type State = (FlexTensor, FlexTensor, Vec<f32>, Vec<f32>, f64);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, gamma, mean, var, eps) = ops.state;
        let (channels, plane) = channel_planes(&x);
        let (xs, g, gs) = (values(&x), values(&gamma), values(&dy));
        let stats = [&mean[..], &var[..]];
        let (dx, dgamma, dbeta) = passes::backward(
            [&xs, &gs],
            (channels, plane),
            &g,
            stats,
            eps as f32,
            node_x.is_some(),
        );
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(dx, dims(&x)));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(dgamma, [channels]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(dbeta, [channels]));
        }
    }
}

impl<C: CheckpointStrategy> CpuBatchNorm for Autodiff<Flex, C> {
    fn cpu_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (xp, xn) = x.into_parts();
        let (gp, gn) = gamma.into_parts();
        let (bp, bn) = beta.into_parts();
        let (y, mean, var) = train_forward(&xp, &gp, &bp, epsilon);
        let c = mean.len();
        let stats = (tensor(mean.clone(), [c]), tensor(var.clone(), [c]));
        let out = match BatchNormBackward
            .prepare::<C>([xn, gn, bn])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((xp, gp, mean, var, epsilon), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (out, Self::from_inner(stats.0), Self::from_inner(stats.1))
    }
}
