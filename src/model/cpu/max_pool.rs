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

wide! {
    /// The same for 2x2 windows with stride 2, branch-free: each of the four inputs gets the
    /// gradient if it is the first to equal the max. The window's four inputs are first split
    /// into four contiguous runs (even and odd columns of both rows), so the compares and
    /// selects run over whole vectors; `buf` holds 8 * ow values.
    fn unpool_plane_2x2(
        xp: &[f32],
        yp: &[f32],
        gp: &[f32],
        w: usize,
        ow: usize,
        dp: &mut [f32],
        buf: &mut [f32],
    ) {
        let (inputs, grads) = buf[..8 * ow].split_at_mut(4 * ow);
        for (oy, (yr, gr)) in yp.chunks_exact(ow).zip(gp.chunks_exact(ow)).enumerate() {
            let (t, b) = inputs.split_at_mut(2 * ow);
            let ((t0, t1), (b0, b1)) = (t.split_at_mut(ow), b.split_at_mut(ow));
            let top = &xp[2 * oy * w..][..2 * ow];
            let bottom = &xp[(2 * oy + 1) * w..][..2 * ow];
            for (j, (p, q)) in top.chunks_exact(2).zip(bottom.chunks_exact(2)).enumerate() {
                (t0[j], t1[j], b0[j], b1[j]) = (p[0], p[1], q[0], q[1]);
            }
            let (gt, gb) = grads.split_at_mut(2 * ow);
            let ((g0, g1), (g2, g3)) = (gt.split_at_mut(ow), gb.split_at_mut(ow));
            for j in 0..ow {
                let (m, g) = (yr[j], gr[j]);
                let e0 = t0[j] == m;
                let e1 = !e0 & (t1[j] == m);
                let e2 = !(e0 | e1) & (b0[j] == m);
                let e3 = !(e0 | e1 | e2) & (b1[j] == m);
                g0[j] = if e0 { g } else { 0.0 };
                g1[j] = if e1 { g } else { 0.0 };
                g2[j] = if e2 { g } else { 0.0 };
                g3[j] = if e3 { g } else { 0.0 };
            }
            let (dtop, rest) = dp[2 * oy * w..].split_at_mut(w);
            let (dtop, dbottom) = (&mut dtop[..2 * ow], &mut rest[..2 * ow]);
            for (j, (p, q)) in dtop.chunks_exact_mut(2).zip(dbottom.chunks_exact_mut(2)).enumerate() {
                (p[0], p[1], q[0], q[1]) = (g0[j], g1[j], g2[j], g3[j]);
            }
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
            .for_each_init(
                || vec![0.0f32; 8 * g.ow],
                |buf, ((dp, xp), (yp, gp))| {
                    if k == 2 && s == 2 {
                        unpool_plane_2x2(xp, yp, gp, g.w, g.ow, dp, buf)
                    } else {
                        unpool_plane(xp, yp, gp, g.w, g.ow, k, s, dp)
                    }
                },
            );
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

#[cfg(test)]
mod tests {
    /// Ties go to the first input of the window in row-major order, as in PyTorch: the four
    /// windows below (two 2x4 planes) hold their max once, four times, three times and twice.
    #[test]
    fn unpool_2x2_gives_ties_to_the_first_maximum() {
        let x = [1.0, 5.0, 7.0, 7.0, /* */ 2.0, 3.0, 7.0, 7.0];
        let (y, g) = ([5.0, 7.0], [10.0, 20.0]);
        let mut dx = [0.0; 8];
        super::unpool_plane_2x2(&x, &y, &g, 4, 2, &mut dx, &mut [0.0; 16]);
        assert_eq!(dx, [0.0, 10.0, 20.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let x = [0.0, 4.0, 9.0, 1.0, /* */ 4.0, 4.0, 2.0, 9.0];
        let mut dx = [0.0; 8];
        super::unpool_plane_2x2(&x, &[4.0, 9.0], &g, 4, 2, &mut dx, &mut [0.0; 16]);
        assert_eq!(dx, [0.0, 10.0, 20.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
