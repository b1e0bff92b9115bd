//! `convlab eval`'s work: a checkpoint on its own test set (or an image folder), per-class
//! accuracy, the confusion matrix, the most confidently wrong images, optional flip
//! test-time augmentation, and eval.json beside the figures.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use crate::data::transform::Normalize;
use crate::data::{self, DataConfig, Lookup};
use crate::error::{Error, Result};
use crate::experiment::config::read_stored;
use crate::model::checkpoint::{self, CheckpointMeta};
use crate::report::diagnostics::{self, ClassResult, Confusion, Diagnostics, MacroAverage};
use crate::run::{files, write_json};
use crate::train::device::{self, DeviceName};
use crate::train::eval;

pub struct EvalOptions {
    pub checkpoint: PathBuf,
    /// An image folder to evaluate on instead of the checkpoint's own test set.
    pub folder: Option<PathBuf>,
    pub lookup: Lookup,
    pub device: DeviceName,
    pub batch_size: usize,
    /// Also evaluate with flip test-time augmentation.
    pub tta: bool,
    /// Where the files go (default: `eval-<checkpoint stem>` beside the checkpoint).
    pub out: Option<PathBuf>,
    /// How many of the most confidently wrong images to draw.
    pub top: usize,
}

/// eval.json.
#[derive(Debug, Serialize)]
pub struct EvalReport {
    pub checkpoint: PathBuf,
    pub images: usize,
    pub test_loss: f64,
    pub test_acc: f64,
    pub tta_flip_test_loss: Option<f64>,
    pub tta_flip_test_acc: Option<f64>,
    pub per_class: Vec<ClassResult>,
    pub macro_average: MacroAverage,
    pub most_confused: Vec<Confusion>,
    pub confusion: Vec<Vec<u64>>,
    pub trained_on: String,
    pub epoch: usize,
    pub files: PathBuf,
}

/// What the CLI prints besides eval.json: the full diagnostics and the checkpoint's header.
pub struct Evaluation {
    pub report: EvalReport,
    pub plain: Diagnostics,
    pub meta: CheckpointMeta,
}

fn default_out(ckpt: &Path) -> PathBuf {
    let stem = ckpt
        .file_stem()
        .map_or("checkpoint".into(), |s| s.to_string_lossy().into_owned());
    ckpt.parent()
        .unwrap_or(Path::new("."))
        .join(format!("eval-{stem}"))
}

/// The test set must be what the model takes: the same image shape, and classes the model
/// knows. A folder's classes are matched to the model's by name (a folder of cat photos
/// alone is fine for a CIFAR-10 model); classes none of whose names the model has are taken
/// in order, as torchvision's ImageFolder sorts them, when there are as many.
fn fit_to_model(ckpt: &Path, meta: &CheckpointMeta, test: &mut data::Dataset) -> Result<()> {
    if test.shape != meta.input {
        let problem = format!(
            "the model takes {:?} images but the test set has {:?}",
            meta.input, test.shape
        );
        return Err(Error::input(ckpt.display(), problem));
    }
    if test.classes == meta.classes {
        return Ok(());
    }
    let index: Option<Vec<u8>> = test
        .classes
        .iter()
        .map(|c| meta.classes.iter().position(|m| m == c).map(|i| i as u8))
        .collect();
    match index {
        Some(index) => {
            for l in &mut test.labels {
                *l = index[*l as usize];
            }
        }
        // Only when no name matches: with dog and horse against cat and dog, taking them in
        // order scored the dog photos as cats.
        None if test.classes.len() == meta.classes.len()
            && !test.classes.iter().any(|c| meta.classes.contains(c)) =>
        {
            eprintln!(
                "warning: the test set's classes {:?} are not the model's {:?}; taken in order",
                test.classes, meta.classes
            )
        }
        None => {
            let unknown: Vec<&str> = (test.classes.iter())
                .filter(|c| !meta.classes.contains(c))
                .map(String::as_str)
                .collect();
            let problem = format!(
                "the test set's classes {unknown:?} are not among the model's {} ({})",
                meta.classes.len(),
                meta.classes.join(", ")
            );
            return Err(Error::input(ckpt.display(), problem));
        }
    }
    test.classes = meta.classes.clone();
    Ok(())
}

/// The share of a folder without train/ and test/ that is the test set: the run's own split
/// when the folder is the one the run trained on (its config.toml beside the checkpoint),
/// so a model is never scored on its training images; every image of any other folder.
fn test_fraction(o: &EvalOptions) -> f64 {
    let run = o
        .checkpoint
        .parent()
        .map(|d| d.join(files::CONFIG))
        .filter(|c| c.is_file())
        .and_then(|c| {
            read_stored(&c)
                .inspect_err(|e| eprintln!("warning: {e}; its split is not known"))
                .ok()
        });
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a.file_name() == b.file_name(),
    };
    match (&o.folder, run) {
        (None, Some(cfg)) => cfg.data.test_fraction,
        (None, None) => data::folder::DEFAULT_TEST_FRACTION,
        (Some(f), Some(cfg)) if cfg.data.path.as_deref().is_some_and(|p| same(f, p)) => {
            cfg.data.test_fraction
        }
        (Some(_), _) => 1.0,
    }
}

pub fn evaluate(o: &EvalOptions) -> Result<Evaluation> {
    if o.batch_size == 0 {
        return Err(Error::input("--batch-size", "must be at least 1"));
    }
    let dev = device::select(o.device)?;
    let (meta, model) = checkpoint::load(&o.checkpoint, &dev)?;
    // The images as the model takes them: a folder of photos of any size is resized, as
    // `predict` resizes them.
    let mut data_cfg = match &o.folder {
        Some(p) => DataConfig::folder(p.clone()),
        None => DataConfig::from_label(&meta.dataset),
    }
    .with_input(meta.input);
    data_cfg.test_fraction = test_fraction(o);
    let mut splits = data::load(&data_cfg, &o.lookup)?;
    fit_to_model(&o.checkpoint, &meta, &mut splits.test)?;
    let norm = Arc::new(Normalize::from_checkpoint(
        &meta.mean,
        &meta.std,
        meta.input[0],
    ));
    let test = Arc::new(splits.test);
    let (probs, tta_probs) = eval::probabilities(&model, &test, &norm, o.batch_size, &dev, o.tta);
    let plain = diagnostics::diagnose(&probs, &test.labels, &meta.classes);
    let tta = tta_probs.map(|p| diagnostics::diagnose(&p, &test.labels, &meta.classes));
    let out = o.out.clone().unwrap_or_else(|| default_out(&o.checkpoint));
    diagnostics::write(&out, &plain, &test, o.top)?;
    let report = EvalReport {
        checkpoint: o.checkpoint.clone(),
        images: plain.images,
        test_loss: plain.loss,
        test_acc: plain.accuracy,
        tta_flip_test_loss: tta.as_ref().map(|t| t.loss),
        tta_flip_test_acc: tta.as_ref().map(|t| t.accuracy),
        per_class: plain.per_class.clone(),
        macro_average: plain.macro_average.clone(),
        most_confused: plain.most_confused.clone(),
        confusion: plain.confusion.clone(),
        trained_on: meta.device.clone(),
        epoch: meta.epoch,
        files: out.clone(),
    };
    write_json(&out.join("eval.json"), &report)?;
    Ok(Evaluation {
        report,
        plain,
        meta,
    })
}
