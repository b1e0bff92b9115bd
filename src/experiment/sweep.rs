//! Running a study: every trial in order (or N at once as child processes), each stored
//! exactly as `convlab train` stores a run. Finished runs are skipped and an interrupted
//! one continues from its last completed epoch, so re-running the same command after a
//! Ctrl-C or a SIGKILL finishes the study.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use crate::data::{self, Lookup};
use crate::error::{Error, Result, write_atomic};
use crate::experiment::config::{differences, read_stored};
use crate::experiment::overrides::warning_line;
use crate::experiment::study::{Study, Trial};
use crate::experiment::training::{prepare_run, train_in};
use crate::run::{RunDir, Status, Summary, files, try_lock, write_json};
use crate::text::counted;
use crate::train::config::RunConfig;
use crate::train::device::DeviceName;
use crate::train::ema::short_run_warning;
use crate::train::resume;

pub struct SweepOptions {
    pub runs_dir: PathBuf,
    pub lookup: Lookup,
    pub device: Option<DeviceName>,
    pub jobs: usize,
    /// Run only this trial (a Slurm array task or a Kubernetes indexed pod).
    pub trial: Option<usize>,
    pub quiet: bool,
}

/// What became of one trial.
pub enum Outcome {
    /// The summary, and the epoch an interrupted run was resumed after.
    Done(Summary, Option<usize>),
    Skipped(Summary),
    /// Another process holds the trial's run folder (it is training it now).
    Held,
    Failed(String),
}

/// study.json and study.toml in the study folder; returns the folder.
pub fn write_index(study: &Study, runs_dir: &Path) -> Result<PathBuf> {
    let root = runs_dir.join(&study.name);
    write_json(&root.join(files::STUDY_INDEX), &study.index())?;
    // The study file itself, so the folder says what was asked for.
    if let Ok(src) = std::fs::read(&study.path) {
        write_atomic(&root.join(files::STUDY_FILE), &src)?;
    }
    Ok(root)
}

/// Train the study's trials (or the one `opts.trial` names); `on_outcome` hears of each.
/// A trial that failed with an error makes the result an error once all have run.
pub fn run(
    study: &Study,
    opts: &SweepOptions,
    on_outcome: &mut dyn FnMut(&Trial, &Outcome),
) -> Result<()> {
    let mut study = study.clone();
    if let Some(d) = opts.device {
        for t in &mut study.trials {
            t.cfg.device = d;
        }
    }
    let trials: Vec<&Trial> = match opts.trial {
        Some(i) => vec![study.trials.get(i).ok_or_else(|| {
            Error::input(
                format!("--trial {i}"),
                format!(
                    "the study has trials 0..{}",
                    study.trials.len().saturating_sub(1)
                ),
            )
        })?],
        None => study.trials.iter().collect(),
    };
    // A missing device fails the sweep once, before any study or trial folder exists.
    let mut checked: Vec<DeviceName> = Vec::new();
    for t in &trials {
        if !checked.contains(&t.cfg.device) {
            crate::train::device::select(t.cfg.device)?;
            checked.push(t.cfg.device);
        }
    }
    // A dataset that is not there fails the sweep once, before any folder exists, not once
    // per trial; trials already finished need none.
    let mut found: Vec<&data::DataConfig> = Vec::new();
    for t in &trials {
        let d = &t.cfg.data;
        let seen = (found.iter()).any(|f| (f.dataset, &f.path) == (d.dataset, &d.path));
        if seen
            || matches!(
                finished(&study.trial_dir(&opts.runs_dir, t), &t.cfg),
                Ok(Some(_))
            )
        {
            continue;
        }
        data::find(d, &opts.lookup)?;
        found.push(d);
    }
    // A changed study file fails once, before study.toml is overwritten or any trial trains.
    check_unchanged(&study, &trials, &opts.runs_dir)?;
    write_index(&study, &opts.runs_dir)?;
    let mut failures = 0;
    let mut report = |t: &Trial, outcome: &Outcome| {
        failures += usize::from(matches!(outcome, Outcome::Failed(_)));
        on_outcome(t, outcome);
    };
    if opts.jobs <= 1 || trials.len() <= 1 {
        let mut data_cache: Option<(RunConfig, data::Splits)> = None;
        for t in trials {
            let dir = study.trial_dir(&opts.runs_dir, t);
            let outcome = train_trial(&study, t, &dir, opts, &mut data_cache)
                .unwrap_or_else(|e| Outcome::Failed(e.to_string()));
            report(t, &outcome);
        }
    } else {
        run_parallel(&study, &trials, opts, &mut report)?;
    }
    if failures > 0 {
        return Err(Error::TrialsFailed(failures));
    }
    Ok(())
}

/// The one-line account of a trial that the sweep prints.
pub fn progress_line(study: &Study, t: &Trial, outcome: &Outcome) -> String {
    let total = study.trials.len();
    let width = total.to_string().len();
    let head = format!(
        "[{:>width$}/{total}] {} seed-{}",
        t.index + 1,
        study.variants[t.variant].name,
        t.seed
    );
    let pct = |a: Option<f64>| a.map_or("n/a".into(), |a| format!("{:.2}%", a * 100.0));
    let (s, tag) = match outcome {
        Outcome::Failed(e) => return format!("{head}: FAILED: {e}"),
        Outcome::Held => {
            return format!(
                "{head}: skipped, another process is training it (its run folder is locked)"
            );
        }
        Outcome::Skipped(s) => (s, " (already done)".to_string()),
        Outcome::Done(s, Some(e)) => (s, format!(" (resumed after epoch {e})")),
        Outcome::Done(s, None) => (s, String::new()),
    };
    if s.status == Status::Diverged {
        let d = s.diagnosis.as_deref().unwrap_or("");
        format!("{head}: diverged{tag}: {d}")
    } else {
        format!(
            "{head}: {}{tag}, {}, best val {}, test {}, {:.1}s",
            s.status,
            counted(s.epochs_run, "epoch"),
            pct(s.best_val_acc),
            pct(s.test_acc),
            s.seconds
        )
    }
}

/// A run folder may only be continued by the config that started it.
fn check_same_config(dir: &Path, cfg: &RunConfig) -> Result<()> {
    let path = dir.join(files::CONFIG);
    if !path.exists() {
        return Ok(());
    }
    let differ = differences(cfg, &read_stored(&path)?)?;
    if !differ.is_empty() {
        return Err(Error::input(
            dir.display(),
            format!(
                "holds a run made with a different config ({}; the study file changed); delete that folder or give the study a new name",
                differ.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Every trial folder that already holds a run must hold one made with its trial's config.
fn check_unchanged(study: &Study, trials: &[&Trial], runs_dir: &Path) -> Result<()> {
    let mut changed = trials
        .iter()
        .map(|t| check_same_config(&study.trial_dir(runs_dir, t), &t.cfg))
        .filter_map(Result::err);
    let Some(first) = changed.next() else {
        return Ok(());
    };
    let more = changed.count();
    if more == 0 {
        return Err(first);
    }
    Err(Error::input(
        study.path.display(),
        format!("{first}; {more} more trial folder(s) also hold runs of a different config"),
    ))
}

/// The summary of a finished trial made with this config, if there is one.
fn finished(dir: &Path, cfg: &RunConfig) -> Result<Option<Summary>> {
    check_same_config(dir, cfg)?;
    RunDir {
        dir: dir.to_path_buf(),
    }
    .read_summary()
}

fn train_trial(
    study: &Study,
    t: &Trial,
    dir: &Path,
    opts: &SweepOptions,
    data_cache: &mut Option<(RunConfig, data::Splits)>,
) -> Result<Outcome> {
    if let Some(s) = finished(dir, &t.cfg)? {
        return Ok(Outcome::Skipped(s));
    }
    let run = RunDir::open(dir)?;
    let Some(_lock) = try_lock(dir)? else {
        return Ok(Outcome::Held);
    };
    // Its holder may have finished it between the check above and the lock.
    if let Some(s) = finished(dir, &t.cfg)? {
        return Ok(Outcome::Skipped(s));
    }
    let cfg = &t.cfg;
    let origin = format!("{} (trial {})", study.path.display(), t.index);
    // Trials of one study nearly always share their data: decode it once.
    let splits = match data_cache {
        Some((c, s)) if c.data == cfg.data => s.clone(),
        _ => {
            let s = data::load(&cfg.data, &opts.lookup)?;
            *data_cache = Some((cfg.clone(), s.clone()));
            s
        }
    };
    let prep = prepare_run(cfg, splits, &origin, &study.overrides)?;
    // Said once per variant, by its first seed's trial (in this process or a --jobs child).
    let first_of_variant = study.trials.iter().find(|x| x.variant == t.variant);
    if first_of_variant.is_some_and(|x| x.index == t.index) {
        let steps = cfg.train.optimizer_steps(prep.train.len()) * cfg.train.epochs;
        if let Some(line) = short_run_warning(cfg.train.ema_decay, steps) {
            eprintln!("{}", warning_line(&origin, &line, &study.overrides));
        }
    }
    // Only the lock holder may: another process's half-written files would go too.
    run.remove_temporaries();
    let resume_file = run.path(files::RESUME);
    let resumed_after = if resume_file.exists() {
        Some(resume::epochs_done(&resume_file)?)
    } else {
        None
    };
    let summary = train_in(cfg, &prep, &run, true, true)?;
    Ok(Outcome::Done(summary, resumed_after))
}

/// The command that trains trial `t` alone, as `--jobs` children (and job files) run it.
fn trial_command(study: &Study, t: &Trial, opts: &SweepOptions, exe: &Path) -> Command {
    let mut cmd = Command::new(exe);
    cmd.arg("sweep")
        .arg(&study.path)
        .arg("--trial")
        .arg(t.index.to_string())
        .arg("--runs-dir")
        .arg(&opts.runs_dir)
        .arg("--quiet");
    for o in &study.overrides {
        cmd.arg("--set").arg(o);
    }
    if let Some(d) = &opts.lookup.data_dir {
        cmd.arg("--data-dir").arg(d);
    }
    if opts.lookup.download {
        cmd.arg("--download");
    }
    if let Some(d) = opts.device {
        cmd.arg("--device").arg(d.as_str());
    }
    cmd
}

/// `--jobs N`: N child processes, each `convlab sweep STUDY --trial i`, sharing the cores.
fn run_parallel(
    study: &Study,
    trials: &[&Trial],
    opts: &SweepOptions,
    report: &mut dyn FnMut(&Trial, &Outcome),
) -> Result<()> {
    let exe = std::env::current_exe().map_err(|e| Error::process("convlab's own path", e))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / opts.jobs).max(1);
    let mut queue = trials.iter().rev().copied().collect::<Vec<_>>();
    let mut running: Vec<(&Trial, Child)> = Vec::new();
    loop {
        while running.len() < opts.jobs {
            let Some(t) = queue.pop() else { break };
            let dir = study.trial_dir(&opts.runs_dir, t);
            if let Ok(Some(s)) = finished(&dir, &t.cfg) {
                report(t, &Outcome::Skipped(s));
                continue;
            }
            let child = trial_command(study, t, opts, &exe)
                .env("RAYON_NUM_THREADS", threads.to_string())
                .spawn()
                .map_err(|e| Error::process(format!("trial {}", t.index), e))?;
            running.push((t, child));
        }
        if running.is_empty() {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut i = 0;
        while i < running.len() {
            match running[i].1.try_wait() {
                Ok(Some(status)) => {
                    let (t, _) = running.swap_remove(i);
                    let dir = study.trial_dir(&opts.runs_dir, t);
                    let outcome = match finished(&dir, &t.cfg) {
                        Ok(Some(s)) => Outcome::Done(s, None),
                        // A child that trained nothing and succeeded found the folder held
                        // (the child takes the lock: a probe here would hold it a moment
                        // and could turn a third process away).
                        Ok(None) if status.success() => Outcome::Held,
                        Ok(None) => Outcome::Failed(format!("exited with {status}")),
                        Err(e) => Outcome::Failed(e.to_string()),
                    };
                    report(t, &outcome);
                }
                Ok(None) => i += 1,
                Err(e) => return Err(Error::process("waiting for a trial", e)),
            }
        }
    }
}
