//! A chunk's images side by side against image by image, on the shapes where convlab takes
//! the side-by-side passes (ResNet-18's 4x4 stride-2 outputs and its 1x1 shortcut, in small),
//! with f32 GEMMs and, where the CPU has AVX512-BF16, bf16 ones.

use super::super::conv_kernels::tests::{shape3, values};
use super::super::conv_kernels::{ConvShape, backward_by_image, forward_by_image};
use super::{applies, backward, forward};

/// Stride 2 to 5x5 and 4x4 outputs (the first with a last chunk of one image), a 1x1 stride-2
/// shortcut, and a 3x3 stride-1 conv on 4x4 planes.
fn shapes(bf16: bool) -> Vec<ConvShape> {
    let bf16 = |s: ConvShape| ConvShape { bf16, ..s };
    vec![
        ConvShape {
            stride: 2,
            ..bf16(shape3(5, 16, 9, 9, 24, 1))
        },
        ConvShape {
            stride: 2,
            ..bf16(shape3(8, 32, 8, 8, 48, 1))
        },
        ConvShape {
            k: 1,
            stride: 2,
            pad: 0,
            ..bf16(shape3(6, 24, 8, 8, 40, 0))
        },
        bf16(shape3(4, 16, 4, 4, 16, 1)),
    ]
}

/// The output, the input gradient and the bias gradient are the same sums as image by image,
/// so the same bits; the weight gradient sums a chunk's images in one GEMM, in another order,
/// so it may differ by f32 rounding (relative 1e-5 here, where bf16 rounding is ~4e-3).
#[test]
fn side_by_side_passes_equal_image_by_image() {
    let mut all = shapes(false);
    if super::gemm_bf16::available() {
        all.extend(shapes(true));
    } else {
        eprintln!("this CPU has no AVX512-BF16: only the f32 GEMMs run side by side here");
    }
    for s in all {
        assert!(applies(&s), "{s:?} runs side by side");
        let (x, w) = (
            values(s.n * s.c * s.h * s.w, 41),
            values(s.o * s.c * s.k * s.k, 42),
        );
        let (b, dy) = (
            values(s.o, 43),
            values(s.n * s.o * s.out_h() * s.out_w(), 44),
        );
        assert_eq!(
            forward(&s, &x, &w, Some(&b)),
            forward_by_image(&s, &x, &w, Some(&b)),
            "{s:?}: y"
        );
        let ours = backward(&s, &x, &w, &dy, true, true);
        let theirs = backward_by_image(&s, &x, &w, &dy, true, true);
        assert_eq!(ours.x, theirs.x, "{s:?}: dx");
        assert_eq!(ours.bias, theirs.bias, "{s:?}: db");
        let scale = theirs.weight.iter().fold(0f32, |m, v| m.max(v.abs()));
        let worst = ours
            .weight
            .iter()
            .zip(&theirs.weight)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(worst <= 1e-5 * scale, "{s:?}: dw off by {worst} of {scale}");
    }
}

/// Where side by side does not pay: 1x1 stride-1 convs; with f32 GEMMs output planes of
/// more than 36 positions (7x7 was level), with bf16 ones of 32 or more (one image already
/// fills the kernel's width).
#[test]
fn side_by_side_only_for_small_planes() {
    let strided = |h, bf16| ConvShape {
        stride: 2,
        bf16,
        ..shape3(4, 16, h, h, 24, 1)
    };
    assert!(applies(&strided(11, false)), "f32, 6x6 outputs");
    assert!(!applies(&strided(13, false)), "f32, 7x7 outputs");
    let pointwise = |bf16| ConvShape {
        k: 1,
        pad: 0,
        bf16,
        ..shape3(4, 16, 4, 4, 24, 0)
    };
    assert!(!applies(&pointwise(false)), "1x1 stride 1");
    if !super::gemm_bf16::available() {
        return;
    }
    assert!(applies(&strided(9, true)), "bf16, 5x5 outputs");
    assert!(!applies(&strided(11, true)), "bf16, 6x6 outputs");
    assert!(!applies(&pointwise(true)), "1x1 stride 1");
    let wide = ConvShape {
        bf16: true,
        ..shape3(4, 16, 8, 8, 24, 1)
    };
    assert!(!applies(&wide), "8x8 outputs");
}
