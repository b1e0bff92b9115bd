//! MobileNet's piecewise activations (ReLU6, Hardtanh, Hardswish, Hardsigmoid) as PyTorch
//! defines them, kinks included, through the net; and as a layer list writes them, PyTorch's
//! and Keras' names and arguments.

use burn::prelude::*;
use convlab::experiment::config::load_run_config;
use convlab::model::presets::resolve_layers;
use convlab::model::spec::{ActivationLayer, LayerSpec, Shape, check_net};
use convlab::model::{Activation, Init};

/// Values and input gradients, with inputs on every kink (-3, 3, 6 and Hardtanh's bounds):
///   x = torch.tensor([-4., -3., -2.5, -1., -0.5, 0., 0.5, 1., 2.5, 3., 6., 7.],
///                    requires_grad=True)
///   for m in [nn.ReLU6(), nn.Hardtanh(), nn.Hardtanh(-2.0, 2.5), nn.Hardswish(),
///             nn.Hardsigmoid()]:
///       y = m(x); g, = torch.autograd.grad(y.sum(), x); print(y.tolist(), g.tolist())
/// (torch 2.15.0). Compared bit for bit: each is a clamp, a product or a quotient of exact
/// inputs, and convlab computes them in PyTorch's order.
#[test]
fn piecewise_activations_match_pytorch_bit_for_bit() {
    let x = [
        -4.0f32, -3.0, -2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5, 3.0, 6.0, 7.0,
    ];
    let hardtanh = |min, max| ActivationLayer {
        min_val: Some(min),
        max_val: Some(max),
        ..ActivationLayer::new(Activation::Hardtanh)
    };
    let (third, sixth) = (0.333_333_34_f32, 0.166_666_67_f32);
    #[rustfmt::skip]
    let torch: [(ActivationLayer, [f32; 12], [f32; 12]); 5] = [
        (
            ActivationLayer::new(Activation::Relu6),
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 2.5, 3.0, 6.0, 6.0],
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0],
        ),
        (
            ActivationLayer::new(Activation::Hardtanh),
            [-1.0, -1.0, -1.0, -1.0, -0.5, 0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        ),
        (
            hardtanh(-2.0, 2.5),
            [-2.0, -2.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5, 2.5, 2.5, 2.5],
            [0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0],
        ),
        (
            ActivationLayer::new(Activation::Hardswish),
            [-0.0, -0.0, -0.208_333_33, -third, -0.208_333_33, 0.0, 0.291_666_66, 0.666_666_7,
             2.291_666_7, 3.0, 6.0, 7.0],
            [0.0, 0.0, -0.333_333_3, 0.166_666_66, 0.333_333_3, 0.5, 0.666_666_7, 0.833_333_4,
             1.333_333_3, 1.0, 1.0, 1.0],
        ),
        (
            ActivationLayer::new(Activation::Hardsigmoid),
            [0.0, 0.0, 0.083_333_336, third, 0.416_666_66, 0.5, 0.583_333_3, 0.666_666_7,
             0.916_666_7, 1.0, 1.0, 1.0],
            [0.0, 0.0, sixth, sixth, sixth, sixth, sixth, sixth, sixth, 0.0, 0.0, 0.0],
        ),
    ];
    let device = Device::flex().autodiff();
    for (act, value, slope) in torch {
        let layers = [LayerSpec::Activation(act.clone()), LayerSpec::Flatten];
        let input = Shape::Image { c: 1, h: 1, w: 12 };
        let net = convlab::model::Net::new(&layers, input, Init::Default, &device);
        let x = Tensor::<4>::from_floats([[[x]]], &device).require_grad();
        let y = net.forward(x.clone());
        let grads = y.clone().sum().backward();
        let v = |t: Tensor<2>| t.into_data().try_to_vec::<f32>().unwrap();
        let got = v(y.inner());
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&value), "{}: {got:?}", act.label());
        let dx = x
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(dx, slope, "{} slopes", act.label());
    }
}

/// `text` as a run config's layer list (after a conv, so the activations see 4 channels),
/// checked as `train` checks it: its layers, or the one-line error.
fn layers_of(text: &str) -> Result<Vec<LayerSpec>, String> {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("net.toml");
    let config = format!(
        "[data]\ndataset = \"mnist\"\n[model]\nlayers = [\n  {{ type = \"Conv2d\", \
         in_channels = 1, out_channels = 4, kernel_size = 3 }},\n  {text},\n  {{ type = \
         \"Flatten\" }},\n  {{ type = \"Linear\", in_features = 2704, out_features = 10 }},\n]\n"
    );
    std::fs::write(&file, config).unwrap();
    let run = load_run_config(&file, &[]).map_err(|e| e.to_string())?;
    let layers = resolve_layers(&run.model, 10, "net.toml").map_err(|e| e.to_string())?;
    let input = Shape::Image { c: 1, h: 28, w: 28 };
    check_net(&layers, input, 10, "net.toml", "").map_err(|e| e.to_string())?;
    Ok(layers)
}

/// PyTorch's `ReLU6()`, `Hardtanh(-2.0, 2.5)`, `Hardswish()`, `Hardsigmoid()` as print(model)
/// shows them, `inplace=True` included, Keras' `ReLU(max_value=6.0)` and `ReLU(max_value=4)`
/// (Hardtanh(0, 4)) and its `hard_silu`; the arguments' mistakes are refused.
#[test]
fn layer_lists_write_them_as_pytorch_and_keras_do() {
    let kind_of = |text: &str| match &layers_of(text).unwrap()[1] {
        LayerSpec::Activation(a) => a.clone(),
        other => panic!("{text}: {other:?}"),
    };
    let plain = |kind| ActivationLayer::new(kind);
    let capped = |min, max| ActivationLayer {
        min_val: Some(min),
        max_val: Some(max),
        ..plain(Activation::Hardtanh)
    };
    let cases = [
        (
            "{ type = \"ReLU6\", inplace = true }",
            plain(Activation::Relu6),
        ),
        ("{ type = \"Hardswish\" }", plain(Activation::Hardswish)),
        ("{ type = \"hard_silu\" }", plain(Activation::Hardswish)),
        ("{ type = \"Hardsigmoid\" }", plain(Activation::Hardsigmoid)),
        (
            "{ type = \"Hardtanh\", min_val = -2.0, max_val = 2.5 }",
            capped(-2.0, 2.5),
        ),
        (
            "{ type = \"ReLU\", max_value = 6.0 }",
            plain(Activation::Relu6),
        ),
        ("{ type = \"ReLU\", max_value = 4 }", capped(0.0, 4.0)),
    ];
    for (text, want) in cases {
        assert_eq!(kind_of(text), want, "{text}");
    }
    let refused = [
        (
            "{ type = \"Hardtanh\", min_val = 2.0, max_val = 1.0 }",
            "min_val = 2 must be below max_val = 1",
        ),
        (
            "{ type = \"ReLU6\", max_val = 7.0 }",
            "max_val is hardtanh's argument, not relu6's",
        ),
    ];
    for (text, want) in refused {
        let err = layers_of(text).unwrap_err();
        assert!(
            err.contains("model.layers[1]") && err.contains(want),
            "{text}: {err}"
        );
    }
}
