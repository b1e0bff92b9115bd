//! A net's summary, layer by layer (Keras' `model.summary()`, torchinfo's table): what each
//! layer is, the shape of one example after it, its trainable parameters and the
//! multiply-adds of its forward pass. Multiply-adds count the convolutions and linear layers
//! only, as PyTorch's `torch.utils.flop_counter.FlopCounterMode` does (its FLOPs are twice
//! these); bias additions, batch norm, activations and pooling are not counted.

use crate::model::params::layer_params;
use crate::model::spec::{LayerSpec, Shape, residual_projects};

#[derive(Debug, Clone, PartialEq)]
pub struct LayerRow {
    pub description: String,
    pub output: Shape,
    pub params: usize,
    pub mult_adds: u64,
}

/// The rows of a net that passed `check_net` for `input`.
pub fn summarize(layers: &[LayerSpec], input: Shape) -> Vec<LayerRow> {
    let mut shape = input;
    let mut rows = Vec::with_capacity(layers.len());
    for layer in layers {
        let output = layer.output_shape(shape).unwrap_or(shape);
        rows.push(LayerRow {
            description: describe(layer),
            output,
            params: layer_params(layer, shape),
            mult_adds: mult_adds(layer, shape, output),
        });
        shape = output;
    }
    rows
}

/// A layer in a few words, as a PyTorch user would name it.
pub fn describe(layer: &LayerSpec) -> String {
    let no_bias = |bias: &bool| if *bias { "" } else { ", no bias" };
    let window = |what: &str, kernel: &usize, stride: &Option<usize>, padding: &usize, ceil| {
        let stride = match stride {
            Some(s) if s != kernel => format!(" stride {s}"),
            _ => String::new(),
        };
        let pad = if *padding > 0 {
            format!(" pad {padding}")
        } else {
            String::new()
        };
        let ceil = if ceil { ", ceil" } else { "" };
        format!("{what} {kernel}{stride}{pad}{ceil}")
    };
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
            let stride = stride_words(*stride);
            let pad = if *padding == 0 {
                String::new()
            } else {
                format!(" pad {padding}")
            };
            let dilation = match dilation {
                1 => String::new(),
                d => format!(" dilation {d}"),
            };
            let groups = match groups {
                1 => String::new(),
                g => format!(" groups {g}"),
            };
            let bias = no_bias(bias);
            format!("conv {out} {kernel}x{kernel}{stride}{pad}{dilation}{groups}{bias}")
        }
        LayerSpec::Whiten { kernel, .. } => format!("whiten {kernel}x{kernel} (fixed)"),
        LayerSpec::Pool {
            kernel,
            stride,
            padding,
            ceil_mode,
        } => window("max-pool", kernel, stride, padding, *ceil_mode),
        LayerSpec::AvgPool {
            kernel: Some(kernel),
            stride,
            padding,
            ceil_mode,
            count_include_pad,
        } => {
            let avg = window("avg-pool", kernel, stride, padding, *ceil_mode);
            match (count_include_pad, padding) {
                (false, 1..) => format!("{avg}, pad not counted"),
                _ => avg,
            }
        }
        LayerSpec::AvgPool { kernel: None, .. } => "avg-pool to 1x1".into(),
        LayerSpec::Bn { weight: true, .. } => "batch norm".into(),
        LayerSpec::Bn { weight: false, .. } => "batch norm, shift only".into(),
        LayerSpec::Activation(act) => act.label(),
        LayerSpec::Dropout { p } => format!("dropout {p}"),
        LayerSpec::Dropout2d { p } => format!("dropout2d {p}"),
        LayerSpec::Flatten => "flatten".into(),
        LayerSpec::Linear { out, bias, .. } => format!("linear {out}{}", no_bias(bias)),
        LayerSpec::Scale { factor } => format!("scale x{}", (factor * 1e4).round() / 1e4),
        LayerSpec::Residual {
            out,
            stride,
            activation,
        } => {
            let stride = stride_words(*stride);
            format!("residual {out}{stride}, {activation}")
        }
    }
}

/// " stride N", or nothing for PyTorch's default of 1.
fn stride_words(stride: usize) -> String {
    match stride {
        1 => String::new(),
        s => format!(" stride {s}"),
    }
}

/// Multiply-adds of one example's forward pass through `layer`.
fn mult_adds(layer: &LayerSpec, input: Shape, output: Shape) -> u64 {
    let width = input.width();
    let out_pixels = match output {
        Shape::Image { h, w, .. } => h * w,
        Shape::Flat(_) => 1,
    };
    let n = match layer {
        LayerSpec::Conv {
            out,
            kernel,
            groups,
            ..
        } => out * out_pixels * (width / groups) * kernel * kernel,
        LayerSpec::Whiten { kernel, .. } => {
            let filters = 2 * width * kernel * kernel;
            filters * out_pixels * width * kernel * kernel
        }
        LayerSpec::Linear { out, .. } => out * width,
        LayerSpec::Residual { out, stride, .. } => {
            let projection = if residual_projects(width, *out, *stride) {
                out * out_pixels * width
            } else {
                0
            };
            out * out_pixels * (9 * width + 9 * out) + projection
        }
        _ => 0,
    };
    n as u64
}
