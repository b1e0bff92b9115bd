//! `convlab lr-find CONFIG.toml`: the learning-rate range test, its plot and suggestion.

use std::path::PathBuf;

use clap::Args;

use super::ConfigArgs;
use crate::data;
use crate::error::{Error, Result};
use crate::experiment::training::prepare_run;
use crate::run::RunDir;
use crate::train::device;
use crate::train::lr_find::{self, RangeTest};

#[derive(Args)]
pub struct LrFindArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The lr of the first step (PyTorch Lightning's lr_find starts at 1e-8, fastai's at 1e-7).
    #[arg(long, default_value_t = 1e-7)]
    start: f64,
    /// The lr of the last step; the range test stops earlier once the loss diverges.
    #[arg(long, default_value_t = 10.0)]
    end: f64,
    /// Optimizer steps to train, a batch each or a group of train.accumulate_grad_batches (the lr reaches --end at the last).
    #[arg(long, default_value_t = 100)]
    steps: usize,
    /// Parent folder of the range test's folder (<name>-lr-find).
    #[arg(long, default_value = "runs")]
    runs_dir: PathBuf,
}

pub fn run(a: LrFindArgs) -> Result<()> {
    let (start, end) = (a.start, a.end);
    if !(start > 0.0 && end > start && end.is_finite()) {
        return Err(Error::input(
            "--start/--end",
            format!("need 0 < start < end (got {start} and {end})"),
        ));
    }
    if a.steps < 10 {
        return Err(Error::input("--steps", "must be at least 10"));
    }
    let origin = a.config.origin();
    let cfg = a.config.load()?;
    let dev = device::select(cfg.device)?;
    let splits = data::load(&cfg.data, &a.config.data.lookup())?;
    let prep = prepare_run(&cfg, splits, &origin, &a.config.set)?;
    let test = RangeTest {
        start,
        end,
        steps: a.steps,
    };
    let finding = lr_find::run(&cfg, &prep, &dev, test)?;
    let dir = RunDir::create_unique(&a.runs_dir, &format!("{}-lr-find", cfg.name))?;
    dir.write_config(&cfg.to_toml()?)?;
    crate::report::lr_find::write(&dir.dir, &finding, &cfg.name)?;
    let last = finding.points.last().map_or(start, |p| p.lr);
    println!(
        "{}: {} batches of {} with {} from lr {start:.0e} to {last:.1e}{}",
        cfg.name,
        finding.points.len(),
        cfg.train.batch_size,
        cfg.optimizer.name,
        if finding.stopped_early {
            " (stopped: the loss exploded)"
        } else {
            ""
        }
    );
    match finding.suggested_lr {
        Some(lr) => {
            let show = |l: Option<f64>| l.map_or("n/a".into(), |l| format!("{l:.2e}"));
            println!(
                "suggested lr: {lr:.2e} (fastai's valley: inside the longest descent of the smoothed loss)"
            );
            println!(
                "also: steepest descent {} (Lightning's; often too high for Adam and RMSprop), min-loss lr / 10 {}",
                show(finding.steepest_lr),
                show(finding.min_loss_lr_over_10)
            );
            // With onecycle's max_lr set, optimizer.lr does not reach the schedule.
            let key = match cfg.schedule.onecycle_max_lr() {
                Some(_) => "schedule.max_lr",
                None => "optimizer.lr",
            };
            let train = a.config.command_line("train");
            println!("train with it: {train} --set {key}={lr:.2e}");
        }
        None => println!("no suggestion: too few points before the loss exploded; lower --start"),
    }
    println!("plot and table: {}", dir.dir.display());
    Ok(())
}
