//! Turning u8 images into normalized f32 batches, with the train-only augmentations
//! (random crop with zero padding, horizontal flip). The test and validation pipelines call
//! the same code with augmentation off, so they can never be augmented by mistake.

use rand::Rng;

use crate::data::dataset::Dataset;

/// Per-channel normalization as a 256-entry lookup table per channel.
#[derive(Debug, Clone)]
pub struct Normalize {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    lut: Vec<[f32; 256]>,
}

impl Normalize {
    pub fn new(mean: Vec<f32>, std: Vec<f32>) -> Self {
        let lut = mean
            .iter()
            .zip(&std)
            .map(|(m, s)| std::array::from_fn(|p| (p as f32 / 255.0 - m) / s))
            .collect();
        Self { mean, std, lut }
    }

    /// A checkpoint's normalization: empty mean and std mean none (an imported PyTorch
    /// model fed ToTensor's [0, 1] pixels).
    pub fn from_checkpoint(mean: &[f32], std: &[f32], channels: usize) -> Self {
        if mean.is_empty() {
            Self::identity(channels)
        } else {
            Self::new(mean.to_vec(), std.to_vec())
        }
    }

    /// Only scale to [0, 1].
    pub fn identity(channels: usize) -> Self {
        Self::new(vec![0.0; channels], vec![1.0; channels])
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Augment {
    pub crop_padding: usize,
    pub hflip: bool,
}

impl Augment {
    pub fn is_off(&self) -> bool {
        self.crop_padding == 0 && !self.hflip
    }
}

/// Write images `indices` of `ds` into `out` as normalized CHW f32, augmenting when `aug`
/// is given (its RNG decides each image's shift and flip).
pub fn fill_batch(
    ds: &Dataset,
    indices: &[usize],
    norm: &Normalize,
    aug: Option<(&Augment, &mut impl Rng)>,
    out: &mut Vec<f32>,
) {
    let [c, h, w] = ds.shape;
    out.clear();
    out.reserve(indices.len() * c * h * w);
    match aug {
        None => {
            for &i in indices {
                let img = ds.image(i);
                for ch in 0..c {
                    let lut = &norm.lut[ch];
                    out.extend(
                        img[ch * h * w..(ch + 1) * h * w]
                            .iter()
                            .map(|&p| lut[p as usize]),
                    );
                }
            }
        }
        Some((a, rng)) => {
            let pad = a.crop_padding as i64;
            for &i in indices {
                let img = ds.image(i);
                let (dy, dx) = if pad > 0 {
                    (
                        rng.random_range(-pad..=pad) as isize,
                        rng.random_range(-pad..=pad) as isize,
                    )
                } else {
                    (0, 0)
                };
                let flip = a.hflip && rng.random_bool(0.5);
                for ch in 0..c {
                    let lut = &norm.lut[ch];
                    let plane = &img[ch * h * w..(ch + 1) * h * w];
                    for y in 0..h as isize {
                        let sy = y + dy;
                        for x in 0..w as isize {
                            let xx = if flip { w as isize - 1 - x } else { x };
                            let sx = xx + dx;
                            // Outside the image is zero padding, i.e. a black pixel.
                            let p = if sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize {
                                plane[sy as usize * w + sx as usize]
                            } else {
                                0
                            };
                            out.push(lut[p as usize]);
                        }
                    }
                }
            }
        }
    }
}
