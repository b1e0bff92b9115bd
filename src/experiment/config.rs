//! Config files as TOML tables: reading them, `--set KEY=VALUE` overrides, merging a study
//! into its base run, and the one conversion from a table to a typed, resolved and
//! validated [`RunConfig`]. Text is parsed once; everything after that edits tables.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::{Error, Result};
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
    parse_table(&text, &path.display().to_string())
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

/// Set `a.b.c = value`, creating missing tables; a key whose parent is not a table is an
/// error (`optimizer.lr.x` when `optimizer.lr` is a number). A part may index an existing
/// array, as the shape errors name a layer: `model.layers[3].out = 64`.
pub fn set_dotted(
    table: &mut toml::Table,
    key: &str,
    value: toml::Value,
) -> std::result::Result<(), String> {
    let parts: Vec<(&str, Vec<usize>)> = key
        .trim()
        .split('.')
        .map(key_part)
        .collect::<std::result::Result<_, _>>()?;
    let mut cur = table;
    let mut path = String::new();
    for (n, (name, indices)) in parts.iter().enumerate() {
        let last = n + 1 == parts.len();
        if last && indices.is_empty() {
            cur.insert(name.to_string(), value);
            return Ok(());
        }
        path += if path.is_empty() { "" } else { "." };
        path += name;
        let mut slot = match indices.first() {
            None => cur
                .entry(name.to_string())
                .or_insert_with(|| toml::Value::Table(toml::Table::new())),
            Some(i) => cur
                .get_mut(*name)
                .ok_or_else(|| format!("{path} is not set, so it has no [{i}]"))?,
        };
        for &i in indices {
            slot = element(slot, i, &mut path)?;
        }
        if last {
            *slot = value;
            return Ok(());
        }
        cur = slot
            .as_table_mut()
            .ok_or_else(|| format!("{path} is not a table"))?;
    }
    Err("empty key".into())
}

/// `layers[3][0]` -> ("layers", [3, 0]); a bare name has no indices.
fn key_part(part: &str) -> std::result::Result<(&str, Vec<usize>), String> {
    let (name, mut rest) = part.split_at(part.find('[').unwrap_or(part.len()));
    if name.is_empty() {
        return Err(format!(
            "`{part}`: a key part needs a name before any [index]"
        ));
    }
    let mut indices = Vec::new();
    while let Some(after) = rest.strip_prefix('[') {
        let (number, tail) = after
            .split_once(']')
            .ok_or_else(|| format!("`{part}`: an index is written [N]"))?;
        let i = number
            .trim()
            .parse()
            .map_err(|_| format!("`{part}`: index `{number}` is not a whole number from 0"))?;
        indices.push(i);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(format!("`{part}`: unexpected `{rest}` after the index"));
    }
    Ok((name, indices))
}

/// Entry `i` of the array at `path` (which gains `[i]`); counts from 0, as the errors do.
fn element<'a>(
    slot: &'a mut toml::Value,
    i: usize,
    path: &mut String,
) -> std::result::Result<&'a mut toml::Value, String> {
    let array = slot
        .as_array_mut()
        .ok_or_else(|| format!("{path} is not a list, so it has no [{i}]"))?;
    let entries = match array.len() {
        0 => "is empty".to_string(),
        1 => "has 1 entry, [0]".to_string(),
        n => format!("has {n} entries, numbered from 0 to {}", n - 1),
    };
    let entry = (array.get_mut(i)).ok_or_else(|| format!("{path}[{i}]: {path} {entries}"))?;
    path.push_str(&format!("[{i}]"));
    Ok(entry)
}

/// The key of a `KEY=VALUE` override, trimmed.
pub fn set_key(set: &str) -> &str {
    set.split('=').next().unwrap_or_default().trim()
}

/// Apply `KEY=VALUE` overrides: dotted keys, TOML values, bare words as strings.
pub fn apply_sets(table: &mut toml::Table, sets: &[String]) -> Result<()> {
    for o in sets {
        let (key, raw) = o
            .split_once('=')
            .ok_or_else(|| Error::input(format!("--set {o}"), "expected KEY=VALUE"))?;
        // `--set lr=0.01`, `--set optimizer=sgd`: a study axis' short name, which a run
        // config does not have (or has as a table); name the full key.
        let alias = crate::experiment::study_axes::AXIS_ALIASES
            .iter()
            .find(|(a, _)| *a == key.trim());
        if let Some((short, full)) = alias
            && !raw.trim_start().starts_with('{')
        {
            return Err(Error::input(
                format!("--set {o}"),
                format!(
                    "{short} is a study axis' short name; a --set takes the full key: --set {full}={raw}"
                ),
            ));
        }
        let value = format!("v = {raw}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(raw.to_string()));
        set_dotted(table, key, value).map_err(|e| Error::input(format!("--set {o}"), e))?;
    }
    Ok(())
}

/// An error about a key that a `--set` wrote names that `--set` beside the file, where the
/// key and its value may not be at all (the last `--set` of a key is the one that counts).
pub fn blame_set(e: Error, sets: &[String]) -> Error {
    let Error::Input { input, problem } = e else {
        return e;
    };
    let about = |key: &str| {
        (problem.strip_prefix(key)).is_some_and(|rest| rest.starts_with([':', '.', '[', ' ']))
    };
    match sets.iter().rev().find(|o| about(set_key(o))) {
        Some(o) => Error::Input {
            input: format!("{input} with --set {}", o.trim()),
            problem,
        },
        None => Error::Input { input, problem },
    }
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
pub fn typed(table: toml::Table, origin: &str) -> Result<RunConfig> {
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
