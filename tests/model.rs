//! Presets, custom-net checks, schedules and checkpoints, at the library level (the CPU
//! operations: tests/cpu_ops/).

use burn::prelude::*;
use convlab::model::Net;
use convlab::model::checkpoint::{self, CheckpointMeta};
use convlab::model::params::trainable_params;
use convlab::model::presets::{PRESETS, resolve_layers};
use convlab::model::spec::{LayerSpec, Shape, check_net, lint_net};
use convlab::model::{Activation, Init, ModelConfig};

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
        check_net(&layers, input, 10, "t", name).unwrap_or_else(|e| panic!("{name}: {e}"));
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
        check_net(&layers, input, 10, "t", name).unwrap();
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
        layers
            .iter()
            .filter(|l| matches!(l, LayerSpec::Bn { .. }))
            .count(),
        2
    );
    assert!(
        layers
            .iter()
            .all(|l| !matches!(l, LayerSpec::Activation(a) if a.kind != Activation::Elu))
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
    let shapes = check_net(&layers, Shape::Image { c: 3, h: 32, w: 32 }, 10, "t", "").unwrap();
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
    let layers = vec![LayerSpec::conv(8, 40, 0)];
    let e = check_net(
        &layers,
        Shape::Image { c: 1, h: 28, w: 28 },
        10,
        "my.toml",
        "",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "my.toml: model.layers[0] (conv), input 1x28x28: kernel 40 is larger than its 28x28 input (+ padding 0)"
    );
    // A preset's layer is named by its number in the preset: the config has no model.layers.
    let mnist = resolve_layers(&preset("mnist-cnn"), 10, "t").unwrap();
    let e = check_net(
        &mnist,
        Shape::Image { c: 1, h: 2, w: 2 },
        10,
        "my.toml",
        "mnist-cnn",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(
        e,
        "my.toml: preset mnist-cnn, layer 4 (pool), input 32x1x1: kernel 2 is larger than its 1x1 input"
    );
    let layers = vec![
        LayerSpec::Flatten,
        LayerSpec::Linear {
            out: 10,
            input: None,
            bias: true,
        },
        LayerSpec::activation(Activation::Relu),
    ];
    assert!(check_net(&layers, Shape::Image { c: 1, h: 28, w: 28 }, 10, "t", "").is_ok());
    assert_eq!(
        lint_net(&layers),
        [
            "model.layers[2] (activation) follows the last linear layer, model.layers[1]: \
          logits should be left unbounded for cross-entropy"
        ],
        "relu on the logits is flagged, by its key"
    );
    // Pools over windows: each checked against its input; padding at most half the kernel
    // (PyTorch's limit) and only around windows; the plane's average takes any plane.
    let pooled = |layer: &str, h: usize| -> String {
        let layer = toml::from_str::<LayerSpec>(&layer.replace(", ", "\n")).unwrap();
        let image = Shape::Image { c: 2, h, w: h };
        check_net(&[layer], image, 10, "t", "")
            .unwrap_err()
            .to_string()
    };
    let cases = [
        (
            "type = \"avg-pool\", kernel = 3, stride = 2",
            7,
            "the net ends with 2x3x3 but",
        ),
        (
            "type = \"avg-pool\", kernel = 3",
            2,
            ": kernel 3 is larger than its 2x2 input",
        ),
        ("type = \"avg-pool\"", 2, "the net ends with 2x1x1 but"),
        (
            "type = \"pool\", kernel = 3, padding = 1, stride = 2",
            2,
            "ends with 2x1x1 but",
        ),
        (
            "type = \"avg-pool\", padding = 1",
            2,
            ": padding needs a kernel: it pads the windows",
        ),
        (
            "type = \"pool\", kernel = 3, padding = 2",
            2,
            "(pool), input 2x2x2: padding = 2 is more than half the kernel 3 (PyTorch's limit)",
        ),
    ];
    for (layer, h, want) in cases {
        let e = pooled(layer, h);
        assert!(e.contains(want), "{layer}: {e}");
    }
    // PyTorch's BatchNorm2d(num_features) is checked against the channels it gets.
    let bn = toml::from_str::<LayerSpec>("type = \"bn\"\nin = 16").unwrap();
    let e = check_net(&[bn], Shape::Image { c: 8, h: 4, w: 4 }, 10, "t", "")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "t: model.layers[0] (bn), input 8x4x4: declares num_features = 16 but receives 8 channels"
    );
    // An unknown activation cannot become a LayerSpec: it is rejected while parsing.
    let e = toml::from_str::<LayerSpec>("type = \"activation\"\nkind = \"swirl\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown activation \"swirl\""), "{e}");
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
