//! `--set KEY=VALUE` overrides: writing a dotted key (a layer of a list too) into a config
//! table, and naming the `--set` behind an error or a warning about its key.

use crate::error::{Error, Result};

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

/// The `--set` behind a message about a key (`optimizer.lr: ...`, `optimizer.lr is ...`): the
/// last one of that key, as it is the one that counts; or of a key inside the one the message
/// leads with (`model.layers[3] (pool), input ...: kernel 30 is larger ...` after `--set
/// model.layers[3].kernel=30`, `model.layers: the net ends with ...` after a layer's `--set`).
pub fn set_behind<'a>(message: &str, sets: &'a [String]) -> Option<&'a str> {
    let lead = message.split([':', ' ', ',']).next().unwrap_or_default();
    let about = |key: &str| {
        let leads = message.strip_prefix(key);
        let inside = key.strip_prefix(lead).filter(|_| lead.contains('.'));
        leads.is_some_and(|rest| rest.starts_with([':', '.', '[', ' ']))
            || inside.is_some_and(|rest| rest.starts_with(['.', '[']))
    };
    sets.iter()
        .rev()
        .find(|o| about(set_key(o)))
        .map(|o| o.trim())
}

/// An error about a key that a `--set` wrote names that `--set` beside the file, where the
/// key and its value may not be at all.
pub fn blame_set(e: Error, sets: &[String]) -> Error {
    match e {
        Error::Input { input, problem } => Error::Input {
            input: match set_behind(&problem, sets) {
                Some(o) => format!("{input} with --set {o}"),
                None => input,
            },
            problem,
        },
        e => e,
    }
}

/// A warning's line: `warning: {origin}: {line}`, naming the `--set` behind it as
/// [`blame_set`] does.
pub fn warning_line(origin: &str, line: &str, sets: &[String]) -> String {
    match set_behind(line, sets) {
        Some(o) => format!("warning: {origin} with --set {o}: {line}"),
        None => format!("warning: {origin}: {line}"),
    }
}
