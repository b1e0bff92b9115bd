//! A model that went to PyTorch comes back: `import --like` takes a run's net, image-folder
//! classes and normalization from its checkpoint; `import --config` reads a folder's classes
//! and keeps the config's `data.image_size`.

use super::*;

/// A 3x3 conv, a 4x4 max pool and a linear layer of `classes` outputs: any input side that
/// 4 divides.
fn write_config(path: &Path, data: &str, classes: usize) {
    let text = format!(
        r#"seed = 5
[data]
{data}
[model]
preset = ""
layers = [
  {{ type = "conv", out = 4, kernel = 3, padding = 1 }},
  {{ type = "activation", kind = "relu" }},
  {{ type = "pool", kernel = 4 }},
  {{ type = "flatten" }},
  {{ type = "linear", out = {classes} }},
]
[train]
epochs = 1
batch_size = 8
"#
    );
    std::fs::write(path, text).unwrap();
}

/// What `predict --json --logits` prints for `images`: (top class, logits) per image.
fn predictions(d: &Path, ckpt: &str, images: &[&str]) -> Vec<(String, Vec<f64>)> {
    let mut args = vec!["predict", "--checkpoint", ckpt, "--json", "--logits"];
    args.extend(images);
    let out = convlab(&args, d);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&out)).unwrap();
    rows.iter()
        .map(|r| {
            let top = r["top"][0]["class"].as_str().unwrap().to_string();
            let logits = r["logits"].as_array().unwrap();
            (top, logits.iter().map(|x| x.as_f64().unwrap()).collect())
        })
        .collect()
}

fn import(d: &Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["import", "back.pth"];
    all.extend(args);
    convlab(&all, d)
}

#[test]
fn a_folder_model_exported_to_pytorch_imports_whole() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_png_folder(&d.join("pets"), &["cat", "dog", "owl"], 12);
    write_config(
        &d.join("pets.toml"),
        "dataset = \"folder\"\npath = \"pets\"",
        3,
    );
    let out = convlab(&["train", "pets.toml", "--quiet"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = convlab(
        &[
            "export",
            "runs/pets",
            "--format",
            "pytorch",
            "-o",
            "back.pth",
        ],
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let images = ["pets/test/cat/000.png", "pets/test/owl/003.png"];
    let trained = predictions(d, "runs/pets/best.ckpt", &images);

    // --like: the run's classes and normalization, so the same outputs.
    let out = import(d, &["--like", "runs/pets", "-o", "like.ckpt"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("3 classes"), "{}", stdout(&out));
    assert_eq!(predictions(d, "like.ckpt", &images), trained);
    let (like, _) = convlab::model::checkpoint::read_meta(&d.join("like.ckpt")).unwrap();
    assert_eq!(like.summary["net_from"], "runs/pets/best.ckpt");

    // --config of a folder (once "an image-folder dataset does not say its classes"): the
    // folder's classes and image shape. The config normalizes, so without --mean/--std it
    // warns that the net will get pixels in [0, 1].
    let out = import(d, &["--config", "pets.toml", "-o", "config.ckpt"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("data.normalize = true"),
        "{}",
        stderr(&out)
    );
    let (meta, _) = convlab::model::checkpoint::read_meta(&d.join("config.ckpt")).unwrap();
    assert_eq!(meta.classes, ["cat", "dog", "owl"]);
    assert_eq!(meta.input, [1, 16, 16]);
    assert!(meta.mean.is_empty());
    // With the run's --mean/--std it is the trained model again.
    let (run, _) = convlab::model::checkpoint::read_meta(&d.join("runs/pets/best.ckpt")).unwrap();
    let (mean, std) = (format!("{}", run.mean[0]), format!("{}", run.std[0]));
    let args = ["--config", "pets.toml", "--mean", &mean, "--std", &std];
    let out = import(d, &[&args[..], &["-o", "normalized.ckpt"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert_eq!(predictions(d, "normalized.ckpt", &images), trained);

    // --like takes the dataset from the checkpoint: --dataset with it is refused.
    let out = import(d, &["--like", "runs/pets", "--dataset", "cifar10"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // A preset alone cannot say a folder's classes.
    let out = import(d, &["--preset", "cifar-cnn", "--dataset", "folder"]);
    assert_bad_input(&out, &["--dataset", "--config with data.path"]);
    assert!(!d.join("back.ckpt").exists());
}

/// MNIST resized to 32x32 (as LeNet-5's notebooks do): the import takes the config's size,
/// not MNIST's 28x28, whose 7x7 planes would not fit the linear layer.
#[test]
fn import_config_keeps_the_image_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_idx_dataset(&d.join("mnist"), 40, 20, 10);
    let data = "dataset = \"mnist\"\nimage_size = [32, 32]\nnormalize = false";
    write_config(&d.join("lenet.toml"), data, 10);
    let out = convlab(&["train", "lenet.toml", "--quiet", "--data-dir", "."], d);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = convlab(
        &[
            "export",
            "runs/lenet",
            "--format",
            "pytorch",
            "-o",
            "back.pth",
        ],
        d,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = import(d, &["--config", "lenet.toml"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("input [1, 32, 32]"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).is_empty(), "{}", stderr(&out));
}
