//! Keys given a value that the chosen optimizer or schedule never reads:
//! `schedule.max_lr = 0.1` under the constant schedule trained at optimizer.lr without a
//! word, where PyTorch would have refused the keyword. A key counts as given when the config
//! file or a `--set` names it (`schedule.gamma = 0.1` under cosine, though 0.1 is the
//! default), or when its value is not the default (a stored, fully written config names
//! every key). A study's base config may hold keys for some variants only, so these are
//! warnings, never errors.

use std::collections::BTreeSet;

use crate::train::config::{Monitor, RunConfig};
use crate::train::optim::{OptimizerConfig, OptimizerName};
use crate::train::schedule::{ScheduleConfig, ScheduleName};

/// One line per key set but unread, naming what reads it and what the config chose instead,
/// after the one key a run needs but was not given (Adadelta's lr); `given` holds the dotted
/// keys the user wrote (`optimizer.momentum`).
pub fn unused_keys(cfg: &RunConfig, given: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = missing_lr(cfg, given).into_iter().collect();
    out.extend(unread_keys(cfg, given));
    out
}

/// Of a study's variants, the lines of keys that no variant reads (a key read by some
/// variants is there for them), each as the first variant words it; before them the missing
/// lr if any variant lacks it (a study whose adadelta variant runs at Adam's lr says so,
/// though its adam variant is fine).
pub fn unused_by_all(configs: &[&RunConfig], given: &BTreeSet<String>) -> Vec<String> {
    let key = |line: &str| line.split(' ').next().unwrap_or_default().to_string();
    let mut common = (configs.first())
        .map(|c| unread_keys(c, given))
        .unwrap_or_default();
    for cfg in configs.iter().skip(1) {
        let keys: Vec<String> = unread_keys(cfg, given).iter().map(|l| key(l)).collect();
        common.retain(|l| keys.contains(&key(l)));
    }
    let missing = configs.iter().find_map(|c| missing_lr(c, given));
    missing.into_iter().chain(common).collect()
}

/// Of `keys` (dotted), those that `cfg`'s optimizer, schedule or split never read: a
/// stored config writes every key, momentum under Adam too, and its value means nothing there.
pub fn unread_among(cfg: &RunConfig, keys: &BTreeSet<String>) -> BTreeSet<String> {
    (unread_keys(cfg, keys).iter())
        .map(|l| l.split([' ', ':']).next().unwrap_or_default().to_string())
        .collect()
}

/// The keys set but unread.
fn unread_keys(cfg: &RunConfig, given: &BTreeSet<String>) -> Vec<String> {
    let mut out = optimizer_keys(&cfg.optimizer, &cfg.schedule, given);
    out.extend(schedule_keys(&cfg.schedule, given));
    let monitor = cfg.train.monitor;
    if cfg.data.val_fraction == 0.0
        && is_set(given, "train", "monitor", monitor != Monitor::ValLoss)
    {
        out.push(format!(
            "train.monitor = \"{monitor}\" needs a validation split (data.val_fraction = 0); \
             best.ckpt is the last epoch"
        ));
    }
    out
}

/// convlab's one default lr is Adam's; Adadelta's steps at it are 1000x shorter than at
/// PyTorch's default (1.0), a run that learns slowly without failing.
fn missing_lr(cfg: &RunConfig, given: &BTreeSet<String>) -> Option<String> {
    let (o, d) = (&cfg.optimizer, OptimizerConfig::default());
    let given = is_set(given, "optimizer", "lr", o.lr != d.lr);
    let onecycle = cfg.schedule.onecycle_max_lr().is_some();
    (o.name == OptimizerName::Adadelta && !given && !onecycle).then(|| {
        format!(
            "optimizer.lr is not given, so optimizer.name = \"{}\" runs at convlab's default {} \
             (Adam's, and Keras' for Adadelta); PyTorch's Adadelta default is 1.0: set optimizer.lr",
            o.name, d.lr
        )
    })
}

/// Whether `table.key` was written or differs from its default.
fn is_set(given: &BTreeSet<String>, table: &str, key: &str, differs: bool) -> bool {
    differs || given.contains(&format!("{table}.{key}"))
}

fn optimizer_keys(
    o: &OptimizerConfig,
    s: &ScheduleConfig,
    given: &BTreeSet<String>,
) -> Vec<String> {
    use OptimizerName::*;
    let d = OptimizerConfig::default();
    let set = |key: &str, differs: bool| is_set(given, "optimizer", key, differs);
    let sgd = matches!(o.name, Sgd | SgdMomentum);
    let adam = matches!(o.name, Adam | Adamw);
    // sgd-momentum's momentum resolves to 0.9 when not given.
    let momentum_set = set(
        "momentum",
        o.momentum != d.momentum && !(o.name == SgdMomentum && o.momentum == 0.9),
    );
    let beta1_set = set("beta1", o.beta1 != d.beta1);
    let chosen = format!("optimizer.name = \"{}\"", o.name);
    let mut out = Vec::new();
    for (key, set, readers, read) in [
        (
            "momentum",
            momentum_set,
            "sgd's and rmsprop's",
            sgd || o.name == Rmsprop,
        ),
        (
            "nesterov",
            set("nesterov", o.nesterov != d.nesterov),
            "sgd's",
            sgd,
        ),
        ("beta1", beta1_set, "adam's and adamw's", adam),
        (
            "beta2",
            set("beta2", o.beta2 != d.beta2),
            "adam's and adamw's",
            adam,
        ),
        (
            "alpha",
            set("alpha", o.alpha != d.alpha),
            "rmsprop's",
            o.name == Rmsprop,
        ),
        (
            "rho",
            set("rho", o.rho != d.rho),
            "adadelta's",
            o.name == Adadelta,
        ),
    ] {
        if set && !read {
            out.push(format!(
                "optimizer.{key} is {readers}; {chosen} does not read it"
            ));
        }
    }
    // An lr equal to max_lr (airbench's config writes both) misleads no one.
    if s.onecycle_max_lr()
        .is_some_and(|max| set("lr", o.lr != d.lr) && o.lr != max)
    {
        out.push(
            "optimizer.lr is not read: onecycle's schedule.max_lr sets every step's lr \
             (from max_lr / div_factor up to max_lr and down)"
                .into(),
        );
    }
    // OneCycleLR writes the momentum (or Adam's beta1) at every step, as PyTorch does.
    let cycled = s.name == ScheduleName::Onecycle && s.cycle_momentum;
    let replaced = match o.name {
        Sgd | SgdMomentum | Rmsprop if momentum_set => Some("momentum"),
        Adam | Adamw if beta1_set => Some("beta1"),
        _ => None,
    };
    if let Some(key) = replaced.filter(|_| cycled) {
        out.push(format!(
            "optimizer.{key} is replaced at every step by onecycle's cycled momentum \
             (schedule.base_momentum to max_momentum); set those, or schedule.cycle_momentum = false"
        ));
    }
    out
}

fn schedule_keys(s: &ScheduleConfig, given: &BTreeSet<String>) -> Vec<String> {
    use ScheduleName::*;
    let d = ScheduleConfig::default();
    let set = |key: &str, differs: bool| is_set(given, "schedule", key, differs);
    let chosen = format!("schedule.name = \"{}\"", s.name);
    // (key, its value is not the default, the schedules that read it, in words)
    let mut keys = vec![
        (
            "step_size",
            s.step_size != d.step_size,
            vec![Step],
            "step's",
        ),
        (
            "gamma",
            s.gamma != d.gamma,
            vec![Step, Multistep, Exponential],
            "step's, multistep's and exponential's",
        ),
        (
            "milestones",
            s.milestones != d.milestones,
            vec![Multistep],
            "multistep's",
        ),
        ("min_lr", s.min_lr != d.min_lr, vec![Cosine], "cosine's"),
        ("factor", s.factor != d.factor, vec![Plateau], "plateau's"),
        (
            "patience",
            s.patience != d.patience,
            vec![Plateau],
            "plateau's",
        ),
    ];
    let onecycle = [
        ("max_lr", s.max_lr != d.max_lr),
        ("pct_start", s.pct_start != d.pct_start),
        ("div_factor", s.div_factor != d.div_factor),
        ("final_div_factor", s.final_div_factor != d.final_div_factor),
        ("anneal", s.anneal != d.anneal),
        ("cycle_momentum", s.cycle_momentum != d.cycle_momentum),
        ("base_momentum", s.base_momentum != d.base_momentum),
        ("max_momentum", s.max_momentum != d.max_momentum),
    ];
    keys.extend(onecycle.map(|(key, set)| (key, set, vec![Onecycle], "onecycle's")));
    let mut out: Vec<String> = (keys.into_iter())
        .filter(|(key, differs, readers, _)| set(key, *differs) && !readers.contains(&s.name))
        .map(|(key, _, _, readers)| {
            format!("schedule.{key} is {readers}; {chosen} does not read it")
        })
        .collect();
    if set(
        "warmup_start_factor",
        s.warmup_start_factor != d.warmup_start_factor,
    ) && s.warmup_epochs == 0
    {
        out.push(
            "schedule.warmup_start_factor is read only with schedule.warmup_epochs > 0".into(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config as train resolves it (sgd-momentum's momentum filled in), with the keys the
    /// text writes as given.
    fn warnings(text: &str) -> Vec<String> {
        let table: toml::Table = toml::from_str(text).unwrap();
        let mut given = BTreeSet::new();
        for (k, v) in &table {
            let keys = v.as_table().map(|t| t.keys()).into_iter().flatten();
            given.extend(keys.map(|sub| format!("{k}.{sub}")));
        }
        let mut cfg: RunConfig = toml::from_str(text).unwrap();
        cfg.resolve();
        unused_keys(&cfg, &given)
    }

    #[test]
    fn keys_the_chosen_optimizer_or_schedule_never_reads_are_named() {
        assert_eq!(
            warnings("[optimizer]\nname = \"adam\"\nmomentum = 0.9\n[schedule]\nmax_lr = 0.1"),
            [
                "optimizer.momentum is sgd's and rmsprop's; optimizer.name = \"adam\" does not read it",
                "schedule.max_lr is onecycle's; schedule.name = \"constant\" does not read it",
            ]
        );
        assert_eq!(
            warnings(
                "[optimizer]\nname = \"sgd\"\nmomentum = 0.8\nlr = 0.05\n[schedule]\nname = \"onecycle\"\nmax_lr = 0.1"
            ),
            [
                "optimizer.lr is not read: onecycle's schedule.max_lr sets every step's lr \
                 (from max_lr / div_factor up to max_lr and down)",
                "optimizer.momentum is replaced at every step by onecycle's cycled momentum \
              (schedule.base_momentum to max_momentum); set those, or schedule.cycle_momentum = false"
            ]
        );
        // Written, though at its default: the user meant something by it.
        assert_eq!(
            warnings(
                "[schedule]\nname = \"cosine\"\ngamma = 0.1\n[optimizer]\nname = \"adam\"\nmomentum = 0.0"
            ),
            [
                "optimizer.momentum is sgd's and rmsprop's; optimizer.name = \"adam\" does not read it",
                "schedule.gamma is step's, multistep's and exponential's; schedule.name = \"cosine\" does not read it",
            ]
        );
        // Read, or not written (sgd-momentum's resolved 0.9 too): nothing to say.
        for quiet in [
            "[optimizer]\nname = \"sgd-momentum\"\n[schedule]\nname = \"step\"\nstep_size = 3",
            "[optimizer]\nname = \"rmsprop\"\nalpha = 0.9\nmomentum = 0.5",
            "[optimizer]\nname = \"sgd\"\nmomentum = 0.8\nlr = 0.1\n[schedule]\nname = \"onecycle\"\nmax_lr = 0.1\ncycle_momentum = false",
            "[schedule]\nname = \"cosine\"\nmin_lr = 1e-5\nwarmup_epochs = 1\nwarmup_start_factor = 0.1",
            "[optimizer]\nname = \"adadelta\"\nlr = 1.0\nrho = 0.95",
        ] {
            assert_eq!(warnings(quiet), Vec::<String>::new(), "{quiet}");
        }
    }

    #[test]
    fn adadelta_at_the_default_lr_and_rho_elsewhere_are_named() {
        assert_eq!(
            warnings("[optimizer]\nname = \"adadelta\""),
            [
                "optimizer.lr is not given, so optimizer.name = \"adadelta\" runs at convlab's \
                 default 0.001 (Adam's, and Keras' for Adadelta); PyTorch's Adadelta default is \
                 1.0: set optimizer.lr"
            ]
        );
        // Written at 0.001 (Keras' default): the user chose it.
        assert_eq!(
            warnings("[optimizer]\nname = \"adadelta\"\nlr = 0.001"),
            Vec::<String>::new()
        );
        // In a study, one adadelta variant is enough (its adam sibling reads the lr fine),
        // and the line comes once, however many variants lack it.
        let variant = |name: &str| {
            let mut cfg = RunConfig::default();
            cfg.optimizer.name = name.parse().unwrap();
            cfg.resolve();
            cfg
        };
        let (adam, adadelta) = (variant("adam"), variant("adadelta"));
        let none = BTreeSet::new();
        for study in [
            [&adam, &adadelta],
            [&adadelta, &adam],
            [&adadelta, &adadelta],
        ] {
            let lines = unused_by_all(&study, &none);
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert!(
                lines[0].starts_with("optimizer.lr is not given, so optimizer.name = \"adadelta\"")
            );
        }
        assert!(unused_by_all(&[&adam, &adam], &none).is_empty());
        let lr_written = BTreeSet::from(["optimizer.lr".to_string()]);
        assert!(unused_by_all(&[&adam, &adadelta], &lr_written).is_empty());
        assert_eq!(
            warnings("[optimizer]\nname = \"rmsprop\"\nrho = 0.9"),
            ["optimizer.rho is adadelta's; optimizer.name = \"rmsprop\" does not read it"]
        );
    }
}
