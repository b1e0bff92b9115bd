//! The F(4x4, 3x3) tile transforms (Lavin and Gray, 2016), on one plane at a time: each 4x4
//! block of outputs comes from a 6x6 input tile, with 36 multiplies per channel pair where
//! F(2x2, 3x3) needs 64 for the same 16 outputs (four 4x4 tiles) and im2col 144. Same layout
//! as `winograd_tiles.rs`: tile data in blocks `[36][channels][tiles]`, position xi = 6 i + j,
//! and each step a run of lanes over many tiles (`winograd_points43.rs` holds the matrices
//! and the lane loops). Neighbouring tiles overlap by two rows and two columns, so rows and
//! columns are split by their index mod 4 first: a tile's six columns are then phases 0-3 at
//! its own index and phases 0-1 at the next one.

use std::mem::MaybeUninit;

use super::winograd_points43::{a4, at6, b6, bt6, each, lane, lanes, runs, runs_mut};
use super::winograd_tiles::Grid;

/// phases[p][q] = src[4 q + p]: a row split by column mod 4.
#[inline(always)]
fn deinterleave4(src: &[f32], [p0, p1, p2, p3]: [&mut [f32]; 4]) {
    let quads = src.chunks_exact(4).zip(p0.iter_mut().zip(p1.iter_mut()));
    for ((c, (a, b)), (d, e)) in quads.zip(p2.iter_mut().zip(p3.iter_mut())) {
        (*a, *b, *d, *e) = (c[0], c[1], c[2], c[3]);
    }
}

/// dst[4 q + p] = phases[p][q]: `deinterleave4` undone.
#[inline(always)]
fn interleave4([p0, p1, p2, p3]: [&[f32]; 4], dst: &mut [f32]) {
    let quads = dst.chunks_exact_mut(4).zip(p0.iter().zip(p1));
    for ((c, (a, b)), (d, e)) in quads.zip(p2.iter().zip(p3)) {
        (c[0], c[1], c[2], c[3]) = (*a, *b, *d, *e);
    }
}

/// `src` written into `dst` (MaybeUninit) element by element.
#[inline(always)]
fn write_all(dst: &mut [MaybeUninit<f32>], src: &[f32]) {
    dst.iter_mut().zip(src).for_each(|(d, &v)| {
        d.write(v);
    });
}

/// Row scratch any one of these transforms needs.
pub(super) fn scratch_len(g: &Grid) -> usize {
    let (n, span) = (g.tiles(), g.tw + 1);
    let input = 8 * span + 24 * (g.th + 1) * g.tw;
    let input_grad = 4 * g.rows() * span + 72 * n + 4 * span;
    input.max(input_grad).max(40 * n + 4 * span)
}

wide! {
    /// V = B^T d B of every tile of one input plane ([h, w]), into v[xi * stride + at + tile].
    pub(super) fn input_tiles(g: &Grid, plane: &[f32], v: &mut [f32], stride: usize, at: usize, buf: &mut [f32]) {
        let (n, tw, span) = (g.tiles(), g.tw, g.tw + 1);
        // e[k][row mod 4][row / 4][tx]: B^T along every padded row, each tile column one lane.
        let block = (g.th + 1) * tw;
        let (row, rest) = buf.split_at_mut(4 * span);
        let (ph, e) = rest.split_at_mut(4 * span);
        let e = &mut e[..24 * block];
        for r in 0..g.rows() {
            let at_r = (r % 4) * block + (r / 4) * tw;
            let iy = r as isize - g.pad as isize;
            if iy < 0 || iy as usize >= g.h {
                (0..6).for_each(|k| e[4 * k * block + at_r..][..tw].fill(0.0));
                continue;
            }
            // The padded row, then its columns by phase.
            row[..g.pad].fill(0.0);
            row[g.pad..g.pad + g.w].copy_from_slice(&plane[iy as usize * g.w..][..g.w]);
            row[g.pad + g.w..].fill(0.0);
            let (p0, rest) = ph.split_at_mut(span);
            let (p1, rest) = rest.split_at_mut(span);
            let (p2, p3) = rest.split_at_mut(span);
            deinterleave4(row, [p0, p1, p2, p3]);
            let d = each!(c in [0, 1, 2, 3, 4, 5] => &ph[(c % 4) * span + c / 4..][..tw]);
            lanes!(d, runs_mut::<6>(e, at_r, 4 * block, tw), bt6, [0, 1, 2, 3, 4, 5]);
        }
        // B^T down the columns, over all tiles at once: a tile's rows 4 ty + i.
        for j in 0..6 {
            let ej = &e[4 * j * block..][..4 * block];
            let rows = each!(i in [0, 1, 2, 3, 4, 5] => &ej[(i % 4) * block + (i / 4) * tw..][..n]);
            lanes!(rows, runs_mut::<6>(v, j * stride + at, 6 * stride, n), bt6, [0, 1, 2, 3, 4, 5]);
        }
    }
}

wide! {
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
        let n = g.tiles();
        let (ay, row) = buf[..40 * n + 4 * (g.tw + 1)].split_at_mut(40 * n);
        let (a, y) = ay.split_at_mut(24 * n);
        // a[r][j] = (A^T M[., j])[r], then y[r][q] = (a[r] A)[q] + bias.
        for j in 0..6 {
            lanes!(runs(m, j * stride + at, 6 * stride, n), runs_mut::<4>(a, j * n, 6 * n, n), at6, [0, 1, 2, 3]);
        }
        for r in 0..4 {
            let plus_bias = |m| at6(m).map(|v| v + bias);
            lanes!(runs(a, 6 * r * n, n, n), runs_mut::<4>(y, 4 * r * n, n, n), plus_bias, [0, 1, 2, 3]);
        }
        let tw = g.tw;
        let row = &mut row[..4 * tw];
        for (oy, dst) in out.chunks_exact_mut(g.ow).enumerate() {
            let (r, ty) = (oy % 4, oy / 4);
            interleave4(runs(y, 4 * r * n + ty * tw, n, tw), row);
            write_all(dst, row);
        }
    }
}

wide! {
    /// Yh = A dy A^T of every tile of one output-gradient plane ([oh, ow]), into
    /// yh[xi * stride + at + tile]; outputs past the plane's edge count as zero.
    pub(super) fn grad_tiles(g: &Grid, plane: &[f32], yh: &mut [f32], stride: usize, at: usize, buf: &mut [f32]) {
        let (n, tw) = (g.tiles(), g.tw);
        // d[r][q][tile] = dy at (4 ty + r, 4 tx + q).
        let (dh, row) = buf[..40 * n + 4 * tw].split_at_mut(40 * n);
        let (d, h) = dh.split_at_mut(16 * n);
        // Rows past the plane's last (4 th > oh) stay zero.
        d.fill(0.0);
        row[g.ow..].fill(0.0);
        for (oy, src) in plane.chunks_exact(g.ow).enumerate() {
            let (r, ty) = (oy % 4, oy / 4);
            row[..g.ow].copy_from_slice(src);
            deinterleave4(row, runs_mut(d, 4 * r * n + ty * tw, n, tw));
        }
        // h[r][j] = (dy row r A^T)[j], then Yh[i][j] = (A h[., j])[i].
        for r in 0..4 {
            lanes!(runs(d, 4 * r * n, n, n), runs_mut::<6>(h, 6 * r * n, n, n), a4, [0, 1, 2, 3, 4, 5]);
        }
        for j in 0..6 {
            lanes!(runs(h, j * n, 6 * n, n), runs_mut::<6>(yh, j * stride + at, 6 * stride, n), a4, [0, 1, 2, 3, 4, 5]);
        }
    }
}

wide! {
    /// dx = the sum over tiles of B Z B^T for one input plane, from z[xi * stride + at + tile];
    /// writes every element of `dx` ([h, w]).
    pub(super) fn input_grad_tiles(
        g: &Grid,
        z: &[f32],
        stride: usize,
        at: usize,
        dx: &mut [MaybeUninit<f32>],
        buf: &mut [f32],
    ) {
        let (n, tw, span) = (g.tiles(), g.tw, g.tw + 1);
        // The padded plane's gradient by column mod 4: [phase][row][column / 4].
        let plane_len = g.rows() * span;
        let (acc, rest) = buf.split_at_mut(4 * plane_len);
        let (tw_, row) = rest[..72 * n + 4 * span].split_at_mut(72 * n);
        let (t, w) = tw_.split_at_mut(36 * n);
        acc.fill(0.0);
        // t[i][j] = (B Z[., j])[i], then w[i][j] = (t[i] B^T)[j], over all tiles at once.
        for j in 0..6 {
            lanes!(runs(z, j * stride + at, 6 * stride, n), runs_mut::<6>(t, j * n, 6 * n, n), b6, [0, 1, 2, 3, 4, 5]);
        }
        for i in 0..6 {
            lanes!(runs(t, 6 * i * n, n, n), runs_mut::<6>(w, 6 * i * n, n, n), b6, [0, 1, 2, 3, 4, 5]);
        }
        // Tile (ty, tx) adds w[i][j] at padded (4 ty + i, 4 tx + j).
        for ty in 0..g.th {
            for i in 0..6 {
                let row = 4 * ty + i;
                for j in 0..6 {
                    let src = &w[(6 * i + j) * n + ty * tw..][..tw];
                    let dst = &mut acc[(j % 4) * plane_len + row * span + j / 4..][..tw];
                    dst.iter_mut().zip(src).for_each(|(s, v)| *s += v);
                }
            }
        }
        for (iy, dst) in dx.chunks_exact_mut(g.w).enumerate() {
            let at = (iy + g.pad) * span;
            interleave4(runs(acc, at, plane_len, span), row);
            write_all(dst, &row[g.pad..]);
        }
    }
}
