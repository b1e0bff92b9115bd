//! The F(4x4, 3x3) tile transforms (Lavin and Gray, 2016), on one plane at a time: each 4x4
//! block of outputs comes from a 6x6 input tile, with 36 multiplies per channel pair where
//! F(2x2, 3x3) needs 64 for the same 16 outputs (four 4x4 tiles) and im2col 144. Same layout
//! as `winograd_tiles.rs`: tile data in blocks `[36][channels][tiles]`, position xi = 6 i + j,
//! and each step a run of lanes over many tiles (`winograd_points43.rs` holds the matrices
//! and the lane loops). Neighbouring tiles overlap by two rows and two columns, so rows and
//! columns are split by their index mod 4 first: a tile's six columns are then phases 0-3 at
//! its own index and phases 0-1 at the next one.

use std::mem::MaybeUninit;

use super::winograd_grid::Grid;
use super::winograd_points43::{a4, at6, b6, bt6, each, lane, lanes, runs, runs_mut};

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

/// Row scratch any one of these transforms needs.
pub(super) fn scratch_len(g: &Grid) -> usize {
    let (n, span) = (g.tiles(), g.tw + 1);
    let input = 4 * span + 48 * (g.th + 1) * g.tw;
    let input_grad = 24 * (g.th + 1) * g.tw + 72 * n + 4 * span;
    input.max(input_grad).max(40 * n + 4 * span)
}

wide! {
    /// V = B^T d B of every tile of one input plane ([h, w]), into v[xi * stride + at + tile].
    pub(super) fn input_tiles(g: &Grid, plane: &[f32], v: &mut [f32], stride: usize, at: usize, buf: &mut [f32]) {
        let (n, tw, span) = (g.tiles(), g.tw, g.tw + 1);
        // d[c][row mod 4][row / 4][tx]: column 4 tx + c of every padded row (c < 6, so a
        // column sits in two tiles' runs), then e[k] (same layout) = B^T along the rows, all
        // rows and tiles in one run: a plane's rows have only tw tiles each (8 on 32x32).
        let block = (g.th + 1) * tw;
        let (row, rest) = buf.split_at_mut(4 * span);
        let (d, e) = rest[..48 * block].split_at_mut(24 * block);
        for r in 0..g.rows() {
            let at_r = (r % 4) * block + (r / 4) * tw;
            let iy = r as isize - g.pad as isize;
            if iy < 0 || iy as usize >= g.h {
                (0..6).for_each(|c| d[4 * c * block + at_r..][..tw].fill(0.0));
                continue;
            }
            row[..g.pad].fill(0.0);
            row[g.pad..g.pad + g.w].copy_from_slice(&plane[iy as usize * g.w..][..g.w]);
            row[g.pad + g.w..].fill(0.0);
            let [d0, d1, d2, d3, d4, d5] = runs_mut::<6>(d, at_r, 4 * block, tw);
            for (tx, w) in row.windows(6).step_by(4).take(tw).enumerate() {
                (d0[tx], d1[tx], d2[tx], d3[tx], d4[tx], d5[tx]) = (w[0], w[1], w[2], w[3], w[4], w[5]);
            }
        }
        let all = 4 * block;
        lanes!(runs(d, 0, all, all), runs_mut::<6>(e, 0, all, all), bt6, [0, 1, 2, 3, 4, 5]);
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
            dst.write_copy_of_slice(&row[..g.ow]);
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
        // Rows past the plane's last (4 th > oh) stay zero; the others are written whole.
        if 4 * g.th > g.oh {
            d.fill(0.0);
        }
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
        let block = (g.th + 1) * tw;
        let (r, rest) = buf.split_at_mut(24 * block);
        let (tw_, row) = rest[..72 * n + 4 * span].split_at_mut(72 * n);
        let (t, w) = tw_.split_at_mut(36 * n);
        // t[i][j] = (B Z[., j])[i], then w[i][j] = (t[i] B^T)[j], over all tiles at once.
        for j in 0..6 {
            lanes!(runs(z, j * stride + at, 6 * stride, n), runs_mut::<6>(t, j * n, 6 * n, n), b6, [0, 1, 2, 3, 4, 5]);
        }
        for i in 0..6 {
            lanes!(runs(t, 6 * i * n, n, n), runs_mut::<6>(w, 6 * i * n, n, n), b6, [0, 1, 2, 3, 4, 5]);
        }
        // Tile (ty, tx) adds w[i][j] at padded (4 ty + i, 4 tx + j). First down the columns,
        // over all tiles at once: r[j][row mod 4][row / 4][tx] sums column 4 tx + j's
        // share of each padded row (rows 4 ty + 4 and + 5 are the next tile row's 0 and 1).
        for j in 0..6 {
            let wj = |i: usize| &w[(6 * i + j) * n..][..n];
            let [r0, r1, r2, r3] = runs_mut::<4>(r, 4 * j * block, block, block);
            for (p, rp) in [r0, r1].into_iter().enumerate() {
                rp[..n].copy_from_slice(wj(p));
                rp[n..].fill(0.0);
                rp[tw..].iter_mut().zip(wj(p + 4)).for_each(|(s, v)| *s += v);
            }
            r2[..n].copy_from_slice(wj(2));
            r3[..n].copy_from_slice(wj(3));
        }
        // Then along each padded row the plane keeps: column 4 tx + j gets r[j][..][tx].
        let row = &mut row[..4 * tw + 2];
        for (iy, dst) in dx.chunks_exact_mut(g.w).enumerate() {
            let pr = iy + g.pad;
            let at_r = (pr % 4) * block + (pr / 4) * tw;
            let [c0, c1, c2, c3, c4, c5] = runs::<6>(r, at_r, 4 * block, tw);
            row[4 * tw..].fill(0.0);
            for (tx, s) in row.chunks_exact_mut(4).enumerate() {
                (s[0], s[1], s[2], s[3]) = (c0[tx], c1[tx], c2[tx], c3[tx]);
            }
            // The last tile's columns 4 and 5 are the row's last two: a chunk of 2.
            for (tx, s) in row[4..].chunks_mut(4).enumerate() {
                s[0] += c4[tx];
                s[1] += c5[tx];
            }
            dst.write_copy_of_slice(&row[g.pad..][..g.w]);
        }
    }
}
