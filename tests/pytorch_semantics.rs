//! Schedules and losses as PyTorch defines them: the values torch gives sit above each
//! check (activations: tests/activations.rs).

use burn::prelude::*;
use convlab::train::schedule::{Schedule, ScheduleConfig};

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
    // The same with anneal_strategy='linear' (airbench's triangle):
    //   OneCycleLR(opt, max_lr=0.1, total_steps=100, pct_start=0.3, anneal_strategy='linear')
    //   gives 0.004, 0.05365517241379311, 0.1, 0.07000012, 3.999999999976245e-07
    //   at steps 0, 15, 29, 50, 99.
    c.anneal = "linear".parse().unwrap();
    let s = Schedule::new(&c, 0.01, 10, 10);
    let torch = [
        0.004,
        0.05365517241379311,
        0.1,
        0.07000012,
        3.999999999976245e-07,
    ];
    for (step, want) in [0, 15, 29, 50, 99].into_iter().zip(torch) {
        let got = s.lr(step / 10, step % 10);
        assert!((got - want).abs() < 1e-12, "step {step}: {got} vs {want}");
    }
    // CosineAnnealingLR(opt (lr 0.1), T_max=6, eta_min=0.01), per epoch:
    //   [0.1, 0.09397114317029975, 0.07750000000000001, 0.055000000000000014,
    //    0.032500000000000015, 0.01602885682970026]
    let mut c = cfg("cosine");
    c.min_lr = 0.01;
    let s = Schedule::new(&c, 0.1, 6, 10);
    let torch = [
        0.1,
        0.09397114317029975,
        0.07750000000000001,
        0.055000000000000014,
        0.032500000000000015,
        0.01602885682970026,
    ];
    for (epoch, want) in torch.into_iter().enumerate() {
        let got = s.lr(epoch, 7);
        assert!((got - want).abs() < 1e-12, "epoch {epoch}: {got} vs {want}");
    }
    // Plateau: patience 1 -> cut after the second epoch without improvement.
    let mut c = cfg("plateau");
    c.patience = 1;
    let mut s = Schedule::new(&c, 1.0, 10, 1);
    for v in [1.0, 0.5, 0.6, 0.6] {
        s.end_epoch(Some(v));
    }
    assert!((s.lr(4, 0) - 0.1).abs() < 1e-12);
}

// Warm-up, as SequentialLR([LinearLR(opt, start_factor=sf, total_iters=w), main],
// milestones=[w]) on SGD(lr=0.1), lr before each epoch:
//   cosine  CosineAnnealingLR(T_max=6, eta_min=0.01), w 3, sf 0.1, 9 epochs:
//     [0.010000000000000002, 0.04, 0.07, 0.1, 0.09397114317029975, 0.07750000000000001,
//      0.055000000000000014, 0.032500000000000015, 0.01602885682970026]
//   step    StepLR(step_size=2, gamma=0.5), w 3, sf 0.1: [.., 0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
//   multistep MultiStepLR(milestones=[1, 3], gamma=0.5), w 3, sf 0.1:
//     [.., 0.1, 0.05, 0.05, 0.025, 0.025, 0.025]
//   exponential ExponentialLR(gamma=0.5), w 2, sf 1/3, 6 epochs:
//     [0.03333333333333333, 0.06666666666666667, 0.1, 0.05, 0.025, 0.0125]
#[test]
fn warmup_then_schedule_matches_sequential_lr() {
    let cfg = |name: &str, w: usize, sf: f64| ScheduleConfig {
        name: name.parse().unwrap(),
        step_size: 2,
        gamma: 0.5,
        milestones: vec![1, 3],
        min_lr: 0.01,
        warmup_epochs: w,
        warmup_start_factor: sf,
        ..Default::default()
    };
    let warm = [0.010000000000000002, 0.04, 0.07];
    let cases: [(&str, usize, f64, usize, Vec<f64>); 4] = [
        (
            "cosine",
            3,
            0.1,
            9,
            [
                warm.as_slice(),
                &[
                    0.1,
                    0.09397114317029975,
                    0.07750000000000001,
                    0.055000000000000014,
                    0.032500000000000015,
                    0.01602885682970026,
                ],
            ]
            .concat(),
        ),
        (
            "step",
            3,
            0.1,
            9,
            [warm.as_slice(), &[0.1, 0.1, 0.05, 0.05, 0.025, 0.025]].concat(),
        ),
        (
            "multistep",
            3,
            0.1,
            9,
            [warm.as_slice(), &[0.1, 0.05, 0.05, 0.025, 0.025, 0.025]].concat(),
        ),
        (
            "exponential",
            2,
            1.0 / 3.0,
            6,
            vec![
                0.03333333333333333,
                0.06666666666666667,
                0.1,
                0.05,
                0.025,
                0.0125,
            ],
        ),
    ];
    for (name, w, sf, epochs, torch) in cases {
        let s = Schedule::new(&cfg(name, w, sf), 0.1, epochs, 10);
        for (epoch, want) in torch.iter().enumerate() {
            let got = s.lr(epoch, 3);
            assert!(
                (got - want).abs() < 1e-12,
                "{name} epoch {epoch}: {got} vs {want}"
            );
        }
    }
}

// logits = torch.tensor([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0], [0.0, 0.0, 1.0], [2.0, 1.0, -1.0]])
// y = torch.tensor([1, 2, 2, 0]); w = torch.tensor([0.5, 2.0, 1.0])
// F.cross_entropy(logits, y, weight=w) -> 0.41415753960609436
// F.cross_entropy(logits, y, weight=w, label_smoothing=0.1) -> 0.5346563458442688
#[test]
fn class_weighted_cross_entropy_matches_pytorch() {
    use convlab::train::config::ClassWeights;
    use convlab::train::eval::Criterion;
    let device = Device::flex();
    let logits = Tensor::<2>::from_data(
        TensorData::new(
            vec![
                1.0f32, 2.0, 0.5, 0.3, -1.0, 2.0, 0.0, 0.0, 1.0, 2.0, 1.0, -1.0,
            ],
            [4, 3],
        ),
        &device,
    );
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 2, 2, 0], [4]), &device);
    let w = Tensor::<1>::from_data(TensorData::new(vec![0.5f32, 2.0, 1.0], [3]), &device);
    for (smoothing, torch) in [(0.0, 0.41415753960609436), (0.1, 0.5346563458442688)] {
        let c = Criterion {
            smoothing,
            weights: Some(w.clone()),
            mix: None,
        };
        let got = c
            .loss(logits.clone(), y.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()[0];
        assert!(
            (got as f64 - torch).abs() < 1e-6,
            "{smoothing}: {got} vs {torch}"
        );
    }
    // "balanced": n / (classes x count), sklearn's compute_class_weight("balanced"):
    // labels [0, 0, 0, 1] of 3 classes -> 4/9, 4/3, and 1 for the class with no images.
    let w = ClassWeights::Named("balanced".into())
        .resolve(&[0, 0, 0, 1], 3)
        .unwrap();
    let want = [4.0 / 9.0, 4.0 / 3.0, 1.0];
    for (g, t) in w.iter().zip(want) {
        assert!((*g as f64 - t).abs() < 1e-6, "{w:?}");
    }
}

// CosineAnnealingWarmRestarts on SGD(lr=0.1), stepped once per epoch, lr before each epoch:
//   CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.01), 12 epochs (cycles of 3,
//   6, 12 epochs); CosineAnnealingWarmRestarts(opt, T_0=4), 9 epochs; and after a warm-up,
//   SequentialLR(opt, [LinearLR(opt, start_factor=0.1, total_iters=2),
//   CosineAnnealingWarmRestarts(opt, T_0=3)], milestones=[2]), 8 epochs.
#[test]
fn cosine_restarts_match_cosine_annealing_warm_restarts() {
    let cases: [(usize, usize, f64, usize, &[f64]); 3] = [
        (
            3,
            2,
            0.01,
            0,
            &[
                0.1,
                0.0775,
                0.032500000000000015,
                0.1,
                0.09397114317029975,
                0.0775,
                0.05500000000000001,
                0.032500000000000015,
                0.01602885682970026,
                0.1,
                0.09846666218300808,
                0.09397114317029975,
            ],
        ),
        (
            4,
            1,
            0.0,
            0,
            &[
                0.1,
                0.08535533905932738,
                0.05,
                0.014644660940672627,
                0.1,
                0.08535533905932738,
                0.05,
                0.014644660940672627,
                0.1,
            ],
        ),
        (
            3,
            1,
            0.0,
            2,
            &[
                0.010000000000000002,
                0.05500000000000001,
                0.1,
                0.07500000000000001,
                0.025000000000000012,
                0.1,
                0.07500000000000001,
                0.025000000000000012,
            ],
        ),
    ];
    for (restart_epochs, restart_mult, min_lr, warmup_epochs, torch) in cases {
        let cfg = ScheduleConfig {
            name: "CosineAnnealingWarmRestarts".parse().unwrap(),
            restart_epochs,
            restart_mult,
            min_lr,
            warmup_epochs,
            warmup_start_factor: 0.1,
            ..Default::default()
        };
        let s = Schedule::new(&cfg, 0.1, torch.len(), 10);
        for (epoch, want) in torch.iter().enumerate() {
            let got = s.lr(epoch, 3);
            assert!(
                (got - want).abs() < 1e-12,
                "T_0 {restart_epochs}, T_mult {restart_mult}, epoch {epoch}: {got} vs {want}"
            );
        }
    }
}
