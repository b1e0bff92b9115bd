//! Test fixtures: small datasets written in the official formats, with a pattern a tiny
//! net learns in one or two epochs (class k lights up horizontal band k).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use convlab::experiment::interchange::{ImportOptions, NetSource};
use flate2::Compression;
use flate2::write::GzEncoder;

/// A deterministic image of class `label` (side x side, one channel): band `label` bright,
/// plus pseudo-random noise so no two images are equal.
pub fn pattern(label: u8, classes: u8, side: usize, i: usize) -> Vec<u8> {
    let band = side / classes as usize;
    let mut state = (i as u32)
        .wrapping_mul(2654435761)
        .wrapping_add(label as u32 * 97 + 1);
    (0..side * side)
        .map(|p| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let y = p / side;
            let noise = (state % 60) as u8;
            if y / band == label as usize {
                180 + noise
            } else {
                noise
            }
        })
        .collect()
}

pub fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

pub fn idx_images(images: &[Vec<u8>], side: usize) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 3];
    out.extend((images.len() as u32).to_be_bytes());
    out.extend((side as u32).to_be_bytes());
    out.extend((side as u32).to_be_bytes());
    for img in images {
        out.extend(img);
    }
    out
}

pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, 1];
    out.extend((labels.len() as u32).to_be_bytes());
    out.extend(labels);
    out
}

/// Write an MNIST-like dataset (28x28, `classes` classes) as the four gzipped IDX files.
pub fn write_idx_dataset(dir: &Path, train: usize, test: usize, classes: u8) {
    std::fs::create_dir_all(dir).unwrap();
    for (prefix, n) in [("train", train), ("t10k", test)] {
        let labels: Vec<u8> = (0..n).map(|i| (i % classes as usize) as u8).collect();
        let images: Vec<Vec<u8>> = labels
            .iter()
            .enumerate()
            .map(|(i, &l)| {
                pattern(
                    l,
                    classes,
                    28,
                    i + if prefix == "t10k" { 1_000_000 } else { 0 },
                )
            })
            .collect();
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            gz(&idx_images(&images, 28)),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
            gz(&idx_labels(&labels)),
        )
        .unwrap();
    }
}

/// A 32x32 RGB CIFAR image as 3072 CHW bytes.
pub fn cifar_image(label: u8, i: usize) -> Vec<u8> {
    let g = pattern(label, 10, 32, i);
    let mut out = g.clone();
    out.extend(g.iter().map(|p| p / 2));
    out.extend(g.iter().map(|p| 255 - p));
    out
}

pub fn cifar_records(n: usize, offset: usize) -> (Vec<u8>, Vec<u8>) {
    let mut bytes = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n {
        let l = ((i + offset) % 10) as u8;
        labels.push(l);
        bytes.push(l);
        bytes.extend(cifar_image(l, i + offset));
    }
    (bytes, labels)
}

/// A tar.gz with the given (path, bytes) members.
pub fn tar_gz(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::fast()));
    for (path, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        builder.append_data(&mut h, path, &bytes[..]).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

/// The official binary layout: `cifar-10-batches-bin/data_batch_{1..5}.bin`, `test_batch.bin`.
pub fn cifar_binary_members(per_batch: usize) -> Vec<(String, Vec<u8>)> {
    let mut m = Vec::new();
    for b in 1..=5 {
        m.push((
            format!("cifar-10-batches-bin/data_batch_{b}.bin"),
            cifar_records(per_batch, b * 1000).0,
        ));
    }
    m.push((
        "cifar-10-batches-bin/test_batch.bin".into(),
        cifar_records(per_batch, 0).0,
    ));
    m.push((
        "cifar-10-batches-bin/batches.meta.txt".into(),
        b"airplane\nautomobile\n".to_vec(),
    ));
    m
}

/// One python batch exactly as the official (Python 2, protocol 2) pickles lay it out:
/// a dict of str keys, `labels` a list of ints, `data` a numpy uint8 array through
/// `numpy.core.multiarray._reconstruct` and BUILD.
pub fn cifar_python_batch(labels: &[u8], data: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0x02, b'}', b'q', 0, b'('];
    let short = |p: &mut Vec<u8>, s: &[u8]| {
        p.push(b'U');
        p.push(s.len() as u8);
        p.extend(s);
    };
    short(&mut p, b"batch_label");
    short(&mut p, b"testing batch 1 of 1");
    short(&mut p, b"labels");
    p.extend([b']', b'q', 1, b'(']);
    for &l in labels {
        p.extend([b'K', l]);
    }
    p.push(b'e');
    short(&mut p, b"data");
    p.extend(b"cnumpy.core.multiarray\n_reconstruct\nq\x02cnumpy\nndarray\nq\x03K\x00\x85U\x01b\x87Rq\x04(K\x01");
    let n = labels.len() as u16;
    p.push(b'M');
    p.extend(n.to_le_bytes());
    p.extend(b"M\x00\x0c\x86cnumpy\ndtype\nq\x05U\x02u1K\x00K\x01\x87R(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T");
    p.extend((data.len() as u32).to_le_bytes());
    p.extend(data);
    p.extend(b"tbu.");
    p
}

pub fn cifar_python_members(per_batch: usize) -> Vec<(String, Vec<u8>)> {
    let mut m = Vec::new();
    let batch = |offset: usize| {
        let (recs, labels) = cifar_records(per_batch, offset);
        let data: Vec<u8> = recs.chunks(3073).flat_map(|r| r[1..].to_vec()).collect();
        cifar_python_batch(&labels, &data)
    };
    for b in 1..=5 {
        m.push((
            format!("cifar-10-batches-py/data_batch_{b}"),
            batch(b * 1000),
        ));
    }
    m.push(("cifar-10-batches-py/test_batch".into(), batch(0)));
    m
}

/// An image folder ROOT/{train,test}/<class>/NNN.png of 16x16 grayscale patterns.
pub fn write_png_folder(root: &Path, classes: &[&str], per_class: usize) {
    for split in ["train", "test"] {
        for (k, class) in classes.iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..per_class {
                let px = pattern(
                    k as u8,
                    classes.len() as u8,
                    16,
                    i + if split == "test" { 5000 } else { 0 },
                );
                let img = image::GrayImage::from_raw(16, 16, px).unwrap();
                img.save(dir.join(format!("{i:03}.png"))).unwrap();
            }
        }
    }
}

/// A file of tests/fixtures/pytorch (written there by make_fixtures.py and make_gradients.py).
pub fn pytorch_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pytorch")
        .join(name)
}

/// Import options for fixture `net`'s weights `pth`, its layer list read from `<net>.toml`.
pub fn fixture_import(pth: PathBuf, net: &str, out: PathBuf) -> ImportOptions {
    ImportOptions {
        pth,
        key: None,
        net: NetSource::Config(pytorch_fixture(&format!("{net}.toml"))),
        dataset: None,
        mean: vec![],
        std: vec![],
        out,
        force: false,
    }
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_convlab"))
}

/// Run the binary with a private cache dir.
pub fn convlab(args: &[&str], cwd: &Path) -> Output {
    Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("CONVLAB_CACHE", cwd.join(".cache"))
        .env_remove("CONVLAB_DATA")
        .output()
        .unwrap()
}

/// Start `convlab ARGS` in `cwd` (as `convlab` runs it) and SIGKILL it once `run` holds two
/// completed epochs and a resume file; the run must not have finished by then.
pub fn kill_after_two_epochs(cwd: &Path, args: &[&str], run: &Path) {
    let mut child = Command::new(bin())
        .args(args)
        .current_dir(cwd)
        .env("CONVLAB_CACHE", cwd.join(".cache"))
        .env_remove("CONVLAB_DATA")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while !(metrics_rows(run) >= 2 && run.join("resume.state").exists()) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "{args:?} ended before it could be killed"
        );
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(120),
            "{args:?} made no progress"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !run.join("summary.json").exists(),
        "killed mid-run, not after it"
    );
}

/// Epoch rows in a run folder's metrics.csv (0 before the first epoch ends).
pub fn metrics_rows(run: &Path) -> usize {
    std::fs::read_to_string(run.join("metrics.csv"))
        .map(|m| m.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Assert a bad-input failure: exit code 2 and a one-line message containing each needle.
pub fn assert_bad_input(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "expected exit 2, stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {err}");
    assert!(!err.contains("panicked"), "panic reached the user: {err}");
    for n in needles {
        assert!(
            lines[0].contains(n),
            "error line {:?} should mention {n:?}",
            lines[0]
        );
    }
}

/// The layers of a tiny conv net for 28x28 inputs and 10 outputs (fast to train in tests).
pub const TINY_NET: &str = r#"layers = [
  { type = "conv", out = 4, kernel = 5, stride = 2 },
  { type = "activation", kind = "relu" },
  { type = "pool" },
  { type = "flatten" },
  { type = "dropout", p = 0.2 },
  { type = "linear", out = 10 },
]"#;

/// A `convlab serve` child process, killed when dropped.
pub struct Server {
    pub child: Child,
    /// http://127.0.0.1:PORT (a server on every interface is reached through loopback).
    pub url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `convlab serve --port 0 ARGS...` in `cwd`, once it says where it listens; panics with its
/// stderr if it does not start.
pub fn serve(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Server {
    let mut child = Command::new(bin())
        .args(["serve", "--port", "0"])
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    if !line.starts_with("listening on http://") {
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        panic!("server did not start: {line} {err}");
    }
    Server {
        child,
        url: line
            .trim()
            .trim_start_matches("listening on ")
            .replace("0.0.0.0", "127.0.0.1"),
    }
}
