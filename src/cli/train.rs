//! `convlab train CONFIG.toml`: one run into a new run folder.

use std::path::PathBuf;

use clap::Args;

use super::ConfigArgs;
use crate::data::{self, Lookup};
use crate::error::{Error, Result};
use crate::experiment::training::{RunTarget, train_in};
use crate::run::Status;
use crate::train::config::RunConfig;
use crate::train::device;
use crate::train::prepare::prepare;

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Parent folder of run folders.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Exact run folder (must not hold a run already).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Print only the final summary.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: TrainArgs) -> Result<()> {
    let cfg = a.config.load()?;
    let target = match &a.run_dir {
        Some(d) => RunTarget::Exact(d),
        None => RunTarget::Unique(&a.runs_dir),
    };
    let lookup = a.config.data.lookup();
    train_new(&cfg, &a.config.origin(), &lookup, &target, a.quiet)
}

/// Load the data, train a validated config into a new run folder and say how it ended;
/// a diverged run exits with 3 (its folder keeps the metrics up to the divergence).
pub(super) fn train_new(
    cfg: &RunConfig,
    origin: &str,
    lookup: &Lookup,
    target: &RunTarget,
    quiet: bool,
) -> Result<()> {
    // Fail on a missing device before a run folder exists.
    device::select(cfg.device)?;
    let t0 = std::time::Instant::now();
    let splits = data::load(&cfg.data, lookup)?;
    let prep = prepare(cfg, splits, origin)?;
    if !quiet {
        println!(
            "{}: {} on {} ({} train / {} val / {} test images of {:?}, loaded in {:.2}s), device {}",
            cfg.name,
            if cfg.model.preset.is_empty() {
                "custom net"
            } else {
                &cfg.model.preset
            },
            cfg.data.label(),
            prep.train.len(),
            prep.val.as_ref().map_or(0, |v| v.len()),
            prep.test.len(),
            prep.train.shape,
            t0.elapsed().as_secs_f64(),
            cfg.device
        );
    }
    // The lock is held (by `_lock`) until the run ends.
    let (dir, _lock) = target.create(&cfg.name)?;
    let s = train_in(cfg, &prep, &dir, quiet, false)?;
    if s.status == Status::Diverged {
        eprintln!(
            "run folder {} keeps the metrics up to the divergence",
            dir.dir.display()
        );
        return Err(Error::Diverged(s.diagnosis.unwrap_or_default()));
    }
    println!(
        "{}: {} after {} epochs, test accuracy {}, {:.1}s; run folder {}",
        cfg.name,
        s.status,
        s.epochs_run,
        s.test_acc
            .map_or("n/a".into(), |a| format!("{:.2}%", a * 100.0)),
        s.seconds,
        dir.dir.display()
    );
    Ok(())
}
