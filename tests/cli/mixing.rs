//! MixUp and CutMix in a training run: the run trains above chance, is reproducible from its
//! seed, and stores the settings; a bad alpha is a one-line error.

use super::*;

#[test]
fn mixup_and_cutmix_runs_train_and_repeat_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    let run = |name: &str| {
        let sets = [
            "--set",
            "data.mixup=0.4",
            "--set",
            "data.cutmix=1.0",
            "--set",
            "train.epochs=3",
            "--set",
        ];
        let name_set = format!("name={name}");
        let mut args: Vec<&str> = sets.to_vec();
        args.push(&name_set);
        let out = train(d, &cfg, &args);
        assert!(out.status.success(), "{}", stderr(&out));
        let csv = std::fs::read_to_string(d.join("runs").join(name).join("metrics.csv")).unwrap();
        // Everything but the wall-clock seconds, the last column.
        let rows: Vec<String> = csv
            .lines()
            .map(|l| l.rsplit_once(',').map_or(l, |(h, _)| h).to_string())
            .collect();
        rows
    };
    let (a, b) = (run("mix-a"), run("mix-b"));
    assert_eq!(a, b, "same seed, same mixing");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("runs/mix-a/summary.json")).unwrap())
            .unwrap();
    assert!(
        summary["test_acc"].as_f64().unwrap() > 0.5,
        "4 classes: {summary}"
    );
    let stored = std::fs::read_to_string(d.join("runs/mix-a/config.toml")).unwrap();
    assert!(
        stored.contains("mixup = 0.4") && stored.contains("cutmix = 1.0"),
        "{stored}"
    );
    assert_bad_input(
        &train(d, &cfg, &["--set", "data.mixup=-1"]),
        &["data.mixup: -1 is not an alpha"],
    );
}
