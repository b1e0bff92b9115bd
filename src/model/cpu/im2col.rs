//! The patch matrix of one image (im2col) and its gradient's way back (col2im), for the
//! im2col convolutions of `conv_kernels` and `conv_side_by_side`.
//!
//! A strided conv first splits each channel plane into its column phases: phase p holds
//! columns p, p + stride, p + 2 stride, ... of every row. A patch row then reads one phase's
//! consecutive values, a plain copy, where reading every second input value had been a
//! gather, one float at a time (im2col and col2im were a quarter of a net of stride-2 convs'
//! step, the GEMMs 45%). col2im adds into phase planes the same way and interleaves them
//! back once per channel.

use super::conv_kernels::ConvShape;

/// Where the patch row of kernel tap (`ki`, `kj`) reads output row `y`'s inputs: the input
/// row `iy`, or None when it lies in the padding.
fn input_row(s: &ConvShape, ki: usize, y: usize) -> Option<usize> {
    let iy = (y * s.stride + ki) as isize - s.pad as isize;
    (iy >= 0 && iy < s.h as isize).then_some(iy as usize)
}

/// The phases of a stride-`s.stride` conv's plane: `[stride][h][pw]`, pw = ceil(w / stride).
/// `at(iy, col)` is where input row `iy`'s column `col` lies in them.
struct Phases {
    stride: usize,
    h: usize,
    pw: usize,
}

impl Phases {
    fn of(s: &ConvShape) -> Self {
        Self {
            stride: s.stride,
            h: s.h,
            pw: s.w.div_ceil(s.stride),
        }
    }
    fn len(&self) -> usize {
        self.stride * self.h * self.pw
    }
    /// The start of input row `iy`'s run from column `col` on, in the phase that holds it.
    fn at(&self, iy: usize, col: usize) -> usize {
        let (phase, q) = (col % self.stride, col / self.stride);
        (phase * self.h + iy) * self.pw + q
    }
}

wide! {
    /// `plane` ([h, w]) split into its column phases `ph`, every value once.
    fn split_phases(plane: &[f32], w: usize, ph: &Phases, out: &mut [f32]) {
        let (h, pw) = (ph.h, ph.pw);
        for (r, row) in plane.chunks_exact(w).enumerate() {
            if ph.stride == 2 && w.is_multiple_of(2) {
                let (even, rest) = out[r * pw..].split_at_mut(h * pw);
                let odd = &mut rest[..pw];
                let pairs = row.chunks_exact(2).zip(even.iter_mut().zip(odd.iter_mut()));
                pairs.for_each(|(p, (e, o))| {
                    *e = p[0];
                    *o = p[1];
                });
            } else {
                for (col, &v) in row.iter().enumerate() {
                    out[ph.at(r, col)] = v;
                }
            }
        }
    }
}

wide! {
    /// `plane` ([h, w]) += its column phases `phases` (laid out as `ph`), every value once.
    fn add_phases(phases: &[f32], w: usize, ph: &Phases, plane: &mut [f32]) {
        let (h, pw) = (ph.h, ph.pw);
        for (r, row) in plane.chunks_exact_mut(w).enumerate() {
            if ph.stride == 2 && w.is_multiple_of(2) {
                let even = &phases[r * pw..][..pw];
                let odd = &phases[(h + r) * pw..][..pw];
                let pairs = row.chunks_exact_mut(2).zip(even.iter().zip(odd));
                pairs.for_each(|(p, (e, o))| {
                    p[0] += e;
                    p[1] += o;
                });
            } else {
                for (col, v) in row.iter_mut().enumerate() {
                    *v += phases[ph.at(r, col)];
                }
            }
        }
    }
}

wide! {
    /// Fills `cols` ([c*k*k, oh*ow], rows `ld` apart) with the patches of one image `x`
    /// ([c, h, w]).
    pub(super) fn im2col(s: &ConvShape, x: &[f32], cols: &mut [f32], ld: usize) {
        let (oh, ow, k) = (s.out_h(), s.out_w(), s.k);
        let l = oh * ow;
        let ph = Phases::of(s);
        let mut phases = vec![0.0f32; if s.stride > 1 { ph.len() } else { 0 }];
        for c in 0..s.c {
            let plane = &x[c * s.h * s.w..(c + 1) * s.h * s.w];
            // Stride 1 reads the plane itself: its one phase.
            let source = if s.stride > 1 {
                split_phases(plane, s.w, &ph, &mut phases);
                &phases[..]
            } else {
                plane
            };
            for ki in 0..k {
                for kj in 0..k {
                    let row = &mut cols[((c * k + ki) * k + kj) * ld..][..l];
                    // The run of columns inside each row, zeros where the window hangs over
                    // an edge: the same for every row.
                    let (first, last) = s.inside(kj);
                    for y in 0..oh {
                        let out = &mut row[y * ow..(y + 1) * ow];
                        let Some(iy) = input_row(s, ki, y) else {
                            out.fill(0.0);
                            continue;
                        };
                        out[..first].fill(0.0);
                        out[last..].fill(0.0);
                        if first == last {
                            continue;
                        }
                        let from = ph.at(iy, first * s.stride + kj - s.pad);
                        out[first..last].copy_from_slice(&source[from..][..last - first]);
                    }
                }
            }
        }
    }
}

wide! {
    /// Adds the patch-matrix gradient `cols` (rows `ld` apart) back onto one image's gradient
    /// `dx` ([c, h, w]).
    pub(super) fn col2im_add(s: &ConvShape, cols: &[f32], dx: &mut [f32], ld: usize) {
        let (oh, ow, k) = (s.out_h(), s.out_w(), s.k);
        let l = oh * ow;
        let ph = Phases::of(s);
        let mut phases = vec![0.0f32; if s.stride > 1 { ph.len() } else { 0 }];
        for c in 0..s.c {
            let plane = &mut dx[c * s.h * s.w..(c + 1) * s.h * s.w];
            // Stride 1 adds into the plane itself. Strided, the phases start at 0 and each
            // value gets its terms in the same order as straight into the plane; a zeroed dx
            // (as every caller's) then ends with the same bits.
            let target = if s.stride > 1 {
                phases.fill(0.0);
                &mut phases[..]
            } else {
                &mut *plane
            };
            for ki in 0..k {
                for kj in 0..k {
                    let row = &cols[((c * k + ki) * k + kj) * ld..][..l];
                    // The run of output columns whose input column lies inside the row
                    // (im2col's zero padding gets no gradient): the same for every row.
                    let (first, last) = s.inside(kj);
                    if first == last {
                        continue;
                    }
                    for y in 0..oh {
                        let Some(iy) = input_row(s, ki, y) else {
                            continue;
                        };
                        let src = &row[y * ow..(y + 1) * ow][first..last];
                        let to = ph.at(iy, first * s.stride + kj - s.pad);
                        let to = &mut target[to..][..src.len()];
                        to.iter_mut().zip(src).for_each(|(d, g)| *d += g);
                    }
                }
            }
            if s.stride > 1 {
                add_phases(&phases, s.w, &ph, plane);
            }
        }
    }
}

#[cfg(test)]
#[path = "im2col_tests.rs"]
mod tests;
