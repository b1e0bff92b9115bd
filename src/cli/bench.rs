//! `convlab bench`: training and data-pipeline throughput on synthetic data.

use clap::Args;

use std::path::{Path, PathBuf};

use super::DataArgs;
use super::summary::{DataShapes, config_net};
use crate::error::{Error, Result};
use crate::experiment::config::load_run_config;
use crate::model::config::Precision;
use crate::model::spec::Shape;
use crate::train::bench::{self, BenchNet, BenchOptions};
use crate::train::device::{self, DeviceName};
use crate::train::optim::OptimizerName;

#[derive(Args)]
pub struct BenchArgs {
    /// cpu, or cuda (a build with --features cuda) [default: cpu, or the config's device].
    #[arg(long)]
    device: Option<String>,
    /// A preset (`convlab presets`) [default: mnist-cnn].
    #[arg(long, conflicts_with = "config")]
    model: Option<String>,
    /// The net of a run config instead (its preset or `model.layers`, on its dataset's
    /// input), with its batch size, precision and optimizer unless the flags below say.
    #[arg(long, value_name = "CONFIG.toml")]
    config: Option<PathBuf>,
    /// Override a key of --config, e.g. --set model.activation=elu.
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "config")]
    set: Vec<String>,
    #[command(flatten)]
    data: DataArgs,
    /// Images per training step [default: 64, or the config's train.batch_size].
    #[arg(long)]
    batch: Option<usize>,
    /// f32, or bf16: mixed precision as `train.precision = "bf16"` (bf16 activations, f32
    /// weights and optimizer) [default: f32, or the config's train.precision].
    #[arg(long)]
    dtype: Option<String>,
    /// Input CxHxW (default: 1x28x28 for mnist-cnn, else 3x32x32; with --config, its
    /// dataset's).
    #[arg(long)]
    input: Option<String>,
    /// The optimizer stepped after each backward pass, with PyTorch's defaults for it (as
    /// `optimizer.name` in a run config): sgd, sgd-momentum, adam, adamw, adagrad, rmsprop,
    /// adadelta, adamax, nadam, radam [default: adam, or the config's optimizer.name].
    #[arg(long)]
    optimizer: Option<String>,
    /// Timed training steps, after --warmup untimed ones.
    #[arg(long, default_value_t = 30)]
    steps: usize,
    /// Untimed steps first (kernel selection, allocations).
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// Print the result as one JSON object.
    #[arg(long)]
    json: bool,
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

/// The net, batch, precision and optimizer of `--config` (with its `--set`s).
fn from_config(path: &Path, sets: &[String], data: &DataArgs) -> Result<FromConfig> {
    let cfg = load_run_config(path, sets)?;
    let origin = path.display().to_string();
    let net = config_net(&cfg, &mut DataShapes::new(&data.lookup()), &origin)?;
    let Shape::Image { c, h, w } = net.input else {
        return Err(Error::input(&origin, "the net's input is not an image"));
    };
    Ok(FromConfig {
        label: match cfg.model.preset.as_str() {
            "" => cfg.name.clone(),
            p => p.to_string(),
        },
        net: BenchNet {
            origin,
            layers: net.layers,
            input: [c, h, w],
            classes: net.classes,
        },
        batch: cfg.train.batch_size,
        device: cfg.device,
        precision: cfg.train.precision,
        optimizer: cfg.optimizer.name,
    })
}

struct FromConfig {
    label: String,
    net: BenchNet,
    batch: usize,
    device: DeviceName,
    precision: Precision,
    optimizer: OptimizerName,
}

pub fn run(a: BenchArgs) -> Result<()> {
    let config = a
        .config
        .as_deref()
        .map(|p| from_config(p, &a.set, &a.data))
        .transpose()?;
    let precision = match a.dtype.as_deref() {
        None => config.as_ref().map_or(Precision::Fp32, |c| c.precision),
        Some("f32" | "fp32") => Precision::Fp32,
        Some("bf16") => Precision::Bf16,
        Some(other) => {
            return Err(Error::input(
                "--dtype",
                format!("\"{other}\" is not one of f32, bf16"),
            ));
        }
    };
    let optimizer = match a.optimizer.as_deref() {
        None => config.as_ref().map_or(OptimizerName::Adam, |c| c.optimizer),
        Some(name) => name.parse().map_err(|e| Error::input("--optimizer", e))?,
    };
    let batch = a.batch.or(config.as_ref().map(|c| c.batch)).unwrap_or(64);
    let device = match a.device.as_deref() {
        None => config.as_ref().map_or(DeviceName::Cpu, |c| c.device),
        Some(flag) => device::parse_flag(flag)?,
    };
    let (preset, net) = match config {
        Some(c) => (c.label, Some(c.net)),
        None => (a.model.unwrap_or_else(|| "mnist-cnn".into()), None),
    };
    let r = bench::run(&BenchOptions {
        preset,
        net,
        input: a.input.as_deref().map(parse_shape).transpose()?,
        batch,
        steps: a.steps,
        warmup: a.warmup,
        device,
        precision,
        optimizer,
    })?;
    if a.json {
        println!("{}", super::json_line(&r)?);
    } else {
        println!(
            "{} batch {} on {} ({}, {}): train {:.0} img/s ({} steps after {} warm-up), data pipeline {:.0} img/s (crop + flip)",
            r.model,
            r.batch,
            r.device,
            r.precision,
            r.optimizer,
            r.train_images_per_s,
            r.steps,
            a.warmup,
            r.data_images_per_s
        );
    }
    Ok(())
}
