//! bf16 mixed precision on the CPU (src/model/cpu/bf16.rs): f32 arithmetic on values rounded
//! to bf16 where autocast rounds them. Checked against the rounding itself (the `half` crate's
//! bf16, which Burn re-exports) and against Burn's own bf16 convolution and matmul on flex,
//! which convert to f32, compute and round the output back: the same numbers within one bf16
//! step, computed by convlab's f32 CPU operations, or its bf16 GEMMs on a CPU with
//! AVX512-BF16 (the same products). Winograd's convolutions with bf16 GEMMs also round their
//! transformed tiles, and are held to bf16's precision instead (the last test).

use burn::prelude::*;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{DType, bf16};
use convlab::model::config::Precision;
use convlab::model::cpu::bf16::round_to_bf16;
use convlab::model::net::{Layer, Net};
use convlab::model::spec::{LayerSpec, Shape};
use convlab::model::{Activation, Init};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

fn is_bf16(v: f32) -> bool {
    v.to_bits() & 0xffff == 0
}

/// The distance between `v` and the next bf16 value away from zero (bf16 keeps 8 significant
/// bits).
fn bf16_step(v: f32) -> f32 {
    let v = round_to_bf16(v.abs()).max(f32::MIN_POSITIVE);
    f32::from_bits(v.to_bits() + 0x1_0000) - v
}

// torch.tensor([1 + 2**-8, 1 + 3 * 2**-8, -(1 + 2**-8)]).to(torch.bfloat16).float()
//   -> tensor([ 1.0000,  1.0156, -1.0000])   (ties go to the even neighbour)
#[test]
fn rounding_to_bf16_is_to_the_nearest_ties_to_even() {
    assert_eq!(round_to_bf16(1.0 + 2f32.powi(-8)), 1.0);
    assert_eq!(
        round_to_bf16(1.0 + 3.0 * 2f32.powi(-8)),
        1.0 + 2f32.powi(-6)
    );
    assert_eq!(round_to_bf16(-(1.0 + 2f32.powi(-8))), -1.0);
    assert_eq!(round_to_bf16(f32::MAX), f32::INFINITY);
    assert!(
        round_to_bf16(f32::from_bits(0x7f80_0001)).is_nan(),
        "a NaN stays NaN"
    );
    // Every 65,521st bit pattern (all exponents, signs and roundings) as the `half` crate
    // rounds it.
    let mut checked = 0;
    for bits in (0..=u32::MAX).step_by(65_521) {
        let v = f32::from_bits(bits);
        let ours = round_to_bf16(v);
        let theirs = bf16::from_f32(v).to_f32();
        if v.is_nan() {
            assert!(ours.is_nan());
        } else {
            assert_eq!(ours.to_bits(), theirs.to_bits(), "{v:e} ({bits:#x})");
        }
        checked += 1;
    }
    assert!(checked > 65_000);
}

fn image_batch(device: &Device) -> Tensor<4> {
    let x: Vec<f32> = (0..4 * 3 * 64)
        .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(x, [4, 3, 8, 8]), device)
}

fn net(layers: Vec<LayerSpec>, device: &Device) -> Net {
    Net::new(
        &layers,
        Shape::Image { c: 3, h: 8, w: 8 },
        Init::Default,
        device,
    )
}

/// `ours` is made of bf16 values, each equal to `theirs` or one bf16 step from it (the f32
/// sums are added in another order), and most are equal.
fn assert_same_bf16(what: &str, ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len());
    let mut equal = 0;
    for (a, b) in ours.iter().zip(theirs) {
        assert!(is_bf16(*a), "{what}: {a:e} is not a bf16 value");
        assert!((a - b).abs() <= bf16_step(*b), "{what}: {a} against {b}");
        equal += usize::from(a == b);
    }
    assert!(
        equal * 10 >= ours.len() * 9,
        "{what}: only {equal} of {} equal",
        ours.len()
    );
}

#[test]
fn a_bf16_convolution_gives_burns_bf16_numbers() {
    let device = Device::flex();
    device.seed(4);
    let net = net(vec![LayerSpec::conv(8, 3, 1), LayerSpec::Flatten], &device);
    let x = image_batch(&device);
    let ours = values(net.forward(Precision::Bf16.input(x.clone())));
    let Layer::Conv(c) = &net.layers[0] else {
        unreachable!()
    };
    let theirs = conv2d(
        x.cast(DType::BF16),
        c.weight.val().cast(DType::BF16),
        c.bias.as_ref().map(|b| b.val().cast(DType::BF16)),
        ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
    );
    assert_eq!(theirs.dtype(), DType::BF16, "Burn's path really is bf16");
    assert_same_bf16("conv", &ours, &values(theirs.flatten::<2>(1, 3)));
}

#[test]
fn a_bf16_linear_layer_gives_burns_bf16_numbers() {
    let device = Device::flex();
    device.seed(5);
    // No bias: Burn adds a bf16 bias to the rounded product and rounds again, where autocast
    // (and convlab) round the f32 sum once.
    let linear = LayerSpec::Linear {
        out: 40,
        input: None,
        bias: false,
    };
    let net = net(vec![LayerSpec::Flatten, linear], &device);
    let x = image_batch(&device);
    let ours = values(net.forward(Precision::Bf16.input(x.clone())));
    let Layer::Linear(l) = &net.layers[1] else {
        unreachable!()
    };
    let theirs = x
        .cast(DType::BF16)
        .flatten::<2>(1, 3)
        .matmul(l.weight.val().cast(DType::BF16));
    assert_eq!(theirs.dtype(), DType::BF16);
    assert_same_bf16("linear", &ours, &values(theirs));
}

/// As under autocast, the gradients that reach the f32 weights are bf16 values (the gradient
/// of the bf16 weight, cast up); an fp32 step's are not.
#[test]
fn bf16_weight_gradients_are_bf16_values() {
    let device = Device::flex().autodiff();
    device.seed(6);
    let layers = vec![
        LayerSpec::conv(8, 3, 1),
        LayerSpec::bn(),
        LayerSpec::activation(Activation::Relu),
        LayerSpec::Flatten,
    ];
    let net = net(layers, &device);
    let Layer::Conv(c) = &net.layers[0] else {
        unreachable!()
    };
    for precision in [Precision::Bf16, Precision::Fp32] {
        let logits = net.forward(precision.input(image_batch(&device)));
        let weights = Tensor::<2>::from_data(
            TensorData::new(
                (0..4 * 512)
                    .map(|i| (i % 7) as f32 - 3.1)
                    .collect::<Vec<_>>(),
                [4, 512],
            ),
            &device,
        );
        let grads = (logits * weights).sum().backward();
        let g = values(c.weight.val().grad(&grads).unwrap());
        assert!(g.iter().any(|v| *v != 0.0));
        let all_bf16 = g.iter().all(|v| is_bf16(*v));
        assert_eq!(
            all_bf16,
            precision == Precision::Bf16,
            "{precision}: {:?}",
            &g[..4]
        );
    }
}

/// The rounding works in place only on a buffer nothing else holds: a tensor still in use
/// (here `x`, cloned) keeps its values.
#[test]
fn rounding_leaves_a_shared_tensor_alone() {
    let device = Device::flex();
    let raw: Vec<f32> = (0..10_000).map(|i| 1.0 + i as f32 * 1e-6).collect();
    let x = Tensor::<1>::from_data(TensorData::new(raw.clone(), [10_000]), &device);
    let rounded = values(convlab::model::cpu::bf16::round(x.clone()));
    assert!(rounded.iter().all(|v| is_bf16(*v)));
    assert_eq!(values(x.clone()), raw, "the shared input is unchanged");
    // Held by nothing else, the same call gives the same values.
    assert_eq!(values(convlab::model::cpu::bf16::round(x)), rounded);
}

/// The RMS and the largest of the differences between `ours` and `theirs`, each as a fraction
/// of `theirs`' RMS.
fn relative_differences(ours: &[f32], theirs: &[f32]) -> (f32, f32) {
    let rms = |v: &mut dyn Iterator<Item = f32>| {
        let (sum, n) = v.fold((0f32, 0), |(s, n), d| (s + d * d, n + 1));
        (sum / n as f32).sqrt()
    };
    let scale = rms(&mut theirs.iter().copied());
    let mut diffs = ours.iter().zip(theirs).map(|(a, b)| a - b);
    let worst = ours
        .iter()
        .zip(theirs)
        .fold(0f32, |w, (a, b)| w.max((a - b).abs()));
    (rms(&mut diffs) / scale, worst / scale)
}

/// Two convs, the second 16 -> 16 channels, which goes through Winograd's F(2x2, 3x3). On a
/// CPU with AVX512-BF16 its GEMMs add bf16 products (`gemm_bf16`), of the transformed tiles
/// rounded to bf16 too, a rounding autocast's direct convolutions do not make: so it is held
/// to bf16's precision, not to one bf16 step. Against the same net in f32 arithmetic on the
/// values autocast rounds (Burn's own f32 conv2d between `round`s, the arithmetic before the
/// bf16 GEMM): output, the second conv's weight gradient and (through its input gradient)
/// the first conv's: RMS difference below 2^-6 of the RMS, largest below 2^-4 (measured on
/// an AVX512-BF16 CPU: 4.1e-3 / 2.0e-2, 8.8e-3 / 3.7e-2 and 7.6e-3 / 3.1e-2; with f32 GEMMs,
/// `CONVLAB_CPU_BF16_GEMM=off`, 3e-7 at most). A tile laid out wrongly would be off by the
/// order of the values themselves.
#[test]
fn a_bf16_winograd_convolution_keeps_bf16_precision() {
    use convlab::model::cpu::bf16::round;
    let device = Device::flex().autodiff();
    device.seed(7);
    let net = net(
        vec![
            LayerSpec::conv(16, 3, 1),
            LayerSpec::conv(16, 3, 1),
            LayerSpec::Flatten,
        ],
        &device,
    );
    let (Layer::Conv(c1), Layer::Conv(c2)) = (&net.layers[0], &net.layers[1]) else {
        unreachable!()
    };
    // bf16 values, so that rounding the upstream gradient changes nothing.
    let r = Tensor::<2>::from_data(
        TensorData::new(
            (0..4 * 1024)
                .map(|i| (i % 13) as f32 / 8.0 - 0.75)
                .collect::<Vec<_>>(),
            [4, 1024],
        ),
        &device,
    );
    let ours = net.forward(Precision::Bf16.input(image_batch(&device)));
    let grads = (ours.clone() * r.clone()).sum().backward();
    let ours_g = [&c1.weight, &c2.weight].map(|w| values(w.val().grad(&grads).unwrap()));

    let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let conv = |c: &burn::nn::conv::Conv2d, x| {
        let b = c.bias.as_ref().map(|b| round(b.val()));
        round(conv2d(round(x), round(c.weight.val()), b, opts.clone()))
    };
    let theirs = conv(c2, conv(c1, image_batch(&device))).flatten::<2>(1, 3);
    let grads = (theirs.clone() * r).sum().backward();
    let theirs_g = [&c1.weight, &c2.weight].map(|w| values(w.val().grad(&grads).unwrap()));

    let pairs = [
        ("output", values(ours), values(theirs)),
        (
            "conv1 weight gradient",
            ours_g[0].clone(),
            theirs_g[0].clone(),
        ),
        (
            "conv2 weight gradient",
            ours_g[1].clone(),
            theirs_g[1].clone(),
        ),
    ];
    for (what, ours, theirs) in pairs {
        let (rms, worst) = relative_differences(&ours, &theirs);
        eprintln!("{what}: differences {rms:.1e} (RMS), {worst:.1e} (largest) of the RMS");
        assert!(
            rms < 2f32.powi(-6),
            "{what}: RMS difference {rms:e} of the RMS"
        );
        assert!(
            worst < 2f32.powi(-4),
            "{what}: largest difference {worst:e} of the RMS"
        );
        assert!(ours.iter().all(|v| is_bf16(*v)), "{what}: bf16 values");
    }
}

/// `net`'s bf16 forward pass written out layer by layer, rounding every conv and linear
/// layer's input as autocast casts it, even where the values are bf16 values already.
fn rounding_every_input(net: &Net, x: Tensor<4>) -> Tensor<2> {
    use convlab::model::cpu::{bf16::round, conv::forward_with, max_pool, prelu::fixed_slope};
    use convlab::model::net::Act;
    let slope = |a: &Act| match a {
        Act::Relu(_) => 0.0,
        Act::LeakyRelu(l) => l.negative_slope,
        other => unreachable!("{other:?}"),
    };
    let (mut image, mut flat) = (Some(x), None::<Tensor<2>>);
    for layer in &net.layers {
        match (layer, image.take()) {
            (Layer::Conv(c), Some(x)) => {
                let b = c.bias.as_ref().map(|b| round(b.val()));
                let y = forward_with(c, round(x), round(c.weight.val()), b, true);
                image = Some(round(y));
            }
            (Layer::Pool(p), Some(x)) => image = Some(max_pool::forward(p, x)),
            (Layer::Act(a), Some(x)) => image = Some(fixed_slope(x, slope(a), |_| unreachable!())),
            (Layer::Flatten(_), Some(x)) => flat = Some(x.flatten(1, 3)),
            (Layer::Act(a), None) => {
                let x = flat.take().unwrap();
                flat = Some(fixed_slope(x, slope(a), |_| unreachable!()));
            }
            (Layer::Linear(l), None) => {
                let y = round(flat.take().unwrap()).matmul(round(l.weight.val()));
                let b = l.bias.as_ref().unwrap();
                flat = Some(round(y + round(b.val()).unsqueeze()));
            }
            (other, _) => unreachable!("{other:?}"),
        }
    }
    flat.unwrap()
}

/// A bf16 forward pass rounds a layer's input only where its values may not be bf16 values:
/// after a conv or linear layer followed by ReLU, flatten or a 2 x 2 max pool they are, and
/// skipping the rounding there must change no bit of the logits or of any weight gradient. In
/// the second net, LeakyReLU makes values that need rounding, and the overlapping 3 x 3 / 2
/// pool adds gradients, which then need rounding.
#[test]
fn skipping_the_rounding_of_bf16_values_changes_no_bit() {
    let device = Device::flex().autodiff();
    device.seed(8);
    let act = LayerSpec::activation;
    let pool = |kernel, stride| LayerSpec::max_pool(kernel, Some(stride));
    let linear = |out| LayerSpec::Linear {
        out,
        input: None,
        bias: true,
    };
    let relu_net = vec![
        LayerSpec::conv(6, 3, 1),
        act(Activation::Relu),
        pool(2, 2),
        LayerSpec::conv(8, 3, 1),
        act(Activation::Relu),
        pool(2, 2),
        LayerSpec::Flatten,
        linear(20),
        act(Activation::Relu),
        linear(10),
    ];
    let leaky_net = vec![
        LayerSpec::conv(6, 3, 1),
        act(Activation::Relu),
        pool(3, 2),
        LayerSpec::conv(8, 3, 1),
        LayerSpec::Flatten,
        act(Activation::LeakyRelu),
        linear(10),
    ];
    for layers in [relu_net, leaky_net] {
        let net = net(layers, &device);
        let r = Tensor::<2>::from_data(
            TensorData::new(
                (0..40).map(|i| (i % 9) as f32 * 0.37 - 1.3).collect(),
                [4, 10],
            ),
            &device,
        );
        let ours = net.forward(Precision::Bf16.input(image_batch(&device)));
        let theirs = rounding_every_input(&net, image_batch(&device));
        assert_eq!(values(ours.clone()), values(theirs.clone()), "logits");
        let ours = (ours * r.clone()).sum().backward();
        let theirs = (theirs * r).sum().backward();
        let gradients = net.layers.iter().filter_map(|l| match l {
            Layer::Conv(c) => {
                Some([&ours, &theirs].map(|g| values(c.weight.val().grad(g).unwrap())))
            }
            Layer::Linear(l) => {
                Some([&ours, &theirs].map(|g| values(l.weight.val().grad(g).unwrap())))
            }
            _ => None,
        });
        for (i, [g, their_g]) in gradients.enumerate() {
            assert!(g.iter().any(|v| *v != 0.0), "weight {i}: a gradient");
            assert_eq!(g, their_g, "weight {i}'s gradient");
        }
    }
}
