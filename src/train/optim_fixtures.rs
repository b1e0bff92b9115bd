//! What the optimizer bit tests (adam.rs, sgd.rs, rmsprop_tests.rs) share: parameter and
//! gradient values, and the bits of tensors and recorded states.

use burn::optim::{RecordState, StateSink, StateSource};
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
/// A state written as a resume file records it, then read back (on flex) as `S`: the same
/// type, or ours from Burn's optimizer's record under the same names.
pub fn reread<A: RecordState, S: RecordState>(state: &A) -> S {
    let mut sink = StateSink::default();
    state.state_flatten("p", &mut sink);
    let mut src = StateSource::new(sink.scalars.into_iter().collect());
    for (name, data) in sink.tensors {
        src.insert_tensor(name, data);
    }
    S::state_unflatten("p", &mut src, &Device::flex()).expect("the state reads back")
}

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
