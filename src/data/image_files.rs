//! The image formats convlab reads, and the image files of command-line paths (`convlab
//! predict`): files as given, folders as the image files under them.

use std::path::{Path, PathBuf};

use super::folder_entries::is_hidden;
use crate::error::{Error, Result};

/// File extensions read as images: torchvision's `ImageFolder` list (jpg, jpeg, png, ppm,
/// bmp, pgm, tif, tiff, webp) plus Keras' gif. The `image` crate's features in Cargo.toml
/// decode each of them; an animated GIF gives its first frame.
pub const IMAGE_EXTENSIONS: &[&str] = &[
    "png", "jpg", "jpeg", "bmp", "gif", "webp", "tif", "tiff", "ppm", "pgm",
];

/// Decode image bytes to the pixels PIL gives: a JPEG (sequential or progressive, 8-bit
/// Huffman-coded) by [`super::jpeg`], which rounds as libjpeg-turbo does; anything else,
/// and a JPEG that decoder leaves alone, by the image crate (lossless formats give the same
/// pixels either way).
pub fn decode_image(bytes: &[u8]) -> image::ImageResult<image::DynamicImage> {
    match super::jpeg::decode(bytes) {
        Some(img) => Ok(img),
        None => image::load_from_memory(bytes),
    }
}

/// The error text for bytes that do not decode as an image, naming the formats read. An
/// image past the decoder's memory limit (the image crate's 512 MiB, which keeps a small
/// file of huge dimensions from taking the machine's memory) is readable, only too large.
pub fn unreadable_image(err: &image::ImageError) -> String {
    if let image::ImageError::Limits(_) = err {
        return "too large to decode (more than 512 MiB of pixels); resize it first".into();
    }
    let detail = err.to_string();
    format!(
        "not a readable image: PNG, JPEG, BMP, GIF, WebP, TIFF, PPM or PGM ({})",
        detail.trim()
    )
}

/// The images to predict from command-line paths: a file as given (a bad one is reported
/// when it is read), a folder as every file under it with an [`IMAGE_EXTENSIONS`] name,
/// hidden names skipped, in name order. A folder with none in it is an error naming it.
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
                format!(
                    "a folder with no image files in it (.{})",
                    IMAGE_EXTENSIONS.join(", .")
                ),
            ));
        }
    }
    Ok(out)
}

/// Linked folders are not followed (Keras' `follow_links=False`): a link back up the tree
/// would otherwise recurse without end. Linked files are read.
fn collect_images(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .filter(|e| !is_hidden(&e.file_name().to_string_lossy()))
        .map(|e| (e.path(), e.file_type().is_ok_and(|t| t.is_dir())))
        .collect();
    entries.sort();
    for (path, is_dir) in entries {
        if is_dir {
            collect_images(&path, out)?;
        } else if path.is_file() && has_image_extension(&path) {
            out.push(path);
        }
    }
    Ok(())
}

/// Whether `path`'s extension is one of [`IMAGE_EXTENSIONS`], in any case.
pub(super) fn has_image_extension(path: &Path) -> bool {
    path.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.as_str()))
}

/// A folder given as an image folder whose class folders hold no images. Images loose in it
/// are the usual slip (the folder of one class given for the whole dataset): say so.
pub fn no_class_folders(root: &Path) -> Error {
    let loose = std::fs::read_dir(root).map_or(0, |entries| {
        let files = entries.flatten().map(|e| e.path());
        files
            .filter(|p| p.is_file() && has_image_extension(p))
            .count()
    });
    let layout = "ROOT/train/<class>/ and ROOT/test/<class>/, or ROOT/<class>/";
    let problem = if loose > 0 {
        format!(
            "{} but no class folders: an image folder keeps each class's images in a folder \
             named after it ({layout})",
            crate::text::counted(loose, "image")
        )
    } else {
        format!("no images in {layout}")
    };
    Error::input(root.display(), problem)
}
