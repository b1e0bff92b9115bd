//! The position-pair passes against the im2col ones (themselves checked against the 7-loop
//! definition and finite differences in conv_kernels_tests.rs), on every small plane this path
//! takes, and blocks of rows that do not divide the channels.
use super::super::conv_kernels::tests::{
    assert_passes_equal_im2col, assert_thread_count_keeps_the_bits, shape3 as shape,
};
use super::*;

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

#[test]
fn passes_equal_im2col() {
    for s in shapes() {
        assert!(applies(&s), "{s:?}");
        assert_passes_equal_im2col(&s, forward, backward);
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
    for s in shapes() {
        assert_thread_count_keeps_the_bits(&s, forward, backward);
    }
}
