//! A checkpoint trained on an NVIDIA GPU loads, predicts, evaluates and serves on the CPU.
//!
//! tests/fixtures/cuda/tiny-cuda/ was made on an H100 by `bash bench/gpu_session.sh call1`:
//! `convlab train tests/fixtures/cuda/tiny.toml --device cuda` (2 epochs on 2,000 CIFAR-10
//! images), then `convlab predict --device cuda --json --logits tests/fixtures/cuda/img*.png`,
//! whose output is predict-cuda.json. Here the same checkpoint runs on the CPU build.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cuda")
}

fn images() -> Vec<PathBuf> {
    (0..4)
        .map(|i| fixture().join(format!("img{i}.png")))
        .collect()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// (top class, logits) of each image in a `convlab predict --json --logits` answer.
fn predictions(v: &serde_json::Value) -> Vec<(String, Vec<f64>)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let logits = p["logits"].as_array().unwrap();
            let logits = logits.iter().map(|x| x.as_f64().unwrap()).collect();
            (p["top"][0]["class"].as_str().unwrap().to_string(), logits)
        })
        .collect()
}

#[test]
fn the_fixture_was_trained_on_cuda() {
    let run = json(&fixture().join("tiny-cuda/run.json"));
    let device = run["device"].as_str().unwrap();
    assert!(device.starts_with("cuda"), "run.json device {device:?}");
    let summary = json(&fixture().join("tiny-cuda/summary.json"));
    // 10 classes: chance is 10%.
    assert!(summary["test_acc"].as_f64().unwrap() > 0.25, "{summary}");
}

#[test]
fn a_cuda_checkpoint_predicts_on_the_cpu_what_it_predicted_on_the_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = fixture().join("tiny-cuda/best.ckpt");
    let mut args = vec!["predict", "--checkpoint", ckpt.to_str().unwrap()];
    args.extend(["--device", "cpu", "--json", "--logits"]);
    let imgs = images();
    args.extend(imgs.iter().map(|p| p.to_str().unwrap()));
    let out = convlab(&args, dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let cpu = predictions(&serde_json::from_str(&stdout(&out)).unwrap());
    let gpu = predictions(&json(&fixture().join("tiny-cuda/predict-cuda.json")));
    assert_eq!(cpu.len(), 4);
    for ((c_class, c), (g_class, g)) in cpu.iter().zip(&gpu) {
        assert_eq!(c_class, g_class);
        // Other kernels, other rounding: measured within 1.9e-4 of the largest logit
        // (2026-11-25); 1e-3 leaves room, a wrongly loaded weight does not.
        let scale = g.iter().fold(1.0f64, |m, x| m.max(x.abs()));
        for (a, b) in c.iter().zip(g) {
            assert!((a - b).abs() < 1e-3 * scale, "cpu {c:?} gpu {g:?}");
        }
    }
}

/// An image folder whose test labels are the GPU's own predictions: the CPU evaluation of the
/// CUDA checkpoint must score 100% on it, and say where the model was trained.
#[test]
fn a_cuda_checkpoint_evaluates_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("folder");
    for class in convlab::data::cifar::CLASSES {
        std::fs::create_dir_all(root.join("train").join(class)).unwrap();
        std::fs::copy(&images()[0], root.join("train").join(class).join("a.png")).unwrap();
    }
    let gpu = predictions(&json(&fixture().join("tiny-cuda/predict-cuda.json")));
    for (i, (class, _)) in gpu.iter().enumerate() {
        let d = root.join("test").join(class);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::copy(&images()[i], d.join(format!("img{i}.png"))).unwrap();
    }
    let ckpt = fixture().join("tiny-cuda/best.ckpt");
    let out = convlab(
        &[
            "eval",
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--folder",
            root.to_str().unwrap(),
            "--out",
            "eval",
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["images"], 4, "{report}");
    assert_eq!(report["test_acc"], 1.0, "{report}");
    let trained_on = report["trained_on"].as_str().unwrap();
    assert!(trained_on.starts_with("cuda"), "{report}");
}

#[test]
fn a_cuda_checkpoint_serves_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = fixture().join("tiny-cuda/best.ckpt");
    let server = serve(&["--checkpoint", ckpt.to_str().unwrap()], dir.path(), &[]);
    let gpu = predictions(&json(&fixture().join("tiny-cuda/predict-cuda.json")));
    for (path, (class, _)) in images().iter().zip(&gpu) {
        let answer = ureq::post(&format!("{}/predict", server.url))
            .set("Content-Type", "image/png")
            .send_bytes(&std::fs::read(path).unwrap())
            .unwrap()
            .into_string()
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(v["top"][0]["class"].as_str().unwrap(), class, "{v}");
    }
}
