//! `convlab bench`: training throughput on synthetic data (forward, backward, optimizer step;
//! warm-up excluded; the device drained before the clock stops) and the data pipeline's
//! throughput with augmentation on. bench/compare.sh runs it beside bench/pytorch.py.

use std::sync::Arc;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::data::Dataset;
use crate::data::loader::{self, Plan};
use crate::data::transform::{Augment, Normalize};
use crate::error::{Error, Result};
use crate::model::config::Precision;
use crate::model::presets::resolve_layers;
use crate::model::spec::{LayerSpec, Shape, check_net};
use crate::model::{Init, ModelConfig, Net};
use crate::train::device;
use crate::train::device::DeviceName;
use crate::train::eval::{Criterion, batch_tensors, scalar};
use crate::train::grad_plan::GradPlan;
use crate::train::optim::{self, OptimizerConfig, OptimizerName};
use crate::train::step::train_step;

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub model: String,
    pub batch: usize,
    pub device: String,
    /// "fp32" or "bf16" (mixed precision, as `train.precision`).
    pub precision: String,
    /// The optimizer stepped (`optimizer.name`, PyTorch's defaults).
    pub optimizer: String,
    pub steps: usize,
    /// Training images per second (forward + backward + optimizer step).
    pub train_images_per_s: f64,
    /// Batches built per second by the loader (normalize + crop + flip), as images/s.
    pub data_images_per_s: f64,
}

/// Random images and labels: the throughput does not depend on the pixels.
fn synthetic(input: [usize; 3], classes: usize, n: usize) -> Dataset {
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let len = input.iter().product::<usize>() * n;
    Dataset {
        shape: input,
        images: (0..len).map(|_| rng.random()).collect(),
        labels: (0..n).map(|_| rng.random_range(0..classes as u8)).collect(),
        classes: (0..classes).map(|c| c.to_string()).collect(),
    }
}

/// A net written out layer by layer (a run config's `model.layers` or resolved preset),
/// with its input and class count, to bench in place of a preset.
pub struct BenchNet {
    /// Where the net comes from (the config file), named in errors about it.
    pub origin: String,
    pub layers: Vec<LayerSpec>,
    pub input: [usize; 3],
    pub classes: usize,
}

/// What to measure.
pub struct BenchOptions {
    /// The preset, or the label of `net`.
    pub preset: String,
    /// A config's net; None: the preset's.
    pub net: Option<BenchNet>,
    /// CxHxW; None: the preset's usual input (28x28 gray for mnist-cnn, else 32x32 RGB).
    pub input: Option<[usize; 3]>,
    pub batch: usize,
    pub steps: usize,
    pub warmup: usize,
    pub device: DeviceName,
    pub precision: Precision,
    pub optimizer: OptimizerName,
}

pub fn run(o: &BenchOptions) -> Result<BenchResult> {
    if o.batch == 0 || o.steps == 0 {
        return Err(Error::input("--batch/--steps", "must be at least 1"));
    }
    let (preset, batch, steps, warmup) = (o.preset.as_str(), o.batch, o.steps, o.warmup);
    let (layers, classes, usual) = match &o.net {
        Some(net) => (net.layers.clone(), net.classes, net.input),
        None => {
            let model_cfg = ModelConfig {
                preset: preset.into(),
                ..Default::default()
            };
            let layers = resolve_layers(&model_cfg, 10, "--model")?;
            let usual = if preset == "mnist-cnn" {
                [1, 28, 28]
            } else {
                [3, 32, 32]
            };
            (layers, 10, usual)
        }
    };
    let input = o.input.unwrap_or(usual);
    let [c, h, w] = input;
    let shape = Shape::Image { c, h, w };
    let (origin, named) = match &o.net {
        Some(net) => (net.origin.as_str(), ""),
        None => ("--model", preset),
    };
    check_net(&layers, shape, classes, origin, named)?;
    let device = &device::select(o.device)?;
    let ds = Arc::new(synthetic(input, classes, batch * 8));
    let norm = Arc::new(Normalize::new(vec![0.5; c], vec![0.25; c]));

    // Training: a few batches made once and cycled, so only the model step is timed.
    let ad = device.clone().autodiff();
    ad.seed(0);
    let mut model = Net::new(&layers, shape, Init::Default, &ad);
    let mut opt_cfg = OptimizerConfig {
        name: o.optimizer,
        ..Default::default()
    };
    opt_cfg.resolve();
    let mut opt = optim::build(&opt_cfg);
    let plan = Plan {
        batch_size: batch,
        shuffle_seed: Some(0),
        shuffle: true,
        augment: Augment::default(),
    };
    let batches: Vec<_> = loader::spawn(ds.clone(), norm.clone(), plan)
        .into_iter()
        .map(|b| {
            let (x, y) = batch_tensors(b, input, &ad);
            (o.precision.input(x), y)
        })
        .collect();
    let mut t0 = Instant::now();
    let mut last = None;
    for step in 0..warmup + steps {
        if step == warmup {
            if let Some(l) = last.take() {
                scalar(l); // drain the warm-up work before the clock starts
            }
            t0 = Instant::now();
        }
        let xy = batches[step % batches.len()].clone();
        let (next, out) = train_step(
            model,
            &mut opt,
            xy,
            1e-3,
            &Criterion::default(),
            None,
            &GradPlan::none(),
        );
        model = next;
        last = Some(out.loss);
    }
    if let Some(l) = last {
        scalar(l); // reading the last loss waits for every queued kernel
    }
    let train_s = t0.elapsed().as_secs_f64();

    let data_images_per_s = pipeline_images_per_s(&ds, &norm, batch);
    Ok(BenchResult {
        model: preset.into(),
        batch,
        device: o.device.to_string(),
        precision: o.precision.to_string(),
        optimizer: o.optimizer.to_string(),
        steps,
        train_images_per_s: (steps * batch) as f64 / train_s,
        data_images_per_s,
    })
}

/// Data pipeline: whole passes over the synthetic set with crop + flip, as images/s.
fn pipeline_images_per_s(ds: &Arc<Dataset>, norm: &Arc<Normalize>, batch: usize) -> f64 {
    let augment = Augment {
        crop_padding: 4,
        hflip: true,
        ..Default::default()
    };
    let t1 = Instant::now();
    let mut images = 0usize;
    for pass in 0..4u64 {
        let rx = loader::spawn(
            ds.clone(),
            norm.clone(),
            Plan {
                batch_size: batch,
                shuffle_seed: Some(pass),
                shuffle: true,
                augment,
            },
        );
        images += rx.into_iter().map(|b| b.len()).sum::<usize>();
    }
    let data_s = t1.elapsed().as_secs_f64();
    images as f64 / data_s
}
