//! The shape of one example as it flows through a net, and each layer's output shape: checked
//! here, before any tensor exists, so that a wrong net fails with a message that names the
//! layer instead of a panic inside a kernel.

use super::LayerSpec;

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
                dirac,
                dilation,
                groups,
                ..
            } => {
                let (c, h, w) = image("conv")?;
                if *groups == 0 || c % groups != 0 || out % groups != 0 {
                    return Err(format!(
                        "groups = {groups} must divide the {c} input channels and the {out} \
                         output channels"
                    ));
                }
                if *dirac && *groups != 1 {
                    return Err("dirac starts ungrouped filters only (groups = 1)".into());
                }
                let window = Window {
                    kernel: *kernel,
                    stride: *stride,
                    padding: *padding,
                    dilation: *dilation,
                };
                conv_output((c, h, w), *out, window, *expected)
            }
            LayerSpec::Pool {
                kernel,
                stride,
                padding,
                ceil_mode,
            } => window_output(image("pool")?, *kernel, *stride, *padding, *ceil_mode),
            LayerSpec::AvgPool {
                kernel: Some(kernel),
                stride,
                padding,
                ceil_mode,
                ..
            } => window_output(image("avg-pool")?, *kernel, *stride, *padding, *ceil_mode),
            LayerSpec::AvgPool {
                kernel: None,
                padding: 1..,
                ..
            } => Err("padding needs a kernel: it pads the windows of kernel_size".into()),
            LayerSpec::AvgPool {
                kernel: None,
                ceil_mode: true,
                ..
            } => Err("ceil_mode needs a kernel: it rounds the count of windows up".into()),
            LayerSpec::AvgPool { kernel: None, .. } => {
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
                let window = Window {
                    kernel: *kernel,
                    stride: 1,
                    padding: 0,
                    dilation: 1,
                };
                conv_output((c, h, w), 2 * c * kernel * kernel, window, None)
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
            LayerSpec::Activation(act) => {
                act.check(input.width())?;
                Ok(input)
            }
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

/// A pooling window's output shape from its (c, h, w) input; the stride defaults to the
/// kernel, and a window that would run past the edge is left out (PyTorch's `ceil_mode=False`).
/// PyTorch allows at most half the kernel of padding, so that no window is all padding.
fn window_output(
    (c, h, w): (usize, usize, usize),
    kernel: usize,
    stride: Option<usize>,
    padding: usize,
    ceil_mode: bool,
) -> std::result::Result<Shape, String> {
    let s = stride.unwrap_or(kernel);
    if kernel == 0 || s == 0 {
        return Err("kernel and stride must be at least 1".into());
    }
    if padding > kernel / 2 {
        return Err(format!(
            "padding = {padding} is more than half the kernel {kernel} (PyTorch's limit)"
        ));
    }
    let (ph, pw) = (h + 2 * padding, w + 2 * padding);
    if kernel > ph || kernel > pw {
        let padded = if padding > 0 {
            format!(" (+ padding {padding})")
        } else {
            String::new()
        };
        return Err(format!(
            "kernel {kernel} is larger than its {h}x{w} input{padded}"
        ));
    }
    Ok(Shape::Image {
        c,
        h: pooled_size(h, kernel, s, padding, ceil_mode),
        w: pooled_size(w, kernel, s, padding, ceil_mode),
    })
}

/// How many windows of `k` every `s` pixels fit along `n` pixels padded by `p` on each side,
/// as PyTorch counts: rounded down, or with `ceil_mode` up, keeping a last window that hangs
/// over the edge unless it would start past the input and its left padding. Needs
/// `n + 2p >= k` (window_output checks it first).
pub fn pooled_size(n: usize, k: usize, s: usize, p: usize, ceil_mode: bool) -> usize {
    let span = n + 2 * p - k;
    let out = if ceil_mode {
        span.div_ceil(s)
    } else {
        span / s
    } + 1;
    if ceil_mode && (out - 1) * s >= n + p {
        out - 1
    } else {
        out
    }
}

/// A conv's output shape from its (c, h, w) input.
/// A conv's window: its kernel, stride, padding and dilation.
struct Window {
    kernel: usize,
    stride: usize,
    padding: usize,
    dilation: usize,
}

fn conv_output(
    (c, h, w): (usize, usize, usize),
    out: usize,
    window: Window,
    expected: Option<usize>,
) -> std::result::Result<Shape, String> {
    let Window {
        kernel,
        stride,
        padding,
        dilation,
    } = window;
    if let Some(e) = expected
        && e != c
    {
        return Err(format!("declares in = {e} channels but receives {c}"));
    }
    if out == 0 || kernel == 0 || stride == 0 || dilation == 0 {
        return Err("out, kernel, stride and dilation must be at least 1".into());
    }
    // A dilated kernel spans dilation * (kernel - 1) + 1 pixels.
    let span = dilation * (kernel - 1) + 1;
    let (ph, pw) = (h + 2 * padding, w + 2 * padding);
    if span > ph || span > pw {
        let spans = match dilation {
            1 => String::new(),
            _ => format!(" (spanning {span} pixels at dilation {dilation})"),
        };
        return Err(format!(
            "kernel {kernel}{spans} is larger than its {h}x{w} input (+ padding {padding})"
        ));
    }
    Ok(Shape::Image {
        c: out,
        h: (ph - span) / stride + 1,
        w: (pw - span) / stride + 1,
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

#[cfg(test)]
#[path = "shape_tests.rs"]
mod tests;
