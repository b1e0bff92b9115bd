//! Studies as a user runs them: convlab sweep (grid, seeds, --trial, --jobs, --emit),
//! resuming after a SIGKILL, convlab report's numbers and files, and convlab lr-find.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

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

#[test]
fn sigkilled_sweep_resumes_and_ends_as_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        1600,
        "[study.axes]\nlr = [3e-3, 1e-3]\n[train]\nepochs = 12\nlookahead_every = 3\n[schedule]\nname = \"plateau\"\npatience = 1\n",
    );
    // The reference: the same study, never interrupted.
    let reference = sweep(d, &["--runs-dir", "reference", "--quiet"]);
    assert!(reference.status.success(), "{}", stderr(&reference));

    let second = d.join("runs/tiny-study/lr=0.001/seed-0");
    let mut child = Command::new(bin())
        .args([
            "sweep",
            "tiny-study.toml",
            "--data-dir",
            d.to_str().unwrap(),
            "--quiet",
        ])
        .current_dir(d)
        .env("CONVLAB_CACHE", d.join(".cache"))
        .env_remove("CONVLAB_DATA")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it once the second run has completed at least two epochs.
    let t0 = Instant::now();
    loop {
        let epochs = std::fs::read_to_string(second.join("metrics.csv"))
            .map(|m| m.lines().count().saturating_sub(1))
            .unwrap_or(0);
        if epochs >= 2 && second.join("resume.state").exists() {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sweep ended before it could be killed"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "the sweep made no progress"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !second.join("summary.json").exists(),
        "killed mid-run, not after it"
    );

    let out = sweep(d, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("lr=0.003 seed-0: completed (already done)"),
        "{text}"
    );
    assert!(
        text.contains("lr=0.001 seed-0: completed (resumed after epoch"),
        "{text}"
    );
    for variant in ["lr=0.003", "lr=0.001"] {
        let a = std::fs::read(
            d.join("runs/tiny-study")
                .join(variant)
                .join("seed-0/metrics.csv"),
        )
        .unwrap();
        let b = std::fs::read(
            d.join("reference/tiny-study")
                .join(variant)
                .join("seed-0/metrics.csv"),
        )
        .unwrap();
        assert_eq!(
            a, b,
            "{variant}: the resumed run must end exactly as the uninterrupted one"
        );
    }
    assert!(
        !second.join("resume.state").exists(),
        "the resume file goes once the run ends"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&second)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "half-written files left: {leftovers:?}"
    );
}

#[test]
fn emitted_job_files_parse_and_trial_i_runs_exactly_trial_i() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        200,
        "seeds = 2\n[study.axes]\noptimizer = [\"sgd-momentum\", \"adam\"]\n[train]\nepochs = 1\n",
    );

    let out = sweep(d, &["--emit", "slurm", "--out", "job.slurm"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let slurm = std::fs::read_to_string(d.join("job.slurm")).unwrap();
    assert!(slurm.contains("#SBATCH --array=0-3%"), "{slurm}");
    assert!(
        slurm.contains("convlab sweep tiny-study.toml --trial \"$SLURM_ARRAY_TASK_ID\""),
        "{slurm}"
    );
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(d.join("job.slurm"))
        .output()
        .unwrap();
    assert!(syntax.status.success(), "bash -n: {}", stderr(&syntax));

    let out = sweep(
        d,
        &[
            "--emit",
            "k8s",
            "--out",
            "job.yaml",
            "--image",
            "registry.example/convlab:1",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let yaml: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(d.join("job.yaml")).unwrap()).unwrap();
    assert_eq!(yaml["kind"], "Job");
    assert_eq!(yaml["spec"]["completionMode"], "Indexed");
    assert_eq!(yaml["spec"]["completions"], 4);
    let container = &yaml["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "registry.example/convlab:1");
    let args = container["args"][0].as_str().unwrap();
    assert!(args.contains("--trial \"$JOB_COMPLETION_INDEX\""), "{args}");

    let bad = sweep(d, &["--emit", "pbs"]);
    assert_bad_input(&bad, &["--emit", "pbs"]);

    // --list names trial 2's folder; --trial 2 trains that one and nothing else.
    let list = stdout(&sweep(d, &["--list"]));
    let line = list
        .lines()
        .find(|l| l.trim_start().starts_with("2 "))
        .unwrap();
    let folder = d.join(line.split_whitespace().nth(1).unwrap());
    assert!(folder.ends_with("optimizer=sgd-momentum/seed-1"), "{list}");
    let out = sweep(d, &["--trial", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(summary(&folder)["status"], "completed");
    let finished: Vec<_> = walk(&d.join("runs"))
        .into_iter()
        .filter(|p| p.ends_with("summary.json"))
        .collect();
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert_bad_input(&sweep(d, &["--trial", "4"]), &["--trial 4", "0..3"]);
}

#[test]
fn jobs_run_in_parallel_processes_with_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 300, "seeds = 2\n[study.axes]\nlr = [1e-3, 3e-3]\n");
    let seq = sweep(d, &["--runs-dir", "seq", "--quiet"]);
    assert!(seq.status.success(), "{}", stderr(&seq));
    let par = sweep(d, &["--runs-dir", "par", "--jobs", "2"]);
    assert!(par.status.success(), "{}", stderr(&par));
    assert_eq!(
        stdout(&par).lines().filter(|l| l.starts_with('[')).count(),
        4
    );
    for v in ["lr=0.001", "lr=0.003"] {
        for s in 0..2 {
            let rel = format!("tiny-study/{v}/seed-{s}/metrics.csv");
            assert_eq!(
                std::fs::read(d.join("seq").join(&rel)).unwrap(),
                std::fs::read(d.join("par").join(&rel)).unwrap(),
                "{rel}"
            );
        }
    }
}

#[test]
fn lr_find_suggests_an_lr_where_the_loss_falls_fastest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 800, "");
    let out = convlab(
        &[
            "lr-find",
            "base.toml",
            "--data-dir",
            d.to_str().unwrap(),
            "--steps",
            "60",
            "--end",
            "100",
        ],
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let run = d.join("runs/base-lr-find");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("lr_find.json")).unwrap()).unwrap();
    let lr = json["suggested_lr"].as_f64().expect("a suggestion");
    let csv = std::fs::read_to_string(run.join("lr_find.csv")).unwrap();
    let rows: Vec<(f64, f64)> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].parse().unwrap(), f[3].parse().unwrap())
        })
        .collect();
    // The steepest descent comes before the minimum of the smoothed loss.
    let (min_lr, _) = rows
        .iter()
        .copied()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert!(
        lr > 1e-6 && lr < min_lr,
        "suggested {lr}, minimum at {min_lr}"
    );
    // The loss at the suggestion is below the starting loss: the lr does learn.
    let at = rows.iter().find(|r| r.0 >= lr).unwrap().1;
    assert!(at < rows[0].1, "{at} vs start {}", rows[0].1);
    assert!(stdout(&out).contains("suggested lr"));
    assert_eq!(
        &std::fs::read(run.join("lr_find.png")).unwrap()[..4],
        b"\x89PNG"
    );
}

#[test]
fn steepest_descent_is_found_on_a_known_curve() {
    use convlab::train::lr_find::steepest;
    // loss = 2 - tanh(log10(lr) + 3): steepest at lr = 1e-3.
    let lrs: Vec<f64> = (0..61).map(|i| 10f64.powf(-6.0 + i as f64 * 0.1)).collect();
    let loss: Vec<f64> = lrs.iter().map(|l| 2.0 - (l.log10() + 3.0).tanh()).collect();
    let i = steepest(&lrs, &loss, 5, 1).unwrap();
    assert!((lrs[i].log10() + 3.0).abs() < 1e-9, "{}", lrs[i]);
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

#[test]
fn example_studies_expand_and_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let expected = [
        ("mnist-optimizers.toml", 15),
        ("cifar10-optimizers.toml", 15),
        ("cifar10-lr-batch.toml", 24),
        ("cifar10-activations.toml", 15),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (file, trials) in expected {
        let out = convlab(
            &["sweep", root.join(file).to_str().unwrap(), "--list"],
            dir.path(),
        );
        assert!(out.status.success(), "{file}: {}", stderr(&out));
        assert_eq!(stdout(&out).lines().count(), trials, "{file}");
    }
}

#[test]
fn random_sampling_is_seeded_distinct_and_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let list = |study: &str| {
        setup(d, 40, study);
        let out = sweep(d, &["--list"]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    // Lists only: distinct grid points, without replacement.
    let grid = "sampling = \"random\"\ntrials = 4\nsample_seed = 1\n[study.axes]\noptimizer = [\"sgd\", \"adam\", \"rmsprop\"]\nbatch_size = [32, 64]\n";
    let a = list(grid);
    assert_eq!(a, list(grid), "same sample_seed, same trials");
    let variants: std::collections::HashSet<&str> =
        a.lines().map(|l| l.split('/').nth(2).unwrap()).collect();
    assert_eq!(variants.len(), 4, "{a}");
    // A range: log-uniform values inside it, three significant digits.
    let ranged = list(
        "sampling = \"random\"\ntrials = 5\n[study.axes]\nlr = { log_uniform = [1e-4, 1e-2] }\n",
    );
    for line in ranged.lines() {
        let v: f64 = line
            .split("lr=")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1e-4..1e-2).contains(&v), "{line}");
        assert_eq!(format!("{v:.2e}").parse::<f64>().unwrap(), v, "{line}");
    }
}

/// The trial lines of a sweep's output that say it trained the trial (not skipped).
fn trained_lines(out: &std::process::Output) -> Vec<String> {
    stdout(out)
        .lines()
        .filter(|l| l.starts_with('[') && !l.contains("skipped") && !l.contains("already done"))
        .map(str::to_string)
        .collect()
}

/// report.csv without its timing columns (seconds_mean, seconds_std).
fn report_without_seconds(study_dir: &Path) -> Vec<String> {
    std::fs::read_to_string(study_dir.join("report.csv"))
        .unwrap()
        .lines()
        .map(|l| l.rsplitn(3, ',').nth(2).unwrap().to_string())
        .collect()
}

#[test]
fn a_run_folder_held_by_another_process_is_skipped_and_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 300, "seeds = 2\n");
    // This test process plays the other sweep: it holds seed 1's folder lock.
    let held = d.join("runs/tiny-study/base/seed-1");
    std::fs::create_dir_all(&held).unwrap();
    let lock = std::fs::File::create(held.join(".lock")).unwrap();
    lock.try_lock().unwrap();
    let out = sweep(d, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("seed-1: skipped, another process is training it"),
        "{text}"
    );
    assert!(text.contains("1 trial(s) skipped"), "{text}");
    assert_eq!(trained_lines(&out).len(), 1, "{text}");
    assert!(!held.join("summary.json").exists());
    // The same with --jobs 2 (each trial in a child process).
    let out = sweep(d, &["--jobs", "2"]);
    assert!(
        stdout(&out).contains("seed-1: skipped, another process"),
        "{}",
        stdout(&out)
    );
    // Released (as when its holder ends or is killed): the next sweep trains it.
    drop(lock);
    let out = sweep(d, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(trained_lines(&out).len(), 1, "{}", stdout(&out));
    assert_eq!(summary(&held)["status"], "completed");
}

#[test]
fn two_concurrent_sweeps_train_every_trial_once_and_report_as_one_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, 600, "seeds = 2\n[study.axes]\nlr = [1e-3, 3e-3, 1e-2]\n");
    let reference = sweep(d, &["--runs-dir", "reference"]);
    assert!(reference.status.success(), "{}", stderr(&reference));
    let launch = || {
        Command::new(bin())
            .args([
                "sweep",
                "tiny-study.toml",
                "--data-dir",
                d.to_str().unwrap(),
            ])
            .current_dir(d)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (launch(), launch());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", stderr(&a));
    assert!(b.status.success(), "{}", stderr(&b));
    let mut trained = trained_lines(&a);
    trained.extend(trained_lines(&b));
    assert_eq!(
        trained.len(),
        6,
        "each of the 6 trials trained exactly once:\n{}\n---\n{}",
        stdout(&a),
        stdout(&b)
    );
    for v in ["lr=0.001", "lr=0.003", "lr=0.01"] {
        for s in 0..2 {
            let rel = format!("tiny-study/{v}/seed-{s}/metrics.csv");
            assert_eq!(
                std::fs::read(d.join("reference").join(&rel)).unwrap(),
                std::fs::read(d.join("runs").join(&rel)).unwrap(),
                "{rel}"
            );
        }
    }
    // The last sweep to end wrote the report over every trial.
    assert_eq!(
        report_without_seconds(&d.join("runs/tiny-study")),
        report_without_seconds(&d.join("reference/tiny-study"))
    );
}
