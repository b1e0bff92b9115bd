//! Average pooling over square windows (the same padding on every side, counted in each
//! average as PyTorch's count_include_pad=True does) as one pass forward and one back. Flex runs it through its generic 3-D pooling, which made LeNet-5 with average pools
//! train at 0.63x the speed of the same net with max pools (bench/RESULTS.md, "Average pooling
//! over windows"), where PyTorch runs both at the same speed. The sums follow PyTorch's CPU
//! kernel: each window's inputs added in row-major order, then divided by k * k; backward
//! adds grad / (k * k) to each input of the window.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::pool::AvgPool2d;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::pool_window::{self, PoolWindow};
use super::{dims, on_flex, tensor, values};

#[backend_extension(Flex, Autodiff)]
pub trait CpuAvgPool: Backend {
    /// Average pooling over [n, c, h, w] with a k x k window moved by `stride`, over the
    /// plane with `padding` zeros on every side.
    fn cpu_avg_pool2d(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

/// `AvgPool2d::forward`, through the one-pass operation on flex for plain square windows.
pub fn forward(pool: &AvgPool2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let window = pool_window::plain(
        pool.kernel_size,
        pool.stride,
        &pool.padding,
        pool.ceil_mode,
        (h, w),
    );
    // Burn's average can leave the padding out of it, and divide a window over the edge by
    // the pixels it covers; this pass counts the padding and divides by k * k.
    let takes = |&(.., p, over_edge): &(usize, usize, usize, bool)| {
        (p == 0 || pool.count_include_pad) && !over_edge
    };
    let Some((k, s, p, _)) = window.filter(takes) else {
        return pool.forward(x);
    };
    if !on_flex(&x) {
        return pool.forward(x);
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as CpuAvgPool>::cpu_avg_pool2d(
        x.into_dispatch(),
        k,
        s,
        p,
    ))
}

/// One plane's averages.
fn pool_plane(xp: &[f32], g: PoolWindow, yp: &mut [f32]) {
    let count = (g.k * g.k) as f32;
    for (oy, yr) in yp.chunks_exact_mut(g.ow).enumerate() {
        for (ox, y) in yr.iter_mut().enumerate() {
            let cols = g.span(ox, g.w);
            let mut sum = 0.0f32;
            for row in g.span(oy, g.h) {
                sum = xp[row * g.w..][cols.clone()]
                    .iter()
                    .fold(sum, |a, &v| a + v);
            }
            *y = sum / count;
        }
    }
}

/// 2x2 windows every 2 pixels, in PyTorch's order ((a + b) + c) + d, as whole rows that the
/// compiler vectorizes.
fn pool_plane_2x2(xp: &[f32], g: PoolWindow, yp: &mut [f32]) {
    for (oy, yr) in yp.chunks_exact_mut(g.ow).enumerate() {
        let top = &xp[2 * oy * g.w..][..2 * g.ow];
        let bottom = &xp[(2 * oy + 1) * g.w..][..2 * g.ow];
        for (y, (t, b)) in yr
            .iter_mut()
            .zip(top.chunks_exact(2).zip(bottom.chunks_exact(2)))
        {
            *y = (((t[0] + t[1]) + b[0]) + b[1]) / 4.0;
        }
    }
}

/// The gradient of `pool_plane_2x2`: the windows do not overlap, so each input is written once.
fn unpool_plane_2x2(gp: &[f32], g: PoolWindow, dp: &mut [f32]) {
    for (oy, gr) in gp.chunks_exact(g.ow).enumerate() {
        let (top, bottom) = dp[2 * oy * g.w..].split_at_mut(g.w);
        for ((t, b), &grad) in top[..2 * g.ow]
            .chunks_exact_mut(2)
            .zip(bottom[..2 * g.ow].chunks_exact_mut(2))
            .zip(gr)
        {
            let share = grad / 4.0;
            t.fill(share);
            b.fill(share);
        }
    }
}

/// One plane's input gradient: each window's share, grad / (k * k), added to its inputs
/// (windows that overlap add up; rows and columns past the last window get nothing).
fn unpool_plane(gp: &[f32], g: PoolWindow, dp: &mut [f32]) {
    let count = (g.k * g.k) as f32;
    for (oy, gr) in gp.chunks_exact(g.ow).enumerate() {
        for (ox, &grad) in gr.iter().enumerate() {
            let share = grad / count;
            let cols = g.span(ox, g.w);
            for row in g.span(oy, g.h) {
                dp[row * g.w..][cols.clone()]
                    .iter_mut()
                    .for_each(|d| *d += share);
            }
        }
    }
}

fn pool_forward(x: &FlexTensor, k: usize, s: usize, p: usize) -> FlexTensor {
    let d = dims(x);
    let g = PoolWindow::new(&d, k, s, p);
    let xs = values(x);
    let (in_plane, out_plane) = (d[2] * d[3], g.oh * g.ow);
    let mut y = vec![0.0f32; xs.len() / in_plane * out_plane];
    y.par_chunks_mut(out_plane)
        .zip(xs.par_chunks(in_plane))
        .for_each(|(yp, xp)| match (k, s, p) {
            (2, 2, 0) => pool_plane_2x2(xp, g, yp),
            _ => pool_plane(xp, g, yp),
        });
    tensor(y, [d[0], d[1], g.oh, g.ow])
}

impl CpuAvgPool for Flex {
    fn cpu_avg_pool2d(x: FlexTensor, kernel: usize, stride: usize, padding: usize) -> FlexTensor {
        pool_forward(&x, kernel, stride, padding)
    }
}

#[derive(Debug)]
struct AvgPoolBackward;

impl Backward<Flex, 1> for AvgPoolBackward {
    /// The input's shape, window, stride, padding: the gradient needs no values of the pass.
    type State = (Vec<usize>, usize, usize, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let Some(node) = node_x else { return };
        let (shape, k, s, p) = ops.state;
        let g = PoolWindow::new(&shape, k, s, p);
        let (in_plane, out_plane) = (shape[2] * shape[3], g.oh * g.ow);
        let gs = values(&dy);
        let mut dx = vec![0.0f32; shape.iter().product()];
        dx.par_chunks_mut(in_plane)
            .zip(gs.par_chunks(out_plane))
            .for_each(|(dp, gp)| match (k, s, p) {
                (2, 2, 0) => unpool_plane_2x2(gp, g, dp),
                _ => unpool_plane(gp, g, dp),
            });
        grads.register::<Flex>(node.id, tensor(dx, shape));
    }
}

impl<C: CheckpointStrategy> CpuAvgPool for Autodiff<Flex, C> {
    fn cpu_avg_pool2d(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let (xp, xn) = x.into_parts();
        let shape = dims(&xp);
        let y = pool_forward(&xp, kernel, stride, padding);
        match AvgPoolBackward
            .prepare::<C>([xn])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((shape, kernel, stride, padding), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The 2x2 passes against the generic ones, bit for bit (the same order of additions), on
    /// odd and even planes.
    #[test]
    fn two_by_two_matches_the_generic_pass() {
        for (h, w) in [(2, 2), (5, 7), (28, 28), (11, 10)] {
            let x: Vec<f32> = (0..h * w)
                .map(|v| ((v * 7919) % 255) as f32 / 7.0)
                .collect();
            let g = PoolWindow::new(&[1, 1, h, w], 2, 2, 0);
            let (mut fast, mut generic) = (vec![0.0; g.oh * g.ow], vec![0.0; g.oh * g.ow]);
            pool_plane_2x2(&x, g, &mut fast);
            pool_plane(&x, g, &mut generic);
            assert_eq!(fast, generic, "{h}x{w}");
            let grad: Vec<f32> = (0..g.oh * g.ow).map(|v| v as f32 - 3.5).collect();
            let (mut fast, mut generic) = (vec![0.0; h * w], vec![0.0; h * w]);
            unpool_plane_2x2(&grad, g, &mut fast);
            unpool_plane(&grad, g, &mut generic);
            assert_eq!(fast, generic, "{h}x{w} gradient");
        }
    }

    /// Hand-computed: a 3x5 plane of 0..15, windows of 2 every 2 (the last row and column
    /// left out), then windows of 3 every 1 that overlap.
    #[test]
    fn averages_and_gradients_by_hand() {
        let x: Vec<f32> = (0..15).map(|v| v as f32).collect();
        let g = PoolWindow::new(&[1, 1, 3, 5], 2, 2, 0);
        let mut y = vec![0.0; g.oh * g.ow];
        pool_plane(&x, g, &mut y);
        // (0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4
        assert_eq!(y, [3.0, 5.0]);
        let mut dx = vec![0.0; 15];
        unpool_plane(&[4.0, 8.0], g, &mut dx);
        let want = [1., 1., 2., 2., 0., 1., 1., 2., 2., 0., 0., 0., 0., 0., 0.];
        assert_eq!(dx, want);

        let g = PoolWindow::new(&[1, 1, 3, 5], 3, 1, 0);
        let mut y = vec![0.0; g.oh * g.ow];
        pool_plane(&x, g, &mut y);
        // The windows' centres: 6, 7, 8.
        assert_eq!(y, [6.0, 7.0, 8.0]);
        let mut dx = vec![0.0; 15];
        unpool_plane(&[9.0, 18.0, 27.0], g, &mut dx);
        // Shares 1, 2, 3; column j is in windows max(0, j-2)..=min(2, j).
        let row = [1., 3., 6., 5., 3.];
        assert_eq!(dx, [row, row, row].concat());
    }

    /// Padding of 1 around a 3x5 plane of ones, windows of 3 every 2: each average counts
    /// the padding's zeros (PyTorch's count_include_pad=True), so a corner window is 4/9;
    /// backward, each input gets 1/9 of every window that covers it.
    #[test]
    fn padding_counts_as_zeros() {
        let g = PoolWindow::new(&[1, 1, 3, 5], 3, 2, 1);
        let mut y = vec![0.0; g.oh * g.ow];
        pool_plane(&[1.0; 15], g, &mut y);
        let want: Vec<f32> = [4., 6., 4., 4., 6., 4.].iter().map(|v| v / 9.0).collect();
        assert_eq!(y, want);
        let mut dx = vec![0.0; 15];
        unpool_plane(&[9.0; 6], g, &mut dx);
        let edge = [1., 2., 1., 2., 1.];
        assert_eq!(dx, [edge, edge.map(|v| 2.0 * v), edge].concat());
    }
}
