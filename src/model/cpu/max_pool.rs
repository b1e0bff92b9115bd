//! Max pooling (square window, the same padding on every side, no dilation) as one pass
//! forward and one back. Flex goes through its generic 3-D pooling with per-element index
//! arithmetic. The backward step finds each window's winner again by comparing the input with
//! the output (first maximum wins ties, as in PyTorch) instead of storing indices. Padding
//! never wins (PyTorch pads with -inf): a window is cut to the plane, as is a last window
//! over the edge in ceil mode.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::pool::MaxPool2d;
use burn::tensor::Tensor;
use rayon::prelude::*;

use super::pool_window::{self, PoolWindow};
use super::{dims, on_flex, tensor, values};

#[backend_extension(Flex, Autodiff)]
pub trait CpuMaxPool: Backend {
    /// Max pooling over [n, c, h, w] with a k x k window moved by `stride`, over the plane
    /// with `padding` pixels on every side; `ceil_mode` keeps a last window over the edge.
    fn cpu_max_pool2d(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
        ceil_mode: bool,
    ) -> FloatTensor<Self>;
}

/// `MaxPool2d::forward`, through the one-pass operation on flex for plain square windows.
pub fn forward(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    let window = pool_window::plain(
        pool.kernel_size,
        pool.stride,
        &pool.padding,
        pool.ceil_mode,
        (h, w),
    );
    let Some((k, s, p, over_edge)) = window.filter(|_| pool.dilation == [1, 1]) else {
        return pool.forward(x);
    };
    if !on_flex(&x) {
        return pool.forward(x);
    }
    Tensor::from_dispatch(<burn::backend::Dispatch as CpuMaxPool>::cpu_max_pool2d(
        x.into_dispatch(),
        k,
        s,
        p,
        over_edge,
    ))
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

/// Any square window, stride and padding, on one plane.
fn pool_plane(xp: &[f32], g: PoolWindow, yp: &mut [f32]) {
    for oy in 0..g.oh {
        for ox in 0..g.ow {
            let cols = g.span(ox, g.w);
            let mut best = f32::NEG_INFINITY;
            for y in g.span(oy, g.h) {
                let row = &xp[y * g.w..][cols.clone()];
                best = row.iter().fold(best, |m, &v| m.max(v));
            }
            yp[oy * g.ow + ox] = best;
        }
    }
}

/// The output of max pooling `x` with a k x k window and stride `s`. NaN inputs are skipped
/// (Rust's `f32::max`), unlike PyTorch, which propagates them; a NaN that large would show in
/// the loss and stop the run through the divergence guard anyway.
fn pool_forward(x: &FlexTensor, k: usize, s: usize, p: usize, ceil: bool) -> FlexTensor {
    let g = PoolWindow::with_mode(&dims(x), k, s, p, ceil);
    let xs = values(x);
    let (in_plane, out_plane) = (g.h * g.w, g.oh * g.ow);
    let mut y = vec![0.0f32; xs.len() / in_plane * out_plane];
    y.par_chunks_mut(out_plane)
        .zip(xs.par_chunks(in_plane))
        .for_each_init(
            || vec![0.0f32; 2 * g.ow],
            |rows, (yp, xp)| {
                if (k, s, p, ceil) == (2, 2, 0, false) {
                    pool_plane_2x2(xp, g.w, g.oh, g.ow, yp, rows)
                } else {
                    pool_plane(xp, g, yp)
                }
            },
        );
    let d = dims(x);
    tensor(y, [d[0], d[1], g.oh, g.ow])
}

/// Routes each output gradient to the first input of its window equal to the window's max
/// (PyTorch's choice among ties), adding up where windows overlap.
fn unpool_plane(xp: &[f32], yp: &[f32], gp: &[f32], g: PoolWindow, dp: &mut [f32]) {
    for (o, (&m, &grad)) in yp.iter().zip(gp).enumerate() {
        let (oy, ox) = (o / g.ow, o % g.ow);
        let cols = g.span(ox, g.w);
        'window: for y in g.span(oy, g.h) {
            for i in cols.clone().map(|x| y * g.w + x) {
                if xp[i] == m {
                    dp[i] += grad;
                    break 'window;
                }
            }
        }
    }
}

/// How many rows of windows `unpool_plane_2x2` takes at a time: at least 256 windows, so that
/// its compare pass runs over full vectors even when a row holds only 7 or 14 windows (the
/// seed nets' pools).
fn unpool_block_rows(ow: usize) -> usize {
    256usize.div_ceil(ow)
}

/// The values of `buf` that `unpool_plane_2x2` needs for output rows `ow` windows wide.
fn unpool_buf_len(ow: usize) -> usize {
    4 * unpool_block_rows(ow) * ow
}

/// Calls `group::<G>(.., at)` for groups of G = 8 over `0..n`, or of 4 when n < 8, or one by
/// one when n < 4. When G does not divide n the last group ends at n, overlapping the one
/// before (both write the same values), so nothing is left to a scalar tail; with G a constant
/// the compiler turns each group's moves into a few shuffles. Plain loops, not iterator
/// adapters, so that everything inlines into the AVX2 copy of the caller.
macro_rules! by_groups {
    ($n:expr, $group:ident($($arg:expr),*)) => {{
        let n: usize = $n;
        if n >= 8 {
            let mut at = 0;
            while at + 8 <= n {
                $group::<8>($($arg,)* at);
                at += 8;
            }
            if at < n {
                $group::<8>($($arg,)* n - 8);
            }
        } else if n >= 4 {
            $group::<4>($($arg,)* 0);
            $group::<4>($($arg,)* n - 4);
        } else {
            for at in 0..n {
                $group::<1>($($arg,)* at);
            }
        }
    }};
}

/// even[at + k], odd[at + k] = pairs[2 (at + k)], pairs[2 (at + k) + 1] for k < G.
#[inline(always)]
fn split_group<const G: usize>(pairs: &[f32], even: &mut [f32], odd: &mut [f32], at: usize) {
    let p = &pairs[2 * at..2 * (at + G)];
    let (e, o) = (&mut even[at..at + G], &mut odd[at..at + G]);
    for k in 0..G {
        (e[k], o[k]) = (p[2 * k], p[2 * k + 1]);
    }
}

/// The reverse of `split_group`.
#[inline(always)]
fn join_group<const G: usize>(even: &[f32], odd: &[f32], pairs: &mut [f32], at: usize) {
    let p = &mut pairs[2 * at..2 * (at + G)];
    let (e, o) = (&even[at..at + G], &odd[at..at + G]);
    for k in 0..G {
        (p[2 * k], p[2 * k + 1]) = (e[k], o[k]);
    }
}

wide! {
    /// The same for 2x2 windows with stride 2, branch-free: each of the four inputs gets the
    /// gradient if it is the first to equal the max. A block of rows of windows is first split
    /// into four contiguous runs (even and odd columns of the top and bottom rows), so that the
    /// compares and selects run over whole vectors, then written back interleaved; `buf` holds
    /// `unpool_buf_len(ow)` values.
    fn unpool_plane_2x2(
        xp: &[f32],
        yp: &[f32],
        gp: &[f32],
        w: usize,
        ow: usize,
        dp: &mut [f32],
        buf: &mut [f32],
    ) {
        let (rows, oh) = (unpool_block_rows(ow), yp.len() / ow);
        let cap = rows * ow;
        let (r01, r23) = buf[..4 * cap].split_at_mut(2 * cap);
        let ((r0, r1), (r2, r3)) = (r01.split_at_mut(cap), r23.split_at_mut(cap));
        for first in (0..oh).step_by(rows) {
            let r = rows.min(oh - first);
            let n = r * ow;
            let [v0, v1, v2, v3] = [&mut r0[..n], &mut r1[..n], &mut r2[..n], &mut r3[..n]];
            for i in 0..r {
                let (top, bottom) = xp[2 * (first + i) * w..].split_at(w);
                let (a, b) = (&mut v0[i * ow..][..ow], &mut v1[i * ow..][..ow]);
                by_groups!(ow, split_group(top, a, b));
                let (c, d) = (&mut v2[i * ow..][..ow], &mut v3[i * ow..][..ow]);
                by_groups!(ow, split_group(bottom, c, d));
            }
            let (ys, gs) = (&yp[first * ow..][..n], &gp[first * ow..][..n]);
            for (((a, b), (c, d)), (&m, &g)) in v0
                .iter_mut()
                .zip(v1.iter_mut())
                .zip(v2.iter_mut().zip(v3.iter_mut()))
                .zip(ys.iter().zip(gs))
            {
                let (e0, e1, e2, e3) = (*a == m, *b == m, *c == m, *d == m);
                *a = if e0 { g } else { 0.0 };
                *b = if e1 & !e0 { g } else { 0.0 };
                *c = if e2 & !(e0 | e1) { g } else { 0.0 };
                *d = if e3 & !(e0 | e1 | e2) { g } else { 0.0 };
            }
            for i in 0..r {
                let (top, bottom) = dp[2 * (first + i) * w..].split_at_mut(w);
                let (a, b) = (&v0[i * ow..][..ow], &v1[i * ow..][..ow]);
                by_groups!(ow, join_group(a, b, top));
                let (c, d) = (&v2[i * ow..][..ow], &v3[i * ow..][..ow]);
                by_groups!(ow, join_group(c, d, bottom));
            }
        }
    }
}

impl CpuMaxPool for Flex {
    fn cpu_max_pool2d(
        x: FlexTensor,
        kernel: usize,
        stride: usize,
        padding: usize,
        ceil_mode: bool,
    ) -> FlexTensor {
        pool_forward(&x, kernel, stride, padding, ceil_mode)
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    /// Input, output, window, stride, padding, ceil mode.
    type State = (FlexTensor, FlexTensor, usize, usize, usize, bool);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let Some(node) = node_x else { return };
        let (x, y, k, s, p, ceil) = ops.state;
        let g = PoolWindow::with_mode(&dims(&x), k, s, p, ceil);
        let (in_plane, out_plane) = (g.h * g.w, g.oh * g.ow);
        let (xs, ys, gs) = (values(&x), values(&y), values(&dy));
        let mut dx = vec![0.0f32; xs.len()];
        dx.par_chunks_mut(in_plane)
            .zip(xs.par_chunks(in_plane))
            .zip(ys.par_chunks(out_plane).zip(gs.par_chunks(out_plane)))
            .for_each_init(
                || vec![0.0f32; unpool_buf_len(g.ow)],
                |buf, ((dp, xp), (yp, gp))| {
                    if (k, s, p, ceil) == (2, 2, 0, false) {
                        unpool_plane_2x2(xp, yp, gp, g.w, g.ow, dp, buf)
                    } else {
                        unpool_plane(xp, yp, gp, g, dp)
                    }
                },
            );
        grads.register::<Flex>(node.id, tensor(dx, dims(&x)));
    }
}

impl<C: CheckpointStrategy> CpuMaxPool for Autodiff<Flex, C> {
    fn cpu_max_pool2d(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
        ceil_mode: bool,
    ) -> FloatTensor<Self> {
        let (xp, xn) = x.into_parts();
        let y = pool_forward(&xp, kernel, stride, padding, ceil_mode);
        match MaxPoolBackward
            .prepare::<C>([xn])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let state = (xp, y.clone(), kernel, stride, padding, ceil_mode);
                prep.finish(state, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

#[cfg(test)]
mod tests {
    /// The 2x2 pass against the generic one, on planes of values from {0, 1, 2} (ties in every
    /// arrangement), odd and even sizes: every row width 1-20 windows (one by one, groups of 4
    /// and 8 overlapping or not) and heights that need one or several blocks of rows.
    #[test]
    fn unpool_2x2_matches_the_generic_pass_at_every_width() {
        let mut state = 7u32;
        for ow in 1..=20 {
            for oh in [1, 3, 2 * super::unpool_block_rows(ow) + 1] {
                for (h, w) in [(2 * oh, 2 * ow), (2 * oh + 1, 2 * ow + 1)] {
                    let x: Vec<f32> = (0..h * w)
                        .map(|_| {
                            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                            (state >> 30) as f32 % 3.0
                        })
                        .collect();
                    let mut y = vec![0.0; oh * ow];
                    let geometry = super::PoolWindow::new(&[1, 1, h, w], 2, 2, 0);
                    super::pool_plane(&x, geometry, &mut y);
                    let g: Vec<f32> = (1..=oh * ow).map(|v| v as f32).collect();
                    let (mut fast, mut generic) = (vec![0.0; h * w], vec![0.0; h * w]);
                    let mut buf = vec![0.0; super::unpool_buf_len(ow)];
                    super::unpool_plane_2x2(&x, &y, &g, w, ow, &mut fast, &mut buf);
                    super::unpool_plane(&x, &y, &g, geometry, &mut generic);
                    assert_eq!(fast, generic, "{h}x{w} plane, {ow} windows a row");
                }
            }
        }
    }

    /// Ties go to the first input of the window in row-major order, as in PyTorch: the four
    /// windows below (two 2x4 planes) hold their max once, four times, three times and twice.
    #[test]
    fn unpool_2x2_gives_ties_to_the_first_maximum() {
        let x = [1.0, 5.0, 7.0, 7.0, /* */ 2.0, 3.0, 7.0, 7.0];
        let (y, g) = ([5.0, 7.0], [10.0, 20.0]);
        let mut dx = [0.0; 8];
        super::unpool_plane_2x2(
            &x,
            &y,
            &g,
            4,
            2,
            &mut dx,
            &mut vec![0.0; super::unpool_buf_len(2)],
        );
        assert_eq!(dx, [0.0, 10.0, 20.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        let x = [0.0, 4.0, 9.0, 1.0, /* */ 4.0, 4.0, 2.0, 9.0];
        let mut dx = [0.0; 8];
        super::unpool_plane_2x2(
            &x,
            &[4.0, 9.0],
            &g,
            4,
            2,
            &mut dx,
            &mut vec![0.0; super::unpool_buf_len(2)],
        );
        assert_eq!(dx, [0.0, 10.0, 20.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
    }
}
