//! The smooth activations (sigmoid, tanh, SiLU, Mish, ELU, SELU, GELU and its tanh form) as one pass forward and one
//! backward. Burn's flex backend computes sigmoid and tanh one element at a time through the
//! C library (no SIMD), and composes the other four from three to six tensor operations, each
//! with its own gradient pass: a sigmoid or tanh mnist-cnn epoch took twice a ReLU one, and
//! PyTorch's three times. Here every element runs the same branch-free arithmetic (an exp of
//! a few ulps, `exp` below), which the compiler vectorizes: 8 lanes with AVX2 (`wide!`).
//!
//! Values and slopes are PyTorch's: x <= 0 takes ELU's and SELU's negative branch, outputs
//! underflow to exactly 0 where exp(x) would (no subnormals reach the next layer), and no
//! input makes a NaN that PyTorch would not. Sigmoid, tanh, ELU and SELU read their output in
//! the backward pass, as PyTorch's do, so their input can be freed at once (as ReLU's);
//! SiLU and Mish read their input.

use std::mem::MaybeUninit;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::{dims, on_flex, tensor, values};

/// Which activation, with its constant (ELU's alpha must be positive: its backward pass tells
/// the branch from the output's sign).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Smooth {
    Sigmoid,
    Tanh,
    Silu,
    Mish,
    Elu {
        alpha: f32,
    },
    Selu,
    Gelu,
    /// GELU's tanh form, x/2 (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3).
    GeluTanh,
}

/// SELU's fixed constants (`model::elu`'s), rounded to f32.
const SELU_ALPHA: f32 = crate::model::elu::SELU_ALPHA as f32;
const SELU_SCALE: f32 = crate::model::elu::SELU_SCALE as f32;

impl Smooth {
    /// Whether the backward pass reads the output (else the input).
    fn backward_reads_output(self) -> bool {
        !matches!(
            self,
            Smooth::Silu | Smooth::Mish | Smooth::Gelu | Smooth::GeluTanh
        )
    }
}

#[backend_extension(Flex, Autodiff)]
pub trait CpuSmooth: Backend {
    fn cpu_smooth(x: FloatTensor<Self>, kind: Smooth) -> FloatTensor<Self>;
}

/// The activation through the one-pass operation when `x` is f32 on flex; `elsewhere` (the
/// tensor-op form) otherwise.
pub fn forward<const D: usize>(
    x: Tensor<D>,
    kind: Smooth,
    elsewhere: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    if !on_flex(&x) {
        return elsewhere(x);
    }
    let out = <burn::backend::Dispatch as CpuSmooth>::cpu_smooth(x.into_dispatch(), kind);
    Tensor::from_dispatch(out)
}

/// Below about this, exp(x) is under f32's smallest normal number (e^-87.3365): taken as 0.
const EXP_LO: f32 = -87.33;
/// Above this, exp(x) overflows f32: callers clamp or never get there.
const EXP_HI: f32 = 88.376_26;

/// exp(x) for x in [EXP_LO, EXP_HI] (inputs outside are clamped), within 2 ulps: 2^n times a
/// degree-7 polynomial on [-ln2/2, ln2/2] (Cody-Waite reduction, Cephes' `expf`
/// coefficients). Branch-free, so a loop of it vectorizes. The rounding to n adds and
/// subtracts 1.5 * 2^23 (round half to even, no `round` call, exact for |n| < 2^22).
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    let x = x.clamp(EXP_LO, EXP_HI);
    let t = x * std::f32::consts::LOG2_E + SHIFT;
    let n = t - SHIFT;
    // ln 2 in two parts: 355/512 (exact in f32, so n * it is too) and the rest.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5e-1;
    let e = r * r * p + r + 1.0;
    // n is in [-126, 127] after the clamp: 2^n is a normal number built from its bits.
    let bits = (t.to_bits() as i32 - SHIFT.to_bits() as i32 + 127) << 23;
    e * f32::from_bits(bits as u32)
}

/// The logistic sigmoid s and 1 - s, each without cancellation, from e = exp(-|x|) (exact 0
/// where it would be subnormal): 1 / (1 + e) is the one of them at least 1/2, e / (1 + e)
/// the other.
#[inline(always)]
fn sigmoid_pair(x: f32) -> (f32, f32) {
    let e = exp(-x.abs());
    let e = if -x.abs() < EXP_LO { 0.0 } else { e };
    let big = 1.0 / (1.0 + e);
    let small = e * big;
    if x >= 0.0 { (big, small) } else { (small, big) }
}

#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    sigmoid_pair(x).0
}

/// tanh: an odd polynomial near 0 (Cephes' `tanhf`, relative error ~1e-7 where 1 - e would
/// cancel), (1 - e) / (1 + e) with e = exp(-2|x|) elsewhere.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let near = ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1)
        * z
        - 3.333_328e-1)
        * z
        * x
        + x;
    let e = exp(-2.0 * a);
    let far = ((1.0 - e) / (1.0 + e)).copysign(x);
    if a < 0.625 { near } else { far }
}

/// t = tanh(softplus(x)) and 1 - t^2, without a log: with u = e^x, (1 + u)^2 is
/// e^(2 softplus), so t = n / (n + 2) with n = u (u + 2), and 1 - t^2 = 4 (n + 1) / (n + 2)^2
/// (no cancellation as t nears 1). t is 1 in f32 for x above 20, where u is clamped.
#[inline(always)]
fn tanh_softplus(x: f32) -> (f32, f32) {
    let u = exp(x.min(20.0));
    let u = if x < EXP_LO { 0.0 } else { u };
    let n = u * (u + 2.0);
    let inv = 1.0 / (n + 2.0);
    (n * inv, 4.0 * (n + 1.0) * inv * inv)
}

/// exp(x), 0 where that would be subnormal.
#[inline(always)]
fn exp_or_zero(x: f32) -> f32 {
    if x < EXP_LO { 0.0 } else { exp(x) }
}

/// The normal distribution's Phi(x) and density phi(x), for the exact GELU. Phi's smaller tail
/// is erfc(|x| / sqrt 2) / 2, from the Chebyshev fit of Numerical Recipes' `erfcc`
/// (fractional error under 1.2e-7 everywhere, so the tail keeps its relative precision
/// where 1 + erf(x) would cancel).
#[inline(always)]
fn normal_cdf_pdf(x: f32) -> (f32, f32) {
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_204
                                + t * (1.488_515_9 + t * (-0.822_152_2 + t * 0.170_872_77))))))));
    let half_square = -z * z;
    let tail = 0.5 * t * exp_or_zero(half_square + poly);
    let cdf = if x >= 0.0 { 1.0 - tail } else { tail };
    // 1 / sqrt(2 pi)
    let pdf = 0.398_942_3 * exp_or_zero(half_square);
    (cdf, pdf)
}

/// For GELU's tanh form: s = (1 + tanh(u)) / 2, which is sigmoid(2u) (so its tail keeps its
/// relative precision where 1 + tanh(u) would cancel), 1 - s, and du/dx.
#[inline(always)]
fn gelu_tanh_parts(x: f32) -> (f32, f32, f32) {
    const ROOT_2_OVER_PI: f32 = 0.797_884_6;
    const CUBIC: f32 = 0.044_715;
    let u = ROOT_2_OVER_PI * (x + CUBIC * x * x * x);
    let (s, one_minus_s) = sigmoid_pair(2.0 * u);
    (s, one_minus_s, ROOT_2_OVER_PI * (1.0 + 3.0 * CUBIC * x * x))
}

/// alpha * (exp(x) - 1) for x <= 0, x above.
#[inline(always)]
fn elu(x: f32, alpha: f32) -> f32 {
    let curve = alpha * (exp(x.min(0.0)) - 1.0);
    // NaN fails both tests and passes through, as in PyTorch.
    if x <= 0.0 { curve } else { x }
}

/// One output from one input.
#[inline(always)]
fn value(kind: Smooth, x: f32) -> f32 {
    match kind {
        Smooth::Sigmoid => sigmoid(x),
        Smooth::Tanh => tanh(x),
        Smooth::Silu => x * sigmoid(x),
        Smooth::Mish => x * tanh_softplus(x).0,
        Smooth::Elu { alpha } => elu(x, alpha),
        Smooth::Selu => SELU_SCALE * elu(x, SELU_ALPHA),
        Smooth::Gelu => x * normal_cdf_pdf(x).0,
        Smooth::GeluTanh => x * gelu_tanh_parts(x).0,
    }
}

/// The input gradient from the upstream gradient `g` and `v`: the output where
/// `backward_reads_output`, else the input.
#[inline(always)]
fn slope(kind: Smooth, v: f32, g: f32) -> f32 {
    match kind {
        Smooth::Sigmoid => g * v * (1.0 - v),
        Smooth::Tanh => g * (1.0 - v * v),
        Smooth::Silu => {
            let (s, one_minus_s) = sigmoid_pair(v);
            g * s * (1.0 + v * one_minus_s)
        }
        Smooth::Mish => {
            let (t, one_minus_t2) = tanh_softplus(v);
            g * (t + v * sigmoid(v) * one_minus_t2)
        }
        Smooth::Elu { alpha } => {
            if v > 0.0 {
                g
            } else {
                g * (v + alpha)
            }
        }
        Smooth::Selu => {
            if v > 0.0 {
                g * SELU_SCALE
            } else {
                g * (v + SELU_SCALE * SELU_ALPHA)
            }
        }
        Smooth::Gelu => {
            let (cdf, pdf) = normal_cdf_pdf(v);
            g * (cdf + v * pdf)
        }
        // d/dx x s(x) = s + x * 2 s (1 - s) du/dx, as sigmoid(2u)' = 2 s (1 - s) u'.
        Smooth::GeluTanh => {
            let (s, one_minus_s, du) = gelu_tanh_parts(v);
            g * (s + 2.0 * v * s * one_minus_s * du)
        }
    }
}

/// `$each!(k)` with `k` the constant `Smooth` value `$kind` holds: each kind gets its own
/// loop, with its branches and constants folded in, so that each loop vectorizes.
macro_rules! per_kind {
    ($kind:expr, $each:ident) => {
        match $kind {
            Smooth::Sigmoid => $each!(Smooth::Sigmoid),
            Smooth::Tanh => $each!(Smooth::Tanh),
            Smooth::Silu => $each!(Smooth::Silu),
            Smooth::Mish => $each!(Smooth::Mish),
            Smooth::Elu { alpha } => $each!(Smooth::Elu { alpha }),
            Smooth::Selu => $each!(Smooth::Selu),
            Smooth::Gelu => $each!(Smooth::Gelu),
            Smooth::GeluTanh => $each!(Smooth::GeluTanh),
        }
    };
}

wide! {
    /// `value` over a chunk.
    fn forward_chunk(xs: &[f32], out: &mut [MaybeUninit<f32>], kind: Smooth) {
        macro_rules! each {
            ($k:expr) => {
                for (o, &x) in out.iter_mut().zip(xs) {
                    o.write(value($k, x));
                }
            };
        }
        per_kind!(kind, each);
    }
}

wide! {
    /// `slope` over a chunk, as `forward_chunk`.
    fn backward_chunk(vs: &[f32], gs: &[f32], out: &mut [MaybeUninit<f32>], kind: Smooth) {
        macro_rules! each {
            ($k:expr) => {
                for (o, (&v, &g)) in out.iter_mut().zip(vs.iter().zip(gs)) {
                    o.write(slope($k, v, g));
                }
            };
        }
        per_kind!(kind, each);
    }
}

/// Elements per parallel job: each is ~10-40 ns of work, so a job is tens of microseconds.
const CHUNK: usize = 8192;

/// `len` outputs, written chunk by chunk in parallel by `fill(chunk index, chunk)`.
fn par_fill(len: usize, fill: impl Fn(usize, &mut [MaybeUninit<f32>]) + Sync) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(len);
    out.spare_capacity_mut()[..len]
        .par_chunks_mut(CHUNK)
        .enumerate()
        .for_each(|(i, o)| fill(i * CHUNK, o));
    // SAFETY: the chunks cover all len elements and `fill` writes each element of its chunk.
    unsafe { out.set_len(len) };
    out
}

fn smooth_forward(x: &FlexTensor, kind: Smooth) -> FlexTensor {
    let xs = values(x);
    let y = par_fill(xs.len(), |at, o| {
        forward_chunk(&xs[at..at + o.len()], o, kind)
    });
    tensor(y, dims(x))
}

impl CpuSmooth for Flex {
    fn cpu_smooth(x: FlexTensor, kind: Smooth) -> FlexTensor {
        smooth_forward(&x, kind)
    }
}

#[derive(Debug)]
struct SmoothBackward;

impl Backward<Flex, 1> for SmoothBackward {
    /// The output or the input (`Smooth::backward_reads_output`), and the kind.
    type State = (FlexTensor, Smooth);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (v, kind) = ops.state;
        if let Some(node) = node_x {
            let (vs, gs) = (values(&v), values(&dy));
            let dx = par_fill(vs.len(), |at, o| {
                let end = at + o.len();
                backward_chunk(&vs[at..end], &gs[at..end], o, kind)
            });
            grads.register::<Flex>(node.id, tensor(dx, dims(&v)));
        }
    }
}

impl<C: CheckpointStrategy> CpuSmooth for Autodiff<Flex, C> {
    fn cpu_smooth(x: FloatTensor<Self>, kind: Smooth) -> FloatTensor<Self> {
        let (xp, xn) = x.into_parts();
        let y = smooth_forward(&xp, kind);
        let kept = if kind.backward_reads_output() {
            // The input goes now, unless another operation holds it.
            drop(xp);
            y.clone()
        } else {
            xp
        };
        match SmoothBackward.prepare::<C>([xn]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((kept, kind), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

#[cfg(test)]
#[path = "smooth_tests.rs"]
mod tests;
