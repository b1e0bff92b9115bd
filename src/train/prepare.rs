//! Everything fixed before the first epoch: the resolved net checked against the data, the
//! validation split, the normalization, and a pretrained checkpoint's weights.

use std::sync::Arc;

use burn::prelude::*;

use rand::rngs::StdRng;

use crate::data::config::Pipeline;
use crate::data::resident::Resident;
use crate::data::transform::{Augment, Normalize, fill_batch};
use crate::data::{Dataset, Splits, split_validation};
use crate::error::{Error, Result};
use crate::model::checkpoint;
use crate::model::net::{Layer, Net};
use crate::model::presets::resolve_layers;
use crate::model::spec::{LayerSpec, Shape, check_input, check_net, lint_net};
use crate::model::whiten;
use crate::train::config::RunConfig;
use crate::train::device::DeviceName;
use crate::train::eval::Criterion;

pub struct Prepared {
    pub layers: Vec<LayerSpec>,
    pub input: Shape,
    pub classes: Vec<String>,
    pub norm: Arc<Normalize>,
    pub train: Arc<Dataset>,
    pub val: Option<Arc<Dataset>>,
    pub test: Arc<Dataset>,
    /// The training loss's class weights (`train.class_weights`), resolved on the data.
    pub class_weights: Option<Vec<f32>>,
    /// Warnings about the net and the data, each led by the key it is about where there is
    /// one (`data.saturation does nothing ...`), for the caller to print beside the config
    /// and the `--set` that wrote the key.
    pub warnings: Vec<String>,
}

impl Prepared {
    /// The training loss of `cfg` on `device`.
    pub fn criterion(&self, cfg: &RunConfig, device: &Device) -> Criterion {
        let weights = self
            .class_weights
            .as_ref()
            .map(|w| Tensor::<1>::from_data(TensorData::new(w.clone(), [w.len()]), device));
        Criterion {
            smoothing: cfg.train.label_smoothing,
            weights,
            mix: None,
        }
    }
}

/// Index of the classifier head: the last linear layer.
pub fn head_index(layers: &[LayerSpec]) -> usize {
    layers
        .iter()
        .rposition(|l| matches!(l, LayerSpec::Linear { .. }))
        .unwrap_or(layers.len().saturating_sub(1))
}

/// Check the net against the data and carve the validation split.
pub fn prepare(cfg: &RunConfig, splits: Splits, origin: &str) -> Result<Prepared> {
    let [c, h, w] = splits.train.shape;
    let input = Shape::Image { c, h, w };
    let classes = splits.train.classes.clone();
    let layers = resolve_layers(&cfg.model, classes.len(), origin)?;
    check_input(cfg.model.input_shape.as_deref(), input, origin)?;
    check_net(&layers, input, classes.len(), origin, &cfg.model.preset)?;
    let mut warnings = lint_net(&layers);
    if let Some(problem) = cfg.train.class_weights.problem(Some(classes.len())) {
        return Err(Error::input(
            origin,
            format!("train.class_weights: {problem}"),
        ));
    }
    let (train, val) = split_validation(&splits.train, cfg.data.val_fraction, cfg.seed);
    // A monitor without any split (val_fraction 0) is train::unused_keys' warning.
    if val.is_none() && cfg.data.val_fraction > 0.0 {
        no_validation_images(cfg, splits.train.len(), origin)?;
    }
    if train.is_empty() || splits.test.is_empty() {
        return Err(Error::input(
            origin,
            "the dataset has no training or no test images",
        ));
    }
    if c == 1 {
        // Saturation and hue, the last two keys, need colour.
        let keys = cfg.data.jitter().keys();
        for (key, _, _) in keys[2..]
            .iter()
            .filter(|(_, s, hue)| s.range(*hue).is_some())
        {
            warnings.push(format!(
                "{key} does nothing on one-channel images (as in torchvision); \
                 data.brightness and data.contrast apply"
            ));
        }
    }
    if let Some(untested) = untested_classes(&splits.train, &splits.test) {
        warnings.push(format!(
            "{untested} (add images, or raise data.test_fraction)"
        ));
    }
    let pretrained = match &cfg.model.pretrained {
        Some(ckpt) => {
            let (meta, _) = checkpoint::read_meta(ckpt)?;
            if meta.input != splits.train.shape {
                return Err(Error::input(
                    ckpt.display(),
                    format!(
                        "the pretrained model takes {:?} images but {origin}'s data has {:?} \
                         (set data.image_size = [{}, {}] and data.color_mode = \"{}\")",
                        meta.input,
                        splits.train.shape,
                        meta.input[1],
                        meta.input[2],
                        if meta.input[0] == 1 {
                            "grayscale"
                        } else {
                            "rgb"
                        }
                    ),
                ));
            }
            Some(meta)
        }
        None => None,
    };
    let norm = if let Some(meta) = pretrained {
        // Fine-tuning keeps the normalization the features were learned with.
        Normalize::from_checkpoint(&meta.mean, &meta.std, c)
    } else if cfg.data.normalize {
        let (mean, std) = train.channel_stats();
        Normalize::new(mean, std)
    } else {
        Normalize::identity(c)
    };
    let class_weights = cfg
        .train
        .class_weights
        .resolve(&train.labels, classes.len());
    Ok(Prepared {
        class_weights,
        layers,
        input,
        classes,
        norm: Arc::new(norm),
        train: Arc::new(train),
        val: val.map(Arc::new),
        test: Arc::new(splits.test),
        warnings,
    })
}

/// How many training images the whitening layer's patch statistics come from (airbench's).
const WHITEN_IMAGES: usize = 5000;

/// A new net for `p` on `device`: seeded init, then a whitening first layer's filters from
/// 5,000 training images spread evenly over the set (normalized, never augmented). airbench
/// takes the first 5,000 of CIFAR-10's shuffled order; an image folder is sorted by class,
/// so its first 5,000 would all be airplanes.
pub fn fresh_model(cfg: &RunConfig, p: &Prepared, device: &Device) -> Net {
    let mut model = Net::new(&p.layers, p.input, cfg.model.init, device);
    if let (Some(LayerSpec::Whiten { eps, .. }), Some(Layer::Conv(conv))) =
        (p.layers.first(), model.layers.first_mut())
    {
        let (total, n) = (p.train.len(), p.train.len().min(WHITEN_IMAGES));
        let indices: Vec<usize> = (0..n).map(|i| i * total / n).collect();
        let mut images = Vec::new();
        fill_batch(
            &p.train,
            &indices,
            &p.norm,
            None::<(&Augment, &mut StdRng)>,
            &mut images,
        );
        whiten::init(conv, &images, p.train.shape, *eps);
    }
    model
}

/// Copy a checkpoint's weights into `model`: all of them when the nets are equal, every
/// layer but the head when only the head's class count differs.
pub fn from_pretrained(
    mut model: Net,
    layers: &[LayerSpec],
    ckpt: &std::path::Path,
    device: &Device,
) -> Result<Net> {
    let (meta, old) = checkpoint::load(ckpt, device)?;
    if meta.layers == layers {
        return Ok(old);
    }
    let head = head_index(layers);
    let same_body = meta.layers.len() == layers.len()
        && meta
            .layers
            .iter()
            .zip(layers)
            .enumerate()
            .all(|(i, (a, b))| i == head || a == b);
    if !same_body {
        return Err(Error::input(
            ckpt.display(),
            "model.layers differ from the pretrained checkpoint's beyond the last linear layer",
        ));
    }
    for (i, layer) in old.layers.into_iter().enumerate() {
        if i != head {
            model.layers[i] = layer;
        }
    }
    Ok(model)
}

/// The most bytes `data.pipeline = "auto"` puts on a GPU (CIFAR-10's training set padded
/// for a 4-pixel crop takes 1.0 GB).
const AUTO_DEVICE_BYTES: usize = 4 << 30;

/// Whether training batches are built on the device (`data.pipeline`): on request, or by
/// default on a GPU when the training set fits in `AUTO_DEVICE_BYTES`.
pub fn device_pipeline(cfg: &RunConfig, p: &Prepared) -> bool {
    match cfg.data.pipeline {
        Pipeline::Host => false,
        Pipeline::Device => true,
        Pipeline::Auto => {
            let augment = Augment::for_epoch(&cfg.data, cfg.seed, 0);
            cfg.device == DeviceName::Cuda
                && cfg.data.host_only_augmentation().is_none()
                && Resident::bytes(&p.train, &augment) <= AUTO_DEVICE_BYTES
        }
    }
}

/// The classes with training images but none in the test set (an image folder's class of
/// one image keeps it for training), said; None when every class is tested.
fn untested_classes(train: &Dataset, test: &Dataset) -> Option<String> {
    let mut tested = [false; 256];
    test.labels.iter().for_each(|&l| tested[l as usize] = true);
    let mut trained = [false; 256];
    train
        .labels
        .iter()
        .for_each(|&l| trained[l as usize] = true);
    let untested: Vec<&str> = (train.classes.iter().enumerate())
        .filter(|&(i, _)| trained[i] && !tested[i])
        .map(|(_, c)| c.as_str())
        .collect();
    match untested.as_slice() {
        [] => None,
        [one] => Some(format!(
            "class {one} has no test image: the test accuracy says nothing of it"
        )),
        many => Some(format!(
            "classes {} have no test image: the test accuracy says nothing of them",
            many.join(", ")
        )),
    }
}

/// `data.val_fraction` asked for a validation split but rounds to none of the training
/// images (or all of them): an error when early stopping or the plateau schedule needs
/// one (Keras refuses such a `validation_split`), else a warning, as training goes on
/// without one and best.ckpt is the last epoch.
fn no_validation_images(cfg: &RunConfig, n_train: usize, origin: &str) -> Result<()> {
    let n_val = crate::data::validation_count(n_train, cfg.data.val_fraction);
    let problem = format!(
        "data.val_fraction {} of {n_train} training images rounds to {n_val} validation \
         images, which leaves {}",
        cfg.data.val_fraction,
        if n_val == 0 {
            "no validation split"
        } else {
            "nothing to train on"
        },
    );
    let needs = if cfg.train.early_stopping_patience > 0 {
        Some("early stopping")
    } else if cfg.schedule.name == crate::train::schedule::ScheduleName::Plateau {
        Some("the plateau schedule")
    } else {
        None
    };
    match needs {
        Some(what) => Err(Error::input(
            origin,
            format!("{problem}, and {what} needs one (raise data.val_fraction or add images)"),
        )),
        None => {
            eprintln!(
                "warning: {origin}: {problem}; training without a validation split \
                 (best.ckpt is the last epoch)"
            );
            Ok(())
        }
    }
}
