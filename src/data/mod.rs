//! Datasets (IDX, CIFAR-10 binary/python, image folders), where to find them, the decoded
//! cache, train-only transforms and the background batch loader.

pub mod cache;
pub mod cifar;
pub mod config;
pub mod dataset;
pub mod erase;
pub mod folder;
mod folder_entries;
pub mod idx;
pub mod image_files;
pub mod jitter;
pub mod jpeg;
pub mod layout;
pub mod loader;
pub mod locate;
pub mod pickle;
pub mod resident;
pub mod resize;
pub mod rotate;
pub mod transform;

use std::path::PathBuf;

use rand::SeedableRng;
use rand::seq::SliceRandom;

pub use dataset::{Dataset, Splits};

use crate::error::{Error, Result};
use crate::seed::{Stream, derive_seed};
pub use config::{ColorMode, DataConfig, DatasetName};
use locate::Source;

pub const FASHION_CLASSES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

/// Class names of an IDX dataset (MNIST's are its digits).
fn idx_class_names(name: DatasetName) -> Vec<String> {
    match name {
        DatasetName::FashionMnist => FASHION_CLASSES.iter().map(|s| s.to_string()).collect(),
        _ => (0..10).map(|d| d.to_string()).collect(),
    }
}

/// Decode a dataset from its source (no cache); an image folder's images are read straight
/// into `cfg`'s layout, with its test fraction where the folder has no split; the others
/// keep their own layout (see [`load`]).
pub fn decode(cfg: &DataConfig, source: &Source) -> Result<Splits> {
    let name = cfg.dataset;
    let (train, test) = match source {
        Source::Idx(dir) => idx::load_dir(dir, &idx_class_names(name))?,
        Source::CifarBinary(p) => cifar::load_binary(p)?,
        Source::CifarPython(p) => cifar::load_python(p)?,
        Source::Folder(p) => folder::load_as(p, &cfg.layout(), cfg.test_fraction)?,
    };
    if train.shape != test.shape {
        return Err(Error::input(
            source.path().display(),
            format!(
                "train images are {:?} but test images are {:?}",
                train.shape, test.shape
            ),
        ));
    }
    Ok(Splits {
        name: name.to_string(),
        train,
        test,
    })
}

/// Where to look for named datasets, and whether to download them when they are missing.
#[derive(Debug, Clone, Default)]
pub struct Lookup {
    /// Searched first (then $CONVLAB_DATA, the cache dir, /usr/share/datasets).
    pub data_dir: Option<PathBuf>,
    pub download: bool,
}

/// Where the configured dataset is (downloading it with `lookup.download`), or the one-line
/// error that says where it was looked for; nothing is decoded.
pub fn find(cfg: &DataConfig, lookup: &Lookup) -> Result<Source> {
    Ok(match (cfg.dataset, &cfg.path) {
        (DatasetName::Folder, Some(p)) => {
            if !p.exists() {
                let from = match std::env::current_dir() {
                    Ok(cwd) if p.is_relative() => {
                        format!(
                            " (a relative path is read from the current folder, {})",
                            cwd.display()
                        )
                    }
                    _ => String::new(),
                };
                return Err(Error::input(
                    p.display(),
                    format!("image folder not found{from}"),
                ));
            }
            Source::Folder(p.clone())
        }
        (name, _) => locate::locate(name, lookup.data_dir.as_deref(), lookup.download)?,
    })
}

/// Load the configured dataset, through the decoded cache, in the layout the config asks for
/// (`data.image_size`, `data.color_mode`). An image folder is decoded into it and cached so;
/// a built-in dataset is cached as published and converted after.
pub fn load(cfg: &DataConfig, lookup: &Lookup) -> Result<Splits> {
    let source = find(cfg, lookup)?;
    let layout = cfg.layout();
    // A folder is cached as decoded (layout and split included); a built-in set as published.
    let (cache_name, decoded_as) = match source {
        Source::Folder(_) => (
            format!("{}{}-t{}", cfg.dataset, layout.key(), cfg.test_fraction),
            cfg.clone(),
        ),
        _ => (
            cfg.dataset.to_string(),
            DataConfig {
                image_size: None,
                color_mode: ColorMode::Auto,
                ..cfg.clone()
            },
        ),
    };
    let depth = match source {
        Source::Folder(_) => cache::IMAGE_FOLDER_DEPTH,
        _ => 1,
    };
    let cache = cache::cache_path(&cache_name, source.path(), depth);
    let mut splits = match cache::read(&cache) {
        Some(s) => s,
        None => {
            let s = decode(&decoded_as, &source)?;
            match cache::write(&cache, &s) {
                Ok(()) => cache::remove_stale(&cache),
                Err(e) => tracing::warn!("could not write the dataset cache: {e}"),
            }
            s
        }
    };
    splits.train.limit(cfg.limit_train);
    splits.test.limit(cfg.limit_test);
    layout.apply(&mut splits.train);
    layout.apply(&mut splits.test);
    Ok(splits)
}

/// How many of `len` training images `fraction` asks for as validation (rounded); no split
/// is made when that is 0 or all of them.
pub fn validation_count(len: usize, fraction: f64) -> usize {
    (len as f64 * fraction).round() as usize
}

/// Carve a seeded validation split off `train`: returns (train, val).
pub fn split_validation(train: &Dataset, fraction: f64, seed: u64) -> (Dataset, Option<Dataset>) {
    let n_val = validation_count(train.len(), fraction);
    if n_val == 0 || n_val >= train.len() {
        return (train.clone(), None);
    }
    let mut idx: Vec<usize> = (0..train.len()).collect();
    idx.shuffle(&mut rand::rngs::StdRng::seed_from_u64(derive_seed(
        seed,
        Stream::ValidationSplit,
    )));
    let (val, tr) = idx.split_at(n_val);
    let (mut val, mut tr) = (val.to_vec(), tr.to_vec());
    val.sort_unstable();
    tr.sort_unstable();
    (train.select(&tr), Some(train.select(&val)))
}

/// The number of classes of the image folder `cfg` names, from its listing: no image is
/// decoded here, so the run that follows decodes the folder once, and its "loaded in" time
/// is the decoding's (it said 0.00s, read back from the cache, after this had decoded it).
pub fn folder_classes(cfg: &DataConfig) -> Result<usize> {
    match find(cfg, &Lookup::default())? {
        Source::Folder(path) => Ok(folder::class_names(&path, cfg.test_fraction)?.len()),
        _ => Ok(load(cfg, &Lookup::default())?.train.classes.len()),
    }
}

/// Input shape [channels, height, width] and class names of a built-in dataset, known
/// without reading it (what `convlab import` needs to describe a PyTorch model); `None` for
/// an image folder.
pub fn known_layout(name: DatasetName) -> Option<([usize; 3], Vec<String>)> {
    match name {
        DatasetName::Mnist | DatasetName::FashionMnist => {
            Some(([1, 28, 28], idx_class_names(name)))
        }
        DatasetName::Cifar10 => Some((
            [3, 32, 32],
            cifar::CLASSES.iter().map(|s| s.to_string()).collect(),
        )),
        DatasetName::Folder => None,
    }
}
