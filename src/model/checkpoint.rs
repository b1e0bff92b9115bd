//! The checkpoint format: everything `eval`, `predict`, `serve` and `finetune` need in one
//! file, so a model never depends on the config or the machine that trained it.
//!
//! Layout: the 12-byte magic `CONVLABCKPT1`, a little-endian u64 header length, the header as
//! JSON ([`CheckpointMeta`]), then Burn's burnpack record of the weights. Weights are stored
//! as plain tensor data, not device buffers, so a checkpoint written on CUDA loads on the CPU.

use std::path::Path;

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, read_file, write_atomic};
use crate::model::config::Init;
use crate::model::net::Net;
use crate::model::spec::{LayerSpec, Shape, check_net};

const MAGIC: &[u8; 12] = b"CONVLABCKPT1";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CheckpointMeta {
    pub convlab_version: String,
    pub burn_version: String,
    /// The exact net that trained (a preset is stored resolved).
    pub layers: Vec<LayerSpec>,
    /// Input image shape [channels, height, width].
    pub input: [usize; 3],
    pub classes: Vec<String>,
    pub dataset: String,
    /// Per-channel normalization applied before the net (empty: none).
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Device the weights were trained on ("cpu", "cuda", ...).
    pub device: String,
    pub epoch: usize,
    /// Training summary at save time (metrics of that epoch).
    pub summary: serde_json::Value,
}

impl CheckpointMeta {
    pub fn input_shape(&self) -> Shape {
        let [c, h, w] = self.input;
        Shape::Image { c, h, w }
    }
}

pub fn save(path: &Path, meta: &CheckpointMeta, model: &Net) -> Result<()> {
    let serialize = |problem: String| Error::Serialize {
        what: path.display().to_string(),
        problem,
    };
    let header = serde_json::to_vec(meta).map_err(|e| serialize(format!("header: {e}")))?;
    let weights = model
        .clone()
        .into_record()
        .into_bytes()
        .map_err(|e| serialize(format!("weights: {e}")))?;
    let mut out = Vec::with_capacity(MAGIC.len() + 8 + header.len() + weights.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&weights);
    write_atomic(path, &out)
}

/// What a file that is not a checkpoint likely is, by its extension: the files users
/// give `--checkpoint` by mistake are the ones beside their checkpoints.
fn not_a_checkpoint(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("pth" | "pt" | "pkl" | "bin") => {
            "a PyTorch file? `convlab import` turns a state_dict into a checkpoint"
        }
        Some("toml") => "a config file: give a run folder (its best.ckpt) or a .ckpt",
        Some("onnx") => "an ONNX file: convlab writes ONNX (export) but reads its own .ckpt",
        _ => "wrong magic bytes",
    }
}

/// Read the header, and return the weight bytes after it undecoded.
pub fn read_meta(path: &Path) -> Result<(CheckpointMeta, Vec<u8>)> {
    let mut bytes = read_file(path)?;
    let bad = |problem: &str| {
        Error::input(
            path.display(),
            format!("not a convlab checkpoint ({problem})"),
        )
    };
    if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(bad(not_a_checkpoint(path)));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes")) as usize;
    let end = 20usize
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| bad("truncated header"))?;
    let meta: CheckpointMeta = serde_json::from_slice(&bytes[20..end])
        .map_err(|e| Error::input(path.display(), format!("corrupt checkpoint header: {e}")))?;
    let weights = bytes.split_off(end);
    Ok((meta, weights))
}

/// Load a checkpoint onto `device`: rebuild the net from its stored layers, then the weights.
pub fn load(path: &Path, device: &Device) -> Result<(CheckpointMeta, Net)> {
    let (meta, weights) = read_meta(path)?;
    let origin = path.display().to_string();
    check_net(
        &meta.layers,
        meta.input_shape(),
        meta.classes.len(),
        &origin,
        "",
    )?;
    let net = Net::new(&meta.layers, meta.input_shape(), Init::Default, device);
    let net = load_weights(net, weights, &origin)?;
    Ok((meta, net))
}

/// Apply burnpack weights to `net`; a shape or name mismatch (wrong architecture) or
/// corrupt bytes become an error naming `origin`.
pub fn load_weights(net: Net, weights: Vec<u8>, origin: &str) -> Result<Net> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(weights))
        .map_err(|e| Error::input(origin, format!("corrupt weights: {e}")))?;
    // Cast to the parameters' own dtype (f32): a record that declares an integer or bool dtype
    // for a weight would otherwise reach Burn's "Expected float dtype" panic (found by the
    // checkpoint fuzzer).
    net.try_load_record(record.validate(true).cast_to_module_dtype())
        .map_err(|e| Error::input(origin, format!("weights do not fit this architecture: {e}")))
}
