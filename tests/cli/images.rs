//! The user's own images: an image folder of any class count, predict on files of any
//! size or folders of them, fine-tune and evaluate on a new folder.

use super::*;

#[test]
fn image_folder_trains_with_any_class_count() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    write_png_folder(&dir.path().join("pets"), &["cat", "dog", "owl"], 40);
    // The custom net ends in 10 outputs: a clear error, then a preset that fits.
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
    assert_bad_input(&out, &["the dataset has 3 classes", "out = 3"]);
    let out = train(
        dir.path(),
        &cfg,
        &[
            "--set",
            "data.dataset=\"folder\"",
            "--set",
            "data.path=\"pets\"",
            "--set",
            "model.preset=\"bn-prelu-cnn\"",
            "--set",
            "train.epochs=3",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("runs/tiny/summary.json")).unwrap(),
    )
    .unwrap();
    assert!(summary["test_acc"].as_f64().unwrap() > 0.5, "{summary}");
}

#[test]
fn predict_own_images_of_any_size_and_names_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), "");
    let out = train(dir.path(), &cfg, &["--set", "train.epochs=3", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Pattern images of classes 0..3, upscaled to 84x84 RGB: predict converts them to 28x28
    // grayscale as the model expects.
    let mut files = Vec::new();
    for label in 0..4u8 {
        let small = pattern(label, 4, 28, 5_000_000 + label as usize);
        let img = image::GrayImage::from_raw(28, 28, small).unwrap();
        let big = image::DynamicImage::ImageLuma8(img)
            .resize_exact(84, 84, image::imageops::FilterType::Nearest)
            .into_rgb8();
        let path = dir.path().join(format!("mine-{label}.png"));
        big.save(&path).unwrap();
        files.push(path.to_str().unwrap().to_string());
    }
    std::fs::write(dir.path().join("notes.png"), b"not really a png").unwrap();
    // A JPEG cut short: the decoder's message ends in a newline, which left ")" alone on the
    // next line of stderr.
    let jpeg = dir.path().join("cut.jpg");
    image::open(&files[0]).unwrap().save(&jpeg).unwrap();
    let whole = std::fs::read(&jpeg).unwrap();
    std::fs::write(&jpeg, &whole[..300]).unwrap();
    let mut args = vec!["predict", "--checkpoint", "runs/tiny/best.ckpt", "-k", "2"];
    args.extend(files.iter().map(String::as_str));
    args.extend(["notes.png", "cut.jpg"]);
    let p = convlab(&args, dir.path());
    let err = stderr(&p);
    assert_eq!(p.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.lines().all(|l| l.starts_with("error: ")), "{err}");
    assert!(
        err.contains(
            "cut.jpg: not a readable image: PNG, JPEG, BMP, GIF, WebP, TIFF, PPM or \
             PGM (Format error decoding Jpeg: "
        ),
        "{err}"
    );
    let bad: Vec<&str> = err.lines().filter(|l| l.contains("notes.png")).collect();
    assert_eq!(bad.len(), 1, "{err}");
    assert!(bad[0].contains("not a readable image: PNG, JPEG,"), "{err}");
    let text = stdout(&p);
    let mut right = 0;
    for (label, f) in files.iter().enumerate() {
        let line = text
            .lines()
            .find(|l| l.starts_with(f.as_str()))
            .unwrap_or_else(|| panic!("{text}"));
        let first = line.split(": ").nth(1).unwrap().split(' ').next().unwrap();
        right += usize::from(first == label.to_string());
        assert_eq!(line.matches('(').count(), 2, "top-2: {line}");
    }
    assert!(right >= 3, "{right}/4 right:\n{text}");

    // JSON: every file in order, probabilities of the top-10 summing to 1.
    let mut args = vec![
        "predict",
        "--checkpoint",
        "runs/tiny/best.ckpt",
        "-k",
        "10",
        "--json",
    ];
    args.extend(files.iter().map(String::as_str));
    let j = convlab(&args, dir.path());
    assert!(j.status.success(), "{}", stderr(&j));
    let v: serde_json::Value = serde_json::from_str(stdout(&j).trim()).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    let sum: f64 = v[0]["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["probability"].as_f64().unwrap())
        .sum();
    assert!((sum - 1.0).abs() < 1e-4, "{sum}");

    // A folder: its image files (any of the formats read) at any depth, in name order, other
    // and hidden files skipped, each with the result the file alone gets.
    let album = dir.path().join("album");
    std::fs::create_dir_all(album.join("later")).unwrap();
    std::fs::create_dir_all(album.join(".thumbs")).unwrap();
    for (label, f) in files.iter().enumerate() {
        let to = match label {
            0 => album.join("later").join("z.PNG"),
            2 => album.join("2.bmp"),
            3 => album.join("3.webp"),
            _ => album.join(format!("{label}.png")),
        };
        // The same pixels, re-encoded (BMP and lossless WebP).
        image::open(f).unwrap().save(&to).unwrap();
    }
    std::fs::copy(&files[0], album.join(".thumbs").join("t.png")).unwrap();
    std::fs::write(album.join("notes.txt"), b"not an image").unwrap();
    // A link back up the tree is not followed (it would list the album again and again).
    #[cfg(unix)]
    std::os::unix::fs::symlink("..", album.join("later/up")).unwrap();
    let args = [
        "predict",
        "--checkpoint",
        "runs/tiny/best.ckpt",
        "--json",
        "album",
    ];
    let a = convlab(&args, dir.path());
    assert!(a.status.success(), "{}", stderr(&a));
    let av: serde_json::Value = serde_json::from_str(stdout(&a).trim()).unwrap();
    let listed: Vec<&str> = av
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["file"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [
            "album/1.png",
            "album/2.bmp",
            "album/3.webp",
            "album/later/z.PNG"
        ]
    );
    for (i, label) in [1, 2, 3, 0].into_iter().enumerate() {
        assert_eq!(
            av[i]["top"][0]["class"], v[label]["top"][0]["class"],
            "{}",
            listed[i]
        );
    }
    std::fs::create_dir(dir.path().join("nothing")).unwrap();
    let e = convlab(
        &["predict", "--checkpoint", "runs/tiny/best.ckpt", "nothing"],
        dir.path(),
    );
    assert_bad_input(
        &e,
        &["nothing: a folder with no image files in it (.png, .jpg,"],
    );
}

/// A 2-class 28x28 PNG folder: bands of half the image height.
pub(super) fn write_two_class_folder(root: &Path, per_class: usize) {
    for split in ["train", "test"] {
        for (k, class) in ["top", "bottom"].iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..per_class {
                let px = pattern(k as u8, 2, 28, i + if split == "test" { 9000 } else { 0 });
                image::GrayImage::from_raw(28, 28, px)
                    .unwrap()
                    .save(dir.join(format!("{i:03}.png")))
                    .unwrap();
            }
        }
    }
}

fn finetune(d: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "finetune",
        "--checkpoint",
        "runs/tiny/best.ckpt",
        "--epochs",
        "1",
        "--quiet",
    ];
    args.extend(extra);
    convlab(&args, d)
}

#[test]
fn finetune_replaces_the_head_and_freezes_the_features() {
    use convlab::model::net::Layer;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    assert!(train(d, &cfg, &["--quiet"]).status.success());
    write_two_class_folder(&d.join("halves"), 40);
    let out = finetune(d, &["--data", "halves", "--freeze-epochs", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = d.join("runs/finetune-halves");
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        config.contains("pretrained = \"runs/tiny/best.ckpt\""),
        "{config}"
    );
    assert!(config.contains("freeze_epochs = 1"), "{config}");
    // The new head has 2 outputs; the frozen conv layer is exactly the pretrained one.
    let dev = convlab::train::device::select(convlab::train::device::DeviceName::Cpu).unwrap();
    let (meta, tuned) = convlab::model::checkpoint::load(&run.join("last.ckpt"), &dev).unwrap();
    assert_eq!(meta.classes, vec!["bottom".to_string(), "top".to_string()]);
    let (_, base) = convlab::model::checkpoint::load(&d.join("runs/tiny/best.ckpt"), &dev).unwrap();
    let conv = |n: &convlab::model::Net| match &n.layers[0] {
        Layer::Conv(c) => c.weight.val().into_data().try_to_vec::<f32>().unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(conv(&tuned), conv(&base), "frozen features must not move");
    let head = |n: &convlab::model::Net| match n.layers.last().unwrap() {
        Layer::Linear(l) => l.weight.val().dims(),
        other => panic!("{other:?}"),
    };
    assert_eq!(head(&tuned), [144, 2]);

    // Unfrozen, the features move; --scratch trains the same net from random weights.
    let out = finetune(
        d,
        &[
            "--data",
            "halves",
            "--freeze-epochs",
            "0",
            "--run-dir",
            "exact/thawed",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let (_, thawed) =
        convlab::model::checkpoint::load(&d.join("exact/thawed/last.ckpt"), &dev).unwrap();
    assert_ne!(conv(&thawed), conv(&base));
    let out = finetune(d, &["--data", "halves", "--scratch"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let config = std::fs::read_to_string(d.join("runs/scratch-halves/config.toml")).unwrap();
    assert!(!config.contains("pretrained"), "{config}");

    // Photos of another size and colour: read as the net takes them (28x28 grayscale),
    // so fine-tuning learns the task, and eval --folder reads them so too.
    write_two_class_folder(&d.join("photos"), 40);
    for png in walk_pngs(&d.join("photos")) {
        let img = image::open(&png).unwrap();
        img.resize_exact(56, 42, image::imageops::FilterType::Nearest)
            .into_rgb8()
            .save(&png)
            .unwrap();
    }
    // eval says --folder and finetune --data: each takes the other's name too.
    let out = finetune(d, &["--folder", "photos"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let run = d.join("runs/finetune-photos");
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("color_mode = \"grayscale\""), "{config}");
    assert!(
        config.contains("image_size = [\n    28,\n    28,\n]"),
        "{config}"
    );
    let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    let acc = serde_json::from_str::<serde_json::Value>(&summary).unwrap()["test_acc"]
        .as_f64()
        .unwrap();
    assert!(acc >= 0.9, "two bands, 80 images: {acc}");
    let e = convlab(
        &["eval", "--checkpoint", "runs/finetune-photos/last.ckpt"]
            .into_iter()
            .chain(["--data", "photos", "--out", "ev"])
            .collect::<Vec<_>>(),
        d,
    );
    assert!(e.status.success(), "{}", stderr(&e));
    let ev: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("ev/eval.json")).unwrap()).unwrap();
    assert_eq!(ev["images"], 80);
    assert!(
        (ev["test_acc"].as_f64().unwrap() - acc).abs() < 1e-9,
        "{ev}"
    );

    // Class folders with no split: the run holds out data.test_fraction of each class, and
    // eval in the run's folder splits as the run did; a checkpoint that did not train on
    // the folder is scored on all of it.
    std::fs::rename(d.join("photos/train"), d.join("flat")).unwrap();
    let set = [
        "--data",
        "flat",
        "--set",
        "data.test_fraction=0.5",
        "--name",
        "flat",
    ];
    assert!(finetune(d, &set).status.success());
    std::fs::copy(run.join("last.ckpt"), d.join("lone.ckpt")).unwrap();
    for (ckpt, images) in [("runs/flat/last.ckpt", 40), ("lone.ckpt", 80)] {
        let args = [
            "eval",
            "--checkpoint",
            ckpt,
            "--folder",
            "flat",
            "--out",
            "ev",
        ];
        assert!(convlab(&args, d).status.success());
        let ev = std::fs::read_to_string(d.join("ev/eval.json")).unwrap();
        assert!(
            ev.contains(&format!("\"images\": {images},")),
            "{ckpt}: {ev}"
        );
    }

    // A run config with model.pretrained and data of another layout: a one-line error that
    // names the checkpoint and the keys that fix it.
    write_png_folder(&d.join("small"), &["a", "b"], 4);
    let bad = convlab(
        &[
            "train",
            cfg.to_str().unwrap(),
            "--set",
            "model.pretrained=\"runs/tiny/best.ckpt\"",
            "--set",
            "data.dataset=\"folder\"",
            "--set",
            "data.path=\"small\"",
            "--set",
            "model.preset=\"\"",
            "--set",
            "model.layers=[{type=\"flatten\"},{type=\"linear\",out=2}]",
        ],
        d,
    );
    assert_bad_input(
        &bad,
        &[
            "runs/tiny/best.ckpt",
            "[1, 28, 28]",
            "[1, 16, 16]",
            "data.image_size = [28, 28]",
        ],
    );
}

fn walk_pngs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_pngs(&p));
        } else {
            out.push(p);
        }
    }
    out
}
