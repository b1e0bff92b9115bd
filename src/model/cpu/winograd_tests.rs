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
        shape(17, 8, 5, 6, 12, 0),
        shape(2, 9, 6, 5, 8, 2),
        shape(9, 32, 4, 4, 16, 1),
        shape(1, 8, 3, 3, 8, 0),
        shape(2, 8, 1, 1, 8, 1),
        shape(2, 8, 2, 5, 8, 1),
        shape(2, 8, 3, 4, 8, 3),
    ]
}

#[test]
fn passes_equal_im2col() {
    let deep = |s: &ConvShape| deep_layer(s, &Grid::new(s));
    assert!(
        shapes().iter().any(deep) && !shapes().iter().all(deep),
        "both the chunked and the deep passes tested"
    );
    for s in shapes() {
        assert!(applies(&s), "{s:?}");
        assert_passes_equal_im2col(&s, forward, backward);
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
    for s in shapes() {
        assert_thread_count_keeps_the_bits(&s, forward, backward);
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
