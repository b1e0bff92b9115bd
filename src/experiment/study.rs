//! A study: one base run plus axes to vary, expanded into trials (variant x seed) and fully
//! checked before anything trains.
//!
//! ```toml
//! [study]
//! base = "mnist.toml"      # optional run config to start from (relative to this file)
//! seeds = 3                # or a list: seeds = [0, 7, 42]
//! sampling = "grid"        # or "random" with trials = N and sample_seed
//! [study.axes]
//! optimizer = ["sgd", "adam"]               # short names, or any dotted run-config key
//! lr = [1e-2, 1e-3]                         # random sampling also takes
//! # lr = { log_uniform = [1e-4, 1e-1] }     #   ranges: log_uniform, uniform
//! [train]                  # every other key overrides the base run, as in `convlab train`
//! epochs = 2
//! ```

use std::path::{Path, PathBuf};

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::experiment::config::RunConfig;

/// Short axis names for the keys studies vary most; any dotted config key works too.
pub const AXIS_ALIASES: &[(&str, &str)] = &[
    ("optimizer", "optimizer.name"),
    ("lr", "optimizer.lr"),
    ("momentum", "optimizer.momentum"),
    ("weight_decay", "optimizer.weight_decay"),
    ("batch_size", "train.batch_size"),
    ("epochs", "train.epochs"),
    ("label_smoothing", "train.label_smoothing"),
    ("schedule", "schedule.name"),
    ("activation", "model.activation"),
    ("dropout", "model.dropout"),
    ("batch_norm", "model.batch_norm"),
    ("init", "model.init"),
    ("preset", "model.preset"),
    ("model", "model.preset"),
    ("dataset", "data.dataset"),
    ("hflip", "data.hflip"),
    ("crop_padding", "data.crop_padding"),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StudySpec {
    name: Option<String>,
    base: Option<PathBuf>,
    #[serde(default)]
    seeds: Option<Seeds>,
    #[serde(default = "grid")]
    sampling: String,
    #[serde(default)]
    trials: usize,
    #[serde(default)]
    sample_seed: u64,
    #[serde(default)]
    axes: toml::Table,
}

fn grid() -> String {
    "grid".into()
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Seeds {
    Count(usize),
    List(Vec<u64>),
}

/// The values one axis takes.
#[derive(Debug, Clone)]
enum Domain {
    Values(Vec<toml::Value>),
    Uniform(f64, f64),
    LogUniform(f64, f64),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Axis {
    /// As written in the study file.
    pub name: String,
    /// The dotted run-config key it sets.
    pub key: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    /// Folder name, e.g. `optimizer=adam,lr=0.001`.
    pub name: String,
    /// The value of each axis, in axis order, as text.
    pub values: Vec<String>,
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
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| Error::input(&origin, e.message().replace('\n', " ")))?;
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
            Some(b) => {
                let b = path.parent().unwrap_or(Path::new(".")).join(b);
                let t = std::fs::read_to_string(&b).map_err(|e| Error::io(&b, e))?;
                t.parse::<toml::Table>()
                    .map_err(|e| Error::input(b.display(), e.message().replace('\n', " ")))?
            }
            None => toml::Table::new(),
        };
        merge(&mut run, table);
        if !overrides.is_empty() {
            let text =
                crate::experiment::config::apply_overrides(&run.to_string(), &origin, overrides)?;
            run = text.parse().map_err(|e: toml::de::Error| {
                Error::input(&origin, e.message().replace('\n', " "))
            })?;
        }
        let name = spec
            .name
            .clone()
            .or_else(|| run.get("name").and_then(|v| v.as_str()).map(String::from))
            .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "study".into());
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(Error::input(
                &origin,
                format!("study name \"{name}\" is not a folder name"),
            ));
        }

        let (axes, domains) = parse_axes(&spec, &origin)?;
        let base_seed = run.get("seed").and_then(|v| v.as_integer()).unwrap_or(0) as u64;
        let seeds = match spec.seeds.take() {
            None => vec![base_seed],
            Some(Seeds::Count(0)) => {
                return Err(Error::input(&origin, "study.seeds must be at least 1"));
            }
            Some(Seeds::Count(n)) => (0..n as u64).map(|i| base_seed + i).collect(),
            Some(Seeds::List(l)) if l.is_empty() => {
                return Err(Error::input(&origin, "study.seeds: the list is empty"));
            }
            Some(Seeds::List(l)) => l,
        };
        let points = sample(&spec, &domains, &origin)?;

        let mut variants = Vec::with_capacity(points.len());
        let mut configs = Vec::with_capacity(points.len());
        for point in &points {
            let values: Vec<String> = point.iter().map(value_text).collect();
            let vname = if axes.is_empty() {
                "base".to_string()
            } else {
                axes.iter()
                    .zip(&values)
                    .map(|(a, v)| format!("{}={}", a.name, v.replace(['/', '\\', ' '], "_")))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let mut t = run.clone();
            for (axis, v) in axes.iter().zip(point) {
                set_key(&mut t, &axis.key, v.clone());
            }
            let where_ = format!("{origin} (variant {vname})");
            let mut cfg = RunConfig::parse(&t.to_string(), &where_)?;
            cfg.resolve();
            cfg.validate(&where_)?;
            configs.push(cfg);
            variants.push(Variant {
                name: vname,
                values,
            });
        }
        if let Some(d) = duplicates(&variants) {
            return Err(Error::input(
                &origin,
                format!("variant {d} appears twice; remove the repeated axis value"),
            ));
        }

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
            axes,
            seeds,
            variants,
            trials,
        })
    }

    /// The run folder of a trial: `<runs>/<study>/<variant>/seed-N`.
    pub fn trial_dir(&self, runs_dir: &Path, t: &Trial) -> PathBuf {
        runs_dir
            .join(&self.name)
            .join(&self.variants[t.variant].name)
            .join(format!("seed-{}", t.seed))
    }
}

fn parse_axes(spec: &StudySpec, origin: &str) -> Result<(Vec<Axis>, Vec<Domain>)> {
    let known = serde_json::to_value(RunConfig::default()).unwrap_or_default();
    let mut axes = Vec::new();
    let mut domains = Vec::new();
    for (name, value) in &spec.axes {
        let bad = |problem: String| Error::input(origin, format!("axis {name}: {problem}"));
        let key = AXIS_ALIASES
            .iter()
            .find(|(a, _)| a == name)
            .map_or(name.clone(), |(_, k)| k.to_string());
        if key == "seed" || key == "name" {
            return Err(bad(
                "use study.seeds to repeat runs; the run name is set per trial".into(),
            ));
        }
        let exists = key
            .split('.')
            .try_fold(&known, |v, part| v.get(part))
            .is_some_and(|v| !v.is_object())
            || key == "data.path";
        if !exists {
            let aliases: Vec<&str> = AXIS_ALIASES.iter().map(|(a, _)| *a).collect();
            return Err(bad(format!(
                "unknown axis (expected a run-config key such as optimizer.lr, or one of: {})",
                aliases.join(", ")
            )));
        }
        let domain =
            match value {
                toml::Value::Array(v) if v.is_empty() => return Err(bad("no values".into())),
                toml::Value::Array(v) => Domain::Values(v.clone()),
                toml::Value::Table(t) => {
                    let range =
                        |k: &str| -> Option<Result<(f64, f64)>> {
                            let v = t.get(k)?;
                            let pair = v.as_array().filter(|a| a.len() == 2).and_then(|a| {
                                let num = |x: &toml::Value| {
                                    x.as_float().or_else(|| x.as_integer().map(|i| i as f64))
                                };
                                Some((num(&a[0])?, num(&a[1])?))
                            });
                            Some(pair.filter(|(lo, hi)| lo < hi).ok_or_else(|| {
                                bad(format!("{k} needs [low, high] with low < high"))
                            }))
                        };
                    if t.len() != 1 {
                        return Err(bad(
                            "a range is one of { uniform = [lo, hi] }, { log_uniform = [lo, hi] }"
                                .into(),
                        ));
                    }
                    match (range("uniform"), range("log_uniform")) {
                        (Some(r), _) => {
                            let (lo, hi) = r?;
                            Domain::Uniform(lo, hi)
                        }
                        (_, Some(r)) => {
                            let (lo, hi) = r?;
                            if lo <= 0.0 {
                                return Err(bad("log_uniform needs a positive low end".into()));
                            }
                            Domain::LogUniform(lo, hi)
                        }
                        _ => return Err(bad(
                            "a range is one of { uniform = [lo, hi] }, { log_uniform = [lo, hi] }"
                                .into(),
                        )),
                    }
                }
                other => Domain::Values(vec![other.clone()]),
            };
        if !matches!(domain, Domain::Values(_)) && spec.sampling != "random" {
            return Err(bad("a range needs study.sampling = \"random\"".into()));
        }
        axes.push(Axis {
            name: name.clone(),
            key,
        });
        domains.push(domain);
    }
    Ok((axes, domains))
}

/// The axis points to train: the full grid, or `trials` random points.
fn sample(spec: &StudySpec, domains: &[Domain], origin: &str) -> Result<Vec<Vec<toml::Value>>> {
    let lists: Option<Vec<&Vec<toml::Value>>> = domains
        .iter()
        .map(|d| match d {
            Domain::Values(v) => Some(v),
            _ => None,
        })
        .collect();
    let grid = |lists: &[&Vec<toml::Value>]| {
        let mut points: Vec<Vec<toml::Value>> = vec![Vec::new()];
        for values in lists {
            points = points
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.push(v.clone());
                        q
                    })
                })
                .collect();
        }
        points
    };
    match spec.sampling.as_str() {
        "grid" => Ok(grid(&lists.unwrap_or_default())),
        "random" => {
            if spec.trials == 0 {
                return Err(Error::input(
                    origin,
                    "sampling = \"random\" needs study.trials = N (N >= 1)",
                ));
            }
            let mut rng = rand::rngs::StdRng::seed_from_u64(spec.sample_seed);
            if let Some(lists) = lists {
                // Only lists: distinct grid points, without replacement.
                let mut points = grid(&lists);
                points.shuffle(&mut rng);
                points.truncate(spec.trials);
                return Ok(points);
            }
            Ok((0..spec.trials)
                .map(|_| {
                    domains
                        .iter()
                        .map(|d| match d {
                            Domain::Values(v) => v
                                .choose(&mut rng)
                                .cloned()
                                .unwrap_or(toml::Value::Boolean(false)),
                            Domain::Uniform(lo, hi) => {
                                toml::Value::Float(round3(rng.random_range(*lo..*hi)))
                            }
                            Domain::LogUniform(lo, hi) => {
                                toml::Value::Float(round3(rng.random_range(lo.ln()..hi.ln()).exp()))
                            }
                        })
                        .collect()
                })
                .collect())
        }
        other => Err(Error::input(
            origin,
            format!("study.sampling: unknown value \"{other}\" (expected grid or random)"),
        )),
    }
}

/// Three significant digits, so sampled values make readable folder names.
fn round3(x: f64) -> f64 {
    format!("{x:.2e}").parse().unwrap_or(x)
}

pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) => format!("{f}"),
        toml::Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join("+"),
        other => other.to_string(),
    }
}

fn duplicates(variants: &[Variant]) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    variants
        .iter()
        .find(|v| !seen.insert(&v.name))
        .map(|v| v.name.clone())
}

/// Deep-merge `top` into `base` (tables merge, everything else replaces).
fn merge(base: &mut toml::Table, top: toml::Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn set_key(table: &mut toml::Table, key: &str, value: toml::Value) {
    let parts: Vec<&str> = key.split('.').collect();
    let mut cur = table;
    for part in &parts[..parts.len() - 1] {
        let entry = cur
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        cur = entry.as_table_mut().expect("just made a table");
    }
    cur.insert(parts[parts.len() - 1].to_string(), value);
}
