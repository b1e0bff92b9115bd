//! `convlab sweep STUDY.toml`: every trial of a study (or one, or N at once), then the
//! report; `--list` and `--emit` only describe the work.

use std::path::PathBuf;

use clap::Args;

use super::DataArgs;
use crate::error::{Error, Result, write_atomic};
use crate::experiment::emit::{self, EmitOptions, EmitTarget};
use crate::experiment::overrides::warning_line;
use crate::experiment::study::Study;
use crate::experiment::sweep::{self, Outcome, SweepOptions, progress_line};
use crate::train::config::RunConfig;
use crate::train::device;
use crate::train::unused_keys::unused_by_all;

#[derive(Args)]
pub struct SweepArgs {
    study: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Parent folder of study folders.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// cpu (default) or cuda; overrides the study's device.
    #[arg(long)]
    device: Option<String>,
    /// Override a key of the base run, e.g. --set train.epochs=2 --set name=short (the study name).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Trials to run at once, as child processes sharing the cores.
    #[arg(long, short, default_value_t = 1)]
    jobs: usize,
    /// Run only trial I (0-based), as a Slurm array task or Kubernetes pod does.
    #[arg(long, value_name = "I")]
    trial: Option<usize>,
    /// List the trials (index, variant, seed, folder) and exit.
    #[arg(long)]
    list: bool,
    /// Write a cluster job file instead of training: slurm (job array) or k8s (Indexed Job).
    #[arg(long, value_name = "slurm|k8s")]
    emit: Option<String>,
    /// Where --emit writes (default: <runs-dir>/<study>.slurm or .k8s.yaml).
    #[arg(long)]
    out: Option<PathBuf>,
    /// --emit k8s: the container image holding convlab.
    #[arg(long, default_value = "convlab:latest")]
    image: String,
    /// --emit: tasks that may run at once.
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// Print no per-run lines and no report.
    #[arg(long, short)]
    quiet: bool,
}

pub fn run(a: SweepArgs) -> Result<()> {
    let study = Study::load(&a.study, &a.set)?;
    let device = a.device.as_deref().map(device::parse_flag).transpose()?;
    if !a.list && a.trial.is_none() {
        let configs: Vec<&RunConfig> = study.trials.iter().map(|t| &t.cfg).collect();
        for line in unused_by_all(&configs, &study.given) {
            eprintln!(
                "{}",
                warning_line(&a.study.display().to_string(), &line, &a.set)
            );
        }
    }
    if a.list {
        for t in &study.trials {
            println!(
                "{:>4}  {}",
                t.index,
                study.trial_dir(&a.runs_dir, t).display()
            );
        }
        return Ok(());
    }
    if let Some(kind) = &a.emit {
        let target: EmitTarget = kind.parse().map_err(|e| Error::input("--emit", e))?;
        if a.parallel == 0 {
            return Err(Error::input("--parallel", "must be at least 1"));
        }
        let path = a.out.clone().unwrap_or_else(|| {
            a.runs_dir
                .join(format!("{}.{}", study.name, target.extension()))
        });
        let o = EmitOptions {
            runs_dir: &a.runs_dir,
            data_dir: a.data.data_dir.as_deref(),
            device,
            image: &a.image,
            parallel: a.parallel,
            file: &path,
        };
        let text = emit::emit(target, &study, &o);
        write_atomic(&path, text.as_bytes())?;
        println!(
            "wrote {} ({})",
            path.display(),
            crate::text::counted(study.trials.len(), "trial")
        );
        return Ok(());
    }
    if a.jobs == 0 {
        return Err(Error::input("--jobs", "must be at least 1"));
    }
    let opts = SweepOptions {
        runs_dir: a.runs_dir.clone(),
        lookup: a.data.lookup(),
        device,
        jobs: a.jobs,
        trial: a.trial,
        quiet: a.quiet,
    };
    let mut held = 0;
    let result = sweep::run(&study, &opts, &mut |t, outcome| {
        held += usize::from(matches!(outcome, Outcome::Held));
        if matches!(outcome, Outcome::Failed(_)) {
            // Errors are printed even with --quiet.
            eprintln!("{}", progress_line(&study, t, outcome));
        } else if !a.quiet {
            println!("{}", progress_line(&study, t, outcome));
        }
    });
    if held > 0 && !a.quiet {
        println!(
            "{held} trial(s) skipped: another process is training them; once it ends, its report (or `convlab report {}`) has them",
            a.runs_dir.join(&study.name).display()
        );
    }
    let trials_ran = matches!(result, Ok(()) | Err(Error::TrialsFailed(_)));
    if trials_ran && a.trial.is_none() && !a.quiet {
        // Two sweeps of one study ending together: one reads and writes the report after
        // the other, so the last report written is never one read before a trial ended.
        let root = a.runs_dir.join(&study.name);
        let written =
            crate::run::lock_waiting(&root).and_then(|_lock| crate::report::study::write(&root));
        match written {
            Ok(text) => println!("\n{text}"),
            Err(e) => eprintln!("error: report: {e}"),
        }
    }
    result
}
