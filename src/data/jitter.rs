//! Colour jitter (`data.brightness`, `data.contrast`, `data.saturation`, `data.hue`), as
//! torchvision's `ColorJitter(brightness, contrast, saturation, hue)` on a float image
//! tensor: factors drawn uniformly from [max(0, 1 - b), 1 + b] (hue: [-h, h]), the four
//! adjustments applied in a random order, each clamped to [0, 1]. Applied after the crop and
//! flip, before normalization, where it sits in a torchvision pipeline. On one-channel
//! images saturation and hue do nothing, as in torchvision. Each key also takes the range
//! itself, `[min, max]`, as torchvision's arguments do.

use rand::Rng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// A jitter key's value: one number x (factors from [max(0, 1 - x), 1 + x]; hue: [-x, x]),
/// or the range [min, max] the factors are drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged, expecting = "a number, or a range [min, max] of two numbers")]
pub enum Strength {
    Spread(f64),
    Range([f64; 2]),
}

impl Default for Strength {
    fn default() -> Self {
        Strength::Spread(0.0)
    }
}

/// Largest brightness, contrast or saturation factor: above it every lit pixel saturates,
/// and past f32's range a factor is inf (and inf x 0 a NaN pixel).
const MAX_FACTOR: f64 = 1e6;

impl Strength {
    /// The range factors are drawn from: around 1 (brightness, contrast, saturation) or 0
    /// (`hue`); none when off (a spread of 0, or [1, 1] / [0, 0], as torchvision's None).
    pub fn range(self, hue: bool) -> Option<(f64, f64)> {
        let center = if hue { 0.0 } else { 1.0 };
        let (low, high) = match self {
            Strength::Spread(x) if hue => (-x, x),
            Strength::Spread(x) => ((1.0 - x).max(0.0), 1.0 + x),
            Strength::Range([low, high]) => (low, high),
        };
        (low != center || high != center).then_some((low, high))
    }

    /// What is wrong with this value, as torchvision's ColorJitter would refuse it.
    pub fn problem(self, hue: bool) -> Option<String> {
        let (bounds, spread) = if hue {
            (
                (-0.5, 0.5),
                "in [0, 0.5] (a turn of at most half the colour circle either way",
            )
        } else {
            (
                (0.0, MAX_FACTOR),
                "a strength in [0, 1e6] (factors in [max(0, 1 - x), 1 + x]",
            )
        };
        let number = |x: f64| {
            if x.abs() >= 1e6 {
                format!("{x:e}")
            } else {
                x.to_string()
            }
        };
        match self {
            Strength::Spread(x) if !(0.0..=bounds.1).contains(&x) => {
                Some(format!("{} is not {spread}; 0 = off)", number(x)))
            }
            Strength::Range([low, high])
                if !(bounds.0 <= low && low <= high && high <= bounds.1) =>
            {
                Some(format!(
                    "[{}, {}] is not a range [min, max] with {} <= min <= max <= {}",
                    number(low),
                    number(high),
                    bounds.0,
                    number(bounds.1)
                ))
            }
            _ => None,
        }
    }
}

/// The jitter of the four keys.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ColorJitter {
    pub brightness: Strength,
    pub contrast: Strength,
    pub saturation: Strength,
    pub hue: Strength,
}

/// One adjustment with its drawn factor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Adjust {
    Brightness(f32),
    Contrast(f32),
    Saturation(f32),
    Hue(f32),
}

impl ColorJitter {
    /// The four keys in torchvision's order (its random order indexes this), each with its
    /// value and whether it turns the hue (drawn around 0) rather than scales (around 1).
    pub fn keys(&self) -> [(&'static str, Strength, bool); 4] {
        [
            ("data.brightness", self.brightness, false),
            ("data.contrast", self.contrast, false),
            ("data.saturation", self.saturation, false),
            ("data.hue", self.hue, true),
        ]
    }

    /// The first key that is on, if any.
    pub fn first_on(&self) -> Option<&'static str> {
        (self.keys().into_iter())
            .find(|(_, strength, hue)| strength.range(*hue).is_some())
            .map(|(key, _, _)| key)
    }

    pub fn is_off(&self) -> bool {
        self.first_on().is_none()
    }

    /// An image's adjustments in the order they apply: torchvision's draw of a random order
    /// of the four, then a factor for each one that is on (none when all are off, so runs
    /// without jitter draw as before).
    pub fn draw(&self, rng: &mut impl Rng) -> Option<Vec<Adjust>> {
        if self.is_off() {
            return None;
        }
        let mut order = [0, 1, 2, 3];
        order.shuffle(rng);
        // Drawn in the keys' order (brightness first), as torchvision draws them.
        let factors = (self.keys()).map(|(_, strength, hue)| {
            (strength.range(hue)).map(|(low, high)| rng.random_range(low..=high) as f32)
        });
        let adjust: [fn(f32) -> Adjust; 4] = [
            Adjust::Brightness,
            Adjust::Contrast,
            Adjust::Saturation,
            Adjust::Hue,
        ];
        Some(
            order
                .iter()
                .filter_map(|&i| factors[i].map(adjust[i]))
                .collect(),
        )
    }
}

/// Apply `adjustments` in order to one CHW image of values in [0, 1].
pub fn apply(img: &mut [f32], [c, h, w]: [usize; 3], adjustments: &[Adjust]) {
    let plane = h * w;
    for a in adjustments {
        match *a {
            Adjust::Brightness(f) => blend(img, f, |_| 0.0),
            Adjust::Contrast(f) => {
                let mean = if c == 3 {
                    (0..plane).map(|i| gray(img, plane, i)).sum::<f32>() / plane as f32
                } else {
                    img.iter().sum::<f32>() / img.len() as f32
                };
                blend(img, f, |_| mean);
            }
            Adjust::Saturation(f) if c == 3 => {
                for i in 0..plane {
                    let g = (1.0 - f) * gray(img, plane, i);
                    for ch in 0..3 {
                        let v = &mut img[ch * plane + i];
                        *v = (f * *v + g).clamp(0.0, 1.0);
                    }
                }
            }
            Adjust::Hue(shift) if c == 3 => {
                for i in 0..plane {
                    let rgb = [img[i], img[plane + i], img[2 * plane + i]];
                    let [r, g, b] = shift_hue(rgb, shift);
                    (img[i], img[plane + i], img[2 * plane + i]) = (r, g, b);
                }
            }
            Adjust::Saturation(_) | Adjust::Hue(_) => {}
        }
    }
}

/// torchvision's `_blend`: factor x image + (1 - factor) x other, clamped to [0, 1];
/// `other(i)` is the other image's value at index i.
fn blend(img: &mut [f32], factor: f32, other: impl Fn(usize) -> f32) {
    for (i, v) in img.iter_mut().enumerate() {
        *v = (factor * *v + (1.0 - factor) * other(i)).clamp(0.0, 1.0);
    }
}

/// torchvision's `rgb_to_grayscale` of pixel i (ITU-R 601-2 luma, as TensorFlow's).
fn gray(img: &[f32], plane: usize, i: usize) -> f32 {
    0.2989 * img[i] + 0.587 * img[plane + i] + 0.114 * img[2 * plane + i]
}

/// One pixel's hue turned by `shift` (a fraction of the circle), through HSV as torchvision's
/// `_rgb2hsv` and `_hsv2rgb` compute it.
fn shift_hue([r, g, b]: [f32; 3], shift: f32) -> [f32; 3] {
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    if max == min {
        // Gray: no hue to turn (torchvision's formulas give the same pixel back).
        return [r, g, b];
    }
    let chroma = max - min;
    let s = chroma / max;
    let c = |x: f32| (max - x) / chroma;
    let h6 = if max == r {
        c(b) - c(g)
    } else if max == g {
        2.0 + c(r) - c(b)
    } else {
        4.0 + c(g) - c(r)
    };
    // torchvision's fmod(h6 / 6 + 1, 1) and (h + shift) % 1, without a call to fmodf: each
    // value is less than one turn away from [0, 1).
    let wrap = |x: f32| {
        if x >= 1.0 {
            x - 1.0
        } else if x < 0.0 {
            x + 1.0
        } else {
            x
        }
    };
    let h = wrap(wrap(h6 / 6.0 + 1.0) + shift);
    let sector = (h * 6.0).floor();
    let f = h * 6.0 - sector;
    let v = max;
    let p = (v * (1.0 - s)).clamp(0.0, 1.0);
    let q = (v * (1.0 - s * f)).clamp(0.0, 1.0);
    let t = (v * (1.0 - s * (1.0 - f))).clamp(0.0, 1.0);
    match (sector as i32).rem_euclid(6) {
        0 => [v, t, p],
        1 => [q, v, p],
        2 => [p, v, t],
        3 => [p, q, v],
        4 => [t, p, v],
        _ => [v, p, q],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same 3x2x3 image and factors through torchvision 0.29.2 (PyTorch 2.15.0):
    /// ```python
    /// import torch, torchvision.transforms.functional as F
    /// px = torch.tensor([[[10, 200, 255], [0, 90, 128]],
    ///                    [[40, 100, 255], [0, 180, 30]],
    ///                    [[250, 60, 0], [0, 90, 220]]], dtype=torch.uint8)
    /// img = px.float() / 255
    /// F.adjust_brightness(img, 1.3); F.adjust_contrast(img, 0.6)
    /// F.adjust_saturation(img, 1.8); F.adjust_hue(img, 0.2); F.adjust_hue(img, -0.45)
    /// F.adjust_hue(F.adjust_saturation(F.adjust_contrast(F.adjust_brightness(img, 0.7), 1.4), 0.3), -0.1)
    /// F.adjust_contrast(img[:1], 1.5)
    /// ```
    #[test]
    fn adjustments_match_torchvision() {
        use Adjust::*;
        let px = [
            10, 200, 255, 0, 90, 128, 40, 100, 255, 0, 180, 30, 250, 60, 0, 0, 90, 220,
        ];
        let img: Vec<f32> = px.iter().map(|&p: &u8| f32::from(p) / 255.0).collect();
        let cases: [(&[Adjust], &[f32]); 6] = [
            (
                &[Brightness(1.3)],
                &[
                    0.05098, 1.0, 1.0, 0.0, 0.458824, 0.652549, 0.203922, 0.509804, 1.0, 0.0,
                    0.917647, 0.152941, 1.0, 0.305882, 0.0, 0.0, 0.458824, 1.0,
                ],
            ),
            (
                &[Contrast(0.6)],
                &[
                    0.188226, 0.635285, 0.764696, 0.164696, 0.376461, 0.465873, 0.258814, 0.399991,
                    0.764696, 0.164696, 0.588226, 0.235285, 0.752932, 0.305873, 0.164696, 0.164696,
                    0.376461, 0.682343,
                ],
            ),
            (
                &[Saturation(1.8)],
                &[
                    0.0, 1.0, 1.0, 0.0, 0.187228, 0.649571, 0.109901, 0.312722, 1.0, 0.0, 0.822522,
                    0.0, 1.0, 0.030369, 0.0, 0.0, 0.187228, 1.0,
                ],
            ),
            (
                &[Hue(0.2)],
                &[
                    0.980392, 0.517647, 0.0, 0.0, 0.352941, 0.862745, 0.039216, 0.784314, 1.0, 0.0,
                    0.635294, 0.117647, 0.909805, 0.235294, 0.2, 0.0, 0.705882, 0.329412,
                ],
            ),
            (
                &[Hue(-0.45)],
                &[
                    0.815687, 0.235294, 0.3, 0.0, 0.705882, 0.254902, 0.980392, 0.462745, 0.0, 0.0,
                    0.352941, 0.862745, 0.039216, 0.784314, 1.0, 0.0, 0.6, 0.117647,
                ],
            ),
            (
                &[Brightness(0.7), Contrast(1.4), Saturation(0.3), Hue(-0.1)],
                &[
                    0.083265, 0.452444, 0.795648, 0.0, 0.434961, 0.137078, 0.246986, 0.291032,
                    0.64, 0.0, 0.476467, 0.155525, 0.336914, 0.341762, 0.536234, 0.0, 0.372702,
                    0.356137,
                ],
            ),
        ];
        let close = |got: &[f32], want: &[f32], what: &str| {
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                assert!(
                    (g - w).abs() < 2e-5,
                    "{what}: value {i} is {g}, torchvision {w}"
                );
            }
        };
        for (adjustments, want) in cases {
            let mut got = img.clone();
            apply(&mut got, [3, 2, 3], adjustments);
            close(&got, want, &format!("{adjustments:?}"));
        }
        // One channel: contrast about the plain mean; saturation and hue leave it alone.
        let mut gray = img[..6].to_vec();
        apply(
            &mut gray,
            [1, 2, 3],
            &[Contrast(1.5), Saturation(0.0), Hue(0.5)],
        );
        close(
            &gray,
            &[0.0, 0.953268, 1.0, 0.0, 0.306209, 0.529739],
            "one channel",
        );
    }

    /// Factors fall in torchvision's ranges, every order of the four turns up, and only the
    /// adjustments that are on are drawn.
    #[test]
    fn draws_cover_the_ranges_and_orders() {
        use rand::SeedableRng;
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let jitter = ColorJitter {
            brightness: Strength::Spread(0.4),
            contrast: Strength::Spread(1.5),
            saturation: Strength::Range([1.0, 1.0]),
            hue: Strength::Range([-0.1, 0.1]),
        };
        let (mut low, mut high) = (f32::MAX, f32::MIN);
        let mut orders = std::collections::HashSet::new();
        for _ in 0..2000 {
            let drawn = jitter.draw(&mut rng).unwrap();
            assert_eq!(drawn.len(), 3, "saturation [1, 1] is off: {drawn:?}");
            orders.insert(drawn.iter().map(std::mem::discriminant).collect::<Vec<_>>());
            for a in drawn {
                match a {
                    Adjust::Brightness(f) => {
                        (low, high) = (low.min(f), high.max(f));
                        assert!((0.6..=1.4).contains(&f), "{f}");
                    }
                    // 1 - 1.5 < 0: clipped at 0, as torchvision's clip_first_on_zero.
                    Adjust::Contrast(f) => assert!((0.0..=2.5).contains(&f), "{f}"),
                    Adjust::Hue(f) => assert!((-0.1..=0.1).contains(&f), "{f}"),
                    Adjust::Saturation(_) => unreachable!(),
                }
            }
        }
        assert!(low < 0.61 && high > 1.39, "brightness drew [{low}, {high}]");
        assert_eq!(orders.len(), 6, "3 adjustments have 6 orders");
        assert_eq!(ColorJitter::default().draw(&mut rng), None);
        // torchvision's (min, max) form: factors within it, however lopsided.
        let lopsided = ColorJitter {
            brightness: Strength::Range([0.2, 0.5]),
            ..Default::default()
        };
        for _ in 0..200 {
            match lopsided.draw(&mut rng).unwrap()[..] {
                [Adjust::Brightness(f)] => assert!((0.2..=0.5).contains(&f), "{f}"),
                ref other => panic!("{other:?}"),
            }
        }
    }
}
