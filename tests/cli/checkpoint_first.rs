//! The checkpoint as the first argument, as `eval`, `serve` and `export` already took it:
//! `convlab predict runs/tiny img.png` and `convlab finetune runs/tiny --data folder` were
//! clap errors ("--checkpoint is required", "unexpected argument 'runs/tiny'").

use super::*;

#[test]
fn predict_and_finetune_take_the_checkpoint_first() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    assert!(train(d, &cfg, &["--quiet"]).status.success());
    write_png_folder(&d.join("shapes"), &["circle", "square"], 3);
    let img = "shapes/test/circle/000.png";

    let flagged = convlab(&["predict", "--checkpoint", "runs/tiny", img, "--json"], d);
    assert!(flagged.status.success(), "{}", stderr(&flagged));
    for first in ["runs/tiny", "runs/tiny/best.ckpt"] {
        let out = convlab(&["predict", first, img, "--json"], d);
        assert!(out.status.success(), "{first}: {}", stderr(&out));
        assert_eq!(stdout(&out), stdout(&flagged), "{first}");
    }
    // An image where the model should be, or a model and no image: what is missing, named.
    assert_bad_input(
        &convlab(&["predict", img], d),
        &[
            "--checkpoint: no model given",
            "shapes/test/circle/000.png is neither",
        ],
    );
    assert_bad_input(
        &convlab(&["predict", "runs/tiny"], d),
        &["no images after the checkpoint runs/tiny"],
    );

    let out = convlab(
        &[
            "finetune",
            "runs/tiny",
            "--data",
            "shapes",
            "--epochs",
            "1",
            "--quiet",
        ],
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let config = std::fs::read_to_string(d.join("runs/finetune-shapes/config.toml")).unwrap();
    assert!(
        config.contains("pretrained = \"runs/tiny/best.ckpt\""),
        "{config}"
    );
}
