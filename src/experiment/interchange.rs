//! `convlab import` and `convlab export`: which net a PyTorch file holds (a preset or a run
//! config's model) and what its inputs were, then the model layer's readers and writers.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::data::{DatasetName, known_layout};
use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::model::checkpoint::{self, CheckpointMeta};
use crate::model::presets::{find, resolve_layers};
use crate::model::pytorch::import::load_into;
use crate::model::spec::{Shape, check_net};

/// Where the net's description comes from.
pub enum NetSource {
    Preset(String),
    Config(PathBuf),
}

pub struct ImportOptions {
    pub pth: PathBuf,
    /// The entry of the file that holds the state_dict, when it holds more.
    pub key: Option<String>,
    pub net: NetSource,
    /// Overrides the dataset of the preset (by its input) or of the config.
    pub dataset: Option<DatasetName>,
    /// Per-channel normalization the PyTorch model's inputs had (empty: pixels in [0, 1]).
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub out: PathBuf,
    /// Replace an existing checkpoint at `out`.
    pub force: bool,
}

/// Import a PyTorch state_dict into a convlab checkpoint; returns its header.
pub fn import(o: &ImportOptions) -> Result<CheckpointMeta> {
    let (model, config_dataset, origin) = match &o.net {
        NetSource::Preset(name) => {
            let model = ModelConfig {
                preset: name.clone(),
                ..Default::default()
            };
            let by_input = find(name).map(|p| match p.input[0] {
                1 => DatasetName::Mnist,
                _ => DatasetName::Cifar10,
            });
            (model, by_input, "--preset".to_string())
        }
        NetSource::Config(path) => {
            let cfg = crate::experiment::config::load_run_config(path, &[])?;
            (
                cfg.model,
                Some(cfg.data.dataset),
                path.display().to_string(),
            )
        }
    };
    let dataset = o.dataset.or(config_dataset).unwrap_or(DatasetName::Mnist);
    let (input, classes) = known_layout(dataset).ok_or_else(|| {
        Error::input(
            &origin,
            "an image-folder dataset does not say its classes; pass --dataset mnist|fashion-mnist|cifar10",
        )
    })?;
    check_normalization(&o.mean, &o.std, input[0])?;
    check_new(&o.out, o.force)?;
    let layers = resolve_layers(&model, classes.len(), &origin)?;
    let [c, h, w] = input;
    let shape = Shape::Image { c, h, w };
    check_net(&layers, shape, classes.len(), &origin)?;
    let net = load_into(&o.pth, o.key.as_deref(), &layers, shape, &Device::flex())?;
    let meta = CheckpointMeta {
        convlab_version: env!("CARGO_PKG_VERSION").into(),
        burn_version: crate::run::BURN_VERSION.into(),
        layers,
        input,
        classes,
        dataset: dataset.to_string(),
        mean: o.mean.clone(),
        std: o.std.clone(),
        device: "cpu".into(),
        epoch: 0,
        summary: serde_json::json!({ "imported_from": o.pth.display().to_string() }),
    };
    checkpoint::save(&o.out, &meta, &net)?;
    Ok(meta)
}

fn check_normalization(mean: &[f32], std: &[f32], channels: usize) -> Result<()> {
    let ok = (mean.is_empty() && std.is_empty())
        || (mean.len() == channels && std.len() == channels && std.iter().all(|s| *s > 0.0));
    if ok {
        Ok(())
    } else {
        Err(Error::input(
            "--mean/--std",
            format!("give both, {channels} value(s) each, std > 0 (got {mean:?} and {std:?})"),
        ))
    }
}

pub use crate::model::pytorch::export::{python_code, to_onnx, to_pytorch};

/// Refuse to replace a file unless asked.
pub fn check_new(out: &Path, force: bool) -> Result<()> {
    if out.exists() && !force {
        return Err(Error::input(
            out.display(),
            "already exists (pass --force to replace it)",
        ));
    }
    Ok(())
}
