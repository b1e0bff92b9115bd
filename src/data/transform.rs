//! Turning u8 images into normalized f32 batches, with the train-only augmentations (random
//! rotation, random crop with zero padding, horizontal flip, colour jitter, random erasing).
//! The test and validation pipelines call the same code with augmentation off, so they can
//! never be augmented by mistake.

use rand::Rng;

use crate::data::config::{DataConfig, PaddingMode};
use crate::data::dataset::Dataset;
use crate::data::erase::{Erase, erase};
use crate::data::jitter::{self, ColorJitter};
pub use crate::data::rotate::rotate;
use crate::seed::{Stream, derive_seed};

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
    /// Crop padding shows the image mirrored at its border instead of black.
    pub reflect: bool,
    /// Alternating flips, (coin seed, epoch): image i is mirrored when its seeded coin
    /// differs from the epoch's parity, instead of at random.
    pub alternate: Option<(u64, usize)>,
    /// Random rotation in [-rotation, rotation] degrees, applied first; 0 = off.
    pub rotation: f64,
    /// Random erasing: the probability that an image loses a rectangle (to 0 after
    /// normalization, the mean colour), applied last; 0 = off.
    pub erasing: f64,
    /// Colour jitter after the crop and flip; all zero = off.
    pub jitter: ColorJitter,
}

impl Augment {
    /// The training split's augmentation in epoch `epoch`.
    pub fn for_epoch(cfg: &DataConfig, seed: u64, epoch: usize) -> Self {
        Self {
            crop_padding: cfg.crop_padding,
            hflip: cfg.hflip,
            reflect: cfg.padding_mode == PaddingMode::Reflect,
            alternate: cfg
                .hflip_alternate
                .then(|| (derive_seed(seed, Stream::FlipCoins), epoch)),
            rotation: cfg.rotation,
            erasing: cfg.erasing,
            jitter: cfg.jitter(),
        }
    }

    pub fn is_off(&self) -> bool {
        self.crop_padding == 0
            && !self.hflip
            && self.rotation == 0.0
            && self.erasing == 0.0
            && self.jitter.is_off()
    }

    /// The angle of an image's rotation, drawn after its shift and flip (none when off, so
    /// runs without rotation draw as before).
    fn angle(&self, rng: &mut impl Rng) -> Option<f64> {
        (self.rotation > 0.0).then(|| rng.random_range(-self.rotation..=self.rotation))
    }

    /// Image `index`'s shift and flip, drawn from `rng` in this order (shift rows, shift
    /// columns, then the flip unless flips alternate): the host and the device pipelines
    /// draw through here, so they augment identically.
    pub fn draw(&self, index: usize, rng: &mut impl Rng) -> Draw {
        let pad = self.crop_padding as i64;
        let (dy, dx) = if pad > 0 {
            (
                rng.random_range(-pad..=pad) as isize,
                rng.random_range(-pad..=pad) as isize,
            )
        } else {
            (0, 0)
        };
        let flip = self.flip(index, rng);
        Draw { dy, dx, flip }
    }

    /// Whether image `index` is mirrored, drawing from `rng` unless flips alternate.
    fn flip(&self, index: usize, rng: &mut impl Rng) -> bool {
        match self.alternate {
            _ if !self.hflip => false,
            Some((seed, epoch)) => {
                let coin = splitmix64(seed.wrapping_add(index as u64)) >> 63 == 1;
                coin != (epoch % 2 == 1)
            }
            None => rng.random_bool(0.5),
        }
    }
}

/// One image's augmentation: output pixel (y, x) shows source pixel (y + dy, x' + dx), where
/// x' = w - 1 - x when mirrored, else x.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    pub dy: isize,
    pub dx: isize,
    pub flip: bool,
}

/// SplitMix64's output function: one well-mixed 64-bit value per input.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Index `i` of a row of `n` pixels mirrored at both ends without repeating the edge
/// (PyTorch's "reflect"): -1 -> 1, n -> n - 2.
pub fn reflect(i: isize, n: usize) -> usize {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as isize - 1);
    let m = i.rem_euclid(period);
    (if m >= n as isize { period - m } else { m }) as usize
}

/// Write images `indices` of `ds` into `out` as normalized CHW f32, augmenting when `aug`
/// is given (its RNG decides each image's shift, flip, angle, jitter and erasing, in that
/// order).
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
            let mut rotated = Vec::new();
            // A jittered image's values in [0, 1], before normalization.
            let mut unit = Vec::new();
            for &i in indices {
                let Draw { dy, dx, flip } = a.draw(i, rng);
                let img = match a.angle(rng) {
                    Some(degrees) => {
                        rotate(ds.image(i), ds.shape, degrees, &mut rotated);
                        &rotated[..]
                    }
                    None => ds.image(i),
                };
                let adjustments = a.jitter.draw(rng);
                unit.clear();
                for ch in 0..c {
                    let lut = &norm.lut[ch];
                    let plane = &img[ch * h * w..(ch + 1) * h * w];
                    for y in 0..h as isize {
                        let sy = y + dy;
                        for x in 0..w as isize {
                            let xx = if flip { w as isize - 1 - x } else { x };
                            let sx = xx + dx;
                            let inside = sy >= 0 && sy < h as isize && sx >= 0 && sx < w as isize;
                            let p = if inside {
                                plane[sy as usize * w + sx as usize]
                            } else if a.reflect {
                                plane[reflect(sy, h) * w + reflect(sx, w)]
                            } else {
                                0 // zero padding: a black pixel
                            };
                            match adjustments {
                                None => out.push(lut[p as usize]),
                                Some(_) => unit.push(f32::from(p) / 255.0),
                            }
                        }
                    }
                }
                if let Some(adjustments) = &adjustments {
                    jitter::apply(&mut unit, [c, h, w], adjustments);
                    for (ch, plane) in unit.chunks_exact(h * w).enumerate() {
                        let (m, s) = (norm.mean[ch], norm.std[ch]);
                        out.extend(plane.iter().map(|v| (v - m) / s));
                    }
                }
                // Drawn last, whether or not the image is erased, so later images' draws
                // do not depend on it.
                if let Some(e) = Erase::draw(a.erasing, h, w, rng) {
                    let start = out.len() - c * h * w;
                    erase(&mut out[start..], [c, h, w], &e);
                }
            }
        }
    }
}

/// Append image `i` of `ds`, normalized and padded by `pad` pixels on every side (mirrored
/// when `reflect`, else black), as CHW f32: what the device pipeline crops from, the same
/// pixels `fill_batch` reads outside the image.
pub fn fill_padded(
    ds: &Dataset,
    i: usize,
    norm: &Normalize,
    pad: usize,
    reflect_border: bool,
    out: &mut Vec<f32>,
) {
    let [c, h, w] = ds.shape;
    let img = ds.image(i);
    let p = pad as isize;
    for ch in 0..c {
        let lut = &norm.lut[ch];
        let plane = &img[ch * h * w..(ch + 1) * h * w];
        for y in -p..h as isize + p {
            for x in -p..w as isize + p {
                let inside = y >= 0 && y < h as isize && x >= 0 && x < w as isize;
                let pixel = if inside || reflect_border {
                    plane[reflect(y, h) * w + reflect(x, w)]
                } else {
                    0
                };
                out.push(lut[pixel as usize]);
            }
        }
    }
}
