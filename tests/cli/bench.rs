//! `convlab bench` as a user runs it: a throughput line, and a one-line refusal of what it
//! cannot do.

use super::*;

#[test]
fn bench_reports_throughput_and_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = convlab(
        &[
            "bench",
            "--model",
            "bn-prelu-cnn",
            "--batch",
            "8",
            "--steps",
            "2",
            "--warmup",
            "1",
            "--json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["model"], "bn-prelu-cnn");
    assert_eq!(v["batch"], 8);
    assert!(v["train_images_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["data_images_per_s"].as_f64().unwrap() > 0.0);
    assert_eq!(v["precision"], "fp32");
    assert_bad_input(
        &convlab(&["bench", "--dtype", "fp16"], dir.path()),
        &["--dtype", "fp16", "f32, bf16"],
    );
    assert_bad_input(
        &convlab(&["bench", "--input", "3x32"], dir.path()),
        &["--input", "CxHxW"],
    );
    assert_bad_input(
        &convlab(&["bench", "--model", "resnet99"], dir.path()),
        &["resnet99"],
    );
}
