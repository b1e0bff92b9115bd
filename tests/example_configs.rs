//! Every run config that README or a docstring tells users to run (examples/, bench/nets/)
//! loads and checks.

use convlab::model::presets::resolve_layers;
use convlab::model::spec::{Shape, check_net, lint_net};

/// Every run config in examples/ and bench/nets/ (the ones a README or a docstring tells users
/// to run) loads with its defaults filled in, passes validation, and its net fits its
/// dataset's images with no activation on the logits; a study file is checked by tests/sweep
/// instead.
#[test]
fn every_example_run_config_validates_and_its_net_checks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = std::fs::read_dir(root.join("examples")).unwrap();
    let nets = std::fs::read_dir(root.join("bench/nets")).unwrap();
    let mut checked = Vec::new();
    for entry in examples.chain(nets) {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml")
            || std::fs::read_to_string(&path).unwrap().contains("[study]")
        {
            continue;
        }
        let name = path
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let cfg = convlab::experiment::config::load_run_config(&path, &[])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let ([c, h, w], classes) = convlab::data::known_layout(cfg.data.dataset)
            .unwrap_or_else(|| panic!("{name}: a folder example needs its own input shape here"));
        let layers =
            resolve_layers(&cfg.model, classes.len(), &name).unwrap_or_else(|e| panic!("{e}"));
        check_net(
            &layers,
            Shape::Image { c, h, w },
            classes.len(),
            &name,
            &cfg.model.preset,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            lint_net(&layers).is_empty(),
            "{name}: activation on the logits"
        );
        checked.push(name);
    }
    checked.sort();
    assert_eq!(
        checked,
        [
            "bench/nets/bn-mlp.toml",
            "bench/nets/cifar-k5.toml",
            "bench/nets/deep-mnist.toml",
            "bench/nets/gap-net.toml",
            "bench/nets/lenet5-avg.toml",
            "bench/nets/lenet5.toml",
            "bench/nets/mlp.toml",
            "bench/nets/mobilenet-cifar.toml",
            "bench/nets/nin.toml",
            "bench/nets/print-model-args.toml",
            "bench/nets/print-model-ceil.toml",
            "bench/nets/print-model-ceil3.toml",
            "bench/nets/print-model.toml",
            "bench/nets/resnet-stem-pad.toml",
            "bench/nets/resnet-stem.toml",
            "bench/nets/separable.toml",
            "bench/nets/strided-cnn.toml",
            "bench/nets/vgg-small.toml",
            "bench/nets/wide-mlp.toml",
            "examples/cifar10-bn-prelu-30ep.toml",
            "examples/cifar10-bn-prelu.toml",
            "examples/cifar10-fast.toml",
            "examples/custom-net.toml",
            "examples/fashion-mnist.toml",
            "examples/mnist-pytorch-example.toml",
            "examples/mnist.toml"
        ]
    );
}
