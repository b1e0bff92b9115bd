//! MNIST and Fashion-MNIST: the official IDX files, gzipped or not.

use std::io::Read;
use std::path::Path;

use crate::data::dataset::Dataset;
use crate::error::{Error, Result, read_file};

pub const IMAGE_MAGIC: u32 = 0x0000_0803;
pub const LABEL_MAGIC: u32 = 0x0000_0801;

/// The four files of a split pair, in the official names.
pub const FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Read a file, un-gzipping it when it starts with the gzip magic.
pub fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    let raw = read_file(path)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(|e| Error::input(path.display(), format!("corrupt gzip data: {e}")))?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Parse an IDX image file: returns (count, rows, cols, pixels).
pub fn parse_images(bytes: &[u8], origin: &str) -> Result<(usize, usize, usize, Vec<u8>)> {
    if bytes.len() < 16 {
        return Err(Error::input(
            origin,
            format!(
                "truncated IDX image file ({} bytes, header needs 16)",
                bytes.len()
            ),
        ));
    }
    let magic = be_u32(bytes, 0);
    if magic != IMAGE_MAGIC {
        return Err(Error::input(
            origin,
            format!("wrong magic 0x{magic:08x}, expected 0x{IMAGE_MAGIC:08x} for IDX images"),
        ));
    }
    let (n, rows, cols) = (
        be_u32(bytes, 4) as usize,
        be_u32(bytes, 8) as usize,
        be_u32(bytes, 12) as usize,
    );
    // A header of random bytes can multiply past usize: that is a wrong file, not a size.
    let want = n.checked_mul(rows).and_then(|v| v.checked_mul(cols));
    if want != Some(bytes.len() - 16) {
        return Err(Error::input(
            origin,
            format!(
                "header says {n} images of {rows}x{cols} but the file holds {} bytes of pixels (truncated?)",
                bytes.len() - 16
            ),
        ));
    }
    Ok((n, rows, cols, bytes[16..].to_vec()))
}

/// Parse an IDX label file, checking every label is below `classes`.
pub fn parse_labels(bytes: &[u8], classes: usize, origin: &str) -> Result<Vec<u8>> {
    if bytes.len() < 8 {
        return Err(Error::input(
            origin,
            format!(
                "truncated IDX label file ({} bytes, header needs 8)",
                bytes.len()
            ),
        ));
    }
    let magic = be_u32(bytes, 0);
    if magic != LABEL_MAGIC {
        return Err(Error::input(
            origin,
            format!("wrong magic 0x{magic:08x}, expected 0x{LABEL_MAGIC:08x} for IDX labels"),
        ));
    }
    let n = be_u32(bytes, 4) as usize;
    if bytes.len() - 8 != n {
        return Err(Error::input(
            origin,
            format!(
                "header says {n} labels but the file holds {} (truncated?)",
                bytes.len() - 8
            ),
        ));
    }
    let labels = bytes[8..].to_vec();
    if let Some((i, l)) = labels
        .iter()
        .enumerate()
        .find(|(_, l)| **l as usize >= classes)
    {
        return Err(Error::input(
            origin,
            format!("label {l} at index {i} is out of range (0..{classes})"),
        ));
    }
    Ok(labels)
}

/// Find `name` or `name.gz` in `dir`.
pub fn find_file(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    [dir.join(format!("{name}.gz")), dir.join(name)]
        .into_iter()
        .find(|p| p.is_file())
}

/// Whether `dir` holds the four IDX files.
pub fn has_files(dir: &Path) -> bool {
    FILES.iter().all(|f| find_file(dir, f).is_some())
}

fn load_split(dir: &Path, images: &str, labels: &str, classes: &[String]) -> Result<Dataset> {
    let ip = find_file(dir, images)
        .ok_or_else(|| Error::input(dir.join(images).display(), "missing"))?;
    let lp = find_file(dir, labels)
        .ok_or_else(|| Error::input(dir.join(labels).display(), "missing"))?;
    let (n, rows, cols, pixels) = parse_images(&read_maybe_gz(&ip)?, &ip.display().to_string())?;
    let labels = parse_labels(
        &read_maybe_gz(&lp)?,
        classes.len(),
        &lp.display().to_string(),
    )?;
    if labels.len() != n {
        return Err(Error::input(
            lp.display(),
            format!("{} labels for {n} images in {}", labels.len(), ip.display()),
        ));
    }
    Ok(Dataset {
        shape: [1, rows, cols],
        images: pixels,
        labels,
        classes: classes.to_vec(),
    })
}

/// Load train and test from a folder with the four official files.
pub fn load_dir(dir: &Path, classes: &[String]) -> Result<(Dataset, Dataset)> {
    Ok((
        load_split(dir, FILES[0], FILES[1], classes)?,
        load_split(dir, FILES[2], FILES[3], classes)?,
    ))
}
