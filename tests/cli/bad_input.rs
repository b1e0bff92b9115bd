//! Bad input as a user meets it: a config, a net, a data file, a folder or a checkpoint
//! that is wrong gives one line naming it and exit 2.

use super::*;

#[test]
fn bad_config_inputs_are_one_line_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let name = cfg.to_str().unwrap();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["--set", "train.lerning_rate=1"],
            &[name, "unknown field `lerning_rate`"],
        ),
        (
            &["--set", "train.batch_size=0"],
            &[name, "train.batch_size: must be at least 1"],
        ),
        (&["--set", "train.batch_size=-5"], &[name, "batch_size"]),
        (
            &["--set", "optimizer.lr=-0.1"],
            &[name, "optimizer.lr: -0.1 must be a positive number"],
        ),
        (&["--set", "optimizer.lr=0"], &[name, "optimizer.lr"]),
        (
            &["--set", "optimizer.name=\"lion\""],
            &[name, "unknown value \"lion\"", "sgd, sgd-momentum, adam"],
        ),
        (
            &["--set", "model.preset=\"resnet99\""],
            &[name, "unknown preset \"resnet99\""],
        ),
        (&["--set", "data.val_fraction=1.5"], &[name, "val_fraction"]),
        (
            &["--set", "data.test_fraction=0"],
            &[name, "data.test_fraction: 0 is not in (0, 1)"],
        ),
        (
            &["--set", "data.image_size=[28, 0]"],
            &[name, "data.image_size: 0 is not a side length"],
        ),
        (
            &[
                "--set",
                "schedule.name=\"step\"",
                "--set",
                "schedule.step_size=0",
            ],
            &[name, "schedule.step_size"],
        ),
        (&["--set", "model.dropout=1.0"], &[name, "model.dropout"]),
        (
            &["--set", "optimizer.bn_bias_lr_scale=64"],
            &[name, "optimizer.bn_bias_lr_scale: is for SGD"],
        ),
        (
            &["--set", "data.hflip_alternate=true"],
            &[
                name,
                "data.hflip_alternate: alternating flips need data.hflip = true",
            ],
        ),
        (
            &["--set", "train.class_weights=[1.0, 2.0, 1.0]"],
            &[name, "train.class_weights: 3 weights for 10 classes"],
        ),
        (
            &["--set", "train.class_weights=\"balance\""],
            &[name, "train.class_weights: unknown value \"balance\""],
        ),
        (
            &["--set", "schedule.warmup_epochs=2"],
            &[
                name,
                "schedule.warmup_epochs: 2 leaves none of the 2 epochs",
            ],
        ),
        (
            &[
                "--set",
                "schedule.name=\"onecycle\"",
                "--set",
                "schedule.warmup_epochs=1",
            ],
            &[name, "onecycle cannot follow a warm-up"],
        ),
        (
            &["--set", "data.erasing=1.5"],
            &[name, "data.erasing: 1.5 is not a probability"],
        ),
        (
            &["--set", "data.rotation=200"],
            &[name, "data.rotation: 200 is not an angle in [0, 180]"],
        ),
        (
            &[
                "--set",
                "data.rotation=10",
                "--set",
                "data.pipeline=\"device\"",
            ],
            &[name, "data.rotation: is drawn on the host"],
        ),
        (
            &["--set", "train.tta=\"mirror\""],
            &[name, "unknown value \"mirror\"", "flip-translate"],
        ),
        (
            &[
                "--set",
                "model.preset=\"\"",
                "--set",
                "model.layers=[{type=\"flatten\"},{type=\"whiten\"}]",
            ],
            &[name, "model.layers[1] (whiten)", "must be the first layer"],
        ),
        // 0.2 of 2 images rounds to no validation image, which early stopping needs (Keras
        // refuses such a validation_split too); before, training ran without it silently.
        (
            &[
                "--set",
                "data.limit_train=2",
                "--set",
                "train.early_stopping_patience=1",
            ],
            &[
                name,
                "data.val_fraction 0.2 of 2 training images rounds to 0 validation images",
                "early stopping needs one",
            ],
        ),
        // A run's name is its folder under runs/: it must not climb out of it or be empty.
        (
            &["--set", "name=\"../outside\""],
            &[name, "name: \"../outside\" holds a path separator"],
        ),
        (&["--set", "name=\"\""], &[name, "name: \"\" is empty"]),
    ];
    for (args, needles) in cases {
        let out = train(dir.path(), &cfg, args);
        assert_bad_input(&out, needles);
    }
    assert!(
        !dir.path().join("runs").exists(),
        "no run folder for rejected configs"
    );
}

#[test]
fn shape_errors_name_the_layer() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("  {{ type = \"flatten\" }},\n", "")
        .replace("{ type = \"flatten\" },", "");
    let bad = dir.path().join("noflat.toml");
    std::fs::write(&bad, text).unwrap();
    let out = train(dir.path(), &bad, &[]);
    assert_bad_input(
        &out,
        &[
            "noflat.toml",
            "model.layers[4] (linear)",
            "add { type = \"flatten\" } before it",
        ],
    );
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("out = 10 }", "out = 10, in = 99 }");
    std::fs::write(&bad, text).unwrap();
    assert_bad_input(
        &train(dir.path(), &bad, &[]),
        &[
            "model.layers[5] (linear)",
            "declares in = 99 features but the previous layer gives",
        ],
    );
}

#[test]
fn bad_data_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let images = dir.path().join("mnist/train-images-idx3-ubyte.gz");
    let good = std::fs::read(&images).unwrap();
    // Truncated gzip stream.
    std::fs::write(&images, &good[..good.len() / 2]).unwrap();
    assert_bad_input(
        &train(dir.path(), &cfg, &[]),
        &["train-images-idx3-ubyte.gz"],
    );
    // Wrong magic (a label file in place of the images).
    std::fs::copy(dir.path().join("mnist/train-labels-idx1-ubyte.gz"), &images).unwrap();
    assert_bad_input(
        &train(dir.path(), &cfg, &[]),
        &["train-images-idx3-ubyte.gz", "wrong magic"],
    );
    // Label out of range.
    std::fs::write(&images, &good).unwrap();
    std::fs::write(
        dir.path().join("mnist/t10k-labels-idx1-ubyte.gz"),
        gz(&idx_labels(&[10u8; 200])),
    )
    .unwrap();
    assert_bad_input(
        &train(dir.path(), &cfg, &[]),
        &[
            "t10k-labels-idx1-ubyte.gz",
            "label 10 at index 0 is out of range",
        ],
    );
}

/// A path of the wrong kind (a folder where a file goes, a file where a folder goes) or a
/// config that is not text: exit 2 naming the path, like any other bad input (it was exit 1,
/// the code for convlab's own failures, until 2026-12-02).
#[test]
fn wrong_kind_of_path_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("a-folder");
    std::fs::create_dir(&folder).unwrap();
    let binary = dir.path().join("binary.toml");
    std::fs::write(&binary, [0xffu8, 0xfe, 0x00, 0x9c]).unwrap();
    let file = dir.path().join("plain.txt");
    std::fs::write(&file, "not a study folder").unwrap();
    let (folder_s, binary_s, file_s) = (
        folder.to_str().unwrap(),
        binary.to_str().unwrap(),
        file.to_str().unwrap(),
    );
    assert_bad_input(&convlab(&["train", folder_s], dir.path()), &[folder_s]);
    assert_bad_input(&convlab(&["sweep", folder_s], dir.path()), &[folder_s]);
    assert_bad_input(
        &convlab(&["train", binary_s], dir.path()),
        &[binary_s, "not a config file: a config is TOML text (.toml)"],
    );
    assert_bad_input(&convlab(&["report", file_s], dir.path()), &[file_s]);
    assert!(
        std::fs::read_dir(dir.path().join("runs")).is_err(),
        "a refused config must not leave a run folder"
    );
}

#[test]
fn missing_dataset_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let out = train(dir.path(), &cfg, &["--set", "data.dataset=\"cifar10\""]);
    assert_bad_input(
        &out,
        &[
            "cifar10 not found",
            &dir.path().display().to_string(),
            "--download",
        ],
    );
}

/// A file named as an image that does not decode is the one error, naming it; a readme
/// beside it is skipped (as torchvision's `ImageFolder` skips it) with a warning naming it.
#[test]
fn non_image_in_an_image_folder() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    write_png_folder(&dir.path().join("pets"), &["cat", "dog"], 3);
    std::fs::write(dir.path().join("pets/test/dog/readme.md"), "# hi").unwrap();
    std::fs::write(dir.path().join("pets/test/dog/photo.jpg"), "# not a photo").unwrap();
    let out = train(
        dir.path(),
        &cfg,
        &[
            "--set",
            "data.dataset=\"folder\"",
            "--set",
            "data.path=\"pets\"",
        ],
    );
    assert_bad_input(
        &out,
        &[
            "pets/test/dog/photo.jpg",
            "not a readable image: PNG, JPEG,",
        ],
    );
    let warning = stderr(&out);
    assert!(
        warning.lines().any(|l| l
            .starts_with("warning: pets: skipped 1 file not named as an image")
            && l.ends_with("pets/test/dog/readme.md")),
        "{warning}"
    );
}

#[test]
fn corrupt_and_mismatched_checkpoints_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    assert!(
        train(dir.path(), &cfg, &["--set", "train.epochs=1"])
            .status
            .success()
    );
    let d = dir.path().to_str().unwrap();
    std::fs::write(dir.path().join("junk.ckpt"), b"hello").unwrap();
    assert_bad_input(
        &convlab(
            &["eval", "--checkpoint", "junk.ckpt", "--data-dir", d],
            dir.path(),
        ),
        &["junk.ckpt", "not a convlab checkpoint"],
    );
    let mut bytes = std::fs::read(dir.path().join("runs/tiny/last.ckpt")).unwrap();
    bytes.truncate(bytes.len() - 100);
    std::fs::write(dir.path().join("cut.ckpt"), &bytes).unwrap();
    assert_bad_input(
        &convlab(
            &["eval", "--checkpoint", "cut.ckpt", "--data-dir", d],
            dir.path(),
        ),
        &["cut.ckpt"],
    );
    assert_bad_input(
        &convlab(
            &["eval", "--checkpoint", "nope.ckpt", "--data-dir", d],
            dir.path(),
        ),
        &["nope.ckpt"],
    );
    // A run folder stands for its best.ckpt; a folder without one is named, not read.
    let eval_json = |ckpt: &str| {
        let args = ["eval", "--checkpoint", ckpt, "--data-dir", d, "--json"];
        convlab(&args, dir.path())
    };
    let (by_file, by_folder) = (eval_json("runs/tiny/best.ckpt"), eval_json("runs/tiny"));
    assert!(by_folder.status.success(), "{}", stderr(&by_folder));
    let (f, g): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(stdout(&by_file).trim()).unwrap(),
        serde_json::from_str(stdout(&by_folder).trim()).unwrap(),
    );
    assert_eq!(f["test_loss"], g["test_loss"]);
    assert!(
        g["checkpoint"].as_str().unwrap().ends_with("best.ckpt"),
        "{g}"
    );
    assert_bad_input(
        &convlab(
            &["eval", "--checkpoint", "runs", "--data-dir", d],
            dir.path(),
        ),
        &["runs", "no best.ckpt"],
    );
}

/// `convlab presets | head`: a reader that goes away ends the process quietly (status 141,
/// as a tool killed by SIGPIPE), not with a panic. The pipe's read end is closed before the
/// process starts, so its first write fails every time.
#[test]
fn a_closed_stdout_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(bin())
        .arg("presets")
        .current_dir(dir.path())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert!(err.is_empty(), "{err}");
}

/// A folder where the config file goes (`convlab train photos/`, as fastai's `from_folder`
/// takes one, or a run folder) says what to give instead; it was "Is a directory (os error 21)".
#[test]
fn a_folder_given_as_the_config_says_what_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    std::fs::create_dir_all(dir.path().join("photos/cats")).unwrap();
    let photos = convlab(&["train", "photos"], dir.path());
    assert_bad_input(
        &photos,
        &[
            "photos: a folder, not a config file",
            "[data] dataset = \"folder\" and path = \"photos\"",
        ],
    );
    assert!(train(dir.path(), &cfg, &["--quiet"]).status.success());
    let run = convlab(&["sweep", "runs/tiny"], dir.path());
    assert_bad_input(
        &run,
        &["runs/tiny: a run folder, not a config file: its config is runs/tiny/config.toml"],
    );
}
