//! Frozen and scaled gradients (the whitening bias, the batch-norm shifts), reflected
//! crops and alternating flips.

use super::*;

fn whiten_bn_net(device: &Device) -> (Vec<LayerSpec>, Net) {
    let layers = vec![
        LayerSpec::Whiten {
            kernel: 2,
            eps: 5e-4,
            bias_epochs: 3,
        },
        LayerSpec::Bn {
            input: None,
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
