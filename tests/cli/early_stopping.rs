//! Early stopping and the monitor that picks best.ckpt: Keras' rules, recomputed from
//! metrics.csv, and a monitor with nothing to watch.

use super::*;

#[test]
fn early_stopping_restores_the_best_weights() {
    let dir = tempfile::tempdir().unwrap();
    // A learning rate that makes val loss bounce, and patience 1 over many epochs.
    let cfg = setup(dir.path(), "early_stopping_patience = 1");
    let out = train(
        dir.path(),
        &cfg,
        &["--set", "train.epochs=30", "--set", "optimizer.lr=0.02"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("runs/tiny/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["status"], "early-stopped", "{summary}");
    let (best, ran) = (
        summary["best_epoch"].as_u64().unwrap(),
        summary["epochs_run"].as_u64().unwrap(),
    );
    assert_eq!(ran, best + 1, "patience 1 stops one epoch after the best");
    // The final test accuracy is the best checkpoint's, which eval confirms.
    let e = convlab(
        &[
            "eval",
            "--checkpoint",
            "runs/tiny/best.ckpt",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--json",
        ],
        dir.path(),
    );
    let v: serde_json::Value = serde_json::from_str(stdout(&e).trim()).unwrap();
    assert!((v["test_acc"].as_f64().unwrap() - summary["test_acc"].as_f64().unwrap()).abs() < 1e-9);
    assert!(stdout(&out).contains(&format!("restored best weights of epoch {best}")));
}

/// Keras' rule, recomputed from metrics.csv: an epoch is the new best only when its val
/// accuracy beats the best so far by more than min_delta; patience counts from the best.
#[test]
fn early_stopping_on_val_acc_with_min_delta_follows_keras_rule() {
    let dir = tempfile::tempdir().unwrap();
    let (patience, delta) = (2, 0.02);
    let cfg = setup(
        dir.path(),
        &format!(
            "monitor = \"val_acc\"\nearly_stopping_patience = {patience}\nearly_stopping_min_delta = {delta}"
        ),
    );
    let out = train(dir.path(), &cfg, &["--set", "train.epochs=30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(dir.path().join("runs/tiny/metrics.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "val_acc").unwrap();
    let accs: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();
    let (mut best, mut ran) = (0, accs.len());
    for (i, &a) in accs.iter().enumerate().skip(1) {
        if a > accs[best] + delta {
            best = i;
        }
        if i - best >= patience {
            ran = i + 1;
            break;
        }
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("runs/tiny/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        summary["best_epoch"].as_u64(),
        Some(best as u64 + 1),
        "{accs:?}"
    );
    assert_eq!(summary["epochs_run"].as_u64(), Some(ran as u64), "{accs:?}");
    assert_eq!(summary["status"], "early-stopped", "{summary}");
    assert!(stdout(&out).contains("no val_acc improvement for 2 epochs"));
}

/// A monitor chosen on purpose with no validation split said nothing, and best.ckpt was
/// silently the last epoch (Keras warns that the monitored metric is not available).
#[test]
fn a_monitor_without_a_validation_split_is_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "monitor = \"val_acc\"");
    let out = train(dir.path(), &cfg, &["--set", "data.val_fraction=0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("train.monitor = \"val_acc\" needs a validation split (data.val_fraction = 0); best.ckpt is the last epoch"),
        "{}",
        stderr(&out)
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("runs/tiny/summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["best_epoch"], summary["epochs_run"], "{summary}");
    // With the split (the config's 0.2), no warning.
    let out = train(dir.path(), &cfg, &["--set", "name=split"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("train.monitor"), "{}", stderr(&out));
    // Written at its default, val_loss, it was chosen on purpose too.
    let cfg = setup(dir.path(), "monitor = \"val_loss\"");
    let sets = ["--set", "data.val_fraction=0", "--set", "name=default"];
    let out = train(dir.path(), &cfg, &sets);
    assert!(
        stderr(&out).contains("train.monitor = \"val_loss\" needs a validation split"),
        "{}",
        stderr(&out)
    );
}
