//! `convlab predict CKPT IMAGE_OR_FOLDER...` (or `--checkpoint CKPT`): the top-k classes of
//! each image.

use std::path::PathBuf;

use clap::Args;

use crate::error::{Error, Result};
use crate::model::predictor::Predictor;
use crate::run;
use crate::train::device;

#[derive(Args)]
pub struct PredictArgs {
    /// A checkpoint file (.ckpt), or a run folder: its best.ckpt. Or give it first, before
    /// the images (`convlab predict runs/mnist digit.png`), as eval and export take it.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Image files, or folders: every image file under them (.png .jpg .jpeg .bmp .gif .webp
    /// .tif .tiff .ppm .pgm), in name order.
    #[arg(required = true)]
    images: Vec<PathBuf>,
    /// How many classes to show per image.
    #[arg(long, short = 'k', default_value_t = 3)]
    top_k: usize,
    /// Print one JSON array instead of text.
    #[arg(long)]
    json: bool,
    /// cpu, or cuda (a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Also print the raw outputs (logits) before the softmax.
    #[arg(long)]
    logits: bool,
    /// Use each image's negative (255 - pixel): dark strokes on white for a net trained on
    /// MNIST's or Fashion-MNIST's light on black. A warning suggests it when images look so.
    #[arg(long)]
    invert: bool,
}

/// Every image is predicted; one that cannot be read or decoded is a one-line error of its
/// own and the others are still predicted (then the exit code is 2).
pub fn run(a: PredictArgs) -> Result<()> {
    let (checkpoint, images) = checkpoint_and_images(a.checkpoint, a.images)?;
    let checkpoint = run::checkpoint_in(&checkpoint)?;
    if a.top_k == 0 {
        return Err(Error::input("--top-k", "must be at least 1"));
    }
    let images = crate::data::image_files::image_files(&images)?;
    let dev = device::select(device::parse_flag(&a.device)?)?;
    let predictor = Predictor::load(&checkpoint, &dev)?;
    let k = a.top_k.min(predictor.meta.classes.len());
    let results = predictor.predict_files(&images, k, a.invert);
    let mut json = Vec::with_capacity(results.len());
    let mut failed = 0;
    for (path, result) in images.iter().zip(&results) {
        match result {
            Ok(p) => {
                if !a.json {
                    let shown: Vec<String> = p
                        .top
                        .iter()
                        .map(|g| format!("{} ({:.3})", g.class, g.probability))
                        .collect();
                    println!("{}: {}", path.display(), shown.join(", "));
                    if a.logits {
                        println!("  logits: {:?}", p.logits);
                    }
                }
                let mut row = serde_json::json!({"file": path, "top": p.top});
                if a.logits {
                    row["logits"] = serde_json::json!(p.logits);
                }
                json.push(row);
            }
            Err(e) => {
                failed += 1;
                json.push(serde_json::json!({"file": path, "error": e.to_string()}));
            }
        }
    }
    for e in results.iter().filter_map(|r| r.as_ref().err()) {
        eprintln!("error: {e}");
    }
    let inverted = results
        .iter()
        .flatten()
        .filter(|p| p.looks_inverted)
        .count();
    if inverted > 0 {
        let m = &predictor.meta.mean;
        eprintln!(
            "warning: {inverted} of {} images look like negatives of the training images (their \
             negative's mean brightness is nearer the training mean {:.2} than theirs, by over \
             0.3): {}",
            images.len(),
            m.iter().sum::<f32>() / m.len() as f32,
            if a.invert {
                "drop --invert"
            } else {
                "if they are dark on light where the training images were light on dark, add --invert"
            }
        );
    }
    if a.json {
        println!("{}", serde_json::Value::Array(json));
    }
    if failed == 0 {
        Ok(())
    } else {
        Err(Error::Partial(format!(
            "{failed} of {} images could not be predicted",
            images.len()
        )))
    }
}

/// `--checkpoint`, or else the first positional when it is a checkpoint: a `.ckpt` file or a
/// folder holding `best.ckpt` (a run folder; an image folder has none). Anything else is an
/// error that says how to name the model, not clap's bare "--checkpoint is required".
fn checkpoint_and_images(
    flag: Option<PathBuf>,
    mut images: Vec<PathBuf>,
) -> Result<(PathBuf, Vec<PathBuf>)> {
    if let Some(checkpoint) = flag {
        return Ok((checkpoint, images));
    }
    let Some(first) = images.first() else {
        return Err(Error::input("predict", "no images given"));
    };
    let is_checkpoint =
        first.extension().is_some_and(|e| e == "ckpt") || first.join("best.ckpt").is_file();
    if !is_checkpoint {
        return Err(Error::input(
            "--checkpoint",
            format!(
                "no model given: name it with --checkpoint CKPT, or first, before the images \
                 (a .ckpt file or a run folder); {} is neither",
                first.display()
            ),
        ));
    }
    let checkpoint = images.remove(0);
    if images.is_empty() {
        return Err(Error::input(
            "predict",
            format!("no images after the checkpoint {}", checkpoint.display()),
        ));
    }
    Ok((checkpoint, images))
}
