//! `convlab train --resume`: a run killed mid-way continues after its last completed epoch
//! and ends exactly as an uninterrupted one (Lightning's `fit(ckpt_path=...)`, Keras'
//! BackupAndRestore); what cannot be resumed is a one-line error that loses nothing.

use super::*;

/// 1,600 training images and 12 epochs, so that the run can be killed between epochs;
/// plateau and lookahead carry state from epoch to epoch that a resume must restore.
fn long_setup(d: &Path) -> std::path::PathBuf {
    let cfg = setup(
        d,
        "lookahead_every = 3\n[schedule]\nname = \"plateau\"\npatience = 1",
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("epochs = 2", "epochs = 12")).unwrap();
    write_idx_dataset(&d.join("mnist"), 1600, 200, 4);
    cfg
}

fn metrics(run: &Path) -> String {
    std::fs::read_to_string(run.join("metrics.csv")).unwrap()
}

#[test]
fn a_killed_train_resumes_and_ends_as_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = long_setup(d);
    let reference = train(d, &cfg, &["--run-dir", "reference", "--quiet"]);
    assert!(reference.status.success(), "{}", stderr(&reference));

    let run = d.join("runs/tiny");
    kill_after_two_epochs(
        d,
        &["train", "tiny.toml", "--data-dir", ".", "--quiet"],
        &run,
    );
    let resume_state = std::fs::read(run.join("resume.state")).unwrap();

    // Another config cannot continue it: the differing key is named, nothing is touched.
    let other = train(d, &cfg, &["--resume", "--set", "optimizer.lr=0.01"]);
    assert_bad_input(
        &other,
        &["runs/tiny", "optimizer.lr = 0.01 (stored: 0.003)"],
    );
    assert_eq!(
        std::fs::read(run.join("resume.state")).unwrap(),
        resume_state
    );

    // A damaged resume file is named, and left as it is.
    let state_path = run.join("resume.state");
    let cut = &resume_state[..resume_state.len() - 100];
    std::fs::write(&state_path, cut).unwrap();
    let damaged = train(d, &cfg, &["--resume"]);
    assert_bad_input(&damaged, &["resume.state", "truncated resume file"]);
    assert_eq!(std::fs::read(&state_path).unwrap(), cut);
    std::fs::write(&state_path, &resume_state).unwrap();

    // Training again without --resume starts a new run beside it and says how to continue.
    let again = train(d, &cfg, &["--set", "train.epochs=1", "--quiet"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let note = stderr(&again);
    assert!(
        note.contains("--resume") && note.contains("tiny-2"),
        "{note}"
    );

    let resumed = train(d, &cfg, &["--resume"]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stdout(&resumed).contains("resuming tiny after epoch"),
        "{}",
        stdout(&resumed)
    );
    assert_eq!(metrics(&run), metrics(&d.join("reference")));
    assert!(run.join("summary.json").exists());
    assert!(
        !run.join("resume.state").exists(),
        "the resume file goes at the end"
    );

    // A finished run has nothing to resume.
    let done = train(d, &cfg, &["--resume"]);
    assert_bad_input(&done, &["runs/tiny", "completed after 12 epochs"]);
}

/// A fine-tune killed after its frozen epochs resumes with the features unfrozen as they
/// would have been, and ends as an uninterrupted one.
#[test]
fn a_killed_finetune_resumes_and_ends_as_an_uninterrupted_one() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    assert!(train(d, &cfg, &["--quiet"]).status.success());
    super::images::write_two_class_folder(&d.join("halves"), 300);
    let args = |name: &'static str| {
        vec![
            "finetune",
            "--checkpoint",
            "runs/tiny/best.ckpt",
            "--data",
            "halves",
            "--epochs",
            "10",
            "--freeze-epochs",
            "1",
            "--name",
            name,
            "--quiet",
        ]
    };
    let reference = convlab(&args("reference"), d);
    assert!(reference.status.success(), "{}", stderr(&reference));

    let run = d.join("runs/tuned");
    kill_after_two_epochs(d, &args("tuned"), &run);
    let again = convlab(
        &[args("tuned").as_slice(), &["--set", "train.epochs=1"]].concat(),
        d,
    );
    assert!(again.status.success(), "{}", stderr(&again));
    let note = stderr(&again);
    assert!(
        note.contains("runs/tuned holds an unfinished run") && note.contains("convlab finetune"),
        "{note}"
    );
    // Other options cannot continue it; the differing key is named.
    let other = convlab(
        &[args("tuned").as_slice(), &["--lr", "0.01", "--resume"]].concat(),
        d,
    );
    assert_bad_input(
        &other,
        &["runs/tuned", "optimizer.lr = 0.01 (stored: 0.001)"],
    );

    let resumed = convlab(&[args("tuned").as_slice(), &["--resume"]].concat(), d);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(metrics(&run), metrics(&d.join("runs/reference")));
    assert!(!run.join("resume.state").exists());
}

#[test]
fn resume_without_a_run_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    let out = train(d, &cfg, &["--resume"]);
    assert_bad_input(&out, &["runs/tiny", "no run to resume"]);
    assert!(!d.join("runs/tiny").exists());
    let out = train(d, &cfg, &["--resume", "--run-dir", "elsewhere"]);
    assert_bad_input(&out, &["elsewhere", "no run to resume"]);
}

/// Killed before its first epoch ended: only config.toml and run.json exist. --resume
/// starts it again from epoch 1 in the same folder, and says so.
#[test]
fn a_run_killed_in_its_first_epoch_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    let first = train(d, &cfg, &["--quiet"]);
    assert!(first.status.success(), "{}", stderr(&first));
    let run = d.join("runs/tiny");
    let finished = metrics(&run);
    for entry in std::fs::read_dir(&run).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name != "config.toml" && name != "run.json" {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let out = train(d, &cfg, &["--resume"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("starts again from epoch 1"),
        "{}",
        stdout(&out)
    );
    assert_eq!(metrics(&run), finished);
}
