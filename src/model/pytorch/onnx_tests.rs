//! The ONNX graph of layers whose arguments decide their nodes' attributes.

use super::*;
use crate::model::spec::ActivationLayer;

/// A written LeakyReLU slope and ELU alpha are their nodes' `alpha`; unwritten, PyTorch's
/// defaults (0.01, 1.0).
#[test]
fn activation_arguments_are_the_nodes_alpha() {
    let act = |kind, negative_slope, alpha| {
        LayerSpec::Activation(ActivationLayer {
            negative_slope,
            alpha,
            ..ActivationLayer::new(kind)
        })
    };
    let layers = [
        act(Activation::LeakyRelu, Some(0.2), None),
        act(Activation::Elu, None, Some(0.5)),
        act(Activation::LeakyRelu, None, None),
        act(Activation::Elu, None, None),
    ];
    let bytes = model(&layers, Shape::Flat(4), Vec::new(), &[]);
    let graph = ModelProto::decode(bytes.as_slice()).unwrap().graph.unwrap();
    let got: Vec<(&str, f32)> = graph.node[..4]
        .iter()
        .map(|n| (n.op_type.as_str(), n.attribute[0].f))
        .collect();
    let want = [
        ("LeakyRelu", 0.2),
        ("Elu", 0.5),
        ("LeakyRelu", 0.01),
        ("Elu", 1.0),
    ];
    assert_eq!(got, want);
    let code = crate::model::pytorch::python::sequential(&layers, Shape::Flat(4), &[], &[], &[]);
    for module in [
        "nn.LeakyReLU(0.2)",
        "nn.ELU(0.5)",
        "nn.LeakyReLU(0.01)",
        "nn.ELU(1.0)",
    ] {
        assert!(code.contains(module), "{module}: {code}");
    }
}

/// ceil_mode is MaxPool's and AveragePool's `ceil_mode = 1`; an average that leaves the
/// padding out has no count_include_pad (ONNX's default, 0), one that counts it has 1.
#[test]
fn pools_write_ceil_mode_and_count_include_pad() {
    let avg = |count_include_pad| LayerSpec::AvgPool {
        kernel: Some(3),
        stride: Some(2),
        padding: 1,
        ceil_mode: true,
        count_include_pad,
    };
    let max = LayerSpec::Pool {
        kernel: 2,
        stride: None,
        padding: 0,
        ceil_mode: true,
    };
    let input = Shape::Image { c: 1, h: 9, w: 9 };
    let bytes = model(&[max, avg(false), avg(true)], input, Vec::new(), &[]);
    let graph = ModelProto::decode(bytes.as_slice()).unwrap().graph.unwrap();
    let names = |n: &NodeProto| -> Vec<(String, i64)> {
        (n.attribute.iter().filter(|a| a.ints.is_empty()))
            .map(|a| (a.name.clone(), a.i))
            .collect()
    };
    let (ceil, count) = (
        ("ceil_mode".to_string(), 1),
        ("count_include_pad".to_string(), 1),
    );
    let got: Vec<_> = graph.node[..3].iter().map(names).collect();
    assert_eq!(
        got,
        [vec![ceil.clone()], vec![ceil.clone()], vec![ceil, count]]
    );
}
