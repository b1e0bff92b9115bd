//! What `convlab eval` shows beyond accuracy: per-class accuracy (recall), precision and F1
//! with their macro averages (scikit-learn's classification_report), the most confused pairs
//! (fastai's most_confused), the confusion matrix (table, CSV, PNG/SVG) and a grid of the most
//! confidently wrong test images (fastai's top losses).

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
    /// correct / images: the class's recall.
    pub accuracy: f64,
    /// correct / images predicted as the class; None when none was.
    pub precision: Option<f64>,
    /// Harmonic mean of precision and recall; 0 when either is 0 or undefined.
    pub f1: f64,
}

/// Unweighted means over the classes that have test images or predictions, an undefined
/// precision counted as 0: scikit-learn's `average="macro"` with `zero_division=0`.
#[derive(Debug, Clone, Serialize)]
pub struct MacroAverage {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// `images` of class `true_class` predicted as `predicted`.
#[derive(Debug, Clone, Serialize)]
pub struct Confusion {
    pub true_class: String,
    pub predicted: String,
    pub images: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Diagnostics {
    pub images: usize,
    pub loss: f64,
    pub accuracy: f64,
    pub per_class: Vec<ClassResult>,
    pub macro_average: MacroAverage,
    /// Every off-diagonal cell of the confusion matrix that is not 0, largest first.
    pub most_confused: Vec<Confusion>,
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
    let predicted = |c: usize| -> u64 { confusion.iter().map(|row| row[c]).sum() };
    let per_class: Vec<ClassResult> = (0..k)
        .map(|c| {
            let images: u64 = confusion[c].iter().sum();
            let correct = confusion[c][c];
            let recall = correct as f64 / images.max(1) as f64;
            let precision = match predicted(c) {
                0 => None,
                p => Some(correct as f64 / p as f64),
            };
            let p = precision.unwrap_or(0.0);
            ClassResult {
                class: classes[c].clone(),
                images,
                correct,
                accuracy: recall,
                precision,
                f1: if p + recall > 0.0 {
                    2.0 * p * recall / (p + recall)
                } else {
                    0.0
                },
            }
        })
        .collect();
    let seen: Vec<&ClassResult> = per_class
        .iter()
        .filter(|c| c.images > 0 || c.precision.is_some())
        .collect();
    let mean = |f: &dyn Fn(&ClassResult) -> f64| {
        seen.iter().map(|c| f(c)).sum::<f64>() / seen.len().max(1) as f64
    };
    let macro_average = MacroAverage {
        precision: mean(&|c| c.precision.unwrap_or(0.0)),
        recall: mean(&|c| c.accuracy),
        f1: mean(&|c| c.f1),
    };
    let mut most_confused: Vec<Confusion> = (0..k)
        .flat_map(|t| (0..k).map(move |p| (t, p)))
        .filter(|&(t, p)| t != p && confusion[t][p] > 0)
        .map(|(t, p)| Confusion {
            true_class: classes[t].clone(),
            predicted: classes[p].clone(),
            images: confusion[t][p],
        })
        .collect();
    most_confused.sort_by_key(|c| std::cmp::Reverse(c.images));
    let correct: u64 = (0..k).map(|c| confusion[c][c]).sum();
    Diagnostics {
        images: n,
        loss: loss / n.max(1) as f64,
        accuracy: correct as f64 / n.max(1) as f64,
        per_class,
        macro_average,
        most_confused,
        confusion,
        top_losses: wrong,
    }
}

impl Diagnostics {
    /// Per class: images, accuracy (recall), precision and F1, then their macro average.
    pub fn per_class_table(&self) -> String {
        let pct = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{:.2}", x * 100.0));
        let mut out = String::from(
            "| class | images | accuracy (%) | precision (%) | F1 (%) |\n|---|---:|---:|---:|---:|\n",
        );
        for c in &self.per_class {
            // A class the test set has no image of has no accuracy.
            let acc = pct((c.images > 0).then_some(c.accuracy));
            let f1 = pct((c.images > 0 || c.precision.is_some()).then_some(c.f1));
            let _ = writeln!(
                out,
                "| {} | {} | {acc} | {} | {f1} |",
                md_cell(&c.class),
                c.images,
                pct(c.precision)
            );
        }
        let m = &self.macro_average;
        let _ = writeln!(
            out,
            "| macro average | {} | {:.2} | {:.2} | {:.2} |",
            self.images,
            m.recall * 100.0,
            m.precision * 100.0,
            m.f1 * 100.0
        );
        out
    }

    /// The `n` largest off-diagonal cells: "4 as 9 (123), 9 as 7 (96)".
    pub fn most_confused_line(&self, n: usize) -> String {
        let pairs: Vec<String> = (self.most_confused.iter().take(n))
            .map(|c| format!("{} as {} ({})", c.true_class, c.predicted, c.images))
            .collect();
        pairs.join(", ")
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
        // dog|hound: 1 image, right (100%), predicted once (precision 100%, F1 100%).
        assert!(
            table.contains("| dog\\|hound | 1 | 100.00 | 100.00 | 100.00 |\n"),
            "{table}"
        );
        let confusion = d.confusion_table();
        assert!(
            confusion.contains("| dog\\|hound | 0 | 0 | 1 |\n"),
            "{confusion}"
        );
    }
}
