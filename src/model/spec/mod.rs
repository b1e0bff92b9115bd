//! A net as data: a list of layer specs that presets produce and users can write in TOML.
//! Each layer's shapes are checked before any tensor exists (shape.rs, and check.rs for the
//! whole net), so a wrong net fails with a message that names the layer instead of a panic
//! inside a kernel.

use serde::{Deserialize, Serialize};

use crate::model::config::Activation;

mod activation;
mod check;
mod fixed;
mod names;
mod padding;
mod shape;
pub use activation::{ActivationLayer, GeluForm};
pub use check::{check_input, check_net, lint_net};
pub use names::{canonical_layer_names, refused_layer};
pub use padding::padding_words;
pub use shape::{Shape, pooled_size, residual_projects};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum LayerSpec {
    Conv {
        out: usize,
        #[serde(default = "three")]
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        /// Pixels on every side; `"same"` and `"valid"` are read too (padding.rs).
        #[serde(default, deserialize_with = "padding::pixels")]
        padding: usize,
        /// Optional: checked against the incoming channels.
        #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
        input: Option<usize>,
        /// PyTorch's `bias=` (false before batch norm in a ResNet stem).
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        bias: bool,
        /// Start the first `in` filters as the identity (`torch.nn.init.dirac_`), the rest
        /// as usual: a deep stack then begins close to passing its input through (airbench).
        #[serde(default, skip_serializing_if = "is_false")]
        dirac: bool,
        /// PyTorch's `dilation`: the kernel's taps this many pixels apart.
        #[serde(default = "one", skip_serializing_if = "is_one")]
        dilation: usize,
        /// PyTorch's `groups`: the channels in this many separate sets, each output set
        /// reading its own input set (groups = in channels: a depthwise conv).
        #[serde(default = "one", skip_serializing_if = "is_one")]
        groups: usize,
    },
    /// A fixed patch-whitening conv (airbench's first layer): `kernel` x `kernel`, no padding,
    /// 2*C*kernel^2 filters, set before training from the training images' patch covariance
    /// (each eigenvector scaled by 1/sqrt(eigenvalue + eps), and its negative) and never
    /// trained; its bias trains for the first `bias_epochs` epochs only.
    Whiten {
        #[serde(default = "two")]
        kernel: usize,
        #[serde(default = "whiten_eps")]
        eps: f64,
        #[serde(default = "three")]
        bias_epochs: usize,
    },
    /// Max pooling over `kernel` x `kernel` windows every `stride` pixels (default: the
    /// kernel), after `padding` pixels on every side that never win (PyTorch's `MaxPool2d`);
    /// `ceil_mode` keeps a last window that hangs over the bottom or right edge.
    Pool {
        #[serde(default = "two")]
        kernel: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
        #[serde(
            default,
            deserialize_with = "padding::pixels",
            skip_serializing_if = "is_zero"
        )]
        padding: usize,
        #[serde(default, skip_serializing_if = "is_false")]
        ceil_mode: bool,
    },
    /// Average pooling: over the whole plane to 1x1 with no `kernel` (PyTorch's
    /// `AdaptiveAvgPool2d(1)`), else over `kernel` x `kernel` windows every `stride` pixels
    /// (its `AvgPool2d(kernel, stride, padding, ceil_mode, count_include_pad)`; the stride
    /// defaults to the kernel, and the zeros of the padding count in each average unless
    /// `count_include_pad = false`, as there).
    AvgPool {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kernel: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
        #[serde(
            default,
            deserialize_with = "padding::pixels",
            skip_serializing_if = "is_zero"
        )]
        padding: usize,
        #[serde(default, skip_serializing_if = "is_false")]
        ceil_mode: bool,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        count_include_pad: bool,
    },
    /// Batch norm; PyTorch's `momentum` and `eps`. `weight = false` keeps the scale at 1
    /// and trains only the shift (airbench).
    Bn {
        /// PyTorch's `num_features`, optional: checked against the incoming width.
        #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
        input: Option<usize>,
        #[serde(default = "bn_momentum", skip_serializing_if = "is_bn_momentum")]
        momentum: f64,
        #[serde(default = "bn_eps", skip_serializing_if = "is_bn_eps")]
        eps: f64,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        weight: bool,
    },
    /// An activation, with PyTorch's defaults and the arguments of its kind's module
    /// (activation.rs).
    Activation(ActivationLayer),
    Dropout {
        p: f64,
    },
    /// Channel dropout (PyTorch's `nn.Dropout2d`): whole feature maps are zeroed.
    Dropout2d {
        p: f64,
    },
    Flatten,
    Linear {
        out: usize,
        #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
        input: Option<usize>,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        bias: bool,
    },
    /// Multiply by a constant (airbench scales its logits by 1/9).
    Scale {
        factor: f64,
    },
    /// ResNet basic block (two 3x3 convs with BN, identity or 1x1 projection shortcut).
    Residual {
        out: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default = "relu")]
        activation: Activation,
    },
}

fn one() -> usize {
    1
}
fn two() -> usize {
    2
}
fn three() -> usize {
    3
}
fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn is_one(n: &usize) -> bool {
    *n == 1
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
fn whiten_eps() -> f64 {
    5e-4
}
fn bn_momentum() -> f64 {
    0.1
}
fn is_bn_momentum(m: &f64) -> bool {
    *m == bn_momentum()
}
fn bn_eps() -> f64 {
    1e-5
}
fn is_bn_eps(e: &f64) -> bool {
    *e == bn_eps()
}
fn relu() -> Activation {
    Activation::Relu
}

impl LayerSpec {
    /// An activation layer with PyTorch's defaults (`nn.LeakyReLU()`, `nn.ELU()`).
    pub fn activation(kind: Activation) -> Self {
        LayerSpec::Activation(ActivationLayer::new(kind))
    }

    /// A conv of stride 1 with a bias, as `nn.Conv2d(in, out, kernel, padding=padding)`.
    pub fn conv(out: usize, kernel: usize, padding: usize) -> Self {
        LayerSpec::Conv {
            out,
            kernel,
            stride: 1,
            padding,
            input: None,
            bias: true,
            dirac: false,
            dilation: 1,
            groups: 1,
        }
    }

    /// The average of each channel's whole plane (`AdaptiveAvgPool2d(1)`).
    pub fn global_avg_pool() -> Self {
        LayerSpec::AvgPool {
            kernel: None,
            stride: None,
            padding: 0,
            ceil_mode: false,
            count_include_pad: true,
        }
    }

    /// Max pooling without padding, as `nn.MaxPool2d(kernel, stride)`.
    pub fn max_pool(kernel: usize, stride: Option<usize>) -> Self {
        LayerSpec::Pool {
            kernel,
            stride,
            padding: 0,
            ceil_mode: false,
        }
    }

    /// Batch norm with PyTorch's defaults.
    pub fn bn() -> Self {
        LayerSpec::Bn {
            input: None,
            momentum: bn_momentum(),
            eps: bn_eps(),
            weight: true,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Conv { .. } => "conv",
            LayerSpec::Pool { .. } => "pool",
            LayerSpec::AvgPool { .. } => "avg-pool",
            LayerSpec::Whiten { .. } => "whiten",
            LayerSpec::Bn { .. } => "bn",
            LayerSpec::Scale { .. } => "scale",
            LayerSpec::Activation(_) => "activation",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Dropout2d { .. } => "dropout2d",
            LayerSpec::Flatten => "flatten",
            LayerSpec::Linear { .. } => "linear",
            LayerSpec::Residual { .. } => "residual",
        }
    }
}
