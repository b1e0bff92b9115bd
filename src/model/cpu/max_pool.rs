//! Max pooling (square window, no padding, no dilation) as one pass forward and one back.
//! Flex goes through its generic 3-D pooling with per-element index arithmetic. The backward
//! step finds each window's winner again by comparing the input with the output (first
//! maximum wins ties, as in PyTorch) instead of storing indices.

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

/// 2x2 windows with stride 2 on one plane: the max of two rows, then of neighbouring pairs.
/// Plain `max` over rows lets the compiler vectorize it without data-dependent branches
/// (a compare-and-keep-index loop mispredicted so often that it took a quarter of a step).
fn pool_plane_2x2(xp: &[f32], w: usize, oh: usize, ow: usize, yp: &mut [f32], rows: &mut [f32]) {
    for oy in 0..oh {
        let top = &xp[2 * oy * w..][..2 * ow];
        let bottom = &xp[(2 * oy + 1) * w..][..2 * ow];
        rows.iter_mut()
            .zip(top.iter().zip(bottom))
            .for_each(|(r, (t, b))| *r = t.max(*b));
        let yr = &mut yp[oy * ow..][..ow];
        yr.iter_mut()
            .zip(rows.chunks_exact(2))
            .for_each(|(y, pair)| *y = pair[0].max(pair[1]));
    }
}

/// Any square window and stride, on one plane.
#[allow(clippy::too_many_arguments)]
fn pool_plane(xp: &[f32], w: usize, oh: usize, ow: usize, k: usize, s: usize, yp: &mut [f32]) {
    for oy in 0..oh {
        for ox in 0..ow {
            let mut best = f32::NEG_INFINITY;
            for ky in 0..k {
                let row = (oy * s + ky) * w + ox * s;
                best = xp[row..row + k].iter().fold(best, |m, &v| m.max(v));
            }
            yp[oy * ow + ox] = best;
        }
    }
}

/// The output of max pooling `x` with a k x k window and stride `s`. NaN inputs are skipped
/// (Rust's `f32::max`), unlike PyTorch, which propagates them; a NaN that large would show in
/// the loss and stop the run through the divergence guard anyway.
fn pool_forward(x: &FlexTensor, k: usize, s: usize) -> FlexTensor {
    let g = geometry(x, k, s);
    let xs = values(x);
    let (in_plane, out_plane) = (g.h * g.w, g.oh * g.ow);
    let mut y = vec![0.0f32; xs.len() / in_plane * out_plane];
    y.par_chunks_mut(out_plane)
        .zip(xs.par_chunks(in_plane))
        .for_each_init(
            || vec![0.0f32; 2 * g.ow],
            |rows, (yp, xp)| {
                if k == 2 && s == 2 {
                    pool_plane_2x2(xp, g.w, g.oh, g.ow, yp, rows)
                } else {
                    pool_plane(xp, g.w, g.oh, g.ow, k, s, yp)
                }
            },
        );
    let d = dims(x);
    tensor(y, [d[0], d[1], g.oh, g.ow])
}

/// Routes each output gradient to the first input of its window equal to the window's max
/// (PyTorch's choice among ties), adding up where windows overlap.
#[allow(clippy::too_many_arguments)]
fn unpool_plane(
    xp: &[f32],
    yp: &[f32],
    gp: &[f32],
    w: usize,
    ow: usize,
    k: usize,
    s: usize,
    dp: &mut [f32],
) {
    for (o, (&m, &g)) in yp.iter().zip(gp).enumerate() {
        let (oy, ox) = (o / ow, o % ow);
        'window: for ky in 0..k {
            let row = (oy * s + ky) * w + ox * s;
            for i in row..row + k {
                if xp[i] == m {
                    dp[i] += g;
                    break 'window;
                }
            }
        }
    }
}

/// The same for 2x2 windows with stride 2, branch-free: each of the four inputs gets the
/// gradient times "I am the first to equal the max".
fn unpool_plane_2x2(xp: &[f32], yp: &[f32], gp: &[f32], w: usize, ow: usize, dp: &mut [f32]) {
    for (oy, (yr, gr)) in yp.chunks_exact(ow).zip(gp.chunks_exact(ow)).enumerate() {
        let top = &xp[2 * oy * w..][..2 * ow];
        let bottom = &xp[(2 * oy + 1) * w..][..2 * ow];
        let (dtop, rest) = dp[2 * oy * w..].split_at_mut(w);
        let (dtop, dbottom) = (&mut dtop[..2 * ow], &mut rest[..2 * ow]);
        let windows = top.chunks_exact(2).zip(bottom.chunks_exact(2));
        let grads = dtop.chunks_exact_mut(2).zip(dbottom.chunks_exact_mut(2));
        for (((t, b), (dt, db)), (&m, &g)) in windows.zip(grads).zip(yr.iter().zip(gr)) {
            let e0 = t[0] == m;
            let e1 = !e0 & (t[1] == m);
            let e2 = !(e0 | e1) & (b[0] == m);
            let e3 = !(e0 | e1 | e2) & (b[1] == m);
            dt[0] = g * f32::from(u8::from(e0));
            dt[1] = g * f32::from(u8::from(e1));
            db[0] = g * f32::from(u8::from(e2));
            db[1] = g * f32::from(u8::from(e3));
        }
    }
}

impl CpuMaxPool for Flex {
    fn cpu_max_pool2d(x: FlexTensor, kernel: usize, stride: usize) -> FlexTensor {
        pool_forward(&x, kernel, stride)
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    /// Input, output, window, stride.
    type State = (FlexTensor, FlexTensor, usize, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let Some(node) = node_x else { return };
        let (x, y, k, s) = ops.state;
        let g = geometry(&x, k, s);
        let (in_plane, out_plane) = (g.h * g.w, g.oh * g.ow);
        let (xs, ys, gs) = (values(&x), values(&y), values(&dy));
        let mut dx = vec![0.0f32; xs.len()];
        dx.par_chunks_mut(in_plane)
            .zip(xs.par_chunks(in_plane))
            .zip(ys.par_chunks(out_plane).zip(gs.par_chunks(out_plane)))
            .for_each(|((dp, xp), (yp, gp))| {
                if k == 2 && s == 2 {
                    unpool_plane_2x2(xp, yp, gp, g.w, g.ow, dp)
                } else {
                    unpool_plane(xp, yp, gp, g.w, g.ow, k, s, dp)
                }
            });
        grads.register::<Flex>(node.id, tensor(dx, dims(&x)));
    }
}

impl<C: CheckpointStrategy> CpuMaxPool for Autodiff<Flex, C> {
    fn cpu_max_pool2d(x: FloatTensor<Self>, kernel: usize, stride: usize) -> FloatTensor<Self> {
        let (xp, xn) = x.into_parts();
        let y = pool_forward(&xp, kernel, stride);
        match MaxPoolBackward
            .prepare::<C>([xn])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((xp, y.clone(), kernel, stride), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}
