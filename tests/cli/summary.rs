//! `convlab summary`: each preset's parameters and forward multiply-adds against PyTorch's
//! count of the same net, made by (bench/seed_nets.py and bench/pytorch_fast.py's nets):
//!
//! ```python
//! from torch.utils.flop_counter import FlopCounterMode
//! with FlopCounterMode(display=False) as fc:
//!     net.eval()(torch.zeros(1, *input_shape))
//! fc.get_total_flops() // 2, sum(p.numel() for p in net.parameters())
//! ```

use super::*;

fn example(name: &str) -> String {
    format!("{}/examples/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// (parameters, multiply-adds) from the totals line.
fn totals(out: &std::process::Output) -> (u64, u64) {
    assert!(out.status.success(), "{}", stderr(out));
    let text = stdout(out);
    let line = text
        .lines()
        .find(|l| l.starts_with("parameters "))
        .unwrap_or_else(|| panic!("no totals line in {text}"));
    let numbers: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.replace(',', "").parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

#[test]
fn presets_count_as_pytorch_does() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("mnist-cnn", "mnist", 160_922, 792_840),
        ("cifar-cnn", "cifar10", 295_650, 2_258_920),
        ("vgg-blocks", "cifar10", 9_457_962, 65_980_928),
        ("bn-prelu-cnn", "cifar10", 434_722, 10_290_152),
        ("resnet18", "cifar10", 11_173_962, 555_422_720),
    ];
    let cfg = example("mnist.toml");
    for (preset, dataset, params, mult_adds) in cases {
        let p = format!("model.preset={preset}");
        let d = format!("data.dataset={dataset}");
        let out = convlab(&["summary", &cfg, "--set", &p, "--set", &d], dir.path());
        assert_eq!(totals(&out), (params, mult_adds), "{preset}");
    }
    // airbench's net (a whitening conv, GELU, shift-only batch norm, a scale on the logits).
    let out = convlab(&["summary", &example("cifar10-fast.toml")], dir.path());
    assert_eq!(totals(&out), (1_972_792, 118_147_360));
    let text = stdout(&out);
    assert!(text.contains("whiten 2x2"), "{text}");
    assert!(text.contains("24x31x31"), "{text}");
}

#[test]
fn a_folder_is_read_for_its_classes_and_a_bad_net_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_png_folder(&d.join("shapes"), &["circle", "square", "star"], 2);
    let cfg = d.join("folder.toml");
    std::fs::write(
        &cfg,
        "[data]\ndataset = \"folder\"\npath = \"shapes\"\n[model]\npreset = \"mnist-cnn\"\n",
    )
    .unwrap();
    let out = convlab(&["summary", "folder.toml"], d);
    let text = stdout(&out);
    // 16x16 grayscale images: two pools leave 32x4x4; the head has the folder's 3 classes.
    assert!(text.contains("input 1x16x16, 3 classes"), "{text}");
    assert!(text.contains("512 features"), "{text}");
    let (params, _) = totals(&out);
    assert_eq!(params, 100 + 2_912 + (512 * 100 + 100) + (100 * 3 + 3));

    // A layer list that cannot take its input fails as train would, naming the layer.
    std::fs::write(
        &cfg,
        "[data]\ndataset = \"mnist\"\n[model]\npreset = \"\"\nlayers = [{ type = \"linear\", out = 10 }]\n",
    )
    .unwrap();
    let out = convlab(&["summary", "folder.toml"], d);
    assert_bad_input(&out, &["folder.toml", "model.layers[0] (linear)"]);
    // A preset's layer by its number in the preset (it said model.layers[4], a key the
    // config does not have).
    std::fs::write(
        &cfg,
        "[data]\ndataset = \"mnist\"\nimage_size = [2, 2]\n[model]\npreset = \"mnist-cnn\"\n",
    )
    .unwrap();
    let out = convlab(&["summary", "folder.toml"], d);
    assert_bad_input(
        &out,
        &["folder.toml: preset mnist-cnn, layer 4 (pool), input 32x1x1: kernel 2 is larger"],
    );
}

#[test]
fn a_checkpoint_shows_the_net_it_stores() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "epochs = 1");
    let cfg_text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, cfg_text.replace("epochs = 2\n", "")).unwrap();
    let out = train(d, &cfg, &["--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let from_config = convlab(&["summary", "tiny.toml"], d);
    let from_ckpt = convlab(&["summary", "runs/tiny/best.ckpt"], d);
    let (a, b) = (stdout(&from_config), stdout(&from_ckpt));
    assert!(
        b.starts_with("runs/tiny/best.ckpt: trained net (epoch 1)"),
        "{b}"
    );
    // Everything after the first line (the layer rows and totals) is the same net's.
    let rows = |t: &str| t.lines().skip(1).map(String::from).collect::<Vec<_>>();
    assert_eq!(rows(&a), rows(&b));
    assert_eq!(totals(&from_ckpt), totals(&from_config));
    let with_set = convlab(
        &["summary", "runs/tiny/best.ckpt", "--set", "train.epochs=2"],
        d,
    );
    assert_bad_input(&with_set, &["best.ckpt", "--set"]);
    // A run folder stands for its best.ckpt (it said "a run folder, not a config file").
    let from_run = convlab(&["summary", "runs/tiny"], d);
    assert_eq!(stdout(&from_run), b);
    // Not text: says what was expected (it said "stream did not contain valid UTF-8").
    let ckpt_as_config = convlab(&["train", "runs/tiny/best.ckpt"], d);
    assert_bad_input(
        &ckpt_as_config,
        &["runs/tiny/best.ckpt: not a config file: a config is TOML text (.toml)"],
    );
}

/// `convlab summary FILE` of a study written to `file`: its stdout, the run checked to succeed.
fn study_summary(d: &std::path::Path, file: &str, study: &str) -> String {
    std::fs::write(d.join(file), study).unwrap();
    let out = convlab(&["summary", file], d);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// A study file shows each distinct net once, naming the variants that train it; `train` on
/// a study file says to use `sweep` instead of listing the run keys.
#[test]
fn a_study_shows_each_distinct_net_with_its_variants() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let net = "[data]\ndataset = \"mnist\"\n[model]\npreset = \"mnist-cnn\"\n";
    let optimizers = "optimizer = [\"sgd\", \"adam\"]\n";
    let activations = "activation = [\"relu\", \"elu\"]\n";
    let text = study_summary(
        d,
        "study.toml",
        &format!("[study]\nseeds = 2\n[study.axes]\n{activations}{optimizers}{net}"),
    );
    assert!(
        text.starts_with("study study: 4 variants, 2 distinct nets"),
        "{text}"
    );
    let heads: Vec<&str> = text.lines().filter(|l| l.starts_with("preset")).collect();
    assert_eq!(heads.len(), 2, "{text}");
    let names =
        |act| format!("for activation={act},optimizer=sgd, activation={act},optimizer=adam,");
    assert!(heads[0].contains(&names("relu")), "{text}");
    assert!(heads[1].contains(&names("elu")), "{text}");
    assert!(text.contains(" elu "), "{text}");
    // The activation adds no parameters: both nets have the preset's count.
    assert_eq!(text.matches("parameters 160,922").count(), 2, "{text}");
    // An axis that leaves the net alone: one net, for every variant.
    let text = study_summary(
        d,
        "study.toml",
        &format!("[study]\nseeds = 2\n[study.axes]\n{optimizers}{net}"),
    );
    assert!(
        text.starts_with("study study: 2 variants, 1 distinct net"),
        "{text}"
    );
    assert!(
        text.contains("preset mnist-cnn for every variant"),
        "{text}"
    );

    // A folder study: the folder gives every variant its input shape and classes.
    write_png_folder(&d.join("shapes"), &["circle", "square", "star"], 2);
    let folder = net.replace("\"mnist\"", "\"folder\"\npath = \"shapes\"");
    let text = study_summary(
        d,
        "folder-study.toml",
        &format!("[study]\n[study.axes]\n{activations}{folder}"),
    );
    assert_eq!(
        text.matches("input 1x16x16, 3 classes").count(),
        2,
        "{text}"
    );

    let out = convlab(&["train", "study.toml"], d);
    assert_bad_input(&out, &["study.toml", "[study]", "convlab sweep"]);
    assert!(!d.join("runs").exists());
}

/// A description longer than the layer column's 28 characters widens the column, so every
/// row's output shape still ends under the header's "output" (it pushed its row's other
/// columns 8 characters right).
#[test]
fn a_long_layer_description_keeps_the_columns_aligned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("stem.toml"),
        "[data]\ndataset = \"cifar10\"\n[model]\npreset = \"\"\nlayers = [\n\
         { type = \"conv\", out = 64, kernel = 7, stride = 2, padding = 3, bias = false },\n\
         { type = \"flatten\" },\n{ type = \"linear\", out = 10 },\n]\n",
    )
    .unwrap();
    let out = convlab(&["summary", "stem.toml"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let end_of = |line: &str, word: &str| line.find(word).map(|i| i + word.len());
    let header_end = end_of(lines[1], "output").unwrap();
    let rows = [
        ("conv 64 7x7 stride 2 pad 3, no bias", "64x16x16"),
        ("flatten", "16384 features"),
        ("linear 10", "10 features"),
    ];
    for (i, (layer, output)) in rows.iter().enumerate() {
        let row = lines[2 + i];
        assert!(row.contains(layer), "{text}");
        assert_eq!(end_of(row, output), Some(header_end), "{text}");
    }
}

/// A Keras-style net: `input_shape` on the first layer is checked against the data's images
/// (Keras' order [H, W, C], PyTorch's [C, H, W], [H, W] for one channel, or flat), and
/// `input_dim` on a dense layer is its `in`; both were "unknown field" errors.
#[test]
fn keras_input_shape_is_checked_against_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let net = |first: &str| {
        format!(
            "[data]\ndataset = \"mnist\"\n[model]\nlayers = [{first}, \
             {{ type = \"Dense\", units = 32, input_dim = 784 }}, {{ type = \"ReLU\" }}, \
             {{ type = \"Dense\", units = 10 }}]\n"
        )
    };
    for shape in ["[28, 28, 1]", "[1, 28, 28]", "[28, 28]", "[784]"] {
        let first = format!("{{ type = \"Flatten\", input_shape = {shape} }}");
        std::fs::write(d.join("keras.toml"), net(&first)).unwrap();
        let out = convlab(&["summary", "keras.toml"], d);
        assert_eq!(totals(&out).0, 784 * 32 + 32 + 32 * 10 + 10, "{shape}");
    }
    let first = "{ type = \"Flatten\", input_shape = [32, 32, 3] }";
    std::fs::write(d.join("keras.toml"), net(first)).unwrap();
    let out = convlab(&["summary", "keras.toml"], d);
    assert_bad_input(
        &out,
        &[
            "keras.toml: model.input_shape = [32, 32, 3] (Keras' input_shape) but the data's \
           images are 1x28x28 (channels x height x width): Keras' order is [28, 28, 1]",
        ],
    );
    // On a later layer Keras ignores it; here it is named.
    let later =
        net("{ type = \"Flatten\" }").replace("units = 10", "units = 10, input_shape = [32]");
    std::fs::write(d.join("keras.toml"), later).unwrap();
    let out = convlab(&["summary", "keras.toml"], d);
    assert_bad_input(
        &out,
        &["model.layers[3] (linear): input_shape belongs on the first layer"],
    );
    // input_dim is checked as `in` is.
    std::fs::write(
        d.join("keras.toml"),
        net("{ type = \"Flatten\" }").replace("784", "100"),
    )
    .unwrap();
    let out = convlab(&["summary", "keras.toml"], d);
    assert_bad_input(&out, &["model.layers[1] (linear)"]);
}

/// The bench nets with dilation, groups and per-channel PReLUs count as PyTorch does
/// (`sum(p.numel() ...)` of the nn.Sequential in each file's header, FlopCounterMode's
/// FLOPs / 2); a `--set` that breaks a net is named beside the file, and layers a preset
/// leaves unread get train's warning.
#[test]
fn custom_nets_count_as_pytorch_does_and_a_bad_set_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let net = |name: &str| format!("{}/bench/nets/{name}", env!("CARGO_MANIFEST_DIR"));
    let out = convlab(&["summary", &net("separable.toml")], dir.path());
    assert_eq!(totals(&out), (13_162, 3_777_024));
    assert!(stdout(&out).contains("conv 64 3x3 pad 2 dilation 2 groups 64, no bias"));
    let out = convlab(&["summary", &net("print-model-args.toml")], dir.path());
    assert_eq!(totals(&out), (421_930, 4_241_152));
    let set = "model.layers[3].groups=5";
    let out = convlab(
        &["summary", &net("separable.toml"), "--set", set],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let why = format!("with --set {set}: model.layers[3] (conv), input 32x28x28: groups = 5");
    assert!(stderr(&out).contains(&why), "{}", stderr(&out));
    let set = "model.layers=[{type=\"conv\", out=8}]";
    let out = convlab(
        &["summary", &example("mnist.toml"), "--set", set],
        dir.path(),
    );
    assert!(
        stderr(&out).contains("so the layers are not read"),
        "{}",
        stderr(&out)
    );
}
