//! The device pipeline (the training set uploaded once, batches gathered there) gives the
//! host pipeline's batches exactly: the same shuffle, shifts, flips and padding, for every
//! augmentation setting. Run here on the CPU backend; on a GPU the gather is the same code.

use std::sync::Arc;

use burn::prelude::*;
use convlab::data::Dataset;
use convlab::data::loader::{Plan, spawn};
use convlab::data::resident::Resident;
use convlab::data::transform::{Augment, Normalize};

mod common;

/// 11 images 3x5x6 whose pixels all differ (so a wrong index shows), labels 0-3.
fn dataset() -> Dataset {
    let shape = [3, 5, 6];
    let n = 11;
    Dataset {
        shape,
        images: (0..n * 90)
            .map(|i| ((i * 37 + i / 7) % 256) as u8)
            .collect(),
        labels: (0..n).map(|i| (i % 4) as u8).collect(),
        classes: ["a", "b", "c", "d"].map(String::from).to_vec(),
    }
}

fn host_batches(ds: &Dataset, norm: &Normalize, plan: &Plan) -> Vec<(Vec<f32>, Vec<i64>)> {
    spawn(Arc::new(ds.clone()), Arc::new(norm.clone()), plan.clone())
        .into_iter()
        .map(|b| (b.images, b.labels))
        .collect()
}

fn device_batches(ds: &Dataset, norm: &Normalize, plan: &Plan) -> Vec<(Vec<f32>, Vec<i64>)> {
    let device = Device::flex();
    let set = Resident::upload(ds, norm, &plan.augment, &device);
    set.pass(plan.clone())
        .map(|(x, y)| {
            assert_eq!(x.dims()[1..], ds.shape);
            let x = x.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
            let y = y.into_data().convert::<i64>().try_to_vec::<i64>().unwrap();
            (x, y)
        })
        .collect()
}

#[test]
fn device_batches_equal_host_batches() {
    let ds = dataset();
    let norm = Normalize::new(vec![0.4, 0.5, 0.6], vec![0.2, 0.25, 0.3]);
    let augments = [
        Augment::default(),
        Augment {
            crop_padding: 2,
            hflip: true,
            ..Default::default()
        },
        Augment {
            crop_padding: 2,
            hflip: true,
            reflect: true,
            alternate: Some((99, 1)),
            rotation: 0.0,
            erasing: 0.0,
            jitter: Default::default(),
        },
        Augment {
            crop_padding: 1,
            hflip: false,
            reflect: true,
            alternate: None,
            rotation: 0.0,
            erasing: 0.0,
            jitter: Default::default(),
        },
    ];
    for augment in augments {
        // (None, _): eval's order; (seed, false): `data.shuffle = false`, augmented from the seed.
        for (shuffle_seed, shuffle) in [(None, false), (Some(7), true), (Some(7), false)] {
            let plan = Plan {
                batch_size: 4,
                shuffle_seed,
                shuffle,
                augment,
            };
            let host = host_batches(&ds, &norm, &plan);
            let device = device_batches(&ds, &norm, &plan);
            assert_eq!(host.len(), 3, "11 images in batches of 4");
            assert_eq!(
                device, host,
                "{augment:?}, shuffle {shuffle_seed:?} {shuffle}"
            );
            let labels: Vec<i64> = host.iter().flat_map(|(_, y)| y.clone()).collect();
            let in_order: Vec<i64> = (0..11).map(|i| i % 4).collect();
            assert_eq!(labels == in_order, !shuffle, "order kept iff not shuffled");
        }
    }
}

/// Without augmentation or shuffling a batch is the normalized images in order, checked by
/// hand for one pixel: image 2, channel 1, row 3, column 4 is byte 2*90 + 30 + 3*6 + 4 = 232
/// of the buffer, value (232*37 + 232/7) % 256 = 169, normalized (169/255 - 0.5) / 0.25 = 0.65098.
#[test]
fn a_plain_batch_is_the_normalized_images() {
    let ds = dataset();
    let norm = Normalize::new(vec![0.4, 0.5, 0.6], vec![0.2, 0.25, 0.3]);
    let plan = Plan {
        batch_size: 5,
        shuffle_seed: None,
        shuffle: false,
        augment: Augment::default(),
    };
    let batches = device_batches(&ds, &norm, &plan);
    let (x, y) = &batches[0];
    assert_eq!(y, &vec![0, 1, 2, 3, 0]);
    let flat = 2 * 90 + 30 + 3 * 6 + 4;
    let want = (169.0 / 255.0 - 0.5) / 0.25;
    assert!((x[flat] - want).abs() < 1e-6, "{} vs {want}", x[flat]);
}

/// A whole run with `data.pipeline = "device"` on the CPU stores the same metrics as with
/// "host": same batches, same float operations on them.
#[test]
fn a_device_pipeline_run_matches_the_host_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::write_idx_dataset(&d.join("mnist"), 300, 100, 4);
    let cfg = r#"seed = 3
[data]
dataset = "mnist"
crop_padding = 2
hflip = true
[model]
preset = ""
layers = [
  { type = "conv", out = 8, padding = 1 },
  { type = "bn" },
  { type = "activation", kind = "relu" },
  { type = "pool" },
  { type = "flatten" },
  { type = "linear", out = 10 },
]
[train]
epochs = 2
batch_size = 64
"#;
    std::fs::write(d.join("small.toml"), cfg).unwrap();
    let mut metrics = Vec::new();
    for pipeline in ["host", "device"] {
        let set = format!("data.pipeline=\"{pipeline}\"");
        let name = format!("name=\"{pipeline}\"");
        let args = [
            "train",
            "small.toml",
            "--data-dir",
            ".",
            "--quiet",
            "--set",
            &set,
            "--set",
            &name,
        ];
        let out = common::convlab(&args, d);
        assert!(out.status.success(), "{}", common::stderr(&out));
        let csv =
            std::fs::read_to_string(d.join("runs").join(pipeline).join("metrics.csv")).unwrap();
        metrics.push(
            csv.lines()
                .map(|l| l.split(',').take(7).collect::<Vec<_>>().join(","))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(metrics[0].len(), 3, "a header and two epochs");
    assert_eq!(metrics[0], metrics[1], "host vs device pipeline");
    let stored = std::fs::read_to_string(d.join("runs/device/config.toml")).unwrap();
    assert!(stored.contains("pipeline = \"device\""), "{stored}");
}
