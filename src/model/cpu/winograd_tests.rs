//! The Winograd passes against the im2col ones (themselves checked against the 7-loop
//! definition and finite differences in conv_kernels_tests.rs), on odd and even sizes, every
//! padding a 3x3 conv can have, and batches that do not fill the last chunk.
use super::super::conv_kernels::tests::{
    assert_passes_equal_im2col, assert_thread_count_keeps_the_bits, shape3 as shape, values,
};
use super::*;

fn shapes() -> Vec<ConvShape> {
    vec![
        shape(3, 8, 8, 8, 8, 1),
        shape(10, 16, 7, 9, 8, 1),
        shape(3, 8, 7, 7, 8, 1),
        shape(17, 8, 5, 6, 12, 0),
        shape(2, 9, 6, 5, 8, 2),
        shape(9, 32, 4, 4, 16, 1),
        shape(1, 8, 3, 3, 8, 0),
        shape(2, 8, 1, 1, 8, 1),
        shape(2, 8, 2, 5, 8, 1),
        shape(2, 8, 3, 4, 8, 3),
    ]
}

/// The passes on F(4x4, 3x3)'s grid, whatever `grid` would pick.
fn forward43(s: &ConvShape, x: &[f32], w: &[f32], b: Option<&[f32]>) -> Vec<f32> {
    forward_on(s, &Grid::with_outputs(s, 4), x, w, b)
}

fn backward43(s: &ConvShape, x: &[f32], w: &[f32], dy: &[f32], nx: bool, nb: bool) -> Grads {
    backward_on(s, &Grid::with_outputs(s, 4), [x, w, dy], nx, nb)
}

/// The grids to test: F(2x2, 3x3) and F(4x4, 3x3).
fn grids(s: &ConvShape) -> [Grid; 2] {
    [Grid::new(s), Grid::with_outputs(s, 4)]
}

#[test]
fn passes_equal_im2col() {
    for m in [0, 1] {
        let deep = |s: &ConvShape| deep_layer(s, &grids(s)[m]);
        assert!(
            shapes().iter().any(deep) && !shapes().iter().all(deep),
            "both the chunked and the deep passes tested"
        );
    }
    for s in shapes() {
        assert!(applies(&s), "{s:?}");
        let f23 = |s: &ConvShape, x: &[f32], w: &[f32], b: Option<&[f32]>| {
            forward_on(s, &Grid::new(s), x, w, b)
        };
        let b23 = |s: &ConvShape, x: &[f32], w: &[f32], dy: &[f32], nx: bool, nb: bool| {
            backward_on(s, &Grid::new(s), [x, w, dy], nx, nb)
        };
        assert_passes_equal_im2col(&s, f23, b23);
        assert_passes_equal_im2col(&s, forward43, backward43);
    }
}

/// F(4x4, 3x3) where it was faster (bench/winograd_probe.rs), F(2x2, 3x3) elsewhere.
#[test]
fn grid_takes_f43_on_wide_planes_with_many_channels() {
    let m = |n, c, o, hw, bf16| {
        grid(&ConvShape {
            bf16,
            ..shape(n, c, hw, hw, o, 1)
        })
        .m
    };
    let bf16_gemms = crate::model::cpu::gemm_bf16::available();
    assert_eq!(
        m(32, 64, 64, 32, false),
        4,
        "ResNet-18's first stage at batch 32"
    );
    assert_eq!(
        m(64, 64, 128, 16, false),
        4,
        "VGG-11's second conv at batch 64"
    );
    assert_eq!(
        m(1024, 256, 256, 7, false),
        4,
        "the fast recipe's 7x7 planes"
    );
    assert_eq!(m(32, 128, 128, 16, false), 2, "512 tiles in the batch");
    assert_eq!(m(128, 512, 512, 4, false), 2, "4x4 planes");
    assert_eq!(m(32, 32, 64, 32, false), 2, "32 channels in");
    assert_eq!(m(32, 64, 64, 32, true), if bf16_gemms { 2 } else { 4 });
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
    for s in shapes() {
        assert_thread_count_keeps_the_bits(&s, forward, backward);
        assert_thread_count_keeps_the_bits(&s, forward43, backward43);
    }
}

/// The deep layers' passes (tile position by tile position) run the chunked passes' GEMMs and
/// sums in the same order: the same bits, forward and all three gradients.
#[test]
fn deep_passes_give_the_bits_of_the_chunked_passes() {
    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
    let cases: Vec<(ConvShape, Grid)> = shapes()
        .into_iter()
        .flat_map(|s| grids(&s).map(|g| (s, g)))
        .filter(|(s, g)| deep_layer(s, g))
        .collect();
    assert!(cases.iter().any(|c| c.1.m == 2) && cases.iter().any(|c| c.1.m == 4));
    for (s, g) in cases {
        let x = values(s.n * s.c * s.h * s.w, 14);
        let (w, b) = (values(s.o * s.c * 9, 15), values(s.o, 16));
        let dy = values(s.n * s.o * s.out_h() * s.out_w(), 17);
        let per = chunk_images(&s, &g);
        let deep = forward_on(&s, &g, &x, &w, Some(&b));
        let chunked = forward_by_chunks(&s, &g, per, &x, &w, Some(&b));
        assert_eq!(bits(&deep), bits(&chunked), "y {s:?}");
        let deep = backward_on(&s, &g, [&x, &w, &dy], true, true);
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

/// Under bf16 GEMMs the deep passes run whole-batch GEMMs and make dw by blocks of 16
/// filters (winograd_deep_bf16.rs): the chunked passes' bf16 products summed in another
/// order, so equal within f32 rounding; and the same bits on 1 and 3 threads. 40 filters:
/// two whole blocks and a short one.
#[test]
fn deep_bf16_passes_equal_the_chunked_ones() {
    if !crate::model::cpu::gemm_bf16::available() {
        eprintln!("skipped: no AVX512-BF16 here");
        return;
    }
    let s = ConvShape {
        bf16: true,
        ..shape(9, 24, 4, 4, 40, 1)
    };
    let g = Grid::new(&s);
    assert!(deep_layer(&s, &g) && s.bf16_gemms());
    let x = values(s.n * s.c * s.h * s.w, 24);
    let (w, b) = (values(s.o * s.c * 9, 25), values(s.o, 26));
    let dy = values(s.n * s.o * s.out_h() * s.out_w(), 27);
    let per = chunk_images(&s, &g);
    let close = |what: &str, got: &[f32], want: &[f32]| {
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let worst = got
            .iter()
            .zip(want)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            got.len() == want.len() && worst <= 1e-5 * scale,
            "{what}: {worst:e} of {scale:e}"
        );
    };
    let deep = forward_on(&s, &g, &x, &w, Some(&b));
    close(
        "y",
        &deep,
        &forward_by_chunks(&s, &g, per, &x, &w, Some(&b)),
    );
    let deep = backward_on(&s, &g, [&x, &w, &dy], true, true);
    let chunked = backward_by_chunks(&s, &g, per, [&x, &w, &dy], true, true);
    close("dx", deep.x.as_ref().unwrap(), chunked.x.as_ref().unwrap());
    close("dw", &deep.weight, &chunked.weight);
    close("db", &deep.bias, &chunked.bias);
    assert_thread_count_keeps_the_bits(&s, forward, backward);
}
