//! Each optimizer, as a run config names it, against PyTorch: three steps on one batch of a
//! linear classifier, then every weight compared with what torch.optim gives from the same
//! start. Also `grad_clip` (PyTorch's `clip_grad_norm_` over all parameters, not each tensor
//! apart as Burn clips) and the epsilon defaults (Adagrad's is 1e-10, Adadelta's 1e-6).
//!
//! The expected numbers come from this script (torch 2.15.0, CPU, float32):
//!
//! ```python
//! import torch
//! W0 = torch.tensor([((i * 5) % 7) / 7 - 0.4 for i in range(12)]).view(3, 4)
//! b0 = torch.tensor([0.1, -0.2, 0.05])
//! x = torch.tensor([((i * 3) % 11) / 11 - 0.5 for i in range(16)]).view(4, 4)
//! x[:, 3] = torch.tensor([1e-9, -2e-9, 3e-9, -1e-9])  # a nearly dead input: eps decides its step
//! y = torch.tensor([0, 2, 1, 2])
//! def run(make, clip=0.0):
//!     W = W0.clone().requires_grad_(); b = b0.clone().requires_grad_()
//!     opt = make([W, b])
//!     for _ in range(3):
//!         opt.zero_grad()
//!         torch.nn.functional.cross_entropy(x @ W.T + b, y).backward()
//!         if clip > 0:
//!             torch.nn.utils.clip_grad_norm_([W, b], clip)
//!         opt.step()
//!     return W.detach().flatten().tolist() + b.detach().tolist()
//! O = torch.optim
//! run(lambda p: O.SGD(p, lr=0.5))                                        # sgd
//! run(lambda p: O.SGD(p, lr=0.3, momentum=0.9, nesterov=True, weight_decay=0.01))
//! run(lambda p: O.Adam(p, lr=0.05, weight_decay=0.01))
//! run(lambda p: O.AdamW(p, lr=0.05))                                     # weight decay 0.01
//! run(lambda p: O.Adagrad(p, lr=0.3))                                    # eps 1e-10
//! run(lambda p: O.Adagrad(p, lr=0.3, eps=1e-8))
//! run(lambda p: O.RMSprop(p, lr=0.01, momentum=0.5))
//! run(lambda p: O.Adadelta(p))                                          # lr 1.0, rho 0.9, eps 1e-6
//! run(lambda p: O.Adadelta(p, lr=0.5, rho=0.8, eps=1e-8, weight_decay=0.01))
//! run(lambda p: O.SGD(p, lr=0.5), clip=0.1)    # all gradients' norm is 0.288 at the start
//! ```
//! The same with each tensor clipped apart (Burn's `GradientClippingConfig::Norm`) gives W[0,0]
//! -0.3552220 against the global clip's -0.3820596, so the clip test tells the two apart.

mod adam_family;
mod clip_value;

use burn::module::Param;
use burn::prelude::*;
use convlab::experiment::config::{parse_table, run_config};
use convlab::model::Init;
use convlab::model::net::{Layer, Net};
use convlab::model::spec::{LayerSpec, Shape};
use convlab::train::eval::Criterion;
use convlab::train::grad_plan::GradPlan;
use convlab::train::optim;
use convlab::train::schedule::Schedule;
use convlab::train::step::train_step;

/// flatten -> linear 4 -> 3 on 1x2x2 images, with W0 and b0 of the script above.
fn linear_net(device: &Device) -> Net {
    let layers = [
        LayerSpec::Flatten,
        LayerSpec::Linear {
            out: 3,
            input: None,
            bias: true,
        },
    ];
    let mut net = Net::new(
        &layers,
        Shape::Image { c: 1, h: 2, w: 2 },
        Init::Default,
        device,
    );
    let w0: Vec<f32> = (0..12).map(|i| ((i * 5) % 7) as f32 / 7.0 - 0.4).collect();
    // Burn's linear weight is [in, out]: PyTorch's [out, in] transposed.
    let w = Tensor::<2>::from_data(TensorData::new(w0, [3, 4]), device).transpose();
    let b = Tensor::<1>::from_data(TensorData::new(vec![0.1f32, -0.2, 0.05], [3]), device);
    let Layer::Linear(lin) = &mut net.layers[1] else {
        unreachable!()
    };
    lin.weight = Param::from_tensor(w);
    lin.bias = Some(Param::from_tensor(b));
    net
}

/// PyTorch's order: W row by row ([out, in]), then b.
fn weights(net: &Net) -> Vec<f32> {
    let Layer::Linear(lin) = &net.layers[1] else {
        unreachable!()
    };
    let w = lin
        .weight
        .val()
        .transpose()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let b = lin.bias.as_ref().unwrap().val().into_data();
    w.into_iter()
        .chain(b.try_to_vec::<f32>().unwrap())
        .collect()
}

/// Three steps of the optimizer that `[optimizer]` TOML describes, on the script's batch.
fn three_steps(optimizer_toml: &str) -> Vec<f32> {
    scheduled_steps(optimizer_toml, "", 3)
}

/// `steps` steps with the lr (and momentum) that `[schedule]` TOML gives, set before each
/// step as the training loop sets them: one epoch of `steps` batches.
fn scheduled_steps(optimizer_toml: &str, schedule_toml: &str, steps: usize) -> Vec<f32> {
    let text = format!("[optimizer]\n{optimizer_toml}\n[schedule]\n{schedule_toml}");
    let cfg = run_config(parse_table(&text, "test.toml").unwrap(), "test.toml").unwrap();
    let device = Device::flex().autodiff();
    let mut x: Vec<f32> = (0..16)
        .map(|i| ((i * 3) % 11) as f32 / 11.0 - 0.5)
        .collect();
    for (row, v) in [1e-9f32, -2e-9, 3e-9, -1e-9].into_iter().enumerate() {
        x[row * 4 + 3] = v;
    }
    let x = Tensor::<4>::from_data(TensorData::new(x, [4, 1, 2, 2]), &device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 2, 1, 2], [4]), &device);
    let plan = GradPlan::none().with_clips(&cfg.optimizer);
    let schedule = Schedule::new(&cfg.schedule, cfg.optimizer.lr, 1, steps);
    let momentum = schedule.momentum_cell();
    let mut opt = optim::build_with(&cfg.optimizer, &momentum);
    let mut net = linear_net(&device);
    for step in 0..steps {
        if let Some(m) = schedule.momentum(0, step) {
            momentum.set(m);
        }
        let batch = (x.clone(), y.clone());
        let lr = schedule.lr(0, step);
        net = train_step(net, &mut opt, batch, lr, &Criterion::default(), None, &plan).0;
    }
    weights(&net)
}

fn assert_close(case: &str, got: &[f32], torch: [f32; 15]) {
    for (i, (g, t)) in got.iter().zip(torch).enumerate() {
        assert!(
            (g - t).abs() < 2e-6,
            "{case}: weight {i} is {g}, PyTorch's {t}\nconvlab {got:?}\nPyTorch {torch:?}"
        );
    }
}

fn assert_matches_pytorch(optimizer_toml: &str, torch: [f32; 15]) {
    assert_close(optimizer_toml, &three_steps(optimizer_toml), torch);
}

#[test]
fn sgd_matches_pytorch() {
    assert_matches_pytorch(
        "name = \"sgd\"\nlr = 0.5",
        [
            -0.3649381, 0.2856867, -0.0636886, -0.2571429, 0.4677759, 0.1857529, -0.0962701, -0.4,
            0.2685908, 0.0428462, -0.1828985, 0.4571429, -0.1334236, -0.1864652, 0.2698888,
        ],
    );
}

#[test]
fn nesterov_momentum_with_weight_decay_matches_pytorch() {
    assert_matches_pytorch(
        "name = \"sgd-momentum\"\nlr = 0.3\nnesterov = true\nweight_decay = 0.01",
        [
            -0.3361297, 0.2604501, -0.118948, -0.2509658, 0.4633058, 0.1902895, -0.0827267,
            -0.3903912, 0.23533, 0.0511919, -0.1329463, 0.4461614, -0.2710756, -0.1738022,
            0.3960789,
        ],
    );
}

#[test]
fn adam_and_adamw_match_pytorch() {
    assert_matches_pytorch(
        "name = \"adam\"\nlr = 0.05\nweight_decay = 0.01",
        [
            -0.2546755, 0.1640384, -0.1206961, -0.1094591, 0.6013436, 0.3213662, 0.0340061,
            -0.2511104, 0.1665952, 0.1785193, -0.1077375, 0.3080487, -0.0482884, -0.0771082,
            0.1987908,
        ],
    );
    // AdamW's weight decay defaults to PyTorch's 0.01, decoupled from the gradient.
    assert_matches_pytorch(
        "name = \"adamw\"\nlr = 0.05",
        [
            -0.2547286, 0.1636749, -0.1207402, -0.2546583, 0.6056939, 0.3212519, 0.0345382,
            -0.3897143, 0.1662703, 0.1781366, -0.1073784, 0.444933, -0.0483981, -0.0826623,
            0.1986784,
        ],
    );
}

// AMSGrad, 20 steps with beta2 = 0.9 so that the second moment falls below its maximum:
//   W, b after 20 steps of run(lambda p: O.Adam(p, lr=0.05, betas=(0.9, 0.9), amsgrad=True))
//   (plain Adam ends up to 0.087 away) and of O.AdamW(..., the same, amsgrad=True).
#[test]
fn amsgrad_matches_pytorch() {
    let cases: [(&str, [f32; 15]); 2] = [
        (
            "name = \"adam\"\nlr = 0.05\nbeta2 = 0.9\namsgrad = true",
            [
                -0.5614204, -0.67519, -0.868348, -0.2407168, 1.4131161, 1.1656163, 0.8488544,
                -0.3353673, 0.3042389, 0.9977612, 0.5977629, 0.3781236, -0.4233675, 0.1999331,
                0.5610256,
            ],
        ),
        (
            "name = \"adamw\"\nlr = 0.05\nbeta2 = 0.9\namsgrad = true",
            [
                -0.5587183, -0.6736435, -0.8646221, -0.2382327, 1.4043131, 1.1592457, 0.8454511,
                -0.3316932, 0.3026337, 0.9929327, 0.5964862, 0.3739466, -0.4217542, 0.1955312,
                0.558143,
            ],
        ),
    ];
    for (optimizer, torch) in cases {
        let got = scheduled_steps(optimizer, "", 20);
        for (i, (g, t)) in got.iter().zip(torch).enumerate() {
            assert!(
                (g - t).abs() < 2e-5,
                "{optimizer}: weight {i} is {g}, PyTorch's {t}"
            );
        }
    }
    let text = "[optimizer]\nname = \"sgd\"\namsgrad = true";
    let err = run_config(parse_table(text, "run.toml").unwrap(), "run.toml").unwrap_err();
    assert!(err.to_string().contains("optimizer.amsgrad"), "{err}");
}

#[test]
fn adagrad_matches_pytorch_with_its_own_epsilon() {
    // PyTorch's default eps (1e-10): the nearly dead input's weights (indices 3, 7, 11) take
    // a full step; with 1e-8 they barely move.
    assert_matches_pytorch(
        "name = \"adagrad\"\nlr = 0.3",
        [
            -0.3554004, -0.432828, -0.5392545, 0.2164083, 0.9044286, 0.7777273, 0.5152967,
            0.2156865, 0.2048684, 0.8338396, 0.2778086, -0.1762073, -0.2926952, 0.0877798,
            0.4095378,
        ],
    );
    assert_matches_pytorch(
        "name = \"adagrad\"\nlr = 0.3\neps = 1e-8",
        [
            -0.3554004, -0.4328277, -0.5392545, -0.2427417, 0.9044281, 0.7777268, 0.5152963,
            -0.3430509, 0.2048684, 0.8338388, 0.2778085, 0.3881261, -0.2926953, 0.0877796,
            0.4095378,
        ],
    );
}

#[test]
fn rmsprop_with_momentum_matches_pytorch() {
    assert_matches_pytorch(
        "name = \"rmsprop\"\nlr = 0.01\nmomentum = 0.5",
        [
            -0.1768826, -0.0500787, -0.2884864, -0.2565075, 0.8187245, 0.512004, 0.2017047,
            -0.3970932, 0.0513696, 0.4118316, 0.0599407, 0.453612, -0.1912574, -0.0552749,
            0.3466806,
        ],
    );
}

#[test]
fn adadelta_matches_pytorch() {
    // At PyTorch's defaults: lr 1.0, rho 0.9, eps 1e-6. Its first steps are about sqrt(eps)
    // long, so the nearly dead input's weights (indices 3, 7, 11) stay where they are.
    assert_matches_pytorch(
        "name = \"adadelta\"\nlr = 1.0",
        [
            -0.3904296, 0.3047222, 0.01890417, -0.2571429, 0.4658768, 0.1806276, -0.1049275, -0.4,
            0.3046692, 0.03732288, -0.2474764, 0.4571429, 0.09034877, -0.1908756, 0.05966353,
        ],
    );
    // rho, eps and the L2 penalty read as PyTorch reads them: the dead weights now decay.
    assert_matches_pytorch(
        "name = \"adadelta\"\nlr = 0.5\nrho = 0.8\neps = 1e-8\nweight_decay = 0.01",
        [
            -0.3996484, 0.3139339, 0.02821969, -0.2567926, 0.4574912, 0.1717802, -0.1139341,
            -0.3996488, 0.313934, 0.02892305, -0.2567911, 0.4567916, 0.0996483, -0.1996486,
            0.05035172,
        ],
    );
}

#[test]
fn grad_clip_is_one_norm_over_all_parameters() {
    assert_matches_pytorch(
        "name = \"sgd\"\nlr = 0.5\ngrad_clip = 0.1",
        [
            -0.3820596, 0.3047249, -0.0084907, -0.2571429, 0.4608593, 0.1767478, -0.1073637, -0.4,
            0.2926289, 0.032813, -0.2270028, 0.4571429, -0.000838, -0.1941231, 0.1449611,
        ],
    );
    // A bound above the gradients' norm changes nothing: plain SGD's numbers.
    assert_eq!(
        three_steps("name = \"sgd\"\nlr = 0.5\ngrad_clip = 100.0"),
        three_steps("name = \"sgd\"\nlr = 0.5")
    );
}

// OneCycleLR with its defaults (cycle_momentum=True: momentum, or Adam's beta1, runs
// 0.95 -> 0.85 -> 0.95 against the lr; plain SGD gains momentum), 8 steps of the batch above:
//   def run(make, steps=8):
//       W = W0.clone().requires_grad_(); b = b0.clone().requires_grad_()
//       opt = make([W, b])
//       s = O.lr_scheduler.OneCycleLR(opt, max_lr=opt.param_groups[0]['lr'], total_steps=steps)
//       for _ in range(steps):
//           opt.zero_grad()
//           torch.nn.functional.cross_entropy(x @ W.T + b, y).backward()
//           opt.step(); s.step()
//       return W.detach().flatten().tolist() + b.detach().tolist()
//   run(lambda p: O.SGD(p, lr=0.5)); run(lambda p: O.SGD(p, lr=0.3, momentum=0.9,
//   nesterov=True, weight_decay=0.01)); run(lambda p: O.Adam(p, lr=0.05));
//   run(lambda p: O.AdamW(p, lr=0.05)); run(lambda p: O.RMSprop(p, lr=0.01))
//   momentum before each step: [0.95, 0.8688255, 0.8528058, 0.8688255, 0.8944018, 0.9216942,
//   0.9423362, 0.95]; O.Adagrad raises "optimizer must support momentum or beta1".
#[test]
fn one_cycle_cycles_momentum_and_beta1_as_pytorch() {
    let cases: [(&str, [f32; 15]); 5] = [
        (
            "name = \"sgd\"\nlr = 0.5",
            [
                -0.3271972, 0.2002799, -0.2722431, -0.2571429, 0.4909, 0.2211669, -0.0485662, -0.4,
                0.2077258, 0.092839, -0.0220479, 0.4571429, -0.5849652, -0.1414021, 0.6763672,
            ],
        ),
        (
            "name = \"sgd-momentum\"\nlr = 0.3\nnesterov = true\nweight_decay = 0.01",
            [
                -0.3289607, 0.2206777, -0.1913263, -0.2472795, 0.4666777, 0.2014476, -0.0637826,
                -0.384657, 0.2194645, 0.0724337, -0.0745971, 0.439608, -0.4070823, -0.157404,
                0.5164042,
            ],
        ),
        (
            "name = \"adam\"\nlr = 0.05",
            [
                -0.2516055, 0.1529045, -0.1286628, -0.2549041, 0.6204978, 0.3314197, 0.0415642,
                -0.3897146, 0.1608955, 0.1908849, -0.0996244, 0.4448959, -0.054917, -0.0820418,
                0.2059778,
            ],
        ),
        (
            "name = \"adamw\"\nlr = 0.05",
            [
                -0.2510234, 0.1524406, -0.1286118, -0.254448, 0.6196001, 0.3310255, 0.0416497,
                -0.3890098, 0.1604375, 0.1907352, -0.0992659, 0.4440906, -0.0549869, -0.0822453,
                0.2057896,
            ],
        ),
        (
            "name = \"rmsprop\"\nlr = 0.01",
            [
                -0.0515513, -0.4930725, -0.614152, -0.2554973, 1.2228142, 0.8912641, 0.5510225,
                -0.3927453, -0.1191771, 0.8904912, 0.3791622, 0.4482774, -0.4398499, 0.1595974,
                0.5984045,
            ],
        ),
    ];
    for (optimizer, torch) in cases {
        let got = scheduled_steps(optimizer, "name = \"onecycle\"", 8);
        assert_close(&format!("onecycle, {optimizer}"), &got, torch);
    }
    // The momentum itself, step by step, as torch's param_groups show it.
    let cfg = convlab::train::schedule::ScheduleConfig {
        name: "onecycle".parse().unwrap(),
        ..Default::default()
    };
    let s = Schedule::new(&cfg, 0.5, 1, 8);
    let torch = [
        0.95,
        0.8688255099070633,
        0.8528058334845816,
        0.8688255099070633,
    ];
    for (step, want) in torch.into_iter().enumerate() {
        let got = s.momentum(0, step).unwrap();
        assert!((got - want).abs() < 1e-12, "step {step}: {got} vs {want}");
    }
    // Adagrad and Adadelta have nothing to cycle: refused, as PyTorch refuses them.
    for name in ["adagrad", "adadelta"] {
        let text = format!("[optimizer]\nname = \"{name}\"\n[schedule]\nname = \"onecycle\"");
        let err = run_config(parse_table(&text, "run.toml").unwrap(), "run.toml").unwrap_err();
        let err = err.to_string();
        let want = format!("schedule.cycle_momentum: {name} has no momentum");
        assert!(err.contains(&want), "{err}");
    }
}
