//! The small planes' sized copies of the F(2x2, 3x3) transforms (`SMALL_PLANES`) against the
//! general ones: the same steps with their sizes constants, so the same bits; and only the
//! grids they were sized for take them.
use super::super::conv_kernels::tests::{shape3, values};
use super::super::winograd_grid::Grid;
use super::*;

fn assert_same_bits(general: &[f32], sized: &[f32], what: &str, g: &Grid) {
    assert_eq!(general.len(), sized.len());
    for (k, (a, b)) in general.iter().zip(sized).enumerate() {
        assert_eq!(
            a.to_bits(),
            b.to_bits(),
            "{what} on {g:?}: element {k}: {a} vs {b}"
        );
    }
}

/// The written values of an output filled by a transform (every element: both write all).
fn written(v: &[MaybeUninit<f32>]) -> Vec<f32> {
    // SAFETY: the slices below start initialized (`MaybeUninit::new`) and stay so.
    v.iter().map(|x| unsafe { x.assume_init() }).collect()
}

#[test]
fn small_plane_copies_give_the_bits_of_the_general_transforms() {
    for (i, g) in SMALL_PLANES.iter().enumerate() {
        // One plane of three channels' tile blocks, the middle one, so stride and offset count.
        let (n, plane_len) = (g.tiles(), g.h * g.w);
        let (stride, at) = (3 * n, n);
        let plane = values(plane_len, 1 + i as u32);
        let tiles = values(16 * stride, 7 + i as u32);
        let mut buf = vec![0.0f32; g.scratch_len()];
        let run = |sized: bool, buf: &mut [f32]| {
            let (mut v, mut yh) = (vec![9.0f32; 16 * stride], vec![9.0f32; 16 * stride]);
            let mut y = vec![MaybeUninit::new(9.0f32); plane_len];
            let mut dx = vec![MaybeUninit::new(9.0f32); plane_len];
            if sized {
                input_tiles2_small(i, &plane, &mut v, stride, at, buf);
                grad_tiles2_small(i, &plane, &mut yh, stride, at, buf);
                output_tiles2_small(i, &tiles, stride, at, 0.25, &mut y, buf);
                input_grad_tiles2_small(i, &tiles, stride, at, &mut dx, buf);
            } else {
                input_tiles2(g, &plane, &mut v, stride, at, buf);
                grad_tiles2(g, &plane, &mut yh, stride, at, buf);
                output_tiles2(g, &tiles, stride, at, 0.25, &mut y, buf);
                input_grad_tiles2(g, &tiles, stride, at, &mut dx, buf);
            }
            [v, yh, written(&y), written(&dx)]
        };
        let general = run(false, &mut buf);
        let sized = run(true, &mut buf);
        let names = ["input tiles", "gradient tiles", "output", "input gradient"];
        for ((a, b), what) in general.iter().zip(&sized).zip(names) {
            assert!(a.iter().any(|&x| x != 9.0), "{what} on {g:?} wrote nothing");
            assert_same_bits(a, b, what, g);
        }
    }
}

#[test]
fn only_the_grids_they_were_sized_for_take_the_copies() {
    let f23 = |h, w, pad| Grid::new(&shape3(2, 8, h, w, 8, pad));
    assert_eq!(small_plane(&f23(4, 4, 1)), Some(0));
    assert_eq!(small_plane(&f23(7, 7, 1)), Some(1));
    assert_eq!(small_plane(&f23(8, 8, 1)), Some(2));
    for g in [
        f23(8, 8, 0),
        f23(8, 8, 2),
        f23(6, 6, 1),
        f23(4, 8, 1),
        f23(16, 16, 1),
    ] {
        assert_eq!(small_plane(&g), None, "{g:?}");
    }
    let f43 = Grid::with_outputs(&shape3(2, 8, 8, 8, 8, 1), 4);
    assert_eq!(small_plane(&f43), None);
}
