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
use convlab::train::eval::tta_logits;
use convlab::train::grad_plan::GradPlan;
use convlab::train::lookahead::Lookahead;
use convlab::train::schedule::{Anneal, Schedule, ScheduleConfig, ScheduleName};
use convlab::train::step::train_step;
use rand::SeedableRng;

mod common;
use common::{convlab, stdout, write_idx_dataset};

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

fn whiten_bn_net(device: &Device) -> (Vec<LayerSpec>, Net) {
    let layers = vec![
        LayerSpec::Whiten {
            kernel: 2,
            eps: 5e-4,
            bias_epochs: 3,
        },
        LayerSpec::Bn {
            momentum: 0.4,
            eps: 1e-12,
            weight: false,
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
        device,
    );
    (layers, net)
}

/// (whiten weight, whiten bias, bn gamma, bn beta) as flat vectors.
fn plan_params(net: &Net) -> [Vec<f32>; 4] {
    match (&net.layers[0], &net.layers[1]) {
        (Layer::Conv(c), Layer::Bn(b)) => [
            values(c.weight.val()),
            values(c.bias.as_ref().unwrap().val()),
            values(b.gamma.val()),
            values(b.beta.val()),
        ],
        _ => unreachable!(),
    }
}

fn one_step(net: Net, plan: &GradPlan, device: &Device) -> Net {
    let x: Vec<f32> = (0..4 * 9)
        .map(|i| ((i * 7) % 11) as f32 / 11.0 - 0.5)
        .collect();
    let x = Tensor::from_data(TensorData::new(x, [4, 1, 3, 3]), device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 0, 1], [4]), device);
    let mut opt = SgdConfig::new().init();
    train_step(net, &mut opt, (x, y), 0.1, 0.0, None, plan).0
}

#[test]
fn frozen_and_scaled_gradients() {
    let device = Device::flex().autodiff();
    device.seed(3);
    let (layers, net) = whiten_bn_net(&device);
    let before = plan_params(&net);
    // Epoch 0: the whitening filters and BN's scale stay; the whitening bias and BN's
    // shift train.
    let plan = GradPlan::new(&net, &layers, 0, 1.0);
    let after = plan_params(&one_step(net.clone(), &plan, &device));
    assert_eq!(after[0], before[0], "whitening filters are never trained");
    assert_ne!(
        after[1], before[1],
        "whitening bias trains in its first epochs"
    );
    assert_eq!(
        after[2], before[2],
        "bn weight = false keeps the scale at 1"
    );
    assert_ne!(after[3], before[3]);
    // From epoch 3 (bias_epochs) the whitening bias is frozen too.
    let plan = GradPlan::new(&net, &layers, 3, 1.0);
    assert_eq!(
        plan_params(&one_step(net.clone(), &plan, &device))[1],
        before[1]
    );
    // bn_bias_lr_scale = 64: BN's shift moves 64 times as far in one plain SGD step.
    let scaled = GradPlan::new(&net, &layers, 0, 64.0);
    let moved = plan_params(&one_step(net, &scaled, &device));
    for i in 0..before[3].len() {
        let (d1, d64) = (after[3][i] - before[3][i], moved[3][i] - before[3][i]);
        assert!(
            (d64 - 64.0 * d1).abs() <= 1e-5 * d64.abs().max(1e-6),
            "{d64} vs 64 x {d1}"
        );
    }
    assert_eq!(moved[1].len(), after[1].len());
}

fn one_image_dataset(pixels: Vec<u8>, shape: [usize; 3], n: usize) -> Dataset {
    Dataset {
        shape,
        images: pixels.repeat(n),
        labels: vec![0; n],
        classes: vec!["a".into()],
    }
}

#[test]
fn reflected_crops_show_only_mirrored_pixels() {
    // A 1x1x3 row [10, 20, 30] reflected by 2 each side: 30 20 10 20 30 20 10.
    let ds = one_image_dataset(vec![10, 20, 30], [1, 1, 3], 1);
    let norm = Normalize::identity(1);
    let aug = Augment {
        crop_padding: 2,
        reflect: true,
        ..Default::default()
    };
    let padded = [30u8, 20, 10, 20, 30, 20, 10];
    // Shifts -2 and +2 give the same window (30 20 10): four distinct crops.
    let windows: Vec<Vec<u8>> = (0..4).map(|s| padded[s..s + 3].to_vec()).collect();
    let mut seen = [false; 4];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..200 {
        let mut out = Vec::new();
        fill_batch(&ds, &[0], &norm, Some((&aug, &mut rng)), &mut out);
        let row: Vec<u8> = out.iter().map(|v| (v * 255.0).round() as u8).collect();
        // A vertical shift of a 1-pixel-high image reflects onto the same row.
        let k = windows.iter().position(|w| *w == row);
        seen[k.unwrap_or_else(|| panic!("{row:?} is not a reflected window"))] = true;
    }
    assert!(seen.iter().all(|&s| s), "every shift occurs: {seen:?}");
}

#[test]
fn alternating_flips_mirror_each_image_every_other_epoch() {
    let ds = one_image_dataset(vec![1, 2], [1, 1, 2], 64);
    let norm = Normalize::identity(1);
    let flipped = |epoch: usize| -> Vec<bool> {
        let aug = Augment {
            hflip: true,
            alternate: Some((42, epoch)),
            ..Default::default()
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(epoch as u64);
        let indices: Vec<usize> = (0..64).collect();
        let mut out = Vec::new();
        fill_batch(&ds, &indices, &norm, Some((&aug, &mut rng)), &mut out);
        out.chunks(2).map(|p| p[0] > p[1]).collect()
    };
    let (e0, e1, e2) = (flipped(0), flipped(1), flipped(2));
    let n0 = e0.iter().filter(|&&f| f).count();
    assert!(
        (20..=44).contains(&n0),
        "about half mirrored in epoch 0: {n0}"
    );
    assert!(
        e0.iter().zip(&e1).all(|(a, b)| a != b),
        "epoch 1 mirrors the others"
    );
    assert_eq!(e0, e2, "and epoch 2 the same as epoch 0");
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
