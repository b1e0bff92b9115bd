//! The command line: one file per subcommand, each a clap `Args` struct and a `run(args)`
//! that parses, calls the library and prints. Commands: train, sweep, report, lr-find,
//! eval, finetune, predict, serve, bench, check, presets, summary, import, export.

mod bench;
mod check;
mod eval;
mod export;
mod finetune;
mod flag_hint;
mod import;
mod lr_find;
mod predict;
mod presets;
mod report;
mod serve;
mod summary;
mod sweep;
mod train;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::data::Lookup;
use crate::error::Result;

/// `--version`: the version and the backends built in ("0.1.0 (cpu + cuda (kernels through LLVM))").
fn version_line() -> &'static str {
    static LINE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LINE.get_or_init(|| format!("{} ({})", env!("CARGO_PKG_VERSION"), crate::run::BUILD))
}

#[derive(Parser)]
#[command(
    name = "convlab",
    version = version_line(),
    about = "Train image classifiers and compare hyperparameters, reproducibly"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where datasets are looked for; shared by every command that reads one.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Folder to look for datasets in first (then $CONVLAB_DATA, the cache dir, /usr/share/datasets).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Download the official files (checksummed) when the dataset is not found.
    #[arg(long)]
    download: bool,
}

impl DataArgs {
    fn lookup(&self) -> Lookup {
        Lookup {
            data_dir: self.data_dir.clone(),
            download: self.download,
        }
    }
}

/// The checkpoint of eval, serve and finetune: `--checkpoint PATH`, or the path alone
/// (`convlab eval runs/mnist`, as export takes it).
#[derive(Args)]
pub struct CheckpointArg {
    /// CHECKPOINT given as a flag (as predict takes it: its positionals are images).
    #[arg(
        long = "checkpoint",
        id = "checkpoint",
        value_name = "CHECKPOINT",
        required_unless_present = "checkpoint_path"
    )]
    flag: Option<PathBuf>,
    /// A checkpoint file (.ckpt), or a run folder: its best.ckpt (or give it as --checkpoint).
    #[arg(
        id = "checkpoint_path",
        value_name = "CHECKPOINT",
        conflicts_with = "checkpoint"
    )]
    positional: Option<PathBuf>,
}

impl CheckpointArg {
    /// The checkpoint or run folder given (clap requires one of the two forms).
    pub fn path(&self) -> PathBuf {
        self.flag
            .clone()
            .or(self.positional.clone())
            .unwrap_or_default()
    }
}

/// A run config file with its overrides: what train and lr-find read.
#[derive(Args)]
pub struct ConfigArgs {
    config: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Override a config key, e.g. --set train.epochs=1 --set optimizer.lr=3e-4.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// cpu (default) or cuda (needs --features cuda); overrides the config.
    #[arg(long)]
    device: Option<String>,
}

impl ConfigArgs {
    /// The resolved, validated config with `--set` and `--device` applied.
    fn load(&self) -> Result<crate::train::config::RunConfig> {
        self.load_and_keys().map(|(cfg, _)| cfg)
    }

    /// [`Self::load`], with the keys the file and its `--set`s write (for the unread-key
    /// warnings).
    fn load_and_keys(
        &self,
    ) -> Result<(
        crate::train::config::RunConfig,
        std::collections::BTreeSet<String>,
    )> {
        use crate::experiment::config::load_run_config_and_keys;
        let (mut cfg, given) = load_run_config_and_keys(&self.config, &self.set)?;
        if let Some(d) = &self.device {
            cfg.device = crate::train::device::parse_flag(d)?;
        }
        Ok((cfg, given))
    }

    /// `convlab {command}` with this config and these options, as one would type it again.
    fn command_line(&self, command: &str) -> String {
        use crate::text::shell_word;
        let mut line = format!("convlab {command} {}", shell_word(&self.origin()));
        if let Some(d) = &self.data.data_dir {
            line += &format!(" --data-dir {}", shell_word(&d.display().to_string()));
        }
        if self.data.download {
            line += " --download";
        }
        for s in &self.set {
            line += &format!(" --set {}", shell_word(s));
        }
        if let Some(d) = &self.device {
            line += &format!(" --device {}", shell_word(d));
        }
        line
    }

    /// The config file's name, for messages.
    fn origin(&self) -> String {
        self.config.display().to_string()
    }
}

#[derive(Subcommand)]
enum Command {
    /// Train a model from a TOML config; writes runs/<name>/.
    Train(train::TrainArgs),
    /// Train every variant x seed of a study; writes runs/<study>/<variant>/seed-N/ and the report.
    /// Re-running the same command skips finished runs and resumes an interrupted one.
    Sweep(sweep::SweepArgs),
    /// Tables, significance and figures of a study folder, or of run folders trained one by one; writes report.md/.csv/.html.
    Report(report::ReportArgs),
    /// Learning-rate range test: a short run with an exponentially growing lr; suggests an lr.
    LrFind(lr_find::LrFindArgs),
    /// Test loss and accuracy of a checkpoint, per-class accuracy, the confusion matrix and
    /// the most confidently wrong images.
    Eval(eval::EvalArgs),
    /// Fine-tune a checkpoint on an image folder: a new head for the folder's classes, the
    /// features optionally frozen for the first epochs. Writes runs/<name>/ as train does.
    Finetune(finetune::FinetuneArgs),
    /// Classify your own images (PNG, JPEG, BMP, GIF, WebP, TIFF, PPM/PGM; any size, or
    /// folders of them) with a checkpoint: top-k classes.
    Predict(predict::PredictArgs),
    /// Serve a checkpoint over HTTP: POST /predict, GET /health, GET /model.
    Serve(serve::ServeArgs),
    /// Training and data-pipeline throughput on synthetic data (see bench/compare.sh).
    Bench(bench::BenchArgs),
    /// One training step of the fast recipe's net and three presets on a device (cuda) against
    /// the CPU: logits, loss and every gradient compared; exit 1 naming the first that differs.
    Check(check::CheckArgs),
    /// List the model presets: the seed notebook each reproduces and PyTorch's parameter count.
    Presets,
    /// The net a config trains (or a .ckpt stores), layer by layer: output shapes, parameters
    /// and multiply-adds (Keras' model.summary()).
    Summary(summary::SummaryArgs),
    /// Read a PyTorch state_dict (.pth) into a convlab checkpoint.
    Import(import::ImportArgs),
    /// Write a checkpoint as a PyTorch state_dict (+ its nn.Sequential code) or as ONNX.
    Export(export::ExportArgs),
}

pub fn main() -> Result<()> {
    let cli = parse().unwrap_or_else(|e| {
        if let Some(hint) = unknown_flag_hint(&e) {
            eprintln!("error: {hint}");
            std::process::exit(2);
        }
        e.exit()
    });
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    // Every command but serve trains or predicts from this thread (serve from its own).
    if !matches!(cli.command, Command::Serve(_)) {
        crate::model::cpu::join_pool_from_this_thread();
    }
    match cli.command {
        Command::Train(a) => train::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Report(a) => report::run(a),
        Command::LrFind(a) => lr_find::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Finetune(a) => finetune::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Check(a) => check::run(a),
        Command::Presets => presets::run(),
        Command::Summary(a) => summary::run(a),
        Command::Import(a) => import::run(a),
        Command::Export(a) => export::run(a),
    }
}

/// The command line, negative numbers read as values: `finetune --lr -1` was "unexpected
/// argument '-1'" (a flag named 1); now it reaches the check that says what is wrong with it.
fn parse() -> std::result::Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let command = Cli::command().mut_subcommands(|sub| sub.allow_negative_numbers(true));
    Cli::from_arg_matches(&command.try_get_matches()?)
}

/// For clap's "unexpected argument" on a config key (`train cfg.toml --epochs 3`): the
/// `--set` the user meant, from the command line as typed.
fn unknown_flag_hint(e: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(flag)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let args: Vec<String> = std::env::args().collect();
    if let Some(hint) = flag_hint::set_split_from_its_value(&args) {
        return Some(hint);
    }
    let command = args.get(1)?;
    let inline = format!("{flag}=");
    let at = args
        .iter()
        .position(|a| a == flag || a.starts_with(&inline))?;
    let value = args.get(at + 1).map(String::as_str);
    flag_hint::config_key_hint(command, &args[at], value)
}

/// A value as one line of JSON, for `--json` output.
fn json_line(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| crate::error::Error::Serialize {
        what: "--json output".into(),
        problem: e.to_string(),
    })
}

/// 1234567 as "1,234,567", for counts of parameters and operations.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
