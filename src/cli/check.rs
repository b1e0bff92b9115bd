//! `convlab check --device cuda`: one training step of the fast recipe's net and three presets
//! on the device against the CPU, tensor by tensor (`experiment::device_check`).

use clap::Args;

use crate::error::{Error, Result};
use crate::experiment::device_check::{self, Row};
use crate::train::device;

#[derive(Args)]
pub struct CheckArgs {
    /// The device to check against the CPU: cuda, cubecl-cpu or ndarray.
    #[arg(long, default_value = "cuda")]
    device: String,
    /// Every case at this batch size instead of its own (a quick look).
    #[arg(long)]
    batch: Option<usize>,
    /// Only this net: cifar10-fast, bn-prelu-cnn, resnet18 or vgg-blocks (the batch-norm
    /// kernels' rows still run on CubeCL devices).
    #[arg(long)]
    net: Option<String>,
    /// One JSON line per compared tensor instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(a: CheckArgs) -> Result<()> {
    let name = device::parse_flag(&a.device)?;
    if a.batch == Some(0) {
        return Err(Error::input("--batch", "must be at least 1"));
    }
    let mut cases = device_check::default_cases(a.batch)?;
    if let Some(net) = &a.net {
        let names: Vec<String> = cases.iter().map(|c| c.name.clone()).collect();
        cases.retain(|c| &c.name == net);
        if cases.is_empty() {
            return Err(Error::input(
                "--net",
                format!(
                    "unknown net \"{net}\" (expected one of: {})",
                    names.join(", ")
                ),
            ));
        }
    }
    // Seconds since the start with each case: on a GPU most of a first case is compiling.
    let start = std::time::Instant::now();
    let progress = |case: &str| {
        eprintln!(
            "{:6.1} s  checking {case} ...",
            start.elapsed().as_secs_f64()
        )
    };
    let rows = device_check::run(name, &cases, progress)?;
    if a.json {
        for r in &rows {
            println!("{}", super::json_line(r)?);
        }
    } else {
        print_table(&rows);
    }
    let off: Vec<&Row> = rows.iter().filter(|r| !r.ok()).collect();
    match off.first() {
        None => {
            eprintln!(
                "{}: all {} tensors match the CPU ({:.1} s)",
                a.device,
                rows.len(),
                start.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Some(first) => Err(Error::process(
            format!("check --device {}", a.device),
            format!(
                "{} of {} tensors differ from the CPU's, first: {} {} (relative RMS {:.2e}{})",
                off.len(),
                rows.len(),
                first.case,
                first.tensor,
                first.rel_rms,
                if first.finite { "" } else { ", not finite" }
            ),
        )),
    }
}

fn print_table(rows: &[Row]) {
    println!("| case | tensor | relative RMS | limit | |");
    println!("|---|---|---:|---:|---|");
    for r in rows {
        let verdict = match (r.ok(), r.finite) {
            (true, _) => "ok",
            (false, true) => "OFF",
            (false, false) => "NOT FINITE",
        };
        println!(
            "| {} | {} | {:.2e} | {:.0e} | {verdict} |",
            r.case, r.tensor, r.rel_rms, r.limit
        );
    }
}
