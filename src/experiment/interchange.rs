//! `convlab import` and `convlab export`: which net a PyTorch file holds (a preset or a run
//! config's model) and what its inputs were, then the model layer's readers and writers.

use std::path::{Path, PathBuf};

use burn::tensor::Device;

use crate::data::{self, DatasetName, Lookup, known_layout};
use crate::error::{Error, Result};
use crate::model::ModelConfig;
use crate::model::checkpoint::{self, CheckpointMeta};
use crate::model::presets::{find, resolve_layers};
use crate::model::pytorch::import::load_into;
use crate::model::spec::{LayerSpec, Shape, check_net};

/// Where the net's description comes from.
pub enum NetSource {
    Preset(String),
    Config(PathBuf),
    /// A convlab checkpoint (or run folder): its net, classes, input and normalization, as
    /// when a model exported to PyTorch and trained further there comes back.
    Like(PathBuf),
}

pub struct ImportOptions {
    pub pth: PathBuf,
    /// The entry of the file that holds the state_dict, when it holds more.
    pub key: Option<String>,
    pub net: NetSource,
    /// Overrides the dataset of the preset (by its input) or of the config.
    pub dataset: Option<DatasetName>,
    /// Per-channel normalization the PyTorch model's inputs had (empty: pixels in [0, 1],
    /// or with `NetSource::Like` that checkpoint's).
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    pub out: PathBuf,
    /// Replace an existing checkpoint at `out`.
    pub force: bool,
}

/// What the file must hold and what its model takes, known before the file is read.
struct Target {
    layers: Vec<LayerSpec>,
    input: [usize; 3],
    classes: Vec<String>,
    dataset: String,
    mean: Vec<f32>,
    std: Vec<f32>,
    origin: String,
}

/// Import a PyTorch state_dict into a convlab checkpoint; returns its header.
pub fn import(o: &ImportOptions) -> Result<CheckpointMeta> {
    let t = match &o.net {
        NetSource::Preset(name) => of_preset(name, o)?,
        NetSource::Config(path) => of_config(path, o)?,
        NetSource::Like(path) => of_checkpoint(path, o)?,
    };
    check_normalization(&t.mean, &t.std, t.input[0])?;
    check_new(&o.out, o.force)?;
    let [c, h, w] = t.input;
    let shape = Shape::Image { c, h, w };
    check_net(&t.layers, shape, t.classes.len(), &t.origin, "")?;
    let net = load_into(&o.pth, o.key.as_deref(), &t.layers, shape, &Device::flex())?;
    let meta = CheckpointMeta {
        convlab_version: env!("CARGO_PKG_VERSION").into(),
        burn_version: crate::run::BURN_VERSION.into(),
        layers: t.layers,
        input: t.input,
        classes: t.classes,
        dataset: t.dataset,
        mean: t.mean,
        std: t.std,
        device: "cpu".into(),
        epoch: 0,
        // Where the weights and where the net's description came from (`--preset`, a config
        // or a checkpoint), so the checkpoint says how it was made.
        summary: serde_json::json!({
            "imported_from": o.pth.display().to_string(),
            "net_from": t.origin,
        }),
    };
    checkpoint::save(&o.out, &meta, &net)?;
    Ok(meta)
}

const FOLDER_NEEDS_CONFIG: &str = "an image folder's classes and image size come from a \
    config: pass --config with data.path (or --like a checkpoint trained on it), or --dataset \
    mnist|fashion-mnist|cifar10";

/// A preset takes MNIST's images when it has one input channel, CIFAR-10's when three.
fn of_preset(name: &str, o: &ImportOptions) -> Result<Target> {
    let model = ModelConfig {
        preset: name.to_string(),
        ..Default::default()
    };
    let by_input = find(name).map(|p| match p.input[0] {
        1 => DatasetName::Mnist,
        _ => DatasetName::Cifar10,
    });
    let dataset = o.dataset.or(by_input).unwrap_or(DatasetName::Mnist);
    let origin = format!("--preset {name}");
    let (input, classes) =
        known_layout(dataset).ok_or_else(|| Error::input("--dataset", FOLDER_NEEDS_CONFIG))?;
    let layers = resolve_layers(&model, classes.len(), &origin)?;
    Ok(Target {
        layers,
        input,
        classes,
        dataset: dataset.to_string(),
        mean: o.mean.clone(),
        std: o.std.clone(),
        origin,
    })
}

/// A run config: its [model], and its dataset in the layout its `data.image_size` and
/// `data.color_mode` ask for. An image folder's classes are its train/ subfolders, so the
/// folder is read (once; the dataset cache keeps it), as training it would.
fn of_config(path: &Path, o: &ImportOptions) -> Result<Target> {
    let origin = path.display().to_string();
    let cfg = crate::experiment::config::load_run_config(path, &[])?;
    let dataset = o.dataset.unwrap_or(cfg.data.dataset);
    let (input, classes, label) = match known_layout(dataset) {
        Some((input, classes)) => (cfg.data.layout().shape(input), classes, dataset.to_string()),
        None if cfg.data.dataset == DatasetName::Folder => {
            let train = data::load(&cfg.data, &Lookup::default())?.train;
            (train.shape, train.classes, cfg.data.label())
        }
        None => return Err(Error::input("--dataset", FOLDER_NEEDS_CONFIG)),
    };
    if cfg.data.normalize && o.mean.is_empty() {
        eprintln!(
            "warning: {origin} has data.normalize = true but no --mean/--std was given, so the \
             net will get pixels in [0, 1]: give transforms.Normalize's values (a convlab \
             export's .py has them as MEAN and STD; --like a checkpoint takes its own), or set \
             data.normalize = false"
        );
    }
    let layers = resolve_layers(&cfg.model, classes.len(), &origin)?;
    Ok(Target {
        layers,
        input,
        classes,
        dataset: label,
        mean: o.mean.clone(),
        std: o.std.clone(),
        origin,
    })
}

/// Everything but the weights from a convlab checkpoint; `--mean/--std` still override.
fn of_checkpoint(path: &Path, o: &ImportOptions) -> Result<Target> {
    let ckpt = crate::run::checkpoint_in(path)?;
    let (meta, _) = checkpoint::read_meta(&ckpt)?;
    let (mean, std) = match o.mean.is_empty() && o.std.is_empty() {
        true => (meta.mean, meta.std),
        false => (o.mean.clone(), o.std.clone()),
    };
    Ok(Target {
        layers: meta.layers,
        input: meta.input,
        classes: meta.classes,
        dataset: meta.dataset,
        mean,
        std,
        origin: ckpt.display().to_string(),
    })
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
