//! One training run as `convlab train`, `finetune` and every sweep trial do it: the trainer
//! with the run folder's curves redrawn after each epoch.

use std::path::Path;

use crate::data::Splits;
use crate::error::{Error, Result};
use crate::experiment::config::{differences, read_stored};
use crate::experiment::overrides::{blame_set, warning_line};
use crate::report::curves;
use crate::run::{EpochMetrics, RunDir, RunLock, Summary, files, try_lock};
use crate::text::counted;
use crate::train::config::RunConfig;
use crate::train::device;
use crate::train::prepare::{Prepared, prepare};
use crate::train::trainer::Trainer;

/// The net checked against the data and the validation split carved, as
/// `train::prepare::prepare`; its error and warnings name the config (`origin`) and the
/// `--set` behind the key they are about.
pub fn prepare_run(
    cfg: &RunConfig,
    splits: Splits,
    origin: &str,
    sets: &[String],
) -> Result<Prepared> {
    let prep = prepare(cfg, splits, origin).map_err(|e| blame_set(e, sets))?;
    for line in &prep.warnings {
        eprintln!("{}", warning_line(origin, line, sets));
    }
    Ok(prep)
}

/// Where a run's folder goes.
pub enum RunTarget<'a> {
    /// `<runs_dir>/<name>`, or `<name>-2`, `-3`, ... when taken.
    Unique(&'a Path),
    /// Exactly this folder, which must not hold a run yet.
    Exact(&'a Path),
    /// This folder's interrupted run, continued from its last completed epoch.
    Resume(&'a Path),
}

impl<'a> RunTarget<'a> {
    /// What train's and finetune's flags ask for: `--run-dir` (exact, or the run to resume)
    /// or a folder under `--runs-dir` (`named` is `<runs-dir>/<name>`, the one to resume).
    pub fn from_flags(
        run_dir: Option<&'a Path>,
        runs_dir: &'a Path,
        named: &'a Path,
        resume: bool,
    ) -> Self {
        match (run_dir, resume) {
            (Some(d), false) => RunTarget::Exact(d),
            (None, false) => RunTarget::Unique(runs_dir),
            (Some(d), true) => RunTarget::Resume(d),
            (None, true) => RunTarget::Resume(named),
        }
    }

    /// The run's folder, locked for this process until the lock is dropped.
    pub fn create(&self, cfg: &RunConfig) -> Result<(RunDir, RunLock)> {
        let dir = match self {
            RunTarget::Unique(root) => RunDir::create_unique(root, &cfg.name)?,
            RunTarget::Exact(dir) => RunDir::create_at(dir)?,
            RunTarget::Resume(dir) => return reopen(dir, cfg),
        };
        match try_lock(&dir.dir)? {
            Some(lock) => Ok((dir, lock)),
            None => Err(held(&dir.dir)),
        }
    }
}

fn held(dir: &Path) -> Error {
    Error::input(
        dir.display(),
        "another process is training into this folder; choose another --run-dir",
    )
}

/// An interrupted run's folder, locked, once it is known to hold an unfinished run made with
/// `cfg` (a different config would continue weights and moments it did not make). The caller
/// has checked before loading data; this check is under the lock, as another process may have
/// finished the run meanwhile.
fn reopen(dir: &Path, cfg: &RunConfig) -> Result<(RunDir, RunLock)> {
    let lock = try_lock(dir)?.ok_or_else(|| held(dir))?;
    check_resumable(dir, cfg)?;
    let run = RunDir::open(dir)?;
    // Only the lock holder may: another process's half-written files would go too.
    run.remove_temporaries();
    Ok((run, lock))
}

/// Whether `dir` holds an unfinished run made with `cfg`; callers check before loading data.
pub fn check_resumable(dir: &Path, cfg: &RunConfig) -> Result<()> {
    if !dir.join(files::CONFIG).is_file() {
        return Err(Error::input(
            dir.display(),
            "holds no run to resume (leave out --resume to start one)",
        ));
    }
    let run = RunDir {
        dir: dir.to_path_buf(),
    };
    if let Some(s) = run.read_summary()? {
        return Err(Error::input(
            dir.display(),
            format!(
                "its run has ended ({} after {}); there is nothing to resume",
                s.status,
                counted(s.epochs_run, "epoch")
            ),
        ));
    }
    let differ = differences(cfg, &read_stored(&run.path(files::CONFIG))?)?;
    if !differ.is_empty() {
        return Err(Error::input(
            dir.display(),
            format!(
                "its run was started with another config: {}; resume with the config, options and --set values it started with",
                differ.join(", ")
            ),
        ));
    }
    Ok(())
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
