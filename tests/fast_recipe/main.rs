//! The pieces of examples/cifar10-fast.toml (airbench's recipe), each against numbers from
//! PyTorch or from airbench's own definitions: the whitening layer, the linear one-cycle
//! schedule, lookahead averaging, flip + shift test-time augmentation, frozen and scaled
//! gradients, reflected crops and alternating flips.

use burn::module::Param;
use burn::optim::SgdConfig;
use burn::prelude::*;
use convlab::data::Dataset;
use convlab::data::transform::{Augment, Normalize, fill_batch};
use convlab::model::net::{Layer, Net};
use convlab::model::spec::{LayerSpec, Shape};
use convlab::model::{Init, whiten};
use convlab::train::config::Tta;
use convlab::train::eval::Criterion;
use convlab::train::eval::tta_logits;
use convlab::train::grad_plan::GradPlan;
use convlab::train::lookahead::Lookahead;
use convlab::train::schedule::{Anneal, Schedule, ScheduleConfig, ScheduleName};
use convlab::train::step::train_step;
use rand::SeedableRng;

#[path = "../common/mod.rs"]
mod common;
use common::{convlab, stdout, write_idx_dataset};

mod gradients_and_augment;
mod lookahead_and_tta;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// 10 images 3x5x5 of ((i*i*7 + i*13) % 101)/101 - 0.5 over the flat index i.
fn test_images() -> Vec<f32> {
    (0..10 * 3 * 5 * 5)
        .map(|i: usize| ((i * i * 7 + i * 13) % 101) as f32 / 101.0 - 0.5)
        .collect()
}

// import torch
// x = torch.tensor([((i*i*7 + i*13) % 101)/101 - 0.5 for i in range(10*3*5*5)],
//                  dtype=torch.float64).view(10,3,5,5)
// p = x.unfold(2,2,1).unfold(3,2,1).transpose(1,3).reshape(-1,3,2,2)   # airbench's get_patches
// f = p.reshape(p.shape[0], -1); cov = f.T @ f / f.shape[0]
// ev, V = torch.linalg.eigh(cov); ev.flip(0); cov[0,0], cov[0,1], cov[5,11]
#[test]
fn whitening_filters_match_pytorch_eigh_and_whiten() {
    let images = test_images();
    let cov = whiten::patch_covariance(&images, [3, 5, 5], 2);
    for (got, want) in [
        (cov[0], 0.07816513086952262),
        (cov[1], -0.013178548671698851),
        (cov[5 * 12 + 11], -0.0012517155180864592),
    ] {
        assert!(
            (got - want).abs() < 1e-6,
            "covariance {got} vs PyTorch {want}"
        );
    }
    let (ev, vectors) = whiten::symmetric_eigen(cov.clone(), 12);
    let torch_ev = [
        0.14516327834461443,
        0.12952396578275427,
        0.10956909147496836,
        0.0804940519440661,
        0.07459761255222412,
        0.070055515137578,
        0.06423190751281571,
        0.060189034926825966,
        0.05180618695596483,
        0.04203204613737648,
        0.03815841690648299,
        0.035708154161403695,
    ];
    for (got, want) in ev.iter().zip(torch_ev) {
        assert!((got - want).abs() < 1e-6, "eigenvalue {got} vs {want}");
    }
    // Each filter maps the patches to unit variance along its direction: v^T C v / (l + eps).
    let eps = 5e-4;
    let filters = whiten::filters(&images, [3, 5, 5], 2, eps);
    assert_eq!(filters.len(), 24 * 12);
    for (k, v) in vectors.iter().enumerate() {
        let f = &filters[k * 12..(k + 1) * 12];
        let cv: Vec<f64> = (0..12)
            .map(|i| (0..12).map(|j| cov[i * 12 + j] * f[j] as f64).sum())
            .collect();
        let var: f64 = (0..12).map(|i| f[i] as f64 * cv[i]).sum();
        let want = ev[k] / (ev[k] + eps);
        assert!(
            (var - want).abs() < 1e-4,
            "filter {k}: variance {var} vs {want}"
        );
        let neg = &filters[(k + 12) * 12..(k + 13) * 12];
        assert!(f.iter().zip(neg).all(|(a, b)| *a == -*b));
        assert!((v.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-9);
    }
}

#[test]
fn jacobi_eigen_of_a_hand_computed_matrix() {
    // [[2, 1], [1, 2]]: eigenvalues 3 and 1, eigenvectors (1, 1)/sqrt 2 and (1, -1)/sqrt 2.
    let (ev, v) = whiten::symmetric_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
    assert!((ev[0] - 3.0).abs() < 1e-12 && (ev[1] - 1.0).abs() < 1e-12);
    let h = 0.5f64.sqrt();
    assert!((v[0][0].abs() - h).abs() < 1e-12 && (v[0][0] - v[0][1]).abs() < 1e-12);
    assert!((v[1][0] + v[1][1]).abs() < 1e-12);
}

// m = torch.nn.Linear(1, 1); opt = torch.optim.SGD(m.parameters(), lr=1.5)
// s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1.5, total_steps=490, pct_start=0.23,
//         anneal_strategy='linear', div_factor=5.0, final_div_factor=2.857142857142857,
//         cycle_momentum=False)
// lr before steps 0, 50, 111, 112, 300, 489:
// [0.3, 0.8371530886302596, 1.4924798567591764, 1.4988908030744765, 0.8037940630797773, 0.105]
#[test]
fn linear_one_cycle_matches_pytorch() {
    let cfg = ScheduleConfig {
        name: ScheduleName::Onecycle,
        anneal: Anneal::Linear,
        max_lr: 1.5,
        pct_start: 0.23,
        div_factor: 5.0,
        final_div_factor: 2.857142857142857,
        ..Default::default()
    };
    let s = Schedule::new(&cfg, 1.5, 10, 49);
    let want = [
        (0, 0.3),
        (50, 0.8371530886302596),
        (111, 1.4924798567591764),
        (112, 1.4988908030744765),
        (300, 0.8037940630797773),
        (489, 0.105),
    ];
    for (step, lr) in want {
        let got = s.lr(step / 49, step % 49);
        assert!(
            (got - lr).abs() < 1e-9,
            "step {step}: {got} vs PyTorch {lr}"
        );
    }
}

/// Every piece of the recipe at once, on synthetic 28x28 patterns (4 of MNIST's 10 labels): it trains,
/// its run records the settings, and the checkpoint exports with the new layers.
#[test]
fn the_recipe_trains_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_idx_dataset(&d.join("mnist"), 512, 200, 4);
    let cfg = r#"seed = 5
[data]
dataset = "mnist"
val_fraction = 0.0
crop_padding = 2
padding_mode = "reflect"
hflip = true
hflip_alternate = true
[model]
preset = ""
layers = [
  { type = "whiten", kernel = 2, bias_epochs = 1 },
  { type = "activation", kind = "gelu" },
  { type = "conv", out = 16, padding = 1, bias = false, dirac = true },
  { type = "pool" },
  { type = "bn", momentum = 0.4, eps = 1e-12, weight = false },
  { type = "activation", kind = "gelu" },
  { type = "pool", kernel = 3 },
  { type = "flatten" },
  { type = "linear", out = 10, bias = false },
  { type = "scale", factor = 0.5 },
]
[optimizer]
name = "sgd"
lr = 0.2
momentum = 0.85
nesterov = true
weight_decay = 5e-4
bn_bias_lr_scale = 8.0
[schedule]
name = "onecycle"
anneal = "linear"
max_lr = 0.2
pct_start = 0.23
div_factor = 5.0
final_div_factor = 3.0
cycle_momentum = false
[train]
epochs = 3
batch_size = 64
label_smoothing = 0.2
lookahead_every = 2
tta = "flip-translate"
"#;
    std::fs::write(d.join("fast.toml"), cfg).unwrap();
    let args = ["train", "fast.toml", "--data-dir", ".", "--quiet"];
    let out = convlab(&args, d);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let run = d.join("runs/fast");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let acc = summary["test_acc"].as_f64().unwrap();
    assert!(acc > 0.6, "4 classes, chance 0.25: test accuracy {acc}");
    let stored = std::fs::read_to_string(run.join("config.toml")).unwrap();
    for key in [
        "tta = \"flip-translate\"",
        "lookahead_every = 2",
        "bn_bias_lr_scale = 8.0",
    ] {
        assert!(stored.contains(key), "config.toml records {key}");
    }
    let ckpt = run.join("last.ckpt");
    let out = convlab(
        &[
            "export",
            ckpt.to_str().unwrap(),
            "--format",
            "pytorch",
            "-o",
            "fast.pth",
        ],
        d,
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let code = std::fs::read_to_string(d.join("fast.py")).unwrap();
    for module in [
        "nn.Conv2d(1, 8, kernel_size=2)",
        "nn.BatchNorm2d(16, eps=1e-12, momentum=0.4)",
        "nn.Linear(256, 10, bias=False)",
        "Scale(0.5)",
    ] {
        assert!(code.contains(module), "{module} in {code}");
    }
    let out = convlab(
        &[
            "export",
            ckpt.to_str().unwrap(),
            "--format",
            "onnx",
            "-o",
            "fast.onnx",
        ],
        d,
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let _ = stdout(&out);
}

fn one_step(net: Net, plan: &GradPlan, device: &Device) -> Net {
    let x: Vec<f32> = (0..4 * 9)
        .map(|i| ((i * 7) % 11) as f32 / 11.0 - 0.5)
        .collect();
    let x = Tensor::from_data(TensorData::new(x, [4, 1, 3, 3]), device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 0, 1], [4]), device);
    let mut opt = SgdConfig::new().init();
    train_step(
        net,
        &mut opt,
        (x, y),
        0.1,
        &Criterion::default(),
        None,
        plan,
    )
    .0
}
