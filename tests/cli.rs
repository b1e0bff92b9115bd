//! The binary as a user runs it: train, the run folder, eval, reproducibility, early
//! stopping, the divergence guard and every kind of bad input.

mod common;

use std::path::Path;

use common::*;

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
        "summary.json",
        "best.ckpt",
        "last.ckpt",
        "curves.png",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
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
    // Unnormalized inputs and a huge Adam step: the net dies at chance, loss stays finite.
    let out = train(
        dir.path(),
        &cfg,
        &[
            "--set",
            "optimizer.lr=5.0",
            "--set",
            "data.normalize=false",
            "--set",
            "train.epochs=6",
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

#[test]
fn bad_config_inputs_are_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let name = cfg.to_str().unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--set", "train.lerning_rate=1"],
            &[name, "unknown field `lerning_rate`"],
        ),
        (
            &["--set", "train.batch_size=0"],
            &[name, "train.batch_size: must be at least 1"],
        ),
        (&["--set", "train.batch_size=-5"], &[name, "batch_size"]),
        (
            &["--set", "optimizer.lr=-0.1"],
            &[name, "optimizer.lr: -0.1 must be a positive number"],
        ),
        (&["--set", "optimizer.lr=0"], &[name, "optimizer.lr"]),
        (
            &["--set", "optimizer.name=\"adamax\""],
            &[name, "unknown value \"adamax\"", "sgd, sgd-momentum, adam"],
        ),
        (
            &["--set", "model.preset=\"resnet99\""],
            &[name, "unknown preset \"resnet99\""],
        ),
        (&["--set", "data.val_fraction=1.5"], &[name, "val_fraction"]),
        (
            &[
                "--set",
                "schedule.name=\"step\"",
                "--set",
                "schedule.step_size=0",
            ],
            &[name, "schedule.step_size"],
        ),
        (&["--set", "model.dropout=1.0"], &[name, "model.dropout"]),
        (
            &["--set", "optimizer.bn_bias_lr_scale=64"],
            &[name, "optimizer.bn_bias_lr_scale: is for SGD"],
        ),
        (
            &["--set", "data.hflip_alternate=true"],
            &[
                name,
                "data.hflip_alternate: alternating flips need data.hflip = true",
            ],
        ),
        (
            &["--set", "train.tta=\"mirror\""],
            &[name, "unknown value \"mirror\"", "flip-translate"],
        ),
        (
            &[
                "--set",
                "model.preset=\"\"",
                "--set",
                "model.layers=[{type=\"flatten\"},{type=\"whiten\"}]",
            ],
            &[name, "model.layers[1] (whiten)", "must be the first layer"],
        ),
    ];
    for (args, needles) in cases {
        let out = train(dir.path(), &cfg, args);
        assert_bad_input(&out, needles);
    }
    assert!(
        !dir.path().join("runs").exists(),
        "no run folder for rejected configs"
    );
}

#[test]
fn shape_errors_name_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("  {{ type = \"flatten\" }},\n", "")
        .replace("{ type = \"flatten\" },", "");
    let bad = dir.path().join("noflat.toml");
    std::fs::write(&bad, text).unwrap();
    let out = train(dir.path(), &bad, &[]);
    assert_bad_input(
        &out,
        &[
            "noflat.toml",
            "model.layers[4] (linear)",
            "add { type = \"flatten\" } before it",
        ],
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("out = 10 }", "out = 10, in = 99 }");
    std::fs::write(&bad, text).unwrap();
    assert_bad_input(
        &train(dir.path(), &bad, &[]),
        &[
            "model.layers[5] (linear)",
            "declares in = 99 features but the previous layer gives",
        ],
    );
}

#[test]
fn bad_data_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let images = dir.path().join("mnist/train-images-idx3-ubyte.gz");
    let good = std::fs::read(&images).unwrap();
    // Truncated gzip stream.
    std::fs::write(&images, &good[..good.len() / 2]).unwrap();
    assert_bad_input(
        &train(dir.path(), &cfg, &[]),
        &["train-images-idx3-ubyte.gz"],
    );
    // Wrong magic (a label file in place of the images).
    std::fs::copy(dir.path().join("mnist/train-labels-idx1-ubyte.gz"), &images).unwrap();
    assert_bad_input(
        &train(dir.path(), &cfg, &[]),
        &["train-images-idx3-ubyte.gz", "wrong magic"],
    );
    // Label out of range.
    std::fs::write(&images, &good).unwrap();
    std::fs::write(
        dir.path().join("mnist/t10k-labels-idx1-ubyte.gz"),
        gz(&idx_labels(&[10u8; 200])),
    )
    .unwrap();
    assert_bad_input(
        &train(dir.path(), &cfg, &[]),
        &[
            "t10k-labels-idx1-ubyte.gz",
            "label 10 at index 0 is out of range",
        ],
    );
}

#[test]
fn missing_dataset_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let out = train(dir.path(), &cfg, &["--set", "data.dataset=\"cifar10\""]);
    assert_bad_input(
        &out,
        &[
            "cifar10 not found",
            &dir.path().display().to_string(),
            "--download",
        ],
    );
}

#[test]
fn non_image_in_an_image_folder() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    write_png_folder(&dir.path().join("pets"), &["cat", "dog"], 3);
    std::fs::write(dir.path().join("pets/test/dog/readme.md"), "# hi").unwrap();
    let out = train(
        dir.path(),
        &cfg,
        &[
            "--set",
            "data.dataset=\"folder\"",
            "--set",
            "data.path=\"pets\"",
        ],
    );
    assert_bad_input(
        &out,
        &["pets/test/dog/readme.md", "not a readable PNG/JPEG image"],
    );
}

#[test]
fn image_folder_trains_with_any_class_count() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    write_png_folder(&dir.path().join("pets"), &["cat", "dog", "owl"], 40);
    // The custom net ends in 10 outputs: a clear error, then a preset that fits.
    let out = train(
        dir.path(),
        &cfg,
        &[
            "--set",
            "data.dataset=\"folder\"",
            "--set",
            "data.path=\"pets\"",
        ],
    );
    assert_bad_input(&out, &["the dataset has 3 classes", "out = 3"]);
    let out = train(
        dir.path(),
        &cfg,
        &[
            "--set",
            "data.dataset=\"folder\"",
            "--set",
            "data.path=\"pets\"",
            "--set",
            "model.preset=\"bn-prelu-cnn\"",
            "--set",
            "train.epochs=3",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("runs/tiny/summary.json")).unwrap(),
    )
    .unwrap();
    assert!(summary["test_acc"].as_f64().unwrap() > 0.5, "{summary}");
}

#[test]
fn corrupt_and_mismatched_checkpoints_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    assert!(
        train(dir.path(), &cfg, &["--set", "train.epochs=1"])
            .status
            .success()
    );
    let d = dir.path().to_str().unwrap();
    std::fs::write(dir.path().join("junk.ckpt"), b"hello").unwrap();
    assert_bad_input(
        &convlab(
            &["eval", "--checkpoint", "junk.ckpt", "--data-dir", d],
            dir.path(),
        ),
        &["junk.ckpt", "not a convlab checkpoint"],
    );
    let mut bytes = std::fs::read(dir.path().join("runs/tiny/last.ckpt")).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(dir.path().join("cut.ckpt"), &bytes).unwrap();
    assert_bad_input(
        &convlab(
            &["eval", "--checkpoint", "cut.ckpt", "--data-dir", d],
            dir.path(),
        ),
        &["cut.ckpt"],
    );
    assert_bad_input(
        &convlab(
            &["eval", "--checkpoint", "nope.ckpt", "--data-dir", d],
            dir.path(),
        ),
        &["nope.ckpt"],
    );
    // A run folder stands for its best.ckpt; a folder without one is named, not read.
    let eval_json = |ckpt: &str| {
        let args = ["eval", "--checkpoint", ckpt, "--data-dir", d, "--json"];
        convlab(&args, dir.path())
    };
    let (by_file, by_folder) = (eval_json("runs/tiny/best.ckpt"), eval_json("runs/tiny"));
    assert!(by_folder.status.success(), "{}", stderr(&by_folder));
    let (f, g): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(stdout(&by_file).trim()).unwrap(),
        serde_json::from_str(stdout(&by_folder).trim()).unwrap(),
    );
    assert_eq!(f["test_loss"], g["test_loss"]);
    assert!(
        g["checkpoint"].as_str().unwrap().ends_with("best.ckpt"),
        "{g}"
    );
    assert_bad_input(
        &convlab(
            &["eval", "--checkpoint", "runs", "--data-dir", d],
            dir.path(),
        ),
        &["runs", "no best.ckpt"],
    );
}

#[test]
fn predict_own_images_of_any_size_and_names_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let out = train(dir.path(), &cfg, &["--set", "train.epochs=3", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Pattern images of classes 0..3, upscaled to 84x84 RGB: predict converts them to 28x28
    // grayscale as the model expects.
    let mut files = Vec::new();
    for label in 0..4u8 {
        let small = pattern(label, 4, 28, 5_000_000 + label as usize);
        let img = image::GrayImage::from_raw(28, 28, small).unwrap();
        let big = image::DynamicImage::ImageLuma8(img)
            .resize_exact(84, 84, image::imageops::FilterType::Nearest)
            .into_rgb8();
        let path = dir.path().join(format!("mine-{label}.png"));
        big.save(&path).unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    std::fs::write(dir.path().join("notes.png"), b"not really a png").unwrap();
    let mut args = vec!["predict", "--checkpoint", "runs/tiny/best.ckpt", "-k", "2"];
    args.extend(files.iter().map(String::as_str));
    args.push("notes.png");
    let p = convlab(&args, dir.path());
    let err = stderr(&p);
    assert_eq!(p.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let bad: Vec<&str> = err.lines().filter(|l| l.contains("notes.png")).collect();
    assert_eq!(bad.len(), 1, "{err}");
    assert!(bad[0].contains("not a readable PNG/JPEG image"), "{err}");
    let text = stdout(&p);
    let mut right = 0;
    for (label, f) in files.iter().enumerate() {
        let line = text
            .lines()
            .find(|l| l.starts_with(f.as_str()))
            .unwrap_or_else(|| panic!("{text}"));
        let first = line.split(": ").nth(1).unwrap().split(' ').next().unwrap();
        right += usize::from(first == label.to_string());
        assert_eq!(line.matches('(').count(), 2, "top-2: {line}");
    }
    assert!(right >= 3, "{right}/4 right:\n{text}");

    // JSON: every file in order, probabilities of the top-10 summing to 1.
    let mut args = vec![
        "predict",
        "--checkpoint",
        "runs/tiny/best.ckpt",
        "-k",
        "10",
        "--json",
    ];
    args.extend(files.iter().map(String::as_str));
    let j = convlab(&args, dir.path());
    assert!(j.status.success(), "{}", stderr(&j));
    let v: serde_json::Value = serde_json::from_str(stdout(&j).trim()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    let sum: f64 = v[0]["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["probability"].as_f64().unwrap())
        .sum();
    assert!((sum - 1.0).abs() < 1e-4, "{sum}");
}

/// A 2-class 28x28 PNG folder: bands of half the image height.
fn write_two_class_folder(root: &Path, per_class: usize) {
    for split in ["train", "test"] {
        for (k, class) in ["top", "bottom"].iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..per_class {
                let px = pattern(k as u8, 2, 28, i + if split == "test" { 9000 } else { 0 });
                image::GrayImage::from_raw(28, 28, px)
                    .unwrap()
                    .save(dir.join(format!("{i:03}.png")))
                    .unwrap();
            }
        }
    }
}

fn finetune(d: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "finetune",
        "--checkpoint",
        "runs/tiny/best.ckpt",
        "--epochs",
        "1",
        "--quiet",
    ];
    args.extend(extra);
    convlab(&args, d)
}

#[test]
fn finetune_replaces_the_head_and_freezes_the_features() {
    use convlab::model::net::Layer;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    assert!(train(d, &cfg, &["--quiet"]).status.success());
    write_two_class_folder(&d.join("halves"), 40);
    let out = finetune(d, &["--data", "halves", "--freeze-epochs", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = d.join("runs/finetune-halves");
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        config.contains("pretrained = \"runs/tiny/best.ckpt\""),
        "{config}"
    );
    assert!(config.contains("freeze_epochs = 1"), "{config}");
    // The new head has 2 outputs; the frozen conv layer is exactly the pretrained one.
    let dev = convlab::train::device::select(convlab::train::device::DeviceName::Cpu).unwrap();
    let (meta, tuned) = convlab::model::checkpoint::load(&run.join("last.ckpt"), &dev).unwrap();
    assert_eq!(meta.classes, vec!["bottom".to_string(), "top".to_string()]);
    let (_, base) = convlab::model::checkpoint::load(&d.join("runs/tiny/best.ckpt"), &dev).unwrap();
    let conv = |n: &convlab::model::Net| match &n.layers[0] {
        Layer::Conv(c) => c.weight.val().into_data().try_to_vec::<f32>().unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(conv(&tuned), conv(&base), "frozen features must not move");
    let head = |n: &convlab::model::Net| match n.layers.last().unwrap() {
        Layer::Linear(l) => l.weight.val().dims(),
        other => panic!("{other:?}"),
    };
    assert_eq!(head(&tuned), [144, 2]);

    // Unfrozen, the features move; --scratch trains the same net from random weights.
    let out = finetune(
        d,
        &[
            "--data",
            "halves",
            "--freeze-epochs",
            "0",
            "--name",
            "thawed",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, thawed) =
        convlab::model::checkpoint::load(&d.join("runs/thawed/last.ckpt"), &dev).unwrap();
    assert_ne!(conv(&thawed), conv(&base));
    let out = finetune(d, &["--data", "halves", "--scratch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = std::fs::read_to_string(d.join("runs/scratch-halves/config.toml")).unwrap();
    assert!(!config.contains("pretrained"), "{config}");

    // A folder of another image size: a one-line error naming the checkpoint.
    write_png_folder(&d.join("small"), &["a", "b"], 4);
    let bad = finetune(d, &["--data", "small"]);
    assert_bad_input(&bad, &["runs/tiny/best.ckpt", "[1, 28, 28]", "[1, 16, 16]"]);
}

#[test]
fn bench_reports_throughput_and_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = convlab(
        &[
            "bench",
            "--model",
            "bn-prelu-cnn",
            "--batch",
            "8",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["model"], "bn-prelu-cnn");
    assert_eq!(v["batch"], 8);
    assert!(v["train_images_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["data_images_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(v["precision"], "fp32");
    assert_bad_input(
        &convlab(&["bench", "--dtype", "fp16"], dir.path()),
        &["--dtype", "fp16", "f32, bf16"],
    );
    assert_bad_input(
        &convlab(&["bench", "--input", "3x32"], dir.path()),
        &["--input", "CxHxW"],
    );
    assert_bad_input(
        &convlab(&["bench", "--model", "resnet99"], dir.path()),
        &["resnet99"],
    );
}
