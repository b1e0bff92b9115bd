//! Image folders, as a directory or a `.tar.gz` of one, classes sorted by name:
//! `ROOT/{train,test}/<class>/*.{png,jpg,...}` (how the CIFAR-10 JPEG copy is read), or
//! `ROOT/<class>/*` with no split, as Keras' `image_dataset_from_directory` and fastai's
//! `from_folder` take it: then a share of each class's files, spread evenly over them in
//! name order, is the test set (`data.test_fraction`), the same whatever the seed.

use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, RgbImage};
use rayon::prelude::*;

use crate::data::dataset::Dataset;
use crate::data::folder_entries::{
    Entry, Found, read_archive_entries, read_classes, read_dir_entries,
};
use crate::data::image_files::{IMAGE_EXTENSIONS, no_class_folders};
use crate::data::layout::Layout;
use crate::data::resize;
use crate::error::{Error, Result};

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

/// Files in the class folders not named as images: skipped, and said on one line.
fn warn_skipped(path: &Path, skipped: &[String]) {
    if let Some(first) = skipped.first() {
        eprintln!(
            "warning: {}: skipped {} not named as an image (.{}), e.g. {first}",
            path.display(),
            crate::text::counted(skipped.len(), "file"),
            IMAGE_EXTENSIONS.join(", .")
        );
    }
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
    let (entries, classes) = listed(path, test_fraction)?;

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
    // A folder asked for in gray is converted before the resize, as PIL's pipeline does.
    let to_gray = layout.channels == Some(1);
    let decoded: Vec<DynamicImage> = entries
        .par_iter()
        .map(|e| Ok(resized(e.decode()?, w, h, to_gray)))
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

/// The class names of the folder or archive at `path`, found as [`load_as`] finds them
/// (with its errors) but without decoding an image: what `finetune` sizes its head by.
pub fn class_names(path: &Path, test_fraction: f64) -> Result<Vec<String>> {
    Ok(listed(path, test_fraction)?.1)
}

/// The files of the folder or archive at `path` (sorted; a folder without train/ and test/
/// split by `test_fraction`) and its class names.
fn listed(path: &Path, test_fraction: f64) -> Result<(Vec<Entry>, Vec<String>)> {
    // (the files found, whether `path` is a directory of class folders with no split)
    let (found, classes_only) = if path.is_file() {
        (read_archive_entries(path)?, false)
    } else if let Some(root) = folder_root(path) {
        (read_dir_entries(&root)?, false)
    } else {
        let mut flat = Found::default();
        read_classes(path, "", &mut flat)?;
        (flat, true)
    };
    warn_skipped(path, &found.skipped);
    let mut entries = found.entries;
    if classes_only && entries.is_empty() {
        return Err(no_class_folders(path));
    }
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
    Ok((entries, classes))
}

/// `img` as 8-bit RGB, or 8-bit gray where it has no colour or `gray` asks for it
/// ([`luma_601`]), as PIL's `convert` gives it; then squashed to w x h as PIL's
/// `resize(BILINEAR)` does (torchvision's `Resize`), unless it has that size already.
/// Converting first is PIL's order (`ImageFolder` opens with `convert("RGB")`; Keras'
/// `load_img(color_mode="grayscale")` converts, then resizes).
fn resized(img: DynamicImage, w: u32, h: u32, gray: bool) -> DynamicImage {
    let from = (img.width() as usize, img.height() as usize);
    let to = (w as usize, h as usize);
    let (px, c) = if gray || !img.color().has_color() {
        (luma_601(img).into_raw(), 1)
    } else {
        (img.into_rgb8().into_raw(), 3)
    };
    let px = if from == to {
        px
    } else {
        resize::bilinear(&px, c, from, to)
    };
    match c {
        1 => GrayImage::from_raw(w, h, px).expect("w * h bytes").into(),
        _ => RgbImage::from_raw(w, h, px)
            .expect("3 * w * h bytes")
            .into(),
    }
}

/// Convert and resize (as `resized` does), then lay out as CHW bytes; `gray`: one channel.
pub fn to_chw(img: DynamicImage, w: u32, h: u32, gray: bool) -> Vec<u8> {
    let img = resized(img, w, h, gray);
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

/// Gray as PIL's `convert("L")` makes it, which torchvision's `Grayscale` and Keras'
/// `color_mode="grayscale"` call: ITU-R 601-2 luma in 16-bit fixed point,
/// L = (19595 R + 38470 G + 7471 B + 2^15) >> 16. The image crate's `into_luma8` weighs
/// sRGB's luminance instead (0.2126, 0.7152, 0.0722): pure red is 54 there, 76 here and in
/// PIL. Gray pixels (R = G = B) keep their value either way.
pub fn luma_601(img: DynamicImage) -> GrayImage {
    if let DynamicImage::ImageLuma8(gray) = img {
        return gray;
    }
    let rgb = img.into_rgb8();
    let (w, h) = rgb.dimensions();
    let luma = rgb
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0.map(u32::from);
            ((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16) as u8
        })
        .collect();
    GrayImage::from_raw(w, h, luma).expect("one byte per pixel")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `class_names` (what finetune sizes its head by) lists the folder without decoding:
    /// a file that does not decode stops `load`, naming it, but not the listing.
    #[test]
    fn class_names_come_from_the_listing_alone() {
        let dir = tempfile::tempdir().expect("temp dir");
        for (class, n) in [("cat", 5), ("dog", 6)] {
            std::fs::create_dir(dir.path().join(class)).expect("class folder");
            for i in 0..n {
                let img = image::RgbImage::from_pixel(4, 4, image::Rgb([i * 40, 0, 9]));
                img.save(dir.path().join(format!("{class}/{i}.png")))
                    .expect("png");
            }
        }
        std::fs::write(dir.path().join("dog/broken.png"), b"not a png").expect("write");
        let names = class_names(dir.path(), DEFAULT_TEST_FRACTION).expect("listed");
        assert_eq!(names, ["cat", "dog"]);
        let err = load(dir.path())
            .expect_err("broken.png does not decode")
            .to_string();
        assert!(err.contains("broken.png"), "{err}");
    }
}
