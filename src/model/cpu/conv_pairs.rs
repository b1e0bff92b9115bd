//! 3x3 stride-1 convolutions on planes so small that every output sees only a few inputs:
//! VGG's 2x2 planes after four pools of a 32x32 image, 1x1 and 3x3 planes. There each pass is
//! a sum over (output position, input position) pairs, each pair one GEMM over the channels
//! with the kernel tap that joins them:
//!   forward      Y[q] = sum over pairs (q, p, t) of W_t (o x c) * X[p] (c x n)
//!   input grad   dX[p] = sum of W_t^T * dY[q]
//!   weight grad  dW_t = sum of dY[q] * X[p]^T
//! with X, Y laid out by position (`[positions][channels][n]`) and W_t read in place from the
//! `[o][c][3][3]` weight (strides 9c and 9). A 2x2 plane has 16 pairs, the multiplies of
//! Winograd's one 4x4 tile, without its transforms: Winograd spends as long again on
//! U = G w G^T of 512 x 512 filters and on the tiles of one-tile planes (bench/RESULTS.md).
//! So this path takes the convs whose pairs are no more than Winograd's 16 per tile.
//!
//! Deterministic: the work is cut by the shapes (positions, fixed row blocks), never by the
//! thread count, and each block sums its pairs in one fixed order.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::chunks::filled_in_chunks;
use super::conv_kernels::{ConvShape, Grads};
use super::matmul::{matmul, matmul_uninit};

/// One output position q, one input position p and the kernel tap t = 3 ki + kj joining them.
#[derive(Clone, Copy)]
struct Pair {
    out: usize,
    inp: usize,
    tap: usize,
}

/// Every (output, input, tap) triple where the tap's input lies inside the plane, ordered
/// by output position, then tap.
fn pairs(s: &ConvShape) -> Vec<Pair> {
    let (oh, ow, k) = (s.out_h(), s.out_w(), s.k);
    let mut v = Vec::new();
    for (i, j) in (0..oh).flat_map(|i| (0..ow).map(move |j| (i, j))) {
        for (a, b) in (0..k).flat_map(|a| (0..k).map(move |b| (a, b))) {
            let (y, x) = (
                (i + a) as isize - s.pad as isize,
                (j + b) as isize - s.pad as isize,
            );
            if y >= 0 && x >= 0 && (y as usize) < s.h && (x as usize) < s.w {
                let inp = y as usize * s.w + x as usize;
                v.push(Pair {
                    out: i * ow + j,
                    inp,
                    tap: a * k + b,
                });
            }
        }
    }
    v
}

/// Whether a convolution Winograd would take (3x3, stride 1) goes through this module: its
/// pairs are no more than Winograd's 16 multiplies per 2x2 output tile.
pub(super) fn applies(s: &ConvShape) -> bool {
    let tiles = s.out_h().div_ceil(2) * s.out_w().div_ceil(2);
    s.k == 3 && s.stride == 1 && pairs(s).len() <= 16 * tiles
}

/// Rows per parallel block of a GEMM's m rows: at least 8 blocks over the positions in all,
/// so that a 1x1 plane (one position) still spreads over the cores.
fn block_rows(rows: usize, positions: usize) -> usize {
    let blocks = 8usize.div_ceil(positions);
    rows.div_ceil(blocks).next_multiple_of(16).min(rows.max(1))
}

/// Position `pos` of a `[positions][rows][n]` array: its rows x n matrix.
fn at(t: &[f32], pos: usize, rows: usize, n: usize) -> &[f32] {
    &t[pos * rows * n..][..rows * n]
}

/// `[n][ch][positions]` to `[positions][ch][n]`.
fn by_position(src: &[f32], n: usize, ch: usize, positions: usize) -> Vec<f32> {
    let fill = |row: usize, out: &mut [MaybeUninit<f32>]| {
        let (p, c) = (row / ch, row % ch);
        for (i, v) in out.iter_mut().enumerate() {
            v.write(src[(i * ch + c) * positions + p]);
        }
    };
    filled_in_chunks(positions * ch * n, n, fill).0
}

/// `[positions][ch][n]` back to `[n][ch][positions]`, plus `bias[c]` when given.
fn from_positions(
    src: &[f32],
    n: usize,
    ch: usize,
    positions: usize,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let fill = |i: usize, out: &mut [MaybeUninit<f32>]| {
        for (r, v) in out.iter_mut().enumerate() {
            let (c, p) = (r / positions, r % positions);
            let value = src[(p * ch + c) * n + i];
            v.write(bias.map_or(value, |b| value + b[c]));
        }
    };
    filled_in_chunks(n * ch * positions, ch * positions, fill).0
}

/// One GEMM operand: a slice and its (row, column) strides.
type Operand<'a> = (&'a [f32], (isize, isize));

/// dst (m x n, written whole) = the sum of the products lhs * rhs of `terms`, in order
/// (zeros when there are none).
fn sum_of_products<'a>(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [MaybeUninit<f32>],
    terms: impl Iterator<Item = (Operand<'a>, Operand<'a>)>,
) {
    let mut written: Option<&mut [f32]> = None;
    for ((lhs, ls), (rhs, rs)) in terms {
        match written.as_deref_mut() {
            None => written = Some(matmul_uninit(m, n, k, &mut *dst, lhs, ls, rhs, rs)),
            Some(d) => matmul(m, n, k, d, lhs, ls, rhs, rs, true),
        }
    }
    if written.is_none() {
        dst.iter_mut().for_each(|v| {
            v.write(0.0);
        });
    }
}

/// `f(position, first row, block)` over `[positions][rows][n]`, cut into blocks of whole
/// rows (`block_rows`), in parallel; each block must be written whole.
fn per_block(
    positions: usize,
    rows: usize,
    n: usize,
    f: impl Fn(usize, usize, &mut [MaybeUninit<f32>]) + Sync,
) -> Vec<f32> {
    let per = block_rows(rows, positions);
    let mut out: Vec<f32> = Vec::with_capacity(positions * rows * n);
    out.spare_capacity_mut()[..positions * rows * n]
        .par_chunks_mut(rows * n)
        .enumerate()
        .flat_map(|(q, at_q)| {
            at_q.par_chunks_mut(per * n)
                .enumerate()
                .map(move |(b, blk)| (q, b, blk))
        })
        .for_each(|(q, b, blk)| f(q, b * per, blk));
    // SAFETY: the blocks cover every element and `f` wrote each one.
    unsafe { out.set_len(positions * rows * n) };
    out
}

/// Forward: y = conv(x, weight) + bias, y is [n, o, oh, ow].
pub(super) fn forward(s: &ConvShape, x: &[f32], weight: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
    let (pin, pout, kk) = (s.h * s.w, s.out_h() * s.out_w(), s.k * s.k);
    let all = pairs(s);
    let xt = by_position(x, s.n, s.c, pin);
    let w_rows = ((s.c * kk) as isize, kk as isize);
    let yt = per_block(pout, s.o, s.n, |q, o0, blk| {
        let rows = blk.len() / s.n;
        let terms = all.iter().filter(|p| p.out == q).map(|p| {
            let w = &weight[o0 * s.c * kk + p.tap..];
            let xp = &xt[p.inp * s.c * s.n..][..s.c * s.n];
            ((w, w_rows), (xp, (s.n as isize, 1)))
        });
        sum_of_products(rows, s.n, s.c, blk, terms);
    });
    from_positions(&yt, s.n, s.o, pout, bias)
}

/// Gradients with respect to x (when `need_x`), the weight and the bias, given dy.
pub(super) fn backward(
    s: &ConvShape,
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    need_x: bool,
    need_bias: bool,
) -> Grads {
    let (pin, pout, kk, n) = (s.h * s.w, s.out_h() * s.out_w(), s.k * s.k, s.n);
    let all = pairs(s);
    let xt = by_position(x, n, s.c, pin);
    let dyt = by_position(dy, n, s.o, pout);
    // dW_t (o x c) = sum of dY[q] (o x n) * X[p]^T (n x c), by tap; then to [o][c][3][3].
    let dwt = per_block(kk, s.o, s.c, |t, o0, blk| {
        let rows = blk.len() / s.c;
        let terms = all.iter().filter(|p| p.tap == t).map(|p| {
            let g = &at(&dyt, p.out, s.o, n)[o0 * n..];
            (
                (g, (n as isize, 1)),
                (at(&xt, p.inp, s.c, n), (1, n as isize)),
            )
        });
        sum_of_products(rows, s.c, n, blk, terms);
    });
    let fill = |o: usize, out: &mut [MaybeUninit<f32>]| {
        for (r, v) in out.iter_mut().enumerate() {
            let (c, t) = (r / kk, r % kk);
            v.write(dwt[(t * s.o + o) * s.c + c]);
        }
    };
    let dw = filled_in_chunks(s.o * s.c * kk, s.c * kk, fill).0;
    // dX[p] (c x n) = sum of W_t^T (c x o) * dY[q] (o x n); then to [n][c][h][w].
    let dx = need_x.then(|| {
        let w_cols = (kk as isize, (s.c * kk) as isize);
        let dxt = per_block(pin, s.c, n, |p, c0, blk| {
            let rows = blk.len() / n;
            let terms = all.iter().filter(|pr| pr.inp == p).map(|pr| {
                let w = &weight[c0 * kk + pr.tap..];
                ((w, w_cols), (at(&dyt, pr.out, s.o, n), (n as isize, 1)))
            });
            sum_of_products(rows, n, s.o, blk, terms);
        });
        from_positions(&dxt, n, s.c, pin, None)
    });
    let bias = if need_bias {
        (0..s.o)
            .map(|o| {
                (0..pout)
                    .map(|q| at(&dyt, q, s.o, n)[o * n..][..n].iter().sum::<f32>())
                    .sum()
            })
            .collect()
    } else {
        vec![0.0; s.o]
    };
    Grads {
        x: dx,
        weight: dw,
        bias,
    }
}

#[cfg(test)]
#[path = "conv_pairs_tests.rs"]
mod tests;
