//! The moving average's update (`train.ema_decay`) of one flat tensor as one pass over its
//! values, in place: `average + (weights - average) * weight`. As Burn tensor operations it
//! was three passes and two fresh tensors per parameter after every step, 15% of an epoch
//! of vgg-blocks at batch 16 (9.5M weights). Each value goes through the tensor operations'
//! f32 arithmetic in their order, with no fused multiply-add, so the average has their bits
//! (test: `src/train/ema.rs`).

use burn::backend::flex::FlexTensor;
use burn::backend::{Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;

use super::step_parts::in_parts;

#[backend_extension(Flex)]
pub trait CpuAverage: Backend {
    /// `average` moved toward `weights` by `weight` (1 - decay).
    fn cpu_move_average(
        average: FloatTensor<Self>,
        weights: FloatTensor<Self>,
        weight: f32,
    ) -> FloatTensor<Self>;
}

/// `average + (weights - average) * weight`; both f32 on flex (`super::on_flex`), one shape.
pub fn move_toward(average: Tensor<1>, weights: Tensor<1>, weight: f32) -> Tensor<1> {
    Tensor::from_dispatch(<burn::backend::Dispatch as CpuAverage>::cpu_move_average(
        average.into_dispatch(),
        weights.into_dispatch(),
        weight,
    ))
}

impl CpuAverage for Flex {
    fn cpu_move_average(average: FlexTensor, weights: FlexTensor, weight: f32) -> FlexTensor {
        let update = |a: &mut [f32], w: &[f32], _: [&mut [f32]; 0]| move_part(a, w, weight);
        in_parts(average, weights, [], update).0
    }
}

wide! {
    fn move_part(average: &mut [f32], weights: &[f32], weight: f32) {
        for (a, &w) in average.iter_mut().zip(weights) {
            *a = *a + (w - *a) * weight;
        }
    }
}
