//! Batches assembled on a background thread, a few ahead, so the training thread never waits
//! on augmentation or normalization. Shuffling and augmentation are seeded per epoch and per
//! batch, so the batches are identical whatever the thread timing.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::data::config::DataConfig;
use crate::data::dataset::Dataset;
use crate::data::transform::{Augment, Draw, Normalize, fill_batch};
use crate::seed::{Stream, derive_seed};

pub struct Batch {
    /// [n, C, H, W] normalized pixels.
    pub images: Vec<f32>,
    pub labels: Vec<i64>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// How one pass over a dataset is batched.
#[derive(Clone)]
pub struct Plan {
    pub batch_size: usize,
    /// The pass's seed: its shuffle (train) and its augmentation draws; `None` keeps the
    /// order (eval).
    pub shuffle_seed: Option<u64>,
    /// With a seed: false keeps the order but still draws augmentation from the seed
    /// (`data.shuffle = false`).
    pub shuffle: bool,
    pub augment: Augment,
}

impl Plan {
    /// Training epoch `epoch`'s pass (0-based): shuffled and augmented from the run's seed.
    pub fn training(data: &DataConfig, seed: u64, batch_size: usize, epoch: usize) -> Self {
        Self {
            batch_size,
            shuffle_seed: Some(derive_seed(seed, Stream::Shuffle { epoch })),
            shuffle: data.shuffle,
            augment: Augment::for_epoch(data, seed, epoch),
        }
    }

    /// The image indices of one pass over `len` images, in batch order.
    pub fn order(&self, len: usize) -> Vec<usize> {
        let mut order: Vec<usize> = (0..len).collect();
        if let (Some(seed), true) = (self.shuffle_seed, self.shuffle) {
            order.shuffle(&mut StdRng::seed_from_u64(seed));
        }
        order
    }

    /// The pass's image order with each position's shift and flip, drawn as `spawn`'s batches
    /// draw them: what `bench/draws.rs` writes out for the PyTorch twin to replay.
    pub fn draws(&self, len: usize) -> Vec<(usize, Draw)> {
        let order = self.order(len);
        let mut out = Vec::with_capacity(len);
        for (b, chunk) in order.chunks(self.batch_size.max(1)).enumerate() {
            out.extend(chunk.iter().copied().zip(self.batch_draws(b, chunk)));
        }
        out
    }

    /// The shifts and flips of batch `b`, images `chunk`, in order (none when augmentation is
    /// off): the device pipeline's, and what `fill_batch` draws from `augment_rng(b)`.
    pub fn batch_draws(&self, b: usize, chunk: &[usize]) -> Vec<Draw> {
        if self.augment.is_off() {
            let still = Draw {
                dy: 0,
                dx: 0,
                flip: false,
            };
            return vec![still; chunk.len()];
        }
        let mut rng = self.augment_rng(b);
        chunk
            .iter()
            .map(|&i| self.augment.draw(i, &mut rng))
            .collect()
    }

    /// Batch `b`'s augmentation stream, derived from the pass's shuffle seed alone.
    pub fn augment_rng(&self, b: usize) -> StdRng {
        StdRng::seed_from_u64(derive_seed(
            0,
            Stream::Augment {
                pass_seed: self.shuffle_seed.unwrap_or(0),
                batch: b,
            },
        ))
    }
}

/// Start a producer thread for one pass over `ds`; batches arrive in order on the receiver.
pub fn spawn(ds: Arc<Dataset>, norm: Arc<Normalize>, plan: Plan) -> Receiver<Batch> {
    let (tx, rx) = sync_channel(4);
    std::thread::spawn(move || {
        let order = plan.order(ds.len());
        for (b, chunk) in order.chunks(plan.batch_size.max(1)).enumerate() {
            let mut images = Vec::new();
            if plan.augment.is_off() {
                fill_batch(
                    &ds,
                    chunk,
                    &norm,
                    None::<(&Augment, &mut StdRng)>,
                    &mut images,
                );
            } else {
                let mut rng = plan.augment_rng(b);
                fill_batch(
                    &ds,
                    chunk,
                    &norm,
                    Some((&plan.augment, &mut rng)),
                    &mut images,
                );
            }
            let labels = chunk.iter().map(|&i| ds.labels[i] as i64).collect();
            if tx.send(Batch { images, labels }).is_err() {
                return; // the consumer stopped early (divergence, error)
            }
        }
    });
    rx
}
