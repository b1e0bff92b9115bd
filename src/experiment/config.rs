//! Config files as TOML tables: reading them, `--set KEY=VALUE` overrides, merging a study
//! into its base run, and the one conversion from a table to a typed, resolved and
//! validated [`RunConfig`]. Text is parsed once; everything after that edits tables.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::{Error, Result};
use crate::experiment::overrides::{apply_sets, blame_set, set_key};
use crate::train::config::RunConfig;

/// Parse TOML text; a syntax error quotes the line it is on. `origin` names the input.
pub fn parse_table(text: &str, origin: &str) -> Result<toml::Table> {
    text.parse::<toml::Table>()
        .map_err(|e| toml_error(origin, e.message(), e.span(), text))
}

/// Read and parse a TOML file.
pub fn read_table(path: &Path) -> Result<toml::Table> {
    if path.is_dir() {
        return Err(Error::input(path.display(), folder_given_for_config(path)));
    }
    let text = std::fs::read_to_string(path).map_err(|e| match e.kind() {
        // An image or a checkpoint given where the config goes: "stream did not contain
        // valid UTF-8" did not say what was expected.
        std::io::ErrorKind::InvalidData => Error::input(
            path.display(),
            "not a config file: a config is TOML text (.toml)",
        ),
        _ => Error::io(path, e),
    })?;
    let mut table = parse_table(&text, &path.display().to_string())?;
    // Layer names read as convlab's before any --set writes convlab's own beside them.
    crate::model::spec::canonical_layer_names(&mut table);
    Ok(table)
}

/// What a folder given where a config file goes most likely is, and what to give instead
/// (`convlab train photos/`, as fastai's `from_folder(path)` takes a folder).
fn folder_given_for_config(path: &Path) -> String {
    let shown = path.display();
    let stored = path.join(crate::run::files::CONFIG);
    if stored.is_file() {
        format!(
            "a run folder, not a config file: its config is {}",
            stored.display()
        )
    } else if std::fs::read_dir(path).is_ok_and(|d| d.flatten().any(|e| e.path().is_dir())) {
        format!(
            "a folder, not a config file: to train on its images, write a config with \
             [data] dataset = \"folder\" and path = \"{shown}\" (or fine-tune a model on it: \
             convlab finetune --checkpoint CKPT --data {shown})"
        )
    } else {
        "a folder, not a config file (a .toml)".to_string()
    }
}

/// The one mapping of a TOML error to a one-line input error: serde's message, and the line
/// it points at when the text is known.
fn toml_error(
    origin: &str,
    message: &str,
    span: Option<std::ops::Range<usize>>,
    text: &str,
) -> Error {
    let line = span
        .map(|s| {
            let n = text[..s.start.min(text.len())].matches('\n').count();
            let quoted = text.lines().nth(n).unwrap_or("").trim();
            format!(" (line {}: `{quoted}`)", n + 1)
        })
        .unwrap_or_default();
    Error::input(
        origin,
        format!("{}{line}", message.trim().replace('\n', " ")),
    )
}

/// The dotted keys a table and its `--set`s write (`optimizer.momentum`; a layer list is one
/// key, `model.layers`): what the unread-key warnings count as given.
pub fn given_keys(table: &toml::Table, sets: &[String]) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for (k, v) in table {
        match v {
            toml::Value::Table(t) => keys.extend(t.keys().map(|sub| format!("{k}.{sub}"))),
            _ => {
                keys.insert(k.clone());
            }
        }
    }
    keys.extend(sets.iter().map(|o| set_key(o).to_string()));
    keys
}

/// Deep-merge `top` into `base` (tables merge, everything else replaces).
pub fn merge(base: &mut toml::Table, top: toml::Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// The typed config of a table, resolved and validated; an error names the key path
/// (`optimizer.name: unknown value "adamm" ...`).
pub fn run_config(table: toml::Table, origin: &str) -> Result<RunConfig> {
    let mut cfg = typed(table, origin)?;
    cfg.resolve();
    cfg.validate(origin)?;
    Ok(cfg)
}

/// The typed config of a table as it is (a stored config is already resolved).
pub fn typed(mut table: toml::Table, origin: &str) -> Result<RunConfig> {
    crate::model::spec::canonical_layer_names(&mut table);
    if let Some(why) = crate::model::spec::refused_layer(&table) {
        return Err(Error::input(origin, why));
    }
    crate::model::spec::padding_words(&mut table);
    layer_list_without_preset(&mut table);
    serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().message().trim().replace('\n', " ");
        if path == "." {
            Error::input(origin, message)
        } else {
            Error::input(origin, format!("{path}: {message}"))
        }
    })
}

/// A layer list with no `model.preset` written is the net: the preset's default
/// (`mnist-cnn`) would otherwise win and the layers go unread. A preset written beside a
/// layer list is the net, with a warning (`unused_keys`).
fn layer_list_without_preset(table: &mut toml::Table) {
    let Some(toml::Value::Table(model)) = table.get_mut("model") else {
        return;
    };
    let listed = matches!(model.get("layers"), Some(toml::Value::Array(a)) if !a.is_empty());
    if listed && !model.contains_key("preset") {
        model.insert("preset".into(), toml::Value::String(String::new()));
    }
}

/// Read a run config file with `--set` overrides; the run name defaults to the file stem.
pub fn load_run_config(path: &Path, sets: &[String]) -> Result<RunConfig> {
    load_run_config_and_keys(path, sets).map(|(cfg, _)| cfg)
}

/// [`load_run_config`], with the keys the file and the `--set`s write ([`given_keys`]).
pub fn load_run_config_and_keys(
    path: &Path,
    sets: &[String],
) -> Result<(RunConfig, BTreeSet<String>)> {
    let origin = path.display().to_string();
    let mut table = read_table(path)?;
    if let Some(study) = table.get("study") {
        // lr-find and train take one run's config: the study's base is one.
        let base = (study.get("base").and_then(|b| b.as_str()))
            .map(|b| format!("; its base, {b}, is a run config"))
            .unwrap_or_default();
        return Err(Error::input(
            &origin,
            format!(
                "a [study] table: this is a study; run it with `convlab sweep` (`convlab summary` shows its nets){base}"
            ),
        ));
    }
    if !table.contains_key("name")
        && let Some(stem) = path.file_stem()
    {
        table.insert(
            "name".into(),
            toml::Value::String(stem.to_string_lossy().into_owned()),
        );
    }
    // `--set study.seeds=3` on a run config would read as "unknown field `study`".
    if let Some(o) = sets.iter().find(|o| {
        let key = set_key(o);
        key == "study" || key.starts_with("study.")
    }) {
        return Err(Error::input(
            format!("--set {o}"),
            format!(
                "study.* keys are a study's ({origin} has no [study] table); \
                 train seeds one by one with --set seed=N, or sweep a study config"
            ),
        ));
    }
    let given = given_keys(&table, sets);
    apply_sets(&mut table, sets)?;
    let cfg = run_config(table, &origin).map_err(|e| blame_set(e, sets))?;
    check_run_name(&cfg.name, &origin).map_err(|e| blame_set(e, sets))?;
    Ok((cfg, given))
}

/// Whether a config file is a study (has a [study] table) rather than one run's config.
pub fn is_study(path: &Path) -> Result<bool> {
    Ok(read_table(path)?.contains_key("study"))
}

/// A run's own name (not a study trial's `study/variant/seed-N`) must be one folder name.
pub fn check_run_name(name: &str, origin: &str) -> Result<()> {
    match crate::run::folder_name_problem(name) {
        Some(problem) => Err(Error::input(origin, format!("name: {problem}"))),
        None => Ok(()),
    }
}

/// A stored config.toml (already resolved), as written by a run.
pub fn read_stored(path: &Path) -> Result<RunConfig> {
    typed(read_table(path)?, &path.display().to_string())
}

/// A config as a table, to derive another from it (a study variant, a fine-tune recipe).
pub fn to_table(cfg: &RunConfig) -> Result<toml::Table> {
    let serialize = |problem: String| Error::Serialize {
        what: format!("config of run {}", cfg.name),
        problem,
    };
    match toml::Value::try_from(cfg).map_err(|e| serialize(e.to_string()))? {
        toml::Value::Table(t) => Ok(t),
        _ => Err(serialize("not a table".into())),
    }
}

/// The keys whose values differ between a config and a stored one, each as
/// `key = VALUE (stored: VALUE)`, "-" for a key one side lacks; empty when they agree.
pub fn differences(cfg: &RunConfig, stored: &RunConfig) -> Result<Vec<String>> {
    let (a, b) = (flat_values(cfg)?, flat_values(stored)?);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let missing = "-".to_string();
    Ok(keys
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let (now, then) = (a.get(k).unwrap_or(&missing), b.get(k).unwrap_or(&missing));
            format!("{k} = {now} (stored: {then})")
        })
        .collect())
}

/// Every key of a config, dotted (`optimizer.lr`), with its value as TOML writes it.
pub fn flat_values(cfg: &RunConfig) -> Result<std::collections::BTreeMap<String, String>> {
    fn flatten(
        prefix: &str,
        t: &toml::Table,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match v {
                toml::Value::Table(inner) => flatten(&key, inner, out),
                v => {
                    out.insert(key, v.to_string());
                }
            }
        }
    }
    let mut out = Default::default();
    flatten("", &to_table(cfg)?, &mut out);
    Ok(out)
}
