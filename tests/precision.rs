//! `train.precision = "bf16"` (mixed precision, as PyTorch's autocast to bfloat16): the net
//! computes in bf16 with f32 weights cast at use and batch norm in f32, and gives f32 logits;
//! gradients reach the f32 weights, which stay f32; a whole bf16 run learns.

use burn::optim::SgdConfig;
use burn::prelude::*;
use convlab::model::config::Precision;
use convlab::model::net::{Layer, Net};
use convlab::model::spec::{LayerSpec, Shape};
use convlab::model::{Activation, Init};
use convlab::train::eval::Criterion;
use convlab::train::grad_plan::GradPlan;
use convlab::train::step::train_step;

mod common;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Every kind of layer with weights or dtype-sensitive work: conv, batch norm, PReLU,
/// max pool, dropout of channels and of features (probability `p`), linear, scale.
fn net(device: &Device, p: f64) -> (Vec<LayerSpec>, Net) {
    let layers = vec![
        LayerSpec::conv(6, 3, 1),
        LayerSpec::bn(),
        LayerSpec::activation(Activation::Prelu),
        LayerSpec::max_pool(2, None),
        LayerSpec::Dropout2d { p },
        LayerSpec::Dropout { p },
        LayerSpec::Flatten,
        LayerSpec::Linear {
            out: 3,
            input: None,
            bias: true,
        },
        LayerSpec::Scale { factor: 0.5 },
    ];
    let net = Net::new(
        &layers,
        Shape::Image { c: 2, h: 6, w: 6 },
        Init::Default,
        device,
    );
    (layers, net)
}

fn batch(device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let x: Vec<f32> = (0..4 * 72)
        .map(|i| ((i * 13) % 17) as f32 / 17.0 - 0.5)
        .collect();
    let x = Tensor::from_data(TensorData::new(x, [4, 2, 6, 6]), device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 1], [4]), device);
    (x, y)
}

fn first_conv_weights(net: &Net) -> Tensor<4> {
    match &net.layers[0] {
        Layer::Conv(c) => c.weight.val(),
        _ => unreachable!(),
    }
}

#[test]
fn bf16_logits_are_f32_and_close_to_the_f32_ones() {
    let device = Device::flex();
    device.seed(1);
    let (_, net) = net(&device, 0.25); // inactive outside training
    let (x, _) = batch(&device);
    let full = net.forward(x.clone());
    let half = net.forward(Precision::Bf16.input(x));
    assert_eq!(
        half.dtype(),
        burn::tensor::DType::F32,
        "the loss sees f32 logits"
    );
    let (full, half) = (values(full), values(half));
    let scale = full.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (f, h) in full.iter().zip(&half) {
        // bf16 keeps 8 significant bits: ~0.4% per rounding, a few roundings deep.
        assert!((f - h).abs() <= 0.03 * scale, "{f} vs {h}");
    }
    assert_ne!(full, half, "the bf16 path really rounds");
}

#[test]
fn a_bf16_step_updates_the_f32_weights_like_an_f32_step() {
    let device = Device::flex().autodiff();
    device.seed(2);
    // No dropout here: a bf16 forward draws its masks in bf16, so they differ from f32's.
    let (_, start) = net(&device, 0.0);
    let w0 = values(first_conv_weights(&start));
    let mut deltas = Vec::new();
    for precision in [Precision::Fp32, Precision::Bf16] {
        device.seed(7); // the same dropout mask
        let (x, y) = batch(&device);
        let mut opt = SgdConfig::new().init();
        let (after, out) = train_step(
            start.clone(),
            &mut opt,
            (precision.input(x), y),
            0.5,
            &Criterion::default(),
            None,
            &GradPlan::none(),
        );
        assert!(values(out.loss)[0].is_finite());
        let w = first_conv_weights(&after);
        assert_eq!(
            w.dtype(),
            burn::tensor::DType::F32,
            "{precision}: master weights stay f32"
        );
        deltas.push(
            values(w)
                .iter()
                .zip(&w0)
                .map(|(a, b)| a - b)
                .collect::<Vec<f32>>(),
        );
    }
    let norm = |v: &[f32]| v.iter().map(|d| d * d).sum::<f32>().sqrt();
    let diff: Vec<f32> = deltas[0]
        .iter()
        .zip(&deltas[1])
        .map(|(a, b)| a - b)
        .collect();
    assert!(
        norm(&deltas[1]) > 0.0,
        "gradients reach the f32 weights through the cast"
    );
    assert!(
        norm(&diff) < 0.05 * norm(&deltas[0]),
        "bf16 update {:?} vs f32 update {:?}",
        &deltas[1][..4],
        &deltas[0][..4]
    );
}

#[test]
fn a_bf16_step_with_dropout_trains() {
    let device = Device::flex().autodiff();
    device.seed(3);
    let (_, start) = net(&device, 0.5);
    let w0 = values(first_conv_weights(&start));
    let (x, y) = batch(&device);
    let mut opt = SgdConfig::new().init();
    let step = (Precision::Bf16.input(x), y);
    let (after, out) = train_step(
        start,
        &mut opt,
        step,
        0.5,
        &Criterion::default(),
        None,
        &GradPlan::none(),
    );
    assert!(values(out.loss)[0].is_finite());
    assert_ne!(values(first_conv_weights(&after)), w0);
}

/// A whole run in bf16 learns the synthetic 4-class set (chance 25%) and records its precision.
#[test]
fn a_bf16_run_learns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::write_idx_dataset(&d.join("mnist"), 400, 100, 4);
    let cfg = r#"name = "half"
[data]
dataset = "mnist"
[model]
preset = ""
layers = [
  { type = "conv", out = 8, padding = 1 },
  { type = "bn" },
  { type = "activation", kind = "relu" },
  { type = "pool" },
  { type = "flatten" },
  { type = "linear", out = 10 },
]
[train]
epochs = 2
batch_size = 32
precision = "bf16"
"#;
    std::fs::write(d.join("half.toml"), cfg).unwrap();
    let args = ["train", "half.toml", "--data-dir", ".", "--quiet"];
    let out = common::convlab(&args, d);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let run = d.join("runs/half");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let acc = summary["test_acc"].as_f64().unwrap();
    assert!(acc > 0.6, "test accuracy {acc} after 2 bf16 epochs");
    let stored = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(stored.contains("precision = \"bf16\""), "{stored}");
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let arithmetic = convlab::model::cpu::bf16::cpu_arithmetic();
    assert!(
        arithmetic.ends_with("on bf16-rounded values"),
        "{arithmetic}"
    );
    assert_eq!(info["bf16_arithmetic"], arithmetic, "{info}");
}
