//! `convlab report RUN_DIR...`: runs trained one at a time (`convlab train`, by hand or by
//! a script) compared as a study is. The config keys the runs differ in become the axes
//! (moving together, as one `study.zip` group: nobody crossed them); runs whose configs
//! differ only in seed and name are one variant's seeds. The comparison folder gets a
//! study.json that points at the runs, so `convlab report FOLDER` redraws it later.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::experiment::config::{flat_values, read_stored};
use crate::experiment::study_axes::AXIS_ALIASES;
use crate::run::{Axis, StudyIndex, TrialEntry, Variant, files, write_json};
use crate::train::unused_keys::unread_among;

/// More differing keys than this and a variant is labelled by its runs' names.
const MAX_LABEL_KEYS: usize = 3;

/// An axis value of a run that does not read the key; left out of its variant's name.
const UNREAD: &str = "";

/// Keys that name or seed a run rather than configure it.
const NOT_AXES: [&str; 2] = ["name", "seed"];

/// Write the comparison of `runs` into `out` (study.json, report.md/.csv/.html, figures);
/// returns the Markdown.
pub fn write(runs: &[PathBuf], out: &Path) -> Result<String> {
    let index = index(runs)?;
    if out.join(files::CONFIG).exists() {
        return Err(Error::input(
            out.display(),
            "holds a run; choose another --out for the comparison",
        ));
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    write_json(&out.join(files::STUDY_INDEX), &index)?;
    crate::report::study::write(out)
}

/// The run folders among `dirs` as a shell glob gives them (`convlab report runs/*`): a
/// folder that exists but holds no run (an earlier comparison, an lr-find, a study, an
/// eval's output) is skipped with a warning naming it; with no run left, or a path that
/// does not exist, the first such is the error, as for one folder.
pub fn runs_among(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let (runs, others): (Vec<&PathBuf>, Vec<&PathBuf>) =
        dirs.iter().partition(|d| not_a_run(d).is_none());
    if runs.is_empty() || others.iter().any(|d| !d.is_dir()) {
        let first = dirs.iter().find_map(|d| not_a_run(d));
        return Err(first.unwrap_or_else(|| Error::input("report", "give at least one run folder")));
    }
    for dir in others {
        let what = if dir.join(files::LR_FIND).is_file() {
            "an lr-find result"
        } else if dir.join(files::STUDY_INDEX).is_file() {
            "a study or an earlier comparison (report it on its own)"
        } else {
            "not a run folder (no config.toml)"
        };
        eprintln!("warning: {}: {what}; skipped", dir.display());
    }
    Ok(runs.into_iter().cloned().collect())
}

/// Why `dir` is not a training run's folder, None when it is one. An lr-find folder holds
/// a config.toml too.
fn not_a_run(dir: &Path) -> Option<Error> {
    if dir.join(files::LR_FIND).is_file() {
        return Some(Error::input(
            dir.display(),
            "an lr-find result, not a training run (its plot and table are lr_find.png and lr_find.csv)",
        ));
    }
    (!dir.join(files::CONFIG).is_file()).then(|| {
        Error::input(
            dir.display(),
            "not a run folder (no config.toml); give run folders as `convlab train` writes them, or one study folder",
        )
    })
}

/// The study index of `runs`: axes, variants and one trial per run.
pub fn index(runs: &[PathBuf]) -> Result<StudyIndex> {
    let mut configs = Vec::with_capacity(runs.len());
    for dir in runs {
        if let Some(e) = not_a_run(dir) {
            return Err(e);
        }
        let cfg = read_stored(&dir.join(files::CONFIG))?;
        let seed = cfg.seed;
        let mut values = flat_values(&cfg)?;
        // A key the run never reads (momentum under Adam) does not tell it apart.
        let unread = unread_among(&cfg, &values.keys().cloned().collect());
        values.retain(|k, _| !NOT_AXES.contains(&k.as_str()) && !unread.contains(k));
        configs.push((seed, values, unread));
    }
    if configs.is_empty() {
        return Err(Error::input("report", "give at least one run folder"));
    }
    // An axis: a key that two of the runs reading it set apart (one of them may leave it
    // unset: optimizer.eps at PyTorch's default).
    let all: BTreeSet<&String> = configs.iter().flat_map(|(_, c, _)| c.keys()).collect();
    let set_apart = |k: &&String| {
        let reading = configs.iter().filter(|(_, _, unread)| !unread.contains(*k));
        let values: BTreeSet<Option<&String>> = reading.map(|(_, c, _)| c.get(*k)).collect();
        values.len() > 1
    };
    let mut keys: Vec<String> = all.into_iter().filter(set_apart).cloned().collect();
    // The keys studies vary most first, in the aliases' order (optimizer before lr).
    let rank = |k: &String| AXIS_ALIASES.iter().position(|(_, key)| key == k);
    keys.sort_by_key(|k| (rank(k).unwrap_or(usize::MAX), k.clone()));
    let mut variants: Vec<Variant> = Vec::new();
    let mut trials = Vec::with_capacity(runs.len());
    for (i, ((seed, values, unread), dir)) in configs.iter().zip(runs).enumerate() {
        let point = axis_values(&keys, values, unread);
        let v = match variants.iter().position(|v| v.values == point) {
            Some(v) => v,
            None => {
                variants.push(variant(&keys, point));
                variants.len() - 1
            }
        };
        trials.push(TrialEntry {
            index: i,
            variant: v,
            seed: *seed,
            dir: std::path::absolute(dir).map_err(|e| Error::io(dir, e))?,
        });
    }
    // Runs that differ in many keys (`convlab report runs/*`) are told apart by their names:
    // a label of every key ran past 300 characters for 24 unrelated runs.
    if keys.len() > MAX_LABEL_KEYS {
        for (v, variant) in variants.iter_mut().enumerate() {
            let names: Vec<String> = (trials.iter().filter(|t| t.variant == v))
                .filter_map(|t| t.dir.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            variant.name = names.join("+");
        }
    }
    let mut seeds: Vec<u64> = trials.iter().map(|t| t.seed).collect();
    seeds.sort_unstable();
    seeds.dedup();
    Ok(StudyIndex {
        name: format!("comparison of {}", crate::text::counted(runs.len(), "run")),
        study_file: PathBuf::new(),
        overrides: Vec::new(),
        axes: keys
            .iter()
            .map(|k| Axis {
                name: axis_name(k),
                key: k.clone(),
                zip: Some(0),
            })
            .collect(),
        seeds,
        variants,
        trials,
    })
}

/// A key's short name where studies have one (`lr` for optimizer.lr), else the key.
fn axis_name(key: &str) -> String {
    AXIS_ALIASES
        .iter()
        .find(|(_, k)| *k == key)
        .map_or(key, |(alias, _)| alias)
        .to_string()
}

/// A run's value of each axis, strings without TOML's quotes; "-" for a key it reads
/// unset, UNREAD for one it does not read.
fn axis_values(
    keys: &[String],
    values: &BTreeMap<String, String>,
    unread: &BTreeSet<String>,
) -> Vec<String> {
    keys.iter()
        .map(|k| {
            let v = match values.get(k) {
                _ if unread.contains(k) => UNREAD,
                v => v.map_or("-", String::as_str),
            };
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
                .to_string()
        })
        .collect()
}

fn variant(keys: &[String], values: Vec<String>) -> Variant {
    let name = match keys.len() {
        0 => "all runs".to_string(),
        _ => keys
            .iter()
            .zip(&values)
            .filter(|(_, v)| *v != UNREAD)
            .map(|(k, v)| format!("{}={v}", axis_name(k)))
            .collect::<Vec<_>>()
            .join(","),
    };
    Variant { name, values }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::config::RunConfig;
    use crate::train::optim::OptimizerName;

    /// Run folders holding only the resolved config.toml of each config.
    fn folders(configs: Vec<RunConfig>) -> (tempfile::TempDir, Vec<PathBuf>) {
        let dir = tempfile::tempdir().unwrap();
        let runs = (configs.into_iter().enumerate())
            .map(|(i, mut cfg)| {
                cfg.resolve();
                let run = dir.path().join(format!("run{i}"));
                std::fs::create_dir(&run).unwrap();
                std::fs::write(run.join(files::CONFIG), cfg.to_toml().unwrap()).unwrap();
                run
            })
            .collect();
        (dir, runs)
    }

    fn config(name: OptimizerName, lr: f64, momentum: f64, eps: Option<f64>) -> RunConfig {
        let mut cfg = RunConfig::default();
        cfg.optimizer.name = name;
        cfg.optimizer.lr = lr;
        cfg.optimizer.momentum = momentum;
        cfg.optimizer.eps = eps;
        cfg
    }

    /// Adam beside SGD with momentum: momentum is no axis (Adam does not read it, so its
    /// stored 0 sets nothing apart). Two SGD momenta make it one, left out of Adam's name.
    /// An eps given beside one left at PyTorch's default (resolved, 1e-8) is an axis.
    #[test]
    fn keys_a_run_does_not_read_do_not_set_it_apart() {
        use OptimizerName::{Adam, SgdMomentum};
        let names = |configs| {
            let (_dir, runs) = folders(configs);
            let index = index(&runs).unwrap();
            index
                .variants
                .iter()
                .map(|v| v.name.clone())
                .collect::<Vec<_>>()
        };
        let adam = config(Adam, 1e-3, 0.0, None);
        let sgd = |momentum| config(SgdMomentum, 0.05, momentum, None);
        assert_eq!(
            names(vec![adam.clone(), sgd(0.9)]),
            ["optimizer=adam,lr=0.001", "optimizer=sgd-momentum,lr=0.05"]
        );
        assert_eq!(
            names(vec![adam.clone(), sgd(0.9), sgd(0.5)]),
            [
                "optimizer=adam,lr=0.001",
                "optimizer=sgd-momentum,lr=0.05,momentum=0.9",
                "optimizer=sgd-momentum,lr=0.05,momentum=0.5",
            ]
        );
        assert_eq!(
            names(vec![adam, config(Adam, 1e-3, 0.0, Some(1e-6))]),
            ["optimizer.eps=0.00000001", "optimizer.eps=0.000001"]
        );
    }
}
