//! convlab lr-find, the example studies, and random sampling of a study's axes.

use super::*;

#[test]
fn lr_find_suggests_an_lr_inside_the_descent() {
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
    // The valley and the steepest descent come before the minimum of the smoothed loss.
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
    // The command to train with the suggestion, as typed; onecycle's max_lr takes it when
    // set (optimizer.lr would not reach the schedule).
    let train_line = format!(
        "train with it: convlab train base.toml --data-dir {} --set optimizer.lr={lr:.2e}\n",
        d.display()
    );
    assert!(stdout(&out).contains(&train_line), "{}", stdout(&out));
    let sets = [
        "--set",
        "schedule.name=onecycle",
        "--set",
        "schedule.max_lr=0.01",
    ];
    let args = [&["lr-find", "base.toml", "--steps", "20"][..], &sets].concat();
    let out = convlab(
        &[&args[..], &["--data-dir", d.to_str().unwrap()]].concat(),
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains(
            " --set schedule.name=onecycle --set schedule.max_lr=0.01 --set schedule.max_lr="
        ),
        "{text}"
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

#[test]
fn valley_is_found_on_a_known_curve() {
    use convlab::train::lr_find::valley;
    // Flat at 3.0 (points 0-19), falling by 0.05 from 2.95 at 20 to 1.45 at 50, then rising.
    // The longest strictly falling subsequence is one flat point then 20..=50: 32 points
    // ending at 50, so fastai's start is 50 - 32 = 18, its span 32 / 3 = 10.67, and the
    // valley 18 + 10 + 5 = 33. Skipping 7 points at the start moves nothing (the index is
    // the full curve's). The valley function of fastai's callback/schedule.py, run in Python on
    // this list, gives 33 too (and 33 on loss[7:-5], plus 7).
    let loss: Vec<f64> = (0..61)
        .map(|i| match i {
            0..=19 => 3.0,
            20..=50 => 3.0 - (i - 19) as f64 * 0.05,
            _ => 1.45 + (i - 50) as f64 * 0.1,
        })
        .collect();
    assert_eq!(valley(&loss, 0, 0), Some(33));
    assert_eq!(valley(&loss, 7, 5), Some(33));
    // A loss that only rises has no valley to speak of: fastai then takes the window's first
    // point; too short a window gives none.
    let rising: Vec<f64> = (0..20).map(|i| i as f64).collect();
    assert_eq!(valley(&rising, 2, 5), Some(2));
    assert_eq!(valley(&rising, 10, 9), None);
}

#[test]
fn min_loss_skips_the_first_points() {
    use convlab::train::lr_find::min_loss;
    // bn-prelu-cnn's lr-find at seed 1 began 2.485, 2.257 and never went lower before it
    // exploded: the whole curve's minimum is point 1, the window's (points 10..) is 12.
    let mut loss = vec![
        2.485, 2.257, 2.286, 2.34, 2.35, 2.36, 2.37, 2.38, 2.39, 2.40,
    ];
    loss.extend([2.35, 2.31, 2.29, 2.30, 2.5, 3.0, 5.8, 8.5, f64::INFINITY]);
    assert_eq!(min_loss(&loss, 0, 0), Some(1));
    assert_eq!(min_loss(&loss, 10, 5), Some(12));
    assert_eq!(min_loss(&loss, 10, 9), None);
}

#[test]
fn example_studies_expand_and_validate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let expected = [
        ("mnist-optimizers.toml", 15),
        ("cifar10-optimizers.toml", 15),
        ("cifar10-lr-batch.toml", 24),
        ("cifar10-activations.toml", 15),
        ("mnist-augment.toml", 18),
        ("mnist-optimizers-tuned.toml", 15),
        ("cifar10-augment.toml", 12),
        ("cifar10-mix.toml", 3),
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
