//! Presets, custom-net checks, schedules and checkpoints, at the library level.

use burn::prelude::*;
use convlab::experiment::config::{ModelConfig, ScheduleConfig};
use convlab::model::Net;
use convlab::model::checkpoint::{self, CheckpointMeta};
use convlab::model::presets::{PRESETS, resolve_layers};
use convlab::model::spec::{LayerSpec, Shape, check_net, lint_net};
use convlab::train::schedule::Schedule;

fn preset(name: &str) -> ModelConfig {
    ModelConfig {
        preset: name.into(),
        ..Default::default()
    }
}

#[test]
fn every_preset_checks_and_runs_on_its_input() {
    let device = Device::flex();
    for (name, _) in PRESETS {
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
        if ["vgg16", "resnet18", "vgg11"].contains(name) {
            continue; // big: shape-checked above, one forward below is enough
        }
        let Shape::Image { c, h, w } = input else {
            unreachable!()
        };
        let net = Net::new(&layers, input, "default", &device);
        let out = net.forward(Tensor::zeros([2, c, h, w], &device));
        assert_eq!(out.dims(), [2, 10], "{name}");
    }
    let layers = resolve_layers(&preset("resnet18"), 10, "t").unwrap();
    let net = Net::new(
        &layers,
        Shape::Image { c: 3, h: 32, w: 32 },
        "kaiming",
        &device,
    );
    assert_eq!(
        net.forward(Tensor::ones([1, 3, 32, 32], &device)).dims(),
        [1, 10]
    );
}

#[test]
fn preset_parameter_counts_match_the_seed_nets() {
    // mnist-cnn: conv 1->10 k5 (260), conv 10->32 k5 (8032), fc 512->100 (51300), fc 100->10 (1010).
    let device = Device::flex();
    let count = |name: &str, input: Shape| {
        Net::new(
            &resolve_layers(&preset(name), 10, "t").unwrap(),
            input,
            "default",
            &device,
        )
        .num_params()
    };
    assert_eq!(
        count("mnist-cnn", Shape::Image { c: 1, h: 28, w: 28 }),
        260 + 8032 + 51300 + 1010
    );
    // cifar-cnn: conv 3->15 k5 (1140), 15->45 k5 (16920), fc 1125->100 (112600), fc 100->10 (1010).
    assert_eq!(
        count("cifar-cnn", Shape::Image { c: 3, h: 32, w: 32 }),
        1140 + 16920 + 112600 + 1010
    );
}

#[test]
fn knobs_change_every_preset() {
    let mut m = preset("mnist-cnn");
    m.activation = "elu".into();
    m.dropout = 0.5;
    m.batch_norm = "on".into();
    let layers = resolve_layers(&m, 10, "t").unwrap();
    assert_eq!(
        layers.iter().filter(|l| matches!(l, LayerSpec::Bn)).count(),
        2
    );
    assert!(
        layers
            .iter()
            .all(|l| !matches!(l, LayerSpec::Activation { kind } if kind != "elu"))
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
            kind: "relu".into(),
        },
    ];
    assert!(check_net(&layers, Shape::Image { c: 1, h: 28, w: 28 }, 10, "t").is_ok());
    assert_eq!(lint_net(&layers).len(), 1, "relu on the logits is flagged");
    let layers = vec![
        LayerSpec::Flatten,
        LayerSpec::Activation {
            kind: "swish".into(),
        },
    ];
    let e = check_net(&layers, Shape::Image { c: 1, h: 2, w: 2 }, 4, "t")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown activation \"swish\""), "{e}");
}

#[test]
fn schedules_follow_pytorch() {
    let cfg = |name: &str| ScheduleConfig {
        name: name.into(),
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
    let net = Net::new(&layers, input, "default", &device);
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
        "default",
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
