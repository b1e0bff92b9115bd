//! The command line: `convlab train`, `sweep`, `report`, `lr-find`, `eval`, `presets`.

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::data;
use crate::error::{Error, Result};
use crate::experiment::config::{DataConfig, RunConfig};
use crate::experiment::emit::{self, EmitOptions};
use crate::experiment::run_store::RunStore;
use crate::experiment::study::Study;
use crate::experiment::sweep::{self, SweepOptions};
use crate::model::checkpoint;
use crate::model::predictor::Predictor;
use crate::model::presets::PRESETS;
use crate::report::diagnostics;
use crate::train::{device, eval, lr_find, trainer};

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
    /// Train every variant x seed of a study; writes runs/<study>/<variant>/seed-N/ and the report.
    /// Re-running the same command skips finished runs and resumes an interrupted one.
    Sweep {
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
    },
    /// Tables, significance and figures of a study folder; writes report.md/.csv/.html there.
    Report { study_dir: PathBuf },
    /// Learning-rate range test: a short run with an exponentially growing lr; suggests an lr.
    LrFind {
        config: PathBuf,
        #[command(flatten)]
        data: DataArgs,
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        #[arg(long)]
        device: Option<String>,
        #[arg(long, default_value_t = 1e-7)]
        start: f64,
        #[arg(long, default_value_t = 10.0)]
        end: f64,
        /// Batches to train (the lr reaches --end at the last one).
        #[arg(long, default_value_t = 100)]
        steps: usize,
        #[arg(long, default_value = "runs")]
        runs_dir: PathBuf,
    },
    /// Test loss and accuracy of a checkpoint, per-class accuracy, the confusion matrix and
    /// the most confidently wrong images.
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
        /// Also report test-time augmentation: plain and horizontally flipped, averaged.
        #[arg(long)]
        tta: bool,
        /// Folder for confusion.png/.svg/.csv, top_losses.png and eval.json
        /// (default: eval-<checkpoint name> beside the checkpoint).
        #[arg(long)]
        out: Option<PathBuf>,
        /// How many of the most confidently wrong images to draw.
        #[arg(long, default_value_t = 16)]
        top: usize,
    },
    /// Fine-tune a checkpoint on an image folder: a new head for the folder's classes, the
    /// features optionally frozen for the first epochs. Writes runs/<name>/ as train does.
    Finetune {
        #[arg(long)]
        checkpoint: PathBuf,
        /// Image folder ROOT with train/<class>/ and test/<class>/ (or a .tar.gz of one).
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 5)]
        epochs: usize,
        /// Train only the new head for this many epochs first.
        #[arg(long, default_value_t = 1)]
        freeze_epochs: usize,
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, default_value_t = 32)]
        batch_size: usize,
        /// Same net and recipe from random weights instead (the baseline to compare with).
        #[arg(long)]
        scratch: bool,
        /// Any other run-config key, e.g. --set data.hflip=true --set seed=1.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        set: Vec<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "cpu")]
        device: String,
        #[arg(long, default_value = "runs")]
        runs_dir: PathBuf,
        #[arg(long, short)]
        quiet: bool,
    },
    /// Classify your own PNG/JPEG images (any size) with a checkpoint: top-k classes.
    Predict {
        #[arg(long)]
        checkpoint: PathBuf,
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// How many classes to show per image.
        #[arg(long, short = 'k', default_value_t = 3)]
        top_k: usize,
        /// Print one JSON array instead of text.
        #[arg(long)]
        json: bool,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Serve a checkpoint over HTTP: POST /predict, GET /health, GET /model.
    Serve {
        #[arg(long)]
        checkpoint: PathBuf,
        /// 0 picks a free port (printed on the first line).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Listen address; only this machine by default.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(long, default_value_t = 64)]
        max_batch: usize,
        /// Milliseconds a request waits for others to share its batch.
        #[arg(long, default_value_t = 2)]
        max_wait_ms: u64,
        /// Largest accepted upload in bytes (larger: 413).
        #[arg(long, default_value_t = 10 * 1024 * 1024)]
        max_bytes: usize,
        /// Default number of classes per answer (?k=N overrides).
        #[arg(long, default_value_t = 3)]
        top_k: usize,
        #[arg(long, default_value = "cpu")]
        device: String,
    },
    /// Training and data-pipeline throughput on synthetic data (see bench/compare.sh).
    Bench {
        #[arg(long, default_value = "cpu")]
        device: String,
        #[arg(long, default_value = "mnist-cnn")]
        model: String,
        #[arg(long, default_value_t = 64)]
        batch: usize,
        /// f32 (bf16 is not available yet).
        #[arg(long, default_value = "f32")]
        dtype: String,
        /// Input CxHxW (default: 1x28x28 for mnist-cnn, else 3x32x32).
        #[arg(long)]
        input: Option<String>,
        /// Timed training steps, after --warmup untimed ones.
        #[arg(long, default_value_t = 30)]
        steps: usize,
        #[arg(long, default_value_t = 5)]
        warmup: usize,
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
            tta,
            out,
            top,
        } => eval_cmd(
            checkpoint,
            data,
            folder,
            device,
            EvalOptions {
                batch_size,
                json,
                tta,
                out,
                top,
            },
        ),
        Command::Sweep {
            study,
            data,
            runs_dir,
            device,
            set,
            jobs,
            trial,
            list,
            emit,
            out,
            image,
            parallel,
            quiet,
        } => {
            let study = Study::load(&study, &set)?;
            if list {
                for t in &study.trials {
                    println!(
                        "{:>4}  {}",
                        t.index,
                        study.trial_dir(&runs_dir, t).display()
                    );
                }
                return Ok(());
            }
            if let Some(kind) = emit {
                let o = EmitOptions {
                    runs_dir: &runs_dir,
                    data_dir: data.data_dir.as_deref(),
                    device: device.as_deref(),
                    image: &image,
                    parallel,
                };
                let (text, ext) = match kind.as_str() {
                    "slurm" => (emit::slurm(&study, &o), "slurm"),
                    "k8s" => (emit::k8s(&study, &o), "k8s.yaml"),
                    other => {
                        return Err(Error::input(
                            "--emit",
                            format!("unknown target \"{other}\" (expected slurm or k8s)"),
                        ));
                    }
                };
                let path = out.unwrap_or_else(|| runs_dir.join(format!("{}.{ext}", study.name)));
                crate::error::write_atomic(&path, text.as_bytes())?;
                println!("wrote {} ({} trials)", path.display(), study.trials.len());
                return Ok(());
            }
            if jobs == 0 {
                return Err(Error::input("--jobs", "must be at least 1"));
            }
            sweep::run(
                &study,
                &SweepOptions {
                    runs_dir,
                    data_dir: data.data_dir,
                    download: data.download,
                    device,
                    jobs,
                    trial,
                    quiet,
                },
            )
        }
        Command::Report { study_dir } => {
            let md = crate::report::study::write(&study_dir)?;
            println!("{md}");
            println!("wrote {}", study_dir.join("report.html").display());
            Ok(())
        }
        Command::LrFind {
            config,
            data,
            set,
            device,
            start,
            end,
            steps,
            runs_dir,
        } => lr_find_cmd(config, data, set, device, start, end, steps, runs_dir),
        Command::Finetune {
            checkpoint,
            data,
            epochs,
            freeze_epochs,
            lr,
            batch_size,
            scratch,
            set,
            name,
            device,
            runs_dir,
            quiet,
        } => {
            let (meta, _) = checkpoint::read_meta(&checkpoint)?;
            let folder = data
                .file_stem()
                .map_or("folder".into(), |s| s.to_string_lossy().replace(".tar", ""));
            // The checkpoint's net with its last linear layer sized for the new classes
            // (its out is set once the folder's classes are known, in prepare via resolve).
            let mut cfg = RunConfig {
                name: name.unwrap_or_else(|| {
                    format!("{}-{folder}", if scratch { "scratch" } else { "finetune" })
                }),
                device,
                ..Default::default()
            };
            cfg.data.dataset = "folder".into();
            cfg.data.path = Some(data.clone());
            cfg.model.preset = String::new();
            cfg.model.layers = meta.layers.clone();
            cfg.optimizer.lr = lr;
            cfg.train.epochs = epochs;
            cfg.train.batch_size = batch_size;
            cfg.train.chance_epochs = 0;
            if !scratch {
                cfg.model.pretrained = Some(checkpoint.clone());
                cfg.train.freeze_epochs = freeze_epochs;
            }
            let text =
                crate::experiment::config::apply_overrides(&cfg.to_toml(), "finetune", &set)?;
            let origin = format!("finetune {}", data.display());
            let mut cfg = RunConfig::parse(&text, &origin)?;
            let classes = data::folder_classes(&data)?;
            let head = trainer::head_index(&cfg.model.layers);
            if let Some(crate::model::LayerSpec::Linear { out, .. }) =
                cfg.model.layers.get_mut(head)
            {
                *out = classes;
            }
            cfg.resolve();
            cfg.validate(&origin)?;
            run_config(
                cfg,
                &origin,
                DataArgs {
                    data_dir: None,
                    download: false,
                },
                runs_dir,
                None,
                quiet,
            )
        }
        Command::Serve {
            checkpoint,
            port,
            host,
            max_batch,
            max_wait_ms,
            max_bytes,
            top_k,
            device,
        } => {
            let dev = device::select(&device)?;
            let predictor = Predictor::load(&checkpoint, &dev)?;
            crate::serve::run(
                predictor,
                crate::serve::ServeOptions {
                    host,
                    port,
                    max_batch,
                    max_wait_ms,
                    max_bytes,
                    top_k,
                },
            )
        }
        Command::Predict {
            checkpoint,
            images,
            top_k,
            json,
            device,
        } => predict_cmd(&checkpoint, &images, top_k, json, &device),
        Command::Bench {
            device,
            model,
            batch,
            dtype,
            input,
            steps,
            warmup,
            json,
        } => {
            if dtype != "f32" {
                return Err(Error::input(
                    "--dtype",
                    format!("\"{dtype}\" is not supported yet (only f32)"),
                ));
            }
            if batch == 0 || steps == 0 {
                return Err(Error::input("--batch/--steps", "must be at least 1"));
            }
            let input = match input {
                Some(text) => parse_shape(&text)?,
                None if model == "mnist-cnn" => [1, 28, 28],
                None => [3, 32, 32],
            };
            let dev = device::select(&device)?;
            let r = crate::train::bench::run(&model, input, batch, steps, warmup, &dev, &device)?;
            if json {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            } else {
                println!(
                    "{} batch {} on {}: train {:.0} img/s ({} steps after {} warm-up), data pipeline {:.0} img/s (crop + flip)",
                    r.model,
                    r.batch,
                    r.device,
                    r.train_images_per_s,
                    r.steps,
                    warmup,
                    r.data_images_per_s
                );
            }
            Ok(())
        }
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
    run_config(cfg, &origin, data_args, runs_dir, run_dir, quiet)
}

/// Train a resolved, validated config into a new run folder.
fn run_config(
    cfg: RunConfig,
    origin: &str,
    data_args: DataArgs,
    runs_dir: PathBuf,
    run_dir: Option<PathBuf>,
    quiet: bool,
) -> Result<()> {
    let origin = origin.to_string();
    let dev = device::select(&cfg.device)?;

    let t0 = std::time::Instant::now();
    let splits = data::load(&cfg.data, data_args.data_dir.as_deref(), data_args.download)?;
    let dataset = cfg.data.label();
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
        resume: false,
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

#[allow(clippy::too_many_arguments)]
fn lr_find_cmd(
    config: PathBuf,
    data_args: DataArgs,
    set: Vec<String>,
    device: Option<String>,
    start: f64,
    end: f64,
    steps: usize,
    runs_dir: PathBuf,
) -> Result<()> {
    if !(start > 0.0 && end > start && end.is_finite()) {
        return Err(Error::input(
            "--start/--end",
            format!("need 0 < start < end (got {start} and {end})"),
        ));
    }
    if steps < 10 {
        return Err(Error::input("--steps", "must be at least 10"));
    }
    let origin = config.display().to_string();
    let mut cfg = RunConfig::load(&config, &set)?;
    if let Some(d) = device {
        cfg.device = d;
        cfg.validate(&origin)?;
    }
    let dev = device::select(&cfg.device)?;
    let splits = data::load(&cfg.data, data_args.data_dir.as_deref(), data_args.download)?;
    let prep = trainer::prepare(&cfg, splits, &origin)?;
    let finding = lr_find::run(&cfg, &prep, &dev, lr_find::RangeTest { start, end, steps })?;
    let store = RunStore::create_unique(&runs_dir, &format!("{}-lr-find", cfg.name))?;
    store.write_config(&cfg)?;
    lr_find::write(&store.dir, &finding, &cfg.name)?;
    let last = finding.points.last().map_or(start, |p| p.lr);
    println!(
        "{}: {} batches of {} with {} from lr {start:.0e} to {last:.1e}{}",
        cfg.name,
        finding.points.len(),
        cfg.train.batch_size,
        cfg.optimizer.name,
        if finding.stopped_early {
            " (stopped: the loss exploded)"
        } else {
            ""
        }
    );
    match finding.suggested_lr {
        Some(lr) => println!(
            "suggested lr: {lr:.2e} (steepest descent of the smoothed loss); min-loss lr / 10: {}",
            finding
                .min_loss_lr_over_10
                .map_or("n/a".into(), |l| format!("{l:.2e}"))
        ),
        None => println!("no suggestion: too few points before the loss exploded; lower --start"),
    }
    println!("plot and table: {}", store.dir.display());
    Ok(())
}

/// Predict every image; a file that cannot be read or decoded is a one-line error of its
/// own and the others are still predicted (then the exit code is 2).
fn predict_cmd(
    ckpt: &std::path::Path,
    images: &[PathBuf],
    k: usize,
    json: bool,
    device_name: &str,
) -> Result<()> {
    if k == 0 {
        return Err(Error::input("--top-k", "must be at least 1"));
    }
    let dev = device::select(device_name)?;
    let predictor = Predictor::load(ckpt, &dev)?;
    let k = k.min(predictor.meta.classes.len());
    let (mut ok, mut pixels) = (Vec::new(), Vec::new());
    let mut failed: Vec<(usize, String)> = Vec::new();
    for (i, path) in images.iter().enumerate() {
        let name = path.display().to_string();
        match crate::error::read_file(path).and_then(|b| predictor.decode(&b, &name)) {
            Ok(px) => {
                ok.push(i);
                pixels.push(px);
            }
            Err(e) => failed.push((i, e.to_string())),
        }
    }
    let mut results: Vec<serde_json::Value> = vec![serde_json::Value::Null; images.len()];
    // Forward passes of at most 256 images bound the tensor memory for long file lists.
    for (idx, px) in ok.chunks(256).zip(pixels.chunks(256)) {
        for (i, probs) in idx.iter().zip(predictor.probabilities(px)) {
            let top = predictor.top_k(&probs, k);
            if !json {
                let shown: Vec<String> = top
                    .iter()
                    .map(|g| format!("{} ({:.3})", g.class, g.probability))
                    .collect();
                println!("{}: {}", images[*i].display(), shown.join(", "));
            }
            results[*i] = serde_json::json!({"file": images[*i], "top": top});
        }
    }
    for (i, e) in &failed {
        eprintln!("error: {e}");
        results[*i] = serde_json::json!({"file": images[*i], "error": e});
    }
    if json {
        println!("{}", serde_json::Value::Array(results));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::Partial(format!(
            "{} of {} images could not be predicted",
            failed.len(),
            images.len()
        )))
    }
}

fn parse_shape(text: &str) -> Result<[usize; 3]> {
    let dims: Vec<usize> = text.split('x').filter_map(|d| d.parse().ok()).collect();
    match dims[..] {
        [c, h, w] if c > 0 && h > 0 && w > 0 => Ok([c, h, w]),
        _ => Err(Error::input(
            "--input",
            format!("\"{text}\" is not CxHxW, e.g. 3x32x32"),
        )),
    }
}

struct EvalOptions {
    batch_size: usize,
    json: bool,
    tta: bool,
    out: Option<PathBuf>,
    top: usize,
}

fn eval_cmd(
    ckpt: PathBuf,
    data_args: DataArgs,
    folder: Option<PathBuf>,
    device_name: String,
    o: EvalOptions,
) -> Result<()> {
    let batch_size = o.batch_size;
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
    let (probs, tta_probs) = eval::probabilities(&model, &test, &norm, batch_size, &dev, o.tta);
    let d = diagnostics::diagnose(&probs, &test.labels, &meta.classes);
    let tta = tta_probs.map(|p| diagnostics::diagnose(&p, &test.labels, &meta.classes));
    let out = o.out.clone().unwrap_or_else(|| {
        let stem = ckpt
            .file_stem()
            .map_or("checkpoint".into(), |s| s.to_string_lossy().into_owned());
        ckpt.parent()
            .unwrap_or(std::path::Path::new("."))
            .join(format!("eval-{stem}"))
    });
    diagnostics::write(&out, &d, &test, o.top)?;
    let report = serde_json::json!({
        "checkpoint": ckpt,
        "images": d.images,
        "test_loss": d.loss,
        "test_acc": d.accuracy,
        "tta_flip_test_loss": tta.as_ref().map(|t| t.loss),
        "tta_flip_test_acc": tta.as_ref().map(|t| t.accuracy),
        "per_class": d.per_class,
        "confusion": d.confusion,
        "trained_on": meta.device,
        "epoch": meta.epoch,
        "files": out,
    });
    crate::error::write_atomic(&out.join("eval.json"), format!("{report:#}\n").as_bytes())?;
    if o.json {
        println!("{report}");
        return Ok(());
    }
    println!(
        "{}: {} test images, loss {:.4}, accuracy {:.2}% (epoch {}, trained on {}, evaluated on {})",
        ckpt.display(),
        d.images,
        d.loss,
        d.accuracy * 100.0,
        meta.epoch,
        meta.device,
        device_name
    );
    if let Some(t) = &tta {
        println!(
            "with flip test-time augmentation: loss {:.4}, accuracy {:.2}% ({:+.2} points)",
            t.loss,
            t.accuracy * 100.0,
            (t.accuracy - d.accuracy) * 100.0
        );
    }
    println!("\n{}", d.per_class_table());
    if d.per_class.len() <= 20 {
        println!("{}", d.confusion_table());
    }
    println!(
        "confusion matrix and the {} most confidently wrong images: {}",
        o.top.min(d.top_losses.len()),
        out.display()
    );
    Ok(())
}
