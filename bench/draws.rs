//! The training data order and augmentation draws of a convlab run, written out so that the
//! PyTorch twin can train on exactly the batches convlab trained on
//! (`bench/pytorch_fast.py --draws FILE`): with the draws shared, what is left to differ
//! between the two sides is their arithmetic.
//!
//!     cargo run --release --example draws -- --seed 1 --epochs 1 --out /tmp/draws-s1.bin
//!
//! The recipe's data settings (examples/cifar10-fast.toml) are fixed here: 2-pixel reflected
//! shifts, alternating flips, batches of 1024 over 50,000 images; `--images` and `--batch`
//! change the last two. File: per epoch, the image order (u32 little-endian, one per
//! position), then the row shifts, the column shifts (i8) and the flips (u8, 0 or 1) of the
//! images at those positions, each array `images` long.

use std::io::Write;

use convlab::data::config::{DataConfig, PaddingMode};
use convlab::data::loader::Plan;
use convlab::data::transform::Augment;
use convlab::seed::{Stream, derive_seed};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn arg(args: &[String], name: &str, default: &str) -> Result<String, String> {
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .cloned()
            .ok_or_else(|| format!("{name} needs a value")),
        None => Ok(default.to_string()),
    }
}

fn number(args: &[String], name: &str, default: &str) -> Result<u64, String> {
    let v = arg(args, name, default)?;
    v.parse()
        .map_err(|_| format!("{name}: {v:?} is not a whole number"))
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed = number(&args, "--seed", "0")?;
    let epochs = number(&args, "--epochs", "1")? as usize;
    let images = number(&args, "--images", "50000")? as usize;
    let batch = number(&args, "--batch", "1024")? as usize;
    let out = arg(&args, "--out", "")?;
    if out.is_empty() || batch == 0 {
        return Err("usage: draws --seed S --epochs E [--images N] [--batch B] --out FILE".into());
    }
    // The same settings the trainer reads from the recipe's [data] table.
    let data = DataConfig {
        crop_padding: 2,
        padding_mode: PaddingMode::Reflect,
        hflip: true,
        hflip_alternate: true,
        ..DataConfig::default()
    };
    let mut bytes = Vec::new();
    for epoch in 0..epochs {
        // As trainer.rs's train_epoch builds each epoch's pass; `draws` draws as loader.rs does.
        let plan = Plan {
            batch_size: batch,
            shuffle_seed: Some(derive_seed(seed, Stream::Shuffle { epoch })),
            shuffle: true,
            augment: Augment::for_epoch(&data, seed, epoch),
        };
        let (order, draws): (Vec<usize>, Vec<_>) = plan.draws(images).into_iter().unzip();
        bytes.extend(order.iter().flat_map(|&i| (i as u32).to_le_bytes()));
        bytes.extend(draws.iter().map(|d| d.dy as i8 as u8));
        bytes.extend(draws.iter().map(|d| d.dx as i8 as u8));
        bytes.extend(draws.iter().map(|d| d.flip as u8));
    }
    std::fs::File::create(&out)
        .and_then(|mut f| f.write_all(&bytes))
        .map_err(|e| format!("{out}: {e}"))?;
    println!("{out}: {epochs} epoch(s) of {images} images, seed {seed}");
    Ok(())
}
