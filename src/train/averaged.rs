//! What the two weight averages (lookahead.rs, ema.rs) share: every float tensor of a net,
//! parameters and batch-norm running statistics alike (PyTorch's whole state_dict, as
//! airbench's lookahead and `AveragedModel(use_buffers=True)` average it), kept flat and
//! detached in visiting order, and written to and read from the resume file as f32 LE.
//!
//! Burn keeps a training forward's new running statistics pending beside the stored value
//! (`RunningState::update`), and module visitors and mappers read and write only the stored
//! one; the next forward then replaces it with the pending value. So the statistics are
//! settled (`settle`) before every read and write, or an average would trail by one step
//! and blended statistics would be thrown away (bench/parity_fast.py found this).

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;

use crate::model::Net;

/// One detached, flattened tensor per float parameter or buffer of a net, in visiting order.
pub struct FlatTensors(pub Vec<Tensor<1>>);

impl ModuleVisitor for FlatTensors {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().detach().flatten(0, D - 1));
    }
}

impl FlatTensors {
    /// The net's float tensors as they are now (running statistics settled first).
    pub fn of(model: &Net) -> Self {
        let mut collect = FlatTensors(Vec::new());
        settle(model);
        model.visit(&mut collect);
        collect
    }

    /// As little-endian f32s, tensor after tensor (for the resume file).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for t in &self.0 {
            let values = t.clone().into_data().convert::<f32>();
            for v in values.iter::<f32>() {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        out
    }

    /// Replace the values by ones `to_bytes` wrote for the same net; `what` names them.
    pub fn restore(&mut self, bytes: &[u8], what: &str) -> std::result::Result<(), String> {
        let total: usize = self.0.iter().map(|t| t.dims()[0]).sum();
        if bytes.len() != total * 4 {
            return Err(format!(
                "the {what} holds {} values, the net has {total}",
                bytes.len() / 4
            ));
        }
        let mut values = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")));
        for t in &mut self.0 {
            let n = t.dims()[0];
            let part: Vec<f32> = values.by_ref().take(n).collect();
            *t = Tensor::from_data(TensorData::new(part, [n]), &t.device());
        }
        Ok(())
    }
}

/// Replaces each float tensor of a net by the matching flat tensor (reshaped); a tensor
/// that trains stays a fresh leaf the optimizer can track.
pub struct Install<'a> {
    pub values: &'a [Tensor<1>],
    pub next: usize,
}

impl ModuleMapper for Install<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let value = self.values[self.next].clone();
        self.next += 1;
        param.map(|w| {
            let installed = value.reshape(w.shape()).detach();
            if w.is_require_grad() {
                installed.require_grad()
            } else {
                installed
            }
        })
    }
}

/// Moves every pending batch-norm running statistic into its stored value: `valid()` syncs
/// each `RunningState` it passes (pending values from all threads), and the copy it returns
/// is not needed.
pub fn settle(model: &Net) {
    let _ = model.valid();
}
