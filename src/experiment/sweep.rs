//! Running a study: every trial in order (or N at once as child processes), each stored
//! exactly as `convlab train` stores a run. Finished runs are skipped and an interrupted
//! one continues from its last completed epoch, so re-running the same command after a
//! Ctrl-C or a SIGKILL finishes the study.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use serde::Serialize;

use crate::data;
use crate::error::{Error, Result, write_atomic};
use crate::experiment::config::RunConfig;
use crate::experiment::run_store::RunStore;
use crate::experiment::study::{Axis, Study, Trial, Variant};
use crate::train::{device, trainer};

pub struct SweepOptions {
    pub runs_dir: PathBuf,
    pub data_dir: Option<PathBuf>,
    pub download: bool,
    pub device: Option<String>,
    pub jobs: usize,
    /// Run only this trial (a Slurm array task or a Kubernetes indexed pod).
    pub trial: Option<usize>,
    pub quiet: bool,
}

/// study.json: what the report needs to find and label every run.
#[derive(Serialize, serde::Deserialize)]
pub struct StudyIndex {
    pub name: String,
    pub study_file: PathBuf,
    #[serde(default)]
    pub overrides: Vec<String>,
    pub axes: Vec<Axis>,
    pub seeds: Vec<u64>,
    pub variants: Vec<Variant>,
    pub trials: Vec<TrialEntry>,
}

#[derive(Serialize, serde::Deserialize)]
pub struct TrialEntry {
    pub index: usize,
    pub variant: usize,
    pub seed: u64,
    /// Relative to the study folder.
    pub dir: PathBuf,
}

pub fn write_index(study: &Study, runs_dir: &Path) -> Result<PathBuf> {
    let root = runs_dir.join(&study.name);
    let index = StudyIndex {
        name: study.name.clone(),
        study_file: study.path.clone(),
        overrides: study.overrides.clone(),
        axes: study.axes.clone(),
        seeds: study.seeds.clone(),
        variants: study.variants.clone(),
        trials: study
            .trials
            .iter()
            .map(|t| TrialEntry {
                index: t.index,
                variant: t.variant,
                seed: t.seed,
                dir: Path::new(&study.variants[t.variant].name).join(format!("seed-{}", t.seed)),
            })
            .collect(),
    };
    let text = serde_json::to_string_pretty(&index).map_err(|e| Error::Other(e.to_string()))?;
    write_atomic(&root.join("study.json"), format!("{text}\n").as_bytes())?;
    // The study file itself, so the folder says what was asked for.
    if let Ok(src) = std::fs::read(&study.path) {
        write_atomic(&root.join("study.toml"), &src)?;
    }
    Ok(root)
}

/// What became of one trial.
pub enum Outcome {
    /// The summary, and the epoch an interrupted run was resumed after.
    Done(serde_json::Value, Option<usize>),
    Skipped(serde_json::Value),
    Failed(String),
}

pub fn run(study: &Study, opts: &SweepOptions) -> Result<()> {
    let mut study = study.clone();
    if let Some(d) = &opts.device {
        for t in &mut study.trials {
            t.cfg.device = d.clone();
            t.cfg.validate("--device")?;
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
    write_index(&study, &opts.runs_dir)?;
    let total = study.trials.len();
    let mut failures = 0;
    let mut report_line = |t: &Trial, outcome: &Outcome| {
        if matches!(outcome, Outcome::Failed(_)) {
            failures += 1;
            // Errors are printed even with --quiet.
            eprintln!("{}", progress_line(&study, t, total, outcome));
        } else if !opts.quiet {
            println!("{}", progress_line(&study, t, total, outcome));
        }
    };
    if opts.jobs <= 1 || trials.len() <= 1 {
        let mut data_cache: Option<(RunConfig, data::Splits)> = None;
        for t in trials {
            let outcome = run_trial(&study, t, opts, &mut data_cache);
            report_line(t, &outcome);
        }
    } else {
        run_parallel(&study, &trials, opts, &mut report_line)?;
    }
    if opts.trial.is_none() && !opts.quiet {
        let root = opts.runs_dir.join(&study.name);
        match crate::report::study::write(&root) {
            Ok(text) => println!("\n{text}"),
            Err(e) => eprintln!("error: report: {e}"),
        }
    }
    if failures > 0 {
        return Err(Error::Other(format!(
            "{failures} trial(s) failed (not diverged: an error, printed above); fix it and run the same command again"
        )));
    }
    Ok(())
}

fn progress_line(study: &Study, t: &Trial, total: usize, outcome: &Outcome) -> String {
    let width = total.to_string().len();
    let head = format!(
        "[{:>width$}/{total}] {} seed-{}",
        t.index + 1,
        study.variants[t.variant].name,
        t.seed
    );
    let pct = |s: &serde_json::Value, k: &str| {
        s.get(k)
            .and_then(|v| v.as_f64())
            .map_or("n/a".into(), |a| format!("{:.2}%", a * 100.0))
    };
    match outcome {
        Outcome::Failed(e) => format!("{head}: FAILED: {e}"),
        Outcome::Done(s, _) | Outcome::Skipped(s) => {
            let status = s.get("status").and_then(|v| v.as_str()).unwrap_or("?");
            let tag = match outcome {
                Outcome::Skipped(_) => " (already done)".to_string(),
                Outcome::Done(_, Some(e)) => format!(" (resumed after epoch {e})"),
                _ => String::new(),
            };
            if status == "diverged" {
                let d = s.get("diagnosis").and_then(|v| v.as_str()).unwrap_or("");
                format!("{head}: diverged{tag}: {d}")
            } else {
                format!(
                    "{head}: {status}{tag}, {} epochs, best val {}, test {}, {:.1}s",
                    s.get("epochs_run").and_then(|v| v.as_u64()).unwrap_or(0),
                    pct(s, "best_val_acc"),
                    pct(s, "test_acc"),
                    s.get("seconds").and_then(|v| v.as_f64()).unwrap_or(0.0)
                )
            }
        }
    }
}

fn read_summary(dir: &Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("summary.json")).ok()?;
    serde_json::from_str(&text).ok()
}

/// A run folder may only be continued by the config that started it.
fn check_same_config(dir: &Path, cfg: &RunConfig) -> Result<()> {
    let path = dir.join("config.toml");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let stored = RunConfig::parse(&text, &path.display().to_string())?;
    if &stored != cfg {
        return Err(Error::input(
            dir.display(),
            "holds a run made with a different config (the study file changed); delete that folder or give the study a new name",
        ));
    }
    Ok(())
}

pub fn run_trial(
    study: &Study,
    t: &Trial,
    opts: &SweepOptions,
    data_cache: &mut Option<(RunConfig, data::Splits)>,
) -> Outcome {
    let dir = study.trial_dir(&opts.runs_dir, t);
    match train_trial(study, t, &dir, opts, data_cache) {
        Ok(o) => o,
        Err(Error::Diverged(_)) => read_summary(&dir).map_or_else(
            || Outcome::Failed("diverged, but summary.json is missing".into()),
            |s| Outcome::Done(s, None),
        ),
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

fn train_trial(
    study: &Study,
    t: &Trial,
    dir: &Path,
    opts: &SweepOptions,
    data_cache: &mut Option<(RunConfig, data::Splits)>,
) -> Result<Outcome> {
    check_same_config(dir, &t.cfg)?;
    if let Some(s) = read_summary(dir) {
        return Ok(Outcome::Skipped(s));
    }
    let cfg = &t.cfg;
    let origin = format!("{} (trial {})", study.path.display(), t.index);
    let dev = device::select(&cfg.device)?;
    // Trials of one study nearly always share their data: decode it once.
    let splits = match data_cache {
        Some((c, s)) if c.data == cfg.data => s.clone(),
        _ => {
            let s = data::load(&cfg.data, opts.data_dir.as_deref(), opts.download)?;
            *data_cache = Some((cfg.clone(), s.clone()));
            s
        }
    };
    let dataset = cfg.data.label();
    let prep = trainer::prepare(cfg, splits, &origin)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    remove_temporaries(dir);
    let resume_file = dir.join(crate::train::resume::FILE);
    let resumed_after = if resume_file.exists() {
        Some(crate::train::resume::epochs_done(&resume_file)?)
    } else {
        None
    };
    let store = RunStore {
        dir: dir.to_path_buf(),
    };
    let summary = trainer::Trainer {
        cfg,
        prep: &prep,
        store: &store,
        device: dev,
        device_name: cfg.device.clone(),
        dataset,
        quiet: true,
        resume: true,
    }
    .run()?;
    Ok(Outcome::Done(
        serde_json::to_value(&summary).unwrap_or_default(),
        resumed_after,
    ))
}

/// A killed run can leave the temporary files of an unfinished atomic write (`.name.tmpPID`);
/// they never replaced a good file, so they can go.
fn remove_temporaries(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp") {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// `--jobs N`: N child processes, each `convlab sweep STUDY --trial i`, sharing the cores.
fn run_parallel(
    study: &Study,
    trials: &[&Trial],
    opts: &SweepOptions,
    report_line: &mut dyn FnMut(&Trial, &Outcome),
) -> Result<()> {
    let exe = std::env::current_exe()
        .map_err(|e| Error::Other(format!("cannot find convlab itself: {e}")))?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (cores / opts.jobs).max(1);
    let mut queue = trials.iter().rev().copied().collect::<Vec<_>>();
    let mut running: Vec<(&Trial, Child)> = Vec::new();
    loop {
        while running.len() < opts.jobs {
            let Some(t) = queue.pop() else { break };
            let dir = study.trial_dir(&opts.runs_dir, t);
            if let Some(s) = read_summary(&dir).filter(|_| check_same_config(&dir, &t.cfg).is_ok())
            {
                report_line(t, &Outcome::Skipped(s));
                continue;
            }
            let mut cmd = Command::new(&exe);
            cmd.arg("sweep")
                .arg(&study.path)
                .arg("--trial")
                .arg(t.index.to_string())
                .arg("--runs-dir")
                .arg(&opts.runs_dir)
                .arg("--quiet")
                .env("RAYON_NUM_THREADS", threads.to_string());
            for o in &study.overrides {
                cmd.arg("--set").arg(o);
            }
            if let Some(d) = &opts.data_dir {
                cmd.arg("--data-dir").arg(d);
            }
            if opts.download {
                cmd.arg("--download");
            }
            if let Some(d) = &opts.device {
                cmd.arg("--device").arg(d);
            }
            let child = cmd
                .spawn()
                .map_err(|e| Error::Other(format!("could not start trial {}: {e}", t.index)))?;
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
                    let outcome = match read_summary(&dir) {
                        Some(s) => Outcome::Done(s, None),
                        None => Outcome::Failed(format!("exited with {status}")),
                    };
                    report_line(t, &outcome);
                }
                Ok(None) => i += 1,
                Err(e) => return Err(Error::Other(format!("waiting for a trial: {e}"))),
            }
        }
    }
}
