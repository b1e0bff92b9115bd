//! `convlab report runs/<study>`: tables (Markdown and CSV) of every variant and every axis
//! with mean ± std over seeds, whether the winner's lead is larger than the seed noise
//! (Welch's t-test), the figures, and one self-contained report.html.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::error::{Error, Result, read_file, write_atomic};
use crate::experiment::sweep::StudyIndex;

/// One epoch of one run, as read back from metrics.csv.
#[derive(Debug, Clone, Default)]
pub struct EpochRow {
    pub epoch: usize,
    pub val_loss: Option<f64>,
    pub val_acc: Option<f64>,
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct RunResult {
    pub variant: usize,
    pub seed: u64,
    /// completed, early-stopped, diverged, or "missing" (not run yet / interrupted).
    pub status: String,
    pub best_val_acc: Option<f64>,
    pub test_acc: Option<f64>,
    pub best_epoch: usize,
    pub seconds: f64,
    pub rows: Vec<EpochRow>,
}

impl RunResult {
    pub fn finished(&self) -> bool {
        self.status == "completed" || self.status == "early-stopped"
    }
}

/// Mean and sample standard deviation.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stat {
    pub n: usize,
    pub mean: f64,
    pub std: f64,
}

impl Stat {
    pub fn of(xs: &[f64]) -> Self {
        let n = xs.len();
        if n == 0 {
            return Self::default();
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = if n > 1 {
            xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64
        } else {
            0.0
        };
        Self {
            n,
            mean,
            std: var.sqrt(),
        }
    }

    fn show(&self, scale: f64, digits: usize) -> String {
        if self.n == 0 {
            "n/a".into()
        } else if self.n == 1 {
            format!("{:.digits$}", self.mean * scale)
        } else {
            format!(
                "{:.digits$} ± {:.digits$}",
                self.mean * scale,
                self.std * scale
            )
        }
    }
}

/// One row of a table: a group of runs (a variant, or one value of one axis).
#[derive(Debug, Clone)]
pub struct Group {
    pub label: String,
    pub finished: usize,
    pub diverged: usize,
    pub missing: usize,
    pub best_val: Stat,
    pub test: Stat,
    pub epochs_to_best: Stat,
    pub seconds: Stat,
    pub test_accs: Vec<f64>,
}

fn group(label: String, runs: &[&RunResult]) -> Group {
    let done: Vec<&&RunResult> = runs.iter().filter(|r| r.finished()).collect();
    let pick = |f: &dyn Fn(&RunResult) -> Option<f64>| -> Vec<f64> {
        done.iter().filter_map(|r| f(r)).collect()
    };
    let test_accs = pick(&|r| r.test_acc);
    Group {
        label,
        finished: done.len(),
        diverged: runs.iter().filter(|r| r.status == "diverged").count(),
        missing: runs.iter().filter(|r| r.status == "missing").count(),
        best_val: Stat::of(&pick(&|r| r.best_val_acc)),
        test: Stat::of(&test_accs),
        epochs_to_best: Stat::of(&pick(&|r| Some(r.best_epoch as f64))),
        seconds: Stat::of(&pick(&|r| Some(r.seconds))),
        test_accs,
    }
}

pub struct StudyData {
    pub root: PathBuf,
    pub index: StudyIndex,
    pub runs: Vec<RunResult>,
}

impl StudyData {
    pub fn load(root: &Path) -> Result<Self> {
        let path = root.join("study.json");
        let bytes = read_file(&path).map_err(|_| {
            Error::input(
                root.display(),
                "not a study folder (no study.json); give runs/<study> as written by `convlab sweep`",
            )
        })?;
        let index: StudyIndex = serde_json::from_slice(&bytes)
            .map_err(|e| Error::input(path.display(), format!("corrupt study index: {e}")))?;
        let runs = index
            .trials
            .iter()
            .map(|t| read_run(&root.join(&t.dir), t.variant, t.seed))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            root: root.to_path_buf(),
            index,
            runs,
        })
    }

    pub fn variant_groups(&self) -> Vec<Group> {
        (0..self.index.variants.len())
            .map(|v| {
                let runs: Vec<&RunResult> = self.runs.iter().filter(|r| r.variant == v).collect();
                // With one axis the table's first column is that axis: show just its value.
                let label = match self.index.variants[v].values.as_slice() {
                    [only] => only.clone(),
                    _ => self.index.variants[v].name.clone(),
                };
                group(label, &runs)
            })
            .collect()
    }

    /// The distinct values of axis `a`, in study order.
    pub fn axis_values(&self, a: usize) -> Vec<String> {
        let mut values: Vec<String> = Vec::new();
        for v in &self.index.variants {
            if !values.contains(&v.values[a]) {
                values.push(v.values[a].clone());
            }
        }
        values
    }

    /// One group per value of axis `a`, over every seed and every value of the other axes.
    pub fn axis_groups(&self, a: usize) -> Vec<Group> {
        self.axis_values(a)
            .into_iter()
            .map(|value| {
                let runs: Vec<&RunResult> = self
                    .runs
                    .iter()
                    .filter(|r| self.index.variants[r.variant].values[a] == value)
                    .collect();
                group(value, &runs)
            })
            .collect()
    }
}

fn read_run(dir: &Path, variant: usize, seed: u64) -> Result<RunResult> {
    let mut run = RunResult {
        variant,
        seed,
        status: "missing".into(),
        best_val_acc: None,
        test_acc: None,
        best_epoch: 0,
        seconds: 0.0,
        rows: Vec::new(),
    };
    if let Ok(text) = std::fs::read_to_string(dir.join("metrics.csv")) {
        run.rows =
            parse_metrics(&text).map_err(|e| Error::input(dir.join("metrics.csv").display(), e))?;
    }
    let summary_path = dir.join("summary.json");
    if let Ok(bytes) = std::fs::read(&summary_path) {
        let s: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::input(summary_path.display(), format!("corrupt summary: {e}")))?;
        let f = |k: &str| s.get(k).and_then(|v| v.as_f64());
        run.status = s
            .get("status")
            .and_then(|v| v.as_str())
            .unwrap_or("missing")
            .into();
        run.best_val_acc = f("best_val_acc");
        run.test_acc = f("test_acc");
        run.best_epoch = f("best_epoch").unwrap_or(0.0) as usize;
        run.seconds = f("seconds").unwrap_or(0.0);
    }
    Ok(run)
}

fn parse_metrics(text: &str) -> std::result::Result<Vec<EpochRow>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let epoch = col("epoch").ok_or("no epoch column")?;
    let cols = ["val_loss", "val_acc", "test_loss", "test_acc"].map(col);
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let get =
                |c: Option<usize>| c.and_then(|i| f.get(i)).and_then(|s| s.parse::<f64>().ok());
            Ok(EpochRow {
                epoch: f
                    .get(epoch)
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("bad row `{line}`"))?,
                val_loss: get(cols[0]),
                val_acc: get(cols[1]),
                test_loss: get(cols[2]),
                test_acc: get(cols[3]),
            })
        })
        .collect()
}

/// Welch's t-test of two samples: (t, degrees of freedom, two-sided p).
pub fn welch(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    let (sa, sb) = (Stat::of(a), Stat::of(b));
    if sa.n < 2 || sb.n < 2 {
        return None;
    }
    let (va, vb) = (sa.std.powi(2) / sa.n as f64, sb.std.powi(2) / sb.n as f64);
    if va + vb == 0.0 {
        return None;
    }
    let t = (sa.mean - sb.mean) / (va + vb).sqrt();
    let df = (va + vb).powi(2) / (va.powi(2) / (sa.n - 1) as f64 + vb.powi(2) / (sb.n - 1) as f64);
    let dist = StudentsT::new(0.0, 1.0, df).ok()?;
    let p = 2.0 * (1.0 - dist.cdf(t.abs()));
    Some((t, df, p))
}

/// The verdict in words: is the best variant's lead over the runner-up larger than the
/// seed-to-seed noise?
/// The group with the highest mean test accuracy (the first of equals).
pub fn best_index(groups: &[Group]) -> Option<usize> {
    (0..groups.len())
        .filter(|&i| groups[i].test.n > 0)
        .fold(None, |best: Option<usize>, i| match best {
            Some(b) if groups[b].test.mean >= groups[i].test.mean => Some(b),
            _ => Some(i),
        })
}

pub fn verdict(groups: &[Group]) -> String {
    let mut ranked: Vec<&Group> = groups.iter().filter(|g| g.test.n > 0).collect();
    // Stable: among equal means the first in study order leads, as in the tables.
    ranked.sort_by(|a, b| b.test.mean.total_cmp(&a.test.mean));
    let pct = |s: &Stat| format!("{:.2}%", s.mean * 100.0);
    match ranked.as_slice() {
        [] => "No run has finished yet.".into(),
        [only] => format!(
            "Only {} has finished runs (test {}).",
            only.label,
            pct(&only.test)
        ),
        [best, second, ..] => {
            let gap = (best.test.mean - second.test.mean) * 100.0;
            let head = format!(
                "Best: {} with test accuracy {} over {} seed(s); runner-up: {} with {} ({:.2} points behind).",
                best.label,
                best.test.show(100.0, 2),
                best.test.n,
                second.label,
                second.test.show(100.0, 2),
                gap
            );
            let judgement = match welch(&best.test_accs, &second.test_accs) {
                _ if gap.abs() < 1e-9 => "The two are tied.".to_string(),
                None if best.test.n < 2 || second.test.n < 2 => {
                    "With one seed per variant the seed noise is unknown: run study.seeds >= 3 to tell noise from effect.".to_string()
                }
                None => "Every seed gave the same accuracy, so any gap is beyond the seed noise.".to_string(),
                Some((t, df, p)) if p < 0.05 => format!(
                    "The lead is larger than the seed noise: Welch's t = {t:.2}, df = {df:.1}, p = {p:.3} (< 0.05)."
                ),
                Some((t, df, p)) => format!(
                    "The lead is NOT clearly larger than the seed noise: Welch's t = {t:.2}, df = {df:.1}, p = {p:.2} (>= 0.05); more seeds would tell."
                ),
            };
            format!("{head} {judgement}")
        }
    }
}

/// Column titles of every study table; the test accuracy is column 3.
pub fn header(first: &str) -> [String; 6] {
    [
        first.to_string(),
        "runs".into(),
        "best val acc (%)".into(),
        "test acc (%)".into(),
        "epochs to best".into(),
        "seconds".into(),
    ]
}

fn runs_cell(g: &Group) -> String {
    let mut s = g.finished.to_string();
    if g.diverged > 0 {
        s.push_str(&format!(" +{} diverged", g.diverged));
    }
    if g.missing > 0 {
        s.push_str(&format!(" +{} not run", g.missing));
    }
    s
}

pub fn cells(g: &Group) -> Vec<String> {
    vec![
        g.label.clone(),
        runs_cell(g),
        g.best_val.show(100.0, 2),
        g.test.show(100.0, 2),
        g.epochs_to_best.show(1.0, 1),
        g.seconds.show(1.0, 1),
    ]
}

pub fn markdown_table(first: &str, groups: &[Group]) -> String {
    let mut out = format!(
        "| {} |\n|---|---:|---:|---:|---:|---:|\n",
        header(first).join(" | ")
    );
    let best = best_index(groups);
    for (i, g) in groups.iter().enumerate() {
        let mut c = cells(g);
        if Some(i) == best {
            c[3] = format!("**{}**", c[3]);
        }
        let _ = writeln!(out, "| {} |", c.join(" | "));
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv(data: &StudyData, groups: &[Group]) -> String {
    let axes: Vec<&str> = data.index.axes.iter().map(|a| a.name.as_str()).collect();
    let mut out = format!(
        "variant,{}{}finished,diverged,missing,best_val_acc_mean,best_val_acc_std,test_acc_mean,test_acc_std,epochs_to_best_mean,epochs_to_best_std,seconds_mean,seconds_std\n",
        axes.join(","),
        if axes.is_empty() { "" } else { "," }
    );
    for (g, v) in groups.iter().zip(&data.index.variants) {
        let opt = |s: &Stat, d: usize| {
            if s.n == 0 {
                ",".to_string()
            } else {
                format!("{:.d$},{:.d$}", s.mean, s.std)
            }
        };
        let mut fields = vec![csv_field(&g.label)];
        fields.extend(v.values.iter().map(|x| csv_field(x)));
        fields.extend([
            g.finished.to_string(),
            g.diverged.to_string(),
            g.missing.to_string(),
        ]);
        fields.extend([
            opt(&g.best_val, 6),
            opt(&g.test, 6),
            opt(&g.epochs_to_best, 2),
            opt(&g.seconds, 2),
        ]);
        let _ = writeln!(out, "{}", fields.join(","));
    }
    out
}

/// Everything the report says, computed once for Markdown, HTML and the terminal.
pub struct ReportText {
    pub title: String,
    pub variants: Vec<Group>,
    /// (axis name, its groups), for studies of two or more axes.
    pub per_axis: Vec<(String, Vec<Group>)>,
    pub verdict: String,
    pub diverged: Vec<String>,
}

pub fn summarize(data: &StudyData) -> ReportText {
    let variants = data.variant_groups();
    let per_axis = if data.index.axes.len() > 1 {
        data.index
            .axes
            .iter()
            .enumerate()
            .map(|(i, a)| (a.name.clone(), data.axis_groups(i)))
            .collect()
    } else {
        Vec::new()
    };
    let diverged = data
        .runs
        .iter()
        .filter(|r| r.status == "diverged")
        .map(|r| format!("{} seed-{}", data.index.variants[r.variant].name, r.seed))
        .collect();
    ReportText {
        title: format!("Study {}", data.index.name),
        verdict: verdict(&variants),
        variants,
        per_axis,
        diverged,
    }
}

fn markdown(data: &StudyData, r: &ReportText, figures: &[String]) -> String {
    let first = if data.index.axes.len() == 1 {
        data.index.axes[0].name.clone()
    } else {
        "variant".into()
    };
    let sets: String = data
        .index
        .overrides
        .iter()
        .map(|o| format!(" --set {o}"))
        .collect();
    let mut out = format!(
        "# {}\n\nStudy file `{}`{}; {} variants x {} seeds. Mean ± std over seeds; test accuracy is that of the weights each run ends with.\n\n",
        r.title,
        data.index.study_file.display(),
        if sets.is_empty() {
            String::new()
        } else {
            format!(" (with{sets})")
        },
        data.index.variants.len(),
        data.index.seeds.len()
    );
    out.push_str(&markdown_table(&first, &r.variants));
    for (axis, groups) in &r.per_axis {
        let _ = write!(
            out,
            "\n### By {axis} (over all other axes and seeds)\n\n{}",
            markdown_table(axis, groups)
        );
    }
    let _ = writeln!(out, "\n{}", r.verdict);
    if !r.diverged.is_empty() {
        let _ = writeln!(
            out,
            "\nDiverged: {} (see their summary.json for the diagnosis).",
            r.diverged.join(", ")
        );
    }
    for f in figures {
        let _ = writeln!(out, "\n![{f}]({f}.png)");
    }
    out
}

/// Write report.md, report.csv, the figures and report.html into the study folder;
/// returns the Markdown for the terminal.
pub fn write(root: &Path) -> Result<String> {
    let data = StudyData::load(root)?;
    let text = summarize(&data);
    let figures = super::study_plots::draw_all(&data, &text)?;
    let names: Vec<String> = figures.iter().map(|f| f.name.clone()).collect();
    let md = markdown(&data, &text, &names);
    write_atomic(&root.join("report.md"), md.as_bytes())?;
    write_atomic(
        &root.join("report.csv"),
        csv(&data, &text.variants).as_bytes(),
    )?;
    let html = super::html::page(&data, &text, &figures);
    write_atomic(&root.join("report.html"), html.as_bytes())?;
    Ok(md)
}

/// Group runs by a key (used by the heat map).
pub fn by_key<K: Ord>(
    runs: &[RunResult],
    key: impl Fn(&RunResult) -> K,
) -> BTreeMap<K, Vec<&RunResult>> {
    let mut m: BTreeMap<K, Vec<&RunResult>> = BTreeMap::new();
    for r in runs {
        m.entry(key(r)).or_default().push(r);
    }
    m
}
