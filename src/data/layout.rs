//! The image layout a run asks for (`data.image_size`, `data.color_mode`): every image of a
//! dataset resized and converted to it, as torchvision's `Resize` and `Grayscale` or Keras'
//! `image_size` and `color_mode` do. A fine-tuned or evaluated model gets its own input
//! layout this way, whatever size the folder's images are.

use image::{DynamicImage, GrayImage, RgbImage};
use rayon::prelude::*;

use super::dataset::Dataset;
use super::folder::to_chw;

crate::choice! {
    /// The channels images are read with (Keras' `color_mode`).
    pub enum ColorMode("value") {
        /// The dataset's own: 1 for MNIST, 3 for CIFAR-10; an image folder is grayscale
        /// only when every image in it is.
        Auto => "auto",
        Grayscale => "grayscale",
        Rgb => "rgb",
    }
}

/// What a dataset's images are turned into; `None` keeps the dataset's own.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Layout {
    /// [height, width].
    pub size: Option<[usize; 2]>,
    /// 1 or 3.
    pub channels: Option<usize>,
}

impl Layout {
    pub fn new(size: Option<[usize; 2]>, color: ColorMode) -> Self {
        let channels = match color {
            ColorMode::Auto => None,
            ColorMode::Grayscale => Some(1),
            ColorMode::Rgb => Some(3),
        };
        Self { size, channels }
    }

    /// Exactly `[c, h, w]`: what a model with that input takes.
    pub fn of_input([c, h, w]: [usize; 3]) -> Self {
        Self {
            size: Some([h, w]),
            channels: Some(c),
        }
    }

    /// The shape images of `natural` shape get.
    pub fn shape(&self, [c, h, w]: [usize; 3]) -> [usize; 3] {
        let [h, w] = self.size.unwrap_or([h, w]);
        [self.channels.unwrap_or(c), h, w]
    }

    /// A suffix for cache file names; empty when nothing is asked for.
    pub fn key(&self) -> String {
        let size = self
            .size
            .map_or(String::new(), |[h, w]| format!("-{h}x{w}"));
        let channels = self.channels.map_or(String::new(), |c| format!("-c{c}"));
        size + &channels
    }

    /// Resize (PIL's bilinear filter, `data::resize`) and convert every image of `ds` to this
    /// layout, in place; nothing is done when the dataset already has it.
    pub fn apply(&self, ds: &mut Dataset) {
        let to = self.shape(ds.shape);
        if to == ds.shape {
            return;
        }
        let [c, h, w] = ds.shape;
        let images: Vec<u8> = ds
            .images
            .par_chunks(c * h * w)
            .flat_map_iter(|px| {
                let img = from_chw(px, c, h as u32, w as u32);
                to_chw(img, to[2] as u32, to[1] as u32, to[0] == 1)
            })
            .collect();
        ds.images = images;
        ds.shape = to;
    }
}

/// One image's CHW bytes (1 or 3 channels) as an image.
fn from_chw(px: &[u8], c: usize, h: u32, w: u32) -> DynamicImage {
    if c == 1 {
        return DynamicImage::ImageLuma8(
            GrayImage::from_raw(w, h, px.to_vec()).expect("h * w bytes"),
        );
    }
    let plane = (h * w) as usize;
    let rgb: Vec<u8> = (0..plane)
        .flat_map(|i| [px[i], px[plane + i], px[2 * plane + i]])
        .collect();
    DynamicImage::ImageRgb8(RgbImage::from_raw(w, h, rgb).expect("3 * h * w bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(shape: [usize; 3], images: Vec<u8>) -> Dataset {
        Dataset {
            shape,
            labels: vec![0; images.len() / shape.iter().product::<usize>()],
            images,
            classes: vec!["a".into()],
        }
    }

    #[test]
    fn resizes_and_converts_channels() {
        // A 2x2 RGB image, planes R, G, B.
        let rgb = vec![10, 20, 30, 40, 0, 0, 0, 0, 255, 255, 255, 255];
        let mut ds = dataset([3, 2, 2], rgb.clone());
        Layout::new(None, ColorMode::Auto).apply(&mut ds);
        assert_eq!(ds.images, rgb, "nothing asked, nothing changed");
        Layout::new(Some([4, 4]), ColorMode::Auto).apply(&mut ds);
        assert_eq!(ds.shape, [3, 4, 4]);
        assert_eq!(ds.images.len(), 48);
        // The blue plane is uniform: resizing keeps it so.
        assert!(ds.images[32..].iter().all(|&b| b == 255));

        let mut gray = dataset([3, 1, 1], vec![100, 100, 100]);
        Layout::new(None, ColorMode::Grayscale).apply(&mut gray);
        assert_eq!((gray.shape, gray.images.clone()), ([1, 1, 1], vec![100]));
        Layout::new(None, ColorMode::Rgb).apply(&mut gray);
        assert_eq!((gray.shape, gray.images), ([3, 1, 1], vec![100; 3]));
    }

    /// Colour to gray as PIL's `convert("L")`, which torchvision's `Grayscale` calls on the
    /// images ImageFolder opens (the image crate's sRGB weights gave 54, 182, 18, 118, 187, 128):
    ///
    /// ```python
    /// px = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (200, 100, 50), (13, 250, 77), (128, 128, 128)]
    /// im = Image.new("RGB", (len(px), 1)); im.putdata(px)
    /// list(im.convert("L").getdata())  # [76, 150, 29, 124, 159, 128]
    /// ```
    #[test]
    fn colour_becomes_gray_as_pil_converts_it() {
        let px = [
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [200, 100, 50],
            [13, 250, 77],
            [128, 128, 128],
        ];
        let planes: Vec<u8> = (0..3).flat_map(|c| px.map(|p| p[c])).collect();
        let mut ds = dataset([3, 1, 6], planes);
        Layout::new(None, ColorMode::Grayscale).apply(&mut ds);
        assert_eq!(ds.shape, [1, 1, 6]);
        assert_eq!(ds.images, [76, 150, 29, 124, 159, 128]);
    }

    #[test]
    fn cache_keys_differ_by_layout() {
        assert_eq!(Layout::default().key(), "");
        assert_eq!(Layout::of_input([1, 28, 28]).key(), "-28x28-c1");
        assert_ne!(
            Layout::of_input([3, 32, 32]).key(),
            Layout::of_input([1, 32, 32]).key()
        );
    }
}
