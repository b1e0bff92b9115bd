//! CIFAR-10 in its two official layouts: the binary version (`cifar-10-binary.tar.gz` or the
//! unpacked `cifar-10-batches-bin/`) and the python version (`cifar-10-python.tar.gz` or
//! `cifar-10-batches-py/`, pickled dicts).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use crate::data::dataset::Dataset;
use crate::data::pickle;
use crate::error::{Error, Result, read_file};

pub const CLASSES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];
pub const RECORD: usize = 1 + 3 * 32 * 32;
const TRAIN_BATCHES: [&str; 5] = [
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
];

fn classes() -> Vec<String> {
    CLASSES.iter().map(|s| s.to_string()).collect()
}

/// Files of one archive or folder, by base name.
fn read_members(path: &Path) -> Result<HashMap<String, Vec<u8>>> {
    let mut files = HashMap::new();
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| Error::io(path, e))?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_file() {
                files.insert(
                    entry.file_name().to_string_lossy().into_owned(),
                    read_file(&p)?,
                );
            }
        }
    } else {
        let raw = read_file(path)?;
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&raw[..]));
        let bad = |e: std::io::Error| Error::input(path.display(), format!("corrupt archive: {e}"));
        for entry in archive.entries().map_err(bad)? {
            let mut entry = entry.map_err(bad)?;
            let name = entry
                .path()
                .map_err(bad)?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            if let Some(name) = name.filter(|_| entry.header().entry_type().is_file()) {
                let mut buf = Vec::new();
                entry.read_to_end(&mut buf).map_err(bad)?;
                files.insert(name, buf);
            }
        }
    }
    Ok(files)
}

/// Parse binary records (label byte + 3072 pixel bytes, channel planes R, G, B).
pub fn parse_binary(bytes: &[u8], origin: &str) -> Result<Dataset> {
    if bytes.is_empty() || !bytes.len().is_multiple_of(RECORD) {
        return Err(Error::input(
            origin,
            format!(
                "size {} bytes is not a multiple of the {RECORD}-byte CIFAR-10 record",
                bytes.len()
            ),
        ));
    }
    let n = bytes.len() / RECORD;
    let mut images = Vec::with_capacity(n * (RECORD - 1));
    let mut labels = Vec::with_capacity(n);
    for (i, rec) in bytes.chunks_exact(RECORD).enumerate() {
        if rec[0] >= 10 {
            return Err(Error::input(
                origin,
                format!("label {} of record {i} is out of range (0..10)", rec[0]),
            ));
        }
        labels.push(rec[0]);
        images.extend_from_slice(&rec[1..]);
    }
    Ok(Dataset {
        shape: [3, 32, 32],
        images,
        labels,
        classes: classes(),
    })
}

/// Parse one python batch (a pickled dict with `data` [N, 3072] uint8 and `labels`).
pub fn parse_python(bytes: &[u8], origin: &str) -> Result<Dataset> {
    let bad = |p: String| Error::input(origin, p);
    let dict =
        pickle::parse(bytes).map_err(|e| bad(format!("not a CIFAR-10 python batch: {e}")))?;
    let (dims, data) = dict
        .get("data")
        .and_then(|d| d.as_ndarray())
        .ok_or_else(|| bad("no `data` array in the pickled batch".into()))?;
    let labels = dict
        .get("labels")
        .and_then(|l| l.as_int_list())
        .ok_or_else(|| bad("no `labels` list in the pickled batch".into()))?;
    if dims.len() != 2 || dims[1] != 3072 || data.len() != dims[0] * 3072 {
        return Err(bad(format!(
            "`data` has shape {dims:?} and {} bytes, expected [N, 3072]",
            data.len()
        )));
    }
    if labels.len() != dims[0] {
        return Err(bad(format!(
            "{} labels for {} images",
            labels.len(),
            dims[0]
        )));
    }
    if let Some((i, l)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| !(0..10).contains(*l))
    {
        return Err(bad(format!(
            "label {l} of image {i} is out of range (0..10)"
        )));
    }
    Ok(Dataset {
        shape: [3, 32, 32],
        images: data.to_vec(),
        labels: labels.iter().map(|&l| l as u8).collect(),
        classes: classes(),
    })
}

fn concat(parts: Vec<Dataset>) -> Dataset {
    let mut out = Dataset {
        shape: [3, 32, 32],
        images: Vec::new(),
        labels: Vec::new(),
        classes: classes(),
    };
    for p in parts {
        out.images.extend(p.images);
        out.labels.extend(p.labels);
    }
    out
}

/// Load from the binary layout (archive or folder).
pub fn load_binary(path: &Path) -> Result<(Dataset, Dataset)> {
    let files = read_members(path)?;
    let get = |name: String| {
        let bytes = files
            .get(&name)
            .ok_or_else(|| Error::input(path.display(), format!("{name} missing")))?;
        parse_binary(bytes, &format!("{}/{name}", path.display()))
    };
    let train = TRAIN_BATCHES
        .iter()
        .map(|b| get(format!("{b}.bin")))
        .collect::<Result<Vec<_>>>()?;
    Ok((concat(train), get("test_batch.bin".into())?))
}

/// Load from the python layout (archive or folder).
pub fn load_python(path: &Path) -> Result<(Dataset, Dataset)> {
    let files = read_members(path)?;
    let get = |name: &str| {
        let bytes = files
            .get(name)
            .ok_or_else(|| Error::input(path.display(), format!("{name} missing")))?;
        parse_python(bytes, &format!("{}/{name}", path.display()))
    };
    let train = TRAIN_BATCHES
        .iter()
        .map(|b| get(b))
        .collect::<Result<Vec<_>>>()?;
    Ok((concat(train), get("test_batch")?))
}
