//! `convlab eval CKPT` (or `--checkpoint CKPT`): test metrics, per-class accuracy, confusion
//! matrix, the worst mistakes, optional flip TTA.

use std::path::PathBuf;

use clap::Args;

use super::{CheckpointArg, DataArgs};
use crate::error::Result;
use crate::experiment::evaluate::{EvalOptions, evaluate};
use crate::run;
use crate::train::device;

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    checkpoint: CheckpointArg,
    #[command(flatten)]
    data: DataArgs,
    /// Image folder to evaluate on instead of the checkpoint's dataset.
    #[arg(long, visible_alias = "data")]
    folder: Option<PathBuf>,
    /// cpu, or cuda (a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Images per forward pass (memory, not results).
    #[arg(long, default_value_t = 256)]
    batch_size: usize,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Also report test-time augmentation: plain and horizontally flipped, averaged.
    #[arg(long)]
    tta: bool,
    /// Folder for confusion.png/.svg/.csv, top_losses.png and eval.json
    /// (default: eval-<checkpoint name> beside the checkpoint).
    #[arg(long)]
    out: Option<PathBuf>,
    /// How many of the most confidently wrong images to draw.
    #[arg(long, default_value_t = 16)]
    top: usize,
}

pub fn run(a: EvalArgs) -> Result<()> {
    let checkpoint = run::checkpoint_in(&a.checkpoint.path())?;
    let e = evaluate(&EvalOptions {
        checkpoint: checkpoint.clone(),
        folder: a.folder.clone(),
        lookup: a.data.lookup(),
        device: device::parse_flag(&a.device)?,
        batch_size: a.batch_size,
        tta: a.tta,
        out: a.out.clone(),
        top: a.top,
    })?;
    let (r, d) = (&e.report, &e.plain);
    if a.json {
        println!("{}", super::json_line(r)?);
        return Ok(());
    }
    println!(
        "{}: {} test images, loss {:.4}, accuracy {:.2}% (epoch {}, trained on {}, evaluated on {})",
        r.checkpoint.display(),
        d.images,
        d.loss,
        d.accuracy * 100.0,
        e.meta.epoch,
        e.meta.device,
        a.device
    );
    if let (Some(loss), Some(acc)) = (r.tta_flip_test_loss, r.tta_flip_test_acc) {
        println!(
            "with flip test-time augmentation: loss {loss:.4}, accuracy {:.2}% ({:+.2} points)",
            acc * 100.0,
            (acc - d.accuracy) * 100.0
        );
    }
    println!("\n{}", d.per_class_table());
    if !d.most_confused.is_empty() {
        println!(
            "most confused (true as predicted, images): {}\n",
            d.most_confused_line(5)
        );
    }
    if d.per_class.len() <= 20 {
        println!("{}", d.confusion_table());
    }
    println!(
        "confusion matrix and the {} most confidently wrong images: {}",
        a.top.min(d.top_losses.len()),
        r.files.display()
    );
    Ok(())
}
