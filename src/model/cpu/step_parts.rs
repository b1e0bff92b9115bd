//! What the optimizers' one-pass steps (`adam.rs`, `adam_family.rs`, `sgd.rs`, `rmsprop.rs`) and the moving
//! average's (`average.rs`) share: a parallel
//! pass over fixed parts of a parameter, its gradient and its state tensors, in place.

use burn::backend::flex::FlexTensor;
use rayon::prelude::*;

/// Values per parallel work item. Each value is updated on its own, so the bits are the same
/// whatever the thread count.
const PART: usize = 1 << 14;

/// `t` as a tensor whose storage is exactly its values in row-major order (a copy otherwise).
fn dense(t: FlexTensor) -> FlexTensor {
    let whole = t.as_slice::<f32>().map(<[f32]>::len) == Some(t.storage::<f32>().len());
    if whole { t } else { t.to_contiguous() }
}

/// Runs `update(param, grad, state)` on matching parts of the parameter, its gradient and the
/// `S` state tensors (f32, one shape), in parallel; returns the parameter and state tensors.
/// In place where a tensor is not shared (the usual case); copied first otherwise.
pub(super) fn in_parts<const S: usize>(
    param: FlexTensor,
    grad: FlexTensor,
    state: [FlexTensor; S],
    update: impl Fn(&mut [f32], &[f32], [&mut [f32]; S]) + Sync + Send,
) -> (FlexTensor, [FlexTensor; S]) {
    let (mut p, g, mut state) = (dense(param), dense(grad), state.map(dense));
    let (ps, gs) = (p.storage_mut::<f32>(), g.storage::<f32>());
    let slices = state.each_mut().map(|t| t.storage_mut::<f32>());
    assert!(gs.len() == ps.len() && slices.iter().all(|s| s.len() == ps.len()));
    let mut state_parts = slices.map(|s| s.chunks_mut(PART));
    let items: Vec<_> = ps
        .chunks_mut(PART)
        .zip(gs.chunks(PART))
        .map(|(p, g)| (p, g, state_parts.each_mut().map(|it| it.next().unwrap())))
        .collect();
    items
        .into_par_iter()
        .for_each(|(p, g, state)| update(p, g, state));
    (p, state)
}
