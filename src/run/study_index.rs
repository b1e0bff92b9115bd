//! study.json: what a report needs to find and label every run of a study.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::text::counted;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StudyIndex {
    pub name: String,
    pub study_file: PathBuf,
    /// `--set` overrides of the base run the study was swept with.
    #[serde(default)]
    pub overrides: Vec<String>,
    pub axes: Vec<Axis>,
    pub seeds: Vec<u64>,
    pub variants: Vec<Variant>,
    pub trials: Vec<TrialEntry>,
}

impl StudyIndex {
    /// Where the study came from, for a report's first line: its study file, or the run
    /// folders of a comparison (`convlab report RUN_DIR...`, no study file).
    pub fn source(&self) -> String {
        if self.study_file.as_os_str().is_empty() {
            let dirs: Vec<String> = self
                .trials
                .iter()
                .map(|t| format!("`{}`", t.dir.display()))
                .collect();
            format!("Runs {}", dirs.join(", "))
        } else {
            format!("Study file `{}`", self.study_file.display())
        }
    }

    /// How the runs are laid out, for a report's first line: `5 variants x 3 seeds` for a
    /// study; for a comparison, whose variants need not share seeds and whose runs may
    /// repeat one (a rerun), `2 runs: 1 variant, seed 0`.
    pub fn shape(&self) -> String {
        let (v, s) = (self.variants.len(), self.seeds.len());
        if !self.study_file.as_os_str().is_empty() {
            return format!("{} x {}", counted(v, "variant"), counted(s, "seed"));
        }
        let seeds: Vec<String> = self.seeds.iter().map(u64::to_string).collect();
        let seeds = match seeds.len() {
            1 => format!("seed {}", seeds[0]),
            2..=8 => format!("seeds {}", seeds.join(", ")),
            n => format!("{n} seeds"),
        };
        format!(
            "{}: {}, {seeds}",
            counted(self.trials.len(), "run"),
            counted(v, "variant")
        )
    }
}

/// One varied setting of a study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Axis {
    /// As written in the study file.
    pub name: String,
    /// The dotted run-config key it sets.
    pub key: String,
    /// The `study.zip` group it moves with (its values pair up with the group's other axes'
    /// values instead of crossing them); none for an axis crossed with all others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<usize>,
}

/// One point of the axes: a combination of axis values.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    /// Folder name, e.g. `optimizer=adam,lr=0.001`.
    pub name: String,
    /// The value of each axis, in axis order, as text.
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialEntry {
    pub index: usize,
    pub variant: usize,
    pub seed: u64,
    /// Relative to the study folder.
    pub dir: PathBuf,
}
