//! lr-find's files: lr_find.csv (every step), lr_find.json (the suggestions) and the plot of
//! the smoothed loss against the lr, as PNG and SVG.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::error::{Result, write_atomic};
use crate::run::{LR_FIND_EXPLODE, LrFinding, files};

/// lr_find.csv, lr_find.json, lr_find.png and lr_find.svg in `dir`.
pub fn write(dir: &Path, f: &LrFinding, title: &str) -> Result<()> {
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
        "steepest_lr": f.steepest_lr,
        "min_loss_lr_over_10": f.min_loss_lr_over_10,
        "steps": f.points.len(),
        "stopped_early": f.stopped_early,
    });
    write_atomic(&dir.join(files::LR_FIND), format!("{json:#}\n").as_bytes())?;
    crate::report::register_font();
    crate::render_png_svg!(dir, "lr_find", "lr range test", (900, 520), plot, f, title);
    Ok(())
}

fn plot<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    f: &LrFinding,
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
        .min(lo * LR_FIND_EXPLODE);
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
    // The suggestion in red, the two other rules smaller and grey, their labels stacked.
    let marks = [
        (f.suggested_lr, "suggested lr", RED, 7, 0.06),
        (f.steepest_lr, "steepest", RGBColor(110, 110, 110), 4, 0.12),
        (
            f.min_loss_lr_over_10,
            "min-loss / 10",
            RGBColor(110, 110, 110),
            4,
            0.18,
        ),
    ];
    for (lr, label, color, size, lift) in marks {
        let Some(s) = lr else { continue };
        let Some(&(x, y)) = pts.iter().find(|p| p.0 >= s) else {
            continue;
        };
        chart
            .draw_series([Circle::new((x, y), size, color.filled())])
            .map_err(|e| e.to_string())?;
        // Labels of points in the right half end at the point, so they stay on the chart.
        let right_half = x.ln() > (x0.ln() + x1.ln()) / 2.0;
        let anchor = Pos::new(
            if right_half { HPos::Right } else { HPos::Left },
            VPos::Bottom,
        );
        chart
            .draw_series([Text::new(
                format!("{label} {s:.1e}"),
                (x, y + (hi - lo) * lift),
                ("sans-serif", 16).into_font().color(&color).pos(anchor),
            )])
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
