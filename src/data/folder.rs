//! Image folders, as a directory or a `.tar.gz` of one, classes sorted by name:
//! `ROOT/{train,test}/<class>/*.{png,jpg,...}` (how the CIFAR-10 JPEG copy is read), or
//! `ROOT/<class>/*` with no split, as Keras' `image_dataset_from_directory` and fastai's
//! `from_folder` take it: then a share of each class's files, spread evenly over them in
//! name order, is the test set (`data.test_fraction`), the same whatever the seed.

use std::io::Read;
use std::path::{Path, PathBuf};

use image::DynamicImage;
use rayon::prelude::*;

use crate::data::dataset::Dataset;
use crate::data::image_files::{no_class_folders, unreadable_image};
use crate::data::layout::Layout;
use crate::error::{Error, Result};

/// One image file before decoding.
struct Entry {
    split: String,
    class: String,
    name: String,
    content: Content,
}

/// A folder's file is read when it is decoded, so a folder of large photos is never in
/// memory whole; an archive's members can only be read in order, up front.
enum Content {
    File(PathBuf),
    Bytes(Vec<u8>),
}

impl Entry {
    fn bytes(&self) -> Result<std::borrow::Cow<'_, [u8]>> {
        match &self.content {
            Content::File(p) => Ok(std::fs::read(p).map_err(|e| Error::io(p, e))?.into()),
            Content::Bytes(b) => Ok(b.as_slice().into()),
        }
    }

    fn unreadable(&self, err: image::ImageError) -> Error {
        Error::input(&self.name, unreadable_image(&err))
    }

    fn decode(&self) -> Result<DynamicImage> {
        image::load_from_memory(&self.bytes()?).map_err(|e| self.unreadable(e))
    }

    /// (width, height) from the file's header, without decoding its pixels.
    fn dimensions(&self) -> Result<(u32, u32)> {
        let bytes = self.bytes()?;
        image::ImageReader::new(std::io::Cursor::new(&bytes[..]))
            .with_guessed_format()
            .map_err(|e| self.unreadable(e.into()))?
            .into_dimensions()
            .map_err(|e| self.unreadable(e))
    }
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

/// Dot-files and dot-folders (.DS_Store, .thumbs) are not part of a dataset.
pub(super) fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

fn read_dir_entries(root: &Path) -> Result<Vec<Entry>> {
    let mut out = Vec::new();
    for split in ["train", "test"] {
        let dir = root.join(split);
        if dir.is_dir() {
            read_classes(&dir, split, &mut out)?;
        }
    }
    Ok(out)
}

/// Every file of every `<class>/` subfolder of `dir` and of the folders inside it (hidden
/// names skipped), as `split`: torchvision's `ImageFolder` and Keras' `follow_links=False`
/// walk a class folder's subfolders too, so `dog/2019/*.jpg` is a dog.
fn read_classes(dir: &Path, split: &str, out: &mut Vec<Entry>) -> Result<()> {
    let classes = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for class in classes.flatten().filter(|e| e.path().is_dir()) {
        let cname = class.file_name().to_string_lossy().into_owned();
        if is_hidden(&cname) {
            continue;
        }
        read_class_files(&class.path(), split, &cname, out)?;
    }
    Ok(())
}

/// Linked folders inside a class are not followed (a link back up would recurse without
/// end); linked files are read.
fn read_class_files(dir: &Path, split: &str, class: &str, out: &mut Vec<Entry>) -> Result<()> {
    let files = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for f in files.flatten() {
        if is_hidden(&f.file_name().to_string_lossy()) {
            continue;
        }
        let path = f.path();
        if f.file_type().is_ok_and(|t| t.is_dir()) {
            read_class_files(&path, split, class, out)?;
        } else if path.is_file() {
            out.push(Entry {
                split: split.into(),
                class: class.into(),
                name: path.display().to_string(),
                content: Content::File(path),
            });
        }
    }
    Ok(())
}

/// Of each class's files in name order, the i-th (from 0) is a test image when
/// floor((i + 1) f) > floor(i f): floor(n f) of n, spread evenly, never the first, so every
/// class keeps a training image.
fn split_by_class(entries: &mut [Entry], test_fraction: f64) {
    entries.sort_by(|a, b| (&a.class, &a.name).cmp(&(&b.class, &b.name)));
    let mut i = 0;
    for k in 0..entries.len() {
        if k > 0 && entries[k].class != entries[k - 1].class {
            i = 0;
        }
        let test = ((i + 1) as f64 * test_fraction).floor() > (i as f64 * test_fraction).floor();
        entries[k].split = if test { "test" } else { "train" }.into();
        i += 1;
    }
}

fn read_archive_entries(path: &Path) -> Result<Vec<Entry>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let bad = |e: std::io::Error| Error::input(path.display(), format!("corrupt archive: {e}"));
    let mut files = Vec::new();
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
        if parts.len() < 2 || parts.iter().any(|p| is_hidden(p)) {
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(bad)?;
        let name = format!("{}:{}", path.display(), p.display());
        files.push((parts, name, bytes));
    }
    let (split_at, class_at) = archive_levels(&files);
    Ok(files
        .into_iter()
        .filter_map(|(parts, name, bytes)| {
            let split = match split_at {
                Some(k) => match parts.get(k).map(String::as_str) {
                    Some(s @ ("train" | "test")) => s.to_string(),
                    _ => return None,
                },
                None => String::new(),
            };
            // Deeper files belong to their class folder's subfolders, as in a directory.
            (parts.len() >= class_at + 2).then(|| Entry {
                split,
                class: parts[class_at].clone(),
                name,
                content: Content::Bytes(bytes),
            })
        })
        .collect())
}

/// Where an archive's split (`train`/`test`) and class names sit in its member paths: with
/// a split, just inside the shallowest of the members' innermost `train`/`test` folders
/// that has a class folder inside it; without, just inside the folder all members share (a
/// wrapping `photos/`), as a directory's `ROOT/<class>/`: a README or an image beside the
/// class folders is not a class, and a class's subfolders are not classes either.
fn archive_levels(files: &[(Vec<String>, String, Vec<u8>)]) -> (Option<usize>, usize) {
    let split_at = files
        .iter()
        .filter_map(|(parts, _, _)| {
            (0..parts.len().saturating_sub(2))
                .rev()
                .find(|&i| matches!(parts[i].as_str(), "train" | "test"))
        })
        .min();
    if let Some(k) = split_at {
        return (Some(k), k + 1);
    }
    let shared = files
        .iter()
        .map(|(parts, _, _)| &parts[..parts.len() - 1])
        .reduce(|a, b| &a[..a.iter().zip(b).take_while(|(x, y)| x == y).count()])
        .map_or(0, <[String]>::len);
    // All in one folder: it is the one class (which check_classes then names).
    let deep_enough = files.iter().any(|(parts, _, _)| parts.len() >= shared + 2);
    (
        None,
        if deep_enough {
            shared
        } else {
            shared.saturating_sub(1)
        },
    )
}

/// The class names (train/ subfolders, sorted); test/ must hold images of those only.
/// The class names (those of train/, or of every image when all are test images), checked.
fn check_classes(path: &Path, entries: &[Entry], all_test: bool) -> Result<Vec<String>> {
    let mut classes: Vec<String> = entries
        .iter()
        .filter(|e| all_test || e.split == "train")
        .map(|e| e.class.clone())
        .collect();
    classes.dedup();
    if all_test {
        return Ok(classes);
    }
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
    if let [only] = classes.as_slice() {
        return Err(Error::input(
            path.display(),
            format!("one class only (\"{only}\"): a classifier needs two class folders or more"),
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
/// image is grayscale. A folder without train/ and test/ gives a fifth of each class to test.
pub fn load(path: &Path) -> Result<(Dataset, Dataset)> {
    load_as(path, &Layout::default(), DEFAULT_TEST_FRACTION)
}

/// `data.test_fraction`'s default: fastai's `valid_pct` and the usual Keras split.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;

/// [`load`], every image read straight into `layout` (its size and channels, where it asks
/// for them) from the decoded file, so a resized folder is resampled once; a folder without
/// train/ and test/ holds out `test_fraction` of each class for test (1: every image, for
/// evaluating a model on a folder it never saw).
pub fn load_as(path: &Path, layout: &Layout, test_fraction: f64) -> Result<(Dataset, Dataset)> {
    let mut entries = if path.is_file() {
        read_archive_entries(path)?
    } else if let Some(root) = folder_root(path) {
        read_dir_entries(&root)?
    } else {
        let mut flat = Vec::new();
        read_classes(path, "", &mut flat)?;
        if flat.is_empty() {
            return Err(no_class_folders(path));
        }
        flat
    };
    let flat = entries.iter().any(|e| e.split.is_empty());
    if flat {
        split_by_class(&mut entries, test_fraction);
    }
    entries.sort_by(|a, b| (&a.split, &a.class, &a.name).cmp(&(&b.split, &b.class, &b.name)));
    if flat && !entries.iter().any(|e| e.split == "test") {
        return Err(Error::input(
            path.display(),
            format!(
                "no test images: with data.test_fraction = {test_fraction}, a class needs at \
                 least {} images (or give ROOT/train/ and ROOT/test/)",
                (1.0 / test_fraction).ceil()
            ),
        ));
    }
    let classes = check_classes(path, &entries, flat && test_fraction >= 1.0)?;

    // The size comes from the first training image's header (or the layout); each image is
    // then decoded and resized at once, so only images of that size are held.
    let (w, h) = match layout.size {
        Some([h, w]) => (w as u32, h as u32),
        None => entries
            .iter()
            .find(|e| e.split == "train")
            .or(entries.first())
            .expect("check_classes found images")
            .dimensions()?,
    };
    let decoded: Vec<DynamicImage> = entries
        .par_iter()
        .map(|e| Ok(resized(e.decode()?, w, h)))
        .collect::<Result<_>>()?;
    let all_gray = decoded.iter().all(|d| !d.color().has_color());
    let natural_c = if all_gray { 1 } else { 3 };
    let [c, h, w] = layout.shape([natural_c, h as usize, w as usize]);
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

/// `img` squashed to w x h (Triangle filter), unless it has that size already.
fn resized(img: DynamicImage, w: u32, h: u32) -> DynamicImage {
    if img.width() != w || img.height() != h {
        img.resize_exact(w, h, image::imageops::FilterType::Triangle)
    } else {
        img
    }
}

/// Resize if needed and lay out as CHW bytes.
pub fn to_chw(img: DynamicImage, w: u32, h: u32, gray: bool) -> Vec<u8> {
    let img = resized(img, w, h);
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
