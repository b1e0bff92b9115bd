//! Decoded datasets cached as one binary file, so a second run skips gunzip and JPEG
//! decoding. The key covers the source path, size and mtime, so a changed source is
//! decoded again; a cache that cannot be written only costs speed.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::data::dataset::{Dataset, Splits};
use crate::error::{SectionReader, write_atomic_parts};

/// 2: image folders read their class folders' subfolders (a cache of 1 may lack them).
/// 3: colour images read as grayscale take PIL's luma (`folder::luma_601`), not sRGB's.
/// 4: JPEGs decoded as libjpeg-turbo decodes them (`data::jpeg`), not as zune-jpeg does.
/// 5: images resized as PIL's bilinear filter does it (`data::resize`), not the image crate's.
const MAGIC: &[u8; 10] = b"CONVLABDS5";

#[derive(Serialize, Deserialize)]
struct Header {
    name: String,
    shape: [usize; 3],
    classes: Vec<String>,
    train: usize,
    test: usize,
}

/// The cache file for a dataset read from `source`: `NAME-PATH-STATE.bin`. PATH hashes the
/// source's path; STATE, for an archive, the file's size and mtime; for a folder, the name,
/// size and mtime of every entry `depth` levels down: [`IMAGE_FOLDER_DEPTH`] for an image
/// folder (its class folders' images), so that adding, removing or replacing one image reads
/// it again (a folder's own mtime only changes with its direct entries); 1 for a folder of IDX
/// or CIFAR files, which may be any folder holding them (`--data-dir ~/Downloads`), so as not
/// to walk what else it holds. A new STATE replaces the old file ([`remove_stale`]).
pub fn cache_path(name: &str, source: &Path, depth: usize) -> PathBuf {
    let canon = source
        .canonicalize()
        .unwrap_or_else(|_| source.to_path_buf());
    let mut h = DefaultHasher::new();
    canon.hash(&mut h);
    let place = h.finish();
    let mut h = DefaultHasher::new();
    if canon.is_dir() {
        hash_tree(&canon, depth.max(1)).hash(&mut h);
    } else {
        hash_stat(&canon, &mut h);
    }
    super::locate::cache_dir().join(format!("{name}-{place:016x}-{:016x}.bin", h.finish()))
}

/// Delete the other caches of `path`'s dataset and source (the same `NAME-PATH-` prefix, an
/// older STATE): a source that changed, or a dataset downloaded again, would otherwise leave
/// a stale copy behind each time (184 MB for CIFAR-10). Failures only leave a file behind.
pub fn remove_stale(path: &Path) {
    let (Some(dir), Some(file)) = (path.parent(), path.file_name().and_then(|f| f.to_str())) else {
        return;
    };
    let Some(prefix) = file.rsplit_once('-').map(|(p, _)| format!("{p}-")) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let state = name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".bin"));
        // Only this scheme's names: PREFIX then 16 hex digits (not a longer dataset name).
        if name != file
            && state.is_some_and(|s| s.len() == 16 && s.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// How deep an image folder's files are hashed: ROOT/{train,test}/<class>/<image> is 3, and
/// a class folder's own subfolders (read as that class) add to it; 8 covers five levels of
/// them and bounds the walk where a linked folder loops back up.
pub const IMAGE_FOLDER_DEPTH: usize = 8;

/// Hash the names, sizes and mtimes under `dir` (links followed, as the loaders follow
/// them), `depth` levels down, in name order. A folder's entry types come with its listing,
/// so only files and links cost a `stat`; entries are hashed in parallel, then combined in
/// order (60,000 CIFAR-10 JPEGs: about 0.1 s on 2 cores).
fn hash_tree(dir: &Path, depth: usize) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut entries: Vec<_> = entries
        .flatten()
        .map(|e| {
            let is_dir = match e.file_type() {
                Ok(t) if t.is_symlink() => e.path().is_dir(),
                Ok(t) => t.is_dir(),
                Err(_) => false,
            };
            (e.path(), is_dir)
        })
        .collect();
    entries.sort();
    let parts: Vec<u64> = entries
        .par_iter()
        .map(|(path, is_dir)| {
            let mut h = DefaultHasher::new();
            path.file_name().hash(&mut h);
            if !is_dir {
                hash_stat(path, &mut h);
            } else if depth > 1 {
                hash_tree(path, depth - 1).hash(&mut h);
            }
            h.finish()
        })
        .collect();
    let mut h = DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

fn hash_stat(path: &Path, h: &mut DefaultHasher) {
    if let Ok(m) = std::fs::metadata(path) {
        m.len().hash(h);
        if let Ok(t) = m.modified() {
            t.hash(h);
        }
    }
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
