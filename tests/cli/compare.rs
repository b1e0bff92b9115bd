//! `convlab report RUN_DIR...`: runs trained one at a time, compared as a study: the keys
//! their configs differ in are the axes, runs differing only in seed are one variant.

use super::*;

fn summary_test_acc(run: &Path) -> f64 {
    let text = std::fs::read_to_string(run.join("summary.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["test_acc"].as_f64().unwrap()
}

#[test]
fn runs_trained_by_hand_compare_as_a_study() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    for sets in [
        vec!["--set", "name=a"],
        vec!["--set", "name=b", "--set", "seed=4"],
        vec!["--set", "name=c", "--set", "optimizer.lr=0.01"],
    ] {
        let mut args = sets.clone();
        args.push("--quiet");
        let out = train(d, &cfg, &args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = convlab(&["report", "runs/a", "runs/b", "runs/c"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = std::fs::read_to_string(d.join("runs/comparison/report.md")).unwrap();
    assert_eq!(stdout(&out).lines().next(), md.lines().next());
    // One axis (lr; seed and name are not axes): a and b are one variant's two seeds.
    assert!(md.contains("| lr | runs |"), "{md}");
    let mean = (summary_test_acc(&d.join("runs/a")) + summary_test_acc(&d.join("runs/b"))) / 2.0;
    let row = md.lines().find(|l| l.starts_with("| 0.003 |")).unwrap();
    assert!(row.starts_with("| 0.003 | 2 |"), "{row}");
    assert!(
        row.contains(&format!("{:.2} ±", mean * 100.0)),
        "{row} {mean}"
    );
    let row = md.lines().find(|l| l.starts_with("| 0.01 |")).unwrap();
    assert!(row.starts_with("| 0.01 | 1 |"), "{row}");
    for f in ["report.csv", "report.html", "curves.png", "study.json"] {
        assert!(d.join("runs/comparison").join(f).is_file(), "{f}");
    }
    // The comparison folder is a study folder now: report redraws it.
    let again = convlab(&["report", "runs/comparison"], d);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        std::fs::read_to_string(d.join("runs/comparison/report.md")).unwrap(),
        md
    );

    let bad = convlab(&["report", "runs/a", "runs/nothing"], d);
    assert_bad_input(&bad, &["runs/nothing", "not a run folder"]);
    let onto_a_run = convlab(&["report", "runs/a", "runs/b", "--out", "runs/c"], d);
    assert_bad_input(&onto_a_run, &["runs/c", "holds a run"]);
    // An lr-find folder has a config.toml too; it once showed as a run "not run" yet.
    let find = convlab(
        &[
            "lr-find",
            cfg.to_str().unwrap(),
            "--data-dir",
            ".",
            "--steps",
            "20",
        ],
        d,
    );
    assert!(find.status.success(), "{}", stderr(&find));
    let lone = convlab(&["report", "runs/tiny-lr-find", "--out", "cmp2"], d);
    assert_bad_input(&lone, &["runs/tiny-lr-find", "an lr-find result"]);
    assert!(!d.join("cmp2").exists());

    // `convlab report runs/*`: the comparison and lr-find folders beside the runs are
    // skipped with a warning each (the first was an error, so a second report of the same
    // glob failed on the first one's output).
    let glob = [
        "runs/a",
        "runs/b",
        "runs/c",
        "runs/comparison",
        "runs/tiny-lr-find",
    ];
    let all = convlab(&[&["report"][..], &glob, &["--out", "cmp3"]].concat(), d);
    assert!(all.status.success(), "{}", stderr(&all));
    let err = stderr(&all);
    let warned: Vec<&str> = err.lines().filter(|l| l.starts_with("warning")).collect();
    assert_eq!(warned.len(), 2, "{err}");
    assert!(warned[0].starts_with("warning: runs/comparison: a study or an earlier comparison"));
    assert!(warned[1].starts_with("warning: runs/tiny-lr-find: an lr-find result; skipped"));
    let md3 = std::fs::read_to_string(d.join("cmp3/report.md")).unwrap();
    assert!(
        md3.contains("| 0.01 | 1 |") && md3.contains("3 runs"),
        "{md3}"
    );

    // Runs differing in more than 3 keys are labelled by their names, not by every key.
    let sets = [
        "--set",
        "name=d",
        "--set",
        "optimizer.name=sgd",
        "--set",
        "optimizer.lr=0.02",
    ];
    let more = [
        "--set",
        "train.batch_size=16",
        "--set",
        "train.epochs=1",
        "--quiet",
    ];
    assert!(
        train(d, &cfg, &[&sets[..], &more].concat())
            .status
            .success()
    );
    let named = convlab(&["report", "runs/a", "runs/d", "--out", "cmp4"], d);
    assert!(named.status.success(), "{}", stderr(&named));
    let md4 = std::fs::read_to_string(d.join("cmp4/report.md")).unwrap();
    assert!(
        md4.contains("\n| a | 1 |") && md4.contains("\n| d | 1 |"),
        "{md4}"
    );
}

/// A rerun of one config and seed is a reproducibility check, not a second seed: it is
/// listed as a repeat, left out of the mean ± std (a same-seed copy would shrink it), and
/// the report says whether it reproduced, naming what run.json says differs when not.
#[test]
fn a_rerun_of_one_seed_is_checked_not_counted_as_a_seed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    for sets in [
        ["name=a", "seed=0"],
        ["name=a2", "seed=0"],
        ["name=b", "seed=4"],
    ] {
        let out = train(d, &cfg, &["--set", sets[0], "--set", sets[1], "--quiet"]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = convlab(&["report", "runs/a", "runs/a2", "runs/b"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = stdout(&out);
    assert!(md.contains("; 3 runs: 1 variant, seeds 0, 4."), "{md}");
    let mean = (summary_test_acc(&d.join("runs/a")) + summary_test_acc(&d.join("runs/b"))) / 2.0;
    let row = md.lines().find(|l| l.starts_with("| all runs |")).unwrap();
    assert!(
        row.starts_with("| all runs | 2 +1 repeat of a seed |")
            && row.contains(&format!("{:.2} ±", mean * 100.0)),
        "{row} {mean}"
    );
    assert!(
        md.contains("a, a2 have the same config and seed (0) and the same metrics, epoch by epoch"),
        "{md}"
    );

    // A rerun that did not reproduce: its metrics differ and its run.json records a switch.
    let a2 = d.join("runs/a2");
    let metrics = std::fs::read_to_string(a2.join("metrics.csv")).unwrap();
    let changed = metrics.replacen("\n1,", "\n1,9", 1);
    assert_ne!(changed, metrics);
    std::fs::write(a2.join("metrics.csv"), changed).unwrap();
    let info = std::fs::read_to_string(a2.join("run.json")).unwrap();
    let mut info: serde_json::Value = serde_json::from_str(&info).unwrap();
    info["env"]["CONVLAB_CPU_CONV"] = "im2col".into();
    std::fs::write(a2.join("run.json"), info.to_string()).unwrap();
    let out = convlab(&["report", "runs/a", "runs/a2", "--out", "cmp2"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = stdout(&out);
    assert!(
        md.contains("a, a2 have the same config and seed (0) but NOT the same metrics")
            && md.contains("their run.json differ in CONVLAB_CPU_CONV - / im2col."),
        "{md}"
    );
}

/// Runs tested on different data are not ranked: "Best: mnist ... runner-up: fashion-mnist,
/// 12.35 points behind" compared two tasks, not two recipes.
#[test]
fn runs_on_different_test_sets_are_not_ranked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    // The same IDX files under Fashion-MNIST's folder name: another dataset to convlab.
    write_idx_dataset(&d.join("fashion-mnist"), 400, 200, 4);
    for sets in [
        vec!["--set", "name=digits", "--quiet"],
        vec![
            "--set",
            "data.dataset=fashion-mnist",
            "--set",
            "name=clothes",
            "--quiet",
        ],
    ] {
        let out = train(d, &cfg, &sets);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = convlab(&["report", "runs/digits", "runs/clothes"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = stdout(&out);
    assert!(
        md.contains("Not ranked: the variants are tested on different data (data.dataset differs)"),
        "{md}"
    );
    assert!(!md.contains("Best:"), "{md}");
}

/// With a moving average the table's val accuracy is the average's; the column beside it is
/// the trained weights' own (metrics.csv's raw_val_acc at the best epoch), and a run without
/// an average shows its one val accuracy there.
#[test]
fn a_moving_average_gets_its_trained_weights_val_accuracy_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    for (name, decay) in [("plain", "0"), ("averaged", "0.99")] {
        let set = [format!("name={name}"), format!("train.ema_decay={decay}")];
        let args = ["--set", &set[0], "--set", &set[1], "--quiet"];
        let out = train(d, &cfg, &args);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = convlab(&["report", "runs/plain", "runs/averaged"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let md = std::fs::read_to_string(d.join("runs/comparison/report.md")).unwrap();
    assert!(
        md.contains("| ema_decay | runs | best val acc (%) | its trained weights' val acc (%) | test acc (%) |"),
        "{md}"
    );
    let summary = |run: &str| -> serde_json::Value {
        let text = std::fs::read_to_string(d.join("runs").join(run).join("summary.json"));
        serde_json::from_str(&text.unwrap()).unwrap()
    };
    let pct = |x: f64| format!("{:.2}", x * 100.0);
    let plain = summary("plain")["best_val_acc"].as_f64().unwrap();
    let row = md.lines().find(|l| l.starts_with("| 0.0 |")).expect(&md);
    assert!(
        row.starts_with(&format!("| 0.0 | 1 | {} | {} |", pct(plain), pct(plain))),
        "{row}"
    );
    // The averaged run's own: its metrics.csv row of the best epoch.
    let best = summary("averaged")["best_epoch"]
        .as_u64()
        .unwrap()
        .to_string();
    let csv = std::fs::read_to_string(d.join("runs/averaged/metrics.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |name| header.iter().position(|h| *h == name).expect(name);
    let line: Vec<&str> = (csv.lines().map(|l| l.split(',').collect::<Vec<_>>()))
        .find(|cells| cells[0] == best)
        .unwrap();
    let (val, raw): (f64, f64) = (
        line[col("val_acc")].parse().unwrap(),
        line[col("raw_val_acc")].parse().unwrap(),
    );
    // 0.99 over this run's 20 steps keeps the average far behind the weights, so a column
    // showing the average's value again could not pass.
    assert_ne!(pct(val), pct(raw), "{csv}");
    let row = md.lines().find(|l| l.starts_with("| 0.99 |")).expect(&md);
    assert!(
        row.starts_with(&format!("| 0.99 | 1 | {} | {} |", pct(val), pct(raw))),
        "{row}"
    );
    let csv = std::fs::read_to_string(d.join("runs/comparison/report.csv")).unwrap();
    assert!(
        csv.lines()
            .next()
            .unwrap()
            .contains(",best_val_acc_std,raw_val_acc_mean,raw_val_acc_std,test_acc_mean,"),
        "{csv}"
    );
}
