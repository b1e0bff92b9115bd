//! The heat map of mean test accuracy over two numeric axes (e.g. lr x batch size).

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::report::DrawResult;
use crate::report::se;
use crate::report::study::{Stat, StudyData, by_key};

/// The first two axes whose every value is a number, e.g. lr and batch_size, and that are
/// not zipped together (zipped axes fill only a diagonal).
pub fn numeric_axes(data: &StudyData) -> Option<(usize, usize)> {
    let axes = &data.index.axes;
    let numeric: Vec<usize> = (0..axes.len())
        .filter(|&a| {
            data.index
                .variants
                .iter()
                .all(|v| v.values[a].parse::<f64>().is_ok())
        })
        .collect();
    numeric.iter().enumerate().find_map(|(i, &x)| {
        numeric[i + 1..]
            .iter()
            .find(|&&y| axes[x].zip.is_none() || axes[x].zip != axes[y].zip)
            .map(|&y| (x, y))
    })
}

/// An axis's values in numeric order (for the heat map's rows and columns).
fn sorted_values(data: &StudyData, a: usize) -> Vec<String> {
    let mut vals = data.axis_values(a);
    vals.sort_by(|x, y| {
        let p = |s: &str| s.parse::<f64>().unwrap_or(0.0);
        p(x).total_cmp(&p(y))
    });
    vals
}

/// Viridis-like: dark blue (low) through teal to yellow (high).
fn colormap(t: f64) -> RGBColor {
    let stops = [
        (68.0, 1.0, 84.0),
        (33.0, 145.0, 140.0),
        (253.0, 231.0, 37.0),
    ];
    let t = t.clamp(0.0, 1.0) * 2.0;
    let (a, b, u) = if t < 1.0 {
        (stops[0], stops[1], t)
    } else {
        (stops[1], stops[2], t - 1.0)
    };
    let mix = |x: f64, y: f64| (x + (y - x) * u) as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Mean test accuracy of the finished runs of every (x value, y value) cell that has any.
fn cell_means(data: &StudyData, ax: usize, ay: usize) -> BTreeMap<(String, String), f64> {
    let cells = by_key(&data.runs, |r| {
        let v = &data.index.variants[r.variant].values;
        (v[ax].clone(), v[ay].clone())
    });
    cells
        .into_iter()
        .filter_map(|(key, runs)| {
            let accs: Vec<f64> = runs
                .iter()
                .filter(|r| r.counts())
                .filter_map(|r| r.summary.as_ref()?.test_acc)
                .collect();
            (!accs.is_empty()).then(|| (key, Stat::of(&accs).mean))
        })
        .collect()
}

pub fn heatmap<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &StudyData,
    ax: usize,
    ay: usize,
) -> DrawResult {
    let xs = sorted_values(data, ax);
    let ys = sorted_values(data, ay);
    let means = cell_means(data, ax, ay);
    let mean = |x: &str, y: &str| means.get(&(x.to_string(), y.to_string())).copied();
    let values: Vec<f64> = xs
        .iter()
        .flat_map(|x| ys.iter().filter_map(|y| mean(x, y)))
        .collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (xn, yn) = (
        data.index.axes[ax].name.clone(),
        data.index.axes[ay].name.clone(),
    );
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("mean test accuracy (%): {xn} x {yn}"),
            ("sans-serif", 20),
        )
        .margin(14)
        .x_label_area_size(44)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (0..xs.len().saturating_sub(1)).into_segmented(),
            (0..ys.len().saturating_sub(1)).into_segmented(),
        )
        .map_err(se)?;
    let fmt = |vals: &[String], v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => vals.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(xn.as_str())
        .y_desc(yn.as_str())
        .x_labels(xs.len())
        .y_labels(ys.len())
        .x_label_formatter(&|v| fmt(&xs, v))
        .y_label_formatter(&|v| fmt(&ys, v))
        .draw()
        .map_err(se)?;
    for (i, x) in xs.iter().enumerate() {
        for (j, y) in ys.iter().enumerate() {
            let m = mean(x, y);
            let fill = match m {
                Some(m) if hi > lo => colormap((m - lo) / (hi - lo)),
                Some(_) => colormap(1.0),
                None => RGBColor(200, 200, 200),
            };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(i), SegmentValue::Exact(j)),
                        (SegmentValue::Exact(i + 1), SegmentValue::Exact(j + 1)),
                    ],
                    fill.filled(),
                )))
                .map_err(se)?;
            let (label, ink) = cell_label(m, lo, hi);
            chart
                .draw_series(std::iter::once(Text::new(
                    label,
                    (SegmentValue::CenterOf(i), SegmentValue::CenterOf(j)),
                    ("sans-serif", 16)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )))
                .map_err(se)?;
        }
    }
    Ok(())
}

/// A cell's text, and an ink that reads on its colour.
fn cell_label(m: Option<f64>, lo: f64, hi: f64) -> (String, RGBColor) {
    let label = m.map_or("diverged / not run".to_string(), |m| {
        format!("{:.2}", m * 100.0)
    });
    let ink = if m.is_some_and(|m| hi > lo && (m - lo) / (hi - lo) > 0.6) {
        BLACK
    } else {
        WHITE
    };
    let ink = if m.is_none() { BLACK } else { ink };
    (label, ink)
}
