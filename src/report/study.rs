//! `convlab report runs/<study>`: tables (Markdown and CSV) of every variant and every axis
//! with mean ± std over seeds, whether the winner's lead is larger than the seed noise
//! (Welch's t-test), the figures, and one self-contained report.html.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result, write_atomic};
pub use crate::report::study_tables::{
    best_index, cells, header, markdown_table, raw_column, test_column, verdict, welch,
};
use crate::report::study_tables::{csv, markdown, other_test_sets};
use crate::run::{EpochMetrics, RunDir, Status, StudyIndex, Summary, TrialEntry, files, read_json};
use crate::text::counted;

/// One trial of a study as found on disk.
#[derive(Debug, Clone)]
pub struct RunResult {
    /// The run folder's name (a comparison's) or `variant/seed-N` (a study's).
    pub name: String,
    pub dir: PathBuf,
    /// A finished rerun of an earlier finished run's variant and seed: listed, but its numbers
    /// are not one more seed's (a same-seed copy would shrink the spread).
    pub repeat: bool,
    pub variant: usize,
    pub seed: u64,
    /// None while the run is missing (not run yet, or interrupted).
    pub summary: Option<Summary>,
    pub rows: Vec<EpochMetrics>,
    /// Its config has `train.ema_decay > 0`: its val and test numbers are the moving
    /// average's, not the trained weights'.
    pub averaged: bool,
}

impl RunResult {
    pub fn status(&self) -> Option<Status> {
        self.summary.as_ref().map(|s| s.status)
    }

    /// Completed or early-stopped.
    pub fn finished(&self) -> bool {
        self.status().is_some_and(Status::finished)
    }

    /// Finished and not a repeat: its numbers are one seed's sample.
    pub fn counts(&self) -> bool {
        self.finished() && !self.repeat
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

    pub fn show(&self, scale: f64, digits: usize) -> String {
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
    pub repeats: usize,
    pub best_val: Stat,
    /// The trained weights' own val accuracy at each run's best epoch: for a run with a moving
    /// average (metrics.csv's raw_val_acc) it differs from `best_val`, which is the average's.
    pub raw_val: Stat,
    /// Some run counted here kept a moving average of its weights.
    pub averaged: bool,
    pub test: Stat,
    pub epochs_to_best: Stat,
    pub seconds: Stat,
    pub test_accs: Vec<f64>,
}

fn group(label: String, runs: &[&RunResult]) -> Group {
    let counted: Vec<&RunResult> = runs.iter().copied().filter(|r| r.counts()).collect();
    let done: Vec<&Summary> = counted.iter().filter_map(|r| r.summary.as_ref()).collect();
    let pick = |f: &dyn Fn(&Summary) -> Option<f64>| -> Vec<f64> {
        done.iter().filter_map(|s| f(s)).collect()
    };
    let test_accs = pick(&|s| s.test_acc);
    let raw_val: Vec<f64> = counted.iter().filter_map(|r| raw_val_acc(r)).collect();
    Group {
        label,
        finished: done.len(),
        diverged: runs
            .iter()
            .filter(|r| r.status() == Some(Status::Diverged))
            .count(),
        missing: runs.iter().filter(|r| r.summary.is_none()).count(),
        repeats: runs.iter().filter(|r| r.repeat).count(),
        best_val: Stat::of(&pick(&|s| s.best_val_acc)),
        raw_val: Stat::of(&raw_val),
        averaged: counted.iter().any(|r| r.averaged),
        test: Stat::of(&test_accs),
        epochs_to_best: Stat::of(&pick(&|s| Some(s.best_epoch as f64))),
        seconds: Stat::of(&pick(&|s| Some(s.seconds))),
        test_accs,
    }
}

/// A finished run's trained weights' own val accuracy at its best epoch: the summary's for
/// a run without a moving average, else that epoch's raw_val_acc in metrics.csv.
fn raw_val_acc(run: &RunResult) -> Option<f64> {
    let summary = run.summary.as_ref()?;
    if !run.averaged {
        return summary.best_val_acc;
    }
    let row = run.rows.iter().find(|m| m.epoch == summary.best_epoch)?;
    row.raw_val_acc
}

pub struct StudyData {
    pub root: PathBuf,
    pub index: StudyIndex,
    pub runs: Vec<RunResult>,
}

impl StudyData {
    pub fn load(root: &Path) -> Result<Self> {
        let path = root.join(files::STUDY_INDEX);
        let index: StudyIndex = read_json(&path, "corrupt study index")?.ok_or_else(|| {
            Error::input(
                root.display(),
                "not a study folder (no study.json) or a run folder (no config.toml); give runs/<study> as `convlab sweep` writes it, or run folders to compare",
            )
        })?;
        let mut runs = index
            .trials
            .iter()
            .map(|t| read_run(root, t))
            .collect::<Result<Vec<_>>>()?;
        let mut seen = std::collections::HashSet::new();
        for r in runs.iter_mut().filter(|r| r.finished()) {
            r.repeat = !seen.insert((r.variant, r.seed));
        }
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

fn read_run(root: &Path, trial: &TrialEntry) -> Result<RunResult> {
    let dir = root.join(&trial.dir);
    let run = RunDir { dir: dir.clone() };
    let name = match trial.dir.is_absolute() {
        true => trial.dir.file_name().unwrap_or(trial.dir.as_os_str()),
        false => trial.dir.as_os_str(),
    };
    Ok(RunResult {
        name: name.to_string_lossy().into_owned(),
        dir,
        repeat: false,
        variant: trial.variant,
        seed: trial.seed,
        summary: run.read_summary()?,
        rows: run.read_metrics()?,
        averaged: run.read_config().is_some_and(|c| ema_decay(&c) > 0.0),
    })
}

/// `train.ema_decay` of a stored config (0 where absent, as in runs from before it existed).
/// Read from the text: the report does not depend on the trainer's config types.
fn ema_decay(config: &str) -> f64 {
    let table: Option<toml::Table> = toml::from_str(config).ok();
    let decay = table
        .as_ref()
        .and_then(|t| t.get("train")?.get("ema_decay"));
    decay
        .and_then(|d| d.as_float().or(d.as_integer().map(|i| i as f64)))
        .unwrap_or(0.0)
}

/// Everything the report says, computed once for Markdown, HTML and the terminal.
pub struct ReportText {
    pub title: String,
    pub variants: Vec<Group>,
    /// (axis name, its groups), for studies of two or more axes.
    pub per_axis: Vec<(String, Vec<Group>)>,
    pub verdict: String,
    /// Runs of one config and one seed (a rerun): whether they reproduce each other.
    pub repeats: Vec<String>,
    pub diverged: Vec<String>,
}

/// Whether axis `a`'s table would repeat another: a zipped axis groups the variants as its
/// zip partners do (the lr table of `zip = ["optimizer", "lr"]` is the optimizer table), and
/// with no other axis as the variant table itself.
fn repeats_a_table(data: &StudyData, a: usize) -> bool {
    let axes = &data.index.axes;
    if axes[a].zip.is_none() {
        return false;
    }
    // Each variant's first variant with the same value: equal vectors, equal groupings.
    let grouping = |key: &dyn Fn(&[String]) -> Vec<String>| -> Vec<usize> {
        let vs = &data.index.variants;
        vs.iter()
            .map(|v| {
                vs.iter()
                    .position(|w| key(&w.values) == key(&v.values))
                    .unwrap_or(0)
            })
            .collect()
    };
    let own = grouping(&|v| vec![v[a].clone()]);
    own == grouping(&|v| v.to_vec())
        || (0..a).any(|b| axes[b].zip == axes[a].zip && grouping(&|v| vec![v[b].clone()]) == own)
}

pub fn summarize(data: &StudyData) -> ReportText {
    let variants = data.variant_groups();
    let per_axis = if data.index.axes.len() > 1 {
        data.index
            .axes
            .iter()
            .enumerate()
            .filter(|&(i, _)| !repeats_a_table(data, i))
            .map(|(i, a)| (a.name.clone(), data.axis_groups(i)))
            .collect()
    } else {
        Vec::new()
    };
    let diverged = data
        .runs
        .iter()
        .filter(|r| r.status() == Some(Status::Diverged))
        .map(|r| format!("{} seed-{}", data.index.variants[r.variant].name, r.seed))
        .collect();
    ReportText {
        title: match data.index.study_file.as_os_str().is_empty() {
            true => format!("Comparison of {}", counted(data.index.trials.len(), "run")),
            false => format!("Study {}", data.index.name),
        },
        verdict: other_test_sets(&data.index.axes).unwrap_or_else(|| verdict(&variants)),
        repeats: super::repeats::lines(data),
        variants,
        per_axis,
        diverged,
    }
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

/// Group runs by a key (the heat map's cells, a rerun's set).
pub fn by_key<'a, K: Ord>(
    runs: impl IntoIterator<Item = &'a RunResult>,
    key: impl Fn(&RunResult) -> K,
) -> BTreeMap<K, Vec<&'a RunResult>> {
    let mut m: BTreeMap<K, Vec<&RunResult>> = BTreeMap::new();
    for r in runs {
        m.entry(key(r)).or_default().push(r);
    }
    m
}
