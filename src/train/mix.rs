//! MixUp and CutMix (`data.mixup`, `data.cutmix`), as torchvision's `transforms.v2.MixUp` and
//! `CutMix` do them to a batch: lambda ~ Beta(alpha, alpha); each image is mixed with the one
//! before it in the batch (the batch rolled by one); MixUp blends the two images, CutMix pastes
//! a box of the partner whose area is 1 - lambda (lambda then becomes the kept share). The loss
//! is lambda L(y) + (1 - lambda) L(partner's y): torchvision's soft labels under
//! `CrossEntropyLoss` give exactly this. With both set, each batch takes one at random, as
//! `v2.RandomChoice([MixUp, CutMix])`. Training batches only.

use burn::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::data::DataConfig;
use crate::seed::{Stream, derive_seed};
use crate::train::eval::Criterion;

/// One epoch's mixing draws.
pub struct Mixer {
    rng: StdRng,
    mixup: f64,
    cutmix: f64,
}

/// A mixed batch: the images, and the partner labels with the share of the loss they take.
pub struct Mixed {
    pub x: Tensor<4>,
    pub partner: Tensor<1, Int>,
    /// The share of the batch's own labels, lambda.
    pub lambda: f64,
}

impl Mixer {
    /// Epoch `epoch`'s mixer, or None when neither MixUp nor CutMix is on.
    pub fn for_epoch(cfg: &DataConfig, seed: u64, epoch: usize) -> Option<Self> {
        (cfg.mixup > 0.0 || cfg.cutmix > 0.0).then(|| Self {
            rng: StdRng::seed_from_u64(derive_seed(seed, Stream::Mix { epoch })),
            mixup: cfg.mixup,
            cutmix: cfg.cutmix,
        })
    }

    pub fn mix(&mut self, x: Tensor<4>, y: &Tensor<1, Int>) -> Mixed {
        let [n, _, h, w] = x.dims();
        let device = x.device();
        // out[i] = in[i - 1]: torch.roll(batch, 1, 0).
        let rolled: Vec<i64> = (0..n).map(|i| ((i + n - 1) % n) as i64).collect();
        let rolled = Tensor::<1, Int>::from_data(TensorData::new(rolled, [n]), &device);
        let partner_x = x.clone().select(0, rolled.clone());
        let partner = y.clone().select(0, rolled);
        let cut = match (self.mixup > 0.0, self.cutmix > 0.0) {
            (true, true) => self.rng.random_bool(0.5),
            (_, cutmix) => cutmix,
        };
        let alpha = if cut { self.cutmix } else { self.mixup };
        let lambda = beta(alpha, &mut self.rng);
        if !cut {
            let x = x * lambda + partner_x * (1.0 - lambda);
            return Mixed { x, partner, lambda };
        }
        let (y1, y2, x1, x2) = self.cut_box(lambda, h, w);
        let mut mask = vec![0f32; h * w];
        for row in mask.chunks_exact_mut(w).take(y2).skip(y1) {
            row[x1..x2].fill(1.0);
        }
        let mask = Tensor::<4>::from_data(TensorData::new(mask, [1, 1, h, w]), &device);
        let keep = mask.clone().neg().add_scalar(1.0);
        let x = x * keep + partner_x * mask;
        let lambda = 1.0 - ((y2 - y1) * (x2 - x1)) as f64 / (h * w) as f64;
        Mixed { x, partner, lambda }
    }

    /// torchvision's CutMix box: a centre drawn over the image, half-sides
    /// int(0.5 sqrt(1 - lambda) x side), clipped to the image: rows y1..y2, columns x1..x2.
    fn cut_box(&mut self, lambda: f64, h: usize, w: usize) -> (usize, usize, usize, usize) {
        let (cx, cy) = (self.rng.random_range(0..w), self.rng.random_range(0..h));
        let r = 0.5 * (1.0 - lambda).sqrt();
        let (half_w, half_h) = ((r * w as f64) as usize, (r * h as f64) as usize);
        (
            cy.saturating_sub(half_h),
            (cy + half_h).min(h),
            cx.saturating_sub(half_w),
            (cx + half_w).min(w),
        )
    }
}

/// A training batch as the step takes it: the images, the criterion with this batch's
/// mixing, and the labels train accuracy counts (the ones with the larger share).
pub fn apply(
    mixer: Option<&mut Mixer>,
    x: Tensor<4>,
    y: &Tensor<1, Int>,
    criterion: &Criterion,
) -> (Tensor<4>, Criterion, Tensor<1, Int>) {
    let Some(mixer) = mixer else {
        return (x, criterion.clone(), y.clone());
    };
    let Mixed { x, partner, lambda } = mixer.mix(x, y);
    let counted = if lambda >= 0.5 {
        y.clone()
    } else {
        partner.clone()
    };
    let criterion = Criterion {
        mix: Some((partner, lambda)),
        ..criterion.clone()
    };
    (x, criterion, counted)
}

/// A draw from Beta(alpha, alpha): X / (X + Y) for X, Y ~ Gamma(alpha, 1).
fn beta(alpha: f64, rng: &mut StdRng) -> f64 {
    let (a, b) = (gamma(alpha, rng), gamma(alpha, rng));
    if a + b > 0.0 { a / (a + b) } else { 0.5 }
}

/// Gamma(alpha, 1) by Marsaglia and Tsang's method; for alpha < 1, Gamma(alpha + 1) x U^(1/alpha).
fn gamma(alpha: f64, rng: &mut StdRng) -> f64 {
    if alpha < 1.0 {
        let u: f64 = rng.random();
        return gamma(alpha + 1.0, rng) * u.powf(1.0 / alpha);
    }
    let d = alpha - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let z = standard_normal(rng);
        let v = (1.0 + c * z).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = rng.random();
        if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// N(0, 1) by the Box-Muller transform.
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln is finite
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Beta(a, a) has mean 1/2 and variance 1 / (4 (2a + 1)).
    #[test]
    fn beta_draws_have_the_beta_mean_and_variance() {
        let mut rng = StdRng::seed_from_u64(5);
        for alpha in [0.2, 1.0, 2.5] {
            let n = 40_000;
            let draws: Vec<f64> = (0..n).map(|_| beta(alpha, &mut rng)).collect();
            let mean = draws.iter().sum::<f64>() / n as f64;
            let var = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n as f64;
            let want = 1.0 / (4.0 * (2.0 * alpha + 1.0));
            assert!((mean - 0.5).abs() < 0.01, "alpha {alpha}: mean {mean}");
            assert!(
                (var - want).abs() < 0.05 * want,
                "alpha {alpha}: var {var} vs {want}"
            );
            assert!(draws.iter().all(|d| (0.0..=1.0).contains(d)));
        }
    }
}
