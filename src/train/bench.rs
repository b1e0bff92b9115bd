//! `convlab bench`: training throughput on synthetic data (forward, backward, optimizer step;
//! warm-up excluded; the device drained before the clock stops) and the data pipeline's
//! throughput with augmentation on. bench/compare.sh runs it beside bench/pytorch.py.

use std::sync::Arc;
use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::data::Dataset;
use crate::data::loader::{self, Plan};
use crate::data::transform::{Augment, Normalize};
use crate::error::Result;
use crate::experiment::config::{ModelConfig, OptimizerConfig};
use crate::model::Net;
use crate::model::presets::resolve_layers;
use crate::model::spec::{Shape, check_net};
use crate::train::eval::{batch_tensors, cross_entropy, scalar};
use crate::train::optim;

#[derive(Debug, Clone, Serialize)]
pub struct BenchResult {
    pub model: String,
    pub batch: usize,
    pub device: String,
    pub steps: usize,
    /// Training images per second (forward + backward + Adam step).
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

pub fn run(
    preset: &str,
    input: [usize; 3],
    batch: usize,
    steps: usize,
    warmup: usize,
    device: &Device,
    device_name: &str,
) -> Result<BenchResult> {
    let classes = 10;
    let model_cfg = ModelConfig {
        preset: preset.into(),
        ..Default::default()
    };
    let layers = resolve_layers(&model_cfg, classes, "--model")?;
    let [c, h, w] = input;
    let shape = Shape::Image { c, h, w };
    check_net(&layers, shape, classes, "--model")?;
    let ds = Arc::new(synthetic(input, classes, batch * 8));
    let norm = Arc::new(Normalize::new(vec![0.5; c], vec![0.25; c]));

    // Training: a few batches made once and cycled, so only the model step is timed.
    let ad = device.clone().autodiff();
    ad.seed(0);
    let mut model = Net::new(&layers, shape, "default", &ad);
    let mut opt = optim::build(&OptimizerConfig::default());
    let plan = Plan {
        batch_size: batch,
        shuffle_seed: Some(0),
        augment: Augment::default(),
    };
    let batches: Vec<_> = loader::spawn(ds.clone(), norm.clone(), plan)
        .into_iter()
        .map(|b| batch_tensors(b, input, &ad))
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
        let (x, y) = batches[step % batches.len()].clone();
        let loss = cross_entropy(model.forward(x), y, 0.0);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = opt.step(1e-3, model, grads);
        last = Some(loss.detach());
    }
    if let Some(l) = last {
        scalar(l); // reading the last loss waits for every queued kernel
    }
    let train_s = t0.elapsed().as_secs_f64();

    // Data pipeline: whole passes over the synthetic set with crop + flip.
    let augment = Augment {
        crop_padding: 4,
        hflip: true,
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
                augment,
            },
        );
        images += rx.into_iter().map(|b| b.len()).sum::<usize>();
    }
    let data_s = t1.elapsed().as_secs_f64();
    Ok(BenchResult {
        model: preset.into(),
        batch,
        device: device_name.into(),
        steps,
        train_images_per_s: (steps * batch) as f64 / train_s,
        data_images_per_s: images as f64 / data_s,
    })
}
