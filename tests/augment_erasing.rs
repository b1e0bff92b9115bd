//! `data.erasing`: torchvision's RandomErasing on the training batches. Every image is a flat
//! grey, so the erased pixels (0 after normalization) show the rectangle each image lost.
//!
//! torchvision 0.25's own statistics on 1x32x32 images (20,000 draws):
//!   t = torchvision.transforms.RandomErasing(p=0.5); o = t(torch.ones(1, 32, 32))
//!   erased 0.5016 of images; erased share of an image: mean 0.1766, std 0.0891,
//!   min 0.0176, max 0.3438; mean rectangle 13.68 rows x 13.71 columns.

use convlab::data::Dataset;
use convlab::data::transform::{Augment, Normalize, fill_batch};
use rand::SeedableRng;

const N: usize = 4_000;
const SIDE: usize = 32;

#[test]
fn erasing_cuts_one_rectangle_as_torchvision_does() {
    let ds = Dataset {
        shape: [1, SIDE, SIDE],
        images: vec![200; N * SIDE * SIDE],
        labels: vec![0; N],
        classes: vec!["grey".into()],
    };
    let aug = Augment {
        erasing: 0.5,
        ..Default::default()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let indices: Vec<usize> = (0..N).collect();
    let mut out = Vec::new();
    fill_batch(
        &ds,
        &indices,
        &Normalize::identity(1),
        Some((&aug, &mut rng)),
        &mut out,
    );
    let (mut shares, mut rows, mut cols) = (Vec::new(), Vec::new(), Vec::new());
    for img in out.chunks_exact(SIDE * SIDE) {
        let zero: Vec<(usize, usize)> = (0..SIDE * SIDE)
            .filter(|&k| img[k] == 0.0)
            .map(|k| (k / SIDE, k % SIDE))
            .collect();
        if zero.is_empty() {
            continue;
        }
        // One solid rectangle: its bounding box holds nothing else.
        let (y0, y1) = (
            zero.iter().map(|p| p.0).min(),
            zero.iter().map(|p| p.0).max(),
        );
        let (x0, x1) = (
            zero.iter().map(|p| p.1).min(),
            zero.iter().map(|p| p.1).max(),
        );
        let (h, w) = (y1.unwrap() - y0.unwrap() + 1, x1.unwrap() - x0.unwrap() + 1);
        assert_eq!(h * w, zero.len(), "not a rectangle");
        assert!(h < SIDE && w < SIDE);
        shares.push(zero.len() as f64 / (SIDE * SIDE) as f64);
        rows.push(h as f64);
        cols.push(w as f64);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let erased = shares.len() as f64 / N as f64;
    // 4,000 coins at p = 0.5: 3 sigma is 0.024.
    assert!((erased - 0.5).abs() < 0.024, "erased {erased}");
    // torchvision's 0.1766 +- 3 sigma of a mean of ~2,000 shares (std 0.089): 0.006.
    let share = mean(&shares);
    assert!((share - 0.1766).abs() < 0.007, "mean share {share}");
    let lo = shares.iter().cloned().fold(1.0, f64::min);
    let hi = shares.iter().cloned().fold(0.0, f64::max);
    assert!(lo >= 0.0175 && hi <= 0.3438 + 1e-9, "shares {lo}..{hi}");
    // Tall and wide rectangles alike (log-uniform ratio): torchvision's 13.68 x 13.71.
    let (mr, mc) = (mean(&rows), mean(&cols));
    assert!(
        (mr - 13.68).abs() < 0.5 && (mc - 13.71).abs() < 0.5,
        "{mr} x {mc}"
    );
}
