//! Smoke run on the real MNIST files. `.ci/run` sets CONVLAB_DATA=../shared/datasets; where
//! it is unset (a laptop without the data) this test says so and passes, except under CI,
//! where missing data is a failure.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn mnist_one_short_epoch_beats_95_percent() {
    let Some(data) = std::env::var_os("CONVLAB_DATA").map(PathBuf::from) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must set CONVLAB_DATA (see .ci/run)"
        );
        eprintln!("CONVLAB_DATA is not set: skipping the real-data smoke run");
        return;
    };
    let data = std::fs::canonicalize(&data).expect("CONVLAB_DATA exists");
    let dir = tempfile::tempdir().unwrap();
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/mnist.toml");
    // One epoch over 20,000 images: a few seconds on two cores.
    let out = Command::new(env!("CARGO_BIN_EXE_convlab"))
        .args([
            "train",
            config.to_str().unwrap(),
            "--run-dir",
            "run",
            "--set",
            "train.epochs=1",
            "--set",
            "data.limit_train=20000",
            "--set",
            "data.val_fraction=0.0",
        ])
        .env("CONVLAB_DATA", &data)
        .env("CONVLAB_CACHE", dir.path().join("cache"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{stdout}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("run/summary.json")).unwrap(),
    )
    .unwrap();
    let acc = summary["test_acc"].as_f64().unwrap();
    assert!(
        acc > 0.95,
        "MNIST test accuracy after one short epoch: {acc}"
    );
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("run/run.json")).unwrap())
            .unwrap();
    assert_eq!(run["test_images"], 10000);
    // Seed 001's MNIST net, counted as PyTorch counts it (bench/seed_nets.py prints 160,922).
    assert_eq!(run["parameters"], 160_922);
}
