//! train.ema_decay: the moving average of the weights and batch-norm statistics against
//! PyTorch's AveragedModel, and what it leaves alone (training itself).

use burn::module::Param;
use burn::optim::SgdConfig;
use burn::prelude::*;
use convlab::model::Init;
use convlab::model::net::{Layer, Net};
use convlab::model::spec::{LayerSpec, Shape};
use convlab::train::ema::Ema;
use convlab::train::eval::Criterion;
use convlab::train::grad_plan::GradPlan;
use convlab::train::step::train_step;

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
}

/// Batch norm (momentum 0.4), flatten, linear 9 -> 2 with the weights of the snippet below.
fn tiny_net(device: &Device) -> (Net, Vec<LayerSpec>) {
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
    let shape = Shape::Image { c: 1, h: 3, w: 3 };
    let mut net = Net::new(&layers, shape, Init::Default, device);
    if let Layer::Linear(l) = &mut net.layers[2] {
        // Burn's linear weight is [in, out]: column o is PyTorch's row o.
        let w: Vec<f32> = (0..9)
            .flat_map(|i| {
                [
                    ((i * 5) % 7) as f32 / 7.0 - 0.5,
                    ((i * 3) % 5) as f32 / 5.0 - 0.5,
                ]
            })
            .collect();
        l.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w, [9, 2]), device));
        l.bias = Some(Param::from_tensor(Tensor::zeros([2], device)));
    }
    (net, layers)
}

/// (linear weight in PyTorch's [out, in] order, linear bias, bn weight, bn bias, running
/// mean, running var).
fn state(net: &Net) -> [Vec<f32>; 6] {
    let (Layer::Bn(bn), Layer::Linear(l)) = (&net.layers[0], &net.layers[2]) else {
        unreachable!()
    };
    [
        values(l.weight.val().transpose()),
        values(l.bias.as_ref().unwrap().val()),
        values(bn.gamma.val()),
        values(bn.beta.val()),
        values(bn.running_mean.value()),
        values(bn.running_var.value()),
    ]
}

// import torch
// from torch import nn
// from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
// net = nn.Sequential(nn.BatchNorm2d(1, momentum=0.4), nn.Flatten(), nn.Linear(9, 2))
// with torch.no_grad():
//     net[2].weight.copy_(torch.tensor([[((i * 5) % 7) / 7 - 0.5 for i in range(9)],
//                                       [((i * 3) % 5) / 5 - 0.5 for i in range(9)]]))
//     net[2].bias.zero_()
// ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(0.5), use_buffers=True)
// opt = torch.optim.SGD(net.parameters(), lr=0.5)
// y = torch.tensor([0, 1, 0, 1])
// for k in range(3):
//     x = torch.tensor([((i * 7 + k * 5) % 11) / 11 - 0.5 for i in range(36)]).view(4, 1, 3, 3)
//     opt.zero_grad(); nn.functional.cross_entropy(net(x), y).backward(); opt.step()
//     ema.update_parameters(net)
// m = ema.module   # then m[2].weight, m[2].bias, m[0].weight, m[0].bias, m[0].running_mean,
//                  # m[0].running_var; and net[2].weight, the trained weights (torch 2.15.0)
#[test]
fn moving_average_matches_pytorch_averaged_model() {
    let device = Device::flex().autodiff();
    let (mut net, layers) = tiny_net(&device);
    let plan = GradPlan::new(&net, &layers, 0, 1.0);
    let mut opt = SgdConfig::new().init();
    let mut ema = Ema::new(0.5).unwrap();
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 0, 1], [4]), &device);
    for k in 0..3 {
        let x: Vec<f32> = (0..36)
            .map(|i| ((i * 7 + k * 5) % 11) as f32 / 11.0 - 0.5)
            .collect();
        let x = Tensor::from_data(TensorData::new(x, [4, 1, 3, 3]), &device);
        let batch = (x, y.clone());
        net = train_step(
            net,
            &mut opt,
            batch,
            0.5,
            &Criterion::default(),
            None,
            &plan,
        )
        .0;
        ema.update(&net);
    }
    let want: [&[f32]; 6] = [
        &[
            -0.5214218, 0.0143095, -0.07501, -0.0081794, 0.2049504, -0.1269178, 0.0647369,
            -0.3220085, 0.0150831, -0.4785782, 0.2999762, -0.2964185, -0.0489634, 0.0521925,
            -0.3016536, -0.1790227, -0.4779916, 0.4992026,
        ],
        &[-0.0070838, 0.0070838],
        &[0.5588563],
        &[-0.0023007],
        &[-0.0316061],
        &[0.4035133],
    ];
    let names = [
        "linear.weight",
        "linear.bias",
        "bn.weight",
        "bn.bias",
        "running_mean",
        "running_var",
    ];
    let averaged = state(&ema.weights(&net));
    for ((name, got), want) in names.iter().zip(&averaged).zip(want) {
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 2e-6, "{name}: {got:?}\nPyTorch {want:?}");
        }
    }
    // The net itself trains on, unaveraged (PyTorch: net[2].weight[0][:2]).
    let trained = state(&net.valid());
    assert!(
        (trained[0][0] - -0.4657636).abs() < 2e-6,
        "{:?}",
        trained[0]
    );
    assert!(
        (trained[0][1] - -0.0247659).abs() < 2e-6,
        "{:?}",
        trained[0]
    );
    // ... and reading the average changed neither the net nor its running statistics.
    assert_eq!(state(&net.valid()), trained);
    assert!(
        (trained[4][0] - -0.0350303).abs() < 2e-6,
        "{:?}",
        trained[4]
    );
}

#[test]
fn decay_zero_is_off() {
    assert!(Ema::new(0.0).is_none());
}

/// A decay whose average would still be mostly the first steps' weights at the end of the
/// run is warned of: 0.999^2108 = 0.1213 (seed 001's CIFAR net, 3 epochs of 703 steps,
/// bench/ema.sh: that average trailed the weights), 0.99^28 = 0.7547, 0.99^2108 ~ 6e-10.
#[test]
fn a_run_too_short_for_its_decay_is_warned_of() {
    use convlab::train::ema::short_run_warning;
    assert_eq!(
        short_run_warning(0.999, 2109).as_deref(),
        Some(
            "train.ema_decay = 0.999 averages over about 1000 steps and this run takes 2109: 12% of the final average is still the first step's weights; 0.99 suits a run this long"
        )
    );
    let short = short_run_warning(0.99, 29).unwrap();
    assert!(
        short.contains("takes 29: 75% ") && short.ends_with("0.5 suits a run this long"),
        "{short}"
    );
    assert_eq!(short_run_warning(0.99, 2109), None);
    assert_eq!(short_run_warning(0.0, 1), None);
}
