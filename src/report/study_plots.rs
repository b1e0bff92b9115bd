//! The study figures, each as PNG and SVG: accuracy and loss per epoch for every variant
//! (mean line, ± one std band over seeds), final test accuracy per variant (bars with
//! ± std), and for two numeric axes (lr x batch size) a heat map of mean test accuracy.

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use crate::error::Result;
use crate::report::heatmap::{heatmap, numeric_axes};
use crate::report::se;
use crate::report::study::{Group, ReportText, Stat, StudyData};
use crate::run::EpochMetrics;

use crate::report::{DrawResult, Figure};

pub fn draw_all(data: &StudyData, text: &ReportText) -> Result<Vec<Figure>> {
    super::register_font();
    let root = data.root.as_path();
    let mut figures = Vec::new();
    let metric = curve_metric(data);
    if data.runs.iter().any(|r| !r.rows.is_empty()) {
        figures.push(crate::render_png_svg!(
            root,
            "curves",
            format!(
                "{} and loss per epoch (mean, band ± 1 std over seeds)",
                metric.0
            ),
            (1200, 480),
            curves,
            data,
            metric
        ));
    }
    if text.variants.iter().any(|g| g.test.n > 0) {
        let h = (120 + 34 * text.variants.len()).clamp(260, 1400) as u32;
        figures.push(crate::render_png_svg!(
            root,
            "final",
            "final test accuracy per variant (± 1 std over seeds)",
            (1000, h),
            bars,
            &text.variants
        ));
    }
    if let Some((ax, ay)) = numeric_axes(data) {
        let title = format!(
            "mean test accuracy: {} x {}",
            data.index.axes[ax].name, data.index.axes[ay].name
        );
        figures.push(crate::render_png_svg!(
            root,
            "heatmap",
            title,
            (760, 620),
            heatmap,
            data,
            ax,
            ay
        ));
    }
    Ok(figures)
}

/// Test accuracy per epoch when every run has it, else validation accuracy.
fn curve_metric(data: &StudyData) -> (&'static str, bool) {
    let all_test = data
        .runs
        .iter()
        .flat_map(|r| &r.rows)
        .all(|r| r.test_acc.is_some());
    if all_test {
        ("test accuracy", true)
    } else {
        ("validation accuracy", false)
    }
}

/// Per epoch: (epoch, mean, std) of a metric over the seeds of one variant.
fn per_epoch(
    data: &StudyData,
    variant: usize,
    f: &dyn Fn(&EpochMetrics) -> Option<f64>,
) -> Vec<(f64, f64, f64)> {
    let runs: Vec<_> = (data.runs.iter())
        .filter(|r| r.variant == variant && !r.repeat)
        .collect();
    let max = runs.iter().map(|r| r.rows.len()).max().unwrap_or(0);
    (1..=max)
        .filter_map(|e| {
            let xs: Vec<f64> = runs
                .iter()
                .filter_map(|r| r.rows.iter().find(|row| row.epoch == e).and_then(f))
                .filter(|x| x.is_finite())
                .collect();
            let s = Stat::of(&xs);
            (s.n > 0).then_some((e as f64, s.mean, s.std))
        })
        .collect()
}

fn curves<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &StudyData,
    metric: (&str, bool),
) -> DrawResult {
    let (left, right) = area.split_horizontally(area.dim_in_pixel().0 / 2);
    let use_test = metric.1;
    let acc =
        move |r: &EpochMetrics| if use_test { r.test_acc } else { r.val_acc }.map(|a| a * 100.0);
    let loss = move |r: &EpochMetrics| if use_test { r.test_loss } else { r.val_loss };
    let loss_name = if use_test {
        "test loss"
    } else {
        "validation loss"
    };
    // Accuracy rises and loss falls: put each legend where the curves usually are not.
    panel(
        &left,
        data,
        &format!("{} (%)", metric.0),
        &acc,
        SeriesLabelPosition::LowerRight,
    )?;
    panel(
        &right,
        data,
        loss_name,
        &loss,
        SeriesLabelPosition::UpperRight,
    )
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &StudyData,
    y_name: &str,
    f: &dyn Fn(&EpochMetrics) -> Option<f64>,
    legend: SeriesLabelPosition,
) -> DrawResult {
    let lines: Vec<Vec<(f64, f64, f64)>> = (0..data.index.variants.len())
        .map(|v| per_epoch(data, v, f))
        .collect();
    let epochs = lines
        .iter()
        .flat_map(|l| l.iter().map(|p| p.0))
        .fold(1.0, f64::max);
    let (lo, hi) = lines
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &(_, m, s)| {
            (a.min(m - s), b.max(m + s))
        });
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.06).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(y_name, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(0.8f64..epochs + 0.2, (lo - pad)..(hi + pad))
        .map_err(se)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc(y_name)
        .x_labels((epochs as usize).min(12) + 1)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(se)?;
    for (v, line) in lines.iter().enumerate() {
        if line.is_empty() {
            continue;
        }
        let color = Palette99::pick(v).to_rgba();
        let mut band: Vec<(f64, f64)> = line.iter().map(|&(e, m, s)| (e, m + s)).collect();
        band.extend(line.iter().rev().map(|&(e, m, s)| (e, m - s)));
        chart
            .draw_series(std::iter::once(Polygon::new(
                band,
                color.mix(0.18).filled(),
            )))
            .map_err(se)?;
        let pts: Vec<(f64, f64)> = line.iter().map(|&(e, m, _)| (e, m)).collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(se)?
            .label(data.index.variants[v].name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(se)?;
    }
    chart
        .configure_series_labels()
        .position(legend)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(se)
}

fn bars<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, groups: &[Group]) -> DrawResult {
    let n = groups.len();
    let shown: Vec<&Group> = groups.iter().filter(|g| g.test.n > 0).collect();
    let lo = shown
        .iter()
        .map(|g| (g.test.mean - g.test.std) * 100.0)
        .fold(f64::INFINITY, f64::min);
    let hi = shown
        .iter()
        .map(|g| (g.test.mean + g.test.std) * 100.0)
        .fold(f64::NEG_INFINITY, f64::max);
    // The axis starts near the worst variant, not at 0, so close results stay readable.
    let lo = (lo - (hi - lo).max(1.0) * 0.5).max(0.0).floor();
    let hi = (hi + (hi - lo).max(1.0) * 0.15).min(100.0);
    let label_width = groups.iter().map(|g| g.label.len()).max().unwrap_or(8) as u32 * 8 + 20;
    let labels: Vec<String> = groups.iter().map(|g| g.label.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption("final test accuracy (%)", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(label_width.min(420))
        .build_cartesian_2d(lo..hi, (0..n.saturating_sub(1)).into_segmented())
        .map_err(se)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("test accuracy (%)")
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(se)?;
    for (i, g) in groups.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        if g.test.n == 0 {
            let why = if g.diverged > 0 {
                "diverged"
            } else {
                "not run"
            };
            chart
                .draw_series(std::iter::once(Text::new(
                    why.to_string(),
                    (lo + (hi - lo) * 0.02, SegmentValue::CenterOf(i)),
                    ("sans-serif", 14).into_font().color(&RED),
                )))
                .map_err(se)?;
            continue;
        }
        let (m, s) = (g.test.mean * 100.0, g.test.std * 100.0);
        let mut bar = Rectangle::new(
            [
                (lo, SegmentValue::Exact(i)),
                (m, SegmentValue::Exact(i + 1)),
            ],
            color.mix(0.75).filled(),
        );
        bar.set_margin(5, 5, 0, 0);
        chart.draw_series(std::iter::once(bar)).map_err(se)?;
        if g.test.n > 1 {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![
                        (m - s, SegmentValue::CenterOf(i)),
                        (m + s, SegmentValue::CenterOf(i)),
                    ],
                    BLACK.stroke_width(2),
                )))
                .map_err(se)?;
        }
        chart
            .draw_series(std::iter::once(Text::new(
                format!("{m:.2}"),
                (m + s + (hi - lo) * 0.01, SegmentValue::CenterOf(i)),
                ("sans-serif", 13).into_font(),
            )))
            .map_err(se)?;
    }
    Ok(())
}
