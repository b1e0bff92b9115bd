//! One training step's numbers against PyTorch, as llm.c's test_gpt2 checks a state dumped
//! from PyTorch: the tiny nets of tests/fixtures/pytorch (PReLU, Dropout2d, batch norm 2d
//! and 1d, max-pool, ELU; a ResNet block with a projecting shortcut, ReLU, average pool;
//! average pools over windows, overlapping and not, tanh; max and average pools with
//! padding and ceil mode; PReLU per channel and per feature, GELU's tanh form; convs with
//! dilation and groups, depthwise among them) imported
//! from their .pth files, one training-mode forward and backward on a
//! batch of four, against `make_gradients.py`'s dump of the same in torch 2.15: the logits,
//! the loss (cross-entropy with label smoothing 0.1), every parameter's gradient, and the
//! running statistics batch norm keeps after the pass. Dropout is set to p = 0 on both
//! sides: its draws are random in either framework.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use common::pytorch_fixture;
use convlab::experiment::interchange::{ImportOptions, NetSource, import};
use convlab::model::checkpoint;
use convlab::train::eval::cross_entropy;
use serde_json::Value;

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// `got` against PyTorch's `want`: no value further off than `rel` times want's largest
/// magnitude plus `abs`.
fn assert_close(what: &str, got: &[f32], want: &[f32], rel: f32, abs: f32) {
    assert_eq!(got.len(), want.len(), "{what}: sizes differ");
    let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let worst = got
        .iter()
        .zip(want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f32::max);
    assert!(
        worst <= rel * scale + abs,
        "{what}: off by {worst} (largest {scale})\nconvlab {got:?}\nPyTorch {want:?}"
    );
}

/// Every float the net holds, in visiting order: (gradient with PyTorch's layout, or None
/// for the running statistics, which get none; values).
struct Collect<'a> {
    grads: &'a GradientsParams,
    out: Vec<(Option<Vec<f32>>, Vec<f32>)>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let flat = |t: Tensor<D>| {
            // Burn's linear weight is [in, out], PyTorch's [out, in].
            let t = if D == 2 { t.transpose() } else { t };
            t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
        };
        let grad = self.grads.get::<D>(param.id).map(flat);
        self.out.push((grad, flat(param.val())));
    }
}

fn check_net(net_name: &str) {
    let dir = tempfile::tempdir().unwrap();
    // The fixture's net with dropout off.
    let text = std::fs::read_to_string(pytorch_fixture(&format!("{net_name}.toml"))).unwrap();
    let config = dir.path().join("net.toml");
    std::fs::write(&config, text.replace("p = 0.35", "p = 0.0")).unwrap();
    let ckpt = dir.path().join("net.ckpt");
    import(&ImportOptions {
        pth: pytorch_fixture(&format!("{net_name}.pth")),
        key: None,
        net: NetSource::Config(config),
        dataset: None,
        mean: vec![],
        std: vec![],
        out: ckpt.clone(),
        force: false,
    })
    .unwrap();

    let want: Value = serde_json::from_str(
        &std::fs::read_to_string(pytorch_fixture(&format!("{net_name}_grads.json"))).unwrap(),
    )
    .unwrap();
    let device = Device::flex().autodiff();
    let (_, net) = checkpoint::load(&ckpt, &device).unwrap();
    let x: Vec<f32> = (0..4 * 28 * 28)
        .map(|i| ((i * 7919) % 256) as f32 / 255.0)
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, [4, 1, 28, 28]), &device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![3i64, 7, 0, 9], [4]), &device);
    let logits = net.forward(x);
    let loss = cross_entropy(logits.clone(), y, 0.1);
    let got_logits = logits.into_data().convert::<f32>().try_to_vec::<f32>();
    assert_close(
        &format!("{net_name} logits"),
        &got_logits.unwrap(),
        &floats(&want["logits"]),
        1e-5,
        0.0,
    );
    let got_loss = loss.clone().into_scalar::<f32>();
    let want_loss = want["loss"].as_f64().unwrap() as f32;
    assert!(
        (got_loss - want_loss).abs() < 1e-5,
        "{net_name} loss {got_loss}, PyTorch's {want_loss}"
    );

    let grads = GradientsParams::from_grads(loss.backward(), &net);
    // The pass's running statistics wait beside the stored ones until a sync (Burn's
    // RunningState; the trainer saves and evaluates `valid()` copies, which sync).
    let _ = net.valid();
    let mut collect = Collect {
        grads: &grads,
        out: Vec::new(),
    };
    net.visit(&mut collect);
    let (with_grad, running): (Vec<_>, Vec<_>) =
        collect.out.into_iter().partition(|(g, _)| g.is_some());
    let want_grads = want["grads"].as_array().unwrap();
    assert_eq!(with_grad.len(), want_grads.len(), "{net_name}: parameters");
    // A conv bias right before batch norm (through an almost linear PReLU) has a gradient
    // of rounding noise on both sides (~3e-6 here): BN takes out any shift per channel. So
    // each gradient may also be off by 1e-5 of the net's largest.
    let largest = want_grads
        .iter()
        .flat_map(|w| floats(&w["grad"]))
        .fold(0.0f32, |m, v| m.max(v.abs()));
    for ((grad, _), w) in with_grad.iter().zip(want_grads) {
        let name = format!("{net_name} {}.grad", w["name"].as_str().unwrap());
        let want = floats(&w["grad"]);
        assert_close(&name, grad.as_ref().unwrap(), &want, 1e-4, 1e-5 * largest);
    }
    let want_running = want["running"].as_array().unwrap();
    assert_eq!(running.len(), want_running.len(), "{net_name}: buffers");
    for ((_, value), w) in running.iter().zip(want_running) {
        let name = format!("{net_name} {}", w["name"].as_str().unwrap());
        assert_close(&name, value, &floats(&w["value"]), 1e-5, 0.0);
    }
}

#[test]
fn tiny_seq_training_step_matches_pytorch() {
    check_net("tiny_seq");
}

#[test]
fn tiny_res_training_step_matches_pytorch() {
    check_net("tiny_res");
}

#[test]
fn tiny_avg_training_step_matches_pytorch() {
    check_net("tiny_avg");
}

#[test]
fn tiny_pad_training_step_matches_pytorch() {
    check_net("tiny_pad");
}

#[test]
fn tiny_ceil_training_step_matches_pytorch() {
    check_net("tiny_ceil");
}

#[test]
fn tiny_args_training_step_matches_pytorch() {
    check_net("tiny_args");
}

#[test]
fn tiny_groups_training_step_matches_pytorch() {
    check_net("tiny_groups");
}
