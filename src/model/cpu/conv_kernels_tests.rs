//! The kernels against the 7-loop definition and central finite differences.
use super::*;

/// Direct 7-loop convolution, the definition itself.
fn reference(s: &ConvShape, x: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let (oh, ow) = (s.out_h(), s.out_w());
    let mut y = vec![0.0; s.n * s.o * oh * ow];
    for n in 0..s.n {
        for o in 0..s.o {
            for yy in 0..oh {
                for xx in 0..ow {
                    let mut acc = b[o];
                    for c in 0..s.c {
                        for ki in 0..s.k {
                            for kj in 0..s.k {
                                let iy = (yy * s.stride + ki) as isize - s.pad as isize;
                                let ix = (xx * s.stride + kj) as isize - s.pad as isize;
                                if iy < 0 || ix < 0 || iy >= s.h as isize || ix >= s.w as isize {
                                    continue;
                                }
                                let xi = ((n * s.c + c) * s.h + iy as usize) * s.w + ix as usize;
                                let wi = ((o * s.c + c) * s.k + ki) * s.k + kj;
                                acc += x[xi] * w[wi];
                            }
                        }
                    }
                    y[((n * s.o + o) * oh + yy) * ow + xx] = acc;
                }
            }
        }
    }
    y
}

/// Values in [-1, 1) that look random and are the same on every run.
pub(in crate::model::cpu) fn values(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0
                - 1.0
        })
        .collect()
}

fn shapes() -> Vec<ConvShape> {
    let mk = |n, c, h, w, o, k, stride, pad| ConvShape {
        n,
        c,
        h,
        w,
        o,
        k,
        stride,
        pad,
        bf16: false,
    };
    vec![
        mk(5, 1, 9, 9, 3, 5, 1, 0),
        mk(6, 3, 8, 7, 4, 3, 1, 1),
        mk(3, 2, 9, 8, 5, 3, 2, 1),
        mk(9, 4, 5, 5, 6, 1, 1, 0),
        mk(2, 3, 6, 6, 2, 1, 2, 0),
        // Kernel columns past the padding on both edges at stride 2, and stride 3.
        mk(3, 2, 11, 10, 4, 5, 2, 2),
        mk(2, 2, 7, 9, 3, 3, 3, 0),
        // 576 output positions, 17 output channels: the weight gradient goes by tiles.
        mk(5, 3, 24, 24, 17, 3, 1, 1),
    ]
}

#[test]
fn forward_equals_the_definition() {
    for s in shapes() {
        let x = values(s.n * s.in_len(), 1);
        let w = values(s.o * s.ckk(), 2);
        let b = values(s.o, 3);
        let got = forward(&s, &x, &w, Some(&b));
        let want = reference(&s, &x, &w, &b);
        for (g, r) in got.iter().zip(&want) {
            assert!((g - r).abs() < 1e-4, "{s:?}: {g} vs {r}");
        }
    }
}

/// The loss sum(y * r) has dL/dy = r; each gradient is checked against the change of the
/// loss when one input is nudged (central differences in f64 on the reference conv).
#[test]
fn gradients_equal_finite_differences() {
    for s in shapes() {
        let x = values(s.n * s.in_len(), 4);
        let w = values(s.o * s.ckk(), 5);
        let b = values(s.o, 6);
        let r = values(s.n * s.out_len(), 7);
        let loss = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
            reference(&s, x, w, b)
                .iter()
                .zip(&r)
                .map(|(y, r)| (*y as f64) * (*r as f64))
                .sum()
        };
        let g = backward(&s, &x, &w, &r, true, true);
        let eps = 1e-2f32;
        let check = |name: &str, analytic: &[f32], perturb: &dyn Fn(usize, f32) -> f64| {
            for i in (0..analytic.len()).step_by(analytic.len() / 7 + 1) {
                let numeric = (perturb(i, eps) - perturb(i, -eps)) / (2.0 * eps as f64);
                let a = analytic[i] as f64;
                assert!(
                    (a - numeric).abs() < 1e-2 * (1.0 + numeric.abs()),
                    "{s:?} {name}[{i}]: {a} vs {numeric}"
                );
            }
        };
        check("x", g.x.as_ref().unwrap(), &|i, d| {
            let mut x2 = x.clone();
            x2[i] += d;
            loss(&x2, &w, &b)
        });
        check("w", &g.weight, &|i, d| {
            let mut w2 = w.clone();
            w2[i] += d;
            loss(&x, &w2, &b)
        });
        check("b", &g.bias, &|i, d| {
            let mut b2 = b.clone();
            b2[i] += d;
            loss(&x, &w, &b2)
        });
        // Without the input gradient the weight gradient is the same.
        assert_eq!(backward(&s, &x, &w, &r, false, true).weight, g.weight);
    }
}

/// A 3x3 stride-1 conv: the shapes of the Winograd and position-pair tests.
pub(in crate::model::cpu) fn shape3(
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    o: usize,
    pad: usize,
) -> ConvShape {
    ConvShape {
        n,
        c,
        h,
        w,
        o,
        k: 3,
        stride: 1,
        pad,
        bf16: false,
    }
}

/// The passes of another convolution path (Winograd, position pairs).
pub(in crate::model::cpu) type Forward = fn(&ConvShape, &[f32], &[f32], Option<&[f32]>) -> Vec<f32>;
pub(in crate::model::cpu) type Backward =
    fn(&ConvShape, &[f32], &[f32], &[f32], bool, bool) -> Grads;

/// Another path's rounding differs from im2col's dot products: a tolerance relative to the
/// magnitudes summed (`scale` products of values in [-1, 1]).
fn assert_close(what: &str, s: &ConvShape, got: &[f32], want: &[f32], scale: f32) {
    assert_eq!(got.len(), want.len(), "{what} {s:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * scale,
            "{what} {s:?} [{i}]: {g} vs {w}"
        );
    }
}

/// y (with and without bias), dx, dw and db of another path against the im2col passes
/// (checked above against the definition and finite differences); dw is the same without dx.
pub(in crate::model::cpu) fn assert_passes_equal_im2col(
    s: &ConvShape,
    fwd: Forward,
    bwd: Backward,
) {
    let (x, w, b) = (
        values(s.n * s.in_len(), 1),
        values(s.o * s.c * 9, 2),
        values(s.o, 3),
    );
    let scale = (s.c * 9) as f32;
    assert_close(
        "y",
        s,
        &fwd(s, &x, &w, Some(&b)),
        &forward(s, &x, &w, Some(&b)),
        scale,
    );
    assert_close(
        "y",
        s,
        &fwd(s, &x, &w, None),
        &forward(s, &x, &w, None),
        scale,
    );
    let dy = values(s.n * s.out_len(), 6);
    let (got, want) = (
        bwd(s, &x, &w, &dy, true, true),
        backward(s, &x, &w, &dy, true, true),
    );
    let dx = (got.x.as_ref().unwrap(), want.x.as_ref().unwrap());
    assert_close("dx", s, dx.0, dx.1, (s.o * 9) as f32);
    let per_weight = (s.n * s.l()) as f32;
    assert_close("dw", s, &got.weight, &want.weight, per_weight);
    assert_close("db", s, &got.bias, &want.bias, per_weight);
    let without_x = bwd(s, &x, &w, &dy, false, false);
    assert!(without_x.x.is_none());
    assert_eq!(without_x.weight, got.weight, "dw without dx {s:?}");
}

/// The same bits on 1 and 3 threads, forward and all three gradients.
pub(in crate::model::cpu) fn assert_thread_count_keeps_the_bits(
    s: &ConvShape,
    fwd: Forward,
    bwd: Backward,
) {
    let (x, w) = (values(s.n * s.in_len(), 8), values(s.o * s.c * 9, 9));
    let dy = values(s.n * s.out_len(), 10);
    let on = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
            let g = bwd(s, &x, &w, &dy, true, true);
            let y = fwd(s, &x, &w, None);
            (
                bits(&y),
                bits(&g.x.unwrap()),
                bits(&g.weight),
                bits(&g.bias),
            )
        })
    };
    assert_eq!(on(1), on(3), "{s:?}");
}
