//! MixUp and CutMix (`data.mixup`, `data.cutmix`) as torchvision's `transforms.v2` makes
//! them: each image with the one before it in the batch, and the loss of soft labels.

use burn::prelude::*;
use convlab::data::DataConfig;
use convlab::train::eval::Criterion;
use convlab::train::mix::{Mixed, Mixer};

/// 4 images of 1x4x6, image i filled with the value i + 1.
fn batch(device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let x: Vec<f32> = (0..4).flat_map(|i| vec![(i + 1) as f32; 24]).collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, [4, 1, 4, 6]), device);
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 2, 2, 0], [4]), device);
    (x, y)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn mixup_blends_each_image_with_the_one_before_it() {
    let device = Device::flex();
    let cfg = DataConfig {
        mixup: 0.4,
        ..Default::default()
    };
    let mut mixer = Mixer::for_epoch(&cfg, 3, 0).unwrap();
    let mut lambdas = Vec::new();
    for _ in 0..200 {
        let (x, y) = batch(&device);
        let Mixed { x, partner, lambda } = mixer.mix(x, &y);
        let ints = partner
            .into_data()
            .convert::<i64>()
            .try_to_vec::<i64>()
            .unwrap();
        assert_eq!(ints, [0, 1, 2, 2], "torch.roll(y, 1, 0)");
        let v = values(x);
        for i in 0..4 {
            let before = ((i + 3) % 4 + 1) as f64;
            let want = lambda * (i + 1) as f64 + (1.0 - lambda) * before;
            assert!(
                v[i * 24..(i + 1) * 24]
                    .iter()
                    .all(|&p| (p as f64 - want).abs() < 1e-5)
            );
        }
        lambdas.push(lambda);
    }
    // Beta(0.4, 0.4): mean 1/2, mostly near 0 or 1 (P(l < 0.1) = 0.27 for alpha 0.4).
    let mean = lambdas.iter().sum::<f64>() / 200.0;
    let near_ends = lambdas
        .iter()
        .filter(|&&l| !(0.1..=0.9).contains(&l))
        .count();
    assert!((mean - 0.5).abs() < 0.08, "mean lambda {mean}");
    assert!(
        near_ends > 70,
        "{near_ends} of 200 draws within 0.1 of an end"
    );
}

#[test]
fn cutmix_pastes_a_box_whose_area_is_the_partners_share() {
    let device = Device::flex();
    let cfg = DataConfig {
        cutmix: 1.0,
        ..Default::default()
    };
    let mut mixer = Mixer::for_epoch(&cfg, 9, 2).unwrap();
    for _ in 0..100 {
        let (x, y) = batch(&device);
        let Mixed { x, lambda, .. } = mixer.mix(x, &y);
        let v = values(x);
        for i in 0..4 {
            let img = &v[i * 24..(i + 1) * 24];
            let own = (i + 1) as f32;
            let partner = ((i + 3) % 4 + 1) as f32;
            assert!(img.iter().all(|&p| p == own || p == partner));
            let pasted = img.iter().filter(|&&p| p == partner).count();
            // lambda is the share each image keeps (torchvision's lam_adjusted).
            assert!(
                ((1.0 - lambda) * 24.0 - pasted as f64).abs() < 1e-9,
                "{lambda} {pasted}"
            );
            // The pasted pixels form one box: its bounding box holds nothing else.
            let at: Vec<(usize, usize)> = (0..24)
                .filter(|&k| img[k] == partner)
                .map(|k| (k / 6, k % 6))
                .collect();
            if let (Some(r0), Some(r1)) =
                (at.iter().map(|p| p.0).min(), at.iter().map(|p| p.0).max())
            {
                let c0 = at.iter().map(|p| p.1).min().unwrap();
                let c1 = at.iter().map(|p| p.1).max().unwrap();
                assert_eq!((r1 - r0 + 1) * (c1 - c0 + 1), pasted);
            }
        }
    }
}

// logits as below, y = [1, 2, 2, 0], lam = 0.3,
// soft = lam * one_hot(y) + (1 - lam) * one_hot(y.roll(1, 0)):
// F.cross_entropy(logits, soft) -> 1.6184616088867188,
// with label_smoothing=0.1 -> 1.605961561203003
#[test]
fn a_mixed_batchs_loss_is_the_soft_label_cross_entropy() {
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
    let (_, y) = batch(&device);
    let partner = Tensor::<1, Int>::from_data(TensorData::new(vec![0i64, 1, 2, 2], [4]), &device);
    for (smoothing, torch) in [(0.0, 1.6184616088867188), (0.1, 1.605961561203003)] {
        let c = Criterion {
            smoothing,
            weights: None,
            mix: Some((partner.clone(), 0.3)),
        };
        let got = values(c.loss(logits.clone(), y.clone()))[0] as f64;
        assert!((got - torch).abs() < 1e-6, "{smoothing}: {got} vs {torch}");
    }
}
