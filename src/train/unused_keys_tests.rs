//! unused_keys.rs's warnings, line by line, for configs as train resolves them.

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

/// The folder dataset's keys under another dataset, the crop's padding mode without a
/// crop and lookahead's decay without lookahead; with their parts on, no word.
#[test]
fn keys_of_a_part_that_is_off_are_named() {
    assert_eq!(
        warnings(
            "[data]\ndataset = \"cifar10\"\npath = \"photos\"\ntest_fraction = 0.2\n\
             padding_mode = \"reflect\"\n[train]\nlookahead_decay = 0.9"
        ),
        [
            "data.path is the folder dataset's; data.dataset = \"cifar10\" does not read it (its files are found under --data-dir)",
            "data.test_fraction is the folder dataset's; data.dataset = \"cifar10\" does not read it",
            "data.padding_mode is the random crop's; data.crop_padding = 0 does not read it",
            "train.lookahead_decay is lookahead's; train.lookahead_every = 0 does not read it",
        ]
    );
    let on = "[data]\ndataset = \"folder\"\npath = \"photos\"\ntest_fraction = 0.2\n\
              crop_padding = 4\npadding_mode = \"reflect\"\n\
              [train]\nlookahead_every = 5\nlookahead_decay = 0.9";
    assert_eq!(warnings(on), Vec::<String>::new());
}

#[test]
fn keys_the_chosen_optimizer_or_schedule_never_reads_are_named() {
    assert_eq!(
        warnings("[optimizer]\nname = \"adam\"\nmomentum_decay = 0.01"),
        ["optimizer.momentum_decay is nadam's; optimizer.name = \"adam\" does not read it"]
    );
    assert_eq!(
        warnings("[optimizer]\nname = \"rmsprop\"\nbeta1 = 0.8"),
        [
            "optimizer.beta1 is adam's, adamw's, adamax's, nadam's and radam's; \
             optimizer.name = \"rmsprop\" does not read it"
        ]
    );
    assert_eq!(
        warnings("[schedule]\nname = \"cosine\"\nrestart_epochs = 5\nmin_lr = 1e-4"),
        [
            "schedule.restart_epochs is cosine-restarts'; schedule.name = \"cosine\" does not read it"
        ]
    );
    let sgdr = "[schedule]\nname = \"cosine-restarts\"\nrestart_epochs = 5\nrestart_mult = 2\nmin_lr = 1e-4";
    assert_eq!(warnings(sgdr), Vec::<String>::new());
    for name in ["adamax", "nadam", "radam"] {
        let text = format!("[optimizer]\nname = \"{name}\"\nlr = 2e-3\nbeta1 = 0.8\nbeta2 = 0.99");
        assert_eq!(warnings(&text), Vec::<String>::new(), "{name}");
    }
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
fn adadelta_adamax_nadam_at_the_default_lr_and_rho_elsewhere_are_named() {
    assert_eq!(
        warnings("[optimizer]\nname = \"adadelta\""),
        [
            "optimizer.lr is not given, so optimizer.name = \"adadelta\" runs at convlab's \
             default 0.001 (Adam's, and Keras' for Adadelta); PyTorch's Adadelta default is \
             1.0: set optimizer.lr"
        ]
    );
    // Adamax and NAdam: PyTorch's default is twice convlab's; RAdam's is convlab's.
    assert_eq!(
        warnings("[optimizer]\nname = \"nadam\""),
        [
            "optimizer.lr is not given, so optimizer.name = \"nadam\" runs at convlab's \
             default 0.001 (Adam's, and Keras' for Nadam); PyTorch's NAdam default is 0.002: \
             set optimizer.lr"
        ]
    );
    assert_eq!(warnings("[optimizer]\nname = \"adamax\"").len(), 1);
    assert_eq!(
        warnings("[optimizer]\nname = \"radam\""),
        Vec::<String>::new()
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
