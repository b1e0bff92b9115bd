//! y = x * scale + shift with one factor pair per plane (one channel of one image) or per
//! channel, as one pass, with its backward step (dx = dy * scale; the factors get no
//! gradient). Two layers use it: channel dropout (`nn.Dropout2d`: per-plane factors 0 or
//! 1 / keep, no shift) and batch norm in inference mode (per-channel factors from the running
//! statistics). Burn computes both as broadcasts of [n, c, 1, 1] or [c, 1, 1] tensors over
//! [n, c, h, w], walking strided indices element by element, several times for batch norm.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;

use super::{channel_planes, dims, map_planes, tensor, values};

#[backend_extension(Flex, Autodiff)]
pub trait CpuPlaneAffine: Backend {
    /// x [n, c, ...] times `scale` plus `shift`, both flat with n * c (per plane) or c (per
    /// channel) values; plane r uses factor r % len. No gradient flows to the factors.
    fn cpu_plane_affine(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// The operation on tensors already known to be f32 on flex (`super::on_flex`).
pub fn apply<const D: usize>(x: Tensor<D>, scale: Tensor<1>, shift: Tensor<1>) -> Tensor<D> {
    Tensor::from_dispatch(
        <burn::backend::Dispatch as CpuPlaneAffine>::cpu_plane_affine(
            x.into_dispatch(),
            scale.detach().into_dispatch(),
            shift.detach().into_dispatch(),
        ),
    )
}

/// y = x * scale + shift for every plane r, with factors scale[r % len] and shift[r % len]
/// (`None`: no shift). Also batch norm's training pass, with per-channel factors.
pub(crate) fn scale_shift(
    xs: &[f32],
    plane: usize,
    scale: &[f32],
    shift: Option<&[f32]>,
) -> Vec<f32> {
    map_planes(xs, xs, plane, |row| {
        let k = scale[row % scale.len()];
        let c = shift.map_or(0.0, |b| b[row % b.len()]);
        move |v, _| v * k + c
    })
}

fn affine(x: &FlexTensor, scale: &FlexTensor, shift: Option<&FlexTensor>) -> FlexTensor {
    let (_, plane) = channel_planes(x);
    let shift = shift.map(values);
    let y = scale_shift(&values(x), plane, &values(scale), shift.as_deref());
    tensor(y, dims(x))
}

impl CpuPlaneAffine for Flex {
    fn cpu_plane_affine(x: FlexTensor, scale: FlexTensor, shift: FlexTensor) -> FlexTensor {
        affine(&x, &scale, Some(&shift))
    }
}

#[derive(Debug)]
struct PlaneAffineBackward;

impl Backward<Flex, 1> for PlaneAffineBackward {
    /// The scale factors: the gradient is scaled by the same ones.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, affine(&dy, &ops.state, None));
        }
    }
}

impl<C: CheckpointStrategy> CpuPlaneAffine for Autodiff<Flex, C> {
    fn cpu_plane_affine(
        x: FloatTensor<Self>,
        scale: FloatTensor<Self>,
        shift: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (xp, xn) = x.into_parts();
        let (ap, _) = scale.into_parts();
        let (bp, _) = shift.into_parts();
        let y = affine(&xp, &ap, Some(&bp));
        match PlaneAffineBackward
            .prepare::<C>([xn])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(ap, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}
