//! A study file (its [study] table, axes, seeds, sampling) over a fixed valid base config.
#![no_main]
use std::sync::LazyLock;

use convlab::experiment::study::Study;
use libfuzzer_sys::fuzz_target;

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("base.toml"),
        "[data]\ndataset = \"mnist\"\n[model]\npreset = \"mnist-cnn\"\n[train]\nepochs = 1\n",
    )
    .unwrap();
    dir
});

fuzz_target!(|bytes: &[u8]| {
    let path = DIR.path().join("study.toml");
    std::fs::write(&path, bytes).unwrap();
    let _ = Study::load(&path, &[]);
});
