//! Impossible optimizer, schedule and dropout values are refused before anything trains,
//! with the key and the value named (as torch.optim refuses them where it checks); the
//! stored config says which epsilon ran.

use convlab::experiment::config::{parse_table, run_config};
use convlab::train::optim::OptimizerConfig;

#[test]
fn stored_config_says_which_epsilon_ran_and_bad_values_are_refused() {
    let resolved = |toml: &str| {
        let table = parse_table(&format!("[optimizer]\n{toml}"), "run.toml").unwrap();
        run_config(table, "run.toml").map(|c| c.optimizer)
    };
    assert_eq!(resolved("name = \"adagrad\"").unwrap().eps, Some(1e-10));
    assert_eq!(resolved("name = \"rmsprop\"").unwrap().eps, Some(1e-8));
    assert_eq!(resolved("name = \"adadelta\"").unwrap().eps, Some(1e-6));
    // PyTorch's Adadelta takes rho in [0, 1] ("Invalid rho value: 1.5").
    assert!(resolved("name = \"adadelta\"\nrho = 1.0").is_ok());
    assert_eq!(OptimizerConfig::default().epsilon(), 1e-8);
    // torch.optim.Adam(p, betas=(1.0, 0.999)) raises "Invalid beta parameter at index 0: 1.0";
    // these trained on (beta1 1.5) or diverged with the lr blamed (beta2 1.5, alpha 1.5).
    for (toml, problem) in [
        (
            "grad_clip = -1.0",
            "optimizer.grad_clip: -1 must be a number >= 0",
        ),
        ("grad_clip = nan", "optimizer.grad_clip: NaN must be"),
        (
            "grad_clip_value = -0.5",
            "optimizer.grad_clip_value: -0.5 must be a number >= 0 (0 = off)",
        ),
        // Keras: "Cannot accept both `clipnorm` and `clipvalue`" (as its other clips).
        (
            "grad_clip = 1.0\ngrad_clip_value = 0.5",
            "optimizer.grad_clip_value: cannot be set with optimizer.grad_clip (the norm clip)",
        ),
        ("eps = -1e-8", "optimizer.eps"),
        ("beta1 = 1.0", "optimizer.beta1: 1 is not in [0, 1)"),
        ("momentum = nan", "optimizer.momentum: NaN is not in [0, 1)"),
        ("beta2 = nan", "optimizer.beta2: NaN is not in [0, 1)"),
        (
            "name = \"rmsprop\"\nalpha = 1.5",
            "optimizer.alpha: 1.5 is not in [0, 1)",
        ),
        (
            "name = \"adadelta\"\nrho = 1.5",
            "optimizer.rho: 1.5 is not in [0, 1]",
        ),
        ("rho = -0.1", "optimizer.rho: -0.1 is not in [0, 1]"),
        // torch.optim.NAdam: "Invalid momentum_decay value: -0.004".
        (
            "name = \"nadam\"\nmomentum_decay = -4e-3",
            "optimizer.momentum_decay: -0.004 must be a number >= 0",
        ),
        (
            "weight_decay = nan",
            "optimizer.weight_decay: NaN must be a number >= 0",
        ),
    ] {
        let err = resolved(toml).unwrap_err().to_string();
        assert!(
            err.contains("run.toml") && err.contains(problem),
            "{toml}: {err}"
        );
    }
    assert!(
        resolved("beta1 = 0.0\nbeta2 = 0.0").is_ok(),
        "PyTorch takes betas of 0"
    );
}

/// A schedule's or dropout's impossible value trained on silently: NaN dropout, a negative or
/// NaN max_lr (read as "use optimizer.lr"), a cosine floor below 0, a plateau factor of 1.5
/// (PyTorch: "Factor should be < 1.0."), onecycle divisors of 0 (an infinite lr: NaN at once).
#[test]
fn impossible_schedule_and_dropout_values_are_refused() {
    let check = |toml: &str| {
        let table = parse_table(toml, "run.toml").unwrap();
        run_config(table, "run.toml").map(|_| ())
    };
    for (toml, problem) in [
        (
            "[model]\ndropout = nan",
            "model.dropout: NaN is not in [0, 1)",
        ),
        // AveragedModel takes any decay; 1 would never move from the first step's weights.
        (
            "[train]\nema_decay = 1.0",
            "train.ema_decay: 1 is not in [0, 1) (0 = off; 0.999 is usual)",
        ),
        (
            "[train]\nema_decay = nan",
            "train.ema_decay: NaN is not in [0, 1)",
        ),
        (
            "[schedule]\nname = \"onecycle\"\nmax_lr = -1.0",
            "schedule.max_lr: -1 must be a number >= 0 (0 = optimizer.lr)",
        ),
        (
            "[schedule]\nname = \"cosine\"\nmin_lr = -1e-3",
            "schedule.min_lr: -0.001 must be a number >= 0",
        ),
        // CosineAnnealingWarmRestarts: "Expected positive integer T_0, but got 0",
        // "Expected integer T_mult >= 1, but got 0".
        (
            "[schedule]\nname = \"cosine-restarts\"\nrestart_epochs = 0",
            "schedule.restart_epochs: must be at least 1",
        ),
        (
            "[schedule]\nname = \"sgdr\"\nrestart_mult = 0",
            "schedule.restart_mult: must be at least 1",
        ),
        (
            "[schedule]\nname = \"plateau\"\nfactor = 1.5",
            "schedule.factor: 1.5 is not in (0, 1)",
        ),
        (
            "[schedule]\nname = \"onecycle\"\ndiv_factor = 0.0",
            "schedule.div_factor: 0 must be a positive number",
        ),
        (
            "[schedule]\nname = \"onecycle\"\nfinal_div_factor = inf",
            "schedule.final_div_factor: inf must be a positive number",
        ),
        // torchvision's ColorJitter: "hue values should be between (-0.5, 0.5)", and a
        // single number must be non negative.
        ("hue = 0.6", "data.hue: 0.6 is not in [0, 0.5]"),
        (
            "brightness = -0.2",
            "data.brightness: -0.2 is not a strength in [0, 1e6]",
        ),
        (
            "saturation = nan",
            "data.saturation: NaN is not a strength in [0, 1e6]",
        ),
        // A factor past f32's range would be inf, and inf x 0 a NaN pixel.
        ("contrast = 1e39", "data.contrast: 1e39 is not a strength"),
        // torchvision's (min, max) form: "brightness values should be between (0, inf)",
        // "hue values should be between (-0.5, 0.5)", and min <= max.
        (
            "brightness = [1.2, 0.8]",
            "data.brightness: [1.2, 0.8] is not a range [min, max] with 0 <= min <= max <= 1e6",
        ),
        (
            "hue = [-0.6, 0.1]",
            "data.hue: [-0.6, 0.1] is not a range [min, max] with -0.5 <= min <= max <= 0.5",
        ),
        (
            "contrast = \"high\"",
            "data.contrast: a number, or a range [min, max]",
        ),
        // The device pipeline draws shifts and flips only. (These follow the [data] header.)
        (
            "contrast = 0.4\npipeline = \"device\"",
            "data.contrast: is drawn on the host",
        ),
    ] {
        let err = check(&format!("[data]\ndataset = \"mnist\"\n{toml}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(problem), "{toml}: {err}");
    }
    // Both forms of a jitter key pass, and the stored config keeps each as written.
    let table = parse_table("[data]\nbrightness = [0.8, 1.2]\nhue = 0.1", "run.toml").unwrap();
    let cfg = run_config(table, "run.toml").unwrap();
    let stored = toml::to_string(&cfg).unwrap();
    assert!(
        stored.contains("brightness = [0.8, 1.2]") && stored.contains("hue = 0.1"),
        "{stored}"
    );
    // The usual values pass: plateau's factor 0.1, onecycle's divisors 25 and 1e4.
    for name in ["plateau", "onecycle", "cosine"] {
        check(&format!("[schedule]\nname = \"{name}\"")).unwrap();
    }
}

/// Names as PyTorch and Keras users write them (`nn.LeakyReLU`, Keras' "leaky_relu" and
/// "swish", "SGD", torchvision's "ResNet18") are read as convlab's own, and the resolved config, which a run saves,
/// holds the canonical name; a name that is none of them is still refused, with the list.
#[test]
fn names_are_read_as_pytorch_and_keras_users_write_them() {
    let resolved = |toml: &str| {
        let table = parse_table(toml, "run.toml").unwrap();
        run_config(table, "run.toml")
    };
    for (written, canonical) in [
        ("LeakyReLU", "leaky-relu"),
        ("leaky_relu", "leaky-relu"),
        ("swish", "silu"),
        ("SiLU", "silu"),
        ("PReLU", "prelu"),
    ] {
        let config = resolved(&format!("[model]\nactivation = \"{written}\"")).unwrap();
        let saved = toml::to_string(&config).unwrap();
        assert!(
            saved.contains(&format!("activation = \"{canonical}\"")),
            "{written}: {saved}"
        );
    }
    let config =
        resolved("[optimizer]\nname = \"SGD_Momentum\"\n[schedule]\nname = \"OneCycle\"").unwrap();
    assert_eq!(config.optimizer.name.as_str(), "sgd-momentum");
    assert_eq!(config.schedule.name.as_str(), "onecycle");
    // PyTorch's scheduler classes.
    for (written, canonical) in [
        ("StepLR", "step"),
        ("MultiStepLR", "multistep"),
        ("ExponentialLR", "exponential"),
        ("CosineAnnealingLR", "cosine"),
        ("OneCycleLR", "onecycle"),
        ("ReduceLROnPlateau", "plateau"),
    ] {
        let config = resolved(&format!(
            "[schedule]\nname = \"{written}\"\nmilestones = [2]\n[data]\nval_fraction = 0.1"
        ))
        .unwrap();
        assert_eq!(config.schedule.name.as_str(), canonical, "{written}");
    }
    // Presets too (model.preset = "ResNet18" was "unknown preset").
    for (written, canonical) in [
        ("ResNet18", "resnet18"),
        ("resnet-18", "resnet18"),
        ("VGG_16", "vgg16"),
        ("MNIST_CNN", "mnist-cnn"),
    ] {
        let config = resolved(&format!("[model]\npreset = \"{written}\"")).unwrap();
        assert_eq!(config.model.preset, canonical, "{written}");
    }
    // An unknown one is refused by the config check, before any dataset is looked for.
    let err = resolved("[model]\npreset = \"resnet50\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("model.preset: unknown preset \"resnet50\"") && err.contains("resnet18"),
        "{err}"
    );
    let err = resolved("[model]\nactivation = \"swishy\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown activation \"swishy\"") && err.contains("leaky-relu"),
        "{err}"
    );
}

/// A layer list written with PyTorch's or Keras' layer and argument names is the same net as
/// one in convlab's names (`Conv2d`/`Conv2D`, `out_channels`/`filters`, `kernel_size`,
/// `strides`, `pool_size`, `rate`, `in_features`/`out_features`/`units`, an activation's name
/// as the type); both were "unknown variant" / "unknown field" errors.
#[test]
fn layer_lists_take_pytorch_and_keras_names() {
    let layers = |list: &str| {
        let text =
            format!("[data]\ndataset = \"mnist\"\n[model]\npreset = \"\"\nlayers = [{list}]");
        run_config(parse_table(&text, "net.toml").unwrap(), "net.toml")
            .unwrap()
            .model
            .layers
    };
    let theirs = layers(
        "{ type = \"Conv2D\", filters = 8, kernel_size = 5, strides = 2, in_channels = 1 },
         { type = \"BatchNorm2d\" }, { type = \"LeakyReLU\" },
         { type = \"MaxPooling2D\", pool_size = 3, strides = 1 },
         { type = \"SpatialDropout2D\", rate = 0.1 }, { type = \"Flatten\" },
         { type = \"Linear\", in_features = 800, out_features = 32 },
         { type = \"Dropout\", rate = 0.5 }, { type = \"Dense\", units = 10 }",
    );
    let ours = layers(
        "{ type = \"conv\", out = 8, kernel = 5, stride = 2, in = 1 },
         { type = \"bn\" }, { type = \"activation\", kind = \"leaky-relu\" },
         { type = \"pool\", kernel = 3, stride = 1 },
         { type = \"dropout2d\", p = 0.1 }, { type = \"flatten\" },
         { type = \"linear\", in = 800, out = 32 },
         { type = \"dropout\", p = 0.5 }, { type = \"linear\", out = 10 }",
    );
    assert_eq!(theirs, ours);
    assert_eq!(theirs.len(), 9);

    // A --set in convlab's name replaces the file's PyTorch/Keras one (it was "duplicate
    // field `out`" while the file's names were only serde aliases).
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("net.toml");
    std::fs::write(
        &file,
        "[model]\npreset = \"\"\nlayers = [{ type = \"Conv2d\", filters = 8 }, \
         { type = \"Flatten\" }, { type = \"Dense\", units = 10 }]\n",
    )
    .unwrap();
    let sets = ["model.layers[0].out=16".to_string()];
    let cfg = convlab::experiment::config::load_run_config(&file, &sets).unwrap();
    assert_eq!(
        cfg.model.layers,
        layers(
            "{ type = \"conv\", out = 16 }, { type = \"flatten\" }, { type = \"linear\", out = 10 }",
        )
    );
}

/// A layer list with no `preset` written is the net: the default preset (mnist-cnn) used to
/// win, and the layers went unread without a word. A preset written beside a layer list (a
/// `--set model.preset=` on a layer-list file) is the net, and the unread layers a warning.
/// A conv's padding takes PyTorch's and Keras' "same" and "valid"; "same" follows a `--set`
/// on the kernel, and where it would pad one side more (strided, an even kernel) it is
/// refused, as PyTorch refuses it for strided convs.
#[test]
fn a_layer_list_needs_no_preset_and_padding_takes_same_and_valid() {
    use convlab::experiment::config::{load_run_config, load_run_config_and_keys};
    use convlab::model::spec::LayerSpec;
    use convlab::train::config::RunConfig;
    use convlab::train::unused_keys::unused_keys;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("net.toml");
    std::fs::write(
        &file,
        "[data]\ndataset = \"mnist\"\n[model]\nlayers = [\n\
         { type = \"Conv2d\", out_channels = 8, kernel_size = 3, padding = \"same\" },\n\
         { type = \"Conv2D\", filters = 8, kernel_size = 3, padding = \"valid\" },\n\
         { type = \"Flatten\" }, { type = \"Linear\", out_features = 10 }]\n",
    )
    .unwrap();
    let load = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        load_run_config(&file, &sets)
    };
    let paddings = |cfg: RunConfig| -> Vec<usize> {
        let convs = cfg.model.layers.iter().filter_map(|l| match l {
            LayerSpec::Conv { padding, .. } => Some(*padding),
            _ => None,
        });
        convs.collect()
    };
    let cfg = load(&[]).unwrap();
    assert_eq!((cfg.model.preset.as_str(), cfg.model.layers.len()), ("", 4));
    assert_eq!(paddings(cfg), [1, 0]);
    assert_eq!(
        paddings(load(&["model.layers[0].kernel=5"]).unwrap()),
        [2, 0]
    );

    let sets = ["model.preset=resnet18".to_string()];
    let (cfg, given) = load_run_config_and_keys(&file, &sets).unwrap();
    assert_eq!(cfg.model.preset, "resnet18");
    let warnings = unused_keys(&cfg, &given);
    let unread = "model.layers is a custom net's; model.preset = \"resnet18\" is the net";
    assert!(
        warnings.iter().any(|w| w.starts_with(unread)),
        "{warnings:?}"
    );
    let (cfg, given) = load_run_config_and_keys(&file, &[]).unwrap();
    assert_eq!(unused_keys(&cfg, &given), Vec::<String>::new());

    let refused = |sets: &[&str]| load(sets).unwrap_err().to_string();
    for set in ["model.layers[0].stride=2", "model.layers[0].kernel=4"] {
        let err = refused(&[set]);
        assert!(
            err.contains("model.layers[0]: padding = \"same\""),
            "{set}: {err}"
        );
        assert!(err.contains("stride 1 and an odd kernel"), "{set}: {err}");
    }
    let err = refused(&["model.layers[1].padding=\"full\""]);
    assert!(err.contains("\"full\" is not a number of pixels"), "{err}");
    let err = refused(&["model.layers[1].padding=-1"]);
    assert!(err.contains("padding: -1 is negative"), "{err}");
}
