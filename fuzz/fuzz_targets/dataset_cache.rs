//! The decoded-dataset cache file (a bad one must be ignored, not trusted or panicked on).
#![no_main]
use std::sync::LazyLock;

use convlab::data::cache;
use libfuzzer_sys::fuzz_target;

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());

fuzz_target!(|bytes: &[u8]| {
    let path = DIR.path().join("fuzz.cache");
    std::fs::write(&path, bytes).unwrap();
    let _ = cache::read(&path);
});
