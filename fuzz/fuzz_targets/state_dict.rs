//! A PyTorch state_dict (.pth: zip or legacy pickle) imported onto a fixed small net.
#![no_main]
use std::path::Path;
use std::sync::LazyLock;

use convlab::experiment::interchange::{ImportOptions, NetSource, import};
use libfuzzer_sys::fuzz_target;

static DIR: LazyLock<tempfile::TempDir> = LazyLock::new(|| tempfile::tempdir().unwrap());

fuzz_target!(|bytes: &[u8]| {
    let (pth, out) = (DIR.path().join("m.pth"), DIR.path().join("m.ckpt"));
    std::fs::write(&pth, bytes).unwrap();
    let net = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/pytorch/tiny_seq.toml");
    let _ = import(&ImportOptions {
        pth,
        key: None,
        net: NetSource::Config(net),
        dataset: None,
        mean: vec![],
        std: vec![],
        out,
        force: true,
    });
});
