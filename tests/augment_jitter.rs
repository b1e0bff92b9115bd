//! `data.brightness` (and its siblings) as torchvision's ColorJitter on the training
//! batches: each image gets its own factor, drawn evenly from [1 - b, 1 + b], applied before
//! normalization. Every image is one flat colour, so each batch image tells its factor.
//! (The adjustments' arithmetic against torchvision's: `src/data/jitter.rs`.)

#[path = "common/mod.rs"]
mod common;

use common::*;
use convlab::data::Dataset;
use convlab::data::jitter::{ColorJitter, Strength};
use convlab::data::transform::{Augment, Normalize, fill_batch};
use rand::SeedableRng;

const N: usize = 4_000;
const SIDE: usize = 8;

#[test]
fn brightness_factors_are_drawn_per_image_evenly_over_the_range() {
    let plane = SIDE * SIDE;
    // (200, 100, 50): blue never reaches 1.0 at factors up to 1.5, so nothing clips.
    let image: Vec<u8> = [200u8, 100, 50]
        .iter()
        .flat_map(|&v| std::iter::repeat_n(v, plane))
        .collect();
    let ds = Dataset {
        shape: [3, SIDE, SIDE],
        images: image.repeat(N),
        labels: vec![0; N],
        classes: vec!["flat".into()],
    };
    let aug = Augment {
        jitter: ColorJitter {
            brightness: Strength::Spread(0.5),
            ..Default::default()
        },
        ..Default::default()
    };
    let norm = Normalize::new(vec![0.5, 0.4, 0.3], vec![0.2, 0.25, 0.3]);
    let mut rng = rand::rngs::StdRng::seed_from_u64(3);
    let indices: Vec<usize> = (0..N).collect();
    let mut out = Vec::new();
    fill_batch(&ds, &indices, &norm, Some((&aug, &mut rng)), &mut out);
    let factors: Vec<f64> = (out.chunks_exact(3 * plane))
        .map(|img| {
            let blue = &img[2 * plane..];
            assert!(blue.iter().all(|&v| v == blue[0]), "one factor per image");
            // Undo the normalization, then the blue channel's 50 / 255.
            f64::from(blue[0] * 0.3 + 0.3) / (50.0 / 255.0)
        })
        .collect();
    let mean = factors.iter().sum::<f64>() / N as f64;
    let var = factors.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / N as f64;
    let (lo, hi) = factors
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &f| (a.min(f), b.max(f)));
    // torch.empty(1).uniform_(0.5, 1.5): mean 1, std 1 / sqrt(12) = 0.2887; 3 sigma of the
    // mean of 4,000 is 0.014.
    assert!((mean - 1.0).abs() < 0.014, "mean factor {mean}");
    assert!((var.sqrt() - 0.2887).abs() < 0.01, "std {}", var.sqrt());
    assert!(
        (0.5 - 1e-4..0.51).contains(&lo) && (1.49..=1.5 + 1e-4).contains(&hi),
        "{lo}..{hi}"
    );
    // Red (200 / 255) clips at 1.0 from factor 1.275 on, as torchvision's _blend clamps.
    let clipped = (out.chunks_exact(3 * plane))
        .filter(|img| (img[0] * 0.2 + 0.5 - 1.0).abs() < 1e-6)
        .count() as f64
        / N as f64;
    assert!((clipped - 0.225).abs() < 0.025, "clipped share {clipped}");
}

/// Through `convlab train` on one-channel images: brightness and contrast train and are
/// stored in the run's config; saturation and hue are named as doing nothing there.
#[test]
fn a_jittered_run_trains_and_one_channel_saturation_is_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_idx_dataset(&d.join("mnist"), 400, 200, 4);
    std::fs::write(
        d.join("tiny.toml"),
        format!(
            "[data]\ndataset = \"mnist\"\nbrightness = 0.4\ncontrast = 0.4\nsaturation = 0.4\n\
             [model]\npreset = \"\"\n{TINY_NET}\n[optimizer]\nlr = 3e-3\n[train]\nepochs = 2\nbatch_size = 32\n"
        ),
    )
    .unwrap();
    let out = convlab(
        &[
            "train",
            "tiny.toml",
            "--data-dir",
            d.to_str().unwrap(),
            "--quiet",
        ],
        d,
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("data.saturation does nothing on one-channel images"),
        "{err}"
    );
    let stored = std::fs::read_to_string(d.join("runs/tiny/config.toml")).unwrap();
    assert!(stored.contains("brightness = 0.4"), "{stored}");
    let summary = std::fs::read_to_string(d.join("runs/tiny/summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let acc = summary["test_acc"].as_f64().unwrap();
    assert!(acc > 0.4, "4 classes: chance is 0.25, got {acc}");
}

/// All four at torchvision's usual strengths: over 20,000 draws on one small image, each
/// channel's mean and spread, and one pixel's mean, are torchvision's.
///   torch.manual_seed(0); cj = torchvision.transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)
///   img = the 3x2x4 image below / 255; outs = torch.stack([cj(img) for _ in range(20000)])
///   outs.mean((2, 3)).mean(0) = [0.3741, 0.412, 0.3848]; .std(0) = [0.077, 0.0844, 0.0812]
///   outs[:, :, 0, 0].mean(0) = [0.1425, 0.2426, 0.8301]
#[test]
fn all_four_together_have_torchvisions_statistics() {
    const DRAWS: usize = 20_000;
    let px: [u8; 24] = [
        10, 200, 255, 30, 0, 90, 128, 64, 40, 100, 255, 200, 0, 180, 30, 64, 250, 60, 0, 100, 0,
        90, 220, 64,
    ];
    let ds = Dataset {
        shape: [3, 2, 4],
        images: px.repeat(DRAWS),
        labels: vec![0; DRAWS],
        classes: vec!["one".into()],
    };
    let aug = Augment {
        jitter: ColorJitter {
            brightness: Strength::Spread(0.4),
            contrast: Strength::Spread(0.4),
            saturation: Strength::Spread(0.4),
            hue: Strength::Spread(0.1),
        },
        ..Default::default()
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let indices: Vec<usize> = (0..DRAWS).collect();
    let mut out = Vec::new();
    let norm = Normalize::identity(3);
    fill_batch(&ds, &indices, &norm, Some((&aug, &mut rng)), &mut out);
    let stats = |values: Vec<f64>| {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64;
        (mean, var.sqrt())
    };
    let want = [
        (0.3741, 0.077, 0.1425),
        (0.412, 0.0844, 0.2426),
        (0.3848, 0.0812, 0.8301),
    ];
    for (ch, (mean_want, std_want, pixel_want)) in want.into_iter().enumerate() {
        let channels: Vec<&[f32]> = (out.chunks_exact(24))
            .map(|img| &img[ch * 8..(ch + 1) * 8])
            .collect();
        let means = (channels.iter())
            .map(|c| f64::from(c.iter().sum::<f32>()) / 8.0)
            .collect();
        let (mean, std) = stats(means);
        let (pixel, _) = stats(channels.iter().map(|c| f64::from(c[0])).collect());
        // 3 sigma of a mean of 20,000 draws with std ~0.08, twice (both sides drew): 0.0024.
        assert!(
            (mean - mean_want).abs() < 0.0025,
            "channel {ch} mean {mean}"
        );
        assert!((std - std_want).abs() < 0.003, "channel {ch} std {std}");
        assert!(
            (pixel - pixel_want).abs() < 0.004,
            "channel {ch} pixel 0 mean {pixel}"
        );
    }
}
