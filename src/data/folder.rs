//! Image folders: `ROOT/{train,test}/<class>/*.{png,jpg}` (classes sorted by name), as a
//! directory or a `.tar.gz` of one. This is also how the CIFAR-10 JPEG copy is read.

use std::io::Read;
use std::path::{Path, PathBuf};

use image::DynamicImage;
use rayon::prelude::*;

use crate::data::dataset::Dataset;
use crate::data::layout::Layout;
use crate::error::{Error, Result};

/// One image file before decoding.
struct Entry {
    split: String,
    class: String,
    name: String,
    bytes: Vec<u8>,
}

/// Whether `path` looks like an image folder (or an archive of one).
pub fn is_image_folder(path: &Path) -> bool {
    if path.is_file() {
        let n = path.to_string_lossy();
        return n.ends_with(".tar.gz") || n.ends_with(".tgz");
    }
    folder_root(path).is_some()
}

/// ROOT itself, or its single subfolder, when it holds `train/`.
fn folder_root(path: &Path) -> Option<PathBuf> {
    if path.join("train").is_dir() {
        return Some(path.to_path_buf());
    }
    let subs: Vec<_> = std::fs::read_dir(path)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    match subs.as_slice() {
        [one] if one.join("train").is_dir() => Some(one.clone()),
        _ => None,
    }
}

fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

fn read_dir_entries(root: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for split in ["train", "test"] {
        let dir = root.join(split);
        if !dir.is_dir() {
            continue;
        }
        let classes = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        for class in classes.flatten().filter(|e| e.path().is_dir()) {
            let cname = class.file_name().to_string_lossy().into_owned();
            let files = std::fs::read_dir(class.path()).map_err(|e| Error::io(&class.path(), e))?;
            for f in files.flatten() {
                let name = f.file_name().to_string_lossy().into_owned();
                if is_hidden(&name) || !f.path().is_file() {
                    continue;
                }
                let bytes = std::fs::read(f.path()).map_err(|e| Error::io(&f.path(), e))?;
                out.push(Entry {
                    split: split.into(),
                    class: cname.clone(),
                    name: f.path().display().to_string(),
                    bytes,
                });
            }
        }
    }
    Ok(out)
}

fn read_archive_entries(path: &Path) -> Result<Vec<Entry>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let bad = |e: std::io::Error| Error::input(path.display(), format!("corrupt archive: {e}"));
    let mut out = Vec::new();
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let p = entry.path().map_err(bad)?.into_owned();
        let parts: Vec<String> = p
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        // .../<split>/<class>/<file>
        let n = parts.len();
        if n < 3 || !matches!(parts[n - 3].as_str(), "train" | "test") || is_hidden(&parts[n - 1]) {
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(bad)?;
        out.push(Entry {
            split: parts[n - 3].clone(),
            class: parts[n - 2].clone(),
            name: format!("{}:{}", path.display(), p.display()),
            bytes,
        });
    }
    Ok(out)
}

/// The class names (train/ subfolders, sorted); test/ must hold images of those only.
fn check_classes(path: &Path, entries: &[Entry]) -> Result<Vec<String>> {
    let mut classes: Vec<String> = entries
        .iter()
        .filter(|e| e.split == "train")
        .map(|e| e.class.clone())
        .collect();
    classes.dedup();
    if classes.is_empty() {
        return Err(Error::input(
            path.display(),
            "no training images found under train/<class>/",
        ));
    }
    if let Some(e) = entries.iter().find(|e| !classes.contains(&e.class)) {
        return Err(Error::input(
            &e.name,
            format!("class \"{}\" is in test/ but not in train/", e.class),
        ));
    }
    if !entries.iter().any(|e| e.split == "test") {
        return Err(Error::input(
            path.display(),
            "no test images found under test/<class>/",
        ));
    }
    if classes.len() > 256 {
        return Err(Error::input(
            path.display(),
            format!("{} classes; at most 256 are supported", classes.len()),
        ));
    }
    Ok(classes)
}

/// Load train and test from an image folder or its archive. Images are decoded in parallel,
/// resized to the size of the first train image and stored as grayscale only when every
/// image is grayscale.
pub fn load(path: &Path) -> Result<(Dataset, Dataset)> {
    load_as(path, &Layout::default())
}

/// [`load`], every image read straight into `layout` (its size and channels, where it asks
/// for them) from the decoded file, so a resized folder is resampled once.
pub fn load_as(path: &Path, layout: &Layout) -> Result<(Dataset, Dataset)> {
    let mut entries = if path.is_file() {
        read_archive_entries(path)?
    } else {
        let root = folder_root(path).ok_or_else(|| {
            Error::input(
                path.display(),
                "no train/ folder (expected ROOT/train/<class>/*.png and ROOT/test/<class>/*.png)",
            )
        })?;
        read_dir_entries(&root)?
    };
    entries.sort_by(|a, b| (&a.split, &a.class, &a.name).cmp(&(&b.split, &b.class, &b.name)));
    let classes = check_classes(path, &entries)?;

    let decoded: Vec<DynamicImage> = entries
        .par_iter()
        .map(|e| {
            image::load_from_memory(&e.bytes).map_err(|err| {
                Error::input(&e.name, format!("not a readable PNG/JPEG image ({err})"))
            })
        })
        .collect::<Result<_>>()?;
    let first = decoded
        .iter()
        .zip(&entries)
        .find(|(_, e)| e.split == "train")
        .map(|(d, _)| d)
        .expect("train is non-empty");
    let all_gray = decoded.iter().all(|d| !d.color().has_color());
    let natural_c = if all_gray { 1 } else { 3 };
    let natural = [natural_c, first.height() as usize, first.width() as usize];
    let [c, h, w] = layout.shape(natural);
    let (gray, w, h) = (c == 1, w as u32, h as u32);

    let mut train = Dataset {
        shape: [c, h as usize, w as usize],
        images: Vec::new(),
        labels: Vec::new(),
        classes: classes.clone(),
    };
    let mut test = train.clone();
    let pixels: Vec<Vec<u8>> = decoded
        .into_par_iter()
        .map(|img| to_chw(img, w, h, gray))
        .collect();
    for (e, px) in entries.iter().zip(pixels) {
        let label = classes
            .iter()
            .position(|c| *c == e.class)
            .expect("checked above") as u8;
        let ds = if e.split == "train" {
            &mut train
        } else {
            &mut test
        };
        ds.images.extend(px);
        ds.labels.push(label);
    }
    Ok((train, test))
}

/// Resize if needed and lay out as CHW bytes.
pub fn to_chw(img: DynamicImage, w: u32, h: u32, gray: bool) -> Vec<u8> {
    let img = if img.width() != w || img.height() != h {
        img.resize_exact(w, h, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    if gray {
        return img.into_luma8().into_raw();
    }
    let rgb = img.into_rgb8();
    let plane = (w * h) as usize;
    let mut out = vec![0u8; 3 * plane];
    for (i, px) in rgb.pixels().enumerate() {
        out[i] = px[0];
        out[plane + i] = px[1];
        out[2 * plane + i] = px[2];
    }
    out
}

/// The images to predict from command-line paths: a file as given (a bad one is reported
/// when it is read), a folder as every PNG/JPEG file under it, hidden names skipped, in name
/// order. A folder with none in it is an error naming it.
pub fn image_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if !path.is_dir() {
            out.push(path.clone());
            continue;
        }
        let before = out.len();
        collect_images(path, &mut out)?;
        if out.len() == before {
            return Err(Error::input(
                path.display(),
                "a folder with no .png, .jpg or .jpeg files in it",
            ));
        }
    }
    Ok(out)
}

fn collect_images(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .filter(|e| !is_hidden(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_images(&path, out)?;
        } else if has_image_extension(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "png" | "jpg" | "jpeg"))
}
