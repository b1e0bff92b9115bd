//! `[data]` of a run config: which dataset, the validation split, normalization and the
//! train-only augmentation.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::jitter::{ColorJitter, Strength};
pub use super::layout::ColorMode;
use super::layout::Layout;

/// The longest image side `data.image_size` takes: whole datasets are held in memory, and
/// 60,000 RGB images of 1024 x 1024 would already take 189 GB.
const MAX_SIDE: usize = 1024;

crate::choice! {
    /// torchvision RandomCrop's padding_mode.
    pub enum PaddingMode("value") {
        Constant => "constant",
        Reflect => "reflect",
    }
}

crate::choice! {
    /// Where training batches are put together.
    pub enum Pipeline("value") {
        /// "device" when training on a GPU and the set takes at most 4 GiB there, else "host".
        Auto => "auto",
        /// A background CPU thread builds each batch (shuffle, crop, flip, normalize) and
        /// the batch is copied to the device.
        Host => "host",
        /// The training set is copied to the device once; each batch is gathered, shifted
        /// and mirrored there. The same batches as "host".
        Device => "device",
    }
}

crate::choice! {
    /// The datasets convlab reads.
    pub enum DatasetName("value") {
        Mnist => "mnist",
        FashionMnist => "fashion-mnist",
        Cifar10 => "cifar10",
        /// An image folder: ROOT/train/<class>/ and ROOT/test/<class>/, or ROOT/<class>/.
        Folder => "folder",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// "mnist", "fashion-mnist", "cifar10" or "folder" (then `path` is required).
    pub dataset: DatasetName,
    /// For "folder": ROOT with train/ and test/ subfolders (or a .tar.gz of such a tree).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Fraction of the training set held out for validation (seeded); 0 disables it.
    pub val_fraction: f64,
    /// Normalize with the training set's per-channel mean and std.
    pub normalize: bool,
    /// Random crop after zero-padding by this many pixels (train split only); 0 = off.
    pub crop_padding: usize,
    /// Random horizontal flip (train split only).
    pub hflip: bool,
    /// Random rotation by an angle drawn from [-rotation, rotation] degrees, before the crop
    /// and flip, as torchvision's `RandomRotation(rotation)` (nearest pixel, black corners;
    /// train split only); 0 = off.
    pub rotation: f64,
    /// Random erasing (torchvision's `RandomErasing(p)`): the probability that a training
    /// image loses a rectangle of 2-33% of its area to the mean colour, after the crop and
    /// flip; 0 = off.
    pub erasing: f64,
    /// Colour jitter (torchvision's `ColorJitter(brightness, contrast, saturation, hue)`):
    /// each factor drawn from [max(0, 1 - x), 1 + x] (hue: a turn of [-x, x] of the colour
    /// circle, x <= 0.5), in a random order, after the crop and flip; 0 = off. Each also
    /// takes torchvision's [min, max] form. Saturation and hue do nothing on one-channel
    /// images.
    pub brightness: Strength,
    pub contrast: Strength,
    pub saturation: Strength,
    pub hue: Strength,
    /// MixUp (torchvision's `v2.MixUp(alpha)`): each training batch blended with itself
    /// rolled by one, lambda ~ Beta(alpha, alpha), the loss split likewise; 0 = off.
    pub mixup: f64,
    /// CutMix (`v2.CutMix(alpha)`): a box of the partner image pasted in instead; with both
    /// set, each batch takes one of the two at random; 0 = off.
    pub cutmix: f64,
    /// With hflip: mirror each image by a seeded coin in even epochs and the other way in
    /// odd ones, so consecutive epochs see both views (airbench's alternating flip).
    pub hflip_alternate: bool,
    /// What the crop's padding shows: "constant" (black, as torchvision's default) or
    /// "reflect" (the image mirrored at its border).
    pub padding_mode: PaddingMode,
    /// Where training batches are built: "auto", "host" or "device" (see `Pipeline`).
    pub pipeline: Pipeline,
    /// Shuffle the training set every epoch (as PyTorch's `shuffle=True`); false keeps the
    /// dataset's order, for step-for-step comparisons (bench/parity_fast.py).
    pub shuffle: bool,
    /// Use only N training / test images, spread evenly over each set (quick runs); 0 = all.
    pub limit_train: usize,
    pub limit_test: usize,
    /// Resize every image to [height, width] (PIL's bilinear filter, as torchvision's `Resize`
    /// and `predict` do); unset: the dataset's own size (an image folder's: its first training
    /// image's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_size: Option<[usize; 2]>,
    /// "auto" (the dataset's own channels), "grayscale" or "rgb", as Keras' `color_mode`.
    pub color_mode: ColorMode,
    /// An image folder without train/ and test/ (`ROOT/<class>/*`): the share of each
    /// class's files held out as the test set, spread evenly over them in name order.
    pub test_fraction: f64,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetName::Mnist,
            path: None,
            val_fraction: 0.1,
            normalize: true,
            crop_padding: 0,
            hflip: false,
            rotation: 0.0,
            erasing: 0.0,
            brightness: Strength::default(),
            contrast: Strength::default(),
            saturation: Strength::default(),
            hue: Strength::default(),
            mixup: 0.0,
            cutmix: 0.0,
            hflip_alternate: false,
            padding_mode: PaddingMode::Constant,
            pipeline: Pipeline::Auto,
            shuffle: true,
            limit_train: 0,
            limit_test: 0,
            image_size: None,
            color_mode: ColorMode::Auto,
            test_fraction: super::folder::DEFAULT_TEST_FRACTION,
        }
    }
}

impl DataConfig {
    /// The first augmentation that only the host pipeline draws (rotation, erasing, colour
    /// jitter), by key.
    pub fn host_only_augmentation(&self) -> Option<&'static str> {
        [
            ("data.rotation", self.rotation),
            ("data.erasing", self.erasing),
        ]
        .into_iter()
        .find(|&(_, v)| v > 0.0)
        .map(|(key, _)| key)
        .or_else(|| self.jitter().first_on())
    }

    /// The colour jitter these keys ask for.
    pub fn jitter(&self) -> ColorJitter {
        ColorJitter {
            brightness: self.brightness,
            contrast: self.contrast,
            saturation: self.saturation,
            hue: self.hue,
        }
    }

    /// An image folder (a directory or a .tar.gz), everything else default.
    pub fn folder(path: PathBuf) -> Self {
        Self {
            dataset: DatasetName::Folder,
            path: Some(path),
            ..Default::default()
        }
    }

    /// The dataset a checkpoint records (see [`DataConfig::label`]): a dataset name, or
    /// the path of the image folder it was trained on.
    pub fn from_label(label: &str) -> Self {
        match label.parse::<DatasetName>() {
            Ok(dataset) if dataset != DatasetName::Folder => Self {
                dataset,
                ..Default::default()
            },
            _ => Self::folder(PathBuf::from(label)),
        }
    }

    /// Images exactly as a model with input `[c, h, w]` takes them.
    pub fn with_input(mut self, [c, h, w]: [usize; 3]) -> Self {
        self.image_size = Some([h, w]);
        self.color_mode = if c == 1 {
            ColorMode::Grayscale
        } else {
            ColorMode::Rgb
        };
        self
    }

    /// The image layout `image_size` and `color_mode` ask for.
    pub fn layout(&self) -> Layout {
        Layout::new(self.image_size, self.color_mode)
    }

    /// What a run and its checkpoints record as the dataset: the name, or the folder's path.
    pub fn label(&self) -> String {
        self.path
            .as_ref()
            .map_or(self.dataset.to_string(), |p| p.display().to_string())
    }

    /// The dataset as a checkpoint records it: a folder by its absolute path, so that
    /// `eval --checkpoint` finds it from any working folder (a relative one only worked from
    /// where the run was trained).
    pub fn checkpoint_label(&self) -> String {
        match &self.path {
            Some(p) => p
                .canonicalize()
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string(),
            None => self.dataset.to_string(),
        }
    }

    /// Impossible values, as (key, problem).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.dataset == DatasetName::Folder && self.path.is_none() {
            return Err((
                "data.path",
                "dataset \"folder\" needs data.path = \"ROOT\" (with train/ and test/)".into(),
            ));
        }
        if !(0.0..=180.0).contains(&self.rotation) {
            return Err((
                "data.rotation",
                format!("{} is not an angle in [0, 180] degrees", self.rotation),
            ));
        }
        if !(0.0..=1.0).contains(&self.erasing) {
            return Err((
                "data.erasing",
                format!("{} is not a probability in [0, 1]", self.erasing),
            ));
        }
        for (key, strength, hue) in self.jitter().keys() {
            if let Some(problem) = strength.problem(hue) {
                return Err((key, problem));
            }
        }
        for (key, alpha) in [("data.mixup", self.mixup), ("data.cutmix", self.cutmix)] {
            if !(alpha >= 0.0 && alpha.is_finite()) {
                return Err((key, format!("{alpha} is not an alpha >= 0 (0 = off)")));
            }
        }
        if let Some(key) = self.host_only_augmentation()
            && self.pipeline == Pipeline::Device
        {
            return Err((
                key,
                "is drawn on the host: set data.pipeline = \"host\" or \"auto\"".into(),
            ));
        }
        if self.hflip_alternate && !self.hflip {
            return Err((
                "data.hflip_alternate",
                "alternating flips need data.hflip = true".into(),
            ));
        }
        if let Some(size) = self.image_size
            && let Some(bad) = size.iter().find(|&&s| !(1..=MAX_SIDE).contains(&s))
        {
            return Err((
                "data.image_size",
                format!("{bad} is not a side length in 1..={MAX_SIDE} ([height, width])"),
            ));
        }
        if !(self.test_fraction > 0.0 && self.test_fraction < 1.0) {
            return Err((
                "data.test_fraction",
                format!("{} is not in (0, 1)", self.test_fraction),
            ));
        }
        if !(0.0..1.0).contains(&self.val_fraction) {
            return Err((
                "data.val_fraction",
                format!("{} is not in [0, 1)", self.val_fraction),
            ));
        }
        Ok(())
    }
}
