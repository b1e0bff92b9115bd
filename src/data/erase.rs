//! Random erasing (`data.erasing`), as torchvision's `RandomErasing(p)` with its defaults
//! (scale (0.02, 0.33), ratio (0.3, 3.3), value 0): with probability p an image loses a
//! rectangle of 2-33% of its area, 0.3 to 3.3 times as high as wide, set to 0 after
//! normalization (the dataset's mean colour). Applied after the crop and flip, as it comes
//! after `Normalize` in a torchvision pipeline.

use rand::Rng;

const SCALE: (f64, f64) = (0.02, 0.33);
const RATIO: (f64, f64) = (0.3, 3.3);

/// The rectangle to erase: rows top..top + height, columns left..left + width.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Erase {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

impl Erase {
    /// torchvision's draw: a coin with probability `p`, then up to 10 tries of an area and
    /// a log-uniform aspect ratio until the rectangle fits inside the h x w image.
    pub fn draw(p: f64, h: usize, w: usize, rng: &mut impl Rng) -> Option<Self> {
        if p == 0.0 || rng.random::<f64>() >= p {
            return None;
        }
        let area = (h * w) as f64;
        for _ in 0..10 {
            let target = area * rng.random_range(SCALE.0..SCALE.1);
            let ratio = rng.random_range(RATIO.0.ln()..RATIO.1.ln()).exp();
            // Python's round: halves to even.
            let height = (target * ratio).sqrt().round_ties_even() as usize;
            let width = (target / ratio).sqrt().round_ties_even() as usize;
            if height < h && width < w {
                return Some(Self {
                    top: rng.random_range(0..=h - height),
                    left: rng.random_range(0..=w - width),
                    height,
                    width,
                });
            }
        }
        None
    }
}

/// Set the rectangle `e` of every channel of one normalized CHW image to 0.
pub fn erase(img: &mut [f32], [c, h, w]: [usize; 3], e: &Erase) {
    for ch in 0..c {
        for y in e.top..e.top + e.height {
            let row = ch * h * w + y * w;
            img[row + e.left..row + e.left + e.width].fill(0.0);
        }
    }
}
