//! Lookahead weight averaging, as airbench does it: every `every` steps the average moves
//! toward the current weights, `avg = decay * avg + (1 - decay) * w`, and the weights are
//! set to the average. The decay ramps up as decay^every * (step / total)^3, so early steps
//! follow the weights and late ones average over many; after the last step the weights
//! become the average. Batch-norm running statistics are averaged with the weights (they are part of
//! PyTorch's state_dict, which airbench averages).
//!
//! Burn keeps a training forward's new running statistics pending beside the stored value
//! (`RunningState::update`), and module visitors and mappers read and write only the stored
//! one; the next forward then replaces it with the pending value. So the statistics are
//! settled (`settle`) before every read and write here, or the average would trail by one step
//! and the blended statistics would be thrown away (bench/parity_fast.py found this).

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use crate::model::Net;

pub struct Lookahead {
    every: usize,
    decay: f64,
    total_steps: usize,
    /// The average, one detached tensor per float parameter or buffer, in visiting order.
    average: Vec<Tensor<1>>,
}

/// Collects every float tensor of a module, flattened and detached.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().detach().flatten(0, D - 1));
    }
}

/// Moves each float tensor to the average (updated in place) and replaces it by it.
struct Blend<'a> {
    average: &'a mut [Tensor<1>],
    next: usize,
    decay: f64,
}

impl ModuleMapper for Blend<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let slot = &mut self.average[self.next];
        self.next += 1;
        let decay = self.decay;
        param.map(|w| {
            let shape = w.shape();
            let tracked = w.is_require_grad();
            let avg = slot.clone() * decay + w.detach().flatten(0, D - 1) * (1.0 - decay);
            *slot = avg.clone();
            // A fresh leaf: the optimizer's next step needs a tensor it can track.
            let blended = avg.reshape(shape).detach();
            if tracked {
                blended.require_grad()
            } else {
                blended
            }
        })
    }
}

impl Lookahead {
    /// Start averaging from `model`'s weights; `every` = 0 means off (None).
    pub fn new(model: &Net, every: usize, decay: f64, total_steps: usize) -> Option<Self> {
        if every == 0 {
            return None;
        }
        let mut collect = Collect(Vec::new());
        settle(model);
        model.visit(&mut collect);
        Some(Self {
            every,
            decay,
            total_steps: total_steps.max(1),
            average: collect.0,
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
        let mut out = Vec::new();
        for t in &self.average {
            let values = t.clone().into_data().convert::<f32>();
            for v in values.iter::<f32>() {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Replace the average by one `to_bytes` wrote for the same net.
    pub fn restore(&mut self, bytes: &[u8]) -> std::result::Result<(), String> {
        let total: usize = self.average.iter().map(|t| t.dims()[0]).sum();
        if bytes.len() != total * 4 {
            return Err(format!(
                "the lookahead average holds {} values, the net has {total}",
                bytes.len() / 4
            ));
        }
        let mut values = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")));
        for t in &mut self.average {
            let n = t.dims()[0];
            let part: Vec<f32> = values.by_ref().take(n).collect();
            *t = Tensor::from_data(TensorData::new(part, [n]), &t.device());
        }
        Ok(())
    }

    fn blend(&mut self, model: Net, decay: f64) -> Net {
        settle(&model);
        let mut blend = Blend {
            average: &mut self.average,
            next: 0,
            decay,
        };
        model.map(&mut blend)
    }
}

/// Moves every pending batch-norm running statistic into its stored value: `valid()` syncs
/// each `RunningState` it passes (pending values from all threads), and the copy it returns
/// is not needed.
fn settle(model: &Net) {
    let _ = model.valid();
}
