//! Depthwise convolution (PyTorch's `groups` = input channels: MobileNet's 3x3 convs) as a
//! Burn operation on flex, forward and backward. Burn's flex conv2d runs such a conv as one
//! small GEMM per group; here each plane is a few multiply-adds per tap
//! (`depthwise_planes`), planes in parallel. Any kernel size, stride, padding (the same on
//! both sides) and dilation, and any number of outputs per input channel.
//!
//! Results do not depend on the thread count: every output and input gradient is summed by
//! one thread in a fixed order, and the weight gradients are per-image sums added in image
//! order.

use std::mem::MaybeUninit;

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;
use burn::tensor::ops::ConvOptions;

use super::chunks::{backward_in_chunks, filled_in_chunks, with_scratch};
pub use super::depthwise_planes::Depthwise;
use super::depthwise_planes::{Plan, backward_plane, forward_plane, pad_plane, unpad_plane};
use super::{PAR_MIN, tensor, values};

#[backend_extension(Flex, Autodiff)]
pub trait CpuDepthwise: Backend {
    /// conv2d with one group per input channel, sized by `g` (its `n`, `c`, `h`, `w` are the
    /// input's).
    fn cpu_depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        g: Depthwise,
    ) -> FloatTensor<Self>;
}

/// The sizes of `x` [n, c, h, w] convolved with `weight` [o, c / groups, kh, kw] under
/// `options`, when this is a depthwise conv these passes take: more than one group, one input
/// channel per group, padding the same on both sides, every window inside the padded plane.
pub fn depthwise(x: [usize; 4], weight: [usize; 4], options: &ConvOptions<2>) -> Option<Depthwise> {
    let [n, c, h, w] = x;
    let [o, per_group, kh, kw] = weight;
    let g = Depthwise {
        n,
        c,
        m: o / c.max(1),
        h,
        w,
        kh,
        kw,
        stride: options.stride,
        pad: [options.padding[0].0, options.padding[1].0],
        dilation: options.dilation,
    };
    let takes = options.groups > 1
        && options.groups == c
        && per_group == 1
        && o == g.o()
        && !options.is_asymmetric()
        && options.stride.iter().all(|&s| s > 0)
        && options.dilation.iter().all(|&d| d > 0)
        && kh * kw > 0
        && g.fits();
    takes.then_some(g)
}

/// The depthwise conv of `x` sized by `g` ([`depthwise`]), on flex.
pub fn conv2d(x: Tensor<4>, weight: Tensor<4>, bias: Option<Tensor<1>>, g: Depthwise) -> Tensor<4> {
    let bias = bias.unwrap_or_else(|| Tensor::zeros([g.o()], &weight.device()));
    let out = <burn::backend::Dispatch as CpuDepthwise>::cpu_depthwise_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        g,
    );
    Tensor::from_dispatch(out)
}

/// Planes per parallel job: at least `PAR_MIN` outputs' worth, so 7x7 planes are not each a
/// job of their own.
fn planes_per_job(plane: usize) -> usize {
    PAR_MIN.div_ceil(plane.max(1))
}

fn forward(g: &Depthwise, x: &[f32], weight: &[f32], bias: &[f32]) -> Vec<f32> {
    let (plane_in, plane_out, taps) = (g.h * g.w, g.oh() * g.ow(), g.taps());
    let per = planes_per_job(plane_out);
    let plan = Plan::new(*g);
    let wide = plan.wide_len();
    let (y, _) = filled_in_chunks(g.n * g.o() * plane_out, per * plane_out, |job, part| {
        with_scratch([plan.padded_len(), wide, 0], |padded, wide, _| {
            for (i, out) in part.chunks_exact_mut(plane_out).enumerate() {
                // Output plane p is image p / o's channel j = p % o, reading input plane
                // (image, j / m).
                let p = job * per + i;
                let (image, j) = (p / g.o(), p % g.o());
                let src = (image * g.c + j / g.m) * plane_in;
                pad_plane(&plan, &x[src..src + plane_in], padded);
                let k = &weight[j * taps..(j + 1) * taps];
                forward_plane(&plan, padded, k, bias[j], wide, out);
            }
        })
    });
    y
}

/// The input gradient (when `need_x`), weight gradient and bias gradient.
struct Grads {
    x: Option<Vec<f32>>,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

fn backward(g: &Depthwise, x: &[f32], weight: &[f32], dy: &[f32], need_x: bool) -> Grads {
    let (plane_in, plane_out, taps, m) = (g.h * g.w, g.oh() * g.ow(), g.taps(), g.m);
    let per = planes_per_job(plane_in.max(plane_out));
    let plan = Plan::new(*g);
    let wide = plan.wide_len();
    let dx_len = if need_x { plan.padded_len() } else { 0 };
    // Per input plane: for each of its m output channels, each tap's weight gradient and the
    // bias gradient, summed over that plane.
    let per_plane = m * (taps + 1);
    let (dx, partials) = backward_in_chunks(g.n * g.c, per, plane_in, need_x, |job, dx| {
        let planes = (job * per..((job + 1) * per).min(g.n * g.c)).len();
        let mut sums = vec![0.0f32; planes * per_plane];
        let mut dx = dx.map(|d| d.chunks_exact_mut(plane_in));
        with_scratch(
            [plan.padded_len(), wide, dx_len],
            |padded, wide, dx_padded| {
                for (i, sums) in sums.chunks_exact_mut(per_plane).enumerate() {
                    // Input plane p is image p / c's channel p % c, read by output channels
                    // (p % c) * m onward.
                    let p = job * per + i;
                    let (image, ci) = (p / g.c, p % g.c);
                    pad_plane(&plan, &x[p * plane_in..(p + 1) * plane_in], padded);
                    dx_padded.fill(0.0);
                    for (q, sums) in sums.chunks_exact_mut(taps + 1).enumerate() {
                        let j = ci * m + q;
                        let at = (image * g.o() + j) * plane_out;
                        let dyp = &dy[at..at + plane_out];
                        let k = &weight[j * taps..(j + 1) * taps];
                        let (dk, db) = sums.split_at_mut(taps);
                        let dxp = need_x.then_some(&mut *dx_padded);
                        backward_plane(&plan, padded, k, dyp, wide, dxp, dk);
                        db[0] = super::sum_zip(dyp, dyp, |a, _| a);
                    }
                    if let Some(planes) = dx.as_mut() {
                        let out: &mut [MaybeUninit<f32>] =
                            planes.next().expect("one dx plane per plane");
                        unpad_plane(&plan, dx_padded, out);
                    }
                }
            },
        );
        sums
    });
    // Output channel j's gradients: its per-image sums, added in image order.
    let partials: Vec<f32> = partials.into_iter().flatten().collect();
    let mut dweight = vec![0.0f32; g.o() * taps];
    let mut dbias = vec![0.0f32; g.o()];
    for (p, sums) in partials.chunks_exact(per_plane).enumerate() {
        for (q, s) in sums.chunks_exact(taps + 1).enumerate() {
            let j = (p % g.c) * m + q;
            let dk = &mut dweight[j * taps..(j + 1) * taps];
            dk.iter_mut().zip(s).for_each(|(d, v)| *d += v);
            dbias[j] += s[taps];
        }
    }
    Grads {
        x: dx,
        weight: dweight,
        bias: dbias,
    }
}

fn flex_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    g: &Depthwise,
) -> FlexTensor {
    let y = forward(g, &values(x), &values(weight), &values(bias));
    tensor(y, [g.n, g.o(), g.oh(), g.ow()])
}

impl CpuDepthwise for Flex {
    fn cpu_depthwise_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        g: Depthwise,
    ) -> FlexTensor {
        flex_forward(&x, &weight, &bias, &g)
    }
}

#[derive(Debug)]
struct DepthwiseBackward;

impl Backward<Flex, 3> for DepthwiseBackward {
    /// The input and weight as they were in the forward pass, and the sizes.
    type State = (FlexTensor, FlexTensor, Depthwise);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, weight, g) = ops.state;
        let d = backward(
            &g,
            &values(&x),
            &values(&weight),
            &values(&dy),
            node_x.is_some(),
        );
        if let (Some(node), Some(dx)) = (node_x, d.x) {
            grads.register::<Flex>(node.id, tensor(dx, [g.n, g.c, g.h, g.w]));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, tensor(d.weight, [g.o(), 1, g.kh, g.kw]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(d.bias, [g.o()]));
        }
    }
}

impl<C: CheckpointStrategy> CpuDepthwise for Autodiff<Flex, C> {
    fn cpu_depthwise_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        g: Depthwise,
    ) -> FloatTensor<Self> {
        let (xp, xn) = x.into_parts();
        let (wp, wn) = weight.into_parts();
        let (bp, bn) = bias.into_parts();
        let y = flex_forward(&xp, &wp, &bp, &g);
        match DepthwiseBackward
            .prepare::<C>([xn, wn, bn])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((xp, wp, g), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}
