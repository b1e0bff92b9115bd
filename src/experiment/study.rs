//! A study: one base run plus axes to vary, expanded into trials (variant x seed) and fully
//! checked before anything trains.
//!
//! ```toml
//! [study]
//! base = "mnist.toml"      # optional run config to start from (relative to this file)
//! seeds = 3                # or a list: seeds = [0, 7, 42]
//! sampling = "grid"        # or "random" with trials = N and sample_seed
//! zip = ["optimizer", "lr"] # optional: these axes pair up value by value instead of crossing
//! [study.axes]
//! optimizer = ["sgd", "adam"]               # short names, or any dotted run-config key
//! lr = [1e-1, 1e-3]                         # random sampling also takes
//! # lr = { log_uniform = [1e-4, 1e-1] }     #   ranges: log_uniform, uniform
//! [train]                  # every other key overrides the base run, as in `convlab train`
//! epochs = 2
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::experiment::config::{given_keys, merge, read_table, run_config};
use crate::experiment::overrides::{apply_sets, blame_set, set_dotted, set_key};
use crate::experiment::study_axes::{Sampling, apply_zip, parse_axes, sample, value_text};
use crate::run::{Axis, StudyIndex, TrialEntry, Variant};
use crate::train::config::RunConfig;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudySpec {
    name: Option<String>,
    base: Option<PathBuf>,
    #[serde(default)]
    seeds: Option<Seeds>,
    #[serde(default = "grid")]
    sampling: Sampling,
    #[serde(default)]
    trials: usize,
    #[serde(default)]
    sample_seed: u64,
    #[serde(default)]
    axes: toml::Table,
    zip: Option<toml::Value>,
}

fn grid() -> Sampling {
    Sampling::Grid
}

/// Signed, so that `-1` is answered as a bad seed rather than serde's "did not match any
/// variant of untagged enum".
#[derive(Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "a count of seeds (3) or a list of seeds, whole numbers from 0 ([0, 1, 2])"
)]
enum Seeds {
    Count(i64),
    List(Vec<i64>),
}

#[derive(Debug, Clone)]
pub struct Trial {
    pub index: usize,
    pub variant: usize,
    pub seed: u64,
    pub cfg: RunConfig,
}

#[derive(Debug, Clone)]
pub struct Study {
    pub name: String,
    pub path: PathBuf,
    /// `--set` overrides of the base run, passed on to child processes and job files.
    pub overrides: Vec<String>,
    pub axes: Vec<Axis>,
    /// The keys the base run, this file, its `--set`s and its axes write (for the unread-key
    /// warnings).
    pub given: BTreeSet<String>,
    pub seeds: Vec<u64>,
    pub variants: Vec<Variant>,
    /// Seed-major: every variant once with the first seed, then again with the next, so an
    /// interrupted study already compares every variant.
    pub trials: Vec<Trial>,
}

impl Study {
    /// Read, expand and validate a study file; `overrides` (`--set KEY=VALUE`) change the
    /// base run before the axes apply. Every trial's config is checked here.
    pub fn load(path: &Path, overrides: &[String]) -> Result<Self> {
        let origin = path.display().to_string();
        let mut table = read_table(path)?;
        // `--set study.seeds=1`: the study's own settings, before they are read.
        let (study_sets, run_sets): (Vec<String>, Vec<String>) =
            (overrides.iter().cloned()).partition(|o| o.trim_start().starts_with("study."));
        if table.contains_key("study") {
            apply_sets(&mut table, &study_sets)?;
        }
        let spec_value = table.remove("study").ok_or_else(|| {
            Error::input(
                &origin,
                "no [study] table: this is a run config; use `convlab train`",
            )
        })?;
        let mut spec: StudySpec = spec_value.try_into().map_err(|e: toml::de::Error| {
            Error::input(&origin, format!("[study]: {}", e.message().trim()))
        })?;

        // The run every variant starts from: the base file, then this file's own keys.
        let mut run = match &spec.base {
            Some(b) => read_table(&path.parent().unwrap_or(Path::new(".")).join(b))?,
            None => toml::Table::new(),
        };
        merge(&mut run, table);
        apply_sets(&mut run, &run_sets)?;
        // A `--set name=` beats the file's [study] name (not a `--set study.name=`): what the
        // user typed last wins, as for any other key.
        let named = |sets: &[String], key| sets.iter().any(|o| set_key(o) == key);
        if named(&run_sets, "name") && !named(&study_sets, "study.name") {
            spec.name = None;
        }
        let name = study_name(&spec, &run, path, &origin)?;

        let (mut axes, domains) = parse_axes(&spec.axes, spec.sampling, &origin)?;
        check_sets_miss_axes(&run_sets, &axes)?;
        apply_zip(spec.zip.take(), &mut axes, &domains, &origin)?;
        let seeds = seeds(spec.seeds.take(), &run, &origin)?;
        let points = sample(
            &axes,
            &domains,
            spec.sampling,
            spec.trials,
            spec.sample_seed,
            &origin,
        )?;

        let mut variants = Vec::with_capacity(points.len());
        let mut configs = Vec::with_capacity(points.len());
        for point in &points {
            let values: Vec<String> = point.iter().map(value_text).collect();
            let vname = variant_name(&axes, &values);
            let where_ = format!("{origin} (variant {vname})");
            let mut t = run.clone();
            for (axis, v) in axes.iter().zip(point) {
                set_dotted(&mut t, &axis.key, v.clone())
                    .map_err(|e| Error::input(&where_, format!("{}: {e}", axis.key)))?;
            }
            configs.push(run_config(t, &where_).map_err(|e| blame_set(e, &run_sets))?);
            variants.push(Variant {
                name: vname,
                values,
            });
        }
        if let Some(d) = duplicate(&variants) {
            return Err(Error::input(
                &origin,
                format!("variant {d} appears twice; remove the repeated axis value"),
            ));
        }

        let mut given = given_keys(&run, &[]);
        given.extend(axes.iter().map(|a| a.key.clone()));
        let mut trials = Vec::new();
        for &seed in &seeds {
            for (v, cfg) in configs.iter().enumerate() {
                let mut cfg = cfg.clone();
                cfg.seed = seed;
                cfg.name = format!("{name}/{}/seed-{seed}", variants[v].name);
                trials.push(Trial {
                    index: trials.len(),
                    variant: v,
                    seed,
                    cfg,
                });
            }
        }
        Ok(Self {
            name,
            path: path.to_path_buf(),
            overrides: overrides.to_vec(),
            given,
            axes,
            seeds,
            variants,
            trials,
        })
    }

    /// The run folder of a trial: `<runs>/<study>/<variant>/seed-N`.
    pub fn trial_dir(&self, runs_dir: &Path, t: &Trial) -> PathBuf {
        runs_dir.join(&self.name).join(self.trial_rel_dir(t))
    }

    fn trial_rel_dir(&self, t: &Trial) -> PathBuf {
        Path::new(&self.variants[t.variant].name).join(format!("seed-{}", t.seed))
    }

    /// study.json's content.
    pub fn index(&self) -> StudyIndex {
        StudyIndex {
            name: self.name.clone(),
            study_file: self.path.clone(),
            overrides: self.overrides.clone(),
            axes: self.axes.clone(),
            seeds: self.seeds.clone(),
            variants: self.variants.clone(),
            trials: self
                .trials
                .iter()
                .map(|t| TrialEntry {
                    index: t.index,
                    variant: t.variant,
                    seed: t.seed,
                    dir: self.trial_rel_dir(t),
                })
                .collect(),
        }
    }
}

/// `study.name`, else the run's `name`, else the file stem; it must be a folder name.
fn study_name(spec: &StudySpec, run: &toml::Table, path: &Path, origin: &str) -> Result<String> {
    let name = spec
        .name
        .clone()
        .or_else(|| run.get("name").and_then(|v| v.as_str()).map(String::from))
        .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "study".into());
    match crate::run::folder_name_problem(&name) {
        Some(problem) => Err(Error::input(origin, format!("study name {problem}"))),
        None => Ok(name),
    }
}

/// `seeds = N` counts up from the base run's seed; a list is taken as given.
fn seeds(spec: Option<Seeds>, run: &toml::Table, origin: &str) -> Result<Vec<u64>> {
    let base_seed = run.get("seed").and_then(|v| v.as_integer()).unwrap_or(0) as u64;
    let list = match spec {
        None => return Ok(vec![base_seed]),
        Some(Seeds::Count(n)) if n < 1 => {
            return Err(Error::input(origin, "study.seeds must be at least 1"));
        }
        Some(Seeds::Count(n)) => return Ok((0..n as u64).map(|i| base_seed + i).collect()),
        Some(Seeds::List(l)) if l.is_empty() => {
            return Err(Error::input(origin, "study.seeds: the list is empty"));
        }
        Some(Seeds::List(l)) => l,
    };
    let problem = |p: String| Err(Error::input(origin, format!("study.seeds: {p}")));
    if let Some(bad) = list.iter().find(|&&s| s < 0) {
        return problem(format!(
            "{bad} is not a seed (seeds are whole numbers from 0)"
        ));
    }
    // Two trials of one seed would share a run folder, the second skipped as done.
    if let Some((_, s)) = (list.iter().enumerate()).find(|&(i, s)| list[..i].contains(s)) {
        return problem(format!("seed {s} appears twice"));
    }
    Ok(list.into_iter().map(|s| s as u64).collect())
}

/// A `--set` of a key the study varies would be overwritten in every variant, silently.
fn check_sets_miss_axes(sets: &[String], axes: &[Axis]) -> Result<()> {
    for set in sets {
        if let Some(axis) = axes.iter().find(|a| a.key == set_key(set)) {
            return Err(Error::input(
                format!("--set {set}"),
                format!(
                    "{} is this study's axis `{}`, which sets it in every variant; to train fewer of its values, --set study.axes.{}=[...]",
                    axis.key, axis.name, axis.name
                ),
            ));
        }
    }
    Ok(())
}

/// `axis=value,axis=value` (path separators and spaces replaced), or "base" without axes.
fn variant_name(axes: &[Axis], values: &[String]) -> String {
    if axes.is_empty() {
        return "base".to_string();
    }
    axes.iter()
        .zip(values)
        .map(|(a, v)| format!("{}={}", a.name, v.replace(['/', '\\', ' '], "_")))
        .collect::<Vec<_>>()
        .join(",")
}

fn duplicate(variants: &[Variant]) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    variants
        .iter()
        .find(|v| !seen.insert(&v.name))
        .map(|v| v.name.clone())
}
