//! bf16 mixed precision on the CPU (`train.precision = "bf16"` on flex), as f32 arithmetic on
//! bf16-rounded values. PyTorch's autocast to bfloat16 feeds convolutions and linear layers
//! bf16 inputs, weights and bias and rounds their outputs (and the gradients of those) to
//! bf16; the products of two bf16 values are exact in f32 and the sums are accumulated in
//! f32 (oneDNN, cuDNN). So rounding those values and computing in f32 gives bf16's numbers,
//! while the work runs through convlab's f32 CPU operations: Burn's flex has no fast bf16
//! convolution (it converts to f32 and back around a generic one), and a bf16 step ran at
//! 0.30-0.49x of PyTorch's bf16 step (bench/RESULTS.md). Between those layers the
//! activations stay f32 (ReLU and max pooling keep bf16 values as they are, so the next
//! layer does not round them again: `Net::forward`; batch norm runs in f32 in both); what
//! autocast stores as bf16 is stored here as f32, so no memory is saved.
//!
//! On a CPU with AVX512-BF16 the convolutions' GEMMs then run in bf16 (`gemm_bf16`: bf16
//! products added in f32, as oneDNN does), about twice the f32 GEMM's speed, and on AMX tiles
//! where the CPU has them (`gemm_bf16_amx`; Intel Sapphire Rapids and later). In Winograd's
//! convolutions those GEMMs take the transformed tiles, which are rounded to bf16 as well: a
//! rounding autocast's direct convolutions do not make, so such a conv is within bf16's
//! precision of autocast's (tests/bf16_cpu.rs), not within one bf16 step.

use std::mem::MaybeUninit;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::{DType, Tensor};
use rayon::prelude::*;

use super::{PAR_MIN, dims, is_flex, tensor, values};

/// `v` rounded to the nearest bf16 value (ties to even), as an f32: bf16 is f32's top 16
/// bits. NaN stays NaN (adding the rounding bias could carry a NaN's low payload bits into
/// the exponent and make it infinity); values past bf16's largest round to infinity.
#[inline(always)]
pub fn round_to_bf16(v: f32) -> f32 {
    let bits = v.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) & 0xffff_0000;
    if v.is_nan() {
        v
    } else {
        f32::from_bits(rounded)
    }
}

#[backend_extension(Flex, Autodiff)]
pub trait CpuRoundBf16: Backend {
    /// Every value rounded to bf16 (kept f32); the gradient is rounded likewise.
    fn cpu_round_bf16(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

wide! {
    /// Every value of `xs` rounded to bf16, in place (16 at a time on AVX-512; the generic
    /// build's SSE2 loop had been 8% of a cifar-cnn bf16 epoch's profile).
    fn round_slice(xs: &mut [f32]) {
        for v in xs {
            *v = round_to_bf16(*v);
        }
    }
}

wide! {
    /// `dst[i]` = `src[i]` rounded to bf16.
    fn round_into(src: &[f32], dst: &mut [MaybeUninit<f32>]) {
        for (d, &v) in dst.iter_mut().zip(src) {
            d.write(round_to_bf16(v));
        }
    }
}

/// `x` rounded, in place when it owns its whole buffer (a conv's fresh output, a gradient
/// handed over), else into a new one (a weight the layer keeps, a value saved for a backward
/// pass elsewhere).
fn round_all(mut x: FlexTensor) -> FlexTensor {
    let n = x.layout().shape().num_elements();
    let whole = x.layout().contiguous_offsets() == Some((0, n));
    if let Some(xs) = x
        .try_storage_mut::<f32>()
        .filter(|xs| whole && xs.len() == n)
    {
        xs.par_chunks_mut(PAR_MIN).for_each(round_slice);
        return x;
    }
    let xs = values(&x);
    assert_eq!(xs.len(), n, "a tensor's values");
    let mut out: Vec<f32> = Vec::with_capacity(n);
    out.spare_capacity_mut()[..n]
        .par_chunks_mut(PAR_MIN)
        .zip(xs.par_chunks(PAR_MIN))
        .for_each(|(o, v)| round_into(v, o));
    // SAFETY: `xs` holds n values (asserted), cut into the same chunks as the first n
    // elements of `out`, so the loop above wrote each of them.
    unsafe { out.set_len(n) };
    tensor(out, dims(&x))
}

impl CpuRoundBf16 for Flex {
    fn cpu_round_bf16(x: FlexTensor) -> FlexTensor {
        round_all(x)
    }
}

#[derive(Debug)]
struct RoundBackward;

impl Backward<Flex, 1> for RoundBackward {
    type State = ();

    /// Autocast's bf16 tensors get bf16 gradients: the gradient is rounded as the value was.
    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, round_all(dy));
        }
    }
}

impl<C: CheckpointStrategy> CpuRoundBf16 for Autodiff<Flex, C> {
    fn cpu_round_bf16(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let (xp, xn) = x.into_parts();
        let y = round_all(xp);
        RoundBackward
            .prepare::<C>([xn])
            .compute_bound()
            .stateless(y)
    }
}

/// `x` (f32 on flex) with every value rounded to bf16, its gradient rounded likewise.
pub fn round<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<burn::backend::Dispatch as CpuRoundBf16>::cpu_round_bf16(
        x.into_dispatch(),
    ))
}

/// How a bf16 step computes on this CPU, as run.json records it: its convolutions' GEMMs add
/// bf16 products in f32 on a CPU with AVX512-BF16 (`gemm_bf16`, unless
/// `CONVLAB_CPU_BF16_GEMM=off`; on AMX tiles where the CPU has them, unless
/// `CONVLAB_CPU_AMX=off`), else f32 arithmetic on the rounded values.
pub fn cpu_arithmetic() -> &'static str {
    if super::gemm_bf16::on_amx() {
        "bf16 GEMMs (AMX) on bf16-rounded values"
    } else if super::gemm_bf16::available() {
        "bf16 GEMMs (AVX512-BF16) on bf16-rounded values"
    } else {
        "f32 on bf16-rounded values"
    }
}

/// Whether a forward pass given `x` runs as emulated bf16: a bf16 batch on flex. The net then
/// takes it as f32 (exact: every bf16 value is an f32) and rounds around its convolutions and
/// linear layers with [`round`].
pub fn emulated<const D: usize>(x: &Tensor<D>) -> bool {
    x.dtype() == DType::BF16 && is_flex(&x.device())
}
