//! Dropout's mask on flex (src/model/cpu/dropout.rs): kept with probability keep, scaled by
//! 1 / keep as PyTorch's `nn.Dropout` does, the gradient scaled by the same mask, and the
//! same masks from the same seed.

use burn::nn::DropoutConfig;
use burn::prelude::*;
use convlab::model::cpu::dropout::{forward, keep_factors};

/// 100,000 draws at keep 0.8: the kept share within 4 standard deviations (0.0013) of 0.8,
/// every factor exactly 0 or 1 / 0.8 in f32, and element i's draw the same in a shorter mask
/// (the mask depends on the seed and the index only, not on how the work is split).
#[test]
fn keep_factors_keep_the_asked_share_and_depend_on_seed_and_index_only() {
    let (n, keep) = (100_000, 0.8);
    let f = keep_factors(n, keep, 42);
    let kept = f.iter().filter(|&&v| v != 0.0).count() as f64 / n as f64;
    assert!(
        (kept - keep).abs() < 4.0 * (keep * (1.0 - keep) / n as f64).sqrt(),
        "{kept}"
    );
    assert!(f.iter().all(|&v| v == 0.0 || v == (1.0 / keep) as f32));
    assert_eq!(keep_factors(30_001, keep, 42), f[..30_001]);
    let other = keep_factors(n, keep, 43);
    let same = f.iter().zip(&other).filter(|(a, b)| a == b).count() as f64 / n as f64;
    // Independent masks agree where both keep or both drop: 0.8^2 + 0.2^2 = 0.68.
    assert!(
        (same - 0.68).abs() < 0.01,
        "another seed, another mask: {same}"
    );
    // Neighbours are not correlated: P(both kept) = 0.64.
    let pairs = f.windows(2).filter(|w| w[0] != 0.0 && w[1] != 0.0).count() as f64;
    assert!((pairs / (n - 1) as f64 - 0.64).abs() < 0.01);
}

/// In training, y = x / keep where kept and 0 elsewhere; dy/dx is the same mask; the device's
/// seed fixes the mask; in evaluation (no autodiff) the input passes through.
#[test]
fn dropout_scales_kept_values_and_their_gradient_by_the_same_mask() {
    let layer = DropoutConfig::new(0.25).init();
    let device = Device::flex().autodiff();
    let values: Vec<f32> = (0..4096).map(|i| 1.0 + (i % 17) as f32).collect();
    let run = |seed: u64| {
        let x = Tensor::<1>::from_floats(values.as_slice(), &device).reshape([8, 512]);
        seeded_pass(&device, seed, x, |x| forward(&layer, x))
    };
    let (y, dx) = run(7);
    let scale = (1.0 / 0.75f64) as f32;
    for ((&y, &g), &x) in y.iter().zip(&dx).zip(&values) {
        if g == 0.0 {
            assert_eq!(y, 0.0);
        } else {
            assert_eq!((y, g), (x * scale, scale));
        }
    }
    let dropped = dx.iter().filter(|&&g| g == 0.0).count();
    assert!(
        (850..1200).contains(&dropped),
        "{dropped} of 4096 dropped at p = 0.25"
    );
    assert_eq!(run(7).0, y, "the same seed, the same mask");
    assert_ne!(run(8).0, y);
    let plain = Device::flex();
    let x = Tensor::<1>::from_floats(values.as_slice(), &plain);
    assert_eq!(forward(&layer, x.clone()).into_data(), x.into_data());
}

/// Channel dropout (`type = "dropout2d"`, PyTorch's `nn.Dropout2d`): in training each image's
/// channel is kept whole with probability 1 - p and scaled by 1 / (1 - p), or zeroed whole;
/// the input gradient carries the same factors. 1,024 planes at p = 0.3: the kept share
/// within 4 standard deviations (0.057) of 0.7.
#[test]
fn channel_dropout_keeps_or_zeroes_whole_planes() {
    use convlab::model::spec::{LayerSpec, Shape};
    use convlab::model::{Init, Net};
    let device = Device::flex().autodiff();
    let layers = [LayerSpec::Dropout2d { p: 0.3 }, LayerSpec::Flatten];
    let input = Shape::Image { c: 16, h: 4, w: 4 };
    // Neither layer has weights, so building the net draws nothing.
    let net = Net::new(&layers, input, Init::Default, &device);
    let x = Tensor::<4>::ones([64, 16, 4, 4], &device);
    let (y, dx) = seeded_pass(&device, 11, x, |x| net.forward(x));
    assert_eq!(y, dx, "the gradient of a sum is the factors themselves");
    let scale = (1.0 / 0.7f64) as f32;
    let mut kept = 0;
    for plane in y.chunks(16) {
        assert!(
            plane.iter().all(|&v| v == 0.0) || plane.iter().all(|&v| v == scale),
            "a plane is kept or dropped whole: {plane:?}"
        );
        kept += usize::from(plane[0] != 0.0);
    }
    let share = kept as f64 / 1024.0;
    assert!(
        (share - 0.7).abs() < 4.0 * (0.21f64 / 1024.0).sqrt(),
        "{share}"
    );
}

/// Under the generator's lock: seed it, run `f` on `x`, and take the gradient of the output's
/// sum. Returns the output's and the input gradient's values.
fn seeded_pass<const D: usize, const E: usize>(
    device: &Device,
    seed: u64,
    x: Tensor<D>,
    f: impl FnOnce(Tensor<D>) -> Tensor<E>,
) -> (Vec<f32>, Vec<f32>) {
    let _rng = crate::DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
    device.seed(seed);
    let x = x.require_grad();
    let y = f(x.clone());
    let grads = y.clone().sum().backward();
    let dx = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
    (y.into_data().try_to_vec().unwrap(), dx)
}
