//! The training set kept on the device (for a GPU): uploaded once, normalized and padded for
//! the crop, then each batch is a gather there, its shifts and flips turned into indices,
//! instead of assembled on the host and copied over batch by batch. A pass shuffles and
//! draws augmentations exactly as the host pipeline (`loader`) does, so both give the same
//! batches (tests/resident.rs).

use burn::prelude::*;

use crate::data::dataset::Dataset;
use crate::data::loader::Plan;
use crate::data::transform::{Augment, Draw, Normalize, fill_padded};

/// Images per upload, so the host never holds the whole f32 copy at once.
const UPLOAD_CHUNK: usize = 4096;

#[derive(Clone)]
pub struct Resident {
    /// [n, c * (h + 2 pad) * (w + 2 pad)] normalized, padded pixels.
    images: Tensor<2>,
    labels: Tensor<1, Int>,
    shape: [usize; 3],
    pad: usize,
    device: Device,
}

impl Resident {
    /// Bytes on the device for `ds` padded for `aug`'s crop.
    pub fn bytes(ds: &Dataset, aug: &Augment) -> usize {
        let [c, h, w] = ds.shape;
        let p = 2 * aug.crop_padding;
        ds.len() * c * (h + p) * (w + p) * std::mem::size_of::<f32>()
    }

    pub fn upload(ds: &Dataset, norm: &Normalize, aug: &Augment, device: &Device) -> Self {
        let [c, h, w] = ds.shape;
        let pad = aug.crop_padding;
        let per_image = c * (h + 2 * pad) * (w + 2 * pad);
        let mut parts = Vec::new();
        for start in (0..ds.len()).step_by(UPLOAD_CHUNK) {
            let end = (start + UPLOAD_CHUNK).min(ds.len());
            let mut buf = Vec::with_capacity((end - start) * per_image);
            for i in start..end {
                fill_padded(ds, i, norm, pad, aug.reflect, &mut buf);
            }
            let data = TensorData::new(buf, [end - start, per_image]);
            parts.push(Tensor::<2>::from_data(data, device));
        }
        let labels: Vec<i64> = ds.labels.iter().map(|&l| l as i64).collect();
        Self {
            images: Tensor::cat(parts, 0),
            labels: Tensor::from_data(TensorData::new(labels, [ds.len()]), device),
            shape: ds.shape,
            pad,
            device: device.clone(),
        }
    }

    /// One pass as `plan` orders and augments it: (images [n, c, h, w], labels) per batch.
    pub fn pass(&self, plan: Plan) -> ResidentPass {
        let n = self.labels.dims()[0];
        ResidentPass {
            set: self.clone(),
            order: plan.order(n),
            next: 0,
            plan,
        }
    }

    /// Images `indices`, each shifted and mirrored as its draw says: one gather whose index
    /// is built on the device from a row offset per (image, y), a column per (image, x) and
    /// a channel offset.
    fn batch(&self, indices: &[usize], draws: &[Draw]) -> (Tensor<4>, Tensor<1, Int>) {
        let (n, [c, h, w], p) = (indices.len(), self.shape, self.pad as isize);
        let (hp, wp) = (h + 2 * self.pad, w + 2 * self.pad);
        let int = |v: Vec<i64>, shape: [usize; 4]| {
            Tensor::<4, Int>::from_data(TensorData::new(v, shape), &self.device)
        };
        let rows = draws
            .iter()
            .flat_map(|d| (0..h as isize).map(move |y| ((y + d.dy + p) as usize * wp) as i64))
            .collect();
        let cols = draws
            .iter()
            .flat_map(|d| {
                (0..w as isize).map(move |x| {
                    let x = if d.flip { w as isize - 1 - x } else { x };
                    (x + d.dx + p) as i64
                })
            })
            .collect();
        let channels = (0..c).map(|ch| (ch * hp * wp) as i64).collect();
        let shape = [n, c, h, w];
        let index = int(rows, [n, 1, h, 1]).expand(shape)
            + int(cols, [n, 1, 1, w]).expand(shape)
            + int(channels, [1, c, 1, 1]).expand(shape);
        let picked = Tensor::<1, Int>::from_data(
            TensorData::new(indices.iter().map(|&i| i as i64).collect(), [n]),
            &self.device,
        );
        let x = self.images.clone().select(0, picked.clone());
        let x = x.gather(1, index.reshape([n, c * h * w])).reshape(shape);
        (x, self.labels.clone().select(0, picked))
    }
}

pub struct ResidentPass {
    set: Resident,
    order: Vec<usize>,
    next: usize,
    plan: Plan,
}

impl Iterator for ResidentPass {
    type Item = (Tensor<4>, Tensor<1, Int>);

    fn next(&mut self) -> Option<Self::Item> {
        let size = self.plan.batch_size.max(1);
        let start = self.next * size;
        if start >= self.order.len() {
            return None;
        }
        let chunk = &self.order[start..(start + size).min(self.order.len())];
        let draws = self.plan.batch_draws(self.next, chunk);
        self.next += 1;
        Some(self.set.batch(chunk, &draws))
    }
}
