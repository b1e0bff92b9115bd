//! Lookahead averaging (weights and running statistics) and flip + shift test-time
//! augmentation, against airbench's definitions.

use super::*;

fn tiny_linear(device: &Device) -> Net {
    let layers = [
        LayerSpec::Flatten,
        LayerSpec::Linear {
            out: 2,
            input: None,
            bias: true,
        },
    ];
    Net::new(
        &layers,
        Shape::Image { c: 1, h: 1, w: 2 },
        Init::Default,
        device,
    )
}

fn set_linear(net: Net, w: [f32; 4], b: [f32; 2], device: &Device) -> Net {
    let mut net = net;
    if let Layer::Linear(l) = &mut net.layers[1] {
        l.weight = Param::from_tensor(Tensor::from_data(
            TensorData::new(w.to_vec(), [2, 2]),
            device,
        ));
        l.bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(b.to_vec(), [2]),
            device,
        )));
    }
    net
}

fn linear_weights(net: &Net) -> Vec<f32> {
    match &net.layers[1] {
        Layer::Linear(l) => values(l.weight.val()),
        _ => unreachable!(),
    }
}

/// airbench's LookaheadState: every 5 steps ema.lerp_(w, 1 - decay); w.copy_(ema), with
/// decay = 0.95**5 * (step / total)**3; after the last step the same with decay 1.
#[test]
fn lookahead_follows_airbench() {
    let device = Device::flex();
    let w0 = [1.0, 2.0, 3.0, 4.0];
    let net = set_linear(tiny_linear(&device), w0, [0.0, 0.0], &device);
    let mut look = Lookahead::new(&net, 5, 0.95, 10).unwrap();
    // Steps 1-4 leave the weights alone; step 5 averages.
    let w5 = [3.0, 2.0, 1.0, 0.0];
    let net = look.after_step(set_linear(net, w5, [0.0, 0.0], &device), 4);
    assert_eq!(linear_weights(&net), w5.to_vec());
    let net = look.after_step(net, 5);
    let d5 = 0.95f64.powi(5) * 0.5f64.powi(3);
    let avg5: Vec<f64> = (0..4)
        .map(|i| d5 * w0[i] as f64 + (1.0 - d5) * w5[i] as f64)
        .collect();
    for (got, want) in linear_weights(&net).iter().zip(&avg5) {
        assert!((*got as f64 - want).abs() < 1e-6);
    }
    // Step 10 is both an averaging step (decay 0.95^5) and the last (weights := average).
    let w10 = [0.0, 0.0, 10.0, 10.0];
    let net = look.after_step(set_linear(net, w10, [0.0, 0.0], &device), 10);
    let d10 = 0.95f64.powi(5);
    for (i, got) in linear_weights(&net).iter().enumerate() {
        let want = d10 * avg5[i] + (1.0 - d10) * w10[i] as f64;
        assert!((*got as f64 - want).abs() < 1e-5, "{got} vs {want}");
    }
}

/// The batch-norm running mean is averaged with the weights (airbench averages PyTorch's
/// whole state_dict). PyTorch, with `x` the 4x1x3x3 batch of `one_step`:
///   bn = nn.BatchNorm2d(1, momentum=0.4); bn(x)          # running_mean = 0.4 * x.mean()
///   avg = 0 (the start); d = 0.95**5 * 0.5**3; avg = d * avg + (1 - d) * bn.running_mean
/// Before the fix Burn's pending running statistic replaced the blended one at the next sync.
#[test]
fn lookahead_averages_the_running_statistics() {
    let device = Device::flex().autodiff();
    device.seed(5);
    let layers = vec![
        LayerSpec::Bn {
            input: None,
            momentum: 0.4,
            eps: 1e-5,
            weight: true,
        },
        LayerSpec::Flatten,
        LayerSpec::Linear {
            out: 2,
            input: None,
            bias: true,
        },
    ];
    let net = Net::new(
        &layers,
        Shape::Image { c: 1, h: 3, w: 3 },
        Init::Default,
        &device,
    );
    let mut look = Lookahead::new(&net, 5, 0.95, 10).unwrap();
    let plan = GradPlan::new(&net, &layers, 0, 1.0);
    let net = one_step(net, &plan, &device);
    let batch_mean = (0..36)
        .map(|i| ((i * 7) % 11) as f64 / 11.0 - 0.5)
        .sum::<f64>()
        / 36.0;
    let d = 0.95f64.powi(5) * 0.5f64.powi(3);
    let want = (1.0 - d) * 0.4 * batch_mean;
    let net = look.after_step(net, 5).valid();
    let Layer::Bn(bn) = &net.layers[0] else {
        unreachable!()
    };
    let got = values(bn.running_mean.value())[0] as f64;
    assert!(
        (got - want).abs() < 1e-6,
        "running mean {got}, want {want} (unaveraged: {})",
        0.4 * batch_mean
    );
}

/// airbench's infer_mirror_translate: 0.5 * mirror(x) + 0.5 * mean(mirror(pad(x)[0:h, 0:w]),
/// mirror(pad(x)[2:, 2:])) with reflect padding 1, mirror(x) = (f(x) + f(flip x)) / 2. Here
/// rebuilt by index arithmetic on a 1x3x3 image through a linear net.
#[test]
fn flip_translate_tta_is_airbench_level_2() {
    let device = Device::flex();
    let layers = [
        LayerSpec::Flatten,
        LayerSpec::Linear {
            out: 2,
            input: None,
            bias: false,
        },
    ];
    let net = Net::new(
        &layers,
        Shape::Image { c: 1, h: 3, w: 3 },
        Init::Default,
        &device,
    );
    let img: Vec<f32> = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
    let f = |px: &[f32]| {
        values(net.forward(Tensor::from_data(
            TensorData::new(px.to_vec(), [1, 1, 3, 3]),
            &device,
        )))
    };
    let at = |y: isize, x: isize| {
        let r = |i: isize| if i < 0 { -i } else if i > 2 { 4 - i } else { i } as usize;
        img[r(y) * 3 + r(x)]
    };
    let shifted = |dy: isize, dx: isize, flip: bool| -> Vec<f32> {
        (0..9)
            .map(|k| {
                let (y, x) = ((k / 3) as isize, (k % 3) as isize);
                let x = if flip { 2 - x } else { x };
                at(y + dy, x + dx)
            })
            .collect()
    };
    let mirror = |dy, dx| {
        let (a, b) = (f(&shifted(dy, dx, false)), f(&shifted(dy, dx, true)));
        [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0]
    };
    let (m0, down_right, up_left) = (mirror(0, 0), mirror(-1, -1), mirror(1, 1));
    let want: Vec<f32> = (0..2)
        .map(|i| 0.5 * m0[i] + 0.25 * (down_right[i] + up_left[i]))
        .collect();
    let x = Tensor::from_data(TensorData::new(img.clone(), [1, 1, 3, 3]), &device);
    let got = values(tta_logits(&net, x.clone(), Tta::FlipTranslate));
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-5, "{got:?} vs {want:?}");
    }
    let flip = values(tta_logits(&net, x, Tta::Flip));
    assert!((flip[0] - m0[0]).abs() < 1e-5 && (flip[1] - m0[1]).abs() < 1e-5);
}
