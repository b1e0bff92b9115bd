//! The learning-rate range test (Smith 2015; fastai's `lr_find`, Lightning's `lr_find`):
//! train briefly while the lr grows exponentially from `start` to `end`, record the
//! smoothed loss, stop once it explodes, and suggest the lr where it falls fastest.

use std::path::Path;
use std::sync::Arc;

use burn::optim::GradientsParams;
use burn::prelude::*;
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

use crate::data::loader::{self, Plan};
use crate::data::transform::Augment;
use crate::error::{Result, write_atomic};
use crate::experiment::config::RunConfig;
use crate::model::Net;
use crate::train::eval::{batch_tensors, cross_entropy, scalar};
use crate::train::optim;
use crate::train::trainer::Prepared;

/// Exponential smoothing of the loss (fastai and Lightning use 0.98).
const BETA: f64 = 0.98;
/// Stop once the smoothed loss exceeds this many times its minimum (Lightning's default).
const EXPLODE: f64 = 4.0;

#[derive(Debug, Clone, Copy)]
pub struct RangeTest {
    pub start: f64,
    pub end: f64,
    pub steps: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub step: usize,
    pub lr: f64,
    pub loss: f64,
    pub smoothed: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub points: Vec<Point>,
    /// The steepest descent of the smoothed loss against log(lr) (Lightning's suggestion).
    pub suggested_lr: Option<f64>,
    /// One tenth of the lr at the minimum smoothed loss (fastai's classic rule).
    pub min_loss_lr_over_10: Option<f64>,
    pub stopped_early: bool,
}

/// Index of the steepest descent of `smoothed` against log(lr), skipping the first
/// `skip_begin` points (noisy) and the last `skip_end` (exploding), as Lightning does.
pub fn steepest(
    lrs: &[f64],
    smoothed: &[f64],
    skip_begin: usize,
    skip_end: usize,
) -> Option<usize> {
    let n = lrs.len().min(smoothed.len());
    if n < skip_begin + skip_end + 2 {
        return None;
    }
    let x: Vec<f64> = lrs.iter().map(|l| l.ln()).collect();
    // Central differences inside, one-sided at the ends (numpy.gradient).
    let slope = |i: usize| {
        let (a, b) = if i == 0 {
            (0, 1)
        } else if i == n - 1 {
            (n - 2, n - 1)
        } else {
            (i - 1, i + 1)
        };
        (smoothed[b] - smoothed[a]) / (x[b] - x[a])
    };
    (skip_begin..n - skip_end)
        .filter(|&i| slope(i).is_finite())
        .min_by(|&i, &j| slope(i).total_cmp(&slope(j)))
}

pub fn run(cfg: &RunConfig, p: &Prepared, device: &Device, t: RangeTest) -> Result<Finding> {
    let ad = device.clone().autodiff();
    device.seed(cfg.seed);
    ad.seed(cfg.seed);
    let mut model = Net::new(&p.layers, p.input, &cfg.model.init, &ad);
    let mut opt = optim::build(&cfg.optimizer);
    let ratio = t.end / t.start;
    let mut points = Vec::with_capacity(t.steps);
    let (mut avg, mut best) = (0.0, f64::INFINITY);
    let mut stopped_early = false;
    let augment = Augment {
        crop_padding: cfg.data.crop_padding,
        hflip: cfg.data.hflip,
    };
    'outer: for pass in 0u64.. {
        let rx = loader::spawn(
            p.train.clone(),
            Arc::clone(&p.norm),
            Plan {
                batch_size: cfg.train.batch_size,
                shuffle_seed: Some(cfg.seed.wrapping_add(pass)),
                augment,
            },
        );
        for batch in rx {
            let step = points.len();
            if step == t.steps {
                break 'outer;
            }
            let lr = t.start * ratio.powf(step as f64 / (t.steps - 1).max(1) as f64);
            let (x, y) = batch_tensors(batch, p.train.shape, &ad);
            let loss = cross_entropy(model.forward(x), y, cfg.train.label_smoothing);
            let value = scalar(loss.clone().detach());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = opt.step(lr, model, grads);
            avg = BETA * avg + (1.0 - BETA) * value;
            let smoothed = avg / (1.0 - BETA.powi(step as i32 + 1));
            points.push(Point {
                step,
                lr,
                loss: value,
                smoothed,
            });
            if !smoothed.is_finite() || (step > 0 && smoothed > EXPLODE * best) {
                stopped_early = true;
                break 'outer;
            }
            best = best.min(smoothed);
        }
    }
    let lrs: Vec<f64> = points.iter().map(|p| p.lr).collect();
    let sm: Vec<f64> = points.iter().map(|p| p.smoothed).collect();
    let skip_begin = (t.steps / 10).min(10);
    let suggested_lr = steepest(&lrs, &sm, skip_begin, 1).map(|i| lrs[i]);
    let min_loss_lr_over_10 = sm
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .min_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| lrs[i] / 10.0);
    Ok(Finding {
        points,
        suggested_lr,
        min_loss_lr_over_10,
        stopped_early,
    })
}

/// lr_find.csv, lr_find.json, lr_find.png and lr_find.svg in `dir`.
pub fn write(dir: &Path, f: &Finding, title: &str) -> Result<()> {
    let mut csv = String::from("step,lr,loss,smoothed_loss\n");
    for p in &f.points {
        csv.push_str(&format!(
            "{},{:.6e},{:.6},{:.6}\n",
            p.step, p.lr, p.loss, p.smoothed
        ));
    }
    write_atomic(&dir.join("lr_find.csv"), csv.as_bytes())?;
    let json = serde_json::json!({
        "suggested_lr": f.suggested_lr,
        "min_loss_lr_over_10": f.min_loss_lr_over_10,
        "steps": f.points.len(),
        "stopped_early": f.stopped_early,
    });
    write_atomic(&dir.join("lr_find.json"), format!("{json:#}\n").as_bytes())?;
    crate::report::register_font();
    crate::render_png_svg!(dir, "lr_find", "lr range test", (900, 520), plot, f, title);
    Ok(())
}

fn plot<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    f: &Finding,
    title: &str,
) -> std::result::Result<(), String> {
    let pts: Vec<(f64, f64)> = f
        .points
        .iter()
        .filter(|p| p.smoothed.is_finite())
        .map(|p| (p.lr, p.smoothed))
        .collect();
    let (x0, x1) = (
        pts.first().map_or(1e-7, |p| p.0),
        pts.last()
            .map_or(10.0, |p| p.0)
            .max(pts.first().map_or(1e-7, |p| p.0) * 10.0),
    );
    let lo = pts.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    // Cap the view at 4x the minimum, where the test stops anyway.
    let hi = pts
        .iter()
        .map(|p| p.1)
        .fold(f64::NEG_INFINITY, f64::max)
        .min(lo * EXPLODE);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let pad = (hi - lo) * 0.05;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{title}: lr range test"), ("sans-serif", 20))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((x0..x1).log_scale(), (lo - pad)..(hi + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("learning rate (log scale)")
        .y_desc("smoothed training loss")
        .x_label_formatter(&|x| format!("{x:.0e}"))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(LineSeries::new(
            pts.iter().map(|&(x, y)| (x, y.min(hi + pad))),
            BLUE.stroke_width(2),
        ))
        .map_err(|e| e.to_string())?;
    if let Some(s) = f.suggested_lr
        && let Some(&(x, y)) = pts.iter().find(|p| p.0 >= s)
    {
        chart
            .draw_series([Circle::new((x, y), 7, RED.filled())])
            .map_err(|e| e.to_string())?;
        chart
            .draw_series([Text::new(
                format!("suggested lr {s:.1e}"),
                (x, y + (hi - lo) * 0.06),
                ("sans-serif", 16).into_font().color(&RED),
            )])
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
