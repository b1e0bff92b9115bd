//! A full disk or a file-size limit in the middle of a run: one line naming the file, a
//! non-zero exit, no temporary files left, and every file stored before byte-for-byte intact.
//! Simulated with `ulimit -f` (bash, in KiB); convlab ignores SIGXFSZ so the write fails with
//! EFBIG instead of the kernel killing it silently.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;

fn setup(d: &Path) {
    write_idx_dataset(&d.join("mnist"), 300, 100, 4);
    let run = format!(
        "seed = 2\n[data]\ndataset = \"mnist\"\nval_fraction = 0.2\n[model]\npreset = \"\"\n{TINY_NET}\n[train]\nepochs = 2\nbatch_size = 32\n"
    );
    std::fs::write(d.join("tiny.toml"), run).unwrap();
    std::fs::write(
        d.join("study.toml"),
        "[study]\nbase = \"tiny.toml\"\nseeds = 2\n[study.axes]\nlr = [1e-3, 3e-3]\n",
    )
    .unwrap();
}

/// convlab with `args` in `d`, its files limited to `kib` KiB each.
fn limited(d: &Path, kib: u32, args: &[&str]) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(format!("ulimit -f {kib}; exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args)
        .current_dir(d)
        .output()
        .unwrap()
}

/// Every file under `root` with its bytes.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// One `error:` line naming a file under `folder` and the limit; no panic, non-zero exit.
fn assert_names_the_file(out: &Output, folder: &str) {
    let err = stderr(out);
    assert!(!out.status.success(), "should fail: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(lines[0].contains(folder), "{err}");
    assert!(lines[0].contains("File too large"), "{err}");
}

#[test]
fn a_file_size_limit_fails_cleanly_and_loses_nothing_stored() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d);
    let data = d.to_str().unwrap();
    let ok = convlab(&["sweep", "study.toml", "--data-dir", data], d);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let before = snapshot(&d.join("runs"));
    assert!(before.keys().any(|p| p.ends_with("report.html")));

    // The report is rewritten from the same runs: its larger files no longer fit.
    let report = limited(d, 8, &["report", "runs/study"]);
    assert_names_the_file(&report, "runs/study/");
    // A new run stops at its first file over the limit.
    let train = limited(
        d,
        8,
        &[
            "train",
            "tiny.toml",
            "--data-dir",
            data,
            "--run-dir",
            "runs/new",
        ],
    );
    assert_names_the_file(&train, "runs/new/");
    assert!(!d.join("runs/new/summary.json").exists());

    let after = snapshot(&d.join("runs"));
    for (path, bytes) in &before {
        assert!(after.get(path) == Some(bytes), "{} changed", path.display());
    }
    let leftovers: Vec<_> = after
        .keys()
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}
