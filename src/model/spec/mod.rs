//! A net as data: a list of layer specs that presets produce and users can write in TOML.
//! Shapes are checked here, before any tensor exists, so a wrong net fails with a message
//! that names the layer instead of a panic inside a kernel.

use serde::{Deserialize, Serialize};

use crate::model::config::Activation;

mod check;
mod names;
mod padding;
pub use check::{check_net, lint_net};
pub use names::{canonical_layer_names, refused_layer};
pub use padding::padding_words;

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
    Pool {
        #[serde(default = "two")]
        kernel: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        stride: Option<usize>,
    },
    /// Global average pool to 1x1.
    AvgPool,
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
    Activation {
        kind: Activation,
    },
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

/// The shape of one example flowing through the net.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Image { c: usize, h: usize, w: usize },
    Flat(usize),
}

impl Shape {
    /// What a layer reads across: an image's channels, or the features of a flat input.
    pub fn width(&self) -> usize {
        match *self {
            Shape::Image { c, .. } => c,
            Shape::Flat(n) => n,
        }
    }
}

/// Whether a residual block from `width` channels to `out` at `stride` needs the 1x1 conv +
/// BN shortcut (PyTorch's BasicBlock) instead of the identity.
pub fn residual_projects(width: usize, out: usize, stride: usize) -> bool {
    stride != 1 || width != out
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Shape::Image { c, h, w } => write!(f, "{c}x{h}x{w}"),
            Shape::Flat(n) => write!(f, "{n} features"),
        }
    }
}

impl LayerSpec {
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
            LayerSpec::AvgPool => "avg-pool",
            LayerSpec::Whiten { .. } => "whiten",
            LayerSpec::Bn { .. } => "bn",
            LayerSpec::Scale { .. } => "scale",
            LayerSpec::Activation { .. } => "activation",
            LayerSpec::Dropout { .. } => "dropout",
            LayerSpec::Dropout2d { .. } => "dropout2d",
            LayerSpec::Flatten => "flatten",
            LayerSpec::Linear { .. } => "linear",
            LayerSpec::Residual { .. } => "residual",
        }
    }

    /// The shape after this layer, or why the layer cannot take `input`.
    pub fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        let image = |what: &str| match input {
            Shape::Image { c, h, w } => Ok((c, h, w)),
            Shape::Flat(n) => Err(format!(
                "{what} needs an image-shaped input but gets {n} features (put it before flatten)"
            )),
        };
        match self {
            LayerSpec::Conv {
                out,
                kernel,
                stride,
                padding,
                input: expected,
                ..
            } => conv_output(image("conv")?, *out, *kernel, *stride, *padding, *expected),
            LayerSpec::Pool { kernel, stride } => {
                let (c, h, w) = image("pool")?;
                let s = stride.unwrap_or(*kernel);
                if *kernel == 0 || s == 0 {
                    return Err("kernel and stride must be at least 1".into());
                }
                if *kernel > h || *kernel > w {
                    return Err(format!("kernel {kernel} is larger than its {h}x{w} input"));
                }
                Ok(Shape::Image {
                    c,
                    h: (h - kernel) / s + 1,
                    w: (w - kernel) / s + 1,
                })
            }
            LayerSpec::AvgPool => {
                let (c, _, _) = image("avg-pool")?;
                Ok(Shape::Image { c, h: 1, w: 1 })
            }
            LayerSpec::Flatten => match input {
                Shape::Image { c, h, w } => Ok(Shape::Flat(c * h * w)),
                flat => Ok(flat),
            },
            LayerSpec::Whiten {
                kernel,
                eps,
                bias_epochs: _,
            } => {
                let (c, h, w) = image("whiten")?;
                if !(*eps > 0.0 && eps.is_finite()) {
                    return Err(format!("eps = {eps} must be a positive number"));
                }
                conv_output((c, h, w), 2 * c * kernel * kernel, *kernel, 1, 0, None)
            }
            LayerSpec::Bn {
                input: expected,
                momentum,
                eps,
                ..
            } => {
                if let Some(e) = expected
                    && *e != input.width()
                {
                    let n = input.width();
                    let what = match input {
                        Shape::Image { .. } => "channels",
                        Shape::Flat(_) => "features",
                    };
                    return Err(format!(
                        "declares num_features = {e} but receives {n} {what}"
                    ));
                }
                if !(0.0..=1.0).contains(momentum) {
                    return Err(format!("momentum = {momentum} is not in [0, 1]"));
                }
                if !(*eps > 0.0 && eps.is_finite()) {
                    return Err(format!("eps = {eps} must be a positive number"));
                }
                Ok(input)
            }
            LayerSpec::Scale { factor } if !factor.is_finite() => {
                Err(format!("factor = {factor} must be a finite number"))
            }
            LayerSpec::Scale { .. } => Ok(input),
            LayerSpec::Activation { .. } => Ok(input),
            LayerSpec::Dropout { p } => check_p(*p, input),
            LayerSpec::Dropout2d { p } => {
                image("dropout2d")?;
                check_p(*p, input)
            }
            LayerSpec::Linear {
                out,
                input: expected,
                ..
            } => linear_output(input, *out, *expected),
            LayerSpec::Residual { out, stride, .. } => {
                let (_, h, w) = image("residual")?;
                if *stride == 0 || *out == 0 {
                    return Err("out and stride must be at least 1".into());
                }
                Ok(Shape::Image {
                    c: *out,
                    h: (h - 1) / stride + 1,
                    w: (w - 1) / stride + 1,
                })
            }
        }
    }
}

fn check_p(p: f64, input: Shape) -> std::result::Result<Shape, String> {
    if !(0.0..1.0).contains(&p) {
        return Err(format!("p = {p} is not in [0, 1)"));
    }
    Ok(input)
}

/// A conv's output shape from its (c, h, w) input.
fn conv_output(
    (c, h, w): (usize, usize, usize),
    out: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    expected: Option<usize>,
) -> std::result::Result<Shape, String> {
    if let Some(e) = expected
        && e != c
    {
        return Err(format!("declares in = {e} channels but receives {c}"));
    }
    if out == 0 || kernel == 0 || stride == 0 {
        return Err("out, kernel and stride must be at least 1".into());
    }
    let (ph, pw) = (h + 2 * padding, w + 2 * padding);
    if kernel > ph || kernel > pw {
        return Err(format!(
            "kernel {kernel} is larger than its {h}x{w} input (+ padding {padding})"
        ));
    }
    Ok(Shape::Image {
        c: out,
        h: (ph - kernel) / stride + 1,
        w: (pw - kernel) / stride + 1,
    })
}

/// A linear layer's output shape; it needs flat features.
fn linear_output(
    input: Shape,
    out: usize,
    expected: Option<usize>,
) -> std::result::Result<Shape, String> {
    let n = match input {
        Shape::Flat(n) => n,
        Shape::Image { c, h, w } => {
            return Err(format!(
                "linear needs flat features but gets a {c}x{h}x{w} image (add {{ type = \"flatten\" }} before it)"
            ));
        }
    };
    if let Some(e) = expected
        && e != n
    {
        return Err(format!(
            "declares in = {e} features but the previous layer gives {n}"
        ));
    }
    if out == 0 {
        return Err("out must be at least 1".into());
    }
    Ok(Shape::Flat(out))
}
