//! convlab's CPU batch norm against Burn's layer and PyTorch's running statistics: training
//! and inference passes, gradients, flat features.

use super::*;

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
            // value_sync: the forward's update is pending until synced (value() is the old one).
            let running = (
                bn.running_mean.value_sync().inner(),
                bn.running_var.value_sync().inner(),
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
        // Burn's running variance takes the biased batch variance, convlab's (as PyTorch's)
        // the unbiased one: from the default 1 at momentum 0.1, Burn's is 0.9 + 0.1 v and
        // convlab's 0.9 + 0.1 v n / (n - 1), n the values per channel.
        let n = (shape.iter().product::<usize>() / c) as f64;
        let unbiased = burn
            .4
            .1
            .sub_scalar(0.9)
            .mul_scalar(n / (n - 1.0))
            .add_scalar(0.9);
        assert_close(&format!("{case} running var"), fast.4.1, unbiased);
    };
    check(vec![4, 3, 5, 6]);
    check(vec![7, 5, 1, 1]); // flat features seen as 1x1 images
    check(vec![6, 3, 40, 40]); // planes of 1,600: several parallel jobs of whole planes
    // 2x2 planes: blocks of 64 channels per job (batch_norm_passes.rs), the last one short.
    check(vec![3, 150, 2, 2]);
}

/// The batch-norm passes run in blocks of channels in parallel; each channel's sums add its
/// planes in image order, so output and gradients have the same bits on 1 thread as on 3,
/// with one channel per block (16x16 planes) and many (2x2 planes, 3 blocks).
#[test]
fn cpu_batch_norm_has_the_same_bits_whatever_the_thread_count() {
    use burn::nn::BatchNormConfig;
    use convlab::model::cpu::batch_norm;
    let device = Device::flex().autodiff();
    let bits = |t: Tensor<4>| -> Vec<u32> {
        let v = t.into_data().try_to_vec::<f32>().unwrap();
        v.iter().map(|f| f.to_bits()).collect()
    };
    for shape in [[5, 7, 16, 16], [3, 150, 2, 2]] {
        let run = |threads: usize| {
            on_threads(threads, || {
                let bn = BatchNormConfig::new(shape[1]).init(&device);
                let x = wavy(shape, 21, &device).mul_scalar(3.0).require_grad();
                let y = batch_norm::forward(&bn, x.clone());
                let grads = (y.clone() * wavy(shape, 22, &device)).sum().backward();
                (bits(y.inner()), bits(x.grad(&grads).unwrap()))
            })
        };
        let (one, three) = (run(1), run(3));
        assert!(one.1.iter().any(|&b| b != 0), "{shape:?}: dx is all zero");
        assert_eq!(one.0, three.0, "{shape:?}: outputs differ, 1 vs 3 threads");
        assert_eq!(one.1, three.1, "{shape:?}: dx differs, 1 vs 3 threads");
    }
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

/// One training pass updates the running statistics as PyTorch's BatchNorm2d and BatchNorm1d
/// do (momentum 0.1, running variance from the unbiased batch variance):
///   x = torch.tensor([((i * 7) % 11) / 3 - 1 for i in range(24)]).reshape(2, 3, 2, 2)
///   bn = torch.nn.BatchNorm2d(3); bn.train(); bn(x)   # running_mean, running_var below
///   f = torch.tensor([((i * 5) % 7) / 2 - 1 for i in range(12)]).reshape(4, 3)
///   bn1 = torch.nn.BatchNorm1d(3); bn1.train(); bn1(f)
/// By hand, f's channel 0 is -1, -0.5, 0, 0.5: mean -0.25, unbiased variance 1.25 / 3, so
/// 0.1 * -0.25 = -0.025 and 0.9 + 0.1 * 0.41667 = 0.941667 (biased would give 0.93125).
#[test]
fn batch_norm_running_statistics_match_pytorchs() {
    use burn::nn::{BatchNorm, BatchNormConfig};
    use convlab::model::cpu::batch_norm;
    let device = Device::flex().autodiff();
    let running = |bn: &BatchNorm| {
        // value_sync: the forward's update is pending until synced (value() is the old one).
        [bn.running_mean.value_sync(), bn.running_var.value_sync()]
            .map(|t| t.inner().into_data().try_to_vec::<f32>().unwrap())
    };
    let close = |what: &str, got: Vec<f32>, want: [f32; 3]| {
        let worst = got
            .iter()
            .zip(want)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0, f32::max);
        assert!(worst < 1e-6, "{what}: {got:?} vs PyTorch's {want:?}");
    };
    let images: Vec<f32> = (0..24).map(|i| ((i * 7) % 11) as f32 / 3.0 - 1.0).collect();
    let bn = BatchNormConfig::new(3).init(&device);
    let x = Tensor::<1>::from_floats(images.as_slice(), &device).reshape([2, 3, 2, 2]);
    let _ = batch_norm::forward(&bn, x);
    let [mean, var] = running(&bn);
    close(
        "BatchNorm2d running_mean",
        mean,
        [0.09166666, 0.0625, 0.03333333],
    );
    close(
        "BatchNorm2d running_var",
        var,
        [1.0388889, 1.0061507, 1.0301588],
    );
    let flat: Vec<f32> = (0..12).map(|i| ((i * 5) % 7) as f32 / 2.0 - 1.0).collect();
    let bn = BatchNormConfig::new(3).init(&device);
    let f = Tensor::<1>::from_floats(flat.as_slice(), &device).reshape([4, 3]);
    let _ = batch_norm::forward(&bn, f);
    let [mean, var] = running(&bn);
    close("BatchNorm1d running_mean", mean, [-0.025, 0.05, 0.125]);
    close(
        "BatchNorm1d running_var",
        var,
        [0.94166666, 1.1166667, 0.94166666],
    );
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
