//! Studies as a user runs them: convlab sweep (grid, seeds, --trial, --jobs, --emit),
//! resuming after a SIGKILL, convlab report's numbers and files, and convlab lr-find.

#[path = "../common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::*;

mod lr_find_and_sampling;
mod resume_and_jobs;
mod study_name;
mod zip;

/// A 4-class 28x28 IDX dataset, a base run config on it, and a study file over it.
fn setup(dir: &Path, train_images: usize, study: &str) -> PathBuf {
    write_idx_dataset(&dir.join("mnist"), train_images, 200, 4);
    std::fs::write(
        dir.join("base.toml"),
        format!(
            r#"seed = 0
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
"#
        ),
    )
    .unwrap();
    let path = dir.join("tiny-study.toml");
    std::fs::write(&path, format!("[study]\nbase = \"base.toml\"\n{study}")).unwrap();
    path
}

fn sweep(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "sweep",
        "tiny-study.toml",
        "--data-dir",
        dir.to_str().unwrap(),
    ];
    args.extend(extra);
    convlab(&args, dir)
}

fn summary(run: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run.join("summary.json"))
        .unwrap_or_else(|e| panic!("{}: {e}", run.display()));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn study_errors_are_caught_before_anything_trains() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cases: &[(&str, &[&str])] = &[
        (
            "seeds = 2\n[study.axes]\nlerning_rate = [1e-3]\n",
            &["tiny-study.toml", "axis lerning_rate", "unknown axis"],
        ),
        (
            "[study.axes]\noptimizer = [\"adam\", \"adamm\"]\n",
            &[
                "tiny-study.toml",
                "variant optimizer=adamm",
                "optimizer.name",
                "adamm",
            ],
        ),
        (
            "[study.axes]\nlr = [1e-3, -1.0]\n",
            &["variant lr=-1", "optimizer.lr"],
        ),
        (
            "[study.axes]\nbatch_size = [32, \"big\"]\n",
            &["variant batch_size=big", "batch_size"],
        ),
        (
            "[study.axes]\nlr = { log_uniform = [1e-4, 1e-2] }\n",
            &["axis lr", "sampling = \"random\""],
        ),
        ("seeds = 0\n[study.axes]\nlr = [1e-3]\n", &["study.seeds"]),
        // A repeated seed: two trials shared one run folder, the second skipped as done.
        (
            "seeds = [0, 0]\n[study.axes]\nlr = [1e-3]\n",
            &["study.seeds: seed 0 appears twice"],
        ),
        (
            "seeds = [-1]\n[study.axes]\nlr = [1e-3]\n",
            &["study.seeds: -1 is not a seed (seeds are whole numbers from 0)"],
        ),
        (
            "seeds = \"three\"\n[study.axes]\nlr = [1e-3]\n",
            &["a count of seeds (3) or a list of seeds, whole numbers from 0"],
        ),
        (
            "sede = 3\n[study.axes]\nlr = [1e-3]\n",
            &["[study]", "sede"],
        ),
        // The base is a layer list: a dropout axis would train identical variants.
        (
            "[study.axes]\ndropout = [0.0, 0.5]\n",
            &["variant dropout=0", "model.dropout", "presets only"],
        ),
    ];
    for (study, needles) in cases {
        setup(d, 40, study);
        let out = sweep(d, &[]);
        assert_bad_input(&out, needles);
        assert!(
            !d.join("runs").exists(),
            "nothing may train or be written for {study:?}"
        );
    }
    // A dataset that is not there is one error for the sweep, not one per trial.
    setup(d, 40, "seeds = 2\n[study.axes]\nlr = [1e-3, 3e-3]\n");
    let sets = ["--set", "data.dataset=folder", "--set", "data.path=nowhere"];
    let out = sweep(d, &sets);
    assert_bad_input(&out, &["nowhere: image folder not found"]);
    assert_eq!(
        stderr(&out).matches("not found").count(),
        1,
        "{}",
        stderr(&out)
    );
    assert!(!d.join("runs").exists());
}

#[test]
fn grid_with_seeds_trains_every_trial_and_reports_mean_and_std() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        400,
        "seeds = 2\n[study.axes]\nlr = [1e-3, 3e-3]\nbatch_size = [32, 64]\n",
    );
    let out = sweep(d, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // One progress line per run, then the report.
    assert_eq!(
        text.lines().filter(|l| l.starts_with('[')).count(),
        8,
        "{text}"
    );
    let root = d.join("runs/tiny-study");
    let mut accs = Vec::new();
    for variant in ["lr=0.001,batch_size=32", "lr=0.003,batch_size=64"] {
        let mut v = Vec::new();
        for seed in 0..2 {
            let run = root.join(variant).join(format!("seed-{seed}"));
            let s = summary(&run);
            assert_eq!(s["status"], "completed");
            let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
            assert!(cfg.contains(&format!("seed = {seed}")), "{cfg}");
            v.push(s["test_acc"].as_f64().unwrap());
        }
        accs.push((variant, v));
    }
    // report.csv: the mean and sample std of the two seeds, computed by hand here.
    let csv = std::fs::read_to_string(root.join("report.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(&header[..3], &["variant", "lr", "batch_size"]);
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    for (variant, v) in &accs {
        let row = csv
            .lines()
            .find(|l| l.starts_with(&format!("\"{variant}\"")))
            .unwrap_or_else(|| panic!("no row for {variant} in {csv}"));
        // Split after the quoted variant name.
        let rest = &row[variant.len() + 3..];
        let fields: Vec<&str> = std::iter::once("").chain(rest.split(',')).collect();
        let mean = (v[0] + v[1]) / 2.0;
        let std = ((v[0] - mean).powi(2) + (v[1] - mean).powi(2)).sqrt(); // n - 1 = 1
        let got_mean: f64 = fields[col("test_acc_mean")].parse().unwrap();
        let got_std: f64 = fields[col("test_acc_std")].parse().unwrap();
        assert!(
            (got_mean - mean).abs() < 1e-6,
            "{variant}: {got_mean} vs {mean}"
        );
        assert!(
            (got_std - std).abs() < 1e-6,
            "{variant}: {got_std} vs {std}"
        );
    }
    let md = std::fs::read_to_string(root.join("report.md")).unwrap();
    assert!(
        md.contains("### By lr") && md.contains("### By batch_size"),
        "{md}"
    );
    assert!(md.contains("Best: "), "{md}");
    assert!(md.contains("![heatmap](heatmap.png)"), "{md}");
    for fig in ["curves", "final", "heatmap"] {
        let png = std::fs::read(root.join(format!("{fig}.png"))).unwrap();
        assert_eq!(&png[..4], b"\x89PNG", "{fig}.png");
        let svg = std::fs::read_to_string(root.join(format!("{fig}.svg"))).unwrap();
        assert!(svg.starts_with("<svg"), "{fig}.svg");
    }
    let html = std::fs::read_to_string(root.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 3, "three inline figures");
    assert!(
        !html.contains("src=") && !html.contains("href="),
        "self-contained"
    );
    assert!(html.contains("lr=0.003,batch_size=64"));

    // The report command alone gives the same Markdown.
    let again = convlab(&["report", "runs/tiny-study"], d);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(std::fs::read_to_string(root.join("report.md")).unwrap(), md);
}

#[test]
fn welch_test_matches_a_hand_computed_value() {
    // a = [1, 2, 3], b = [4, 5, 6, 7]: t = -3.5 / sqrt(1/3 + 5/12) = -4.0415,
    // df = 0.75^2 / ((1/3)^2 / 2 + (5/12)^2 / 3) = 4.959, two-sided p = 0.01008
    // (integrating the t density numerically).
    let (t, df, p) =
        convlab::report::study::welch(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0, 7.0]).unwrap();
    assert!((t + 4.041452).abs() < 1e-5, "t = {t}");
    assert!((df - 4.959184).abs() < 1e-5, "df = {df}");
    assert!((p - 0.010077).abs() < 2e-5, "p = {p}");
    assert!(convlab::report::study::welch(&[1.0], &[2.0, 3.0]).is_none());
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// `image_size` as an axis (a study of input resolution): each variant trains a net for its
/// own image size.
#[test]
fn image_size_axis_trains_each_variant_at_its_resolution() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 100, "[study.axes]\nimage_size = [[14, 14], [20, 12]]\n");
    let out = sweep(d, &["--set", "train.epochs=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (variant, input) in [("14+14", [1, 14, 14]), ("20+12", [1, 20, 12])] {
        let run = d.join(format!("runs/tiny-study/image_size={variant}/seed-0"));
        let (meta, _) = convlab::model::checkpoint::read_meta(&run.join("best.ckpt")).unwrap();
        assert_eq!(meta.input, input, "{}", run.display());
    }
}

/// `--set` on a study: `study.*` keys change the study itself (fewer seeds or values for a
/// quick try); a key the study varies, or an axis' short name, is a one-line error, since
/// the axis would overwrite it in every variant (it did, silently).
#[test]
fn sets_change_the_study_and_never_an_axis_silently() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        40,
        "seeds = 3\n[study.axes]\noptimizer = [\"sgd\", \"adam\", \"rmsprop\"]\n",
    );
    let list = |sets: &[&str]| {
        let mut args = vec!["--list"];
        args.extend(sets.iter().flat_map(|s| ["--set", s]));
        sweep(d, &args)
    };
    let out = list(&["study.seeds=1", "study.axes.optimizer=[\"adam\", \"sgd\"]"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let trials: Vec<&str> = text.lines().map(str::trim).collect();
    assert_eq!(
        trials,
        [
            "0  runs/tiny-study/optimizer=adam/seed-0",
            "1  runs/tiny-study/optimizer=sgd/seed-0"
        ],
        "{text}"
    );
    assert_bad_input(
        &list(&["optimizer.name=sgd"]),
        &["--set optimizer.name=sgd: optimizer.name is this study's axis `optimizer`"],
    );
    assert_bad_input(
        &list(&["optimizer=sgd"]),
        &[
            "--set optimizer=sgd: optimizer is a study axis' short name; a --set takes the full key: --set optimizer.name=sgd",
        ],
    );
    assert_bad_input(&list(&["study.sede=1"]), &["[study]", "sede"]);
    assert!(!d.join("runs").exists());
}

/// A key that no variant's optimizer or schedule reads is warned of once; one some variants
/// read (momentum, for sgd and rmsprop alike) is there for them and says nothing.
#[test]
fn keys_no_variant_reads_are_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        40,
        "seeds = 1\n[study.axes]\noptimizer = [\"sgd\", \"rmsprop\"]\n",
    );
    let sets = [
        "optimizer.momentum=0.5",
        "optimizer.beta2=0.99",
        "schedule.step_size=3",
        // Its default value, but written: the user meant something by it.
        "schedule.gamma=0.1",
    ];
    let args: Vec<&str> = sets.iter().flat_map(|s| ["--set", s]).collect();
    let out = sweep(d, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(
        warnings,
        [
            "warning: tiny-study.toml with --set optimizer.beta2=0.99: optimizer.beta2 is adam's, adamw's, adamax's, nadam's and radam's; optimizer.name = \"sgd\" does not read it",
            "warning: tiny-study.toml with --set schedule.step_size=3: schedule.step_size is step's; schedule.name = \"constant\" does not read it",
            "warning: tiny-study.toml with --set schedule.gamma=0.1: schedule.gamma is step's, multistep's and exponential's; schedule.name = \"constant\" does not read it",
        ],
        "{err}"
    );
}

/// A moving average too long for the run is warned of once per variant, not once per seed:
/// 32 training images at batch 32 for 2 epochs are 2 steps, and 0.9^1 of the final average
/// is still the first step's weights.
#[test]
fn a_moving_average_too_long_for_the_run_is_warned_of_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 40, "seeds = 2\n[study.axes]\nema_decay = [0, 0.9]\n");
    let out = sweep(d, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].starts_with("warning: tiny-study.toml (trial ")
            && warnings[0].contains("train.ema_decay = 0.9 averages over about 10 steps and this run takes 2: 90% of the final average"),
        "{err}"
    );
    // The averaged runs' metrics.csv also hold the training weights' own val figures; the
    // others keep the file they always had.
    let mut averaged = 0;
    for variant in std::fs::read_dir(d.join("runs/tiny-study")).unwrap() {
        let run = variant.unwrap().path().join("seed-0");
        let Ok(config) = std::fs::read_to_string(run.join("config.toml")) else {
            continue;
        };
        let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        if !config.contains("ema_decay = 0.9") {
            assert!(!header.contains(&"raw_val_loss"), "{csv}");
            continue;
        }
        averaged += 1;
        let col = |name| header.iter().position(|h| *h == name).expect(name);
        // One step per epoch: after the first the average is a copy of the weights.
        for (epoch, line) in csv.lines().skip(1).enumerate() {
            let cells: Vec<f64> = line.split(',').map(|c| c.parse().unwrap()).collect();
            let (val, raw) = (cells[col("val_loss")], cells[col("raw_val_loss")]);
            assert!(raw.is_finite() && (raw == val) == (epoch == 0), "{csv}");
            assert!((0.0..=1.0).contains(&cells[col("raw_val_acc")]), "{csv}");
        }
    }
    assert_eq!(averaged, 1);
    // The report says whose accuracy it tabulates: half the runs' are the average's.
    let report = convlab(&["report", "runs/tiny-study"], d);
    let md = String::from_utf8_lossy(&report.stdout);
    assert!(
        md.contains("for the runs with train.ema_decay > 0, val and test accuracy are those of the moving average of the weights"),
        "{md}"
    );
}
