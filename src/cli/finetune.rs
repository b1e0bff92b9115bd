//! `convlab finetune CKPT --data FOLDER` (or `--checkpoint CKPT`): the fine-tuning recipe (or
//! the same from scratch), trained and stored as `convlab train` does.

use std::path::PathBuf;

use clap::Args;

use super::CheckpointArg;
use crate::data::Lookup;
use crate::error::{Error, Result};
use crate::experiment::config::{check_run_name, given_keys, to_table, typed};
use crate::experiment::overrides::{apply_sets, blame_set, set_key};
use crate::experiment::training::RunTarget;
use crate::run;
use crate::train::device;
use crate::train::finetune::{FinetuneOptions, fit_head, recipe};

#[derive(Args)]
pub struct FinetuneArgs {
    #[command(flatten)]
    checkpoint: CheckpointArg,
    /// Image folder ROOT with train/<class>/ and test/<class>/, or just <class>/ folders (then
    /// data.test_fraction of each class is the test set); or a .tar.gz of one.
    #[arg(long, visible_alias = "folder")]
    data: PathBuf,
    /// Epochs in all, the frozen ones included.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Train only the new head for the first this many of --epochs.
    #[arg(long, default_value_t = 1)]
    freeze_epochs: usize,
    /// The learning rate of the recipe's Adam (`--set optimizer.name=...` picks another).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Images per training step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Same net and recipe from random weights instead (the baseline to compare with).
    #[arg(long)]
    scratch: bool,
    /// Any other run-config key, e.g. --set data.hflip=true --set seed=1.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// The run folder's name (default: finetune-<folder>, or scratch-<folder>).
    #[arg(long)]
    name: Option<String>,
    /// cpu, or cuda (a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Parent folder of run folders.
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
    /// Exact run folder: a new or empty one (nothing in it is overwritten), as train takes it.
    #[arg(long)]
    run_dir: Option<PathBuf>,
    /// Continue the interrupted fine-tune in <runs-dir>/<name> (or --run-dir) after its last
    /// completed epoch, given the same options; it ends as an uninterrupted one would.
    #[arg(long)]
    resume: bool,
    /// Print only the final summary.
    #[arg(long, short)]
    quiet: bool,
}

/// The run-config keys finetune's own flags set; a `--set` of one would fight its flag.
const FLAG_KEYS: [(&str, &str); 6] = [
    ("train.epochs", "--epochs"),
    ("train.freeze_epochs", "--freeze-epochs"),
    ("optimizer.lr", "--lr"),
    ("train.batch_size", "--batch-size"),
    ("name", "--name"),
    ("device", "--device"),
];

pub fn run(a: FinetuneArgs) -> Result<()> {
    for o in &a.set {
        let key = set_key(o);
        if let Some((_, flag)) = FLAG_KEYS.iter().find(|(k, _)| *k == key) {
            return Err(Error::input(
                format!("--set {o}"),
                format!("finetune sets {key} with {flag}"),
            ));
        }
    }
    if !a.scratch && a.freeze_epochs > a.epochs {
        return Err(Error::input(
            "--freeze-epochs",
            format!(
                "{} is more than --epochs {}: the frozen epochs are among them (equal: only \
                 the new head ever trains)",
                a.freeze_epochs, a.epochs
            ),
        ));
    }
    let checkpoint = run::checkpoint_in(&a.checkpoint.path())?;
    let base = recipe(&FinetuneOptions {
        checkpoint: checkpoint.clone(),
        folder: a.data.clone(),
        epochs: a.epochs,
        freeze_epochs: a.freeze_epochs,
        lr: a.lr,
        batch_size: a.batch_size,
        scratch: a.scratch,
        name: a.name.clone(),
        device: device::parse_flag(&a.device)?,
    })?;
    let origin = format!("finetune {}", a.data.display());
    let mut table = to_table(&base)?;
    apply_sets(&mut table, &a.set)?;
    // The head is sized for the folder's classes before the net is checked.
    let blame = |e| blame_set(e, &a.set);
    let mut cfg = typed(table, &origin).map_err(blame)?;
    fit_head(&mut cfg)?;
    cfg.resolve();
    cfg.validate(&origin).map_err(blame)?;
    check_run_name(&cfg.name, &origin).map_err(blame)?;
    let named = a.runs_dir.join(&cfg.name);
    let target = RunTarget::from_flags(a.run_dir.as_deref(), &a.runs_dir, &named, a.resume);
    let again = "the same `convlab finetune` command with --resume";
    // The recipe writes every key; only the --set ones are the user's.
    let given = given_keys(&toml::Table::new(), &a.set);
    let lookup = Lookup::default();
    let run = super::train::NewRun {
        cfg: &cfg,
        given: &given,
        sets: &a.set,
        origin: &origin,
    };
    super::train::train_new(&run, &lookup, &target, a.quiet, again)
}
