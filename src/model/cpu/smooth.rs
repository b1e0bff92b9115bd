//! The smooth activations (sigmoid, tanh, SiLU, Mish, ELU, SELU, GELU and its tanh form), and
//! MobileNet's piecewise ones (Hardtanh and ReLU6, Hardsigmoid, Hardswish), as one pass
//! forward and one backward. Burn's flex backend computes sigmoid and tanh one element at a time through the
//! C library (no SIMD), and composes the other four from three to six tensor operations, each
//! with its own gradient pass: a sigmoid or tanh mnist-cnn epoch took twice a ReLU one, and
//! PyTorch's three times. Here every element runs the same branch-free arithmetic (an exp of
//! a few ulps, `exp` below), which the compiler vectorizes: 8 lanes with AVX2 (`wide!`).
//!
//! Values and slopes are PyTorch's: x <= 0 takes ELU's and SELU's negative branch, outputs
//! underflow to exactly 0 where exp(x) would (no subnormals reach the next layer), and no
//! input makes a NaN that PyTorch would not. Sigmoid, tanh, ELU, SELU and Hardtanh read their
//! output in the backward pass, as PyTorch's do, so their input can be freed at once (as
//! ReLU's); the others read their input.

use std::mem::MaybeUninit;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::smooth_math::{
    clamp, elu, gelu_tanh_parts, normal_cdf_pdf, relu6_shifted, sigmoid, sigmoid_pair, tanh,
    tanh_softplus,
};
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
    /// Hardtanh (ReLU6 is [0, 6]): x clamped to [min, max], slope 1 strictly between.
    Clamp {
        min: f32,
        max: f32,
    },
    /// relu6(x + 3) / 6.
    Hardsigmoid,
    /// x relu6(x + 3) / 6.
    Hardswish,
}

/// SELU's fixed constants (`model::elu`'s), rounded to f32.
const SELU_ALPHA: f32 = crate::model::elu::SELU_ALPHA as f32;
const SELU_SCALE: f32 = crate::model::elu::SELU_SCALE as f32;

impl Smooth {
    /// Whether the backward pass reads the output (else the input).
    fn backward_reads_output(self) -> bool {
        !matches!(
            self,
            Smooth::Silu
                | Smooth::Mish
                | Smooth::Gelu
                | Smooth::GeluTanh
                | Smooth::Hardsigmoid
                | Smooth::Hardswish
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
        Smooth::Clamp { min, max } => clamp(x, min, max),
        Smooth::Hardsigmoid => relu6_shifted(x) / 6.0,
        Smooth::Hardswish => x * relu6_shifted(x) / 6.0,
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
        // PyTorch's backward branches, kinks included: 0 at Hardtanh's bounds (the output
        // is the bound exactly where the input reached it) and at Hardsigmoid's -3 and 3;
        // Hardswish's x / 3 + 1/2 strictly between -3 and 3, 0 at -3, 1 at 3. A NaN input
        // passes its gradient on.
        Smooth::Clamp { min, max } => {
            if v <= min || v >= max {
                0.0
            } else {
                g
            }
        }
        Smooth::Hardsigmoid => {
            if v > -3.0 && v < 3.0 {
                g * (1.0 / 6.0)
            } else {
                0.0
            }
        }
        Smooth::Hardswish => {
            if v <= -3.0 {
                0.0
            } else if v < 3.0 {
                g * (v / 3.0 + 0.5)
            } else {
                g
            }
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
            Smooth::Clamp { min, max } => $each!(Smooth::Clamp { min, max }),
            Smooth::Hardsigmoid => $each!(Smooth::Hardsigmoid),
            Smooth::Hardswish => $each!(Smooth::Hardswish),
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
