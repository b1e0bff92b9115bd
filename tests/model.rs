//! Presets, custom-net checks, schedules and checkpoints, at the library level.

use burn::prelude::*;
use convlab::model::Net;
use convlab::model::checkpoint::{self, CheckpointMeta};
use convlab::model::presets::{PRESETS, resolve_layers};
use convlab::model::spec::{LayerSpec, Shape, check_net, lint_net, trainable_params};
use convlab::model::{Activation, Init, ModelConfig};
use convlab::train::schedule::{Schedule, ScheduleConfig};

fn preset(name: &str) -> ModelConfig {
    ModelConfig {
        preset: name.into(),
        ..Default::default()
    }
}

#[test]
fn every_preset_checks_and_runs_on_its_input() {
    let device = Device::flex();
    for name in PRESETS.iter().map(|p| p.name) {
        let input = if name.starts_with("mnist") {
            Shape::Image { c: 1, h: 28, w: 28 }
        } else {
            Shape::Image { c: 3, h: 32, w: 32 }
        };
        let layers = resolve_layers(&preset(name), 10, "t").unwrap();
        check_net(&layers, input, 10, "t").unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            lint_net(&layers).is_empty(),
            "{name} has an activation on its logits"
        );
        if ["vgg16", "resnet18", "vgg11"].contains(&name) {
            continue; // big: shape-checked above, one forward below is enough
        }
        let Shape::Image { c, h, w } = input else {
            unreachable!()
        };
        let net = Net::new(&layers, input, Init::Default, &device);
        let out = net.forward(Tensor::zeros([2, c, h, w], &device));
        assert_eq!(out.dims(), [2, 10], "{name}");
    }
    let layers = resolve_layers(&preset("resnet18"), 10, "t").unwrap();
    let net = Net::new(
        &layers,
        Shape::Image { c: 3, h: 32, w: 32 },
        Init::Kaiming,
        &device,
    );
    assert_eq!(
        net.forward(Tensor::ones([1, 3, 32, 32], &device)).dims(),
        [1, 10]
    );
}

/// The seed nets' parameter counts as PyTorch prints them:
/// `sum(p.numel() for p in model.parameters())` on the nn.Sequential that
/// `bench/seed_nets.py` builds (160922, 295650, 9457962, 434722, 11173962).
/// By hand, seed 004: conv 3->16 (448) + PReLU (1) + BN (32), conv 16->32 (4640) + 1 + 64,
/// conv 32->64 (18496) + 1 + 128, fc 4096->100 (409700) + 1 + BN1d (200), fc 100->10 (1010).
#[test]
fn preset_parameter_counts_match_the_seed_nets() {
    let mnist = Shape::Image { c: 1, h: 28, w: 28 };
    let cifar = Shape::Image { c: 3, h: 32, w: 32 };
    let count = |name: &str, input: Shape| {
        let layers = resolve_layers(&preset(name), 10, "t").unwrap();
        check_net(&layers, input, 10, "t").unwrap();
        trainable_params(&layers, input)
    };
    // conv 1->10 3x3 (100), conv 10->32 3x3 (2912), fc 1568->100 (156900), fc 100->10 (1010).
    assert_eq!(count("mnist-cnn", mnist), 100 + 2912 + 156_900 + 1010);
    assert_eq!(count("cifar-cnn", cifar), 295_650);
    assert_eq!(count("vgg-blocks", cifar), 9_457_962);
    assert_eq!(
        count("bn-prelu-cnn", cifar),
        448 + 1 + 32 + 4640 + 1 + 64 + 18_496 + 1 + 128 + 409_700 + 1 + 200 + 1010
    );
    assert_eq!(count("resnet18", cifar), 11_173_962);
    // Burn counts batch norm's running mean and var too: 2 x 4800 channels more.
    let layers = resolve_layers(&preset("resnet18"), 10, "t").unwrap();
    let burn_count = Net::new(&layers, cifar, Init::Default, &Device::flex()).num_params();
    assert_eq!(burn_count, 11_173_962 + 9600);
}

/// Seed 004's order: PReLU, channel dropout, then batch norm after each conv; BatchNorm1d
/// after the fc layer's dropout.
#[test]
fn bn_prelu_cnn_is_seed_004s_layer_order() {
    let layers = resolve_layers(&preset("bn-prelu-cnn"), 10, "t").unwrap();
    let kinds: Vec<&str> = layers.iter().map(|l| l.kind()).collect();
    assert_eq!(
        kinds.join(" "),
        "conv activation dropout2d bn conv activation dropout2d bn pool conv activation dropout2d bn pool flatten linear activation dropout bn linear"
    );
    assert!(layers.contains(&LayerSpec::Dropout2d { p: 0.35 }));
}

/// A knob on a layer list would change nothing: it is refused, naming the key.
#[test]
fn knobs_on_a_layer_list_are_refused() {
    let text = r#"
[model]
preset = ""
dropout = 0.5
layers = [{ type = "flatten" }, { type = "linear", out = 10 }]
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("net.toml");
    std::fs::write(&path, text).unwrap();
    let e = convlab::experiment::config::load_run_config(&path, &[])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("model.dropout") && e.contains("presets only"),
        "{e}"
    );
    let e = convlab::experiment::config::load_run_config(
        &path,
        &["model.dropout=-1".into(), "model.activation=elu".into()],
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("model.activation"), "{e}");
}

#[test]
fn knobs_change_every_preset() {
    let mut m = preset("mnist-cnn");
    m.activation = Some(Activation::Elu);
    m.dropout = 0.5;
    m.batch_norm = convlab::model::BatchNormChoice::On;
    let layers = resolve_layers(&m, 10, "t").unwrap();
    assert_eq!(
        layers.iter().filter(|l| matches!(l, LayerSpec::Bn)).count(),
        2
    );
    assert!(
        layers
            .iter()
            .all(|l| !matches!(l, LayerSpec::Activation { kind } if *kind != Activation::Elu))
    );
    assert!(layers.contains(&LayerSpec::Dropout { p: 0.5 }));
    m.dropout = 0.0;
    assert!(
        !resolve_layers(&m, 10, "t")
            .unwrap()
            .iter()
            .any(|l| matches!(l, LayerSpec::Dropout { .. }))
    );
}

#[test]
fn vgg_blocks_has_no_activation_on_logits_and_4096_features() {
    let layers = resolve_layers(&preset("vgg-blocks"), 10, "t").unwrap();
    let shapes = check_net(&layers, Shape::Image { c: 3, h: 32, w: 32 }, 10, "t").unwrap();
    let flat = layers
        .iter()
        .position(|l| *l == LayerSpec::Flatten)
        .unwrap();
    assert_eq!(shapes[flat], Shape::Flat(4096));
    assert!(matches!(
        layers.last(),
        Some(LayerSpec::Linear { out: 10, .. })
    ));
}

#[test]
fn custom_net_errors_and_lint() {
    let layers = vec![LayerSpec::Conv {
        out: 8,
        kernel: 40,
        stride: 1,
        padding: 0,
        input: None,
        bias: true,
    }];
    let e = check_net(&layers, Shape::Image { c: 1, h: 28, w: 28 }, 10, "my.toml")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "my.toml: model.layers[0] (conv), input 1x28x28: kernel 40 is larger than its 28x28 input (+ padding 0)"
    );
    let layers = vec![
        LayerSpec::Flatten,
        LayerSpec::Linear {
            out: 10,
            input: None,
        },
        LayerSpec::Activation {
            kind: Activation::Relu,
        },
    ];
    assert!(check_net(&layers, Shape::Image { c: 1, h: 28, w: 28 }, 10, "t").is_ok());
    assert_eq!(lint_net(&layers).len(), 1, "relu on the logits is flagged");
    // An unknown activation cannot become a LayerSpec: it is rejected while parsing.
    let e = toml::from_str::<LayerSpec>("type = \"activation\"\nkind = \"swish\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown activation \"swish\""), "{e}");
}

#[test]
fn schedules_follow_pytorch() {
    let cfg = |name: &str| ScheduleConfig {
        name: name.parse().unwrap(),
        step_size: 2,
        gamma: 0.5,
        milestones: vec![1, 3],
        ..Default::default()
    };
    let s = Schedule::new(&cfg("step"), 0.1, 6, 10);
    assert_eq!(
        [s.lr(0, 0), s.lr(1, 5), s.lr(2, 0), s.lr(5, 9)],
        [0.1, 0.1, 0.05, 0.025]
    );
    let s = Schedule::new(&cfg("multistep"), 0.1, 6, 10);
    assert_eq!([s.lr(0, 0), s.lr(1, 0), s.lr(3, 0)], [0.1, 0.05, 0.025]);
    let s = Schedule::new(&cfg("exponential"), 1.0, 6, 10);
    assert_eq!(s.lr(3, 0), 0.125);
    // OneCycleLR(max_lr=0.1, total_steps=100, pct_start=0.3): torch gives 0.004 at step 0,
    // 0.1 at step 29, and 0.1/25/1e4 at the last step.
    let mut c = cfg("onecycle");
    c.max_lr = 0.1;
    let s = Schedule::new(&c, 0.01, 10, 10);
    assert!((s.lr(0, 0) - 0.004).abs() < 1e-12);
    assert!((s.lr(2, 9) - 0.1).abs() < 1e-12);
    assert!((s.lr(9, 9) - 4e-7).abs() < 1e-15);
    assert!(s.lr(1, 0) > s.lr(0, 5) && s.lr(5, 0) < 0.1);
    // Plateau: patience 1 -> cut after the second epoch without improvement.
    let mut c = cfg("plateau");
    c.patience = 1;
    let mut s = Schedule::new(&c, 1.0, 10, 1);
    for v in [1.0, 0.5, 0.6, 0.6] {
        s.end_epoch(Some(v));
    }
    assert!((s.lr(4, 0) - 0.1).abs() < 1e-12);
}

#[test]
fn checkpoint_round_trip_and_wrong_architecture() {
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let input = Shape::Image { c: 1, h: 28, w: 28 };
    let layers = resolve_layers(&preset("mnist-cnn"), 10, "t").unwrap();
    device.seed(1);
    let net = Net::new(&layers, input, Init::Default, &device);
    let meta = CheckpointMeta {
        convlab_version: "0".into(),
        burn_version: "0.22.1".into(),
        layers: layers.clone(),
        input: [1, 28, 28],
        classes: (0..10).map(|d| d.to_string()).collect(),
        dataset: "mnist".into(),
        mean: vec![0.13],
        std: vec![0.31],
        device: "cuda".into(),
        epoch: 3,
        summary: serde_json::json!({"test_acc": 0.99}),
    };
    let path = dir.path().join("m.ckpt");
    checkpoint::save(&path, &meta, &net).unwrap();
    let (meta2, net2) = checkpoint::load(&path, &device).unwrap();
    assert_eq!(meta2, meta);
    let x = Tensor::<4>::random([3, 1, 28, 28], burn::tensor::Distribution::Default, &device);
    let (a, b) = (
        net.forward(x.clone()).into_data(),
        net2.forward(x).into_data(),
    );
    assert_eq!(a, b, "loaded weights give the same logits");
    // The same weights into another architecture: a clear error, not a panic.
    let other = Net::new(
        &resolve_layers(&preset("bn-prelu-cnn"), 10, "t").unwrap(),
        input,
        Init::Default,
        &device,
    );
    let (_, weights) = checkpoint::read_meta(&path).unwrap();
    let e = checkpoint::load_weights(other, weights, "m.ckpt")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("m.ckpt: weights do not fit this architecture"),
        "{e}"
    );
}

/// Deterministic values in [-1, 1) for the operation checks below.
fn wavy<const D: usize>(shape: [usize; D], seed: u32, device: &Device) -> Tensor<D> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n as u32)
        .map(|i| ((i.wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::<1>::from_floats(v.as_slice(), device).reshape(shape)
}

fn assert_close<const D: usize>(what: &str, a: Tensor<D>, b: Tensor<D>) {
    assert_eq!(a.dims(), b.dims(), "{what}");
    let (a, b) = (
        a.into_data().try_to_vec::<f32>().unwrap(),
        b.into_data().try_to_vec::<f32>().unwrap(),
    );
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f32::max);
    assert!(worst < 1e-4, "{what}: differs by {worst}");
}

/// convlab's im2col convolution (used on the CPU) gives Burn's conv2d's output and the same
/// gradients for the input, weight and bias, for the kernel/stride/padding mixes the presets use.
#[test]
fn cpu_conv_matches_burns_conv2d_and_its_gradients() {
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use convlab::model::cpu::conv::conv2d_fast;
    let device = Device::flex().autodiff();
    for (n, c, hw, o, k, stride, pad) in [
        (3, 1, 12, 4, 5, 1, 0),
        (4, 3, 9, 5, 3, 1, 1),
        (2, 4, 9, 6, 3, 2, 1),
        (5, 6, 6, 3, 1, 2, 0),
    ] {
        let case = format!("n{n} c{c} hw{hw} o{o} k{k} s{stride} p{pad}");
        let run = |fast: bool| {
            let x = wavy([n, c, hw, hw], 1, &device).require_grad();
            assert!(convlab::model::cpu::on_flex(&x), "the fast path is taken");
            let w = wavy([o, c, k, k], 2, &device).require_grad();
            let b = wavy([o], 3, &device).require_grad();
            let opts = ConvOptions::new([stride; 2], [pad; 2], [1, 1], 1);
            let y = if fast {
                conv2d_fast(x.clone(), w.clone(), Some(b.clone()), opts)
            } else {
                conv2d(x.clone(), w.clone(), Some(b.clone()), opts)
            };
            // A loss whose output gradient is not uniform, so every path is exercised.
            let r = wavy(y.dims(), 4, &device);
            let grads = (y.clone() * r).sum().backward();
            let g = |t: &Tensor<4>| t.grad(&grads).unwrap();
            (y.inner(), g(&x), g(&w), b.grad(&grads).unwrap())
        };
        let (fast, burn) = (run(true), run(false));
        assert_close(&format!("{case} output"), fast.0, burn.0);
        assert_close(&format!("{case} dx"), fast.1, burn.1);
        assert_close(&format!("{case} dw"), fast.2, burn.2);
        assert_close(&format!("{case} db"), fast.3, burn.3);
    }
}

/// The one-pass PReLU gives Burn's PReLU output and gradients, with one slope or one per channel.
#[test]
fn cpu_prelu_matches_burns_prelu_and_its_gradients() {
    use burn::nn::PReluConfig;
    use convlab::model::cpu::prelu;
    let device = Device::flex().autodiff();
    for slopes in [1, 3] {
        let run = |fast: bool| {
            let mut layer = PReluConfig::new().with_num_parameters(slopes).init(&device);
            layer.alpha = layer
                .alpha
                .map(|_| wavy([slopes], 5, &device).require_grad());
            let x = wavy([2, 3, 4, 5], 6, &device).require_grad();
            let y = if fast {
                prelu::forward(&layer, x.clone())
            } else {
                layer.forward(x.clone())
            };
            let grads = (y.clone() * wavy([2, 3, 4, 5], 7, &device))
                .sum()
                .backward();
            (
                y.inner(),
                x.grad(&grads).unwrap(),
                layer.alpha.val().grad(&grads).unwrap(),
            )
        };
        let (fast, burn) = (run(true), run(false));
        assert_close(&format!("{slopes} slopes: output"), fast.0, burn.0);
        assert_close(&format!("{slopes} slopes: dx"), fast.1, burn.1);
        assert_close(&format!("{slopes} slopes: dalpha"), fast.2, burn.2);
    }
}

/// ReLU and LeakyReLU through the one-pass PReLU with a constant slope give Burn's outputs and
/// input gradients. At exactly 0 the gradient is PyTorch's (slope 0 for ReLU, the negative
/// slope for LeakyReLU):
///   x = torch.tensor([0., -1., 1.], requires_grad=True)
///   F.leaky_relu(x, 0.1).sum().backward(); x.grad  # tensor([0.1000, 0.1000, 1.0000])
/// Burn's LeakyReLU gives 1 there, so exact zeros are compared with PyTorch's value.
#[test]
fn cpu_relu_and_leaky_relu_match_burns() {
    use burn::nn::{LeakyReluConfig, Relu};
    use convlab::model::cpu::prelu;
    let device = Device::flex().autodiff();
    let leaky = LeakyReluConfig::new().with_negative_slope(0.1).init();
    for (name, slope) in [("relu", 0.0), ("leaky", 0.1)] {
        let run = |fast: bool| {
            // Rounded to tenths so that some inputs are exactly 0.
            let x = (wavy([3, 4, 20, 20], 24, &device) * 10.0).round() / 10.0;
            let x = x.require_grad();
            let y = match (fast, slope == 0.0) {
                (true, _) => prelu::fixed_slope(x.clone(), slope, |_| panic!("not on flex")),
                (false, true) => Relu::new().forward(x.clone()),
                (false, false) => leaky.forward(x.clone()),
            };
            let grads = (y.clone() * wavy(y.dims(), 25, &device)).sum().backward();
            (y.inner(), x.grad(&grads).unwrap())
        };
        let (fast, burn) = (run(true), run(false));
        assert_close(&format!("{name} output"), fast.0, burn.0);
        let x = (wavy([3, 4, 20, 20], 24, &device) * 10.0).round() / 10.0;
        let r = wavy([3, 4, 20, 20], 25, &device);
        // Where x == 0: PyTorch's gradient, slope * upstream; elsewhere Burn's.
        let at_zero = x.inner().equal_elem(0.0);
        let zeros: i64 = at_zero.clone().int().sum().into_scalar::<i64>();
        assert!(zeros > 0, "some exact zeros");
        let expected = burn.1.mask_where(at_zero, r.inner() * slope);
        assert_close(&format!("{name} dx"), fast.1, expected);
    }
}

/// The one-op batch norm gives Burn's training-mode output, gradients and running statistics,
/// on images and on flat features.
#[test]
fn cpu_batch_norm_matches_burns_and_its_gradients() {
    use burn::nn::BatchNormConfig;
    use convlab::model::cpu::batch_norm;
    let device = Device::flex().autodiff();
    let check = |shape: Vec<usize>| {
        let c = shape[1];
        let run = |fast: bool| {
            let mut bn = BatchNormConfig::new(c).init(&device);
            bn.gamma = bn.gamma.map(|_| wavy([c], 8, &device).require_grad());
            bn.beta = bn.beta.map(|_| wavy([c], 9, &device).require_grad());
            let x: Tensor<4> = wavy::<1>([shape.iter().product()], 10, &device)
                .mul_scalar(3.0)
                .reshape([shape[0], c, shape[2], shape[3]])
                .require_grad();
            let y = if fast {
                batch_norm::forward(&bn, x.clone())
            } else {
                bn.forward(x.clone())
            };
            let grads = (y.clone() * wavy(y.dims(), 11, &device)).sum().backward();
            let running = (
                bn.running_mean.value().inner(),
                bn.running_var.value().inner(),
            );
            (
                y.inner(),
                x.grad(&grads).unwrap(),
                bn.gamma.val().grad(&grads).unwrap(),
                bn.beta.val().grad(&grads).unwrap(),
                running,
            )
        };
        let (fast, burn) = (run(true), run(false));
        let case = format!("{shape:?}");
        assert_close(&format!("{case} output"), fast.0, burn.0);
        assert_close(&format!("{case} dx"), fast.1, burn.1);
        assert_close(&format!("{case} dgamma"), fast.2, burn.2);
        assert_close(&format!("{case} dbeta"), fast.3, burn.3);
        assert_close(&format!("{case} running mean"), fast.4.0, burn.4.0);
        assert_close(&format!("{case} running var"), fast.4.1, burn.4.1);
    };
    check(vec![4, 3, 5, 6]);
    check(vec![7, 5, 1, 1]); // flat features seen as 1x1 images
    check(vec![6, 3, 40, 40]); // planes of 1,600: several parallel jobs of whole planes
}

/// Batch norm in inference mode (evaluation and serving: no autodiff) through the one-pass
/// affine equals Burn's, with running statistics that are not the defaults.
#[test]
fn cpu_batch_norm_inference_matches_burns() {
    use burn::nn::BatchNormConfig;
    use convlab::model::cpu::batch_norm;
    let device = Device::flex();
    let mut bn = BatchNormConfig::new(3).init(&device);
    bn.gamma = bn.gamma.map(|_| wavy([3], 16, &device));
    bn.beta = bn.beta.map(|_| wavy([3], 17, &device));
    bn.running_mean = burn::module::RunningState::new(wavy([3], 18, &device));
    bn.running_var = burn::module::RunningState::new(wavy([3], 19, &device).abs() + 0.5);
    for shape in [[2, 3, 5, 6], [6, 3, 40, 40]] {
        let x = wavy(shape, 20, &device).mul_scalar(3.0);
        assert!(convlab::model::cpu::on_flex(&x), "the fast path is taken");
        let fast = batch_norm::forward(&bn, x.clone());
        assert_close(&format!("{shape:?} inference"), fast, bn.forward(x));
    }
}

/// Channel dropout's one-pass scaling (one factor per plane, the mask times 1 / keep) equals
/// the broadcast multiply it replaces, output and input gradient.
#[test]
fn cpu_plane_scaling_matches_a_broadcast_multiply() {
    use convlab::model::cpu::plane_affine;
    let device = Device::flex().autodiff();
    for [n, c, h, w] in [[2, 3, 4, 5], [5, 4, 33, 33]] {
        let factors = wavy([n, c, 1, 1], 21, &device)
            .greater_elem(0.0)
            .float()
            .mul_scalar(1.0 / 0.65);
        let run = |fast: bool| {
            let x = wavy([n, c, h, w], 22, &device).require_grad();
            let y = if fast {
                let zero = Tensor::<1>::zeros([1], &device);
                plane_affine::apply(x.clone(), factors.clone().reshape([n * c]), zero)
            } else {
                x.clone() * factors.clone()
            };
            let grads = (y.clone() * wavy(y.dims(), 23, &device)).sum().backward();
            (y.inner(), x.grad(&grads).unwrap())
        };
        let (fast, burn) = (run(true), run(false));
        assert_close(&format!("{n}x{c}x{h}x{w} output"), fast.0, burn.0);
        assert_close(&format!("{n}x{c}x{h}x{w} dx"), fast.1, burn.1);
    }
}

/// The one-pass max pool gives Burn's output and input gradient, for the presets' 2x2/2
/// window and an overlapping 3x3/2 one (where gradients of shared winners add up).
#[test]
fn cpu_max_pool_matches_burns_and_its_gradient() {
    use burn::nn::pool::MaxPool2dConfig;
    use convlab::model::cpu::max_pool;
    let device = Device::flex().autodiff();
    for (k, s, hw) in [(2, 2, 8), (3, 2, 9), (2, 2, 7)] {
        let pool = MaxPool2dConfig::new([k, k]).with_strides([s, s]).init();
        let run = |fast: bool| {
            let x = wavy([3, 2, hw, hw], 12, &device).require_grad();
            let y = if fast {
                max_pool::forward(&pool, x.clone())
            } else {
                pool.forward(x.clone())
            };
            let grads = (y.clone() * wavy(y.dims(), 13, &device)).sum().backward();
            (y.inner(), x.grad(&grads).unwrap())
        };
        let (fast, burn) = (run(true), run(false));
        assert_close(&format!("k{k} s{s} hw{hw} output"), fast.0, burn.0);
        assert_close(&format!("k{k} s{s} hw{hw} dx"), fast.1, burn.1);
    }
}

/// Batch norm on flat features ([batch, features], as after a linear layer) through the one-op
/// version equals Burn's, gradients included.
#[test]
fn cpu_batch_norm_on_flat_features_matches_burns() {
    use burn::nn::BatchNormConfig;
    use convlab::model::cpu::batch_norm;
    let device = Device::flex().autodiff();
    let run = |fast: bool| {
        let bn = BatchNormConfig::new(5).init(&device);
        let x: Tensor<2> = wavy([7, 5], 14, &device).mul_scalar(2.0).require_grad();
        let y = if fast {
            batch_norm::forward(&bn, x.clone())
        } else {
            bn.forward(x.clone())
        };
        let grads = (y.clone() * wavy([7, 5], 15, &device)).sum().backward();
        (
            y.inner(),
            x.grad(&grads).unwrap(),
            bn.gamma.val().grad(&grads).unwrap(),
        )
    };
    let (fast, burn) = (run(true), run(false));
    assert_close("flat output", fast.0, burn.0);
    assert_close("flat dx", fast.1, burn.1);
    assert_close("flat dgamma", fast.2, burn.2);
}

/// The CPU operations split work in fixed chunks and sum partial results in a fixed order,
/// so a forward and backward pass through seed 004's net (conv, PReLU, batch norm, pooling,
/// BatchNorm1d; dropout off, so that no random mask enters) gives the same bits on 1 thread
/// as on 2.
#[test]
fn cpu_training_pass_is_bit_identical_whatever_the_thread_count() {
    let cfg = ModelConfig {
        dropout: 0.0,
        ..preset("bn-prelu-cnn")
    };
    let layers = resolve_layers(&cfg, 10, "test").unwrap();
    let device = Device::flex().autodiff();
    let input = Shape::Image { c: 3, h: 32, w: 32 };
    let net = Net::new(&layers, input, Init::Default, &device);
    let bits = |t: Vec<f32>| -> Vec<u32> { t.iter().map(|f| f.to_bits()).collect() };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let x = wavy([12, 3, 32, 32], 30, &device).require_grad();
            let y = net.forward(x.clone());
            let grads = (y.clone() * wavy(y.dims(), 31, &device)).sum().backward();
            let dx = x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
            (bits(y.inner().into_data().to_vec().unwrap()), bits(dx))
        })
    };
    let (one, two) = (run(1), run(2));
    assert!(
        one.1.iter().any(|&b| b != 0),
        "the input gradient is not all zero"
    );
    assert_eq!(one.0, two.0, "logits differ between 1 and 2 threads");
    assert_eq!(
        one.1, two.1,
        "input gradients differ between 1 and 2 threads"
    );
}
