//! The Winograd passes against the im2col ones (themselves checked against the 7-loop
//! definition and finite differences in conv_kernels_tests.rs), on odd and even sizes, every
//! padding a 3x3 conv can have, and batches that do not fill the last chunk.
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
        shape(3, 8, 8, 8, 8, 1),
        shape(10, 16, 7, 9, 8, 1),
        shape(17, 8, 5, 6, 12, 0),
        shape(2, 9, 6, 5, 8, 2),
        shape(9, 32, 4, 4, 16, 1),
        shape(1, 8, 3, 3, 8, 0),
        shape(2, 8, 1, 1, 8, 1),
        shape(2, 8, 2, 5, 8, 1),
        shape(2, 8, 3, 4, 8, 3),
    ]
}

/// Winograd's rounding differs from im2col's dot products: a tolerance relative to the
/// magnitudes summed (c * 9 products of values in [-1, 1]).
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
    }
}

#[test]
fn gradients_equal_im2col() {
    let deep = |s: &ConvShape| deep_layer(s, &Grid::new(s));
    assert!(
        shapes().iter().any(deep) && !shapes().iter().all(deep),
        "both the chunked and the deep passes tested"
    );
    for s in shapes() {
        let x = values(s.n * s.c * s.h * s.w, 4);
        let w = values(s.o * s.c * 9, 5);
        let dy = values(s.n * s.o * s.out_h() * s.out_w(), 6);
        let got = backward(&s, &x, &w, &dy, true, true);
        let want = conv_kernels::backward(&s, &x, &w, &dy, true, true);
        assert_close(
            "dx",
            &s,
            got.x.as_ref().unwrap(),
            want.x.as_ref().unwrap(),
            (s.o * 9) as f32,
        );
        let per_weight = (s.n * s.out_h() * s.out_w()) as f32;
        assert_close("dw", &s, &got.weight, &want.weight, per_weight);
        assert_close("db", &s, &got.bias, &want.bias, per_weight);
        let without_x = backward(&s, &x, &w, &dy, false, false);
        assert!(without_x.x.is_none());
        assert_eq!(without_x.weight, got.weight);
    }
}

#[test]
fn small_or_strided_convs_keep_im2col() {
    assert!(
        !applies(&shape(4, 3, 8, 8, 16, 1)),
        "3 -> 16 channels: too few for the GEMMs"
    );
    assert!(!applies(&ConvShape {
        stride: 2,
        ..shape(4, 16, 8, 8, 16, 1)
    }));
    assert!(!applies(&ConvShape {
        k: 5,
        ..shape(4, 16, 8, 8, 16, 1)
    }));
}

/// The same bits on 1 and 3 threads, forward and all three gradients, chunked and deep.
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
            (
                bits(&y),
                bits(&g.x.unwrap()),
                bits(&g.weight),
                bits(&g.bias),
            )
        })
    };
    for s in shapes() {
        let x = values(s.n * s.c * s.h * s.w, 8);
        let w = values(s.o * s.c * 9, 9);
        let dy = values(s.n * s.o * s.out_h() * s.out_w(), 10);
        assert_eq!(on(1, &s, &x, &w, &dy), on(3, &s, &x, &w, &dy), "{s:?}");
    }
}

/// The deep layers' passes (tile position by tile position) run the chunked passes' GEMMs and
/// sums in the same order: the same bits, forward and all three gradients.
#[test]
fn deep_passes_give_the_bits_of_the_chunked_passes() {
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
    for s in shapes()
        .into_iter()
        .filter(|s| deep_layer(s, &Grid::new(s)))
    {
        let (g, x) = (Grid::new(&s), values(s.n * s.c * s.h * s.w, 14));
        let (w, b) = (values(s.o * s.c * 9, 15), values(s.o, 16));
        let dy = values(s.n * s.o * s.out_h() * s.out_w(), 17);
        let per = chunk_images(&s, &g);
        let deep = forward(&s, &x, &w, Some(&b));
        let chunked = forward_by_chunks(&s, &g, per, &x, &w, Some(&b));
        assert_eq!(bits(&deep), bits(&chunked), "y {s:?}");
        let deep = backward(&s, &x, &w, &dy, true, true);
        let chunked = backward_by_chunks(&s, &g, per, [&x, &w, &dy], true, true);
        assert_eq!(
            bits(&deep.x.unwrap()),
            bits(&chunked.x.unwrap()),
            "dx {s:?}"
        );
        assert_eq!(bits(&deep.weight), bits(&chunked.weight), "dw {s:?}");
        assert_eq!(bits(&deep.bias), bits(&chunked.bias), "db {s:?}");
    }
}
