//! `--device cuda` where CUDA cannot run (a CPU-only build, or a CUDA build on a machine with
//! no NVIDIA driver): one line naming the device and the problem, exit 2, no run or study
//! folder. Before, a CUDA build panicked twice at the first tensor and left an empty folder.

mod common;

use std::path::Path;

use common::*;

/// Whether this test binary can run CUDA at all; then the refusals below do not apply.
fn cuda_can_run() -> bool {
    cfg!(feature = "cuda") && Path::new("/proc/driver/nvidia/version").exists()
}

/// What the one error line says in this build.
fn expected_problem() -> &'static str {
    if cfg!(feature = "cuda") {
        "no NVIDIA driver"
    } else {
        "not in this build"
    }
}

fn write_configs(d: &Path) {
    write_idx_dataset(&d.join("mnist"), 64, 32, 4);
    let run = format!(
        "seed = 1\n[data]\ndataset = \"mnist\"\n[model]\npreset = \"\"\n{TINY_NET}\n[train]\nepochs = 1\n"
    );
    std::fs::write(d.join("tiny.toml"), run).unwrap();
    std::fs::write(
        d.join("study.toml"),
        "[study]\nbase = \"tiny.toml\"\nseeds = 2\n[study.axes]\nlr = [1e-3, 1e-2]\n",
    )
    .unwrap();
}

#[test]
fn train_and_sweep_on_a_missing_cuda_device_fail_before_any_folder_exists() {
    if cuda_can_run() {
        eprintln!("skipped: this CUDA build runs on an NVIDIA driver here");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_configs(d);
    let data = d.to_str().unwrap();
    for (command, config) in [
        ("train", "tiny.toml"),
        ("sweep", "study.toml"),
        ("lr-find", "tiny.toml"),
    ] {
        let out = convlab(
            &[command, config, "--data-dir", data, "--device", "cuda"],
            d,
        );
        assert_bad_input(&out, &["device cuda", expected_problem()]);
    }
    assert!(
        !d.join("runs").exists(),
        "a refused device must leave no runs folder"
    );
}

/// `convlab check` compares a device with the CPU: the CPU itself, an unknown net, a zero
/// batch and a device that cannot run are each one line, exit 2, before any work.
#[test]
fn check_refuses_what_it_cannot_compare() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = convlab(&["check", "--device", "cpu"], d);
    assert_bad_input(&out, &["--device", "compares a device with the CPU"]);
    let out = convlab(&["check", "--net", "lenet"], d);
    assert_bad_input(&out, &["--net", "\"lenet\"", "cifar10-fast, bn-prelu-cnn"]);
    let out = convlab(&["check", "--batch", "0"], d);
    assert_bad_input(&out, &["--batch", "at least 1"]);
    if !cuda_can_run() {
        let out = convlab(&["check", "--device", "cuda", "--net", "vgg-blocks"], d);
        assert_bad_input(&out, &["device cuda", expected_problem()]);
    }
}
