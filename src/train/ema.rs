//! An exponential moving average of the weights, kept beside the training weights and used
//! for evaluation and the checkpoints: PyTorch's
//! `AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)` with
//! `update_parameters(model)` after every optimizer step (timm's ModelEma, Keras'
//! `use_ema=True` likewise). The first update copies the weights; each later one moves the
//! average toward them, `avg += (1 - decay) * (w - avg)` (`torch.lerp`'s form). Batch-norm
//! running statistics are averaged with the weights (averaged.rs). Training itself never
//! sees the average.

use burn::prelude::*;

use crate::model::Net;
use crate::model::cpu::{average, on_flex};
use crate::train::averaged::{FlatTensors, Install};

pub struct Ema {
    decay: f64,
    /// Updates so far; the first copies.
    updates: usize,
    average: FlatTensors,
}

impl Ema {
    /// `decay` = 0 means off (None). Nothing is read before the first update: Burn draws
    /// some parameters when first read, so reading them before the first training step
    /// would give a seed other starting weights with the average on than off, and paired
    /// runs (ema on / off, same seed) would no longer start alike.
    pub fn new(decay: f64) -> Option<Self> {
        (decay > 0.0).then(|| Self {
            decay,
            updates: 0,
            average: FlatTensors(Vec::new()),
        })
    }

    /// After an optimizer step: the average moves toward the weights.
    pub fn update(&mut self, model: &Net) {
        let now = inner(FlatTensors::of(model));
        if self.updates == 0 {
            self.average = now;
        } else {
            let weight = 1.0 - self.decay;
            let average = std::mem::take(&mut self.average.0);
            self.average.0 = (average.into_iter().zip(now.0))
                .map(|(avg, w)| move_toward(avg, w, weight))
                .collect();
        }
        self.updates += 1;
    }

    /// The net with the averaged weights and statistics, for evaluation (no autodiff);
    /// before the first update, the weights themselves (as AveragedModel's copy).
    pub fn weights(&self, model: &Net) -> Net {
        if self.updates == 0 {
            return model.valid();
        }
        // valid() first: it gives the copy running statistics of its own, which the mapper
        // then overwrites in place (mapping a clone would overwrite the training net's).
        model.valid().map(&mut Install {
            values: &self.average.0,
            next: 0,
        })
    }

    /// The average as little-endian f32s (for the resume file).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.average.to_bytes()
    }

    /// Replace the average by one `to_bytes` wrote for `model`'s net (after at least one
    /// step; `model` gives the shapes, and its weights are loaded, so reading draws nothing).
    pub fn restore(&mut self, model: &Net, bytes: &[u8]) -> std::result::Result<(), String> {
        self.average = inner(FlatTensors::of(model));
        self.average
            .restore(bytes, "weight average (train.ema_decay)")?;
        self.updates = self.updates.max(1);
        Ok(())
    }
}

/// A run too short for its decay: after its `steps` optimizer steps the average would still
/// hold more than 5% of the first step's weights (decay^(steps - 1)), as PyTorch's and Keras'
/// averages would (neither warms the decay up). The warning names the share and a decay
/// that fits.
pub fn short_run_warning(decay: f64, steps: usize) -> Option<String> {
    if decay <= 0.0 {
        return None;
    }
    let updates_after_copy = steps.saturating_sub(1).min(i32::MAX as usize) as i32;
    let first = decay.powi(updates_after_copy);
    if first <= 0.05 {
        return None;
    }
    // The largest of 0.999, 0.99, 0.9 that leaves at most 5%, or 0.5.
    let fits = [0.999, 0.99, 0.9]
        .into_iter()
        .find(|d: &f64| d.powi(updates_after_copy) <= 0.05)
        .unwrap_or(0.5);
    Some(format!(
        "train.ema_decay = {decay} averages over about {:.0} steps and this run takes {steps}: {:.0}% of the final average is still the first step's weights; {fits} suits a run this long",
        1.0 / (1.0 - decay),
        first * 100.0
    ))
}

/// `avg + (w - avg) * weight`: on the CPU one in-place pass, elsewhere (CUDA) tensor
/// operations, with the same f32 arithmetic in the same order.
fn move_toward(avg: Tensor<1>, w: Tensor<1>, weight: f64) -> Tensor<1> {
    if on_flex(&avg) && on_flex(&w) {
        return average::move_toward(avg, w, weight as f32);
    }
    let step = (w - avg.clone()) * weight;
    avg + step
}

/// The tensors moved off the autodiff backend: the average is never differentiated, and is
/// installed into the net `valid()` returns, which has none.
fn inner(t: FlatTensors) -> FlatTensors {
    FlatTensors(t.0.into_iter().map(|t| t.without_autodiff()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CPU pass gives the tensor operations' bits, over values of mixed sizes and signs
    /// and a part boundary (2^14 values a part), for PyTorch's usual decays.
    #[test]
    fn the_cpu_pass_has_the_tensor_operations_bits() {
        let device = Default::default();
        let n = (1 << 14) + 37;
        let values = |k: f32| -> Vec<f32> {
            (0..n)
                .map(|i| ((i as f32 * k).sin() * 3.0).powi(3) + 1e-3 * i as f32)
                .collect()
        };
        let avg0 = Tensor::<1>::from_floats(values(0.37).as_slice(), &device);
        let w = Tensor::<1>::from_floats(values(1.91).as_slice(), &device);
        for decay in [0.9, 0.99, 0.999, 0.9999] {
            let weight = 1.0 - decay;
            let ops = avg0.clone() + (w.clone() - avg0.clone()) * weight;
            let pass = move_toward(avg0.clone(), w.clone(), weight);
            let (ops, pass) = (ops.into_data(), pass.into_data());
            let bits = |d: &TensorData| -> Vec<u32> { d.iter::<f32>().map(f32::to_bits).collect() };
            assert_eq!(bits(&ops), bits(&pass), "decay {decay}");
            // It moved: not a pass that returns its input.
            assert_ne!(
                bits(&pass),
                bits(&avg0.clone().into_data()),
                "decay {decay}"
            );
        }
        // The input tensor another holder shares is not written through.
        let kept = avg0.clone().into_data();
        let _ = move_toward(avg0.clone(), w, 0.5);
        assert_eq!(avg0.into_data(), kept);
    }
}
