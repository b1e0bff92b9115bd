//! Hand-written CPU operations for the layers where Burn's flex backend was slow on the seed
//! notebooks' nets (profiles in bench/README.md): convolution (im2col + GEMM), batch norm's
//! training pass, PReLU and max pooling, each with its own backward pass.
//! Each is a Burn backend extension implemented for `Flex` and `Autodiff<Flex>`; on every
//! other device the layers keep Burn's own operations.
//!
//! Parallel work is split in fixed chunks and reduced in a fixed order, so results do not
//! depend on the thread count (runs stay byte-reproducible under `sweep --jobs`).

pub mod batch_norm;
pub mod conv;
mod conv_kernels;
pub mod max_pool;
pub mod prelu;

use std::borrow::Cow;

use burn::backend::DispatchDevice;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Shape, Tensor, TensorData};

/// Whether a tensor is f32 on the flex CPU backend (with or without autodiff): the tensors
/// these operations take.
pub fn on_flex<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32
        && matches!(
            x.device().as_dispatch().clone().inner(),
            DispatchDevice::Flex(_)
        )
}

/// The tensor's values in row-major order, borrowed when it is already contiguous.
pub(crate) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        // Only f32 tensors are routed here (`on_flex`), so the copy is an f32 slice.
        _ => Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("f32 tensor")
                .to_vec(),
        ),
    }
}

pub(crate) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

pub(crate) fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

/// (channels, elements per channel plane) of an [n, c, ...] tensor: its data is n * c planes
/// in a row, and plane r belongs to channel r % c. At least 1 per plane, so it can chunk.
pub(crate) fn channel_planes(t: &FlexTensor) -> (usize, usize) {
    let d = dims(t);
    (d[1], d[2..].iter().product::<usize>().max(1))
}
