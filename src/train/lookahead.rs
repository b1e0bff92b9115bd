//! Lookahead weight averaging, as airbench does it: every `every` steps the average moves
//! toward the current weights, `avg = decay * avg + (1 - decay) * w`, and the weights are
//! set to the average. The decay ramps up as decay^every * (step / total)^3, so early steps
//! follow the weights and late ones average over many; after the last step the weights
//! become the average. Batch-norm running statistics are averaged with the weights
//! (averaged.rs says why and how).

use burn::prelude::*;

use crate::model::Net;
use crate::train::averaged::{FlatTensors, Install};

pub struct Lookahead {
    every: usize,
    decay: f64,
    total_steps: usize,
    average: FlatTensors,
}

impl Lookahead {
    /// Start averaging from `model`'s weights; `every` = 0 means off (None).
    pub fn new(model: &Net, every: usize, decay: f64, total_steps: usize) -> Option<Self> {
        if every == 0 {
            return None;
        }
        Some(Self {
            every,
            decay,
            total_steps: total_steps.max(1),
            average: FlatTensors::of(model),
        })
    }

    /// After optimizer step `step` (1-based, counted over the whole run).
    pub fn after_step(&mut self, mut model: Net, step: usize) -> Net {
        if step.is_multiple_of(self.every) {
            let ramp = (step as f64 / self.total_steps as f64).min(1.0).powi(3);
            model = self.blend(model, self.decay.powi(self.every as i32) * ramp);
        }
        if step == self.total_steps {
            model = self.blend(model, 1.0);
        }
        model
    }

    /// The average as little-endian f32s, tensor after tensor (for the resume file).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.average.to_bytes()
    }

    /// Replace the average by one `to_bytes` wrote for the same net.
    pub fn restore(&mut self, bytes: &[u8]) -> std::result::Result<(), String> {
        self.average.restore(bytes, "lookahead average")
    }

    /// Move the average toward the weights, then set the weights to it.
    fn blend(&mut self, model: Net, decay: f64) -> Net {
        let now = FlatTensors::of(&model);
        for (avg, w) in self.average.0.iter_mut().zip(now.0) {
            *avg = avg.clone() * decay + w * (1.0 - decay);
        }
        model.map(&mut Install {
            values: &self.average.0,
            next: 0,
        })
    }
}
