//! The PyTorch code of a net: an `nn.Sequential` whose `state_dict()` keys are exactly the
//! ones `export` writes, so `load_state_dict` takes the file as it is.

use crate::model::config::Activation;
use crate::model::spec::{ActivationLayer, LayerSpec, Shape};

/// The module constructor for an activation, with convlab's (= PyTorch's default) settings.
pub fn activation(kind: Activation) -> &'static str {
    match kind {
        Activation::Relu => "nn.ReLU()",
        Activation::LeakyRelu => "nn.LeakyReLU(0.01)",
        Activation::Prelu => "nn.PReLU()",
        Activation::Rrelu => "nn.RReLU(1 / 8, 1 / 3)",
        Activation::Elu => "nn.ELU(1.0)",
        Activation::Gelu => "nn.GELU()",
        Activation::Silu => "nn.SiLU()",
        Activation::Mish => "nn.Mish()",
        Activation::Selu => "nn.SELU()",
        Activation::Tanh => "nn.Tanh()",
        Activation::Sigmoid => "nn.Sigmoid()",
        Activation::Relu6 => "nn.ReLU6()",
        Activation::Hardtanh => "nn.Hardtanh()",
        Activation::Hardswish => "nn.Hardswish()",
        Activation::Hardsigmoid => "nn.Hardsigmoid()",
    }
}

/// An activation layer's module with the arguments its spec writes.
fn activation_with(act: &ActivationLayer) -> String {
    let (lower, upper) = act.rrelu_range();
    match act.kind {
        Activation::LeakyRelu => match act.negative_slope {
            Some(slope) => format!("nn.LeakyReLU({slope:?})"),
            None => activation(act.kind).into(),
        },
        Activation::Elu => match act.alpha {
            Some(alpha) => format!("nn.ELU({alpha:?})"),
            None => activation(act.kind).into(),
        },
        Activation::Prelu if act.num_parameters.is_some() || act.init.is_some() => format!(
            "nn.PReLU(num_parameters={}, init={:?})",
            act.slopes(),
            act.prelu_init()
        ),
        Activation::Rrelu if act.lower.is_some() || act.upper.is_some() => {
            format!("nn.RReLU({lower:?}, {upper:?})")
        }
        Activation::Gelu if act.gelu_tanh() => "nn.GELU(approximate='tanh')".into(),
        Activation::Hardtanh if act.min_val.is_some() || act.max_val.is_some() => {
            let (min, max) = act.hardtanh_range();
            format!("nn.Hardtanh({min:?}, {max:?})")
        }
        kind => activation(kind).into(),
    }
}

const BASIC_BLOCK: &str = r#"
class BasicBlock(nn.Module):
    """convlab's residual layer: conv-bn-act-conv-bn, plus the (projected) input, then act."""

    def __init__(self, cin, cout, stride, act):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = act()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act2 = act()

    def forward(self, x):
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.act2(y + self.shortcut(x))

"#;

const SCALE: &str = r#"
class Scale(nn.Module):
    """Multiplies by a constant (airbench's logit scale)."""

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor

"#;

/// One line per layer: the module expression for `layer` given its input shape.
fn module(layer: &LayerSpec, shape: Shape) -> String {
    let width = shape.width();
    match layer {
        LayerSpec::Conv {
            out,
            kernel,
            stride,
            padding,
            bias,
            dilation,
            groups,
            ..
        } => {
            let mut args = format!("{width}, {out}, kernel_size={kernel}, stride={stride}");
            args += &format!(", padding={padding}");
            if *dilation != 1 {
                args += &format!(", dilation={dilation}");
            }
            if *groups != 1 {
                args += &format!(", groups={groups}");
            }
            if !*bias {
                args += ", bias=False";
            }
            format!("nn.Conv2d({args})")
        }
        LayerSpec::Pool {
            kernel,
            stride,
            padding,
            ceil_mode,
        } => format!(
            "nn.MaxPool2d({kernel}, stride={}{})",
            stride.unwrap_or(*kernel),
            pool_options(*padding, *ceil_mode, true)
        ),
        LayerSpec::AvgPool {
            kernel: Some(kernel),
            stride,
            padding,
            ceil_mode,
            count_include_pad,
        } => format!(
            "nn.AvgPool2d({kernel}, stride={}{})",
            stride.unwrap_or(*kernel),
            pool_options(*padding, *ceil_mode, *count_include_pad)
        ),
        LayerSpec::AvgPool { kernel: None, .. } => "nn.AdaptiveAvgPool2d(1)".into(),
        LayerSpec::Whiten { kernel, .. } => {
            let out = 2 * width * kernel * kernel;
            format!("nn.Conv2d({width}, {out}, kernel_size={kernel})")
        }
        LayerSpec::Bn { momentum, eps, .. } => {
            let dims = match shape {
                Shape::Image { .. } => "2d",
                Shape::Flat(_) => "1d",
            };
            let mut args = width.to_string();
            if *eps != 1e-5 {
                args += &format!(", eps={eps:e}");
            }
            if *momentum != 0.1 {
                args += &format!(", momentum={momentum}");
            }
            format!("nn.BatchNorm{dims}({args})")
        }
        LayerSpec::Scale { factor } => format!("Scale({factor:?})"),
        LayerSpec::Activation(act) => activation_with(act),
        LayerSpec::Dropout { p } => format!("nn.Dropout({p})"),
        LayerSpec::Dropout2d { p } => format!("nn.Dropout2d({p})"),
        LayerSpec::Flatten => "nn.Flatten()".into(),
        LayerSpec::Linear { out, bias, .. } => format!(
            "nn.Linear({width}, {out}{})",
            if *bias { "" } else { ", bias=False" }
        ),
        LayerSpec::Residual {
            out,
            stride,
            activation: act,
        } => format!(
            "BasicBlock({width}, {out}, {stride}, lambda: {})",
            activation(*act)
        ),
    }
}

/// A Python module defining `make_net()`, `MEAN`, `STD` and `CLASSES`.
pub fn sequential(
    layers: &[LayerSpec],
    input: Shape,
    mean: &[f32],
    std: &[f32],
    classes: &[String],
) -> String {
    let mut code = String::from(
        "\"\"\"A convlab net as PyTorch modules (written by `convlab export --format pytorch`).\n\n\
         model = make_net(); model.load_state_dict(torch.load(\"MODEL.pth\")); model.eval()\n\
         Inputs: [N, C, H, W] pixels in [0, 1] (torchvision's ToTensor), then\n\
         transforms.Normalize(MEAN, STD) when MEAN is not empty.\n\"\"\"\n\
         import torch\nfrom torch import nn\n",
    );
    if layers
        .iter()
        .any(|l| matches!(l, LayerSpec::Residual { .. }))
    {
        code.push_str(BASIC_BLOCK);
    }
    if layers.iter().any(|l| matches!(l, LayerSpec::Scale { .. })) {
        code.push_str(SCALE);
    }
    code.push_str(&format!(
        "\nMEAN = {mean:?}\nSTD = {std:?}\nCLASSES = {classes:?}\n\n\ndef make_net():\n    return nn.Sequential(\n"
    ));
    let mut shape = input;
    for (i, layer) in layers.iter().enumerate() {
        code.push_str(&format!("        {},  # {i}\n", module(layer, shape)));
        shape = layer.output_shape(shape).unwrap_or(shape);
    }
    code.push_str("    )\n");
    code
}

/// A pool's `padding=`, `ceil_mode=` and `count_include_pad=` arguments, each left out at
/// PyTorch's default.
fn pool_options(padding: usize, ceil_mode: bool, count_include_pad: bool) -> String {
    let mut options = String::new();
    if padding > 0 {
        options += &format!(", padding={padding}");
    }
    if ceil_mode {
        options += ", ceil_mode=True";
    }
    if !count_include_pad {
        options += ", count_include_pad=False";
    }
    options
}
