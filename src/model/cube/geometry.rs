//! Launch geometry of the batch-norm kernels (`kernels.rs`): units per cube and cubes per
//! channel of the partial sums, one unit per channel for the finishing kernels, one per
//! element for the elementwise passes.

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::backend::TensorMetadata;
use burn::tensor::{DType, Shape};
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::{CubeCount, CubeDim, calculate_cube_count_elemwise};

/// At most this many units per cube in the partial-sum kernel (0: the device's limit, at most
/// 256). Only `convlab check` changes it: the CubeCL CPU runtime that tests the kernels has as
/// many units per cube as cores (2 in CI), so the shared-memory tree of the partial sums runs
/// one level there and eight on a GPU; running the same sums at several widths on the GPU
/// tells whether that tree is where they go wrong.
static THREAD_CAP: AtomicUsize = AtomicUsize::new(0);

/// Caps the partial-sum kernel's units per cube (rounded down to a power of two); 0 lifts it.
pub fn cap_threads(units: usize) {
    THREAD_CAP.store(units, Ordering::Relaxed);
}

/// The launch geometry of one batch norm call.
pub(super) struct Geometry {
    pub channels: usize,
    pub plane: usize,
    /// batch * plane: the elements of one channel.
    pub count: usize,
    /// Units per cube of the partial-sum kernel: a power of two the device allows, at most 256.
    pub threads: usize,
    /// Cubes per channel of the partial-sum kernel.
    pub chunks: usize,
}

impl Geometry {
    pub fn of(x: &CubeTensor) -> Self {
        let shape = x.shape();
        let (batch, channels) = (shape[0], shape[1]);
        let plane: usize = shape.iter().skip(2).product();
        let count = batch * plane;
        let max_units = x.client.properties().hardware.max_units_per_cube as usize;
        let cap = match THREAD_CAP.load(Ordering::Relaxed) {
            0 => 256,
            n => n.min(256),
        };
        let mut threads = 1;
        while threads * 2 <= max_units.min(cap) {
            threads *= 2;
        }
        // Enough cubes in all to fill a GPU (~1,000), each with at least 8 elements per unit.
        let chunks = count
            .div_ceil(threads * 8)
            .min(1024usize.div_ceil(channels))
            .max(1);
        Geometry {
            channels,
            plane,
            count,
            threads,
            chunks,
        }
    }

    pub fn partials_launch(&self) -> (CubeCount, CubeDim) {
        (
            CubeCount::Static(self.channels as u32, self.chunks as u32, 1),
            CubeDim::new_1d(self.threads as u32),
        )
    }
}

pub(super) fn empty_like(t: &CubeTensor, shape: Shape) -> CubeTensor {
    empty_device_dtype(t.client.clone(), t.device.clone(), shape, DType::F32)
}

/// Per-channel launch geometry (one unit per channel).
pub(super) fn per_channel(t: &CubeTensor, channels: usize) -> (CubeCount, CubeDim) {
    let dim = CubeDim::new_1d(channels.min(64) as u32);
    (calculate_cube_count_elemwise(&t.client, channels, dim), dim)
}

/// Per-element launch geometry.
pub(super) fn per_element(t: &CubeTensor) -> (CubeCount, CubeDim) {
    let n = t.shape().num_elements();
    let dim = CubeDim::new(&t.client, n);
    (calculate_cube_count_elemwise(&t.client, n, dim), dim)
}
