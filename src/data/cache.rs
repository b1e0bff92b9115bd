//! Decoded datasets cached as one binary file, so a second run skips gunzip and JPEG
//! decoding. The key covers the source path, size and mtime, so a changed source is
//! decoded again; a cache that cannot be written only costs speed.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::dataset::{Dataset, Splits};
use crate::error::{SectionReader, write_atomic_parts};

const MAGIC: &[u8; 10] = b"CONVLABDS1";

#[derive(Serialize, Deserialize)]
struct Header {
    name: String,
    shape: [usize; 3],
    classes: Vec<String>,
    train: usize,
    test: usize,
}

/// The cache file for a dataset read from `source`.
pub fn cache_path(name: &str, source: &Path) -> PathBuf {
    let mut h = DefaultHasher::new();
    let canon = source
        .canonicalize()
        .unwrap_or_else(|_| source.to_path_buf());
    canon.hash(&mut h);
    // A folder's own mtime changes when its files are replaced; for archives, the file's.
    if let Ok(m) = std::fs::metadata(&canon) {
        m.len().hash(&mut h);
        if let Ok(t) = m.modified() {
            t.hash(&mut h);
        }
    }
    if canon.is_dir()
        && let Ok(entries) = std::fs::read_dir(&canon)
    {
        let mut names: Vec<_> = entries
            .flatten()
            .filter_map(|e| Some((e.file_name(), e.metadata().ok()?.len())))
            .collect();
        names.sort();
        names.hash(&mut h);
    }
    super::locate::cache_dir().join(format!("{name}-{:016x}.bin", h.finish()))
}

/// The cached splits, or None for a missing or damaged file. Each split is read straight
/// into its own buffer: reading the whole file first held every image twice (368 MB for
/// CIFAR-10) while loading.
pub fn read(path: &Path) -> Option<Splits> {
    // Sizes read from a damaged file are checked (SectionReader): a bad cache is ignored.
    let mut file = SectionReader::open(path).ok()?;
    if file.take(MAGIC.len() as u64)? != MAGIC {
        return None;
    }
    let header: Header = serde_json::from_slice(&file.take_section()?).ok()?;
    let per = header
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))?;
    let mut split = |n: usize| -> Option<Dataset> {
        let images = file.take(u64::try_from(n.checked_mul(per)?).ok()?)?;
        let labels = file.take(u64::try_from(n).ok()?)?;
        Some(Dataset {
            shape: header.shape,
            images,
            labels,
            classes: header.classes.clone(),
        })
    };
    let train = split(header.train)?;
    let test = split(header.test)?;
    Some(Splits {
        name: header.name.clone(),
        train,
        test,
    })
}

pub fn write(path: &Path, splits: &Splits) -> crate::error::Result<()> {
    let header = Header {
        name: splits.name.clone(),
        shape: splits.train.shape,
        classes: splits.train.classes.clone(),
        train: splits.train.len(),
        test: splits.test.len(),
    };
    let h = serde_json::to_vec(&header).map_err(|e| crate::error::Error::Serialize {
        what: path.display().to_string(),
        problem: e.to_string(),
    })?;
    let len = (h.len() as u64).to_le_bytes();
    let mut parts: Vec<&[u8]> = vec![MAGIC, &len, &h];
    for ds in [&splits.train, &splits.test] {
        parts.push(&ds.images);
        parts.push(&ds.labels);
    }
    write_atomic_parts(path, &parts)
}
