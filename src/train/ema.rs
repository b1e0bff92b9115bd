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
            for (avg, w) in self.average.0.iter_mut().zip(now.0) {
                let step = (w - avg.clone()) * weight;
                *avg = avg.clone() + step;
            }
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

/// The tensors moved off the autodiff backend: the average is never differentiated, and is
/// installed into the net `valid()` returns, which has none.
fn inner(t: FlatTensors) -> FlatTensors {
    FlatTensors(t.0.into_iter().map(|t| t.without_autodiff()).collect())
}
