//! Garbage and truncated bytes into every parser: an error, never a panic.

mod common;

use common::*;
use convlab::data::{cifar, idx, pickle};
use convlab::model::checkpoint;

/// Deterministic pseudo-random bytes.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}

/// Every prefix length of `good` (sampled), and `good` with bytes overwritten by noise.
fn mutations(good: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let step = (good.len() / 97).max(1);
    for cut in (0..good.len()).step_by(step) {
        out.push(good[..cut].to_vec());
    }
    for seed in 0..60u64 {
        let mut m = good.to_vec();
        let n = noise(8, seed);
        for k in 0..4 {
            let at = (u64::from_le_bytes(n.clone().try_into().unwrap()) as usize)
                .wrapping_add(k * 31)
                % m.len().max(1);
            if let Some(b) = m.get_mut(at) {
                *b = n[k];
            }
        }
        out.push(m);
        out.push(noise(1 + seed as usize * 37, seed));
    }
    out
}

#[test]
fn idx_and_cifar_parsers_never_panic() {
    let images = idx_images(&[pattern(1, 2, 28, 0), pattern(0, 2, 28, 1)], 28);
    for m in mutations(&images) {
        let _ = idx::parse_images(&m, "x");
        let _ = idx::parse_labels(&m, 10, "x");
    }
    for m in mutations(&cifar_records(2, 0).0) {
        let _ = cifar::parse_binary(&m, "x");
    }
    let (recs, labels) = cifar_records(2, 0);
    let data: Vec<u8> = recs.chunks(3073).flat_map(|r| r[1..].to_vec()).collect();
    let batch = cifar_python_batch(&labels, &data);
    assert!(cifar::parse_python(&batch, "x").is_ok());
    for m in mutations(&batch) {
        let _ = pickle::parse(&m);
        let _ = cifar::parse_python(&m, "x");
    }
}

#[test]
fn checkpoint_loader_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    write_idx_dataset(&dir.path().join("mnist"), 64, 16, 2);
    std::fs::write(
        dir.path().join("c.toml"),
        "[data]\ndataset = \"mnist\"\nval_fraction = 0.0\n[model]\npreset = \"\"\nlayers = [{ type = \"flatten\" }, { type = \"linear\", out = 10 }]\n[train]\nepochs = 1\n",
    )
    .unwrap();
    let out = convlab(
        &[
            "train",
            "c.toml",
            "--data-dir",
            dir.path().to_str().unwrap(),
            "--run-dir",
            "r",
            "--quiet",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let good = std::fs::read(dir.path().join("r/last.ckpt")).unwrap();
    let device = burn::tensor::Device::flex();
    let path = dir.path().join("m.ckpt");
    let mut errors = 0;
    for m in mutations(&good) {
        std::fs::write(&path, &m).unwrap();
        let result = std::panic::catch_unwind(|| checkpoint::load(&path, &device).map(|_| ()));
        match result {
            Ok(Ok(())) => {}
            Ok(Err(_)) => errors += 1,
            Err(_) => panic!("checkpoint::load panicked on {} mutated bytes", m.len()),
        }
    }
    assert!(errors > 50, "most mutations must be rejected, got {errors}");
}

/// PyTorch files (zip and legacy, from tests/fixtures/pytorch) truncated or with bytes
/// overwritten: `import` gives an error or a checkpoint, never a panic.
#[test]
fn pytorch_import_never_panics() {
    use convlab::experiment::interchange::{ImportOptions, NetSource, import};
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch");
    let dir = tempfile::tempdir().unwrap();
    let (pth, out) = (dir.path().join("m.pth"), dir.path().join("m.ckpt"));
    let mut errors = 0;
    for (name, net) in [
        ("tiny_seq.pth", "tiny_seq.toml"),
        ("tiny_seq_legacy.pth", "tiny_seq.toml"),
        ("tiny_res_model.pth", "tiny_res.toml"),
    ] {
        let good = std::fs::read(fixtures.join(name)).unwrap();
        for m in mutations(&good) {
            std::fs::write(&pth, &m).unwrap();
            let _ = std::fs::remove_file(&out);
            let result = import(&ImportOptions {
                pth: pth.clone(),
                key: None,
                net: NetSource::Config(fixtures.join(net)),
                dataset: None,
                mean: vec![],
                std: vec![],
                out: out.clone(),
                force: true,
            });
            if let Err(e) = result {
                errors += 1;
                assert!(e.to_string().contains("m.pth"), "{e}");
            }
        }
    }
    assert!(
        errors > 100,
        "mutated files should mostly be refused: {errors}"
    );
}

/// Every input the fuzzers (bench/fuzz.sh) found a crash with, kept once fixed: each must now
/// be an error (or, for the cache, ignored), never a panic. tests/fixtures/fuzz/<target>/.
#[test]
fn inputs_that_crashed_the_fuzzers_are_errors_now() {
    use convlab::data::cache;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let inputs = |target: &str| -> Vec<Vec<u8>> {
        std::fs::read_dir(root.join(target))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect()
    };
    let idx_inputs = inputs("idx");
    assert!(!idx_inputs.is_empty());
    for bytes in idx_inputs {
        // An IDX image header whose n x rows x cols overflows usize.
        let err = idx::parse_images(&bytes, "crash").unwrap_err().to_string();
        assert!(err.contains("crash"), "{err}");
    }
    // The same fault where it does not panic but lies (release builds wrap): 2^22 images of
    // 2^21 x 2^21 pixels is 2^64 bytes, 0 after wrapping, which "matched" an empty file.
    let mut header = vec![0, 0, 8, 3];
    for v in [1u32 << 22, 1 << 21, 1 << 21] {
        header.extend(v.to_be_bytes());
    }
    let err = idx::parse_images(&header, "wrapped")
        .unwrap_err()
        .to_string();
    assert!(err.contains("4194304 images of 2097152x2097152"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.cache");
    for bytes in inputs("dataset_cache") {
        // A cache header length near u64::MAX.
        std::fs::write(&path, bytes).unwrap();
        assert!(cache::read(&path).is_none());
    }
    let path = dir.path().join("crash.ckpt");
    for bytes in inputs("checkpoint") {
        // A checkpoint whose weights declare a non-float dtype (Burn panicked: "Expected
        // float dtype").
        std::fs::write(&path, bytes).unwrap();
        let device =
            convlab::train::device::select(convlab::train::device::DeviceName::Cpu).unwrap();
        let err = checkpoint::load(&path, &device).unwrap_err().to_string();
        assert!(err.contains("crash.ckpt"), "{err}");
    }
}
