//! `train.accumulate_grad_batches`: k batches of b images summed into one optimizer step are
//! the step of one batch of k x b. The reference is the rule itself, as a PyTorch loop writes
//! it (each batch's loss weighted by its share of the group's images):
//!
//! ```python
//! for i, (x, y) in enumerate(loader):            # batches of 32
//!     share = len(y) / images_in_group(i)        # 32/64, or 32/44 and 12/44 at the end
//!     (F.cross_entropy(net(x), y) * share).backward()
//!     if (i + 1) % 2 == 0 or i + 1 == len(loader):
//!         opt.step(); sched.step(); opt.zero_grad()
//! ```
//!
//! Without batch norm or dropout that loop takes the same steps as batches of 64, so the
//! runs below must agree to float rounding, OneCycleLR's per-step lr included.

use super::*;

/// 300 training images (400 less a quarter for validation): batches of 64 end with 44,
/// batches of 32 with 12, so the last group is shorter than the others.
fn config(dir: &Path, net: &str) -> std::path::PathBuf {
    write_idx_dataset(&dir.join("mnist"), 400, 200, 4);
    let cfg = dir.join("acc.toml");
    let text = format!(
        r#"seed = 5
[data]
dataset = "mnist"
val_fraction = 0.25
[model]
preset = ""
{net}
[optimizer]
name = "sgd-momentum"
lr = 0.01
[schedule]
name = "onecycle"
max_lr = 0.01
[train]
epochs = 2
"#
    );
    std::fs::write(&cfg, text).unwrap();
    cfg
}

const PLAIN_NET: &str = r#"layers = [
  { type = "conv", out = 4, kernel = 5, stride = 2 },
  { type = "activation", kind = "relu" },
  { type = "pool" },
  { type = "flatten" },
  { type = "linear", out = 10 },
]"#;

/// metrics.csv's rows as numbers (epoch, train_loss, train_acc, val_loss, val_acc,
/// test_loss, test_acc, lr; seconds are in timing.csv).
fn rows(dir: &Path, name: &str, sets: &[&str]) -> Vec<Vec<f64>> {
    let run_name = format!("name={name}");
    let mut args = vec!["--set", &run_name];
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = train(dir, &dir.join("acc.toml"), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = std::fs::read_to_string(dir.join("runs").join(name).join("metrics.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(header.last(), Some(&"lr"), "{header:?}");
    csv.lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect()
}

fn largest_difference(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn two_batches_of_32_accumulated_train_as_one_batch_of_64() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    config(d, PLAIN_NET);
    let big = rows(d, "b64", &["train.batch_size=64"]);
    let accumulated = rows(
        d,
        "b32x2",
        &["train.batch_size=32", "train.accumulate_grad_batches=2"],
    );
    let small = rows(d, "b32", &["train.batch_size=32"]);
    // Losses, accuracies and the lr of each epoch agree to rounding...
    let same = largest_difference(&big, &accumulated);
    assert!(same < 1e-4, "b64 {big:?}\nb32x2 {accumulated:?}");
    // ...while batches of 32 each taking a step train differently.
    let other = largest_difference(&big, &small);
    assert!(other > 1e-3, "b64 {big:?}\nb32 {small:?}");
}

#[test]
fn lr_find_steps_once_per_group() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = config(d, PLAIN_NET);
    let curve = |name: &str, sets: &[&str]| -> Vec<(f64, f64)> {
        let run_name = format!("name={name}");
        let mut args = vec!["lr-find", cfg.to_str().unwrap(), "--data-dir", "."];
        args.extend(["--steps", "12", "--set", &run_name]);
        for s in sets {
            args.extend(["--set", s]);
        }
        let out = convlab(&args, d);
        assert!(out.status.success(), "{}", stderr(&out));
        let csv = std::fs::read_to_string(d.join(format!("runs/{name}-lr-find/lr_find.csv")));
        csv.unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (f[1].parse().unwrap(), f[2].parse().unwrap())
            })
            .collect()
    };
    let big = curve("b64", &["train.batch_size=64"]);
    let accumulated = curve(
        "b32x2",
        &["train.batch_size=32", "train.accumulate_grad_batches=2"],
    );
    // 12 points each (5 steps a pass, so passes end with a short group); same lr, same loss.
    assert_eq!(big.len(), 12);
    assert_eq!(accumulated.len(), 12);
    for ((lr_a, loss_a), (lr_b, loss_b)) in big.iter().zip(&accumulated) {
        assert_eq!(lr_a, lr_b);
        assert!((loss_a - loss_b).abs() < 1e-4, "{big:?}\n{accumulated:?}");
    }
}

#[test]
fn accumulating_with_batch_norm_trains_and_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bn_net = PLAIN_NET.replace(
        r#"{ type = "activation", kind = "relu" },"#,
        r#"{ type = "bn" },
  { type = "activation", kind = "relu" },"#,
    );
    config(d, &bn_net);
    let r = rows(
        d,
        "bn",
        &["train.batch_size=16", "train.accumulate_grad_batches=4"],
    );
    // Columns: epoch, train_loss, train_acc, ...; the patterns are learnable, chance is 25%.
    assert!(r[1][2] > 0.5, "{r:?}");
    let out = train(
        d,
        &d.join("acc.toml"),
        &["--set", "train.accumulate_grad_batches=0"],
    );
    assert_bad_input(&out, &["acc.toml", "train.accumulate_grad_batches"]);
    assert!(!d.join("runs/acc").exists());
}
