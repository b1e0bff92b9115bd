//! Loss and accuracy of a model over a dataset, never augmented.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::ops::PadMode;

use crate::data::Dataset;
use crate::data::loader::{self, Plan};
use crate::data::transform::{Augment, Normalize};
use crate::model::Net;
use crate::train::config::Tta;
use crate::train::metrics::Tally;

/// Mean cross-entropy with optional label smoothing (PyTorch's formulation).
pub fn cross_entropy(logits: Tensor<2>, targets: Tensor<1, Int>, smoothing: f64) -> Tensor<1> {
    smoothed_nll(log_softmax(logits, 1), targets, smoothing)
}

/// [`cross_entropy`] from log-probabilities.
fn smoothed_nll(logp: Tensor<2>, targets: Tensor<1, Int>, smoothing: f64) -> Tensor<1> {
    let [n, _] = logp.dims();
    let nll = logp.clone().gather(1, targets.reshape([n, 1])).mean().neg();
    if smoothing > 0.0 {
        let uniform = logp.mean_dim(1).mean().neg();
        nll * (1.0 - smoothing) + uniform * smoothing
    } else {
        nll
    }
}

/// The training loss: cross-entropy with label smoothing and, optionally, a weight per class
/// (PyTorch's `CrossEntropyLoss(weight, label_smoothing)`).
#[derive(Debug, Clone, Default)]
pub struct Criterion {
    pub smoothing: f64,
    pub weights: Option<Tensor<1>>,
    /// A MixUp/CutMix batch: its partner labels and the share lambda of its own labels; the
    /// loss is lambda L(own) + (1 - lambda) L(partner).
    pub mix: Option<(Tensor<1, Int>, f64)>,
}

impl Criterion {
    pub fn smoothing(smoothing: f64) -> Self {
        Self {
            smoothing,
            ..Default::default()
        }
    }

    pub fn loss(&self, logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
        // One log-softmax serves both label sets of a mixed batch.
        let logp = log_softmax(logits, 1);
        match &self.mix {
            None => self.unmixed(logp, targets),
            Some((partner, lambda)) => {
                let own = self.unmixed(logp.clone(), targets);
                own * *lambda + self.unmixed(logp, partner.clone()) * (1.0 - lambda)
            }
        }
    }

    fn unmixed(&self, logp: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1> {
        match &self.weights {
            None => smoothed_nll(logp, targets, self.smoothing),
            Some(w) => weighted_nll(logp, targets, self.smoothing, w.clone()),
        }
    }
}

/// PyTorch's weighted mean: sum_i w[y_i] nll_i / sum_i w[y_i], and with smoothing
/// eps / C x sum_i sum_c w[c] (-log p_ic) / sum_i w[y_i] for the uniform part.
fn weighted_nll(
    logp: Tensor<2>,
    targets: Tensor<1, Int>,
    smoothing: f64,
    weights: Tensor<1>,
) -> Tensor<1> {
    let [n, c] = logp.dims();
    let wy = weights.clone().select(0, targets.clone());
    let total = wy.clone().sum();
    let picked = logp.clone().gather(1, targets.reshape([n, 1])).reshape([n]);
    let nll = (picked * wy).sum().neg() / total.clone();
    if smoothing > 0.0 {
        let spread = (logp * weights.reshape([1, c])).sum().neg() / total / c as f64;
        nll * (1.0 - smoothing) + spread * smoothing
    } else {
        nll
    }
}

/// Number of rows whose argmax equals the target.
pub fn correct(logits: Tensor<2>, targets: Tensor<1, Int>) -> Tensor<1, Int> {
    let [n, _] = logits.dims();
    logits.argmax(1).reshape([n]).equal(targets).int().sum()
}

pub fn batch_tensors(
    batch: loader::Batch,
    shape: [usize; 3],
    device: &Device,
) -> (Tensor<4>, Tensor<1, Int>) {
    let n = batch.len();
    let [c, h, w] = shape;
    let x = Tensor::<4>::from_data(TensorData::new(batch.images, [n, c, h, w]), device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(batch.labels, [n]), device);
    (x, y)
}

/// Batches of `ds` in order, never augmented: what every evaluation reads.
fn in_order(
    ds: &Arc<Dataset>,
    norm: &Arc<Normalize>,
    batch_size: usize,
) -> std::sync::mpsc::Receiver<loader::Batch> {
    loader::spawn(
        ds.clone(),
        norm.clone(),
        Plan {
            batch_size,
            shuffle_seed: None,
            shuffle: false,
            augment: Augment::default(),
        },
    )
}

/// The logits of `model` for `x`, averaged over the test-time augmentations `tta`.
/// flip-translate is airbench's level 2: half the mean of the image and its mirror, half
/// the same for the image shifted one pixel down-right and up-left (reflected borders).
pub fn tta_logits(model: &Net, x: Tensor<4>, tta: Tta) -> Tensor<2> {
    let mirrored = |x: Tensor<4>| (model.forward(x.clone()) + model.forward(x.flip([3]))) / 2.0;
    let [n, c, h, w] = x.dims();
    match tta {
        Tta::None => model.forward(x),
        Tta::Flip => mirrored(x),
        // Reflect padding needs two pixels per side; smaller images get the flip only.
        Tta::FlipTranslate if h < 2 || w < 2 => mirrored(x),
        Tta::FlipTranslate => {
            let padded = x.clone().pad((1, 1, 1, 1), PadMode::Reflect);
            let down_right = padded.clone().slice([0..n, 0..c, 0..h, 0..w]);
            let up_left = padded.slice([0..n, 0..c, 2..h + 2, 2..w + 2]);
            let shifted = (mirrored(down_right) + mirrored(up_left)) / 2.0;
            (mirrored(x) + shifted) / 2.0
        }
    }
}

/// Evaluate `model` (in validation mode) on `ds`, with test-time augmentation `tta`.
pub fn evaluate(
    model: &Net,
    ds: &Arc<Dataset>,
    norm: &Arc<Normalize>,
    batch_size: usize,
    device: &Device,
    tta: Tta,
) -> Tally {
    // The batches' losses and counts stay on the device until the pass ends: one read
    // then, instead of a host wait per batch (on a GPU, each wait drains its queue).
    let (mut losses, mut hits, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    for batch in in_order(ds, norm, batch_size) {
        sizes.push(batch.len() as u64);
        let (x, y) = batch_tensors(batch, ds.shape, device);
        let logits = tta_logits(model, x, tta);
        losses.push(cross_entropy(logits.clone(), y.clone(), 0.0));
        hits.push(correct(logits, y));
    }
    let mut tally = Tally::default();
    for ((l, c), n) in read_back(losses, hits).into_iter().zip(sizes) {
        tally.add(l, c, n);
    }
    tally
}

/// Class probabilities for every image of `ds` (row-major, images x classes), in order;
/// with `flip_tta` also the test-time-augmented ones (the mean of the image's and its
/// horizontal mirror's softmax), from the same pass over the data.
pub fn probabilities(
    model: &Net,
    ds: &Arc<Dataset>,
    norm: &Arc<Normalize>,
    batch_size: usize,
    device: &Device,
    flip_tta: bool,
) -> (Vec<f32>, Option<Vec<f32>>) {
    let rows = |p: Tensor<2>| {
        p.into_data_as::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default()
    };
    let mut plain = Vec::new();
    let mut tta = flip_tta.then(Vec::new);
    for batch in in_order(ds, norm, batch_size) {
        let (x, _) = batch_tensors(batch, ds.shape, device);
        let p = softmax(model.forward(x.clone()), 1);
        if let Some(t) = tta.as_mut() {
            let mirrored = softmax(model.forward(x.flip([3])), 1);
            t.extend(rows((p.clone() + mirrored) / 2.0));
        }
        plain.extend(rows(p));
    }
    (plain, tta)
}

pub fn scalar(t: Tensor<1>) -> f64 {
    t.into_data_as::<f32>()
        .try_to_vec::<f32>()
        .map(|v| v[0] as f64)
        .unwrap_or(f64::NAN)
}

/// Each batch's mean loss and correct count (one-element tensors), read back together in
/// one transfer: one host sync for all of them. The counts travel as f32, exact for any
/// batch under 2^24 images.
pub fn read_back(losses: Vec<Tensor<1>>, hits: Vec<Tensor<1, Int>>) -> Vec<(f64, u64)> {
    let n = losses.len();
    if n == 0 {
        return Vec::new();
    }
    let both = Tensor::cat(
        vec![Tensor::cat(losses, 0), Tensor::cat(hits, 0).float()],
        0,
    );
    match both.into_data_as::<f32>().try_to_vec::<f32>() {
        Ok(v) => (0..n).map(|i| (f64::from(v[i]), v[n + i] as u64)).collect(),
        Err(_) => vec![(f64::NAN, 0); n],
    }
}
