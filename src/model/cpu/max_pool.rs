//! Max pooling (square window, no padding, no dilation) as one pass that also records each
//! window's winner, and a backward step that routes the gradient to it. Flex goes through its
//! generic 3-D pooling with per-element index arithmetic; on mnist-cnn that was a third of a
//! step. Ties go to the first maximum in the window, NaN wins (as in PyTorch).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::PaddingConfig2d;
use burn::nn::pool::MaxPool2d;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::{dims, on_flex, tensor, values};

#[backend_extension(Flex, Autodiff)]
pub trait CpuMaxPool: Backend {
    /// Max pooling over [n, c, h, w] with a k x k window moved by `stride`.
    fn cpu_max_pool2d(x: FloatTensor<Self>, kernel: usize, stride: usize) -> FloatTensor<Self>;
}

/// `MaxPool2d::forward`, through the one-pass operation on flex for plain square windows.
pub fn forward(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let [k, kw] = pool.kernel_size;
    let [s, sw] = pool.stride;
    let [_, _, h, w] = x.dims();
    let plain = k == kw
        && s == sw
        && matches!(
            pool.padding,
            PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
        )
        && pool.dilation == [1, 1]
        && (!pool.ceil_mode || ((h - k) % s == 0 && (w - k) % s == 0))
        && h >= k
        && w >= k;
    if !plain || !on_flex(&x) {
        return pool.forward(x);
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as CpuMaxPool>::cpu_max_pool2d(
        x.into_dispatch(),
        k,
        s,
    ))
}

struct Geometry {
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
}

fn geometry(x: &FlexTensor, k: usize, s: usize) -> Geometry {
    let d = dims(x);
    let (h, w) = (d[2], d[3]);
    Geometry {
        h,
        w,
        oh: (h - k) / s + 1,
        ow: (w - k) / s + 1,
    }
}

/// Output and, per output element, the flat index of the winner inside its input plane.
fn pool_forward(x: &FlexTensor, k: usize, s: usize) -> (FlexTensor, Vec<u32>) {
    let g = geometry(x, k, s);
    let xs = values(x);
    let (in_plane, out_plane) = (g.h * g.w, g.oh * g.ow);
    let mut y = vec![0.0f32; xs.len() / in_plane * out_plane];
    let mut arg = vec![0u32; y.len()];
    y.par_chunks_mut(out_plane)
        .zip(arg.par_chunks_mut(out_plane))
        .zip(xs.par_chunks(in_plane))
        .for_each(|((yp, ap), xp)| {
            for oy in 0..g.oh {
                for ox in 0..g.ow {
                    let mut best = (oy * s) * g.w + ox * s;
                    for ky in 0..k {
                        let row = (oy * s + ky) * g.w + ox * s;
                        for i in row..row + k {
                            if xp[i] > xp[best] || (xp[i].is_nan() && !xp[best].is_nan()) {
                                best = i;
                            }
                        }
                    }
                    yp[oy * g.ow + ox] = xp[best];
                    ap[oy * g.ow + ox] = best as u32;
                }
            }
        });
    let d = dims(x);
    (tensor(y, [d[0], d[1], g.oh, g.ow]), arg)
}

impl CpuMaxPool for Flex {
    fn cpu_max_pool2d(x: FlexTensor, kernel: usize, stride: usize) -> FlexTensor {
        pool_forward(&x, kernel, stride).0
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    /// Input shape, output plane size, winners.
    type State = (Vec<usize>, usize, Vec<u32>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let Some(node) = node_x else { return };
        let (shape, out_plane, arg) = ops.state;
        let in_plane = shape[2] * shape[3];
        let gs = values(&dy);
        let mut dx = vec![0.0f32; shape.iter().product()];
        dx.par_chunks_mut(in_plane)
            .zip(gs.par_chunks(out_plane).zip(arg.par_chunks(out_plane)))
            .for_each(|(dp, (gp, ap))| {
                // Windows may overlap (stride < kernel): accumulate.
                for (&g, &a) in gp.iter().zip(ap) {
                    dp[a as usize] += g;
                }
            });
        grads.register::<Flex>(node.id, tensor(dx, shape));
    }
}

impl<C: CheckpointStrategy> CpuMaxPool for Autodiff<Flex, C> {
    fn cpu_max_pool2d(x: FloatTensor<Self>, kernel: usize, stride: usize) -> FloatTensor<Self> {
        let (xp, xn) = x.into_parts();
        let (y, arg) = pool_forward(&xp, kernel, stride);
        let out_plane = dims(&y)[2..].iter().product();
        match MaxPoolBackward
            .prepare::<C>([xn])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((dims(&xp), out_plane, arg), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}
