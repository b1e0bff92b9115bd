//! `convlab train --resume`: a run killed mid-way continues after its last completed epoch
//! and ends exactly as an uninterrupted one (Lightning's `fit(ckpt_path=...)`, Keras'
//! BackupAndRestore); what cannot be resumed is a one-line error that loses nothing.

use super::*;

/// 1,600 training images and 12 epochs, so that the run can be killed between epochs;
/// plateau, lookahead and the moving average (whose weights give val and test) carry state
/// from epoch to epoch that a resume must restore.
fn long_setup(d: &Path) -> std::path::PathBuf {
    let cfg = setup(
        d,
        "lookahead_every = 3\nema_decay = 0.9\n[schedule]\nname = \"plateau\"\npatience = 1",
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

    // A damaged resume file is named, with what is wrong, and left as it is.
    let state_path = run.join("resume.state");
    for (damaged, problem) in damaged_resume_files(&resume_state) {
        std::fs::write(&state_path, &damaged).unwrap();
        let out = train(d, &cfg, &["--resume"]);
        assert_bad_input(&out, &["resume.state", problem, "delete it to restart"]);
        assert_eq!(std::fs::read(&state_path).unwrap(), damaged, "{problem}");
    }
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

/// Copies of a resume file, each damaged in one place, with the problem the error must
/// name. Layout (src/train/resume.rs): a 14-byte magic, then sections (JSON state, model,
/// optimizer, lookahead, moving average), each after its length as a u64 LE.
fn damaged_resume_files(good: &[u8]) -> Vec<(Vec<u8>, &'static str)> {
    let mut sections = Vec::new(); // (start of the length field, start, end) of each section
    let mut at = 14;
    while at < good.len() {
        let len = u64::from_le_bytes(good[at..at + 8].try_into().unwrap()) as usize;
        sections.push((at, at + 8, at + 8 + len));
        at += 8 + len;
    }
    assert_eq!(sections.len(), 5, "magic and five sections");
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut v = good.to_vec();
        f(&mut v);
        v
    };
    let garble = |(_, start, end): (usize, usize, usize)| {
        with(&|v| v[start..end].iter_mut().for_each(|b| *b = 0xAB))
    };
    // The record's own header kept, what follows it garbled.
    let garble_after_header = |(_, start, end): (usize, usize, usize)| {
        with(&|v| {
            v[start + 16..(start + 400).min(end)]
                .iter_mut()
                .for_each(|b| *b ^= 0x5A)
        })
    };
    vec![
        (with(&|v| v[0] = b'X'), "not a convlab resume file"),
        (good[..good.len() - 100].to_vec(), "truncated resume file"),
        (good[..10].to_vec(), "not a convlab resume file"),
        (
            with(&|v| v[sections[2].0..sections[2].0 + 8].fill(0xFF)),
            "truncated resume file",
        ),
        (garble(sections[0]), "corrupt resume state"),
        (garble(sections[1]), "corrupt weights"),
        (garble(sections[2]), "corrupt optimizer state"),
        (garble_after_header(sections[1]), "corrupt weights"),
        (garble_after_header(sections[2]), "corrupt optimizer state"),
        // The moving average one value short.
        (
            with(&|v| {
                let (len_at, start, end) = sections[4];
                v.truncate(end - 4);
                v[len_at..start].copy_from_slice(&((end - start - 4) as u64).to_le_bytes());
            }),
            "unreadable moving average",
        ),
    ]
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
    let args = |name: &'static str, epochs: &'static str| {
        vec![
            "finetune",
            "--checkpoint",
            "runs/tiny/best.ckpt",
            "--data",
            "halves",
            "--epochs",
            epochs,
            "--freeze-epochs",
            "1",
            "--name",
            name,
            "--quiet",
        ]
    };
    let reference = convlab(&args("reference", "10"), d);
    assert!(reference.status.success(), "{}", stderr(&reference));

    let run = d.join("runs/tuned");
    kill_after_two_epochs(d, &args("tuned", "10"), &run);
    let again = convlab(&args("tuned", "1"), d);
    assert!(again.status.success(), "{}", stderr(&again));
    let note = stderr(&again);
    assert!(
        note.contains("runs/tuned holds an unfinished run") && note.contains("convlab finetune"),
        "{note}"
    );
    // Other options cannot continue it; the differing key is named.
    let other = convlab(
        &[
            args("tuned", "10").as_slice(),
            &["--lr", "0.01", "--resume"],
        ]
        .concat(),
        d,
    );
    assert_bad_input(
        &other,
        &["runs/tuned", "optimizer.lr = 0.01 (stored: 0.001)"],
    );

    let resumed = convlab(&[args("tuned", "10").as_slice(), &["--resume"]].concat(), d);
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
