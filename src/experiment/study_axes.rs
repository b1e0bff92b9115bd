//! A study's axes: their names (short aliases or dotted run-config keys), the values each
//! takes (a list, or a range under random sampling), and the points to train.

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};

use crate::error::{Error, Result};
use crate::experiment::config::to_table;
use crate::run::Axis;
use crate::train::config::RunConfig;

/// Short axis names for the keys studies vary most; any dotted config key works too.
pub const AXIS_ALIASES: &[(&str, &str)] = &[
    ("optimizer", "optimizer.name"),
    ("lr", "optimizer.lr"),
    ("momentum", "optimizer.momentum"),
    ("weight_decay", "optimizer.weight_decay"),
    ("batch_size", "train.batch_size"),
    ("epochs", "train.epochs"),
    ("label_smoothing", "train.label_smoothing"),
    ("ema_decay", "train.ema_decay"),
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
    ("rotation", "data.rotation"),
    ("erasing", "data.erasing"),
    ("brightness", "data.brightness"),
    ("contrast", "data.contrast"),
    ("saturation", "data.saturation"),
    ("hue", "data.hue"),
    ("mixup", "data.mixup"),
    ("cutmix", "data.cutmix"),
    ("image_size", "data.image_size"),
];

crate::choice! {
    pub enum Sampling("value") {
        /// Every combination of the axis values.
        Grid => "grid",
        /// `trials` random points: distinct grid points, or draws from ranges.
        Random => "random",
    }
}

/// The values one axis takes.
#[derive(Debug, Clone)]
pub enum Domain {
    Values(Vec<toml::Value>),
    Uniform(f64, f64),
    LogUniform(f64, f64),
}

const RANGE_FORMS: &str = "a range is one of { uniform = [lo, hi] }, { log_uniform = [lo, hi] }";

/// Whether `key` names a value (not a table) of the run config.
fn is_config_key(known: &toml::Table, key: &str) -> bool {
    let mut parts = key.split('.').peekable();
    let mut table = known;
    while let Some(part) = parts.next() {
        // An indexed list entry (`model.layers[4].out`; an empty list is not serialized):
        // the index and the entry's keys are checked on each variant's config.
        if let Some((list, _)) = part.split_once('[') {
            return table.get(list).is_none_or(toml::Value::is_array);
        }
        match (table.get(part), parts.peek()) {
            (Some(toml::Value::Table(t)), Some(_)) => table = t,
            (Some(toml::Value::Table(_)), None) | (None, _) => return false,
            (Some(_), next) => return next.is_none(),
        }
    }
    false
}

/// A `{ uniform = [lo, hi] }` or `{ log_uniform = [lo, hi] }` range.
fn parse_range(t: &toml::Table) -> std::result::Result<Domain, String> {
    let (kind, v) = match t.iter().next() {
        Some((k, v)) if t.len() == 1 && (k == "uniform" || k == "log_uniform") => (k, v),
        _ => return Err(RANGE_FORMS.into()),
    };
    let num = |x: &toml::Value| x.as_float().or_else(|| x.as_integer().map(|i| i as f64));
    let (lo, hi) = v
        .as_array()
        .filter(|a| a.len() == 2)
        .and_then(|a| Some((num(&a[0])?, num(&a[1])?)))
        .filter(|(lo, hi)| lo < hi)
        .ok_or_else(|| format!("{kind} needs [low, high] with low < high"))?;
    if kind == "uniform" {
        Ok(Domain::Uniform(lo, hi))
    } else if lo <= 0.0 {
        Err("log_uniform needs a positive low end".into())
    } else {
        Ok(Domain::LogUniform(lo, hi))
    }
}

/// The axes of `[study.axes]`, each with its domain, checked against the run config's keys.
pub fn parse_axes(
    spec: &toml::Table,
    sampling: Sampling,
    origin: &str,
) -> Result<(Vec<Axis>, Vec<Domain>)> {
    let known = to_table(&RunConfig::default())?;
    let mut axes = Vec::new();
    let mut domains = Vec::new();
    for (name, value) in spec {
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
        // Keys that are unset by default are not in the serialized default config.
        let optional = ["data.path", "data.image_size"];
        if !is_config_key(&known, &key) && !optional.contains(&key.as_str()) {
            let aliases: Vec<&str> = AXIS_ALIASES.iter().map(|(a, _)| *a).collect();
            return Err(bad(format!(
                "unknown axis (expected a run-config key such as optimizer.lr, or one of: {})",
                aliases.join(", ")
            )));
        }
        let domain = match value {
            toml::Value::Array(v) if v.is_empty() => return Err(bad("no values".into())),
            toml::Value::Array(v) => Domain::Values(v.clone()),
            toml::Value::Table(t) => parse_range(t).map_err(bad)?,
            other => Domain::Values(vec![other.clone()]),
        };
        if !matches!(domain, Domain::Values(_)) && sampling != Sampling::Random {
            return Err(bad("a range needs study.sampling = \"random\"".into()));
        }
        axes.push(Axis {
            name: name.clone(),
            key,
            zip: None,
        });
        domains.push(domain);
    }
    Ok((axes, domains))
}

/// Every combination of the lists, the first axis varying slowest.
fn grid(lists: &[&Vec<toml::Value>]) -> Vec<Vec<toml::Value>> {
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
}

/// `study.zip`: axes whose lists pair up value by value (the i-th optimizer with the i-th lr)
/// instead of crossing: one group (`zip = ["optimizer", "lr"]`) or a list of groups. Checked
/// against the axes; each zipped axis is marked with its group.
pub fn apply_zip(
    zip: Option<toml::Value>,
    axes: &mut [Axis],
    domains: &[Domain],
    origin: &str,
) -> Result<()> {
    let Some(zip) = zip else { return Ok(()) };
    let names = |v: &toml::Value| -> Option<Vec<String>> {
        v.as_array()?
            .iter()
            .map(|n| n.as_str().map(String::from))
            .collect()
    };
    let groups = names(&zip)
        .map(|g| vec![g])
        .or_else(|| zip.as_array()?.iter().map(names).collect())
        .ok_or_else(|| {
            Error::input(
                origin,
                "study.zip: expected axis names, [\"optimizer\", \"lr\"], or a list of such lists",
            )
        })?;
    let bad = |problem: String| Error::input(origin, format!("study.zip: {problem}"));
    for (g, group) in groups.iter().enumerate() {
        if group.len() < 2 {
            return Err(bad(format!(
                "{group:?} zips fewer than two axes; list two or more axes of [study.axes]"
            )));
        }
        let mut count = None;
        for name in group {
            let a = axes
                .iter()
                .position(|a| &a.name == name)
                .ok_or_else(|| bad(format!("{name} is not an axis of [study.axes]")))?;
            if axes[a].zip.is_some() {
                return Err(bad(format!("{name} is zipped twice")));
            }
            let Domain::Values(values) = &domains[a] else {
                return Err(bad(format!(
                    "{name} is a range; zipped axes need lists of values"
                )));
            };
            match count {
                None => count = Some((name, values.len())),
                Some((first, n)) if n != values.len() => {
                    return Err(bad(format!(
                        "{first} has {n} values but {name} has {}; zipped axes pair their \
                         values in order, so they need as many",
                        values.len()
                    )));
                }
                Some(_) => {}
            }
            axes[a].zip = Some(g);
        }
    }
    Ok(())
}

/// What is sampled: a lone axis, or a zip group (its values are arrays, one value per axis),
/// at the place of its first axis.
fn dimensions(axes: &[Axis], domains: &[Domain]) -> Vec<(Vec<usize>, Domain)> {
    let mut dims: Vec<(Vec<usize>, Domain)> = Vec::new();
    for (a, axis) in axes.iter().enumerate() {
        let Some(g) = axis.zip else {
            dims.push((vec![a], domains[a].clone()));
            continue;
        };
        if axes[..a].iter().any(|b| b.zip == Some(g)) {
            continue;
        }
        let members: Vec<usize> = (a..axes.len())
            .filter(|&b| axes[b].zip == Some(g))
            .collect();
        let lists: Vec<&Vec<toml::Value>> = members
            .iter()
            .filter_map(|&b| match &domains[b] {
                Domain::Values(v) => Some(v),
                _ => None, // apply_zip admits lists only
            })
            .collect();
        let rows = (0..lists[0].len())
            .map(|i| toml::Value::Array(lists.iter().map(|l| l[i].clone()).collect()))
            .collect();
        dims.push((members, Domain::Values(rows)));
    }
    dims
}

/// The axis points to train: the full grid, or `trials` random points; zipped axes count as
/// one dimension.
pub fn sample(
    axes: &[Axis],
    domains: &[Domain],
    sampling: Sampling,
    trials: usize,
    sample_seed: u64,
    origin: &str,
) -> Result<Vec<Vec<toml::Value>>> {
    let dims = dimensions(axes, domains);
    let dim_domains: Vec<Domain> = dims.iter().map(|(_, d)| d.clone()).collect();
    let points = sample_dims(&dim_domains, sampling, trials, sample_seed, origin)?;
    // Back from dimensions to one value per axis, in axis order.
    Ok(points
        .into_iter()
        .map(|p| {
            let mut values = vec![toml::Value::Boolean(false); axes.len()];
            for ((members, _), v) in dims.iter().zip(p) {
                match (members.as_slice(), v) {
                    ([a], v) => values[*a] = v,
                    (_, toml::Value::Array(row)) => {
                        for (&a, v) in members.iter().zip(row) {
                            values[a] = v;
                        }
                    }
                    _ => {}
                }
            }
            values
        })
        .collect())
}

fn sample_dims(
    domains: &[Domain],
    sampling: Sampling,
    trials: usize,
    sample_seed: u64,
    origin: &str,
) -> Result<Vec<Vec<toml::Value>>> {
    let lists: Option<Vec<&Vec<toml::Value>>> = domains
        .iter()
        .map(|d| match d {
            Domain::Values(v) => Some(v),
            _ => None,
        })
        .collect();
    match sampling {
        // parse_axes allows ranges only under random sampling.
        Sampling::Grid => Ok(grid(&lists.unwrap_or_default())),
        Sampling::Random if trials == 0 => Err(Error::input(
            origin,
            "sampling = \"random\" needs study.trials = N (N >= 1)",
        )),
        Sampling::Random => {
            let mut rng = rand::rngs::StdRng::seed_from_u64(sample_seed);
            if let Some(lists) = lists {
                // Only lists: distinct grid points, without replacement.
                let mut points = grid(&lists);
                points.shuffle(&mut rng);
                points.truncate(trials);
                return Ok(points);
            }
            Ok((0..trials)
                .map(|_| domains.iter().map(|d| draw(d, &mut rng)).collect())
                .collect())
        }
    }
}

fn draw(domain: &Domain, rng: &mut rand::rngs::StdRng) -> toml::Value {
    match domain {
        Domain::Values(v) => v
            .choose(rng)
            .cloned()
            .unwrap_or(toml::Value::Boolean(false)),
        Domain::Uniform(lo, hi) => toml::Value::Float(round3(rng.random_range(*lo..*hi))),
        Domain::LogUniform(lo, hi) => {
            toml::Value::Float(round3(rng.random_range(lo.ln()..hi.ln()).exp()))
        }
    }
}

/// Three significant digits, so sampled values make readable folder names.
fn round3(x: f64) -> f64 {
    format!("{x:.2e}").parse().unwrap_or(x)
}

/// An axis value as it appears in folder names and tables.
pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Float(f) => format!("{f}"),
        toml::Value::Array(a) => a.iter().map(value_text).collect::<Vec<_>>().join("+"),
        other => other.to_string(),
    }
}
