//! The fine-tuning recipe (`convlab finetune`): a checkpoint's net on an image folder, its
//! head resized for the folder's classes, the features frozen for the first epochs; or the
//! same net and recipe from random weights, the baseline to compare with.

use std::path::PathBuf;

use crate::data::{self, DataConfig};
use crate::error::Result;
use crate::model::checkpoint;
use crate::model::spec::LayerSpec;
use crate::train::config::RunConfig;
use crate::train::device::DeviceName;
use crate::train::prepare::head_index;

pub struct FinetuneOptions {
    pub checkpoint: PathBuf,
    /// Image folder ROOT with train/<class>/ and test/<class>/, or just <class>/ folders (then
    /// data.test_fraction of each class is the test set); or a .tar.gz of one.
    pub folder: PathBuf,
    pub epochs: usize,
    /// Train only the new head for this many epochs first.
    pub freeze_epochs: usize,
    pub lr: f64,
    pub batch_size: usize,
    /// Random weights instead of the checkpoint's (same net, same recipe).
    pub scratch: bool,
    /// The run name (default: `finetune-<folder>` or `scratch-<folder>`).
    pub name: Option<String>,
    pub device: DeviceName,
}

/// The run config of the recipe, before `--set` overrides: not yet validated.
pub fn recipe(o: &FinetuneOptions) -> Result<RunConfig> {
    let (meta, _) = checkpoint::read_meta(&o.checkpoint)?;
    let folder = o
        .folder
        .file_stem()
        .map_or("folder".into(), |s| s.to_string_lossy().replace(".tar", ""));
    let mut cfg = RunConfig {
        name: o.name.clone().unwrap_or_else(|| {
            format!(
                "{}-{folder}",
                if o.scratch { "scratch" } else { "finetune" }
            )
        }),
        device: o.device,
        // The folder's images are read at the size and channels the net takes.
        data: DataConfig::folder(o.folder.clone()).with_input(meta.input),
        ..Default::default()
    };
    cfg.model.preset = String::new();
    cfg.model.layers = meta.layers;
    cfg.optimizer.lr = o.lr;
    cfg.train.epochs = o.epochs;
    cfg.train.batch_size = o.batch_size;
    // A few small epochs on a new folder can sit near chance at first: not a divergence.
    cfg.train.chance_epochs = 0;
    if !o.scratch {
        cfg.model.pretrained = Some(o.checkpoint.clone());
        cfg.train.freeze_epochs = o.freeze_epochs;
    }
    Ok(cfg)
}

/// Size the head (the last linear layer) for the folder's classes.
pub fn fit_head(cfg: &mut RunConfig) -> Result<()> {
    if cfg.data.path.is_none() {
        return Ok(());
    }
    let classes = data::folder_classes(&cfg.data)?;
    let head = head_index(&cfg.model.layers);
    if let Some(LayerSpec::Linear { out, .. }) = cfg.model.layers.get_mut(head) {
        *out = classes;
    }
    Ok(())
}
