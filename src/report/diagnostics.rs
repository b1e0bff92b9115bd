//! What `convlab eval` shows beyond accuracy: per-class accuracy, the confusion matrix (table,
//! CSV, PNG/SVG) and a grid of the most confidently wrong test images (fastai's top losses).

use std::fmt::Write as _;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use crate::data::Dataset;
use crate::error::{Error, Result, write_atomic};
use crate::report::{DrawResult, csv_field, md_cell, se};

#[derive(Debug, Clone, Serialize)]
pub struct ClassResult {
    pub class: String,
    pub images: u64,
    pub correct: u64,
    pub accuracy: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnostics {
    pub images: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub per_class: Vec<ClassResult>,
    /// confusion[true][predicted]
    pub confusion: Vec<Vec<u64>>,
    /// (image index, true, predicted, probability of the prediction, loss), worst first.
    #[serde(skip)]
    pub top_losses: Vec<(usize, usize, usize, f32, f64)>,
}

/// From probabilities (images x classes, row-major) and labels.
pub fn diagnose(probs: &[f32], labels: &[u8], classes: &[String]) -> Diagnostics {
    let k = classes.len();
    let n = labels.len().min(probs.len() / k.max(1));
    let mut confusion = vec![vec![0u64; k]; k];
    let mut loss = 0.0;
    let mut wrong = Vec::new();
    for i in 0..n {
        let row = &probs[i * k..(i + 1) * k];
        let t = labels[i] as usize;
        let p = row
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(j, _)| j);
        let l = -(row[t].max(1e-12) as f64).ln();
        loss += l;
        confusion[t][p] += 1;
        if p != t {
            wrong.push((i, t, p, row[p], l));
        }
    }
    wrong.sort_by(|a, b| b.4.total_cmp(&a.4));
    let per_class = (0..k)
        .map(|c| {
            let images: u64 = confusion[c].iter().sum();
            ClassResult {
                class: classes[c].clone(),
                images,
                correct: confusion[c][c],
                accuracy: confusion[c][c] as f64 / images.max(1) as f64,
            }
        })
        .collect();
    let correct: u64 = (0..k).map(|c| confusion[c][c]).sum();
    Diagnostics {
        images: n,
        loss: loss / n.max(1) as f64,
        accuracy: correct as f64 / n.max(1) as f64,
        per_class,
        confusion,
        top_losses: wrong,
    }
}

impl Diagnostics {
    pub fn per_class_table(&self) -> String {
        let mut out = String::from("| class | images | accuracy (%) |\n|---|---:|---:|\n");
        for c in &self.per_class {
            let acc = match c.images {
                0 => "-".to_string(), // a class the test set has no image of
                _ => format!("{:.2}", c.accuracy * 100.0),
            };
            let _ = writeln!(out, "| {} | {} | {acc} |", md_cell(&c.class), c.images);
        }
        out
    }

    /// Rows: true class; columns: predicted class.
    pub fn confusion_table(&self) -> String {
        let names: Vec<String> = self.per_class.iter().map(|c| md_cell(&c.class)).collect();
        let mut out = format!(
            "| true \\ predicted | {} |\n|---|{}\n",
            names.join(" | "),
            "---:|".repeat(names.len())
        );
        for (name, row) in names.iter().zip(&self.confusion) {
            let cells: Vec<String> = row.iter().map(u64::to_string).collect();
            let _ = writeln!(out, "| {name} | {} |", cells.join(" | "));
        }
        out
    }

    pub fn confusion_csv(&self) -> String {
        let names: Vec<String> = self.per_class.iter().map(|c| csv_field(&c.class)).collect();
        let mut out = format!("true\\predicted,{}\n", names.join(","));
        for (name, row) in names.iter().zip(&self.confusion) {
            let cells: Vec<String> = row.iter().map(u64::to_string).collect();
            let _ = writeln!(out, "{name},{}", cells.join(","));
        }
        out
    }
}

/// confusion.png/.svg, confusion.csv, top_losses.png in `dir`.
pub fn write(dir: &Path, d: &Diagnostics, test: &Dataset, top: usize) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    crate::report::register_font();
    write_atomic(&dir.join("confusion.csv"), d.confusion_csv().as_bytes())?;
    let k = d.per_class.len();
    let side = (160 + 56 * k as u32).clamp(420, 1600);
    crate::render_png_svg!(
        dir,
        "confusion",
        "confusion matrix",
        (side + 80, side),
        confusion,
        d
    );
    if top > 0 && !d.top_losses.is_empty() {
        top_losses(&dir.join("top_losses.png"), d, test, top)?;
    }
    Ok(())
}

fn confusion<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, d: &Diagnostics) -> DrawResult {
    let k = d.per_class.len();
    let names: Vec<String> = d.per_class.iter().map(|c| c.class.clone()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(
            "confusion matrix (row: true class, column: predicted)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(110)
        .build_cartesian_2d(
            (0..k.saturating_sub(1)).into_segmented(),
            (0..k.saturating_sub(1)).into_segmented(),
        )
        .map_err(se)?;
    let fmt = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
        _ => String::new(),
    };
    // Row k-1-i so the first class is at the top, as in a table.
    let flip = |i: usize| k - 1 - i;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("predicted")
        .y_desc("true")
        .x_labels(k)
        .y_labels(k)
        .x_label_formatter(&fmt)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => names.get(flip(*i)).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()
        .map_err(se)?;
    for t in 0..k {
        let total = d.confusion[t].iter().sum::<u64>().max(1) as f64;
        for p in 0..k {
            let count = d.confusion[t][p];
            let frac = count as f64 / total;
            // White (none) to dark blue (all of the row).
            let shade = |full: f64| (255.0 - (255.0 - full) * frac.sqrt()) as u8;
            let fill = RGBColor(shade(8.0), shade(48.0), shade(107.0));
            let y = flip(t);
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [
                        (SegmentValue::Exact(p), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(p + 1), SegmentValue::Exact(y + 1)),
                    ],
                    fill.filled(),
                )))
                .map_err(se)?;
            let ink = if frac > 0.35 { WHITE } else { BLACK };
            chart
                .draw_series(std::iter::once(Text::new(
                    count.to_string(),
                    (SegmentValue::CenterOf(p), SegmentValue::CenterOf(y)),
                    ("sans-serif", 14)
                        .into_font()
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Center)),
                )))
                .map_err(se)?;
        }
    }
    Ok(())
}

/// A grid of the `top` most confidently wrong images, each with its true and predicted
/// class, the probability given to the prediction, and the loss.
fn top_losses(path: &Path, d: &Diagnostics, test: &Dataset, top: usize) -> Result<()> {
    let shown = &d.top_losses[..top.min(d.top_losses.len())];
    let cols = (shown.len() as f64).sqrt().ceil().max(1.0) as usize;
    let rows = shown.len().div_ceil(cols);
    let [c, h, w] = test.shape;
    let scale = (128 / h.max(w)).max(1) as i32;
    let (tw, th) = (w as i32 * scale, h as i32 * scale);
    let (cell_w, cell_h) = ((tw + 40).max(200), th + 70);
    let size = (
        (cols as i32 * cell_w) as u32,
        (rows as i32 * cell_h + 40) as u32,
    );
    let tmp = path.with_file_name(".top_losses.tmp.png");
    let drawn = (|| -> DrawResult {
        let root = BitMapBackend::new(&tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(se)?;
        root.draw(&Text::new(
            "most confidently wrong test images (true / predicted, probability, loss)",
            (10, 10),
            ("sans-serif", 16),
        ))
        .map_err(se)?;
        for (n, &(i, t, p, prob, loss)) in shown.iter().enumerate() {
            let (x0, y0) = (
                (n % cols) as i32 * cell_w + 20,
                (n / cols) as i32 * cell_h + 40,
            );
            let img = test.image(i);
            for y in 0..h {
                for x in 0..w {
                    let px = |ch: usize| img[ch * h * w + y * w + x];
                    let color = if c >= 3 {
                        RGBColor(px(0), px(1), px(2))
                    } else {
                        RGBColor(px(0), px(0), px(0))
                    };
                    let (px0, py0) = (x0 + x as i32 * scale, y0 + y as i32 * scale);
                    root.draw(&Rectangle::new(
                        [(px0, py0), (px0 + scale, py0 + scale)],
                        color.filled(),
                    ))
                    .map_err(se)?;
                }
            }
            let label = format!("{} / {}", d.per_class[t].class, d.per_class[p].class);
            root.draw(&Text::new(label, (x0, y0 + th + 6), ("sans-serif", 14)))
                .map_err(se)?;
            root.draw(&Text::new(
                format!("p = {prob:.2}, loss {loss:.2}"),
                (x0, y0 + th + 26),
                ("sans-serif", 13).into_font().color(&RGBColor(160, 0, 0)),
            ))
            .map_err(se)?;
        }
        root.present().map_err(se)
    })();
    super::finish_png(&tmp, path, drawn)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Class folder names as a user may have them: a comma, quotes, a `|`. Three images
    /// (true, predicted): (0, 0), (1, 0), (2, 2).
    #[test]
    fn class_names_keep_their_columns_in_csv_and_markdown() {
        let classes: Vec<String> = ["chat, noir", "été \"x\"", "dog|hound"]
            .map(String::from)
            .to_vec();
        let probs = [0.8, 0.1, 0.1, 0.6, 0.3, 0.1, 0.1, 0.2, 0.7];
        let d = diagnose(&probs, &[0, 1, 2], &classes);
        assert_eq!(
            d.confusion_csv(),
            "true\\predicted,\"chat, noir\",\"été \"\"x\"\"\",dog|hound\n\
             \"chat, noir\",1,0,0\n\
             \"été \"\"x\"\"\",1,0,0\n\
             dog|hound,0,0,1\n"
        );
        let table = d.per_class_table();
        assert!(table.contains("| dog\\|hound | 1 | 100.00 |\n"), "{table}");
        let confusion = d.confusion_table();
        assert!(
            confusion.contains("| dog\\|hound | 0 | 0 | 1 |\n"),
            "{confusion}"
        );
    }
}
