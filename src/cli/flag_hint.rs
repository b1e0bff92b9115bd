//! `convlab train cfg.toml --epochs 3`: a config key given as a flag, as PyTorch scripts
//! and Lightning's CLI take them. clap only says "unexpected argument"; this says which
//! `--set` the user meant.

use crate::experiment::config::flat_values;
use crate::train::config::RunConfig;

/// Flags that name a config key by its table rather than its leaf (`--optimizer adam`).
const TABLE_NAMES: &[(&str, &str)] = &[
    ("optimizer", "optimizer.name"),
    ("schedule", "schedule.name"),
    ("scheduler", "schedule.name"),
    ("dataset", "data.dataset"),
    ("preset", "model.preset"),
    ("model", "model.preset"),
];

/// For the commands that take `--set`, the one line to print in place of clap's error when
/// `flag` (as typed: `--epochs` or `--lr=0.1`) is a config key: `--set train.epochs=3`.
/// `value` is the argument after the flag, if any.
pub fn config_key_hint(command: &str, flag: &str, value: Option<&str>) -> Option<String> {
    if !matches!(command, "train" | "sweep" | "lr-find" | "finetune") {
        return None;
    }
    let (name, inline) = match flag.trim_start_matches('-').split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (flag.trim_start_matches('-'), None),
    };
    let leaf = name.replace('-', "_");
    let keys = flat_values(&RunConfig::default()).ok()?;
    let key = TABLE_NAMES
        .iter()
        .find(|(n, _)| *n == leaf)
        .map(|(_, k)| k.to_string())
        .or_else(|| {
            let mut found = keys
                .keys()
                .filter(|k| k.rsplit('.').next() == Some(leaf.as_str()));
            match (found.next(), found.next()) {
                (Some(k), None) => Some(k.clone()),
                _ => None,
            }
        })?;
    let value = inline
        .or(value.filter(|v| !v.starts_with("--")))
        .unwrap_or("VALUE");
    Some(format!(
        "unexpected argument '--{name}': config keys are set with --set, e.g. --set {key}={value}"
    ))
}

/// `--set optimizer.lr 1e-3` (or `... = 1e-3`): the value became an argument of its own,
/// which clap calls unexpected; the line to print names the `--set` as one argument.
pub fn set_split_from_its_value(args: &[String]) -> Option<String> {
    let at = args
        .windows(2)
        .position(|w| w[0] == "--set" && !w[1].contains('=') && !w[1].starts_with("--"))?;
    let key = &args[at + 1];
    let rest = &args[at + 2..];
    let (typed, value) = match rest {
        [eq, value, ..] if eq == "=" => (format!("{key} = {value}"), value),
        [value, ..] if !value.starts_with("--") => (format!("{key} {value}"), value),
        _ => return None,
    };
    Some(format!(
        "--set {typed}: a --set is one KEY=VALUE argument, without spaces: --set {key}={value}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_keys_given_as_flags_name_their_set() {
        let hint = |cmd, flag, value| config_key_hint(cmd, flag, value).unwrap_or_default();
        assert_eq!(
            hint("train", "--epochs", Some("3")),
            "unexpected argument '--epochs': config keys are set with --set, e.g. --set train.epochs=3"
        );
        assert!(hint("train", "--lr=0.01", None).ends_with("--set optimizer.lr=0.01"));
        assert!(hint("sweep", "--batch-size", Some("64")).ends_with("--set train.batch_size=64"));
        assert!(hint("train", "--optimizer", Some("adam")).ends_with("--set optimizer.name=adam"));
        assert!(hint("lr-find", "--seed", None).ends_with("--set seed=VALUE"));
        assert_eq!(config_key_hint("train", "--nonsense", Some("1")), None);
        assert_eq!(config_key_hint("predict", "--epochs", Some("3")), None);
    }

    #[test]
    fn a_set_split_from_its_value_names_the_one_argument() {
        let hint = |line: &str| {
            let args: Vec<String> = line.split(' ').map(String::from).collect();
            set_split_from_its_value(&args)
        };
        assert_eq!(
            hint("convlab train c.toml --set optimizer.lr -1e-3").as_deref(),
            Some(
                "--set optimizer.lr -1e-3: a --set is one KEY=VALUE argument, without spaces: --set optimizer.lr=-1e-3"
            )
        );
        assert!(
            hint("convlab train c.toml --set train.epochs = 3 --quiet")
                .is_some_and(|h| h.ends_with("--set train.epochs=3"))
        );
        assert_eq!(hint("convlab train c.toml --set seed=1 extra"), None);
        assert_eq!(hint("convlab train c.toml --set seed --quiet"), None);
    }
}
