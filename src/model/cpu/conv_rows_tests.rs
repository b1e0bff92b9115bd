use super::super::conv_kernels::{ConvShape, backward_by_image, forward_by_image, tests::values};
use super::{applies, backward, forward};

/// The row-lowered conv against im2col image by image (`conv_kernels`), forward and all
/// three gradients, on shapes with padding 0 to k - 1, odd and even kernels, planes that are
/// not square, and a bias.
#[test]
fn rows_lowered_conv_matches_im2col() {
    for (n, c, h, w, o, k, pad) in [
        (5, 8, 12, 12, 8, 5, 2),
        (3, 7, 9, 11, 7, 5, 0),
        (2, 12, 8, 6, 11, 3, 1),
        (3, 5, 10, 7, 8, 7, 3),
        (2, 16, 5, 9, 16, 2, 0),
        (2, 9, 6, 6, 12, 4, 3),
        (1, 8, 3, 3, 8, 5, 4),
    ] {
        let s = ConvShape {
            n,
            c,
            h,
            w,
            o,
            k,
            stride: 1,
            pad,
            bf16: false,
        };
        assert!(applies(&s), "{s:?} runs lowered by rows");
        let x = values(s.n * s.in_len(), 1);
        let wt = values(o * s.ckk(), 2);
        let b = values(o, 3);
        let dy = values(s.n * s.out_len(), 4);
        let close = |what: &str, got: &[f32], want: &[f32]| {
            assert_eq!(got.len(), want.len(), "{s:?} {what}");
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-4 * (1.0 + w.abs()),
                    "{s:?} {what}[{i}]: {g} vs {w}"
                );
            }
        };
        close(
            "y",
            &forward(&s, &x, &wt, Some(&b)),
            &forward_by_image(&s, &x, &wt, Some(&b)),
        );
        let (got, want) = (
            backward(&s, &x, &wt, &dy, true, true),
            backward_by_image(&s, &x, &wt, &dy, true, true),
        );
        close("dx", got.x.as_ref().unwrap(), want.x.as_ref().unwrap());
        close("dw", &got.weight, &want.weight);
        close("db", &got.bias, &want.bias);
        let no_x = backward(&s, &x, &wt, &dy, false, false);
        assert!(no_x.x.is_none());
        assert_eq!(
            no_x.weight, got.weight,
            "{s:?}: dw does not depend on need_x"
        );
    }
}

/// Stride 2, too few rows, and padding of k or more stay with im2col.
#[test]
fn rows_lowering_takes_only_the_convs_it_can() {
    let s = ConvShape {
        n: 2,
        c: 8,
        h: 8,
        w: 8,
        o: 8,
        k: 5,
        stride: 1,
        pad: 2,
        bf16: false,
    };
    assert!(applies(&s));
    assert!(!applies(&ConvShape { stride: 2, ..s }));
    assert!(!applies(&ConvShape { c: 3, ..s }), "3 x 5 rows");
    assert!(
        !applies(&ConvShape { o: 3, ..s }),
        "3 x 5 rows of the input gradient"
    );
    assert!(!applies(&ConvShape { pad: 5, ..s }));
    assert!(!applies(&ConvShape { k: 1, pad: 0, ..s }));
}
