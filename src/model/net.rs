//! The Burn module built from a checked layer list. One enum covers every layer kind, so a
//! preset and a custom net are the same type and load from the same checkpoint format.

use burn::nn::conv::Conv2d;
use burn::nn::pool::{
    AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, AvgPool2d, AvgPool2dConfig, MaxPool2d,
    MaxPool2dConfig,
};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::{DType, Distribution};

pub use crate::model::activation::Act;
use crate::model::config::Init;
use crate::model::cpu;
use crate::model::init::{WeightInit, conv_config, dirac_init};
use crate::model::spec::{LayerSpec, Shape, residual_projects};

/// PyTorch's `nn.Dropout2d`: zeroes whole channels of each image. Wraps Burn's dropout for
/// its probability and training flag (frozen layers and inference pass inputs through).
#[derive(Module, Debug)]
pub struct Dropout2d {
    pub inner: Dropout,
}

impl Dropout2d {
    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let d = &self.inner;
        if !d.training.is_enabled() || !x.device().is_autodiff() || d.prob == 0.0 {
            return x;
        }
        let [n, c, _, _] = x.dims();
        let keep = 1.0 - d.prob;
        let mask = Tensor::<4>::random([n, c, 1, 1], Distribution::Bernoulli(keep), &x.device());
        let factors = cpu::cast_to(mask * (1.0 / keep), x.dtype());
        if cpu::on_flex(&x) {
            let zeros = Tensor::zeros([1], &x.device());
            cpu::plane_affine::apply(x, factors.reshape([n * c]), zeros)
        } else {
            x * factors
        }
    }
}

/// Multiplies by a constant; no parameters.
#[derive(Module, Debug)]
pub struct Scale {
    pub factor: f64,
}

/// Flattens [N, C, H, W] to [N, C*H*W]; no parameters.
#[derive(Module, Debug, Default)]
pub struct Flatten;

#[derive(Module, Debug)]
pub struct Shortcut {
    pub conv: Conv2d,
    pub bn: BatchNorm,
}

/// ResNet basic block: conv-bn-act-conv-bn, plus the (projected) input, then act.
#[derive(Module, Debug)]
pub struct Residual {
    pub conv1: Conv2d,
    pub bn1: BatchNorm,
    pub act1: Act,
    pub conv2: Conv2d,
    pub bn2: BatchNorm,
    pub shortcut: Option<Shortcut>,
    pub act2: Act,
}

impl Residual {
    fn forward(&self, x: Tensor<4>, bf16: bool) -> Tensor<4> {
        // Every conv here takes values batch norm or the sum made, which need rounding.
        let at = Rounding {
            bf16,
            rounded: false,
        };
        let y = self.act1.forward(cpu::batch_norm::forward(
            &self.bn1,
            conv(&self.conv1, x.clone(), at),
        ));
        let y = cpu::batch_norm::forward(&self.bn2, conv(&self.conv2, y, at));
        let skip = match &self.shortcut {
            Some(s) => cpu::batch_norm::forward(&s.bn, conv(&s.conv, x, at)),
            None => x,
        };
        self.act2.forward(y + skip)
    }
}

// Variants differ in size (a residual block holds five sub-modules); the list is short.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Layer {
    Conv(Conv2d),
    Pool(MaxPool2d),
    AvgPool(AdaptiveAvgPool2d),
    WindowAvgPool(AvgPool2d),
    Bn(BatchNorm),
    Act(Act),
    Dropout(Dropout),
    Dropout2d(Dropout2d),
    Flatten(Flatten),
    Linear(Linear),
    Residual(Residual),
    Scale(Scale),
}

/// The classifier: layers applied in order to a [N, C, H, W] batch, giving [N, classes] logits.
#[derive(Module, Debug)]
pub struct Net {
    pub layers: Vec<Layer>,
}

/// Activations between layers: image-shaped until a flatten, then flat.
enum Flow {
    Image(Tensor<4>),
    Flat(Tensor<2>),
}

impl Net {
    /// Build from a layer list already checked by `spec::check_net` against `input`.
    pub fn new(layers: &[LayerSpec], input: Shape, init: Init, device: &Device) -> Self {
        let init = WeightInit::from_name(init);
        let mut shape = input;
        let mut out = Vec::with_capacity(layers.len());
        for spec in layers {
            let channels = shape.width();
            out.push(match spec {
                LayerSpec::Conv {
                    out,
                    kernel,
                    stride,
                    padding,
                    bias,
                    dirac,
                    dilation,
                    groups,
                    ..
                } => {
                    let config = conv_config([channels, *out], [*kernel, *stride, *padding], *bias)
                        .with_dilation([*dilation, *dilation])
                        .with_groups(*groups);
                    let conv = init.conv(config, device);
                    Layer::Conv(if *dirac { dirac_init(conv) } else { conv })
                }
                // Default-initialized here; `whiten::init` sets the filters from the data.
                LayerSpec::Whiten { kernel, .. } => {
                    let out = 2 * channels * kernel * kernel;
                    let config = conv_config([channels, out], [*kernel, 1, 0], true);
                    Layer::Conv(WeightInit(None).conv(config, device))
                }
                // The one-pass CPU average takes neither a window over the edge (ceil mode)
                // nor count_include_pad = false: those run through Burn's pooling; the
                // one-pass max takes ceil mode (cpu::pool_window).
                LayerSpec::Pool {
                    kernel,
                    stride,
                    padding,
                    ceil_mode,
                } => Layer::Pool(
                    MaxPool2dConfig::new([*kernel, *kernel])
                        .with_strides([stride.unwrap_or(*kernel); 2])
                        .with_padding(pool_padding(*padding))
                        .with_ceil_mode(*ceil_mode)
                        .init(),
                ),
                LayerSpec::AvgPool {
                    kernel: Some(kernel),
                    stride,
                    padding,
                    ceil_mode,
                    count_include_pad,
                } => Layer::WindowAvgPool(
                    AvgPool2dConfig::new([*kernel, *kernel])
                        .with_strides([stride.unwrap_or(*kernel); 2])
                        .with_padding(pool_padding(*padding))
                        .with_ceil_mode(*ceil_mode)
                        .with_count_include_pad(*count_include_pad)
                        .init(),
                ),
                LayerSpec::AvgPool { kernel: None, .. } => {
                    Layer::AvgPool(AdaptiveAvgPool2dConfig::new([1, 1]).init())
                }
                LayerSpec::Bn { momentum, eps, .. } => Layer::Bn(
                    BatchNormConfig::new(channels)
                        .with_momentum(*momentum)
                        .with_epsilon(*eps)
                        .init(device),
                ),
                LayerSpec::Scale { factor } => Layer::Scale(Scale { factor: *factor }),
                LayerSpec::Activation(act) => Layer::Act(Act::with(act, device)),
                LayerSpec::Dropout { p } => Layer::Dropout(DropoutConfig::new(*p).init()),
                LayerSpec::Dropout2d { p } => Layer::Dropout2d(Dropout2d {
                    inner: DropoutConfig::new(*p).init(),
                }),
                LayerSpec::Flatten => Layer::Flatten(Flatten),
                LayerSpec::Linear { out, bias, .. } => {
                    Layer::Linear(init.linear(channels, *out, *bias, device))
                }
                LayerSpec::Residual {
                    out,
                    stride,
                    activation,
                } => {
                    let shortcut = residual_projects(channels, *out, *stride).then(|| Shortcut {
                        conv: init.conv(
                            conv_config([channels, *out], [1, *stride, 0], false),
                            device,
                        ),
                        bn: BatchNormConfig::new(*out).init(device),
                    });
                    Layer::Residual(Residual {
                        conv1: init.conv(
                            conv_config([channels, *out], [3, *stride, 1], false),
                            device,
                        ),
                        bn1: BatchNormConfig::new(*out).init(device),
                        act1: Act::new(*activation, device),
                        conv2: init.conv(conv_config([*out, *out], [3, 1, 1], false), device),
                        bn2: BatchNormConfig::new(*out).init(device),
                        shortcut,
                        act2: Act::new(*activation, device),
                    })
                }
            });
            // check_net has validated every layer, so this cannot fail here.
            shape = spec.output_shape(shape).unwrap_or(shape);
        }
        Net { layers: out }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        // A bf16 batch on the CPU runs in f32 with bf16 rounding (`cpu::bf16`); the cast to f32
        // is exact.
        let bf16 = cpu::bf16::emulated(&x);
        let x = if bf16 { x.cast(DType::F32) } else { x };
        let mut flow = Flow::Image(x);
        // Whether the values reaching the next layer are bf16 values already (the batch is; so
        // is every conv and linear layer's rounded output, until a layer makes new values).
        let mut rounded = bf16;
        for layer in &self.layers {
            let input = Rounding { bf16, rounded };
            rounded = bf16 && keeps_bf16(layer, rounded);
            flow = match (layer, flow) {
                (Layer::Conv(l), Flow::Image(x)) => Flow::Image(conv(l, x, input)),
                (Layer::Pool(l), Flow::Image(x)) => Flow::Image(cpu::max_pool::forward(l, x)),
                (Layer::AvgPool(l), Flow::Image(x)) => Flow::Image(l.forward(x)),
                (Layer::WindowAvgPool(l), Flow::Image(x)) => {
                    Flow::Image(cpu::avg_pool::forward(l, x))
                }
                (Layer::Residual(l), Flow::Image(x)) => Flow::Image(l.forward(x, bf16)),
                (Layer::Bn(l), Flow::Image(x)) => Flow::Image(cpu::batch_norm::forward(l, x)),
                (Layer::Bn(l), Flow::Flat(x)) => Flow::Flat(cpu::batch_norm::forward(l, x)),
                (Layer::Act(l), Flow::Image(x)) => Flow::Image(l.forward(x)),
                (Layer::Act(l), Flow::Flat(x)) => Flow::Flat(l.forward(x)),
                (Layer::Dropout(l), Flow::Image(x)) => Flow::Image(cpu::dropout::forward(l, x)),
                (Layer::Dropout(l), Flow::Flat(x)) => Flow::Flat(cpu::dropout::forward(l, x)),
                (Layer::Dropout2d(l), Flow::Image(x)) => Flow::Image(l.forward(x)),
                (Layer::Flatten(_), Flow::Image(x)) => Flow::Flat(x.flatten(1, 3)),
                (Layer::Flatten(_), flat @ Flow::Flat(_)) => flat,
                (Layer::Linear(l), Flow::Flat(x)) => Flow::Flat(linear(l, x, input)),
                (Layer::Scale(s), Flow::Image(x)) => Flow::Image(x * s.factor),
                (Layer::Scale(s), Flow::Flat(x)) => Flow::Flat(x * s.factor),
                (layer, _) => unreachable!("check_net rejects {layer:?} at this position"),
            };
        }
        let logits = match flow {
            Flow::Flat(x) => x,
            Flow::Image(x) => x.flatten(1, 3),
        };
        // A bf16 forward (train.precision) gives f32 logits: the loss is computed in f32.
        cpu::cast_to(logits, DType::F32)
    }
}

/// How a conv or linear layer's input stands under emulated bf16.
#[derive(Clone, Copy)]
struct Rounding {
    /// The step runs as emulated bf16 (`cpu::bf16`).
    bf16: bool,
    /// The input's values are bf16 values already, so rounding them would change nothing.
    rounded: bool,
}

impl Rounding {
    /// `x` rounded to bf16 (and its gradient with it) unless its values are bf16 already. That
    /// skip changes no bit: the values are the same, and the unrounded gradient reaches the
    /// previous layer's rounding (or the batch, which takes none) through layers that only copy
    /// or zero it (`keeps_bf16`), where rounding it there gives what rounding it here did.
    fn input<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        if self.rounded { x } else { cpu::bf16::round(x) }
    }
}

/// A pool's padding on every side (Valid for none, which the CPU passes take).
fn pool_padding(padding: usize) -> PaddingConfig2d {
    match padding {
        0 => PaddingConfig2d::Valid,
        p => PaddingConfig2d::Explicit(p, p, p, p),
    }
}

/// Whether `layer`'s output values are bf16 values, given whether its input's are (`rounded`),
/// in a bf16 step: conv and linear layers round their outputs; ReLU, flatten and max pooling
/// with windows that do not overlap pass each value on or zero it, forward and backward.
fn keeps_bf16(layer: &Layer, rounded: bool) -> bool {
    match layer {
        Layer::Conv(_) | Layer::Linear(_) => true,
        Layer::Act(a) => rounded && a.keeps_bf16(),
        Layer::Flatten(_) => rounded,
        Layer::Pool(p) => {
            rounded
                && p.dilation == [1, 1]
                && p.stride[0] >= p.kernel_size[0]
                && p.stride[1] >= p.kernel_size[1]
        }
        _ => false,
    }
}

/// A conv layer; under emulated bf16 (`at.bf16`) its input, weight, bias and output are
/// rounded to bf16 as autocast rounds them, and its GEMMs add bf16 products in f32 where the
/// CPU has AVX512-BF16 (`ConvShape::bf16`; Winograd's transformed tiles are rounded too), else
/// f32 products of the rounded values.
fn conv(l: &Conv2d, x: Tensor<4>, at: Rounding) -> Tensor<4> {
    if !at.bf16 {
        return cpu::conv::forward(l, x);
    }
    let weight = cpu::bf16::round(l.weight.val());
    let bias = l.bias.as_ref().map(|b| cpu::bf16::round(b.val()));
    cpu::bf16::round(cpu::conv::forward_with(l, at.input(x), weight, bias, true))
}

/// `Linear::forward` with the weights cast to the input's float type, or rounded to bf16
/// under emulated bf16 (as `conv`).
fn linear(l: &Linear, x: Tensor<2>, at: Rounding) -> Tensor<2> {
    if at.bf16 {
        let y = at.input(x).matmul(cpu::bf16::round(l.weight.val()));
        let y = match &l.bias {
            Some(b) => y + cpu::bf16::round(b.val()).unsqueeze(),
            None => y,
        };
        return cpu::bf16::round(y);
    }
    let dtype = x.dtype();
    if dtype == l.weight.val().dtype() {
        return l.forward(x);
    }
    let y = x.matmul(cpu::cast_to(l.weight.val(), dtype));
    match &l.bias {
        Some(b) => y + cpu::cast_to(b.val(), dtype).unsqueeze(),
        None => y,
    }
}
