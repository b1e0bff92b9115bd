//! An image-folder dataset as a .tar.gz (how the CIFAR-10 JPEG copy is read).
#![no_main]
use std::sync::LazyLock;

use convlab::data::folder;
use libfuzzer_sys::fuzz_target;

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());

fuzz_target!(|bytes: &[u8]| {
    let path = DIR.path().join("images.tar.gz");
    std::fs::write(&path, bytes).unwrap();
    let _ = folder::load(&path);
});
