//! Output shapes as PyTorch computes them, and the layers a shape check refuses.

use super::*;

/// PyTorch's output sizes with ceil_mode:
///   for k, s, p, n in [(2, 2, 0, 7), (3, 2, 0, 26), (3, 2, 1, 6), (2, 2, 1, 5)]:
///       nn.MaxPool2d(k, s, p, ceil_mode=True)(torch.zeros(1, 1, n, n)).shape[-1]
///   -> 4, 13, 4, 3 (floor: 3, 12, 3, 3; the fourth (2, 2, 1, 5) window would start in the
///   right padding, and is dropped)
#[test]
fn ceil_mode_keeps_a_last_window_over_the_edge_as_pytorch_does() {
    let side = |k, s, p, n, ceil_mode| {
        let pool = LayerSpec::Pool {
            kernel: k,
            stride: Some(s),
            padding: p,
            ceil_mode,
        };
        match pool.output_shape(Shape::Image { c: 1, h: n, w: n }) {
            Ok(Shape::Image { h, .. }) => h,
            other => panic!("{other:?}"),
        }
    };
    let cases = [
        (2, 2, 0, 7, 4, 3),
        (3, 2, 0, 26, 13, 12),
        (3, 2, 1, 6, 4, 3),
        (2, 2, 1, 5, 3, 3),
    ];
    for (k, s, p, n, ceil, floor) in cases {
        assert_eq!(
            (side(k, s, p, n, true), side(k, s, p, n, false)),
            (ceil, floor)
        );
    }
    let plane = LayerSpec::AvgPool {
        kernel: None,
        stride: None,
        padding: 0,
        ceil_mode: true,
        count_include_pad: true,
    };
    let why = plane.output_shape(Shape::Image { c: 1, h: 4, w: 4 });
    assert_eq!(
        why,
        Err("ceil_mode needs a kernel: it rounds the count of windows up".into())
    );
}

/// PyTorch's conv output sizes with dilation:
///   for k, s, p, d, n in [(3, 1, 0, 2, 9), (3, 2, 1, 2, 9), (5, 1, 0, 3, 13)]:
///       nn.Conv2d(1, 1, k, s, p, dilation=d)(torch.zeros(1, 1, n, n)).shape[-1]
///   -> 5, 4, 1
/// and nn.Conv2d(6, 4, 3, groups=4): "in_channels must be divisible by groups".
#[test]
fn dilated_and_grouped_convs_have_pytorchs_shapes() {
    let conv = |kernel, stride, padding, dilation, groups| LayerSpec::Conv {
        out: 4,
        kernel,
        stride,
        padding,
        input: None,
        bias: true,
        dirac: false,
        dilation,
        groups,
    };
    let side = |layer: LayerSpec, n| match layer.output_shape(Shape::Image { c: 4, h: n, w: n }) {
        Ok(Shape::Image { h, .. }) => h,
        other => panic!("{other:?}"),
    };
    assert_eq!(side(conv(3, 1, 0, 2, 1), 9), 5);
    assert_eq!(side(conv(3, 2, 1, 2, 2), 9), 4);
    assert_eq!(side(conv(5, 1, 0, 3, 4), 13), 1);
    let why = conv(3, 1, 0, 1, 4).output_shape(Shape::Image { c: 6, h: 9, w: 9 });
    let want = "groups = 4 must divide the 6 input channels and the 4 output channels";
    assert_eq!(why, Err(want.into()));
    let why = conv(5, 1, 0, 3, 1).output_shape(Shape::Image { c: 4, h: 12, w: 12 });
    let want = "kernel 5 (spanning 13 pixels at dilation 3) is larger than its 12x12 input \
                (+ padding 0)";
    assert_eq!(why, Err(want.into()));
}
