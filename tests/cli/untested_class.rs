//! A class with no test image: an image folder's class of one image keeps it for training
//! (the held-out share is never a class's first image), and "test accuracy 100.00%" then
//! said nothing of that class. Training goes on, with a warning naming it.

use super::*;

#[test]
fn a_class_with_no_test_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (k, (class, count)) in [("top", 10), ("bottom", 1)].into_iter().enumerate() {
        let folder = d.join("shapes").join(class);
        std::fs::create_dir_all(&folder).unwrap();
        for i in 0..count {
            image::GrayImage::from_raw(28, 28, pattern(k as u8, 2, 28, i))
                .unwrap()
                .save(folder.join(format!("{i:03}.png")))
                .unwrap();
        }
    }
    let cfg = d.join("shapes.toml");
    let text = "[data]\ndataset = \"folder\"\npath = \"shapes\"\nval_fraction = 0.0\n[model]\npreset = \"mnist-cnn\"\n[train]\nepochs = 1\n";
    std::fs::write(&cfg, text).unwrap();
    let out = convlab(&["train", "shapes.toml", "--quiet"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "warning: shapes.toml: class bottom has no test image: the test accuracy says nothing of it"
        ),
        "{}",
        stderr(&out)
    );
    // With five images a class has a test image (a fifth held out): nothing to say.
    for i in 1..5 {
        let copy = d.join(format!("shapes/bottom/{i:03}.png"));
        std::fs::copy(d.join("shapes/bottom/000.png"), copy).unwrap();
    }
    let out = convlab(&["train", "shapes.toml", "--quiet"], d);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("no test image"), "{}", stderr(&out));
}
