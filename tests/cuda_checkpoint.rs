//! A checkpoint trained on an NVIDIA GPU loads, predicts, evaluates and serves on the CPU.
//!
//! tests/fixtures/cuda/tiny-cuda/ was made on an H100 by `bash bench/gpu_session.sh call1`:
//! `convlab train tests/fixtures/cuda/tiny.toml --device cuda` (2 epochs on 2,000 CIFAR-10
//! images), then `convlab predict --device cuda --json --logits tests/fixtures/cuda/img*.png`,
//! whose output is predict-cuda.json. Here the same checkpoint runs on the CPU build.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    let classes = [
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    ];
    for class in classes {
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
    let ckpt = fixture().join("tiny-cuda/best.ckpt");
    let mut child = Command::new(bin())
        .args([
            "serve",
            "--checkpoint",
            ckpt.to_str().unwrap(),
            "--port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .trim_start_matches("listening on ")
        .replace("0.0.0.0", "127.0.0.1");
    let gpu = predictions(&json(&fixture().join("tiny-cuda/predict-cuda.json")));
    let answers: Vec<Result<serde_json::Value, String>> = images()
        .iter()
        .map(|p| {
            let body = std::fs::read(p).unwrap();
            let r = ureq::post(&format!("{url}/predict"))
                .set("Content-Type", "image/png")
                .send_bytes(&body)
                .map_err(|e| e.to_string())?;
            serde_json::from_str(&r.into_string().unwrap()).map_err(|e| e.to_string())
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.starts_with("listening on http://"), "{line}");
    for (answer, (class, _)) in answers.into_iter().zip(&gpu) {
        let v = answer.unwrap();
        assert_eq!(v["top"][0]["class"].as_str().unwrap(), class, "{v}");
    }
}
