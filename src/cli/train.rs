//! `convlab train CONFIG.toml`: one run into a new run folder.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Args;

use super::ConfigArgs;
use crate::data::{self, Lookup};
use crate::error::{Error, Result};
use crate::experiment::overrides::warning_line;
use crate::experiment::training::{RunTarget, check_resumable, prepare_run, train_in};
use crate::run::{Status, files};
use crate::train::config::RunConfig;
use crate::train::device;
use crate::train::ema::short_run_warning;
use crate::train::resume;
use crate::train::unused_keys::unused_keys;

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// Parent folder of run folders.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Exact run folder: a new or empty one (nothing in it is overwritten).
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Continue the interrupted run in <runs-dir>/<name> (or --run-dir) after its last
    /// completed epoch, with the same config and --set values; it ends as an uninterrupted
    /// run would.
    #[arg(long)]
    resume: bool,
    /// Print only the final summary.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: TrainArgs) -> Result<()> {
    let (cfg, given) = a.config.load_and_keys()?;
    let named = a.runs_dir.join(&cfg.name);
    let target = RunTarget::from_flags(a.run_dir.as_deref(), &a.runs_dir, &named, a.resume);
    let lookup = a.config.data.lookup();
    let origin = a.config.origin();
    let again = format!("`convlab train {origin} --resume`");
    let run = NewRun {
        cfg: &cfg,
        given: &given,
        sets: &a.config.set,
        origin: &origin,
    };
    train_new(&run, &lookup, &target, a.quiet, &again)
}

/// A validated config and where it came from, for the messages about it.
#[derive(Clone, Copy)]
pub(super) struct NewRun<'a> {
    pub cfg: &'a RunConfig,
    /// The keys the user wrote, for the unread-key warnings.
    pub given: &'a BTreeSet<String>,
    /// The `--set`s, named in the warnings about their keys.
    pub sets: &'a [String],
    /// The config file (or finetune's folder), named in every message.
    pub origin: &'a str,
}

/// Load the data, train a validated config into its run folder and say how it ended;
/// a diverged run exits with 3 (its folder keeps the metrics up to the divergence). A resume
/// file is kept after every epoch; `resume_command` is how the user continues the run.
pub(super) fn train_new(
    run: &NewRun,
    lookup: &Lookup,
    target: &RunTarget,
    quiet: bool,
    resume_command: &str,
) -> Result<()> {
    let NewRun {
        cfg,
        given,
        sets,
        origin,
    } = *run;
    for line in unused_keys(cfg, given) {
        eprintln!("{}", warning_line(origin, &line, sets));
    }
    // Fail on a missing device, or a run that cannot be resumed, before loading any data.
    device::select(cfg.device)?;
    if let RunTarget::Resume(dir) = target {
        check_resumable(dir, cfg)?;
    }
    let t0 = std::time::Instant::now();
    let splits = data::load(&cfg.data, lookup)?;
    let prep = prepare_run(cfg, splits, origin, sets)?;
    let steps = cfg.train.optimizer_steps(prep.train.len()) * cfg.train.epochs;
    if let Some(line) = short_run_warning(cfg.train.ema_decay, steps) {
        eprintln!("{}", warning_line(origin, &line, sets));
    }
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
        if cfg.train.ema_decay > 0.0 {
            let raw = match prep.val {
                Some(_) => ", and so is the val accuracy in brackets (raw weights)",
                None => "",
            };
            println!(
                "val, test and the checkpoints are the moving average's (train.ema_decay = {}); train loss and accuracy are the weights'{raw}",
                cfg.train.ema_decay
            );
        }
    }
    // The lock is held (by `_lock`) until the run ends.
    let (dir, _lock) = target.create(cfg)?;
    if let RunTarget::Resume(d) = target
        && !d.join(files::RESUME).is_file()
    {
        println!(
            "{}: no epoch had completed; it starts again from epoch 1",
            d.display()
        );
    }
    if let RunTarget::Unique(root) = target {
        say_unfinished(&root.join(&cfg.name), &dir.dir, resume_command);
    }
    let s = train_in(cfg, &prep, &dir, quiet, true)?;
    if s.status == Status::Diverged {
        eprintln!(
            "run folder {} keeps the metrics up to the divergence",
            dir.dir.display()
        );
        return Err(Error::Diverged(s.diagnosis.unwrap_or_default()));
    }
    println!(
        "{}: {} after {}, test accuracy {}, {:.1}s; run folder {}",
        cfg.name,
        s.status,
        crate::text::counted(s.epochs_run, "epoch"),
        s.test_acc
            .map_or("n/a".into(), |a| format!("{:.2}%", a * 100.0)),
        s.seconds,
        dir.dir.display()
    );
    Ok(())
}

/// When a new run goes to `<name>-N` beside an unfinished `<name>`, say how to continue that
/// one instead (a user who pressed Ctrl-C and ran the same command again wants to know).
fn say_unfinished(named: &Path, chosen: &Path, resume_command: &str) {
    let unfinished = named.join(files::RESUME).is_file() && !named.join(files::SUMMARY).exists();
    if named != chosen && unfinished {
        let epochs = resume::epochs_done(&named.join(files::RESUME)).unwrap_or(0);
        eprintln!(
            "note: {} holds an unfinished run ({epochs} epochs done); if it was interrupted, {resume_command} continues it. This run goes to {}",
            named.display(),
            chosen.display()
        );
    }
}
