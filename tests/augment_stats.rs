//! The training loader's random shifts and flips have the distribution the recipe asks for
//! (airbench's, and bench/pytorch_fast.py's `torch.randint(0, 5)` crops of a 2-pixel reflect
//! pad and `coins ^ odd epoch` flips): every shift in -2..=2 on each axis equally often and
//! independently, half the images mirrored in the first epoch, and each image mirrored in
//! exactly one of two consecutive epochs. The images encode their own coordinates, so each
//! batch image tells which shift and flip the loader drew for it.

use std::sync::Arc;

use convlab::data::Dataset;
use convlab::data::config::{DataConfig, PaddingMode};
use convlab::data::loader::{Plan, spawn};
use convlab::data::transform::{Augment, Normalize};

const N: usize = 5_000;
const SIDE: usize = 32;

/// Image i: channel 0 holds the column x * 8, channel 1 the row y * 8, channel 2 the id:
/// i % 256 in the top half, i / 256 in the bottom half.
fn coordinate_images() -> Dataset {
    let plane = SIDE * SIDE;
    let mut images = vec![0u8; N * 3 * plane];
    for (i, img) in images.chunks_exact_mut(3 * plane).enumerate() {
        for y in 0..SIDE {
            for x in 0..SIDE {
                img[y * SIDE + x] = (x * 8) as u8;
                img[plane + y * SIDE + x] = (y * 8) as u8;
                let id = if y < SIDE / 2 { i % 256 } else { i / 256 };
                img[2 * plane + y * SIDE + x] = id as u8;
            }
        }
    }
    Dataset {
        shape: [3, SIDE, SIDE],
        images,
        labels: vec![0; N],
        classes: vec!["only".into()],
    }
}

/// Epoch `epoch`'s pass, as the recipe's (examples/cifar10-fast.toml) data settings make it.
fn plan(epoch: usize) -> Plan {
    let cfg = DataConfig {
        crop_padding: 2,
        hflip: true,
        hflip_alternate: true,
        padding_mode: PaddingMode::Reflect,
        ..Default::default()
    };
    Plan {
        batch_size: 1024,
        shuffle_seed: Some(11 + epoch as u64),
        shuffle: true,
        augment: Augment::for_epoch(&cfg, 0, epoch),
    }
}

/// (image id, (dy, dx, flip)) of every image in one epoch's batches, in batch order.
fn read_back(ds: &Arc<Dataset>, epoch: usize) -> Vec<(usize, (isize, isize, bool))> {
    let norm = Arc::new(Normalize::identity(3));
    let (plane, at) = (SIDE * SIDE, |c: usize, y: usize, x: usize| {
        c * SIDE * SIDE + y * SIDE + x
    });
    let mut out = Vec::with_capacity(N);
    for batch in spawn(ds.clone(), norm, plan(epoch)) {
        for img in batch.images.chunks_exact(3 * plane) {
            let value = |c, y, x| (img[at(c, y, x)] * 255.0).round() as isize / 8;
            // Away from the border (rows/columns 16, 17) no reflection is involved.
            let flip = value(0, 16, 17) < value(0, 16, 16);
            let dy = value(1, 16, 16) - 16;
            let dx = value(0, 16, 16) - if flip { 15 } else { 16 };
            // Rows 8 and 24 read source rows 6-10 and 22-26: each inside its half.
            let byte = |y| (img[at(2, y, 16)] * 255.0).round() as usize;
            out.push((byte(8) + 256 * byte(24), (dy, dx, flip)));
        }
    }
    assert_eq!(out.len(), N);
    out
}

/// (dy, dx, flip) of every image in one epoch's batches, by image id.
fn draws(ds: &Arc<Dataset>, epoch: usize) -> Vec<(isize, isize, bool)> {
    let mut by_id = vec![(9, 9, false); N];
    for (id, draw) in read_back(ds, epoch) {
        by_id[id] = draw;
    }
    by_id
}

#[test]
fn shifts_and_flips_are_uniform_independent_and_alternate() {
    let ds = Arc::new(coordinate_images());
    let first = draws(&ds, 0);
    // 25 (dy, dx) cells, N/25 = 200 expected each; a fair draw stays within +-60 (4.4 sd).
    let mut cells = [[0usize; 5]; 5];
    for &(dy, dx, _) in &first {
        assert!(
            (-2..=2).contains(&dy) && (-2..=2).contains(&dx),
            "shift {dy},{dx}"
        );
        cells[(dy + 2) as usize][(dx + 2) as usize] += 1;
    }
    for row in &cells {
        for &c in row {
            assert!((140..=260).contains(&c), "shift counts {cells:?}");
        }
    }
    let flipped = first.iter().filter(|d| d.2).count();
    assert!(
        (2350..=2650).contains(&flipped),
        "{flipped} of {N} mirrored in epoch 0"
    );

    // The next epoch mirrors exactly the images epoch 0 did not, and draws shifts afresh:
    // an image keeps its shift with chance 1/25 (200 of 5,000 expected).
    let second = draws(&ds, 1);
    let kept_flip = first
        .iter()
        .zip(&second)
        .filter(|(a, b)| a.2 == b.2)
        .count();
    assert_eq!(
        kept_flip, 0,
        "images mirrored the same way in epochs 0 and 1"
    );
    let kept_shift = first
        .iter()
        .zip(&second)
        .filter(|(a, b)| (a.0, a.1) == (b.0, b.1))
        .count();
    assert!(
        (140..=260).contains(&kept_shift),
        "{kept_shift} of {N} kept their shift"
    );
}

/// `Plan::draws`, which bench/draws.rs writes out for the PyTorch twin to train on convlab's
/// batches, lists what the loader's batches hold: the same images in the same order, each
/// with the shift and flip it was given.
#[test]
fn plan_draws_list_the_loaders_batches() {
    let ds = Arc::new(coordinate_images());
    for epoch in 0..2 {
        let listed: Vec<_> = plan(epoch)
            .draws(N)
            .into_iter()
            .map(|(i, d)| (i, (d.dy, d.dx, d.flip)))
            .collect();
        let batches = read_back(&ds, epoch);
        let first_difference = batches.iter().zip(&listed).position(|(a, b)| a != b);
        assert_eq!(
            first_difference, None,
            "epoch {epoch}: position {first_difference:?} differs"
        );
    }
}

// torchvision 0.25 (torch 2.15.0), tests/fixtures/pytorch/rotate.json:
//   img = torch.zeros(2, 13, 17, dtype=torch.uint8)   # channel 0: row + 1, channel 1: column + 1
//   for y in range(13):
//       for x in range(17): img[0, y, x] = y + 1; img[1, y, x] = x + 1
//   {a: F.rotate(img, a, fill=0).flatten().tolist()
//    for a in [5.3, -7.9, 10.0, 30.0, -45.0, 90.0, 137.5, 180.0]}
#[test]
fn rotation_samples_the_pixels_torchvision_samples() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pytorch/rotate.json"
    ))
    .unwrap();
    let fixture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (c, h, w) = (2, 13, 17);
    let mut img = vec![0u8; c * h * w];
    for y in 0..h {
        for x in 0..w {
            img[y * w + x] = (y + 1) as u8;
            img[h * w + y * w + x] = (x + 1) as u8;
        }
    }
    let angles = fixture["angles"].as_object().unwrap();
    assert_eq!(angles.len(), 8);
    let mut out = Vec::new();
    for (angle, want) in angles {
        let want: Vec<u8> = want
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u8)
            .collect();
        convlab::data::transform::rotate(&img, [c, h, w], angle.parse().unwrap(), &mut out);
        let differ = out.iter().zip(&want).filter(|(a, b)| a != b).count();
        assert_eq!(
            differ,
            0,
            "{angle} degrees: {differ} of {} pixels differ",
            want.len()
        );
    }
}

/// `data.rotation = 30`: each training image is turned by its own angle, drawn evenly from
/// [-30, 30] degrees. The coordinate images tell each output pixel's source, hence the angle.
#[test]
fn rotation_angles_are_drawn_evenly_within_the_bound() {
    let ds = Arc::new(coordinate_images());
    let norm = Normalize::identity(3);
    let aug = Augment {
        rotation: 30.0,
        ..Default::default()
    };
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
    let indices: Vec<usize> = (0..400).collect();
    let mut out = Vec::new();
    convlab::data::transform::fill_batch(&ds, &indices, &norm, Some((&aug, &mut rng)), &mut out);
    let plane = SIDE * SIDE;
    let c = (SIDE as f64 - 1.0) / 2.0;
    let mut angles = Vec::new();
    for img in out.chunks_exact(3 * plane) {
        // Each output pixel (ox, oy) shows source (sx, sy); the mean turn from the source's
        // direction to the output's, over pixels 6 or more from the centre, is the angle.
        let mut turns = Vec::new();
        for y in 0..SIDE {
            for x in 0..SIDE {
                let sx = (img[y * SIDE + x] * 255.0).round() as f64 / 8.0;
                let sy = (img[plane + y * SIDE + x] * 255.0).round() as f64 / 8.0;
                let (ox, oy) = (x as f64 - c, y as f64 - c);
                if (sx == 0.0 && sy == 0.0) || ox.hypot(oy) < 6.0 {
                    continue; // black fill, or too near the centre to tell the angle
                }
                let (vx, vy) = (sx - c, sy - c);
                // Counter-clockwise on screen (y down): the output lies anticlockwise of its
                // source, so its atan2 angle is smaller.
                let d = (vy.atan2(vx) - oy.atan2(ox)).to_degrees();
                turns.push((d + 540.0) % 360.0 - 180.0);
            }
        }
        angles.push(turns.iter().sum::<f64>() / turns.len() as f64);
    }
    // Nearest-pixel sampling blurs each pixel's turn; their mean is within a degree or so.
    assert!(angles.iter().all(|a| a.abs() <= 31.5), "{angles:?}");
    let left = angles.iter().filter(|&&a| a < -10.0).count();
    let right = angles.iter().filter(|&&a| a > 10.0).count();
    let middle = angles.len() - left - right;
    // Each third of the range holds a third of the draws (400 draws: 133 +- 3 sigma = 28).
    for (part, n) in [("< -10", left), ("-10..10", middle), ("> 10", right)] {
        assert!(
            (105..=162).contains(&n),
            "{part}: {n} of 400 draws; {angles:?}"
        );
    }
}
