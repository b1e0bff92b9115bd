//! curves.png: loss and accuracy per epoch for train, val and test, side by side.

use std::path::Path;

use plotters::prelude::*;

use crate::error::Result;
use crate::run::EpochMetrics;

type Series = (&'static str, RGBColor, Vec<(f64, f64)>);

fn series(rows: &[EpochMetrics], loss: bool) -> Vec<Series> {
    let pick = |f: &dyn Fn(&EpochMetrics) -> Option<f64>| {
        rows.iter()
            .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
            .collect::<Vec<_>>()
    };
    let scale = if loss { 1.0 } else { 100.0 };
    vec![
        (
            "train",
            BLUE,
            pick(&|r| {
                Some(if loss {
                    r.train_loss
                } else {
                    r.train_acc * scale
                })
            }),
        ),
        (
            "val",
            RGBColor(230, 120, 0),
            pick(&|r| {
                if loss {
                    r.val_loss
                } else {
                    r.val_acc.map(|a| a * scale)
                }
            }),
        ),
        (
            "test",
            RGBColor(0, 150, 60),
            pick(&|r| {
                if loss {
                    r.test_loss
                } else {
                    r.test_acc.map(|a| a * scale)
                }
            }),
        ),
    ]
    .into_iter()
    .filter(|(_, _, pts)| !pts.is_empty())
    .collect()
}

fn panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    data: &[Series],
    epochs: usize,
) -> std::result::Result<(), String> {
    let finite: Vec<f64> = data
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y))
        .filter(|y| y.is_finite())
        .collect();
    let (lo, hi) = finite
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &y| {
            (a.min(y), b.max(y))
        });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.08).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(
            0.8f64..(epochs as f64 + 0.2).max(1.2),
            (lo - pad)..(hi + pad),
        )
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_label)
        .x_labels(epochs.min(12) + 1)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    for (name, color, pts) in data {
        let pts: Vec<_> = pts.iter().copied().filter(|(_, y)| y.is_finite()).collect();
        let c = *color;
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, c.filled())))
            .map_err(|e| e.to_string())?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

pub fn draw(path: &Path, rows: &[EpochMetrics], title: &str) -> Result<()> {
    super::register_font();
    let epochs = rows.last().map_or(1, |r| r.epoch);
    let tmp = path.with_extension("png.tmp.png");
    let result = (|| -> std::result::Result<(), String> {
        let root = BitMapBackend::new(&tmp, (1100, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (left, right) = root.split_horizontally(550);
        panel(
            &left,
            &format!("{title}: loss"),
            "cross-entropy",
            &series(rows, true),
            epochs,
        )?;
        panel(
            &right,
            &format!("{title}: accuracy"),
            "accuracy (%)",
            &series(rows, false),
            epochs,
        )?;
        root.present().map_err(|e| e.to_string())
    })();
    super::finish_png(&tmp, path, result)
}
