//! `convlab bench`: training and data-pipeline throughput on synthetic data.

use clap::Args;

use crate::error::{Error, Result};
use crate::model::config::Precision;
use crate::train::bench::{self, BenchOptions};
use crate::train::device;

#[derive(Args)]
pub struct BenchArgs {
    /// cpu, or cuda (a build with --features cuda).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// A preset (`convlab presets`).
    #[arg(long, default_value = "mnist-cnn")]
    model: String,
    /// Images per training step.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// f32, or bf16: mixed precision as `train.precision = "bf16"` (bf16 activations, f32
    /// weights and optimizer).
    #[arg(long, default_value = "f32")]
    dtype: String,
    /// Input CxHxW (default: 1x28x28 for mnist-cnn, else 3x32x32).
    #[arg(long)]
    input: Option<String>,
    /// The optimizer stepped after each backward pass, with PyTorch's defaults for it (as
    /// `optimizer.name` in a run config): sgd, sgd-momentum, adam, adamw, adagrad, rmsprop,
    /// adadelta, adamax, nadam, radam.
    #[arg(long, default_value = "adam")]
    optimizer: String,
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

pub fn run(a: BenchArgs) -> Result<()> {
    let precision = match a.dtype.as_str() {
        "f32" | "fp32" => Precision::Fp32,
        "bf16" => Precision::Bf16,
        other => {
            return Err(Error::input(
                "--dtype",
                format!("\"{other}\" is not one of f32, bf16"),
            ));
        }
    };
    let optimizer = a
        .optimizer
        .parse()
        .map_err(|e| Error::input("--optimizer", e))?;
    let r = bench::run(&BenchOptions {
        preset: a.model.clone(),
        input: a.input.as_deref().map(parse_shape).transpose()?,
        batch: a.batch,
        steps: a.steps,
        warmup: a.warmup,
        device: device::parse_flag(&a.device)?,
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
