//! The binary as a user runs it: train, the run folder, eval, reproducibility, early
//! stopping (early_stopping.rs), the divergence guard and every kind of bad input.

#[path = "../common/mod.rs"]
mod common;

use std::path::Path;

use common::*;

mod accumulate;
mod bad_input;
mod bench;
mod checkpoint_first;
mod compare;
mod diverged_checkpoint;
mod early_stopping;
mod eval_folder;
mod flags;
mod images;
mod import_like;
mod invert;
mod mixing;
mod one_cycle;
mod resume;
mod summary;
mod untested_class;

/// A 4-class 28x28 IDX dataset and a config training a tiny net on it.
fn setup(dir: &Path, extra: &str) -> std::path::PathBuf {
    write_idx_dataset(&dir.join("mnist"), 400, 200, 4);
    let cfg = dir.join("tiny.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"seed = 3
[data]
dataset = "mnist"
val_fraction = 0.2
[model]
preset = ""
{TINY_NET}
[optimizer]
name = "adam"
lr = 3e-3
[train]
epochs = 2
batch_size = 32
{extra}
"#
        ),
    )
    .unwrap();
    cfg
}

fn train(dir: &Path, cfg: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "train",
        cfg.to_str().unwrap(),
        "--data-dir",
        dir.to_str().unwrap(),
        "--runs-dir",
        "runs",
    ];
    args.extend(extra);
    convlab(&args, dir)
}

#[test]
fn train_writes_a_complete_run_folder_and_eval_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let out = train(dir.path(), &cfg, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = dir.path().join("runs/tiny");
    for f in [
        "config.toml",
        "run.json",
        "metrics.csv",
        "timing.csv",
        "events.out.tfevents.convlab",
        "summary.json",
        "best.ckpt",
        "last.ckpt",
        "curves.png",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    // The event file heads with the config for TensorBoard's HParams dashboard.
    let events = std::fs::read(run.join("events.out.tfevents.convlab")).unwrap();
    let holds = |s: &[u8]| events.windows(s.len()).any(|w| w == s);
    assert!(
        holds(b"_hparams_/session_start_info") && holds(b"\x0eoptimizer.name\x12\x06\x1a\x04adam")
    );
    // One printed line per epoch, with every metric.
    let lines: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| l.starts_with("epoch"))
        .map(String::from)
        .collect();
    assert_eq!(lines.len(), 2, "{}", stdout(&out));
    for key in ["train loss", "val loss", "test loss", "lr", "s"] {
        assert!(lines[0].contains(key), "{}", lines[0]);
    }
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let acc = summary["test_acc"].as_f64().unwrap();
    assert!(acc > 0.6, "4 classes, chance 25%: got {acc}");
    // The resolved config writes every default out and re-parses to the same config.
    let resolved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    for key in [
        "val_fraction = 0.2",
        "label_smoothing",
        "early_stopping_patience",
        "[schedule]",
        "beta2",
    ] {
        assert!(resolved.contains(key), "resolved config lacks {key}");
    }
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(
        (
            info["seed"].as_u64(),
            info["burn_version"].as_str(),
            info["device"].as_str(),
            info["build"].as_str()
        ),
        (
            Some(3),
            Some("0.22.1"),
            Some("cpu"),
            Some(convlab::run::BUILD)
        )
    );
    // The backends built in; this test's build is the default one unless a feature is on.
    #[cfg(not(any(feature = "cuda", feature = "cubecl-cpu")))]
    assert_eq!(info["build"], "cpu");
    // The SIMD level that explains last-digit differences between CPU kinds.
    let simd = info["cpu_simd"].as_str().unwrap_or_default();
    let known = ["avx512f", "avx2", "sse2", std::env::consts::ARCH];
    assert!(known.contains(&simd), "cpu_simd {simd:?}");
    // The CONVLAB_* variables the run saw, switches that change the rounding among them
    // (the harness sets CONVLAB_CACHE and removes CONVLAB_DATA).
    let cache = dir.path().join(".cache");
    assert_eq!(info["env"]["CONVLAB_CACHE"].as_str(), cache.to_str());
    assert!(info["env"].get("CONVLAB_DATA").is_none(), "{}", info["env"]);
    // TINY_NET: conv 1->4 5x5 (100 + 4), fc 4*6*6->10 (1440 + 10); no running stats.
    assert_eq!(info["parameters"], 104 + 1450);
    // metrics.csv: header + one row per epoch.
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3);
    // eval on the last checkpoint reports exactly the final test accuracy.
    let e = convlab(
        &[
            "eval",
            "--checkpoint",
            "runs/tiny/last.ckpt",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--json",
        ],
        dir.path(),
    );
    assert!(e.status.success(), "{}", stderr(&e));
    let v: serde_json::Value = serde_json::from_str(stdout(&e).trim()).unwrap();
    assert_eq!(v["images"].as_u64(), Some(200));
    assert!(
        (v["test_acc"].as_f64().unwrap() - acc).abs() < 1e-9,
        "eval {} vs train {acc}",
        v["test_acc"]
    );
    // The checkpoint as the path alone (as export takes it); not both forms at once.
    let data_dir = dir.path().to_str().unwrap();
    let args = [
        "eval",
        "runs/tiny/last.ckpt",
        "--data-dir",
        data_dir,
        "--json",
    ];
    let alone = convlab(&args, dir.path());
    assert!(alone.status.success(), "{}", stderr(&alone));
    let w: serde_json::Value = serde_json::from_str(stdout(&alone).trim()).unwrap();
    assert_eq!(w["test_acc"], v["test_acc"]);
    let both = convlab(
        &[&args[..], &["--checkpoint", "runs/tiny"]].concat(),
        dir.path(),
    );
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
    assert!(
        stderr(&both).contains("cannot be used with"),
        "{}",
        stderr(&both)
    );
    // The diagnostics agree with each other and with the data: 50 test images per class
    // (labels i % 4), the confusion matrix's diagonal is the accuracy.
    let confusion: Vec<Vec<u64>> = serde_json::from_value(v["confusion"].clone()).unwrap();
    assert_eq!(confusion.len(), 10);
    for (c, row) in confusion.iter().enumerate() {
        assert_eq!(
            row.iter().sum::<u64>(),
            if c < 4 { 50 } else { 0 },
            "row {c}"
        );
        let per_class = &v["per_class"][c];
        assert_eq!(per_class["correct"].as_u64(), Some(row[c]));
    }
    let diagonal: u64 = (0..10).map(|c| confusion[c][c]).sum();
    assert!((diagonal as f64 / 200.0 - acc).abs() < 1e-9);
    // eval.json's most confused pairs are the largest off-diagonal cells, largest first.
    let off_diagonal = 200 - diagonal;
    let pairs = v["most_confused"].as_array().unwrap();
    let listed: u64 = pairs.iter().map(|p| p["images"].as_u64().unwrap()).sum();
    assert_eq!(listed, off_diagonal);
    let largest = (0..10)
        .flat_map(|t| (0..10).filter(move |&p| p != t).map(move |p| (t, p)))
        .map(|(t, p)| confusion[t][p])
        .max()
        .unwrap();
    assert_eq!(
        pairs.first().map_or(0, |p| p["images"].as_u64().unwrap()),
        largest
    );
    assert!(v["macro_average"]["f1"].as_f64().is_some());
    let eval_dir = run.join("eval-last");
    for f in [
        "confusion.png",
        "confusion.svg",
        "confusion.csv",
        "eval.json",
    ] {
        assert!(eval_dir.join(f).is_file(), "{f}");
    }
    let csv_rows: Vec<String> = std::fs::read_to_string(eval_dir.join("confusion.csv"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(csv_rows.len(), 11);
    // Wrong predictions exist unless the tiny net is perfect; then there is nothing to draw.
    assert_eq!(eval_dir.join("top_losses.png").is_file(), diagonal < 200);
    let tta = convlab(
        &[
            "eval",
            "--checkpoint",
            "runs/tiny/last.ckpt",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--tta",
            "--out",
            "tta-eval",
        ],
        dir.path(),
    );
    assert!(tta.status.success(), "{}", stderr(&tta));
    let text = stdout(&tta);
    assert!(
        text.contains("with flip test-time augmentation: loss"),
        "{text}"
    );
    assert!(text.contains("| true \\ predicted |"), "{text}");
    assert!(dir.path().join("tta-eval/eval.json").is_file());
    // A second run of the same name goes to a new folder; nothing is overwritten.
    let again = train(dir.path(), &cfg, &["--set", "train.epochs=1", "--quiet"]);
    assert!(again.status.success());
    assert!(dir.path().join("runs/tiny-2/summary.json").is_file());
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.csv")).unwrap(),
        csv
    );
}

#[test]
fn same_seed_gives_identical_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let extra = ["--set", "data.hflip=true", "--set", "data.crop_padding=2"];
    for d in ["runs/a", "runs/b"] {
        let mut args = extra.to_vec();
        args.extend(["--run-dir", d]);
        let out = train(dir.path(), &cfg, &args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let a = std::fs::read_to_string(dir.path().join("runs/a/metrics.csv")).unwrap();
    let b = std::fs::read_to_string(dir.path().join("runs/b/metrics.csv")).unwrap();
    assert_eq!(a, b);
    // And a different seed gives different numbers.
    let out = train(
        dir.path(),
        &cfg,
        &["--set", "seed=4", "--run-dir", "runs/c"],
    );
    assert!(out.status.success());
    assert_ne!(
        std::fs::read_to_string(dir.path().join("runs/c/metrics.csv")).unwrap(),
        a
    );
}

#[test]
fn divergence_stops_with_a_diagnosis() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let out = train(
        dir.path(),
        &cfg,
        &[
            "--set",
            "optimizer.name=\"sgd\"",
            "--set",
            "optimizer.lr=1e4",
            "--set",
            "train.epochs=5",
        ],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("run diverged")
            && err.contains("learning rate 1e4 is likely too high for sgd at batch size 32"),
        "{err}"
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("runs/tiny/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["status"], "diverged");
}

#[test]
fn stuck_at_chance_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "chance_epochs = 2");
    // Unnormalized inputs and a huge SGD step: the net dies at chance, loss stays finite. (With
    // Adam at the same rate, whether it dies hangs on the dropout masks: new masks once let
    // this easy data be learned to 100%.)
    // 10 steps an epoch: epochs count from the 5th (step 50), so it stops at the 6th.
    let out = train(
        dir.path(),
        &cfg,
        &[
            "--set",
            "optimizer.name=sgd",
            "--set",
            "optimizer.lr=5.0",
            "--set",
            "data.normalize=false",
            "--set",
            "train.epochs=8",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("chance") || err.contains("loss became"),
        "{err}"
    );
    assert!(err.contains("data.normalize = false"), "{err}");
}
