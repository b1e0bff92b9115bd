//! `convlab eval --folder` on images the model never saw: every image of a folder without
//! train/ and test/ is a test image, and the folder's classes are the model's by name, so a
//! folder of one class (or a few) is scored against the model's full set of classes.

use super::*;

fn eval(d: &Path, ckpt: &str, folder: &str) -> std::process::Output {
    let args = [
        "eval",
        "--checkpoint",
        ckpt,
        "--folder",
        folder,
        "--out",
        "ev",
    ];
    convlab(&args, d)
}

fn eval_json(d: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(d.join("ev/eval.json")).unwrap()).unwrap()
}

/// ROOT/<class>/NNN.png for each class: the test images of a `write_png_folder` tree.
fn flat_folder(d: &Path, pets: &str, root: &str, classes: &[&str]) {
    for class in classes {
        let from = d.join(pets).join("test").join(class);
        let to = d.join(root).join(class);
        std::fs::create_dir_all(&to).unwrap();
        for e in std::fs::read_dir(&from).unwrap().flatten() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn eval_on_a_new_folder_scores_every_image_by_class_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    write_png_folder(&d.join("pets"), &["cat", "dog", "owl"], 12);
    let sets = [
        "--set",
        "data.dataset=\"folder\"",
        "--set",
        "data.path=\"pets\"",
        "--set",
        "model.preset=\"bn-prelu-cnn\"",
        "--set",
        "train.epochs=3",
    ];
    let out = train(d, &cfg, &sets);
    assert!(out.status.success(), "{}", stderr(&out));
    let ckpt = "runs/tiny/best.ckpt";
    // The test split of pets/, copied to a flat folder: the same 36 images, the same score.
    assert!(eval(d, ckpt, "pets").status.success());
    let whole = eval_json(d);
    assert_eq!(whole["images"], 36);
    // Without --folder, from another working folder: the checkpoint keeps the folder's
    // absolute path (it kept "pets", found only from where the run trained).
    let elsewhere = d.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let abs = d.join(ckpt);
    let out = convlab(
        &["eval", "--checkpoint", abs.to_str().unwrap(), "--out", "ev"],
        &elsewhere,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(eval_json(&elsewhere)["test_acc"], whole["test_acc"]);
    flat_folder(d, "pets", "mine", &["cat", "dog", "owl"]);
    let out = eval(d, ckpt, "mine");
    assert!(out.status.success(), "{}", stderr(&out));
    let flat = eval_json(d);
    assert_eq!(
        flat["images"], 36,
        "every image of a folder the run never split"
    );
    assert_eq!(flat["test_acc"], whole["test_acc"]);

    // Owls alone: 12 images, scored as the model's class 2 (not as class 0 of a one-class
    // set), and the other classes have no images.
    flat_folder(d, "pets", "owls", &["owl"]);
    let out = eval(d, ckpt, "owls");
    assert!(out.status.success(), "{}", stderr(&out));
    let owls = eval_json(d);
    assert_eq!(owls["images"], 12);
    let per_class = owls["per_class"].as_array().unwrap();
    let owl = &per_class[2];
    assert_eq!(
        (owl["class"].as_str(), owl["images"].as_u64()),
        (Some("owl"), Some(12))
    );
    assert_eq!(owls["test_acc"], owl["accuracy"]);
    assert_eq!(per_class[0]["images"], 0);
    assert_eq!(
        whole["per_class"][2]["correct"], owl["correct"],
        "the same owls, the same verdicts"
    );
    assert!(stdout(&out).contains("| cat | 0 | - |"), "{}", stdout(&out));

    // Other names, as many classes: taken in order (torchvision's sorted ImageFolder), said.
    for (from, to) in [("cat", "a"), ("dog", "b"), ("owl", "c")] {
        std::fs::rename(d.join("mine").join(from), d.join("mine").join(to)).unwrap();
    }
    let out = eval(d, ckpt, "mine");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("taken in order"), "{}", stderr(&out));
    assert_eq!(eval_json(d)["test_acc"], whole["test_acc"]);

    // A class the model does not know: a one-line error naming it.
    flat_folder(d, "pets", "zoo", &["owl"]);
    std::fs::rename(d.join("zoo/owl"), d.join("zoo/horse")).unwrap();
    flat_folder(d, "pets", "zoo", &["cat"]);
    assert_bad_input(&eval(d, ckpt, "zoo"), &[ckpt, "horse", "cat, dog, owl"]);
    // As many classes, some of the model's among them: not taken in order (that scored the
    // horses as owls, and with dog and horse against cat and dog, the dogs as cats); the
    // unknown one is named.
    for (from, to) in [("a", "cat"), ("b", "dog"), ("c", "horse")] {
        std::fs::rename(d.join("mine").join(from), d.join("mine").join(to)).unwrap();
    }
    assert_bad_input(
        &eval(d, ckpt, "mine"),
        &[
            ckpt,
            "the test set's classes [\"horse\"] are not among the model's 3 (cat, dog, owl)",
        ],
    );
}
