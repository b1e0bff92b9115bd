//! A config key typed as a flag (`convlab train cfg.toml --epochs 3`, as a PyTorch script
//! takes it): one line naming the `--set` meant, exit 2, nothing trained. clap alone said
//! "unexpected argument '--epochs' found" and a tip about `-- --epochs`.

use super::*;

#[test]
fn a_config_key_given_as_a_flag_names_its_set() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    assert_bad_input(
        &train(dir.path(), &cfg, &["--epochs", "3"]),
        &[
            "unexpected argument '--epochs': config keys are set with --set, e.g. --set train.epochs=3",
        ],
    );
    assert_bad_input(
        &train(dir.path(), &cfg, &["--weight-decay=0.1", "--quiet"]),
        &[
            "unexpected argument '--weight-decay'",
            "--set optimizer.weight_decay=0.1",
        ],
    );
    // Not a config key: clap's own error, as before.
    let other = train(dir.path(), &cfg, &["--frobnicate"]);
    assert_eq!(other.status.code(), Some(2));
    assert!(stderr(&other).contains("unexpected argument '--frobnicate' found"));
    assert!(!dir.path().join("runs").exists());
}

/// A negative number is a value, checked as any other: `lr-find --start -1` was clap's
/// "unexpected argument '-1' found" (read as a flag named 1).
#[test]
fn a_negative_number_reaches_its_check() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let args = ["lr-find", cfg.to_str().unwrap(), "--start", "-1"];
    assert_bad_input(
        &convlab(&args, dir.path()),
        &["--start/--end: need 0 < start < end (got -1 and 10)"],
    );
}
