//! An in-memory image classification dataset: u8 pixels in CHW order, one label byte each.
//! Every supported dataset fits in memory (CIFAR-10 train is 150 MB), which keeps batching
//! a cheap gather with no file I/O on the training path.

#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// [channels, height, width] of every image.
    pub shape: [usize; 3],
    /// N * C * H * W bytes, image after image, each channel plane after plane.
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
    pub classes: Vec<String>,
}

/// The train and test splits of one dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Splits {
    pub name: String,
    pub train: Dataset,
    pub test: Dataset,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn image_len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.images[i * n..(i + 1) * n]
    }

    /// A new dataset of the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut images = Vec::with_capacity(indices.len() * self.image_len());
        for &i in indices {
            images.extend_from_slice(self.image(i));
        }
        Dataset {
            shape: self.shape,
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            classes: self.classes.clone(),
        }
    }

    /// Keep `n` images spread evenly over the set (no-op when `n` is 0 or not smaller).
    /// Evenly strided rather than the first `n`, because image folders are stored class by
    /// class: a prefix would be one class.
    pub fn limit(&mut self, n: usize) {
        if n > 0 && n < self.len() {
            let idx: Vec<usize> = (0..n).map(|i| i * self.len() / n).collect();
            *self = self.select(&idx);
        }
    }

    /// Per-channel mean and standard deviation of the pixels scaled to [0, 1].
    pub fn channel_stats(&self) -> (Vec<f32>, Vec<f32>) {
        let [c, h, w] = self.shape;
        let plane = h * w;
        let mut sum = vec![0f64; c];
        let mut sq = vec![0f64; c];
        for img in self.images.chunks_exact(c * plane) {
            for ch in 0..c {
                let (mut s, mut q) = (0u64, 0u64);
                for &p in &img[ch * plane..(ch + 1) * plane] {
                    s += p as u64;
                    q += (p as u64) * (p as u64);
                }
                sum[ch] += s as f64;
                sq[ch] += q as f64;
            }
        }
        let n = (self.len() * plane).max(1) as f64;
        let mean: Vec<f64> = sum.iter().map(|s| s / n / 255.0).collect();
        let std = sq
            .iter()
            .zip(&mean)
            .map(|(q, m)| ((q / n / 65025.0 - m * m).max(1e-12)).sqrt() as f32)
            .collect();
        (mean.into_iter().map(|m| m as f32).collect(), std)
    }
}
