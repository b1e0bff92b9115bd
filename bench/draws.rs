//! The training data order and augmentation draws of a convlab run, written out so that the
//! PyTorch twin can train on exactly the batches convlab trained on
//! (`bench/pytorch_fast.py --draws FILE`): with the draws shared, what is left to differ
//! between the two sides is their arithmetic.
//!
//!     cargo run --release --example draws -- --seed 1 --epochs 1 --out /tmp/draws-s1.bin
//!
//! The passes are the trainer's (`Plan::training`) for the config's [data] table and batch
//! size (default: examples/cifar10-fast.toml). File: per epoch, the image order (u32
//! little-endian, one per position), then the row shifts, the column shifts (i8) and the flips
//! (u8, 0 or 1) of the images at those positions, each array `images` long.

use std::path::PathBuf;

use clap::Parser;
use convlab::data::loader::Plan;
use convlab::experiment::config::load_run_config;

#[derive(Parser)]
struct Args {
    /// The run config whose data settings and batch size the run used.
    #[arg(long, default_value = "examples/cifar10-fast.toml")]
    config: PathBuf,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 1)]
    epochs: usize,
    /// Training images (CIFAR-10's 50,000 by default).
    #[arg(long, default_value_t = 50_000)]
    images: usize,
    #[arg(long)]
    out: PathBuf,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = write(&args) {
        eprintln!("error: {e}");
        std::process::exit(2);
    }
}

fn write(args: &Args) -> Result<(), String> {
    let cfg = load_run_config(&args.config, &[]).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    for epoch in 0..args.epochs {
        let plan = Plan::training(&cfg.data, args.seed, cfg.train.batch_size, epoch);
        let (order, draws): (Vec<usize>, Vec<_>) = plan.draws(args.images).into_iter().unzip();
        bytes.extend(order.iter().flat_map(|&i| (i as u32).to_le_bytes()));
        bytes.extend(draws.iter().map(|d| d.dy as i8 as u8));
        bytes.extend(draws.iter().map(|d| d.dx as i8 as u8));
        bytes.extend(draws.iter().map(|d| d.flip as u8));
    }
    std::fs::write(&args.out, bytes).map_err(|e| format!("{}: {e}", args.out.display()))?;
    println!(
        "{}: {} epoch(s) of {} images, seed {}",
        args.out.display(),
        args.epochs,
        args.images,
        args.seed
    );
    Ok(())
}
