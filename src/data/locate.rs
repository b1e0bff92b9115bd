//! Where datasets are looked for, in order: `--data-dir`, `$CONVLAB_DATA`, the user cache
//! dir, and `/usr/share/datasets` (Debian's `dataset-fashion-mnist`). `--download` fetches
//! the official files into the cache dir and checks their MD5 sums.

use std::io::Read;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};

use crate::data::config::DatasetName;
use crate::data::{folder, idx};
use crate::error::{Error, Result};

/// The format found for a dataset.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Idx(PathBuf),
    CifarBinary(PathBuf),
    CifarPython(PathBuf),
    Folder(PathBuf),
}

impl Source {
    pub fn path(&self) -> &Path {
        match self {
            Source::Idx(p)
            | Source::CifarBinary(p)
            | Source::CifarPython(p)
            | Source::Folder(p) => p,
        }
    }
}

/// convlab's own cache folder: `$CONVLAB_CACHE`, else the user cache dir.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("CONVLAB_CACHE")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("convlab")))
        .unwrap_or_else(|| PathBuf::from(".cache/convlab"))
}

/// Roots to search, in order, each with whether files may sit directly in it.
pub fn search_roots(data_dir: Option<&Path>) -> Vec<(PathBuf, bool)> {
    let mut roots = Vec::new();
    if let Some(d) = data_dir {
        roots.push((d.to_path_buf(), true));
    }
    if let Some(d) = std::env::var_os("CONVLAB_DATA") {
        roots.push((PathBuf::from(d), false));
    }
    roots.push((cache_dir().join("datasets"), false));
    roots.push((PathBuf::from("/usr/share/datasets"), false));
    roots
}

fn subdirs(name: DatasetName) -> &'static [&'static str] {
    match name {
        DatasetName::Mnist => &["mnist", "MNIST"],
        DatasetName::FashionMnist => &["fashion-mnist", "fashion_mnist", "FashionMNIST"],
        DatasetName::Cifar10 => &["cifar10", "cifar-10", "CIFAR10"],
        // An image folder is given by its path, never searched for.
        DatasetName::Folder => &[],
    }
}

/// Find `name` in one folder.
fn probe(dir: &Path, name: DatasetName) -> Option<Source> {
    if name == DatasetName::Folder {
        return None;
    }
    if name == DatasetName::Cifar10 {
        let binary = ["cifar-10-batches-bin", "cifar-10-binary.tar.gz"];
        let python = ["cifar-10-batches-py", "cifar-10-python.tar.gz"];
        let jpeg = ["cifar10-jpeg", "cifar10-jpeg.tar.gz"];
        for f in binary {
            if dir.join(f).exists() {
                return Some(Source::CifarBinary(dir.join(f)));
            }
        }
        for f in python {
            if dir.join(f).exists() {
                return Some(Source::CifarPython(dir.join(f)));
            }
        }
        for f in jpeg {
            if dir.join(f).exists() && folder::is_image_folder(&dir.join(f)) {
                return Some(Source::Folder(dir.join(f)));
            }
        }
        return None;
    }
    idx::has_files(dir).then(|| Source::Idx(dir.to_path_buf()))
}

pub fn hint(name: DatasetName) -> String {
    match name {
        DatasetName::FashionMnist => "install it with `apt-get install dataset-fashion-mnist`, or pass --download, or --data-dir DIR holding the four IDX .gz files".into(),
        DatasetName::Mnist => "pass --download, or --data-dir DIR holding the four IDX .gz files (train-images-idx3-ubyte.gz, ...)".into(),
        DatasetName::Folder => "set data.path = \"ROOT\" (with train/<class>/ and test/<class>/, or <class>/ folders)".into(),
        DatasetName::Cifar10 => "pass --download, or --data-dir DIR holding cifar10/cifar-10-binary.tar.gz, cifar-10-python.tar.gz or cifar10-jpeg.tar.gz".into(),
    }
}

/// `--data-dir` given as one of the dataset's files rather than the folder holding it
/// (`--data-dir ~/Downloads/cifar-10-python.tar.gz`): that file's dataset, when it is one.
fn probe_file(file: &Path, name: DatasetName) -> Option<Source> {
    let named = file.file_name()?.to_string_lossy().into_owned();
    let file = file.to_path_buf();
    match (name, named.as_str()) {
        (DatasetName::Cifar10, "cifar-10-binary.tar.gz") => Some(Source::CifarBinary(file)),
        (DatasetName::Cifar10, "cifar-10-python.tar.gz") => Some(Source::CifarPython(file)),
        (DatasetName::Cifar10, "cifar10-jpeg.tar.gz") => Some(Source::Folder(file)),
        // One of the four IDX files: the folder holding them.
        (DatasetName::Mnist | DatasetName::FashionMnist, n) if n.ends_with("-ubyte.gz") => {
            probe(file.parent()?, name)
        }
        _ => None,
    }
}

/// Find a named dataset, downloading it first when `download` is set and it is not found.
pub fn locate(name: DatasetName, data_dir: Option<&Path>, download: bool) -> Result<Source> {
    if let Some(s) = data_dir
        .filter(|d| d.is_file())
        .and_then(|f| probe_file(f, name))
    {
        return Ok(s);
    }
    let mut looked = Vec::new();
    for (root, direct) in search_roots(data_dir) {
        if direct {
            looked.push(root.display().to_string());
            if let Some(s) = probe(&root, name) {
                return Ok(s);
            }
        }
        for sub in subdirs(name) {
            let dir = root.join(sub);
            looked.push(dir.display().to_string());
            if let Some(s) = probe(&dir, name) {
                return Ok(s);
            }
        }
    }
    if download {
        let dir = cache_dir().join("datasets").join(subdirs(name)[0]);
        fetch_official(name, &dir)?;
        return probe(&dir, name).ok_or_else(|| {
            Error::input(
                dir.display(),
                format!("{name} was downloaded here but its files are not where expected"),
            )
        });
    }
    Err(Error::DataNotFound {
        dataset: name.to_string(),
        looked: looked.join(", "),
        hint: hint(name),
    })
}

/// The official files and their MD5 sums (the sums torchvision also checks).
pub fn official_files(name: DatasetName) -> Vec<(String, &'static str)> {
    let idx = |base: &str, sums: [&'static str; 4]| -> Vec<(String, &'static str)> {
        idx::FILES
            .iter()
            .zip(sums)
            .map(|(f, s)| (format!("{base}{f}.gz"), s))
            .collect()
    };
    match name {
        DatasetName::Mnist => idx(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            [
                "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "d53e105ee54ea40749a09fcbcd1e9432",
                "9fb629c4189551a2d022fa330f9573f3",
                "ec29112dd5afa0611ce80d1b7f02629c",
            ],
        ),
        DatasetName::FashionMnist => idx(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            [
                "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "25c81989df183df01b3e8a0aad5dffbe",
                "bef4ecab320f06d8554ea6380940ec79",
                "bb300cfdad3c16e7a12a480ee83cd310",
            ],
        ),
        DatasetName::Folder => Vec::new(),
        DatasetName::Cifar10 => vec![(
            "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz".into(),
            "c32a1d4ab5d03f1284b67883e8d87530",
        )],
    }
}

pub fn md5_hex(bytes: &[u8]) -> String {
    Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Check `bytes` against an expected MD5; the error names the file.
pub fn verify_md5(bytes: &[u8], expected: &str, origin: &str) -> Result<()> {
    let got = md5_hex(bytes);
    if got == expected {
        Ok(())
    } else {
        Err(Error::input(
            origin,
            format!(
                "checksum mismatch: MD5 {got}, expected {expected} (corrupt or partial download)"
            ),
        ))
    }
}

fn fetch_official(name: DatasetName, dir: &Path) -> Result<()> {
    for (url, md5) in official_files(name) {
        let file = url.rsplit('/').next().unwrap_or("download");
        let dest = dir.join(file);
        if dest.is_file()
            && verify_md5(
                &crate::error::read_file(&dest)?,
                md5,
                &dest.display().to_string(),
            )
            .is_ok()
        {
            continue;
        }
        eprintln!("downloading {url}");
        // ureq's message starts with the URL again ("URL: Dns Failed: ..."): said once.
        let resp = ureq::get(&url).call().map_err(|e| Error::Download {
            problem: e
                .to_string()
                .trim_start_matches(&format!("{url}: "))
                .to_string(),
            url: url.clone(),
        })?;
        let mut bytes = Vec::new();
        resp.into_reader()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Download {
                url: url.clone(),
                problem: e.to_string(),
            })?;
        verify_md5(&bytes, md5, &url)?;
        crate::error::write_atomic(&dest, &bytes)?;
    }
    Ok(())
}
