//! What the optimizer bit tests (adam.rs, sgd.rs, rmsprop_tests.rs, adadelta.rs) share:
//! parameter and gradient values, the bits of tensors and recorded states, and the five-step
//! comparison of two steps (ours against Burn's, or the CPU pass against tensor operations).

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

/// Five steps of `ours` and of `reference` from the same start, the lr `lr0 / (1 + step)`;
/// after each, the parameter and the recorded state are equal (and not empty), and ours,
/// rebuilt from the reference's record (for Burn's optimizers, an older resume file), takes
/// the next step to the same bits. Returns ours' last recorded state.
pub fn assert_same_steps<S: RecordState, T: RecordState>(
    lr0: f64,
    ours: impl Fn(f64, Tensor<2>, Tensor<2>, Option<S>) -> (Tensor<2>, Option<S>),
    reference: impl Fn(f64, Tensor<2>, Tensor<2>, Option<T>) -> (Tensor<2>, Option<T>),
) -> (Vec<(String, Vec<u32>)>, String) {
    let (mut p_ours, mut p_ref) = (values(1), values(1));
    let (mut s_ours, mut s_ref) = (None, None);
    let mut last = Default::default();
    for step in 0..5u32 {
        let grad = values(100 + step);
        let lr = lr0 / (1 + step) as f64;
        (p_ours, s_ours) = ours(lr, p_ours, grad.clone(), s_ours);
        (p_ref, s_ref) = reference(lr, p_ref, grad, s_ref);
        assert_eq!(bits(&p_ours), bits(&p_ref), "step {step}");
        let (ro, rr) = (
            recorded(s_ours.as_ref().unwrap()),
            recorded(s_ref.as_ref().unwrap()),
        );
        assert_eq!(ro, rr, "state after step {step}");
        assert!(!ro.0.is_empty());
        s_ours = Some(reread(s_ref.as_ref().unwrap()));
        last = ro;
    }
    assert_ne!(bits(&p_ours), bits(&values(1)));
    last
}
