//! Keys given a value that the chosen optimizer or schedule, or a part of the run that is
//! off (the folder dataset's keys under MNIST, lookahead's decay without lookahead), never reads:
//! `schedule.max_lr = 0.1` under the constant schedule trained at optimizer.lr without a
//! word, where PyTorch would have refused the keyword. A key counts as given when the config
//! file or a `--set` names it (`schedule.gamma = 0.1` under cosine, though 0.1 is the
//! default), or when its value is not the default (a stored, fully written config names
//! every key). A study's base config may hold keys for some variants only, so these are
//! warnings, never errors.

use std::collections::BTreeSet;

use crate::data::{DataConfig, DatasetName};
use crate::train::config::{Monitor, RunConfig, TrainConfig};
use crate::train::optim::{OptimizerConfig, OptimizerName};
use crate::train::schedule::{ScheduleConfig, ScheduleName};

/// One line per key set but unread, naming what reads it and what the config chose instead,
/// after the one key a run needs but was not given (Adadelta's, Adamax's or NAdam's lr);
/// `given` holds the dotted keys the user wrote (`optimizer.momentum`).
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
    let mut common = (configs.first())
        .map(|c| unread_keys(c, given))
        .unwrap_or_default();
    for cfg in configs.iter().skip(1) {
        let lines = unread_keys(cfg, given);
        let keys: BTreeSet<&str> = lines.iter().map(|l| line_key(l)).collect();
        common.retain(|l| keys.contains(line_key(l)));
    }
    let missing = configs.iter().find_map(|c| missing_lr(c, given));
    missing.into_iter().chain(common).collect()
}

/// Of `keys` (dotted), those that `cfg`'s optimizer, schedule or split never read: a
/// stored config writes every key, momentum under Adam too, and its value means nothing there.
pub fn unread_among(cfg: &RunConfig, keys: &BTreeSet<String>) -> BTreeSet<String> {
    (unread_keys(cfg, keys).iter())
        .map(|l| line_key(l).to_string())
        .collect()
}

/// The key a line of [`unread_keys`] is about: every line starts with it.
fn line_key(line: &str) -> &str {
    line.split(' ').next().unwrap_or_default()
}

/// The keys set but unread.
fn unread_keys(cfg: &RunConfig, given: &BTreeSet<String>) -> Vec<String> {
    let mut out = optimizer_keys(&cfg.optimizer, &cfg.schedule, given);
    out.extend(schedule_keys(&cfg.schedule, given));
    out.extend(switched_off_keys(cfg, given));
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

/// convlab's one default lr is Adam's (and Keras' for all three below); Adadelta's steps at
/// it are 1000x shorter than at PyTorch's default (1.0), a run that learns slowly without
/// failing, and Adamax's and NAdam's half as long as at PyTorch's (2e-3): a PyTorch notebook
/// that leaves the lr to the optimizer trains otherwise.
fn missing_lr(cfg: &RunConfig, given: &BTreeSet<String>) -> Option<String> {
    let (o, d) = (&cfg.optimizer, OptimizerConfig::default());
    let given = is_set(given, "optimizer", "lr", o.lr != d.lr);
    let onecycle = cfg.schedule.onecycle_max_lr().is_some();
    // (Keras' name, PyTorch's name and default lr)
    let (keras, torch, torch_lr) = match o.name {
        OptimizerName::Adadelta => ("Adadelta", "Adadelta", "1.0"),
        OptimizerName::Adamax => ("Adamax", "Adamax", "0.002"),
        OptimizerName::Nadam => ("Nadam", "NAdam", "0.002"),
        _ => return None,
    };
    (!given && !onecycle).then(|| {
        format!(
            "optimizer.lr is not given, so optimizer.name = \"{}\" runs at convlab's default {} \
             (Adam's, and Keras' for {keras}); PyTorch's {torch} default is {torch_lr}: set optimizer.lr",
            o.name, d.lr
        )
    })
}

/// Whether `table.key` was written or differs from its default.
fn is_set(given: &BTreeSet<String>, table: &str, key: &str, differs: bool) -> bool {
    differs || given.contains(&format!("{table}.{key}"))
}

/// The optimizers that read the betas, as a warning names them.
const ADAM_KIN: &str = "adam's, adamw's, adamax's, nadam's and radam's";

fn optimizer_keys(
    o: &OptimizerConfig,
    s: &ScheduleConfig,
    given: &BTreeSet<String>,
) -> Vec<String> {
    use OptimizerName::*;
    let d = OptimizerConfig::default();
    let set = |key: &str, differs: bool| is_set(given, "optimizer", key, differs);
    let sgd = matches!(o.name, Sgd | SgdMomentum);
    let adam = matches!(o.name, Adam | Adamw | Adamax | Nadam | Radam);
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
        ("beta1", beta1_set, ADAM_KIN, adam),
        ("beta2", set("beta2", o.beta2 != d.beta2), ADAM_KIN, adam),
        (
            "momentum_decay",
            set("momentum_decay", o.momentum_decay != d.momentum_decay),
            "nadam's",
            o.name == Nadam,
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
        Adam | Adamw | Adamax | Nadam | Radam if beta1_set => Some("beta1"),
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

/// Keys of a part of the run that is not there: the folder dataset's with another dataset,
/// the crop's padding without a crop, a layer list beside a preset, lookahead's decay
/// without lookahead.
fn switched_off_keys(cfg: &RunConfig, given: &BTreeSet<String>) -> Vec<String> {
    let (data, train) = (&cfg.data, &cfg.train);
    let (d, t) = (DataConfig::default(), TrainConfig::default());
    let set = |key: &str, differs: bool| {
        let (table, key) = key.split_once('.').unwrap_or_default();
        is_set(given, table, key, differs)
    };
    let dataset = format!("data.dataset = \"{}\"", data.dataset);
    let not_folder = data.dataset != DatasetName::Folder;
    let keys = [
        (
            set("data.path", data.path.is_some()) && not_folder,
            format!(
                "data.path is the folder dataset's; {dataset} does not read it (its files are \
                 found under --data-dir)"
            ),
        ),
        (
            set("data.test_fraction", data.test_fraction != d.test_fraction) && not_folder,
            format!("data.test_fraction is the folder dataset's; {dataset} does not read it"),
        ),
        (
            set("data.padding_mode", data.padding_mode != d.padding_mode) && data.crop_padding == 0,
            "data.padding_mode is the random crop's; data.crop_padding = 0 does not read it"
                .to_string(),
        ),
        (
            set("model.layers", !cfg.model.layers.is_empty()) && !cfg.model.preset.is_empty(),
            format!(
                "model.layers is a custom net's; model.preset = \"{}\" is the net, so the \
                 layers are not read (leave the preset out to train them)",
                cfg.model.preset
            ),
        ),
        (
            set(
                "train.lookahead_decay",
                train.lookahead_decay != t.lookahead_decay,
            ) && train.lookahead_every == 0,
            "train.lookahead_decay is lookahead's; train.lookahead_every = 0 does not read it"
                .to_string(),
        ),
    ];
    (keys.into_iter())
        .filter(|(unread, _)| *unread)
        .map(|(_, line)| line)
        .collect()
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
        (
            "min_lr",
            s.min_lr != d.min_lr,
            vec![Cosine, CosineRestarts],
            "cosine's and cosine-restarts'",
        ),
        (
            "restart_epochs",
            s.restart_epochs != d.restart_epochs,
            vec![CosineRestarts],
            "cosine-restarts'",
        ),
        (
            "restart_mult",
            s.restart_mult != d.restart_mult,
            vec![CosineRestarts],
            "cosine-restarts'",
        ),
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
#[path = "unused_keys_tests.rs"]
mod tests;
