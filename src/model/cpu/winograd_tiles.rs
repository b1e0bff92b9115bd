//! The F(2x2, 3x3) transforms of `winograd.rs` (and the dispatch to F(4x4, 3x3)'s), on one
//! plane at a time. Tile data lives in
//! blocks `[16][channels][tiles]` (one block per position xi = 4 i + j of the 4x4 tile), so
//! the transforms are runs of adds over many tiles, which the compiler vectorizes; even and
//! odd columns are split apart first, as neighbouring tiles overlap by two columns. The plane
//! transforms run compiled for AVX2 where the CPU has it (`wide!`); they only add, subtract
//! and negate, so both builds give the same bits. On the few small planes of `SMALL_PLANES`
//! (4x4, 7x7, 8x8) they run as copies compiled with those sizes (`plane_transform!`), the
//! same steps in the same order.

use std::mem::MaybeUninit;

use super::winograd_grid::{Grid, SMALL_PLANES, small_plane};
use super::winograd_tiles43 as t43;

/// V = B^T d B of every tile of one input plane ([h, w]), into v[xi * stride + at + tile].
pub(super) fn input_tiles(
    g: &Grid,
    plane: &[f32],
    v: &mut [f32],
    stride: usize,
    at: usize,
    buf: &mut [f32],
) {
    match (g.m, small_plane(g)) {
        (4, _) => t43::input_tiles(g, plane, v, stride, at, buf),
        (_, Some(i)) => input_tiles2_small(i, plane, v, stride, at, buf),
        _ => input_tiles2(g, plane, v, stride, at, buf),
    }
}

/// y = A^T M A + bias of every tile of one output plane, from m[xi * stride + at + tile].
pub(super) fn output_tiles(
    g: &Grid,
    m: &[f32],
    stride: usize,
    at: usize,
    bias: f32,
    out: &mut [MaybeUninit<f32>],
    buf: &mut [f32],
) {
    match (g.m, small_plane(g)) {
        (4, _) => t43::output_tiles(g, m, stride, at, bias, out, buf),
        (_, Some(i)) => output_tiles2_small(i, m, stride, at, bias, out, buf),
        _ => output_tiles2(g, m, stride, at, bias, out, buf),
    }
}

/// Yh = A dy A^T of every tile of one output-gradient plane, into yh[xi * stride + at + tile].
pub(super) fn grad_tiles(
    g: &Grid,
    plane: &[f32],
    yh: &mut [f32],
    stride: usize,
    at: usize,
    buf: &mut [f32],
) {
    match (g.m, small_plane(g)) {
        (4, _) => t43::grad_tiles(g, plane, yh, stride, at, buf),
        (_, Some(i)) => grad_tiles2_small(i, plane, yh, stride, at, buf),
        _ => grad_tiles2(g, plane, yh, stride, at, buf),
    }
}

/// dx = the sum over tiles of B Z B^T for one input plane, from z[xi * stride + at + tile].
pub(super) fn input_grad_tiles(
    g: &Grid,
    z: &[f32],
    stride: usize,
    at: usize,
    dx: &mut [MaybeUninit<f32>],
    buf: &mut [f32],
) {
    match (g.m, small_plane(g)) {
        (4, _) => t43::input_grad_tiles(g, z, stride, at, dx, buf),
        (_, Some(i)) => input_grad_tiles2_small(i, z, stride, at, dx, buf),
        _ => input_grad_tiles2(g, z, stride, at, dx, buf),
    }
}

/// A plane transform `$on(g, args)` as two functions compiled for AVX2 (`wide!`): `$name` on
/// any grid, and `$small` on `SMALL_PLANES[i]`, where inlining `$on` makes every size a
/// constant.
macro_rules! plane_transform {
    ($(#[$doc:meta])* fn $name:ident, $small:ident = $on:ident($($arg:ident: $ty:ty),* $(,)?)) => {
        wide! {
            $(#[$doc])*
            fn $name(g: &Grid, $($arg: $ty),*) {
                $on(g, $($arg),*)
            }
        }
        wide! {
            $(#[$doc])*
            fn $small(i: usize, $($arg: $ty),*) {
                match i {
                    0 => $on(&SMALL_PLANES[0], $($arg),*),
                    1 => $on(&SMALL_PLANES[1], $($arg),*),
                    _ => $on(&SMALL_PLANES[2], $($arg),*),
                }
            }
        }
    };
}

plane_transform! {
    /// V = B^T d B of every tile of one input plane (`input_tiles2_on`).
    fn input_tiles2, input_tiles2_small = input_tiles2_on(
        plane: &[f32], v: &mut [f32], stride: usize, at: usize, buf: &mut [f32]
    )
}

plane_transform! {
    /// y = A^T M A + bias of every tile of one output plane (`output_tiles2_on`).
    fn output_tiles2, output_tiles2_small = output_tiles2_on(
        m: &[f32], stride: usize, at: usize, bias: f32, out: &mut [MaybeUninit<f32>], buf: &mut [f32]
    )
}

plane_transform! {
    /// Yh = A dy A^T of every tile of one output-gradient plane (`grad_tiles2_on`).
    fn grad_tiles2, grad_tiles2_small = grad_tiles2_on(
        plane: &[f32], yh: &mut [f32], stride: usize, at: usize, buf: &mut [f32]
    )
}

plane_transform! {
    /// dx from the Z tiles of one input plane (`input_grad_tiles2_on`).
    fn input_grad_tiles2, input_grad_tiles2_small = input_grad_tiles2_on(
        z: &[f32], stride: usize, at: usize, dx: &mut [MaybeUninit<f32>], buf: &mut [f32]
    )
}

/// out[t] = f(a[t], b[t]).
#[inline(always)]
fn lanes(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) {
    for (o, (&a, &b)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = f(a, b);
    }
}

/// out[t] = f(a[t], b[t], c[t]).
#[inline(always)]
fn lanes3(out: &mut [f32], a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) {
    for (o, ((&a, &b), &c)) in out.iter_mut().zip(a.iter().zip(b).zip(c)) {
        *o = f(a, b, c);
    }
}

/// Splits one row into the even and odd columns of its zero-padded version (`pad` zeros in
/// front); the two outputs must be zero where the row does not reach.
#[inline(always)]
fn split_row(src: &[f32], pad: usize, even: &mut [f32], odd: &mut [f32]) {
    let (first, second) = if pad.is_multiple_of(2) {
        (even, odd)
    } else {
        (odd, even)
    };
    let (first, second) = (&mut first[pad / 2..], &mut second[pad.div_ceil(2)..]);
    for ((pair, a), b) in src
        .chunks_exact(2)
        .zip(first.iter_mut())
        .zip(second.iter_mut())
    {
        *a = pair[0];
        *b = pair[1];
    }
    if src.len() % 2 == 1 {
        first[src.len() / 2] = src[src.len() - 1];
    }
}

/// V = B^T d B of every tile of one input plane ([h, w]), into v[xi * stride + at + tile].
#[inline(always)]
fn input_tiles2_on(
    g: &Grid,
    plane: &[f32],
    v: &mut [f32],
    stride: usize,
    at: usize,
    buf: &mut [f32],
) {
    let (n, tw, span) = (g.tiles(), g.tw, g.tw + 1);
    // Padded rows by parity: row r is row r / 2 of its half, so a tile row's four input
    // rows are rows ty and ty + 1 of both halves, and one pass covers every tile.
    let half = (g.th + 1) * tw;
    let (eo, e) = buf.split_at_mut(2 * span);
    let (even, odd) = eo.split_at_mut(span);
    let e = &mut e[..8 * half];
    // `split_row` writes the same places of every row: the rest stays zero from here. (A
    // fill per row was two `memset` calls per row, most of the pass on 4x4 planes.)
    even.fill(0.0);
    odd.fill(0.0);
    // Row pass: e[j][r] = (B^T of the window at each tile column)[j], every padded row r.
    for r in 0..g.rows() {
        let at_r = (r % 2) * half + (r / 2) * tw;
        let iy = r as isize - g.pad as isize;
        if iy < 0 || iy as usize >= g.h {
            (0..4).for_each(|j| e[2 * j * half + at_r..][..tw].fill(0.0));
            continue;
        }
        split_row(&plane[iy as usize * g.w..][..g.w], g.pad, even, odd);
        let (d0, d1, d2, d3) = (&even[..tw], &odd[..tw], &even[1..], &odd[1..]);
        lanes(&mut e[at_r..][..tw], d0, d2, |a, b| a - b);
        lanes(&mut e[2 * half + at_r..][..tw], d1, d2, |a, b| a + b);
        lanes(&mut e[4 * half + at_r..][..tw], d2, d1, |a, b| a - b);
        lanes(&mut e[6 * half + at_r..][..tw], d1, d3, |a, b| a - b);
    }
    // Column pass over all tiles: rows 2 ty, 2 ty + 1, 2 ty + 2, 2 ty + 3.
    for j in 0..4 {
        let (ev, od) = (&e[2 * j * half..], &e[(2 * j + 1) * half..]);
        let (e0, e1, e2, e3) = (&ev[..n], &od[..n], &ev[tw..tw + n], &od[tw..tw + n]);
        let dst = |i: usize| (i * 4 + j) * stride + at;
        lanes(&mut v[dst(0)..][..n], e0, e2, |a, b| a - b);
        lanes(&mut v[dst(1)..][..n], e1, e2, |a, b| a + b);
        lanes(&mut v[dst(2)..][..n], e2, e1, |a, b| a - b);
        lanes(&mut v[dst(3)..][..n], e1, e3, |a, b| a - b);
    }
}

/// y = A^T M A + bias of every tile of one output plane, from m[xi * stride + at + tile].
#[inline(always)]
fn output_tiles2_on(
    g: &Grid,
    m: &[f32],
    stride: usize,
    at: usize,
    bias: f32,
    out: &mut [MaybeUninit<f32>],
    buf: &mut [f32],
) {
    let n = g.tiles();
    let (a, y) = buf[..12 * n].split_at_mut(8 * n);
    // Over all tiles at once: a[r][j] = (A^T M[., j])[r], then y[r][q] = (a[r] A)[q].
    for j in 0..4 {
        let m = |i: usize| &m[(i * 4 + j) * stride + at..][..n];
        lanes3(&mut a[j * n..][..n], m(0), m(1), m(2), |a, b, c| a + b + c);
        lanes3(&mut a[(4 + j) * n..][..n], m(1), m(2), m(3), |a, b, c| {
            a - b - c
        });
    }
    for r in 0..2 {
        let a = |j: usize| &a[(4 * r + j) * n..][..n];
        lanes3(&mut y[2 * r * n..][..n], a(0), a(1), a(2), |a, b, c| {
            a + b + c + bias
        });
        lanes3(
            &mut y[(2 * r + 1) * n..][..n],
            a(1),
            a(2),
            a(3),
            |a, b, c| a - b - c + bias,
        );
    }
    let tw = g.tw;
    for (oy, dst) in out.chunks_exact_mut(g.ow).enumerate() {
        let at = (oy % 2) * 2 * n + (oy / 2) * tw;
        let (left, right) = (&y[at..][..tw], &y[at + n..][..tw]);
        for ((d, &l), &r) in dst.chunks_exact_mut(2).zip(left).zip(right) {
            d[0].write(l);
            d[1].write(r);
        }
        if g.ow % 2 == 1 {
            dst[g.ow - 1].write(left[tw - 1]);
        }
    }
}

/// Yh = A dy A^T of every tile of one output-gradient plane ([oh, ow]), into
/// yh[xi * stride + at + tile]; outputs past an odd edge count as zero.
#[inline(always)]
fn grad_tiles2_on(
    g: &Grid,
    plane: &[f32],
    yh: &mut [f32],
    stride: usize,
    at: usize,
    buf: &mut [f32],
) {
    let (n, tw) = (g.tiles(), g.tw);
    // Even and odd columns of the even and odd rows: [row parity][ty][tx] each.
    let (eo, h) = buf[..12 * n].split_at_mut(4 * n);
    let (even, odd) = eo.split_at_mut(2 * n);
    even.fill(0.0);
    odd.fill(0.0);
    for (r, src) in plane.chunks_exact(g.ow).enumerate() {
        let at_r = (r % 2) * n + (r / 2) * tw;
        split_row(src, 0, &mut even[at_r..][..tw], &mut odd[at_r..][..tw]);
    }
    // Row pass over the whole plane: h[j] = (dy row A^T)[j].
    let len = 2 * n;
    h[..len].copy_from_slice(even);
    lanes(&mut h[len..][..len], even, odd, |a, b| a + b);
    lanes(&mut h[2 * len..][..len], even, odd, |a, b| a - b);
    lanes(&mut h[3 * len..][..len], odd, odd, |a, _| -a);
    // Column pass over all tiles: p = the tile's first row, q = its second.
    for j in 0..4 {
        let (p, q) = (&h[j * len..][..n], &h[j * len + n..][..n]);
        let dst = |i: usize| (i * 4 + j) * stride + at;
        yh[dst(0)..][..n].copy_from_slice(p);
        lanes(&mut yh[dst(1)..][..n], p, q, |a, b| a + b);
        lanes(&mut yh[dst(2)..][..n], p, q, |a, b| a - b);
        lanes(&mut yh[dst(3)..][..n], q, q, |a, _| -a);
    }
}

/// dx = the sum over tiles of B Z B^T for one input plane, from z[xi * stride + at + tile];
/// writes every element of `dx` ([h, w]).
#[inline(always)]
fn input_grad_tiles2_on(
    g: &Grid,
    z: &[f32],
    stride: usize,
    at: usize,
    dx: &mut [MaybeUninit<f32>],
    buf: &mut [f32],
) {
    let (n, tw, span) = (g.tiles(), g.tw, g.tw + 1);
    // The padded plane's gradient, even and odd columns apart: tile column tx adds to
    // columns tx and tx + 1 of both.
    let (even, rest) = buf.split_at_mut(g.rows() * span);
    let (odd, rest) = rest.split_at_mut(g.rows() * span);
    let (w, out) = rest[..32 * n].split_at_mut(16 * n);
    even.fill(0.0);
    odd.fill(0.0);
    // Over all tiles at once: w[r][j] = (B Z[., j])[r], then out[r][q] = (w[r] B^T)[q].
    for j in 0..4 {
        let z = |i: usize| &z[(i * 4 + j) * stride + at..][..n];
        w[j * n..][..n].copy_from_slice(z(0));
        lanes3(&mut w[(4 + j) * n..][..n], z(1), z(2), z(3), |a, b, c| {
            a - b + c
        });
        lanes3(&mut w[(8 + j) * n..][..n], z(0), z(1), z(2), |a, b, c| {
            b + c - a
        });
        lanes(&mut w[(12 + j) * n..][..n], z(3), z(3), |a, _| -a);
    }
    for r in 0..4 {
        let w = |j: usize| &w[(4 * r + j) * n..][..n];
        out[4 * r * n..][..n].copy_from_slice(w(0));
        lanes3(
            &mut out[(4 * r + 1) * n..][..n],
            w(1),
            w(2),
            w(3),
            |a, b, c| a - b + c,
        );
        lanes3(
            &mut out[(4 * r + 2) * n..][..n],
            w(0),
            w(1),
            w(2),
            |a, b, c| b + c - a,
        );
        lanes(&mut out[(4 * r + 3) * n..][..n], w(3), w(3), |a, _| -a);
    }
    for ty in 0..g.th {
        for r in 0..4 {
            let o = |q: usize| &out[(4 * r + q) * n + ty * tw..][..tw];
            let row = (2 * ty + r) * span;
            let (e, d) = (&mut even[row..row + span], &mut odd[row..row + span]);
            e[..tw].iter_mut().zip(o(0)).for_each(|(s, v)| *s += v);
            d[..tw].iter_mut().zip(o(1)).for_each(|(s, v)| *s += v);
            e[1..].iter_mut().zip(o(2)).for_each(|(s, v)| *s += v);
            d[1..].iter_mut().zip(o(3)).for_each(|(s, v)| *s += v);
        }
    }
    // Back to interleaved columns, cropping the padding.
    let (s0, s1) = (g.pad / 2, g.pad.div_ceil(2));
    for (iy, dst) in dx.chunks_exact_mut(g.w).enumerate() {
        let row = (iy + g.pad) * span;
        let (e, d) = (&even[row..row + span], &odd[row..row + span]);
        let (first, second) = if g.pad.is_multiple_of(2) {
            (e, d)
        } else {
            (d, e)
        };
        let (first, second) = (&first[s0..], &second[s1..]);
        for ((pair, &a), &b) in dst.chunks_exact_mut(2).zip(first).zip(second) {
            pair[0].write(a);
            pair[1].write(b);
        }
        if g.w % 2 == 1 {
            dst[g.w - 1].write(first[g.w / 2]);
        }
    }
}

#[cfg(test)]
#[path = "winograd_tiles_tests.rs"]
mod tests;
