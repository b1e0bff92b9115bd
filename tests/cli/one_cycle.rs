//! `schedule.name = "onecycle"` in a training run: the loop hands the schedule's momentum to
//! the optimizer before every step (tests/optimizers/main.rs checks the values against PyTorch).

use super::*;

fn metrics(dir: &Path, name: &str, sets: &[&str]) -> String {
    let cfg = dir.join("tiny.toml");
    let mut args = vec!["--set", "schedule.name=onecycle", "--set"];
    let run_name = format!("name={name}");
    args.push(&run_name);
    for s in sets {
        args.extend(["--set", s]);
    }
    let out = train(dir, &cfg, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::read_to_string(dir.join("runs").join(name).join("metrics.csv")).unwrap()
}

fn without_seconds(csv: &str) -> Vec<String> {
    // The last column is wall-clock seconds.
    csv.lines()
        .map(|l| l.rsplit_once(',').map_or(l, |(head, _)| head).to_string())
        .collect()
}

#[test]
fn one_cycle_sets_the_momentum_of_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "");
    let sgd = ["optimizer.name=sgd", "optimizer.lr=0.05"];
    let cycled = metrics(d, "cycled", &sgd);
    let fixed = metrics(
        d,
        "fixed",
        &[sgd[0], sgd[1], "schedule.cycle_momentum=false"],
    );
    // Plain SGD under OneCycleLR gains momentum (as in PyTorch): the runs differ...
    assert_ne!(without_seconds(&cycled), without_seconds(&fixed));
    // ...and the cycle replaces the configured momentum, so that no longer matters.
    let other = metrics(
        d,
        "other",
        &[
            "optimizer.name=sgd-momentum",
            "optimizer.lr=0.05",
            "optimizer.momentum=0.5",
        ],
    );
    assert_eq!(without_seconds(&cycled), without_seconds(&other));
}
