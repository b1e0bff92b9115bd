//! `predict --invert` and the warning that suggests it: a digit drawn dark on white, given
//! to a net trained on light strokes on black (MNIST), is read as its negative.

use super::*;

#[test]
fn predict_invert_reads_negatives_as_the_originals_and_a_negative_is_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = setup(d, "");
    let out = train(d, &cfg, &["--set", "train.epochs=3", "--quiet"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let save = |name: &str, px: Vec<u8>| {
        image::GrayImage::from_raw(28, 28, px)
            .unwrap()
            .save(d.join(name))
            .unwrap();
    };
    for label in 0..4u8 {
        let px = pattern(label, 4, 28, 7_000_000 + label as usize);
        save(&format!("pos-{label}.png"), px.clone());
        save(
            &format!("neg-{label}.png"),
            px.iter().map(|v| 255 - v).collect(),
        );
    }
    let predict = |files: &[&str], more: &[&str]| {
        let mut args = vec!["predict", "--checkpoint", "runs/tiny", "--json"];
        args.extend(more);
        args.extend(files);
        let out = convlab(&args, d);
        assert!(out.status.success(), "{}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        let tops: Vec<serde_json::Value> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["top"].clone())
            .collect();
        (tops, stderr(&out))
    };
    let pos = ["pos-0.png", "pos-1.png", "pos-2.png", "pos-3.png"];
    let neg = ["neg-0.png", "neg-1.png", "neg-2.png", "neg-3.png"];
    let (originals, quiet) = predict(&pos, &[]);
    assert!(!quiet.contains("warning"), "{quiet}");
    let (negatives, _) = predict(&neg, &["--invert"]);
    assert_eq!(
        negatives, originals,
        "255 - (255 - v) is v: the same probabilities"
    );

    // Mean brightness 0.29 in training; a white page (1.0) is 0.71 away and its negative
    // 0.29 (nearer by 0.42), a pattern's negative (0.71) 0.41 away and its own negative
    // 0.0 (by 0.41): two negatives, said once with what to do; the pattern itself is not.
    save("white.png", vec![255; 28 * 28]);
    let (_, warned) = predict(&["white.png", "pos-0.png", "neg-0.png"], &[]);
    let lines: Vec<&str> = warned
        .lines()
        .filter(|l| l.starts_with("warning"))
        .collect();
    assert_eq!(lines.len(), 1, "{warned}");
    assert!(
        lines[0].starts_with("warning: 2 of 3 images look like negatives of the training images")
            && lines[0].ends_with("add --invert"),
        "{warned}"
    );
}
