//! PReLU as one pass forward and one backward (Burn composes it from a comparison, a
//! multiply and a masked select, each with its own gradient pass: a fifth of a bn-prelu-cnn
//! step on flex). Gradients follow PyTorch: slope 1 where x > 0, alpha elsewhere.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::PRelu;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::{PAR_MIN, channel_planes, dims, map_planes, on_flex, sum_zip, tensor, values};

#[backend_extension(Flex, Autodiff)]
pub trait CpuPrelu: Backend {
    /// PReLU with `alpha` of length 1 or one per channel (dimension 1).
    fn cpu_prelu(x: FloatTensor<Self>, alpha: FloatTensor<Self>) -> FloatTensor<Self>;
    /// ReLU (`slope` 0) or LeakyReLU with a slope of at least 0: its backward pass reads the
    /// output, not the input.
    fn cpu_leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self>;
}

/// `PRelu::forward`, through the one-pass operation on flex.
pub fn forward<const D: usize>(prelu: &PRelu, x: Tensor<D>) -> Tensor<D> {
    let (dtype, own) = (x.dtype(), prelu.alpha.val().dtype());
    if dtype != own {
        return forward(prelu, x.cast(own)).cast(dtype);
    }
    if D < 2 || !on_flex(&x) {
        return prelu.forward(x);
    }
    let alpha = prelu.alpha.val();
    let channels = x.dims()[1];
    if alpha.dims()[0] != 1 && alpha.dims()[0] != channels {
        return prelu.forward(x);
    }
    let out =
        <burn::backend::Dispatch as CpuPrelu>::cpu_prelu(x.into_dispatch(), alpha.into_dispatch());
    Tensor::from_dispatch(out)
}

/// ReLU (slope 0) and LeakyReLU (a fixed slope) in one pass, with a constant slope that gets
/// no gradient; `elsewhere` (Burn's layer) when `x` is not on flex. Burn's flex ReLU is a
/// mask, a select and a second mask for the gradient (ResNet-18 runs 17 of them).
pub fn fixed_slope<const D: usize>(
    x: Tensor<D>,
    slope: f64,
    elsewhere: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    if D < 2 || !on_flex(&x) {
        return elsewhere(x);
    }
    if slope >= 0.0 {
        let out =
            <burn::backend::Dispatch as CpuPrelu>::cpu_leaky_relu(x.into_dispatch(), slope as f32);
        return Tensor::from_dispatch(out);
    }
    let alpha = Tensor::<1>::from_floats([slope as f32], &x.device());
    let out =
        <burn::backend::Dispatch as CpuPrelu>::cpu_prelu(x.into_dispatch(), alpha.into_dispatch());
    Tensor::from_dispatch(out)
}

/// `v` where `sign > 0`, `slope * v` elsewhere, with plane `row`'s slope `slope(row)`: the
/// forward pass (sign = v = x) and the input gradient (sign = x, v = the upstream gradient).
fn slope_unless_positive(
    sign: &[f32],
    v: &[f32],
    plane: usize,
    slope: impl Fn(usize) -> f32 + Sync,
) -> Vec<f32> {
    map_planes(sign, v, plane, |row| {
        let s = slope(row);
        move |m, x| if m > 0.0 { x } else { s * x }
    })
}

/// `slope_unless_positive` with PReLU's slopes `a`: one for every channel, or one per channel
/// (planes are rows of [n * c, h * w]).
fn prelu_slopes(sign: &[f32], v: &[f32], (channels, plane): (usize, usize), a: &[f32]) -> Vec<f32> {
    if a.len() == 1 {
        return same_slope(sign, v, a[0]);
    }
    if plane == 1 {
        return slope_per_feature(sign, v, a);
    }
    slope_unless_positive(sign, v, plane, |row| a[row % channels])
}

/// One slope for all: blocks of any length will do. A flat [batch, features] tensor has planes
/// of one element, and cutting it into those called a closure per element (ReLU after a linear
/// layer was 9% of an MLP step).
fn same_slope(sign: &[f32], v: &[f32], slope: f32) -> Vec<f32> {
    slope_unless_positive(sign, v, PAR_MIN, |_| slope)
}

/// A flat [batch, features] tensor with one slope per feature: row by row.
fn slope_per_feature(sign: &[f32], v: &[f32], a: &[f32]) -> Vec<f32> {
    let rows = PAR_MIN.div_ceil(a.len()) * a.len();
    let mut out = vec![0.0f32; sign.len()];
    let jobs = out
        .par_chunks_mut(rows)
        .zip(sign.par_chunks(rows).zip(v.par_chunks(rows)));
    jobs.for_each(|(o, (s, v))| {
        let rows = o
            .chunks_mut(a.len())
            .zip(s.chunks(a.len()).zip(v.chunks(a.len())));
        for (o, (s, v)) in rows {
            for (o, ((&m, &x), &k)) in o.iter_mut().zip(s.iter().zip(v).zip(a)) {
                *o = if m > 0.0 { x } else { k * x };
            }
        }
    });
    out
}

fn prelu_forward(x: &FlexTensor, alpha: &FlexTensor) -> FlexTensor {
    let (xs, a) = (values(x), values(alpha));
    tensor(prelu_slopes(&xs, &xs, channel_planes(x), &a), dims(x))
}

fn leaky_forward(x: &FlexTensor, slope: f32) -> FlexTensor {
    let xs = values(x);
    tensor(same_slope(&xs, &xs, slope), dims(x))
}

impl CpuPrelu for Flex {
    fn cpu_prelu(x: FlexTensor, alpha: FlexTensor) -> FlexTensor {
        prelu_forward(&x, &alpha)
    }
    fn cpu_leaky_relu(x: FlexTensor, slope: f32) -> FlexTensor {
        leaky_forward(&x, slope)
    }
}

/// With a slope of at least 0, y > 0 exactly where x > 0 (NaN, -0 and underflow included),
/// so the gradient mask comes from the output. The output is kept anyway by the next layer
/// (a conv saves its input), while the input (batch norm's output) can then be freed as
/// soon as it is used: at batch 256 that is a quarter of ResNet-18's activation memory.
#[derive(Debug)]
struct LeakyReluBackward;

impl Backward<Flex, 1> for LeakyReluBackward {
    type State = (FlexTensor, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (y, slope) = ops.state;
        if let Some(node) = node_x {
            let (ys, g) = (values(&y), values(&dy));
            let dx = same_slope(&ys, &g, slope);
            grads.register::<Flex>(node.id, tensor(dx, dims(&y)));
        }
    }
}

#[derive(Debug)]
struct PreluBackward;

impl Backward<Flex, 2> for PreluBackward {
    type State = (FlexTensor, FlexTensor);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_a] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, alpha) = ops.state;
        let (channels, plane) = channel_planes(&x);
        let (xs, a, g) = (values(&x), values(&alpha), values(&dy));
        if let Some(node) = node_x {
            let dx = prelu_slopes(&xs, &g, (channels, plane), &a);
            grads.register::<Flex>(node.id, tensor(dx, dims(&x)));
        }
        if let Some(node) = node_a {
            // Per-plane sums in parallel, then added in plane order: thread-count independent.
            let sums: Vec<f32> = xs
                .par_chunks(plane)
                .zip(g.par_chunks(plane))
                .with_min_len(PAR_MIN.div_ceil(plane))
                .map(|(xr, gr)| sum_zip(xr, gr, |v, gv| if v > 0.0 { 0.0 } else { v * gv }))
                .collect();
            let mut da = vec![0.0f32; a.len()];
            for (row, s) in sums.iter().enumerate() {
                da[if a.len() == 1 { 0 } else { row % channels }] += s;
            }
            grads.register::<Flex>(node.id, tensor(da, dims(&alpha)));
        }
    }
}

impl<C: CheckpointStrategy> CpuPrelu for Autodiff<Flex, C> {
    fn cpu_prelu(x: FloatTensor<Self>, alpha: FloatTensor<Self>) -> FloatTensor<Self> {
        let (xp, xn) = x.into_parts();
        let (ap, an) = alpha.into_parts();
        let y = prelu_forward(&xp, &ap);
        match PreluBackward
            .prepare::<C>([xn, an])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((xp, ap), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn cpu_leaky_relu(x: FloatTensor<Self>, slope: f32) -> FloatTensor<Self> {
        let (xp, xn) = x.into_parts();
        let y = leaky_forward(&xp, slope);
        // The input goes now, unless another operation holds it.
        drop(xp);
        match LeakyReluBackward
            .prepare::<C>([xn])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((y.clone(), slope), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}
