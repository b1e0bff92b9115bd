//! A convlab checkpoint file (header, metadata JSON, weights).
#![no_main]
use std::sync::LazyLock;

use convlab::model::checkpoint;
use convlab::train::device::{DeviceName, select};
use libfuzzer_sys::fuzz_target;

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());

fuzz_target!(|bytes: &[u8]| {
    let path = DIR.path().join("fuzz.ckpt");
    std::fs::write(&path, bytes).unwrap();
    let _ = checkpoint::load(&path, &select(DeviceName::Cpu).unwrap());
});
