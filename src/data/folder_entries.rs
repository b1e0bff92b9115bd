//! Which files of an image folder (or its `.tar.gz`) are its images: every file under a
//! class folder whose name ends in an image extension, as torchvision's `ImageFolder` and
//! Keras' `image_dataset_from_directory` list them. Other files in the class folders (a
//! Windows `Thumbs.db`, a `labels.csv`) are skipped, counted and one named in a warning
//! (`folder::load_as`), so a folder copied from a desktop loads instead of failing on a file
//! that was never an image; a file with an image's name that does not decode is still an
//! error naming it.

use std::io::Read;
use std::path::{Path, PathBuf};

use image::DynamicImage;

use crate::data::image_files::{has_image_extension, unreadable_image};
use crate::error::{Error, Result};

/// The image files found, and the other files skipped (their paths).
#[derive(Default)]
pub(super) struct Found {
    pub entries: Vec<Entry>,
    pub skipped: Vec<String>,
}

/// One image file before decoding.
pub(super) struct Entry {
    pub split: String,
    pub class: String,
    pub name: String,
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

    pub fn decode(&self) -> Result<DynamicImage> {
        super::image_files::decode_image(&self.bytes()?).map_err(|e| self.unreadable(e))
    }

    /// (width, height) from the file's header, without decoding its pixels.
    pub fn dimensions(&self) -> Result<(u32, u32)> {
        let bytes = self.bytes()?;
        image::ImageReader::new(std::io::Cursor::new(&bytes[..]))
            .with_guessed_format()
            .map_err(|e| self.unreadable(e.into()))?
            .into_dimensions()
            .map_err(|e| self.unreadable(e))
    }
}

/// Dot-files and dot-folders (.DS_Store, .thumbs) are not part of a dataset.
pub(super) fn is_hidden(name: &str) -> bool {
    name.starts_with('.')
}

/// train/<class>/ and test/<class>/ of ROOT.
pub(super) fn read_dir_entries(root: &Path) -> Result<Found> {
    let mut out = Found::default();
    for split in ["train", "test"] {
        let dir = root.join(split);
        if dir.is_dir() {
            read_classes(&dir, split, &mut out)?;
        }
    }
    Ok(out)
}

/// Every image file of every `<class>/` subfolder of `dir` and of the folders inside it
/// (hidden names skipped), as `split`: torchvision's `ImageFolder` and Keras' `follow_links=False`
/// walk a class folder's subfolders too, so `dog/2019/*.jpg` is a dog.
pub(super) fn read_classes(dir: &Path, split: &str, out: &mut Found) -> Result<()> {
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
fn read_class_files(dir: &Path, split: &str, class: &str, out: &mut Found) -> Result<()> {
    let files = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for f in files.flatten() {
        if is_hidden(&f.file_name().to_string_lossy()) {
            continue;
        }
        let path = f.path();
        if f.file_type().is_ok_and(|t| t.is_dir()) {
            read_class_files(&path, split, class, out)?;
        } else if path.is_file() && !has_image_extension(&path) {
            out.skipped.push(path.display().to_string());
        } else if path.is_file() {
            out.entries.push(Entry {
                split: split.into(),
                class: class.into(),
                name: path.display().to_string(),
                content: Content::File(path),
            });
        }
    }
    Ok(())
}

pub(super) fn read_archive_entries(path: &Path) -> Result<Found> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut archive =
        tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::new(file)));
    let bad = |e: std::io::Error| Error::input(path.display(), format!("corrupt archive: {e}"));
    let (mut files, mut skipped) = (Vec::new(), Vec::new());
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
        let name = format!("{}:{}", path.display(), p.display());
        if !has_image_extension(&p) {
            skipped.push((parts, name));
            continue;
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry.read_to_end(&mut bytes).map_err(bad)?;
        files.push((parts, name, bytes));
    }
    let (split_at, class_at) = archive_levels(&files);
    // The split a member at `parts` is in, when it lies inside a class folder (deeper files
    // belong to their class folder's subfolders, as in a directory).
    let split_of = |parts: &[String]| {
        let split = match split_at {
            Some(k) => match parts.get(k).map(String::as_str) {
                Some(s @ ("train" | "test")) => s.to_string(),
                _ => return None,
            },
            None => String::new(),
        };
        (parts.len() >= class_at + 2).then_some(split)
    };
    let entries = files
        .into_iter()
        .filter_map(|(parts, name, bytes)| {
            Some(Entry {
                split: split_of(&parts)?,
                class: parts[class_at].clone(),
                name,
                content: Content::Bytes(bytes),
            })
        })
        .collect();
    // Only files in the class folders are skipped ones, as a directory's listing counts them.
    let skipped = skipped
        .into_iter()
        .filter_map(|(parts, name)| split_of(&parts).map(|_| name))
        .collect();
    Ok(Found { entries, skipped })
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
