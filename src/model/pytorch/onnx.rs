//! ONNX export (opset 17): the net in inference mode, weights as initializers named by
//! their state_dict keys; the protobuf messages are in `onnx_proto`.

use prost::Message;

pub use super::onnx_proto::*;

use crate::model::config::Activation;
use crate::model::pytorch::Group;
use crate::model::spec::{ActivationLayer, LayerSpec, Shape};

/// Builds the graph node by node; each node's output is a fresh value name.
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    groups: std::vec::IntoIter<Group>,
    count: usize,
}

impl Graph {
    fn node(&mut self, op: &str, inputs: Vec<String>, attrs: Vec<AttributeProto>) -> String {
        self.count += 1;
        let out = format!("{}_{}", op.to_lowercase(), self.count);
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.into(),
            attribute: attrs,
        });
        out
    }

    /// The next weight group as initializers; returns their names in state_dict order.
    fn weights(&mut self) -> Vec<String> {
        let g = self.groups.next().expect("one group per weighted layer");
        let mut names = Vec::new();
        for t in g.tensors {
            let name = format!("{}.{}", g.module, t.name);
            self.initializers.push(TensorProto {
                dims: t.shape.iter().map(|&d| d as i64).collect(),
                data_type: 1,
                name: name.clone(),
                raw_data: t.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            });
            names.push(name);
        }
        names
    }

    fn constant(&mut self, name: &str, value: f32) -> String {
        if !self.initializers.iter().any(|t| t.name == name) {
            self.initializers.push(TensorProto {
                dims: vec![],
                data_type: 1,
                name: name.into(),
                raw_data: value.to_le_bytes().to_vec(),
            });
        }
        name.into()
    }

    /// A conv of square `kernel`, `stride`, `padding`; a layer's dilation and groups as
    /// ONNX's `dilations` and `group` where not 1.
    fn conv(&mut self, x: String, kernel: usize, stride: usize, padding: usize) -> String {
        self.conv_with(x, [kernel, stride, padding], 1, 1)
    }

    fn conv_with(
        &mut self,
        x: String,
        [kernel, stride, padding]: [usize; 3],
        dilation: usize,
        groups: usize,
    ) -> String {
        let inputs = std::iter::once(x).chain(self.weights()).collect();
        let mut attrs = vec![
            ints("kernel_shape", &[kernel, kernel]),
            ints("strides", &[stride, stride]),
            ints("pads", &[padding; 4]),
        ];
        if dilation != 1 {
            attrs.push(ints("dilations", &[dilation, dilation]));
        }
        if groups != 1 {
            attrs.push(int("group", groups as i64));
        }
        self.node("Conv", inputs, attrs)
    }

    fn batch_norm(&mut self, x: String, eps: f64) -> String {
        let inputs = std::iter::once(x).chain(self.weights()).collect();
        let attrs = vec![float("epsilon", eps as f32)];
        self.node("BatchNormalization", inputs, attrs)
    }

    /// An activation layer with the arguments its spec writes, on an input of `shape`.
    fn activation_with(&mut self, x: String, act: &ActivationLayer, shape: Shape) -> String {
        let (lower, upper) = act.rrelu_range();
        match act.kind {
            Activation::LeakyRelu => {
                let slope = act.leaky_slope() as f32;
                self.node("LeakyRelu", vec![x], vec![float("alpha", slope)])
            }
            Activation::Elu => {
                let alpha = act.elu_alpha() as f32;
                self.node("Elu", vec![x], vec![float("alpha", alpha)])
            }
            // In inference RReLU is a leaky ReLU with the midpoint slope.
            Activation::Rrelu => {
                let slope = ((lower + upper) / 2.0) as f32;
                self.node("LeakyRelu", vec![x], vec![float("alpha", slope)])
            }
            // One slope per channel broadcasts over an image's planes as [C, 1, 1].
            Activation::Prelu => {
                let slope = self.weights().remove(0);
                if let (Shape::Image { c, .. }, 2..) = (shape, act.slopes())
                    && let Some(t) = self.initializers.iter_mut().find(|t| t.name == slope)
                {
                    t.dims = vec![c as i64, 1, 1];
                }
                self.node("PRelu", vec![x, slope], vec![])
            }
            Activation::Gelu if act.gelu_tanh() => self.gelu_tanh(x),
            Activation::Gelu => self.gelu_exact(x),
            Activation::Relu => self.node("Relu", vec![x], vec![]),
            Activation::Silu => {
                let gate = self.node("Sigmoid", vec![x.clone()], vec![]);
                self.node("Mul", vec![x, gate], vec![])
            }
            // Opset 17 has no Mish node (18 does): x * tanh(softplus(x)).
            Activation::Mish => {
                let soft = self.node("Softplus", vec![x.clone()], vec![]);
                let gate = self.node("Tanh", vec![soft], vec![]);
                self.node("Mul", vec![x, gate], vec![])
            }
            // PyTorch's constants, which ONNX's defaults round to f32 as well.
            Activation::Selu => {
                let attrs = vec![float("alpha", 1.673_263_2), float("gamma", 1.050_701)];
                self.node("Selu", vec![x], attrs)
            }
            Activation::Tanh => self.node("Tanh", vec![x], vec![]),
            Activation::Sigmoid => self.node("Sigmoid", vec![x], vec![]),
            Activation::Relu6 => self.clip(x, 0.0, 6.0),
            Activation::Hardtanh => {
                let (min, max) = act.hardtanh_range();
                self.clip(x, min as f32, max as f32)
            }
            Activation::Hardswish => self.node("HardSwish", vec![x], vec![]),
            // ONNX's default alpha is Keras 2's 0.2; PyTorch's exporter writes 1/6 too.
            Activation::Hardsigmoid => {
                let attrs = vec![float("alpha", 1.0 / 6.0), float("beta", 0.5)];
                self.node("HardSigmoid", vec![x], attrs)
            }
        }
    }

    /// x clamped to [min, max]: opset 11 onward takes the bounds as inputs.
    fn clip(&mut self, x: String, min: f32, max: f32) -> String {
        let lo = self.constant(&format!("clip_min_{min:?}"), min);
        let hi = self.constant(&format!("clip_max_{max:?}"), max);
        self.node("Clip", vec![x, lo, hi], vec![])
    }

    /// PyTorch's tanh GELU, x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))).
    fn gelu_tanh(&mut self, x: String) -> String {
        let cube = self.constant("gelu_cubic", 0.044_715);
        let scale = self.constant("gelu_sqrt_2_over_pi", (2.0 / std::f32::consts::PI).sqrt());
        let one = self.constant("gelu_one", 1.0);
        let half = self.constant("gelu_half", 0.5);
        let square = self.node("Mul", vec![x.clone(), x.clone()], vec![]);
        let cubed = self.node("Mul", vec![square, x.clone()], vec![]);
        let small = self.node("Mul", vec![cubed, cube], vec![]);
        let inner = self.node("Add", vec![x.clone(), small], vec![]);
        let scaled = self.node("Mul", vec![inner, scale], vec![]);
        let tanh = self.node("Tanh", vec![scaled], vec![]);
        let plus = self.node("Add", vec![tanh, one], vec![]);
        let times = self.node("Mul", vec![x, plus], vec![]);
        self.node("Mul", vec![times, half], vec![])
    }

    /// A residual block's activation: its kind with PyTorch's defaults.
    fn activation(&mut self, x: String, kind: Activation) -> String {
        self.activation_with(x, &ActivationLayer::new(kind), Shape::Flat(1))
    }

    /// Exact GELU, x * (1 + erf(x / sqrt 2)) / 2, from opset-17 ops.
    fn gelu_exact(&mut self, x: String) -> String {
        let sqrt2 = self.constant("gelu_sqrt2", std::f32::consts::SQRT_2);
        let one = self.constant("gelu_one", 1.0);
        let half = self.constant("gelu_half", 0.5);
        let scaled = self.node("Div", vec![x.clone(), sqrt2], vec![]);
        let erf = self.node("Erf", vec![scaled], vec![]);
        let plus = self.node("Add", vec![erf, one], vec![]);
        let times = self.node("Mul", vec![x, plus], vec![]);
        self.node("Mul", vec![times, half], vec![])
    }

    fn layer(&mut self, layer: &LayerSpec, x: String, shape: Shape) -> String {
        match layer {
            LayerSpec::Conv {
                kernel,
                stride,
                padding,
                dilation,
                groups,
                ..
            } => self.conv_with(x, [*kernel, *stride, *padding], *dilation, *groups),
            LayerSpec::Pool {
                kernel,
                stride,
                padding,
                ceil_mode,
            } => {
                let attributes = window(*kernel, *stride, *padding, *ceil_mode);
                self.node("MaxPool", vec![x], attributes)
            }
            LayerSpec::AvgPool {
                kernel: Some(kernel),
                stride,
                padding,
                ceil_mode,
                count_include_pad,
            } => {
                let mut attributes = window(*kernel, *stride, *padding, *ceil_mode);
                if *padding > 0 && *count_include_pad {
                    // ONNX leaves the padding out of the average by default; PyTorch counts it.
                    attributes.push(int("count_include_pad", 1));
                }
                self.node("AveragePool", vec![x], attributes)
            }
            LayerSpec::AvgPool { kernel: None, .. } => {
                self.node("GlobalAveragePool", vec![x], vec![])
            }
            LayerSpec::Whiten { kernel, .. } => self.conv(x, *kernel, 1, 0),
            LayerSpec::Bn { eps, .. } => self.batch_norm(x, *eps),
            LayerSpec::Scale { factor } => {
                let f = self.constant(&format!("scale_{factor}"), *factor as f32);
                self.node("Mul", vec![x, f], vec![])
            }
            LayerSpec::Activation(act) => self.activation_with(x, act, shape),
            LayerSpec::Dropout { .. } | LayerSpec::Dropout2d { .. } => x,
            LayerSpec::Flatten => self.node("Flatten", vec![x], vec![int("axis", 1)]),
            LayerSpec::Linear { .. } => {
                let mut inputs = vec![x];
                inputs.extend(self.weights());
                self.node("Gemm", inputs, vec![int("transB", 1)])
            }
            LayerSpec::Residual {
                stride, activation, ..
            } => {
                let y = self.conv(x.clone(), 3, *stride, 1);
                let y = self.batch_norm(y, 1e-5);
                let y = self.activation(y, *activation);
                let y = self.conv(y, 3, 1, 1);
                let y = self.batch_norm(y, 1e-5);
                // The projection's weights come after conv2/bn2 in state_dict order, and
                // act2's PReLU slope after them.
                let has_projection = self
                    .groups
                    .as_slice()
                    .first()
                    .is_some_and(|g| g.module.ends_with(".shortcut.0"));
                let skip = if has_projection {
                    let s = self.conv(x, 1, *stride, 0);
                    self.batch_norm(s, 1e-5)
                } else {
                    x
                };
                let sum = self.node("Add", vec![y, skip], vec![]);
                self.activation(sum, *activation)
            }
        }
    }
}

/// The serialized ONNX model of a net with the weights `groups` (from `pytorch::groups`).
pub fn model(
    layers: &[LayerSpec],
    input: Shape,
    groups: Vec<Group>,
    metadata: &[(&str, String)],
) -> Vec<u8> {
    let mut g = Graph {
        nodes: Vec::new(),
        initializers: Vec::new(),
        groups: groups.into_iter(),
        count: 0,
    };
    let mut x = "input".to_string();
    let mut shape = input;
    for layer in layers {
        x = g.layer(layer, x, shape);
        shape = layer.output_shape(shape).unwrap_or(shape);
    }
    if let Shape::Image { .. } = shape {
        x = g.node("Flatten", vec![x], vec![int("axis", 1)]);
    }
    g.node("Identity", vec![x], vec![]);
    // The graph's output keeps a fixed name for onnxruntime users.
    g.nodes.last_mut().expect("just added").output = vec!["logits".into()];
    let batch = Dimension {
        dim_value: None,
        dim_param: Some("batch".into()),
    };
    let (c, h, w) = match input {
        Shape::Image { c, h, w } => (c, h, w),
        Shape::Flat(n) => (n, 1, 1),
    };
    let classes = match shape {
        Shape::Flat(n) => n,
        Shape::Image { c, h, w } => c * h * w,
    };
    let model = ModelProto {
        ir_version: 8,
        producer_name: "convlab".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(GraphProto {
            node: g.nodes,
            name: "convlab".into(),
            initializer: g.initializers,
            input: vec![value_info(
                "input",
                vec![batch.clone(), dim(c), dim(h), dim(w)],
            )],
            output: vec![value_info("logits", vec![batch, dim(classes)])],
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        metadata_props: metadata
            .iter()
            .map(|(k, v)| StringStringEntryProto {
                key: (*k).into(),
                value: v.clone(),
            })
            .collect(),
    };
    model.encode_to_vec()
}

/// A pool's window attributes: kernel, strides, and the padding on every side when there is.
fn window(
    kernel: usize,
    stride: Option<usize>,
    padding: usize,
    ceil_mode: bool,
) -> Vec<AttributeProto> {
    let mut attributes = vec![
        ints("kernel_shape", &[kernel, kernel]),
        ints("strides", &[stride.unwrap_or(kernel); 2]),
    ];
    if padding > 0 {
        attributes.push(ints("pads", &[padding; 4]));
    }
    if ceil_mode {
        attributes.push(int("ceil_mode", 1));
    }
    attributes
}

#[cfg(test)]
#[path = "onnx_tests.rs"]
mod tests;
