//! The depthwise conv passes (src/model/cpu/depthwise.rs) against Burn's grouped conv2d:
//! output and all three gradients, on every stride/padding/dilation/multiplier mix they take,
//! and the same bits on 1 and 3 threads.

use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use convlab::model::cpu::conv::conv2d_fast;
use convlab::model::cpu::depthwise::depthwise;

use super::{assert_close, on_threads, wavy};

/// (n, c, m outputs per channel, [h, w], [kh, kw], stride, padding, dilation, bias)
type Case = (
    usize,
    usize,
    usize,
    [usize; 2],
    [usize; 2],
    [usize; 2],
    [usize; 2],
    [usize; 2],
    bool,
);

fn cases() -> Vec<Case> {
    vec![
        // separable.toml's two: 3x3 padding 1, and dilation 2 padding 2 on 14x14 planes.
        (3, 8, 1, [12, 12], [3, 3], [1, 1], [1, 1], [1, 1], false),
        (2, 6, 1, [14, 14], [3, 3], [1, 1], [2, 2], [2, 2], false),
        // MobileNet's stride-2 depthwise conv, with a bias; and an odd plane.
        (3, 4, 1, [9, 9], [3, 3], [2, 2], [1, 1], [1, 1], true),
        (2, 5, 1, [7, 10], [3, 3], [2, 3], [1, 0], [1, 1], true),
        // Two and three outputs per input channel (out_channels = 2c, 3c).
        (2, 3, 2, [8, 8], [3, 3], [1, 1], [1, 1], [1, 1], true),
        (2, 2, 3, [6, 9], [5, 5], [1, 1], [2, 2], [1, 1], false),
        // A 5x5 kernel without padding, non-square kernels, dilation along one axis.
        (2, 4, 1, [11, 11], [5, 5], [1, 1], [0, 0], [1, 1], true),
        (2, 3, 1, [8, 8], [3, 1], [1, 1], [1, 0], [1, 1], true),
        (2, 3, 1, [8, 9], [1, 5], [1, 2], [0, 2], [1, 2], false),
        // Planes smaller than the kernel's reach but for the padding, and a 1x1 output.
        (4, 2, 1, [2, 2], [3, 3], [1, 1], [1, 1], [1, 1], true),
        (3, 2, 1, [3, 3], [3, 3], [1, 1], [0, 0], [1, 1], true),
        // More planes than one parallel job holds.
        (9, 16, 1, [16, 16], [3, 3], [1, 1], [1, 1], [1, 1], true),
    ]
}

/// Output, input, weight and bias gradients of one case, through `conv2d_fast` (which must
/// take the depthwise passes) or Burn's conv2d.
fn run(case: Case, fast: bool) -> [Vec<f32>; 4] {
    let (n, c, m, [h, w], [kh, kw], stride, pad, dilation, with_bias) = case;
    let device = Device::flex().autodiff();
    let x = wavy([n, c, h, w], 1, &device).require_grad();
    let weight = wavy([c * m, 1, kh, kw], 2, &device).require_grad();
    let bias = wavy([c * m], 3, &device).require_grad();
    let opts = ConvOptions::new(stride, pad, dilation, c);
    assert!(
        depthwise(x.dims(), weight.dims(), &opts).is_some(),
        "{case:?} takes the depthwise passes"
    );
    let b = with_bias.then(|| bias.clone());
    let y = if fast {
        conv2d_fast(x.clone(), weight.clone(), b, opts, false)
    } else {
        conv2d(x.clone(), weight.clone(), b, opts)
    };
    let grads = (y.clone() * wavy(y.dims(), 4, &device)).sum().backward();
    let v = |t: Tensor<4>| t.into_data().try_to_vec::<f32>().unwrap();
    let v1 = |t: Tensor<1>| t.into_data().try_to_vec::<f32>().unwrap();
    let db = match with_bias {
        true => v1(bias.grad(&grads).unwrap()),
        false => vec![],
    };
    [
        v(y.inner()),
        v(x.grad(&grads).unwrap()),
        v(weight.grad(&grads).unwrap()),
        db,
    ]
}

#[test]
fn depthwise_conv_matches_burns_grouped_conv2d_and_its_gradients() {
    let device = Device::flex();
    for case in cases() {
        let (fast, burn) = (run(case, true), run(case, false));
        for (what, (a, b)) in ["output", "dx", "dw", "db"]
            .iter()
            .zip(fast.into_iter().zip(burn))
        {
            let t = |v: Vec<f32>| Tensor::<1>::from_floats(v.as_slice(), &device);
            assert!(!b.is_empty() || what == &"db", "{case:?} {what}");
            assert_close(&format!("{case:?} {what}"), t(a), t(b));
        }
    }
}

#[test]
fn depthwise_conv_has_the_same_bits_on_1_and_3_threads() {
    for case in cases() {
        let bits = |threads| {
            on_threads(threads, || run(case, true))
                .map(|v| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>())
        };
        assert_eq!(bits(1), bits(3), "{case:?}");
    }
}

/// Grouped convs with more than one input channel per group, asymmetric padding, and the
/// plain conv of a one-channel input keep their other paths.
#[test]
fn only_depthwise_convs_take_the_depthwise_passes() {
    let opts = |groups| ConvOptions::new([1, 1], [1, 1], [1, 1], groups);
    assert!(depthwise([2, 8, 9, 9], [8, 1, 3, 3], &opts(8)).is_some());
    assert!(depthwise([2, 8, 9, 9], [16, 1, 3, 3], &opts(8)).is_some());
    assert!(depthwise([2, 8, 9, 9], [8, 2, 3, 3], &opts(4)).is_none());
    assert!(depthwise([2, 1, 9, 9], [8, 1, 3, 3], &opts(1)).is_none());
    let asymmetric = ConvOptions::new_with_padding([1, 1], [(1, 0), (1, 1)], [1, 1], 8);
    assert!(depthwise([2, 8, 9, 9], [8, 1, 3, 3], &asymmetric).is_none());
    // Dilation 4 on a 3x3 kernel reaches 9 pixels, more than the padded 7x7 plane.
    let far = ConvOptions::new([1, 1], [1, 1], [4, 4], 8);
    assert!(depthwise([2, 8, 5, 5], [8, 1, 3, 3], &far).is_none());
}
