//! Every random stream of a run derives from the run's one seed here, so each draw is
//! reproducible and independent of the others. The formulas are those of earlier versions,
//! kept exactly: changing one would change every stored run's numbers for the same seed.

/// What a derived seed is for.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Which training images are held out for validation.
    ValidationSplit,
    /// The order of training images in epoch `epoch` (0-based).
    Shuffle { epoch: usize },
    /// Dropout masks (the device RNG) in epoch `epoch`: reseeded every epoch, so a resumed
    /// run draws exactly what an uninterrupted one would.
    Dropout { epoch: usize },
    /// Crop offsets and flips of batch `batch` of a pass shuffled with `pass_seed`.
    Augment { pass_seed: u64, batch: usize },
    /// The order of pass `pass` over the data in the learning-rate range test.
    LrFindPass { pass: u64 },
    /// Alternating flips: which images are mirrored in even epochs (odd ones flip them all).
    FlipCoins,
    /// MixUp / CutMix draws (which one, lambda, the box) of the batches of epoch `epoch`.
    Mix { epoch: usize },
}

pub fn derive_seed(seed: u64, stream: Stream) -> u64 {
    match stream {
        Stream::ValidationSplit => seed ^ 0x005e_ed0f_7a11,
        Stream::Shuffle { epoch } => seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64),
        Stream::Dropout { epoch } => seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(epoch as u64 + 1),
        Stream::Augment { pass_seed, batch } => pass_seed
            .wrapping_mul(0x9e37_79b9)
            .wrapping_add(batch as u64),
        Stream::LrFindPass { pass } => seed.wrapping_add(pass),
        Stream::FlipCoins => seed ^ 0xf11b_c0f1_0000,
        Stream::Mix { epoch } => (seed ^ 0x0bad_cafe_0000)
            .wrapping_mul(31)
            .wrapping_add(epoch as u64),
    }
}
