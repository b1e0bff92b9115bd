//! What the optimizer bit tests (adam.rs, sgd.rs, rmsprop_tests.rs) share: parameter and
//! gradient values, and the bits of tensors and recorded states.

use burn::optim::{RecordState, StateSink};
use burn::tensor::{Device, Tensor, TensorData};

/// 3 x 12,000 values from 1e-9 to ~10 in magnitude, both signs, a few exact zeros, on flex:
/// three parts of the CPU steps' parallel pass (16K values each), the last one short.
pub fn values(seed: u32) -> Tensor<2> {
    let v: Vec<f32> = (0..3 * 12_000u32)
        .map(|i| {
            let k = i.wrapping_mul(2654435761).wrapping_add(seed);
            let mag = 10f32.powi((k >> 8) as i32 % 11 - 9) * ((k >> 4) % 16) as f32 / 15.0;
            if k % 2 == 0 { mag } else { -mag }
        })
        .collect();
    Tensor::from_data(TensorData::new(v, [3, 12_000]), &Device::flex())
}

pub fn data_bits(data: TensorData) -> Vec<u32> {
    data.as_slice::<f32>()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

pub fn bits<const D: usize>(t: &Tensor<D>) -> Vec<u32> {
    data_bits(t.to_data())
}

/// A state as a resume file stores it: (tensor name, bits) and the scalars, printed.
pub fn recorded<S: RecordState>(state: &S) -> (Vec<(String, Vec<u32>)>, String) {
    let mut sink = StateSink::default();
    state.state_flatten("p", &mut sink);
    let tensors = sink
        .tensors
        .into_iter()
        .map(|(n, d)| (n, data_bits(d)))
        .collect();
    (tensors, format!("{:?}", sink.scalars))
}
