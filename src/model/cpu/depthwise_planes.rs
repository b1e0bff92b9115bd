//! A depthwise convolution's work on one plane: each output channel reads one input channel,
//! so the conv is k x k multiply-adds per output and no GEMM. The input plane is first copied
//! into zero-padded phase planes (the border written each time, as the scratch is reused):
//! at stride s, s x s planes of every s-th row and column, so that each tap reads
//! consecutive values (at stride 1, one plane: the padded plane). Each tap is then one long
//! multiply-add over a "wide" grid, the output rows laid out a phase row apart: on MNIST's
//! 14-pixel rows a loop per row would leave most of a 16-lane register empty. The columns
//! past the output's width are computed and dropped (forward) or held at zero (backward).

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
}

/// Where a column phase's values sit: phase px holds the padded plane's columns px, px + s,
/// ...; of those, positions `lo..hi` are the plane's own columns x0, x0 + s, ..., the
/// others padding.
#[derive(Clone, Copy, Debug)]
struct Columns {
    lo: usize,
    hi: usize,
    x0: usize,
}

/// A depthwise conv's layout, worked out once per call: the phase planes' width and size,
/// each tap's offset and each column phase's span.
pub(super) struct Plan {
    pub g: Depthwise,
    /// A phase plane's rows and columns (at stride 1, the padded plane's).
    hq: usize,
    wq: usize,
    /// Where tap t (row-major) of output (0, 0) reads: in the phase of its offset, that
    /// offset's whole strides down and across.
    taps: Vec<usize>,
    columns: Vec<Columns>,
}

impl Plan {
    pub fn new(g: Depthwise) -> Plan {
        let ([sy, sx], [ph, pw]) = (g.stride, g.pad);
        let (hq, wq) = ((g.h + 2 * ph).div_ceil(sy), (g.w + 2 * pw).div_ceil(sx));
        let taps = (0..g.taps())
            .map(|t| {
                let (dy, dx) = (t / g.kw * g.dilation[0], t % g.kw * g.dilation[1]);
                let phase = (dy % sy) * sx + dx % sx;
                phase * hq * wq + dy / sy * wq + dx / sx
            })
            .collect();
        let columns = (0..sx)
            .map(|px| {
                let lo = pw.saturating_sub(px).div_ceil(sx);
                let x0 = lo * sx + px - pw;
                let count = g.w.saturating_sub(x0).div_ceil(sx);
                Columns {
                    lo,
                    hi: lo + count,
                    x0,
                }
            })
            .collect();
        Plan {
            g,
            hq,
            wq,
            taps,
            columns,
        }
    }
    fn phase_len(&self) -> usize {
        self.hq * self.wq
    }
    fn phases(&self) -> usize {
        self.g.stride[0] * self.g.stride[1]
    }
    /// The phase planes' length in all, with a tail of zeros: the wide grid's last taps run
    /// past the last row by up to the kernel's width.
    pub fn padded_len(&self) -> usize {
        let tail = (self.g.kw - 1) * self.g.dilation[1] / self.g.stride[1];
        self.phases() * self.phase_len() + tail
    }
    /// The wide grid's length: the output rows, a phase row apart.
    pub fn wide_len(&self) -> usize {
        self.g.oh() * self.wq
    }
    /// Where the padded plane's row `r` starts in the phase planes of column phase 0, or
    /// None for a padding row.
    fn row(&self, r: usize) -> Option<usize> {
        let [sy, sx] = self.g.stride;
        let inside = r >= self.g.pad[0] && r < self.g.pad[0] + self.g.h;
        inside.then(|| (r % sy) * sx * self.phase_len() + r / sy * self.wq)
    }
}

wide! {
    /// Writes the plane `x` (h x w), zero-padded, into its phase planes (one, the padded
    /// plane itself, at stride 1), and the tail: every element of `padded`.
    pub(super) fn pad_plane(p: &Plan, x: &[f32], padded: &mut [f32]) {
        let (g, wq) = (&p.g, p.wq);
        let [sy, sx] = g.stride;
        let (planes, tail) = padded.split_at_mut(p.phases() * p.phase_len());
        tail.fill(0.0);
        for (phase, plane) in planes.chunks_exact_mut(p.phase_len()).enumerate() {
            let (py, px) = (phase / sx, phase % sx);
            let Columns { lo, hi, x0 } = p.columns[px];
            for (qy, out) in plane.chunks_exact_mut(wq).enumerate() {
                let r = qy * sy + py;
                if p.row(r).is_none() {
                    out.fill(0.0);
                    continue;
                }
                let src = &x[(r - g.pad[0]) * g.w..][..g.w];
                out[..lo].fill(0.0);
                match sx {
                    1 => out[lo..hi].copy_from_slice(src),
                    // Every other value: a loop the compiler vectorizes with shuffles.
                    2 => {
                        let pairs = src[x0..].chunks_exact(2);
                        let last = pairs.remainder().first();
                        let dst = &mut out[lo..hi];
                        dst.iter_mut().zip(pairs).for_each(|(o, v)| *o = v[0]);
                        if let Some(&v) = last {
                            dst[dst.len() - 1] = v;
                        }
                    }
                    _ => {
                        let values = src[x0..].iter().step_by(sx);
                        out[lo..hi].iter_mut().zip(values).for_each(|(o, &v)| *o = v);
                    }
                }
                out[hi..].fill(0.0);
            }
        }
    }
}

wide! {
    /// One output plane from its input's phase planes, kernel `k` (taps in row-major order)
    /// and bias: each output is the bias plus the taps in order. `wide` is scratch.
    pub(super) fn forward_plane(
        p: &Plan,
        padded: &[f32],
        k: &[f32],
        bias: f32,
        wide: &mut [f32],
        out: &mut [MaybeUninit<f32>],
    ) {
        debug_assert_eq!(wide.len(), p.wide_len());
        wide.fill(bias);
        let len = wide.len();
        for (&at, &kv) in p.taps.iter().zip(k) {
            let src = &padded[at..at + len];
            wide.iter_mut().zip(src).for_each(|(o, &x)| *o += kv * x);
        }
        for (row, wrow) in out.chunks_exact_mut(p.g.ow()).zip(wide.chunks(p.wq)) {
            row.iter_mut().zip(wrow).for_each(|(o, &v)| {
                o.write(v);
            });
        }
    }
}

wide! {
    /// One output channel's share of the backward pass on one image: adds its input gradient
    /// into the phase planes `dx_padded` (when given), and writes each tap's weight gradient
    /// (the sum over this plane, in a fixed order) into `dk`. `dy` is the output gradient
    /// plane, laid out on the wide grid in `wide` here, its extra columns zero (they add
    /// nothing).
    pub(super) fn backward_plane(
        p: &Plan,
        padded: &[f32],
        k: &[f32],
        dy: &[f32],
        wide: &mut [f32],
        dx_padded: Option<&mut [f32]>,
        dk: &mut [f32],
    ) {
        debug_assert_eq!(wide.len(), p.wide_len());
        for (wrow, row) in wide.chunks_exact_mut(p.wq).zip(dy.chunks_exact(p.g.ow())) {
            wrow[..row.len()].copy_from_slice(row);
            wrow[row.len()..].fill(0.0);
        }
        let len = wide.len();
        for (d, &at) in dk.iter_mut().zip(&p.taps) {
            *d = super::sum_zip(wide, &padded[at..at + len], |a, b| a * b);
        }
        if let Some(dx) = dx_padded {
            for (&at, &kv) in p.taps.iter().zip(k) {
                let dst = &mut dx[at..at + len];
                dst.iter_mut().zip(&*wide).for_each(|(d, &v)| *d += kv * v);
            }
        }
    }
}

wide! {
    /// The input gradient (h x w) read back from its phase planes' interior into `dx`: every
    /// element.
    pub(super) fn unpad_plane(p: &Plan, padded: &[f32], dx: &mut [MaybeUninit<f32>]) {
        let (g, sx) = (&p.g, p.g.stride[1]);
        for (y, row) in dx.chunks_exact_mut(g.w).enumerate() {
            let start = p.row(y + g.pad[0]).expect("a plane row");
            for (px, &Columns { lo, hi, x0 }) in p.columns.iter().enumerate() {
                let values = &padded[start + px * p.phase_len()..][lo..hi];
                if sx == 1 {
                    row.iter_mut().zip(values).for_each(|(d, &v)| {
                        d.write(v);
                    });
                    continue;
                }
                let dst = row[x0..].iter_mut().step_by(sx);
                dst.zip(values).for_each(|(d, &v)| {
                    d.write(v);
                });
            }
        }
    }
}
