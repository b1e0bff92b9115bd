//! The position-pair passes against the im2col ones (themselves checked against the 7-loop
//! definition and finite differences in conv_kernels_tests.rs), on every small plane this path
//! takes, and blocks of rows that do not divide the channels.
use super::super::conv_kernels;
use super::super::conv_kernels::tests::values;
use super::*;

fn shape(n: usize, c: usize, h: usize, w: usize, o: usize, pad: usize) -> ConvShape {
    ConvShape {
        n,
        c,
        h,
        w,
        o,
        k: 3,
        stride: 1,
        pad,
    }
}

fn shapes() -> Vec<ConvShape> {
    vec![
        shape(5, 8, 2, 2, 12, 1),  // VGG's last planes: 16 pairs
        shape(3, 16, 1, 1, 8, 1),  // one pair, the centre tap
        shape(4, 8, 3, 3, 20, 1),  // 49 pairs against Winograd's 64
        shape(2, 8, 3, 3, 8, 0),   // 1x1 output, all 9 taps
        shape(3, 8, 1, 2, 8, 1),   // a 1 x 2 plane
        shape(2, 8, 2, 3, 8, 1),   // 28 pairs against 32
        shape(3, 4, 1, 1, 70, 1),  // 70 output channels in blocks of 16, the last of 6
        shape(2, 70, 2, 2, 4, 1),  // 70 input channels: dx in blocks of 48 and 22
        shape(1, 16, 2, 2, 16, 2), // padding 2: a 4x4 output, some windows hold one input
    ]
}

/// The pair sums and im2col's dot products round differently: a tolerance relative to the
/// magnitudes summed.
fn assert_close(what: &str, s: &ConvShape, got: &[f32], want: &[f32], scale: f32) {
    assert_eq!(got.len(), want.len(), "{what} {s:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * scale,
            "{what} {s:?} [{i}]: {g} vs {w}"
        );
    }
}

#[test]
fn forward_equals_im2col() {
    for s in shapes() {
        assert!(applies(&s), "{s:?}");
        let (x, w, b) = (
            values(s.n * s.c * s.h * s.w, 1),
            values(s.o * s.c * 9, 2),
            values(s.o, 3),
        );
        let got = forward(&s, &x, &w, Some(&b));
        let want = conv_kernels::forward(&s, &x, &w, Some(&b));
        assert_close("y", &s, &got, &want, (s.c * 9) as f32);
        let unbiased = conv_kernels::forward(&s, &x, &w, None);
        assert_close(
            "y",
            &s,
            &forward(&s, &x, &w, None),
            &unbiased,
            (s.c * 9) as f32,
        );
    }
}

#[test]
fn gradients_equal_im2col() {
    for s in shapes() {
        let x = values(s.n * s.c * s.h * s.w, 4);
        let w = values(s.o * s.c * 9, 5);
        let dy = values(s.n * s.o * s.out_h() * s.out_w(), 6);
        let got = backward(&s, &x, &w, &dy, true, true);
        let want = conv_kernels::backward(&s, &x, &w, &dy, true, true);
        let dx = (got.x.as_ref().unwrap(), want.x.as_ref().unwrap());
        assert_close("dx", &s, dx.0, dx.1, (s.o * 9) as f32);
        let per_weight = (s.n * s.out_h() * s.out_w()) as f32;
        assert_close("dw", &s, &got.weight, &want.weight, per_weight);
        assert_close("db", &s, &got.bias, &want.bias, per_weight);
        let without_x = backward(&s, &x, &w, &dy, false, false);
        assert!(without_x.x.is_none());
        assert_eq!(without_x.weight, got.weight);
    }
}

/// Planes with more pairs than Winograd's 16 multiplies per tile keep Winograd.
#[test]
fn larger_planes_keep_winograd() {
    assert_eq!(pairs(&shape(1, 8, 2, 2, 8, 1)).len(), 16);
    assert_eq!(pairs(&shape(1, 8, 4, 4, 8, 1)).len(), 100);
    assert!(!applies(&shape(4, 8, 4, 4, 8, 1)), "100 pairs against 64");
    assert!(!applies(&shape(4, 8, 8, 8, 8, 1)));
    assert!(
        !applies(&shape(4, 8, 4, 4, 8, 0)),
        "2x2 output: 36 pairs against 16"
    );
    assert!(!applies(&ConvShape {
        stride: 2,
        ..shape(4, 8, 2, 2, 8, 1)
    }));
}

/// The same bits on 1 and 3 threads, forward and all three gradients.
#[test]
fn thread_count_does_not_change_the_bits() {
    let on = |threads: usize, s: &ConvShape, x: &[f32], w: &[f32], dy: &[f32]| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let g = backward(s, x, w, dy, true, true);
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
            let y = forward(s, x, w, None);
            let dx = bits(&g.x.unwrap());
            (bits(&y), dx, bits(&g.weight), bits(&g.bias))
        })
    };
    for s in shapes() {
        let x = values(s.n * s.c * s.h * s.w, 8);
        let w = values(s.o * s.c * 9, 9);
        let dy = values(s.n * s.o * s.out_h() * s.out_w(), 10);
        assert_eq!(on(1, &s, &x, &w, &dy), on(3, &s, &x, &w, &dy), "{s:?}");
    }
}
