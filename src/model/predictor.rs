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
use crate::data::image_files::{decode_image, unreadable_image};
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
    /// decoded is its own error and does not stop the others. `invert` turns each pixel v
    /// into 255 - v first (dark strokes on white for a net trained on MNIST's white on black).
    pub fn predict_files(
        &self,
        paths: &[PathBuf],
        k: usize,
        invert: bool,
    ) -> Vec<Result<Predicted>> {
        // Decoding a photo costs far more than its forward pass: on all cores, in order.
        let decoded: Vec<Result<Vec<u8>>> = paths
            .par_iter()
            .map(|path| {
                let name = path.display().to_string();
                read_file(path).and_then(|b| decode_for(&self.meta, &b, &name, invert))
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
            for (((&i, logits), probs), px) in idx.iter().zip(logits).zip(probs).zip(px) {
                results[i] = Ok(Predicted {
                    top: self.top_k(&probs, k),
                    logits,
                    looks_inverted: looks_inverted(&self.meta, px),
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
    /// See [`looks_inverted`].
    pub looks_inverted: bool,
}

/// Whether an image (the checkpoint's input, as CHW bytes) looks like a negative of the
/// training images: its negative's mean brightness is nearer the training mean (the
/// checkpoint's) than its own by more than 0.3. A digit drawn dark on white for a net
/// trained on MNIST's white on black (mean 0.13; the drawing ~0.9, 0.77 away, its negative
/// 0.03): yes. The margin can be at most |1 - 2 x mean|, so never for CIFAR-10 (0.47: 0.05).
/// Of the 10,000 test images (bench/invert_check.sh), as negatives: MNIST's all, Fashion-
/// MNIST's (mean 0.29) 68%; as they are, none of MNIST's and 0.2% of Fashion-MNIST's.
/// Without a stored mean (a net trained without normalization) nothing is known: false.
pub fn looks_inverted(meta: &CheckpointMeta, px: &[u8]) -> bool {
    if meta.mean.is_empty() || px.is_empty() {
        return false;
    }
    let trained = meta.mean.iter().sum::<f32>() as f64 / meta.mean.len() as f64;
    let mean = px.iter().map(|&v| v as f64).sum::<f64>() / (255.0 * px.len() as f64);
    (mean - trained).abs() - (1.0 - mean - trained).abs() > NEGATIVE_MARGIN
}

/// See [`looks_inverted`].
const NEGATIVE_MARGIN: f64 = 0.3;

/// Image bytes (PNG, JPEG, BMP, GIF, WebP, TIFF, PPM/PGM) to the checkpoint's input as CHW
/// bytes: decoded, converted to grayscale or RGB as the model expects and resized (squashed)
/// as PIL does these (`data::jpeg`, `data::resize`), as the image-folder loader does; with
/// `invert`, each decoded pixel v as 255 - v (predict's `--invert`, serve's
/// `?invert=true`). It needs only the checkpoint's meta, so threads that prepare inputs call
/// it without the model.
pub fn decode_for(
    meta: &CheckpointMeta,
    bytes: &[u8],
    name: &str,
    invert: bool,
) -> Result<Vec<u8>> {
    let mut img = decode_image(bytes).map_err(|e| Error::input(name, unreadable_image(&e)))?;
    // Inverted as decoded, before the conversion and resize, so that a negative reads as
    // exactly its original: PIL's rounding (which `to_chw` follows) is not symmetric, so
    // inverting after the resize could move a pixel by a level.
    if invert {
        img.invert();
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(mean: &[f32]) -> CheckpointMeta {
        CheckpointMeta {
            convlab_version: String::new(),
            burn_version: String::new(),
            layers: Vec::new(),
            input: [mean.len().max(1), 2, 2],
            classes: Vec::new(),
            dataset: String::new(),
            mean: mean.to_vec(),
            std: Vec::new(),
            device: String::new(),
            epoch: 0,
            summary: serde_json::Value::Null,
        }
    }

    /// MNIST's mean 0.1307: a page at 230 (0.902) is 0.771 away, its negative 0.033, nearer
    /// by 0.738: a negative; at 200 (0.784), 0.654 and 0.085, by 0.569: one; at 150 (0.588),
    /// 0.458 and 0.281, by 0.177: not. CIFAR-10's (0.4914, 0.4822, 0.4465), mean 0.4734:
    /// white is 0.527 away, its negative 0.473, by 0.053: not.
    #[test]
    fn looks_inverted_on_hand_computed_means() {
        let mnist = meta(&[0.1307]);
        assert!(looks_inverted(&mnist, &[230; 4]));
        assert!(looks_inverted(&mnist, &[200; 4]));
        assert!(!looks_inverted(&mnist, &[150; 4]));
        assert!(!looks_inverted(&mnist, &[20; 4]));
        assert!(!looks_inverted(
            &meta(&[0.4914, 0.4822, 0.4465]),
            &[255; 12]
        ));
        assert!(!looks_inverted(&meta(&[]), &[255; 4]), "no stored mean");
    }

    /// A PNG header of 30000 x 30000 8-bit gray (900 MB decoded) in a few bytes: refused by
    /// size before any pixel is decoded, and said so (it was "not a readable image").
    #[test]
    fn a_huge_image_is_too_large_not_unreadable() {
        let chunk = |kind: &[u8], data: &[u8]| {
            let mut crc = flate2::Crc::new();
            crc.update(kind);
            crc.update(data);
            let len = (data.len() as u32).to_be_bytes();
            [&len[..], kind, data, &crc.sum().to_be_bytes()].concat()
        };
        let side = 30_000u32.to_be_bytes();
        let ihdr = [&side[..], &side, &[8, 0, 0, 0, 0]].concat();
        let png = [
            &b"\x89PNG\r\n\x1a\n"[..],
            &chunk(b"IHDR", &ihdr),
            &chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]),
            &chunk(b"IEND", &[]),
        ]
        .concat();
        let e = decode_for(&meta(&[]), &png, "huge.png", false).unwrap_err();
        assert_eq!(
            e.to_string(),
            "huge.png: too large to decode (more than 512 MiB of pixels); resize it first"
        );
    }
}
