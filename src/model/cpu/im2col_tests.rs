//! im2col and col2im against their definitions, bit for bit: strides 1 to 3, odd and even
//! widths (stride 2's paired path takes even ones), padding past the kernel's reach, and
//! patch rows `ld` apart as a chunk's images side by side lay them out.

use super::super::conv_kernels::ConvShape;
use super::super::conv_kernels::tests::values;
use super::{col2im_add, im2col};

fn shapes() -> Vec<ConvShape> {
    let mk = |c, h, w, k, stride, pad| ConvShape {
        n: 1,
        c,
        h,
        w,
        o: 1,
        k,
        stride,
        pad,
        bf16: false,
    };
    vec![
        mk(2, 6, 7, 3, 1, 1),
        mk(3, 8, 8, 3, 2, 1),
        mk(2, 9, 9, 3, 2, 1),
        mk(2, 7, 10, 5, 2, 2),
        mk(2, 6, 8, 1, 2, 0),
        mk(2, 9, 11, 3, 3, 0),
        mk(1, 5, 6, 3, 2, 3),
    ]
}

/// The input value under patch row (c, ki, kj) at output position (y, x), 0 in the padding.
fn tap(s: &ConvShape, c: usize, ki: usize, kj: usize, y: usize, x: usize) -> Option<usize> {
    let iy = (y * s.stride + ki) as isize - s.pad as isize;
    let ix = (x * s.stride + kj) as isize - s.pad as isize;
    let inside = iy >= 0 && ix >= 0 && (iy as usize) < s.h && (ix as usize) < s.w;
    inside.then(|| (c * s.h + iy as usize) * s.w + ix as usize)
}

/// Every (patch row, output position) with its input index, in col2im's order.
fn taps(s: &ConvShape) -> Vec<(usize, usize, Option<usize>)> {
    let (oh, ow, k) = (s.out_h(), s.out_w(), s.k);
    let mut v = Vec::new();
    for c in 0..s.c {
        for ki in 0..k {
            for kj in 0..k {
                for y in 0..oh {
                    for x in 0..ow {
                        let row = (c * k + ki) * k + kj;
                        v.push((row, y * ow + x, tap(s, c, ki, kj, y, x)));
                    }
                }
            }
        }
    }
    v
}

#[test]
fn im2col_copies_each_input_under_its_tap() {
    for s in shapes() {
        let (l, ld) = (s.out_h() * s.out_w(), s.out_h() * s.out_w() + 5);
        let x = values(s.in_len(), 21);
        let mut cols = vec![f32::NAN; s.ckk() * ld];
        im2col(&s, &x, &mut cols, ld);
        for (row, pos, input) in taps(&s) {
            let want = input.map_or(0.0, |i| x[i]);
            assert_eq!(
                cols[row * ld + pos].to_bits(),
                want.to_bits(),
                "{s:?} row {row} pos {pos}"
            );
        }
        // The gap between rows is not written.
        assert!(cols[l..ld].iter().all(|v| v.is_nan()), "{s:?}");
    }
}

#[test]
fn col2im_adds_each_gradient_onto_its_input() {
    for s in shapes() {
        let ld = s.out_h() * s.out_w() + 3;
        let cols = values(s.ckk() * ld, 22);
        // In taps' order, as the code before the phase planes added them: the same bits.
        let mut want = vec![0.0f32; s.in_len()];
        for (row, pos, input) in taps(&s) {
            if let Some(i) = input {
                want[i] += cols[row * ld + pos];
            }
        }
        let mut got = vec![0.0f32; s.in_len()];
        col2im_add(&s, &cols, &mut got, ld);
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{s:?}");
    }
}
