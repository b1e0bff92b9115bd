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

/// `--config`: the config's own net (here written out layer by layer), batch, precision and
/// optimizer, each flag still overriding; a net its dataset's input cannot feed is refused
/// with the config named.
#[test]
fn bench_times_a_configs_net() {
    let dir = tempfile::tempdir().unwrap();
    let net = r#"name = "tiny-strided"
[data]
dataset = "cifar10"
[model]
preset = ""
layers = [
  { type = "conv", out = 8, kernel = 3, padding = 1, stride = 2 },
  { type = "activation", kind = "relu" },
  { type = "avg-pool" },
  { type = "flatten" },
  { type = "linear", out = 10 },
]
[optimizer]
name = "sgd"
lr = 0.01
[train]
batch_size = 6
"#;
    std::fs::write(dir.path().join("net.toml"), net).unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "bench", "--config", "net.toml", "--steps", "2", "--warmup", "1",
        ];
        args.extend_from_slice(extra);
        args.push("--json");
        let out = convlab(&args, dir.path());
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str::<serde_json::Value>(stdout(&out).trim()).unwrap()
    };
    let v = run(&[]);
    assert_eq!(v["model"], "tiny-strided");
    assert_eq!(v["batch"], 6);
    assert_eq!(v["optimizer"], "sgd");
    assert!(v["train_images_per_s"].as_f64().unwrap() > 0.0);
    let v = run(&["--batch", "4", "--optimizer", "adam"]);
    assert_eq!(
        (v["batch"].as_u64(), v["optimizer"].as_str()),
        (Some(4), Some("adam"))
    );
    // The config's device too: this CPU build refuses cuda, naming it, unless --device says.
    let on_gpu = format!("device = \"cuda\"\n{net}");
    std::fs::write(dir.path().join("gpu.toml"), on_gpu).unwrap();
    let gpu = [
        "bench", "--config", "gpu.toml", "--steps", "1", "--warmup", "0",
    ];
    if !cfg!(feature = "cuda") {
        assert_bad_input(&convlab(&gpu, dir.path()), &["cuda"]);
    }
    let mut on_cpu = gpu.to_vec();
    on_cpu.extend(["--device", "cpu"]);
    assert!(convlab(&on_cpu, dir.path()).status.success());
    // A 9x9 input (--input) leaves 3x3 after a 5x5 stride-2 conv: too small for a second.
    let bad = net.replace(
        r#"{ type = "conv", out = 8, kernel = 3, padding = 1, stride = 2 },"#,
        r#"{ type = "conv", out = 8, kernel = 5, stride = 2 }, { type = "conv", out = 8, kernel = 5, stride = 2 },"#,
    );
    std::fs::write(dir.path().join("bad.toml"), bad.replace("cifar10", "mnist")).unwrap();
    let out = convlab(
        &["bench", "--config", "bad.toml", "--input", "1x9x9"],
        dir.path(),
    );
    assert_bad_input(&out, &["bad.toml", "model.layers[1]"]);
    assert_bad_input(
        &convlab(&["bench", "--config", "missing.toml"], dir.path()),
        &["missing.toml"],
    );
}
