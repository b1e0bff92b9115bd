//! Hand-written CPU operations for the layers where Burn's flex backend was slow on the seed
//! notebooks' nets (profiles in bench/README.md): convolution (im2col + GEMM, or
//! Winograd F(2x2, 3x3) for 3x3 stride-1 convs; per-plane multiply-adds for depthwise
//! convs), batch norm's
//! training and inference passes, PReLU, max pooling and channel dropout, each with its own
//! backward pass; dropout's mask (`dropout`); and bf16 mixed precision as arithmetic on
//! bf16-rounded values (`bf16`), with the convolutions' GEMMs in bf16 on CPUs with AVX512-BF16 (`gemm_bf16`).
//! Each is a Burn backend extension implemented for `Flex` and `Autodiff<Flex>`; on every
//! other device the layers keep Burn's own operations, except batch norm's training pass on
//! the CubeCL backend (CUDA), which `batch_norm::forward` hands to `model::cube`.
//!
//! Parallel work is split in fixed chunks and reduced in a fixed order, so results do not
//! depend on the thread count (runs stay byte-reproducible under `sweep --jobs`).

/// Defines `fn name(args)` that runs `body` compiled for AVX-512 where the CPU has it (16
/// lanes), else for AVX2 (8 lanes instead of the x86-64 baseline's 4), else for the baseline.
/// The bodies are element-wise or reduce in a fixed order written out in the source, and
/// Rust never fuses a multiply and an add by itself, so every width gives the same bits.
/// Defined before the `mod` lines so that every operation's module can use it.
macro_rules! wide {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F, checked just above.
                    return unsafe { avx512($($arg),*) };
                }
                #[target_feature(enable = "avx2")]
                unsafe fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

pub mod adam;
pub mod adam_family;
pub mod average;
pub mod avg_pool;
pub mod batch_norm;
mod batch_norm_passes;
pub mod bf16;
mod chunks;
pub mod conv;
mod conv_kernels;
mod conv_pairs;
mod conv_rows;
mod conv_side_by_side;
pub mod depthwise;
mod depthwise_planes;
pub mod dropout;
pub mod gemm_bf16;
mod gemm_bf16_amx;
mod gemm_bf16_amx_pack;
mod gemm_bf16_pack;
mod im2col;
mod matmul;
pub mod max_pool;
pub mod plane_affine;
mod pool_window;
pub mod prelu;
pub mod rmsprop;
pub mod sgd;
pub mod smooth;
mod smooth_math;
mod step_parts;
mod winograd;
mod winograd_deep;
mod winograd_deep_bf16;
mod winograd_grid;
mod winograd_points43;
mod winograd_tiles;
mod winograd_tiles43;
mod winograd_weights;
mod winograd_weights43;
mod winograd_weights_packed;

use std::borrow::Cow;

use burn::backend::DispatchDevice;
use burn::backend::flex::FlexTensor;
use burn::tensor::{DType, Shape, Tensor, TensorData};
use rayon::prelude::*;

/// `t` in float type `dtype` (unchanged when it already is): a layer's f32 weights meeting
/// bf16 activations.
pub fn cast_to<const D: usize>(t: Tensor<D>, dtype: DType) -> Tensor<D> {
    if t.dtype() == dtype { t } else { t.cast(dtype) }
}

/// Whether a tensor is f32 on the flex CPU backend (with or without autodiff): the tensors
/// these operations take.
pub fn on_flex<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::F32 && is_flex(&x.device())
}

/// Make the calling thread one of rayon's workers (worker 0 of the global pool, the others
/// spawned as usual), for a thread that runs training or evaluation: the dozens of parallel
/// operations of each step then start inside the pool and hand work to the other workers,
/// instead of the thread queueing each one, sleeping and being woken again (two context
/// switches per operation). The thread must stay the same for every step: Burn keeps batch
/// norm's running statistics per thread. A thread that blocks for long (serve's) should not
/// call this: work only it would take waits meanwhile. With one thread in all the pool is left
/// as it is, since the loader's batches, queued from their own thread, would have no worker
/// while this one waits for them. Returns whether it took effect.
pub fn join_pool_from_this_thread() -> bool {
    // rayon's own default: RAYON_NUM_THREADS when set to a count, else one per core.
    let threads = std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    threads >= 2
        && rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .use_current_thread()
            .build_global()
            .is_ok()
}

/// Whether `device` is the flex CPU backend (with or without autodiff), whatever the dtype.
pub fn is_flex(device: &burn::prelude::Device) -> bool {
    matches!(
        device.as_dispatch().clone().inner(),
        DispatchDevice::Flex(_)
    )
}

/// The tensor's values in row-major order, borrowed when it is already contiguous.
pub(crate) fn values(t: &FlexTensor) -> Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(s) => Cow::Borrowed(s),
        // Only f32 tensors are routed here (`on_flex`), so the copy is an f32 slice.
        _ => Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("f32 tensor")
                .to_vec(),
        ),
    }
}

pub(crate) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.into()))
}

pub(crate) fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().to_vec()
}

/// Independent accumulators of [`sum_zip`]: enough to hide the latency of a float add and to
/// let the compiler use whole SIMD registers.
const LANES: usize = 16;

/// The sum over i of `f(a[i], b[i])`, in a fixed order of 16 interleaved partial sums (a plain
/// `.sum()` is one sequential chain of adds that cannot be vectorized). Fixed order: the same
/// bits whatever the thread count. Always inlined, so that in a `wide!` function it takes
/// that function's instruction set (AVX2).
#[inline(always)]
pub(crate) fn sum_zip(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; LANES];
    let (ac, bc) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l]);
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(&x, &y)| f(x, y)).sum();
    acc.iter().sum::<f32>() + tail
}

/// Elements per parallel work item of the per-plane passes, at least: a flat [batch, features]
/// tensor has one element per plane and would otherwise be cut into thousands of tiny jobs.
pub(crate) const PAR_MIN: usize = 4096;

/// The elementwise map of two equally long tensors made of planes of `plane` elements:
/// out[i] = g(a[i], b[i]) with `g = per_plane(plane index)`, in parallel over chunks of whole
/// planes. The output is written once, never zeroed first (a `vec![0.0; n]` per operation
/// was a serial memset of every activation, ~5% of a bn-prelu-cnn step).
pub(crate) fn map_planes<G: Fn(f32, f32) -> f32>(
    a: &[f32],
    b: &[f32],
    plane: usize,
    per_plane: impl Fn(usize) -> G + Sync,
) -> Vec<f32> {
    assert_eq!(a.len(), b.len());
    let per_job = PAR_MIN.div_ceil(plane);
    let chunk = per_job * plane;
    let mut out: Vec<f32> = Vec::with_capacity(a.len());
    out.spare_capacity_mut()[..a.len()]
        .par_chunks_mut(chunk)
        .zip(a.par_chunks(chunk).zip(b.par_chunks(chunk)))
        .enumerate()
        .for_each(|(job, (oc, (ac, bc)))| {
            let planes = oc
                .chunks_mut(plane)
                .zip(ac.chunks(plane).zip(bc.chunks(plane)));
            for (i, (o, (x, y))) in planes.enumerate() {
                let g = per_plane(job * per_job + i);
                for (o, (&x, &y)) in o.iter_mut().zip(x.iter().zip(y)) {
                    o.write(g(x, y));
                }
            }
        });
    // SAFETY: the three slices have equal lengths and are cut into the same chunks and
    // planes, so the loop above wrote every one of the first a.len() elements.
    unsafe { out.set_len(a.len()) };
    out
}

/// (channels, elements per channel plane) of an [n, c, ...] tensor: its data is n * c planes
/// in a row, and plane r belongs to channel r % c. At least 1 per plane, so it can chunk.
pub(crate) fn channel_planes(t: &FlexTensor) -> (usize, usize) {
    let d = dims(t);
    (d[1], d[2..].iter().product::<usize>().max(1))
}
