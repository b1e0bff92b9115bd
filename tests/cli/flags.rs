//! A config key typed as a flag (`convlab train cfg.toml --epochs 3`, as a PyTorch script
//! takes it): one line naming the `--set` meant, exit 2, nothing trained. clap alone said
//! "unexpected argument '--epochs' found" and a tip about `-- --epochs`.

use super::*;

#[test]
fn a_config_key_given_as_a_flag_names_its_set() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    assert_bad_input(
        &train(dir.path(), &cfg, &["--epochs", "3"]),
        &[
            "unexpected argument '--epochs': config keys are set with --set, e.g. --set train.epochs=3",
        ],
    );
    assert_bad_input(
        &train(dir.path(), &cfg, &["--weight-decay=0.1", "--quiet"]),
        &[
            "unexpected argument '--weight-decay'",
            "--set optimizer.weight_decay=0.1",
        ],
    );
    // A --set split from its value by a space: clap said "unexpected argument '3' found".
    assert_bad_input(
        &train(dir.path(), &cfg, &["--set", "train.epochs", "3"]),
        &[
            "--set train.epochs 3: a --set is one KEY=VALUE argument, without spaces: --set train.epochs=3",
        ],
    );
    // A study key on a run config said "unknown field `study`".
    assert_bad_input(
        &train(dir.path(), &cfg, &["--set", "study.seeds=2"]),
        &[
            "--set study.seeds=2: study.* keys are a study's",
            "has no [study] table); train seeds one by one with --set seed=N",
        ],
    );
    // Not a config key: clap's own error, as before.
    let other = train(dir.path(), &cfg, &["--frobnicate"]);
    assert_eq!(other.status.code(), Some(2));
    assert!(stderr(&other).contains("unexpected argument '--frobnicate' found"));
    assert!(!dir.path().join("runs").exists());
}

/// A bad value that a `--set` gave names that `--set` beside the file: the error named the
/// file alone, where the user looked for the key in vain. The last `--set` of a key is the
/// one named; a bad value in the file still names the file alone.
#[test]
fn a_bad_value_from_a_set_names_the_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    let sets = [
        "--set",
        "optimizer.name=sgd",
        "--set",
        "optimizer.name=adamm",
    ];
    assert_bad_input(
        &train(d, &cfg, &sets),
        &["tiny.toml with --set optimizer.name=adamm: optimizer.name: unknown value \"adamm\""],
    );
    assert_bad_input(
        &train(d, &cfg, &["--set", "train.batch_size=0"]),
        &["tiny.toml with --set train.batch_size=0: train.batch_size: must be at least 1"],
    );
    let study = d.join("study.toml");
    std::fs::write(
        &study,
        "[study]\nbase = \"tiny.toml\"\n[study.axes]\nlr = [1e-3, 1e-2]\n",
    )
    .unwrap();
    let sweep = ["sweep", "study.toml", "--set", "train.foo=1"];
    assert_bad_input(
        &convlab(&sweep, d),
        &["study.toml (variant lr=0.001) with --set train.foo=1: train.foo: unknown field `foo`"],
    );
    // A layer's --set behind a shape error found once the data is loaded (another layer's
    // --set is not named), and behind a warning about its key.
    let layer = [
        "--set",
        "model.layers[0].out=8",
        "--set",
        "model.layers[2].kernel=30",
    ];
    assert_bad_input(
        &train(d, &cfg, &layer),
        &[
            "tiny.toml with --set model.layers[2].kernel=30: model.layers[2] (pool), input \
           8x12x12: kernel 30 is larger than its 12x12 input",
        ],
    );
    let gray = ["--set", "data.saturation=0.4", "--set", "train.epochs=1"];
    let out = train(d, &cfg, &gray);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "tiny.toml with --set data.saturation=0.4: data.saturation does nothing on \
             one-channel images"
        ),
        "{}",
        stderr(&out)
    );
    std::fs::remove_dir_all(d.join("runs")).unwrap();
    let bad_file = setup(d, "label_smoothing = 2.0");
    let out = train(d, &bad_file, &["--set", "train.epochs=1"]);
    assert_bad_input(&out, &["tiny.toml: train.label_smoothing: "]);
    assert!(!stderr(&out).contains("--set"), "{}", stderr(&out));
    assert!(!d.join("runs").exists());
}

/// A negative number is a value, checked as any other: `lr-find --start -1` was clap's
/// "unexpected argument '-1' found" (read as a flag named 1).
#[test]
fn a_negative_number_reaches_its_check() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let args = ["lr-find", cfg.to_str().unwrap(), "--start", "-1"];
    assert_bad_input(
        &convlab(&args, dir.path()),
        &["--start/--end: need 0 < start < end (got -1 and 10)"],
    );
}

/// `--set model.layers[4].out=16` edits one layer as the shape errors name it (it was
/// "unknown field `layers[4]`"); a study axis takes the same key; a wrong index names the
/// list's length.
#[test]
fn a_set_key_indexes_a_layer_list() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let net = r#"
[data]
dataset = "mnist"
[model]
preset = ""
layers = [
  { type = "conv", out = 8, kernel = 3, padding = 1 },
  { type = "activation", kind = "relu" },
  { type = "pool", kernel = 2 },
  { type = "flatten" },
  { type = "linear", out = 10 },
]
"#;
    std::fs::write(d.join("net.toml"), net).unwrap();
    let set = |sets: &[&str]| {
        let mut args = vec!["summary", "net.toml"];
        args.extend(sets.iter().flat_map(|s| ["--set", s]));
        convlab(&args, d)
    };
    let out = set(&["model.layers[0].out=6", "model.layers[1].kind=elu"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("conv 6 3x3 pad 1") && text.contains(" elu "),
        "{text}"
    );
    // 6 x 14 x 14 features into the linear layer: its weights are 1176 x 10 + 10.
    assert!(text.contains("11,770"), "{text}");
    assert_bad_input(
        &set(&["model.layers[5].out=6"]),
        &[
            "--set model.layers[5].out=6",
            "model.layers has 5 entries, numbered from 0 to 4",
        ],
    );
    assert_bad_input(
        &set(&["model.layers[x].out=6"]),
        &["index `x` is not a whole number from 0"],
    );

    let study = "[study]\nbase = \"net.toml\"\nseeds = 1\n[study.axes]\n\"model.layers[0].out\" = [4, 12]\n";
    std::fs::write(d.join("study.toml"), study).unwrap();
    let out = convlab(&["summary", "study.toml"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("model.layers[0].out=4") && text.contains("conv 12 3x3 pad 1"),
        "{text}"
    );
}

/// finetune's own flags set some run-config keys: a `--set` of one fought its flag (the
/// --set won, silently), and more frozen epochs than epochs froze every one unasked.
#[test]
fn finetune_flags_own_their_keys_and_freezing_fits_in_the_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    assert!(train(d, &cfg, &["--quiet"]).status.success());
    let finetune = |extra: &[&str]| {
        let base = ["finetune", "--checkpoint", "runs/tiny", "--data", "folder"];
        convlab(&[&base[..], extra].concat(), d)
    };
    assert_bad_input(
        &finetune(&["--epochs", "2", "--set", "train.epochs=3"]),
        &["--set train.epochs=3: finetune sets train.epochs with --epochs"],
    );
    assert_bad_input(
        &finetune(&["--set", "optimizer.lr=0.1"]),
        &["--set optimizer.lr=0.1: finetune sets optimizer.lr with --lr"],
    );
    assert_bad_input(
        &finetune(&["--epochs", "2", "--freeze-epochs", "5"]),
        &["--freeze-epochs: 5 is more than --epochs 2: the frozen epochs are among them"],
    );
    // A run config says the same in its keys.
    assert_bad_input(
        &train(
            d,
            &cfg,
            &["--set", "train.freeze_epochs=3", "--set", "train.epochs=2"],
        ),
        &["train.freeze_epochs: 3 is more than train.epochs 2"],
    );
    assert!(!d.join("runs/finetune-folder").exists());
}

/// `--set schedule.max_lr=0.1` without onecycle trained at optimizer.lr with no word;
/// PyTorch would have refused the keyword. Still trains (a study's base may carry such keys).
/// The warning names the `--set`, as an error about its key does.
#[test]
fn a_key_the_optimizer_or_schedule_never_reads_is_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    let out = train(d, &cfg, &["--set", "schedule.max_lr=0.1", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).lines().next(),
        Some(&*format!(
            "warning: {} with --set schedule.max_lr=0.1: schedule.max_lr is onecycle's; schedule.name = \"constant\" does not read it",
            cfg.display()
        )),
        "{}",
        stderr(&out)
    ); // Written in the file at its default value (gamma's 0.1) counts as set too.
    let cfg = setup(d, "[schedule]\nname = \"cosine\"\ngamma = 0.1");
    let out = train(d, &cfg, &["--set", "train.epochs=1", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).lines().next(),
        Some(&*format!(
            "warning: {}: schedule.gamma is step's, multistep's and exponential's; schedule.name = \"cosine\" does not read it",
            cfg.display()
        )),
        "{}",
        stderr(&out)
    );
}

/// A file of the wrong kind for its argument is named for what it likely is: report of a
/// study file said "study.toml/study.json: Not a directory (os error 20)", eval of a
/// PyTorch file "wrong magic bytes", lr-find of a study only "run it with sweep".
#[test]
fn a_file_of_another_kind_is_named_for_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    setup(d, "");
    std::fs::write(
        d.join("study.toml"),
        "[study]\nbase = \"tiny.toml\"\nseeds = 2\n",
    )
    .unwrap();
    std::fs::write(d.join("model.pth"), b"PK\x03\x04 not a convlab file").unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["report", "study.toml"],
            "study.toml: a config file; report takes folders: a study's runs/<study>/",
        ),
        (
            &["eval", "--checkpoint", "model.pth"],
            "model.pth: not a convlab checkpoint (a PyTorch file? `convlab import` turns a state_dict into a checkpoint)",
        ),
        (
            &["predict", "--checkpoint", "tiny.toml", "model.pth"],
            "tiny.toml: not a convlab checkpoint (a config file: give a run folder (its best.ckpt) or a .ckpt)",
        ),
        (
            &["lr-find", "study.toml"],
            "study.toml: a [study] table: this is a study; run it with `convlab sweep` (`convlab summary` shows its nets); its base, tiny.toml, is a run config",
        ),
    ];
    for (args, message) in cases {
        assert_bad_input(&convlab(args, d), &[message]);
    }
}

/// `--run-dir` of a folder holding the user's own files wrote checkpoints and metrics.csv
/// among them (over any file of those names); of a file, "File exists (os error 17)", exit 1.
#[test]
fn run_dir_takes_a_new_or_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    std::fs::create_dir_all(d.join("photos/cat")).unwrap();
    std::fs::write(d.join("photos/metrics.csv"), "mine\n").unwrap();
    std::fs::write(d.join("notes.txt"), "mine\n").unwrap();
    assert_bad_input(
        &train(d, &cfg, &["--run-dir", "photos"]),
        &["photos: holds other files (cat, metrics.csv); --run-dir takes a new or empty folder"],
    );
    assert_eq!(
        std::fs::read_to_string(d.join("photos/metrics.csv")).unwrap(),
        "mine\n"
    );
    assert_bad_input(
        &train(d, &cfg, &["--run-dir", "notes.txt"]),
        &["notes.txt: a file; --run-dir takes a folder"],
    );
    std::fs::create_dir(d.join("empty")).unwrap();
    let out = train(d, &cfg, &["--run-dir", "empty", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(d.join("empty/best.ckpt").is_file());
}

/// Every flag of every command says what it is in `--help`: lr-find's --start and --end
/// showed only their defaults, so 1e-7 could not be told from a typo.
#[test]
fn every_flag_has_help_text() {
    let dir = tempfile::tempdir().unwrap();
    let top = stdout(&convlab(&["--help"], dir.path()));
    let commands: Vec<&str> = (top.lines())
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(commands.len() >= 10, "{top}");
    for c in commands {
        let help = stdout(&convlab(&[c, "--help"], dir.path()));
        let lines: Vec<&str> = help.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !line.trim_start().starts_with('-') {
                continue;
            }
            // "  --flag <VALUE>  What it is [default: x]", or the text on the next line
            // (clap's layout when a flag's text is long).
            let same_line = line.trim_start().split("  ").skip(1).collect::<String>();
            let next = lines.get(i + 1).copied().unwrap_or_default();
            let text = match same_line.trim() {
                "" if !next.trim_start().starts_with('-') => next.trim(),
                t => t,
            };
            assert!(
                !text.is_empty() && !text.starts_with('['),
                "convlab {c} --help: {line:?} has no help text"
            );
        }
    }
}
