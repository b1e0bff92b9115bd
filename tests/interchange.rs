//! PyTorch interchange: state_dicts written by PyTorch (tests/fixtures/pytorch, made by its
//! make_fixtures.py) import with the logits PyTorch computed; exports read back.
//! The real-PyTorch and onnxruntime check of every preset is bench/pytorch_interchange.py.

mod common;

use std::path::Path;

use burn::prelude::*;
use burn::tensor::TensorData;
use common::{fixture_import as options, pytorch_fixture};
use convlab::experiment::interchange::{NetSource, import, to_pytorch};
use convlab::model::checkpoint;

/// The fixtures of tests/fixtures/pytorch (make_fixtures.py's NETS).
const NETS: [&str; 7] = [
    "tiny_seq",
    "tiny_res",
    "tiny_avg",
    "tiny_pad",
    "tiny_ceil",
    "tiny_args",
    "tiny_groups",
];

/// make_fixtures.py's input: x[i] = ((i * 7919) % 256) / 255 over [2, 1, 28, 28].
fn logits(ckpt: &Path) -> Vec<f32> {
    let device = Device::flex();
    let (_, net) = checkpoint::load(ckpt, &device).unwrap();
    let x: Vec<f32> = (0..2 * 28 * 28)
        .map(|i| ((i * 7919) % 256) as f32 / 255.0)
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, [2, 1, 28, 28]), &device);
    net.forward(x)
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
}

fn expected(net: &str) -> Vec<f32> {
    let text = std::fs::read_to_string(pytorch_fixture(&format!("{net}.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["logits"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
        })
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Every way a notebook saves weights imports with PyTorch's logits (1e-4): the zip
/// state_dict, the legacy format, storages saved from CUDA, and the whole pickled model.
#[test]
fn pytorch_files_import_with_pytorchs_logits() {
    let dir = tempfile::tempdir().unwrap();
    for net in NETS {
        let want = expected(net);
        for variant in ["", "_legacy", "_cuda", "_model"] {
            let pth = pytorch_fixture(&format!("{net}{variant}.pth"));
            let out = dir.path().join(format!("{net}{variant}.ckpt"));
            let meta = import(&options(pth, net, out.clone())).unwrap();
            assert_eq!(meta.classes.len(), 10);
            let got = logits(&out);
            let d = max_diff(&got, &want);
            assert!(d < 1e-4, "{net}{variant}: max |diff| {d}");
        }
    }
}

/// A training checkpoint ({epoch, model_state_dict, optimizer_state_dict}): refused with a
/// hint, then read with the key.
#[test]
fn training_checkpoint_imports_with_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.ckpt");
    let mut o = options(
        pytorch_fixture("tiny_seq_training.pth"),
        "tiny_seq",
        out.clone(),
    );
    let e = import(&o).unwrap_err().to_string();
    assert!(
        e.contains("optimizer_state_dict") && e.contains("--key"),
        "{e}"
    );
    o.key = Some("model_state_dict".into());
    import(&o).unwrap();
    let d = max_diff(&logits(&out), &expected("tiny_seq"));
    assert!(d < 1e-4, "max |diff| {d}");
}

/// Export then import gives the same weights bit for bit, and the state_dict has PyTorch's
/// keys, num_batches_tracked included (load_state_dict is strict about it).
#[test]
fn pytorch_export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    for net in NETS {
        let ckpt = dir.path().join(format!("{net}.ckpt"));
        import(&options(
            pytorch_fixture(&format!("{net}.pth")),
            net,
            ckpt.clone(),
        ))
        .unwrap();
        let pth = dir.path().join(format!("{net}-export.pth"));
        let code = to_pytorch(&ckpt, &pth).unwrap();
        let back = dir.path().join(format!("{net}-back.ckpt"));
        import(&options(pth.clone(), net, back.clone())).unwrap();
        assert_eq!(logits(&ckpt), logits(&back), "{net}");
        let reader = burn::store::pytorch_reader::PytorchReader::new(&pth).unwrap();
        let mut keys = reader.keys();
        keys.sort();
        let modules: &[&str] = match net {
            "tiny_seq" => &["nn.Dropout2d(0.35),  # 2", "nn.BatchNorm1d(6),  # 9"],
            "tiny_avg" => &[
                "nn.AvgPool2d(3, stride=2),  # 2",
                "nn.AvgPool2d(2, stride=2),  # 5",
            ],
            "tiny_ceil" => &[
                "AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)",
                "ceil_mode=True),  # 1",
            ],
            "tiny_pad" => &[
                "nn.MaxPool2d(3, stride=2, padding=1),  # 1",
                "nn.AvgPool2d(3, stride=2, padding=1),  # 4",
            ],
            "tiny_args" => &[
                "nn.PReLU(num_parameters=3, init=0.2),  # 1",
                "nn.GELU(approximate='tanh'),  # 4",
                "nn.PReLU(num_parameters=16, init=0.25),  # 7",
            ],
            "tiny_groups" => &[
                "nn.Conv2d(1, 4, kernel_size=3, stride=1, padding=2, dilation=2),  # 0",
                "nn.Conv2d(4, 4, kernel_size=3, stride=1, padding=1, groups=4),  # 3",
                "dilation=2, groups=2, bias=False),  # 6",
            ],
            _ => &["class BasicBlock"],
        };
        for module in modules {
            assert!(code.contains(module), "{net}: {module}\n{code}");
        }
        if net == "tiny_seq" {
            assert_eq!(
                keys.join(" "),
                "0.bias 0.weight 1.weight 10.bias 10.weight 3.bias 3.num_batches_tracked 3.running_mean \
                 3.running_var 3.weight 6.bias 6.weight 9.bias 9.num_batches_tracked 9.running_mean \
                 9.running_var 9.weight"
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        } else if net == "tiny_res" {
            assert!(
                keys.contains(&"4.shortcut.0.weight".to_string()),
                "{keys:?}"
            );
        }
    }
}

/// Wrong nets and broken files are one-line errors that name the key or the file.
#[test]
fn import_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.ckpt");
    // A preset whose layers do not match: the counts say which.
    let mut o = options(pytorch_fixture("tiny_seq.pth"), "tiny_seq", out.clone());
    o.net = NetSource::Preset("mnist-cnn".into());
    let e = import(&o).unwrap_err().to_string();
    assert!(
        e.contains("tiny_seq.pth")
            && e.contains("the net has 2 conv layer(s) but the file has 1 (conv1)"),
        "{e}"
    );
    // The stem conv with a bias the file does not have.
    let config = dir.path().join("with_bias.toml");
    let text = std::fs::read_to_string(pytorch_fixture("tiny_res.toml")).unwrap();
    std::fs::write(&config, text.replace(", bias = false", "")).unwrap();
    let mut o = options(pytorch_fixture("tiny_res.pth"), "tiny_res", out.clone());
    o.net = NetSource::Config(config);
    let e = import(&o).unwrap_err().to_string();
    assert!(e.contains("conv1.bias: missing"), "{e}");
    // Not a PyTorch file at all.
    let junk = dir.path().join("junk.pth");
    std::fs::write(&junk, b"not a pickle").unwrap();
    let e = import(&options(junk, "tiny_seq", out.clone()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("junk.pth") && e.contains("state_dict"), "{e}");
    assert!(!out.exists());
    // An existing checkpoint is not replaced without force.
    std::fs::write(&out, b"keep me").unwrap();
    let e = import(&options(
        pytorch_fixture("tiny_seq.pth"),
        "tiny_seq",
        out.clone(),
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("already exists"), "{e}");
    assert_eq!(std::fs::read(&out).unwrap(), b"keep me");
}

/// The commands as a user runs them: import then export, and one-line errors (exit 2) that
/// leave existing files alone.
#[test]
fn import_and_export_commands() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::copy(pytorch_fixture("tiny_seq.pth"), d.join("tiny.pth")).unwrap();
    let config = pytorch_fixture("tiny_seq.toml");
    let out = common::convlab(
        &["import", "tiny.pth", "--config", config.to_str().unwrap()],
        d,
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stdout(&out).contains("tiny.ckpt"));
    let out = common::convlab(
        &[
            "export",
            "tiny.ckpt",
            "--format",
            "pytorch",
            "-o",
            "out.pth",
        ],
        d,
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stdout(&out).contains("def make_net():"));
    assert!(d.join("out.py").exists() && d.join("out.pth").exists());
    // tiny.pth exists: export refuses to replace it (the default name is the checkpoint's).
    let before = std::fs::read(d.join("tiny.pth")).unwrap();
    let out = common::convlab(&["export", "tiny.ckpt", "--format", "pytorch"], d);
    common::assert_bad_input(&out, &["tiny.pth", "already exists"]);
    assert_eq!(std::fs::read(d.join("tiny.pth")).unwrap(), before);
    let out = common::convlab(&["export", "tiny.ckpt", "--format", "onnx"], d);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(std::fs::metadata(d.join("tiny.onnx")).unwrap().len() > 2000);
    // The wrong preset: one line naming the file and what does not match.
    let out = common::convlab(
        &[
            "import",
            "tiny.pth",
            "--preset",
            "bn-prelu-cnn",
            "-o",
            "x.ckpt",
        ],
        d,
    );
    common::assert_bad_input(&out, &["tiny.pth", "conv layer(s)"]);
    let out = common::convlab(&["import", "missing.pth", "--preset", "mnist-cnn"], d);
    common::assert_bad_input(&out, &["missing.pth", "no such file"]);
    let out = common::convlab(
        &[
            "import",
            "tiny.pth",
            "--preset",
            "mnist-cnn",
            "--mean",
            "0.5",
        ],
        d,
    );
    common::assert_bad_input(&out, &["--mean/--std"]);
    assert!(!d.join("x.ckpt").exists());
    // The imported model (no normalization: ToTensor's [0, 1] pixels) evaluates and predicts.
    common::write_idx_dataset(&d.join("mnist"), 20, 50, 10);
    let out = common::convlab(
        &[
            "eval",
            "--checkpoint",
            "tiny.ckpt",
            "--data-dir",
            d.to_str().unwrap(),
        ],
        d,
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).contains("50 test images"),
        "{}",
        common::stdout(&out)
    );
    let img = image::GrayImage::from_raw(28, 28, common::pattern(3, 10, 28, 7)).unwrap();
    img.save(d.join("digit.png")).unwrap();
    let out = common::convlab(
        &[
            "predict",
            "--checkpoint",
            "tiny.ckpt",
            "digit.png",
            "--json",
            "--logits",
        ],
        d,
    );
    assert!(out.status.success(), "{}", common::stderr(&out));
    let rows: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert_eq!(rows[0]["logits"].as_array().unwrap().len(), 10);
}
