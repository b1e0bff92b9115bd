//! The command line: `convlab train`, `convlab eval`, `convlab presets`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::data;
use crate::error::{Error, Result};
use crate::experiment::config::{DataConfig, RunConfig};
use crate::experiment::run_store::RunStore;
use crate::model::checkpoint;
use crate::model::presets::PRESETS;
use crate::train::{device, eval, trainer};

#[derive(Parser)]
#[command(
    name = "convlab",
    version,
    about = "Train image classifiers and compare hyperparameters, reproducibly"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Folder to look for datasets in first (then $CONVLAB_DATA, the cache dir, /usr/share/datasets).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Download the official files (checksummed) when the dataset is not found.
    #[arg(long)]
    download: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model from a TOML config; writes runs/<name>/.
    Train {
        config: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Override a config key, e.g. --set train.epochs=1 --set optimizer.lr=3e-4.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        /// cpu (default) or cuda (needs --features cuda); overrides the config.
        #[arg(long)]
        device: Option<String>,
        /// Parent folder of run folders.
        #[arg(long, default_value = "runs")]
        runs_dir: PathBuf,
        /// Exact run folder (must not hold a run already).
        #[arg(long)]
        run_dir: Option<PathBuf>,
        /// Print only the final summary.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Test loss and accuracy of a checkpoint.
    Eval {
        #[arg(long)]
        checkpoint: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        /// Image folder to evaluate on instead of the checkpoint's dataset.
        #[arg(long)]
        folder: Option<PathBuf>,
        #[arg(long, default_value = "cpu")]
        device: String,
        #[arg(long, default_value_t = 256)]
        batch_size: usize,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the model presets.
    Presets,
}

pub fn main() -> Result<()> {
    let cli = Cli::try_parse().unwrap_or_else(|e| e.exit());
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
    match cli.command {
        Command::Train {
            config,
            data,
            set,
            device,
            runs_dir,
            run_dir,
            quiet,
        } => train(config, data, set, device, runs_dir, run_dir, quiet),
        Command::Eval {
            checkpoint,
            data,
            folder,
            device,
            batch_size,
            json,
        } => eval_cmd(checkpoint, data, folder, device, batch_size, json),
        Command::Presets => {
            for (name, about) in PRESETS {
                println!("{name:<14} {about}");
            }
            Ok(())
        }
    }
}

fn train(
    config: PathBuf,
    data_args: DataArgs,
    set: Vec<String>,
    device: Option<String>,
    runs_dir: PathBuf,
    run_dir: Option<PathBuf>,
    quiet: bool,
) -> Result<()> {
    let origin = config.display().to_string();
    let mut cfg = RunConfig::load(&config, &set)?;
    if let Some(d) = device {
        cfg.device = d;
        cfg.validate(&origin)?;
    }
    let dev = device::select(&cfg.device)?;

    let t0 = std::time::Instant::now();
    let splits = data::load(&cfg.data, data_args.data_dir.as_deref(), data_args.download)?;
    let dataset = cfg
        .data
        .path
        .as_ref()
        .map_or(cfg.data.dataset.clone(), |p| p.display().to_string());
    let prep = trainer::prepare(&cfg, splits, &origin)?;
    if !quiet {
        println!(
            "{}: {} on {} ({} train / {} val / {} test images of {:?}, loaded in {:.2}s), device {}",
            cfg.name,
            if cfg.model.preset.is_empty() {
                "custom net"
            } else {
                &cfg.model.preset
            },
            dataset,
            prep.train.len(),
            prep.val.as_ref().map_or(0, |v| v.len()),
            prep.test.len(),
            prep.train.shape,
            t0.elapsed().as_secs_f64(),
            cfg.device
        );
    }
    let store = match run_dir {
        Some(d) => RunStore::create_at(&d)?,
        None => RunStore::create_unique(&runs_dir, &cfg.name)?,
    };
    let t = trainer::Trainer {
        cfg: &cfg,
        prep: &prep,
        store: &store,
        device: dev,
        device_name: cfg.device.clone(),
        dataset,
        quiet,
    };
    let result = t.run();
    match &result {
        Ok(s) => println!(
            "{}: {} after {} epochs, test accuracy {}, {:.1}s; run folder {}",
            cfg.name,
            s.status,
            s.epochs_run,
            s.test_acc
                .map_or("n/a".into(), |a| format!("{:.2}%", a * 100.0)),
            s.seconds,
            store.dir.display()
        ),
        Err(_) => eprintln!(
            "run folder {} keeps the metrics up to the divergence",
            store.dir.display()
        ),
    }
    result.map(|_| ())
}

fn eval_cmd(
    ckpt: PathBuf,
    data_args: DataArgs,
    folder: Option<PathBuf>,
    device_name: String,
    batch_size: usize,
    json: bool,
) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::input("--batch-size", "must be at least 1"));
    }
    let dev = device::select(&device_name)?;
    let (meta, model) = checkpoint::load(&ckpt, &dev)?;
    // The checkpoint's own dataset: a named one, or the image folder it was trained on.
    let (dataset, path) = match folder {
        Some(p) => ("folder".to_string(), Some(p)),
        None if ["mnist", "fashion-mnist", "cifar10"].contains(&meta.dataset.as_str()) => {
            (meta.dataset.clone(), None)
        }
        None => ("folder".to_string(), Some(PathBuf::from(&meta.dataset))),
    };
    let data_cfg = DataConfig {
        dataset,
        path,
        ..Default::default()
    };
    let splits = data::load(&data_cfg, data_args.data_dir.as_deref(), data_args.download)?;
    if splits.test.shape != meta.input {
        return Err(Error::input(
            ckpt.display(),
            format!(
                "the model takes {:?} images but the test set has {:?}",
                meta.input, splits.test.shape
            ),
        ));
    }
    if splits.test.classes.len() != meta.classes.len() {
        return Err(Error::input(
            ckpt.display(),
            format!(
                "the model has {} classes but the test set has {}",
                meta.classes.len(),
                splits.test.classes.len()
            ),
        ));
    }
    let norm = Arc::new(crate::data::transform::Normalize::new(
        meta.mean.clone(),
        meta.std.clone(),
    ));
    let test = Arc::new(splits.test);
    let tally = eval::evaluate(&model, &test, &norm, batch_size, &dev);
    if json {
        println!(
            "{}",
            serde_json::json!({"checkpoint": ckpt, "images": tally.count, "test_loss": tally.loss(), "test_acc": tally.accuracy(), "trained_on": meta.device, "epoch": meta.epoch})
        );
    } else {
        println!(
            "{}: {} test images, loss {:.4}, accuracy {:.2}% (epoch {}, trained on {}, evaluated on {})",
            ckpt.display(),
            tally.count,
            tally.loss(),
            tally.accuracy() * 100.0,
            meta.epoch,
            meta.device,
            device_name
        );
    }
    Ok(())
}
