//! Batch norm's training pass on Burn's CubeCL backend through convlab's kernels
//! (`kernels.rs`), with its own backward step: a Burn backend extension implemented for
//! `CubeBackend` (the kernels), for `Fusion` (generated: the call joins the fusion queue as one
//! opaque operation) and for `Autodiff` (the backward step below).
//!
//! Off unless `CONVLAB_CUBE_BATCH_NORM=cube`: on an H100 (2026-11-25) the fast CIFAR-10 recipe
//! diverged with these kernels (a NaN loss within its first 16 batches) and trained to 90.6%
//! with Burn's batch norm, while a two-layer net trained with them to the CPU's accuracy. The
//! cause is not found yet (bench/RESULTS.md, "GPU: the first session on one H100"), so Burn's
//! layer is the default.

use std::sync::OnceLock;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::{
    Autodiff, AutodiffBackend, Backend, Cube, DispatchDevice, backend_extension,
    tensor::FloatTensor,
};
use burn::nn::BatchNorm;
use burn::tensor::{DType, Tensor};
use burn_cubecl::CubeBackend;

pub use super::geometry::cap_threads;
use super::kernels;

#[backend_extension(Cube, Fusion, Autodiff)]
pub trait CubeBatchNorm: Backend {
    /// Training-mode batch norm over dimension 1: (output, batch mean, biased batch variance).
    #[fusion(meta = |x, gamma, _beta, _epsilon| (x.clone(), gamma.clone(), gamma.clone()))]
    fn cube_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// The backward step's kernels, called from inside the autodiff graph (never differentiated).
#[backend_extension(Cube, Fusion)]
pub trait CubeBatchNormGrad: Backend {
    /// (dx, dgamma, dbeta) from dy, the input, gamma and the batch statistics.
    #[fusion(meta = |_dy, x, gamma, _mean, _var, _epsilon| (x.clone(), gamma.clone(), gamma.clone()))]
    fn cube_batch_norm_backward(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl CubeBatchNorm for CubeBackend {
    fn cube_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        kernels::batch_norm_train(x, gamma, beta, epsilon)
    }
}

impl CubeBatchNormGrad for CubeBackend {
    fn cube_batch_norm_backward(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        var: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        kernels::batch_norm_backward(dy, x, gamma, mean, var, epsilon)
    }
}

#[derive(Debug)]
struct BatchNormBackward;

impl Backward<Cube, 3> for BatchNormBackward {
    /// Input, gamma, batch mean, batch variance, epsilon.
    type State = (
        FloatTensor<Cube>,
        FloatTensor<Cube>,
        FloatTensor<Cube>,
        FloatTensor<Cube>,
        f64,
    );

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = grads.consume::<Cube>(&ops.node);
        let (x, gamma, mean, var, eps) = ops.state;
        let (dx, dgamma, dbeta) = Cube::cube_batch_norm_backward(dy, x, gamma, mean, var, eps);
        if let Some(node) = node_x {
            grads.register::<Cube>(node.id, dx);
        }
        if let Some(node) = node_gamma {
            grads.register::<Cube>(node.id, dgamma);
        }
        if let Some(node) = node_beta {
            grads.register::<Cube>(node.id, dbeta);
        }
    }
}

impl<C: CheckpointStrategy> CubeBatchNorm for Autodiff<Cube, C> {
    fn cube_batch_norm_train(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (xp, xn) = x.into_parts();
        let (gp, gn) = gamma.into_parts();
        let (bp, bn) = beta.into_parts();
        let (y, mean, var) = Cube::cube_batch_norm_train(xp.clone(), gp.clone(), bp, epsilon);
        let out = match BatchNormBackward
            .prepare::<C>([xn, gn, bn])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((xp, gp, mean.clone(), var.clone(), epsilon), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        };
        (out, Self::from_inner(mean), Self::from_inner(var))
    }
}

/// Whether training-mode batch norm of `x` goes through these kernels: an f32 tensor with a
/// gradient graph on a CubeCL device, when `CONVLAB_CUBE_BATCH_NORM=cube` (off by default).
pub fn applies<const D: usize>(x: &Tensor<D>) -> bool {
    static OWN: OnceLock<bool> = OnceLock::new();
    let own =
        *OWN.get_or_init(|| std::env::var("CONVLAB_CUBE_BATCH_NORM").is_ok_and(|v| v == "cube"));
    own && D >= 2
        && x.dtype() == DType::F32
        && x.device().is_autodiff()
        && matches!(
            x.device().as_dispatch().clone().inner(),
            DispatchDevice::Cube(_)
        )
}

/// Training-mode `BatchNorm::forward` through the kernels: (output, batch mean, batch
/// variance); the caller updates the running statistics.
pub fn forward_train<const D: usize>(
    bn: &BatchNorm,
    x: Tensor<D>,
) -> (Tensor<D>, Tensor<1>, Tensor<1>) {
    let (out, mean, var) = <burn::backend::Dispatch as CubeBatchNorm>::cube_batch_norm_train(
        x.into_dispatch(),
        bn.gamma.val().into_dispatch(),
        bn.beta.val().into_dispatch(),
        bn.epsilon,
    );
    (
        Tensor::from_dispatch(out),
        Tensor::from_dispatch(mean),
        Tensor::from_dispatch(var),
    )
}
