//! `study.zip`: axes whose lists pair up value by value instead of crossing (each optimizer
//! at its own lr; the batch size with the lr that the linear scaling rule gives it).

use super::*;

#[test]
fn zipped_axes_pair_their_values_and_cross_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(
        d,
        40,
        "zip = [\"optimizer\", \"lr\"]\n[study.axes]\noptimizer = [\"sgd\", \"sgd-momentum\", \"adam\"]\nlr = [0.1, 0.01, 1e-3]\nbatch_size = [32, 64]\n",
    );
    let out = sweep(d, &["--list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let variants: Vec<String> = stdout(&out)
        .lines()
        .map(|l| l.split('/').nth(2).unwrap().to_string())
        .collect();
    // 3 zipped pairs x 2 batch sizes, the zip group varying slowest (it comes first).
    assert_eq!(
        variants,
        [
            "optimizer=sgd,lr=0.1,batch_size=32",
            "optimizer=sgd,lr=0.1,batch_size=64",
            "optimizer=sgd-momentum,lr=0.01,batch_size=32",
            "optimizer=sgd-momentum,lr=0.01,batch_size=64",
            "optimizer=adam,lr=0.001,batch_size=32",
            "optimizer=adam,lr=0.001,batch_size=64",
        ]
    );

    // Random sampling draws pairs, never an optimizer with another's lr.
    setup(
        d,
        40,
        "sampling = \"random\"\ntrials = 6\nzip = [[\"optimizer\", \"lr\"]]\n[study.axes]\noptimizer = [\"sgd\", \"adam\"]\nlr = [0.1, 1e-3]\nmomentum = { uniform = [0.5, 0.9] }\n",
    );
    let out = sweep(d, &["--list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 6, "{text}");
    for line in text.lines() {
        assert!(
            line.contains("optimizer=sgd,lr=0.1,") || line.contains("optimizer=adam,lr=0.001,"),
            "{line}"
        );
    }
}

#[test]
fn a_zipped_study_trains_the_pairs_and_draws_no_diagonal_heatmap() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The linear scaling rule: twice the batch, twice the lr.
    setup(
        d,
        100,
        "zip = [\"batch_size\", \"lr\"]\n[study.axes]\nbatch_size = [32, 64]\nlr = [2e-3, 4e-3]\n",
    );
    let out = sweep(d, &["--set", "train.epochs=1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let root = d.join("runs/tiny-study");
    for (variant, batch, lr) in [
        ("batch_size=32,lr=0.002", 32, 0.002),
        ("batch_size=64,lr=0.004", 64, 0.004),
    ] {
        let cfg = std::fs::read_to_string(root.join(variant).join("seed-0/config.toml"))
            .unwrap_or_else(|e| panic!("{variant}: {e}"));
        let cfg: toml::Table = cfg.parse().unwrap();
        assert_eq!(cfg["train"]["batch_size"].as_integer(), Some(batch));
        assert_eq!(cfg["optimizer"]["lr"].as_float(), Some(lr));
    }
    assert!(!root.join("batch_size=32,lr=0.004").exists());
    let csv = std::fs::read_to_string(root.join("report.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2, "{csv}");
    let md = std::fs::read_to_string(root.join("report.md")).unwrap();
    assert!(
        !md.contains("heatmap"),
        "two zipped axes fill only a diagonal: {md}"
    );
    assert!(!root.join("heatmap.png").exists());
    let index = std::fs::read_to_string(root.join("study.json")).unwrap();
    assert!(index.contains("\"zip\""), "{index}");
}

#[test]
fn bad_zips_are_one_line_errors_before_anything_trains() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let axes = "[study.axes]\noptimizer = [\"sgd\", \"adam\"]\nlr = [0.1, 1e-3]\nbatch_size = [32, 64, 128]\n";
    let cases: &[(&str, &[&str])] = &[
        (
            "zip = [\"optimizer\", \"lrr\"]\n",
            &["tiny-study.toml", "study.zip", "lrr is not an axis"],
        ),
        (
            "zip = [\"optimizer\", \"batch_size\"]\n",
            &["study.zip", "optimizer has 2 values but batch_size has 3"],
        ),
        ("zip = \"optimizer\"\n", &["study.zip", "axis names"]),
        (
            "zip = [[\"optimizer\"]]\n",
            &["study.zip", "fewer than two"],
        ),
        (
            "zip = [[\"optimizer\", \"lr\"], [\"lr\", \"optimizer\"]]\n",
            &["study.zip", "lr is zipped twice"],
        ),
    ];
    for (zip, needles) in cases {
        setup(d, 40, &format!("{zip}{axes}"));
        assert_bad_input(&sweep(d, &[]), needles);
        assert!(
            !d.join("runs").exists(),
            "nothing may be written for {zip:?}"
        );
    }
}
