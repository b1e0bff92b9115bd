//! A depthwise convolution's work on one plane: each output channel reads one input channel,
//! so the conv is k x k multiply-adds per output and no GEMM. The input plane is first copied
//! into a zero-padded plane (the border written each time, as the scratch is reused), so no
//! tap needs a bounds check. At stride 1 each tap is then one long multiply-add over a "wide"
//! grid, the output rows laid out `wp` (the padded width) apart: on MNIST's 14-pixel rows a
//! loop per row would leave most of a 16-lane register empty. The columns past the output's
//! width are computed and dropped (forward) or held at zero (backward).

use std::mem::MaybeUninit;

/// A depthwise conv's sizes: `n` images of `c` channels, `m` output channels per input
/// channel (output channel j reads input channel j / m), planes `h` x `w`, a `kh` x `kw`
/// kernel; stride, padding (the same on both sides) and dilation as [rows, columns].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Depthwise {
    pub n: usize,
    pub c: usize,
    pub m: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: [usize; 2],
    pub pad: [usize; 2],
    pub dilation: [usize; 2],
}

impl Depthwise {
    /// Output channels.
    pub fn o(&self) -> usize {
        self.c * self.m
    }
    /// Taps per kernel.
    pub fn taps(&self) -> usize {
        self.kh * self.kw
    }
    fn out_len(&self, axis: usize) -> usize {
        let (len, k) = [(self.h, self.kh), (self.w, self.kw)][axis];
        let span = self.dilation[axis] * (k - 1) + 1;
        (len + 2 * self.pad[axis]).saturating_sub(span) / self.stride[axis] + 1
    }
    pub fn oh(&self) -> usize {
        self.out_len(0)
    }
    pub fn ow(&self) -> usize {
        self.out_len(1)
    }
    /// Whether every window fits in the padded plane (PyTorch refuses the others).
    pub fn fits(&self) -> bool {
        (0..2).all(|a| {
            let (len, k) = [(self.h, self.kh), (self.w, self.kw)][a];
            len + 2 * self.pad[a] > self.dilation[a] * (k - 1)
        })
    }
    /// The padded plane's width.
    fn wp(&self) -> usize {
        self.w + 2 * self.pad[1]
    }
    /// The padded plane's length, with a tail of zeros so that at stride 1 the wide grid's
    /// last taps, which run past the last row by up to the kernel's width, stay in bounds.
    pub fn padded_len(&self) -> usize {
        (self.h + 2 * self.pad[0]) * self.wp() + (self.kw - 1) * self.dilation[1]
    }
    /// The wide grid's length at stride 1: the output rows, `wp` apart.
    pub fn wide_len(&self) -> usize {
        self.oh() * self.wp()
    }
    fn unit_stride(&self) -> bool {
        self.stride == [1, 1]
    }
    /// Where tap (ky, kx) of output (0, 0) reads in the padded plane.
    fn tap(&self, t: usize) -> usize {
        let (ky, kx) = (t / self.kw, t % self.kw);
        ky * self.dilation[0] * self.wp() + kx * self.dilation[1]
    }
    /// Where output (oy, ox)'s window starts in the padded plane.
    fn origin(&self, oy: usize, ox: usize) -> usize {
        oy * self.stride[0] * self.wp() + ox * self.stride[1]
    }
}

wide! {
    /// Writes the plane `x` (h x w) into `padded`, border and tail zero: every element.
    pub(super) fn pad_plane(g: &Depthwise, x: &[f32], padded: &mut [f32]) {
        let (wp, [ph, pw]) = (g.wp(), g.pad);
        padded[..ph * wp + pw].fill(0.0);
        for (y, row) in x.chunks_exact(g.w).enumerate() {
            let start = (y + ph) * wp + pw;
            padded[start..start + g.w].copy_from_slice(row);
            // This row's right border and the next row's left one.
            let end = (start + wp).min(padded.len());
            padded[start + g.w..end].fill(0.0);
        }
        let last = (g.h + ph) * wp;
        padded[last..].fill(0.0);
    }
}

wide! {
    /// One output plane from its padded input plane, kernel `k` (taps in row-major order) and
    /// bias: each output is the bias plus the taps in order. `wide` is stride 1's scratch.
    pub(super) fn forward_plane(
        g: &Depthwise,
        padded: &[f32],
        k: &[f32],
        bias: f32,
        wide: &mut [f32],
        out: &mut [MaybeUninit<f32>],
    ) {
        let (ow, wp) = (g.ow(), g.wp());
        if g.unit_stride() {
            wide.fill(bias);
            let len = wide.len();
            for (t, &kv) in k.iter().enumerate() {
                let src = &padded[g.tap(t)..g.tap(t) + len];
                wide.iter_mut().zip(src).for_each(|(o, &x)| *o += kv * x);
            }
            for (row, wrow) in out.chunks_exact_mut(ow).zip(wide.chunks(wp)) {
                row.iter_mut().zip(wrow).for_each(|(o, &v)| {
                    o.write(v);
                });
            }
            return;
        }
        for (oy, row) in out.chunks_exact_mut(ow).enumerate() {
            for (ox, o) in row.iter_mut().enumerate() {
                let at = g.origin(oy, ox);
                let mut s = bias;
                for (t, &kv) in k.iter().enumerate() {
                    s += kv * padded[at + g.tap(t)];
                }
                o.write(s);
            }
        }
    }
}

wide! {
    /// `dy` (oh x ow) laid out on the wide grid, the extra columns zero: every element.
    pub(super) fn widen(g: &Depthwise, dy: &[f32], wide: &mut [f32]) {
        for (wrow, row) in wide.chunks_exact_mut(g.wp()).zip(dy.chunks_exact(g.ow())) {
            wrow[..row.len()].copy_from_slice(row);
            wrow[row.len()..].fill(0.0);
        }
    }
}

wide! {
    /// One output channel's share of the backward pass on one image: adds its input gradient
    /// into the padded `dx_padded` (when given), and writes each tap's weight gradient (the
    /// sum over this plane, in a fixed order) into `dk`. `dy` is the output gradient plane,
    /// widened into `wide` here at stride 1.
    pub(super) fn backward_plane(
        g: &Depthwise,
        padded: &[f32],
        k: &[f32],
        dy: &[f32],
        wide: &mut [f32],
        dx_padded: Option<&mut [f32]>,
        dk: &mut [f32],
    ) {
        if g.unit_stride() {
            widen(g, dy, wide);
            let len = wide.len();
            for (t, d) in dk.iter_mut().enumerate() {
                *d = super::sum_zip(wide, &padded[g.tap(t)..g.tap(t) + len], |a, b| a * b);
            }
            if let Some(dx) = dx_padded {
                for (t, &kv) in k.iter().enumerate() {
                    let dst = &mut dx[g.tap(t)..g.tap(t) + len];
                    dst.iter_mut().zip(&*wide).for_each(|(d, &v)| *d += kv * v);
                }
            }
            return;
        }
        dk.fill(0.0);
        let mut dx = dx_padded;
        for (oy, row) in dy.chunks_exact(g.ow()).enumerate() {
            for (ox, &gv) in row.iter().enumerate() {
                let at = g.origin(oy, ox);
                for (t, (d, &kv)) in dk.iter_mut().zip(k).enumerate() {
                    *d += gv * padded[at + g.tap(t)];
                    if let Some(dx) = dx.as_deref_mut() {
                        dx[at + g.tap(t)] += kv * gv;
                    }
                }
            }
        }
    }
}

/// The padded plane's interior (h x w) written into `dx`: every element.
pub(super) fn unpad_plane(g: &Depthwise, padded: &[f32], dx: &mut [MaybeUninit<f32>]) {
    let (wp, [ph, pw]) = (g.wp(), g.pad);
    for (y, row) in dx.chunks_exact_mut(g.w).enumerate() {
        let start = (y + ph) * wp + pw;
        row.iter_mut()
            .zip(&padded[start..start + g.w])
            .for_each(|(d, &v)| {
                d.write(v);
            });
    }
}
