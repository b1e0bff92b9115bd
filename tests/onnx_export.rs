//! ONNX export of the PyTorch fixtures (tests/fixtures/pytorch): the graph's nodes in the
//! layers' order with their attributes, and the weights as initializers under their
//! state_dict names. (onnxruntime's logits against PyTorch's are bench/pytorch_interchange.py's.)

mod common;

use common::{fixture_import as options, pytorch_fixture};
use convlab::experiment::interchange::{import, to_onnx};
use convlab::model::pytorch::onnx::ModelProto;
use prost::Message;

/// Fixture `net` imported with its config and exported as ONNX, read back.
fn exported(net: &str) -> ModelProto {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join(format!("{net}.ckpt"));
    let pth = pytorch_fixture(&format!("{net}.pth"));
    import(&options(pth, net, ckpt.clone())).unwrap();
    let onnx = dir.path().join(format!("{net}.onnx"));
    to_onnx(&ckpt, &onnx).unwrap();
    ModelProto::decode(std::fs::read(&onnx).unwrap().as_slice()).unwrap()
}

/// The ONNX graph: the layers in order (dropout is inference's identity), weights as
/// initializers under their state_dict names with the checkpoint's values.
#[test]
fn onnx_export_has_the_layers_and_weights() {
    let model = exported("tiny_seq");
    let graph = model.graph.unwrap();
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(
        ops.join(" "),
        "Conv PRelu BatchNormalization MaxPool Flatten Gemm Elu BatchNormalization Gemm Identity"
    );
    assert_eq!(model.opset_import[0].version, 17);
    let w = graph
        .initializer
        .iter()
        .find(|t| t.name == "0.weight")
        .unwrap();
    assert_eq!(w.dims, vec![2, 1, 3, 3]);
    let reader =
        burn::store::pytorch_reader::PytorchReader::new(pytorch_fixture("tiny_seq.pth")).unwrap();
    assert_eq!(
        w.raw_data,
        reader.get("conv1.weight").unwrap().read().unwrap()
    );
}

/// Pools over windows are ONNX's MaxPool and AveragePool with their kernel, strides and
/// padding; an average over padding counts its zeros, as PyTorch's does (ONNX's default
/// leaves them out). The whole plane's average is GlobalAveragePool.
#[test]
fn onnx_export_writes_pools_with_their_windows() {
    let cases = [
        (
            "tiny_avg",
            "Conv Relu AveragePool Conv Tanh AveragePool",
            [2, 5],
            [(3, 2, 0), (2, 2, 0)],
        ),
        (
            "tiny_pad",
            "Conv MaxPool Tanh Conv AveragePool",
            [1, 4],
            [(3, 2, 1), (3, 2, 1)],
        ),
    ];
    for (net, layers, pools, windows) in cases {
        let graph = exported(net).graph.unwrap();
        let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops.join(" "), format!("{layers} Flatten Gemm Identity"));
        for (node, (k, s, p)) in pools.into_iter().zip(windows) {
            let node = &graph.node[node];
            let got: Vec<(&str, Vec<i64>, i64)> = (node.attribute.iter())
                .map(|a| (a.name.as_str(), a.ints.clone(), a.i))
                .collect();
            let mut want = vec![("kernel_shape", vec![k, k], 0), ("strides", vec![s, s], 0)];
            if p > 0 {
                want.push(("pads", vec![p; 4], 0));
            }
            if p > 0 && node.op_type == "AveragePool" {
                want.push(("count_include_pad", vec![], 1));
            }
            assert_eq!(got, want, "{net} {}", node.op_type);
        }
    }
}

/// PReLU's per-channel slopes broadcast over an image's planes as [C, 1, 1] (ONNX broadcasts
/// from the last axis), per-feature ones over a flat input as [F]; GELU's tanh form is
/// x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) from opset-17 nodes.
#[test]
fn onnx_export_shapes_prelu_slopes_and_writes_tanh_gelu() {
    let graph = exported("tiny_args").graph.unwrap();
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    let gelu = "Mul Mul Mul Add Mul Tanh Add Mul Mul";
    assert_eq!(
        ops.join(" "),
        format!("Conv PRelu MaxPool Conv {gelu} Flatten Gemm PRelu Gemm Identity")
    );
    let dims = |name: &str| {
        let slopes = graph.initializer.iter().find(|t| t.name == name);
        slopes.map(|t| t.dims.clone())
    };
    assert_eq!(dims("1.weight"), Some(vec![3, 1, 1]));
    assert_eq!(dims("7.weight"), Some(vec![16]));
}

/// A conv's dilation and groups are ONNX Conv's `dilations` and `group`, written only where
/// not 1 (ONNX's defaults).
#[test]
fn onnx_export_writes_conv_dilation_and_groups() {
    let graph = exported("tiny_groups").graph.unwrap();
    let convs: Vec<Vec<(String, Vec<i64>, i64)>> = (graph.node.iter())
        .filter(|n| n.op_type == "Conv")
        .map(|n| {
            let extra = n.attribute.iter().skip(3);
            extra
                .map(|a| (a.name.clone(), a.ints.clone(), a.i))
                .collect()
        })
        .collect();
    let dilated = ("dilations".to_string(), vec![2, 2], 0);
    let group = |g| ("group".to_string(), vec![], g);
    let want = [
        vec![dilated.clone()],
        vec![group(4)],
        vec![],
        vec![dilated, group(2)],
    ];
    assert_eq!(convs, want);
}
