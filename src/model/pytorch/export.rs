//! `convlab export`: a checkpoint as a PyTorch state_dict (+ the `nn.Sequential` code that
//! loads it) or as ONNX. Neither includes the input normalization: both print it and the
//! Python file and the ONNX metadata carry it (`mean`, `std`).

use std::path::Path;

use burn::tensor::Device;

use crate::error::{Error, Result, write_atomic};
use crate::model::checkpoint::{self, CheckpointMeta};
use crate::model::pytorch::{groups, onnx, python, zip_pth};

/// Write `out` (a .pth state_dict) from the checkpoint at `ckpt`; returns the Python code of
/// the net, which the caller writes beside it.
pub fn to_pytorch(ckpt: &Path, out: &Path) -> Result<String> {
    let (meta, net) = checkpoint::load(ckpt, &Device::flex())?;
    let bytes = zip_pth::write(&groups(&net)).map_err(|e| Error::Serialize {
        what: out.display().to_string(),
        problem: e.to_string(),
    })?;
    write_atomic(out, &bytes)?;
    Ok(python_code(&meta))
}

/// The `nn.Sequential` code for a checkpoint's net.
pub fn python_code(meta: &CheckpointMeta) -> String {
    python::sequential(
        &meta.layers,
        meta.input_shape(),
        &meta.mean,
        &meta.std,
        &meta.classes,
    )
}

/// Write `out` (an ONNX model, opset 17) from the checkpoint at `ckpt`.
pub fn to_onnx(ckpt: &Path, out: &Path) -> Result<()> {
    let (meta, net) = checkpoint::load(ckpt, &Device::flex())?;
    let list = |v: &[f32]| format!("{v:?}");
    let metadata = [
        ("classes", meta.classes.join("\n")),
        ("mean", list(&meta.mean)),
        ("std", list(&meta.std)),
        ("dataset", meta.dataset.clone()),
    ];
    let bytes = onnx::model(&meta.layers, meta.input_shape(), groups(&net), &metadata);
    write_atomic(out, &bytes)
}
