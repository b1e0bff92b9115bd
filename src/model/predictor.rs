//! A checkpoint ready to classify images given as file bytes: decoded, converted to the
//! checkpoint's channels, resized and normalized exactly as its training images were, and
//! run in batches. `predict` and `serve` share it.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::activation::softmax;
use rayon::prelude::*;
use serde::Serialize;

use crate::data::Dataset;
use crate::data::folder::to_chw;
use crate::data::image_files::unreadable_image;
use crate::data::transform::{Normalize, fill_batch};
use crate::error::{Error, Result, read_file};
use crate::model::Net;
use crate::model::checkpoint::{self, CheckpointMeta};

pub struct Predictor {
    pub meta: CheckpointMeta,
    model: Net,
    norm: Normalize,
    device: Device,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Guess {
    pub class: String,
    pub probability: f32,
}

impl Predictor {
    pub fn load(path: &Path, device: &Device) -> Result<Self> {
        let (meta, model) = checkpoint::load(path, device)?;
        let norm = Normalize::from_checkpoint(&meta.mean, &meta.std, meta.input[0]);
        Ok(Self {
            meta,
            model,
            norm,
            device: device.clone(),
        })
    }

    /// Class probabilities for decoded images, one row per image.
    pub fn probabilities(&self, images: &[Vec<u8>]) -> Vec<Vec<f32>> {
        match self.forward(images) {
            Some(logits) => self.rows(softmax(logits, 1)),
            None => Vec::new(),
        }
    }

    /// The net's raw outputs (logits) and their probabilities, from one forward pass.
    pub fn logits_and_probabilities(&self, images: &[Vec<u8>]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        match self.forward(images) {
            Some(logits) => (self.rows(logits.clone()), self.rows(softmax(logits, 1))),
            None => (Vec::new(), Vec::new()),
        }
    }

    /// The logits of decoded images; None for no images.
    fn forward(&self, images: &[Vec<u8>]) -> Option<Tensor<2>> {
        if images.is_empty() {
            return None;
        }
        let ds = Dataset {
            shape: self.meta.input,
            images: images.concat(),
            labels: vec![0; images.len()],
            classes: self.meta.classes.clone(),
        };
        let idx: Vec<usize> = (0..images.len()).collect();
        let mut buf = Vec::new();
        fill_batch(
            &ds,
            &idx,
            &self.norm,
            None::<(&_, &mut rand::rngs::StdRng)>,
            &mut buf,
        );
        let [c, h, w] = self.meta.input;
        let x = Tensor::<4>::from_data(TensorData::new(buf, [images.len(), c, h, w]), &self.device);
        Some(self.model.forward(x))
    }

    /// A [images, classes] tensor as one row per image.
    fn rows(&self, t: Tensor<2>) -> Vec<Vec<f32>> {
        let v = t
            .into_data_as::<f32>()
            .try_to_vec::<f32>()
            .unwrap_or_default();
        v.chunks(self.meta.classes.len())
            .map(<[f32]>::to_vec)
            .collect()
    }

    /// The `k` most probable classes, most probable first.
    pub fn top_k(&self, probs: &[f32], k: usize) -> Vec<Guess> {
        top_k(&self.meta.classes, probs, k)
    }

    /// The top `k` classes of every image file, in order; a file that cannot be read or
    /// decoded is its own error and does not stop the others.
    pub fn predict_files(&self, paths: &[PathBuf], k: usize) -> Vec<Result<Predicted>> {
        // Decoding a photo costs far more than its forward pass: on all cores, in order.
        let decoded: Vec<Result<Vec<u8>>> = paths
            .par_iter()
            .map(|path| {
                let name = path.display().to_string();
                read_file(path).and_then(|b| decode_for(&self.meta, &b, &name))
            })
            .collect();
        let mut results: Vec<Result<Predicted>> = Vec::with_capacity(paths.len());
        let (mut ok, mut pixels) = (Vec::new(), Vec::new());
        for (i, px) in decoded.into_iter().enumerate() {
            match px {
                Ok(px) => {
                    ok.push(i);
                    pixels.push(px);
                    results.push(Ok(Predicted::default()));
                }
                Err(e) => results.push(Err(e)),
            }
        }
        // Forward passes of at most this many images bound the tensor memory of long lists.
        const CHUNK: usize = 256;
        for (idx, px) in ok.chunks(CHUNK).zip(pixels.chunks(CHUNK)) {
            let (logits, probs) = self.logits_and_probabilities(px);
            for ((&i, logits), probs) in idx.iter().zip(logits).zip(probs) {
                results[i] = Ok(Predicted {
                    top: self.top_k(&probs, k),
                    logits,
                });
            }
        }
        results
    }
}

/// One image's result: the top classes, and the logits they come from.
#[derive(Debug, Clone, Default)]
pub struct Predicted {
    pub top: Vec<Guess>,
    pub logits: Vec<f32>,
}

/// Image bytes (PNG, JPEG, BMP, GIF, WebP, TIFF, PPM/PGM) to the checkpoint's input as CHW
/// bytes: grayscale or RGB as the model expects, resized (squashed, Triangle filter) as the
/// image-folder loader does. It needs only the checkpoint's meta, so threads that prepare
/// inputs call it without the model.
pub fn decode_for(meta: &CheckpointMeta, bytes: &[u8], name: &str) -> Result<Vec<u8>> {
    let img =
        image::load_from_memory(bytes).map_err(|e| Error::input(name, unreadable_image(&e)))?;
    let [c, h, w] = meta.input;
    Ok(to_chw(img, w as u32, h as u32, c == 1))
}

/// The `k` most probable of `classes`, most probable first.
pub fn top_k(classes: &[String], probs: &[f32], k: usize) -> Vec<Guess> {
    let mut order: Vec<usize> = (0..probs.len().min(classes.len())).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    order
        .into_iter()
        .take(k)
        .map(|i| Guess {
            class: classes[i].clone(),
            probability: probs[i],
        })
        .collect()
}
