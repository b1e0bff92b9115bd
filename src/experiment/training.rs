//! One training run as `convlab train`, `finetune` and every sweep trial do it: the trainer
//! with the run folder's curves redrawn after each epoch.

use std::path::Path;

use crate::error::{Error, Result};
use crate::report::curves;
use crate::run::{EpochMetrics, RunDir, RunLock, Summary, files, try_lock};
use crate::train::config::RunConfig;
use crate::train::device;
use crate::train::prepare::Prepared;
use crate::train::trainer::Trainer;

/// Where a new run's folder goes.
pub enum RunTarget<'a> {
    /// `<runs_dir>/<name>`, or `<name>-2`, `-3`, ... when taken.
    Unique(&'a Path),
    /// Exactly this folder, which must not hold a run yet.
    Exact(&'a Path),
}

impl RunTarget<'_> {
    /// The new run's folder, locked for this process until the lock is dropped.
    pub fn create(&self, name: &str) -> Result<(RunDir, RunLock)> {
        let dir = match self {
            RunTarget::Unique(root) => RunDir::create_unique(root, name)?,
            RunTarget::Exact(dir) => RunDir::create_at(dir)?,
        };
        match try_lock(&dir.dir)? {
            Some(lock) => Ok((dir, lock)),
            None => Err(Error::input(
                dir.dir.display(),
                "another process is training into this folder; choose another --run-dir",
            )),
        }
    }
}

/// Train `cfg` on `prep` into `dir`. With `resume`, an interrupted run in `dir` continues
/// and a resume file is kept after every epoch. A diverged run is `Ok` with that status.
pub fn train_in(
    cfg: &RunConfig,
    prep: &Prepared,
    dir: &RunDir,
    quiet: bool,
    resume: bool,
) -> Result<Summary> {
    let draw =
        |d: &RunDir, rows: &[EpochMetrics]| curves::draw(&d.path(files::CURVES), rows, &cfg.name);
    Trainer {
        cfg,
        prep,
        dir,
        device: device::select(cfg.device)?,
        quiet,
        resume,
        after_epoch: &draw,
    }
    .run()
}
