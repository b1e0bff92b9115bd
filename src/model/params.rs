//! How many parameters a checked net has, without building it.

use crate::model::config::Activation;
use crate::model::spec::{LayerSpec, Shape, residual_projects};

/// Trainable parameters, counted as PyTorch's `sum(p.numel() for p in model.parameters())`:
/// batch norm's running statistics are buffers, not parameters. `layers` must have passed
/// `check_net` for `input`.
pub fn trainable_params(layers: &[LayerSpec], input: Shape) -> usize {
    let mut shape = input;
    let mut total = 0;
    for layer in layers {
        total += layer_params(layer, shape);
        shape = layer.output_shape(shape).unwrap_or(shape);
    }
    total
}

/// One layer's trainable parameters for an input of `shape`.
pub fn layer_params(layer: &LayerSpec, shape: Shape) -> usize {
    let width = shape.width();
    let slopes = |kind: &Activation| usize::from(*kind == Activation::Prelu);
    match layer {
        LayerSpec::Conv {
            out,
            kernel,
            bias,
            groups,
            ..
        } => out * (width / groups) * kernel * kernel + if *bias { *out } else { 0 },
        LayerSpec::Whiten { kernel, .. } => {
            let out = 2 * width * kernel * kernel;
            out * width * kernel * kernel + out
        }
        LayerSpec::Bn { .. } => 2 * width,
        LayerSpec::Activation(act) => act.slopes(),
        LayerSpec::Linear { out, bias, .. } => out * width + if *bias { *out } else { 0 },
        LayerSpec::Residual {
            out,
            stride,
            activation,
        } => {
            let projection = if residual_projects(width, *out, *stride) {
                width * out + 2 * out
            } else {
                0
            };
            9 * width * out + 9 * out * out + 4 * out + projection + 2 * slopes(activation)
        }
        LayerSpec::Pool { .. }
        | LayerSpec::AvgPool { .. }
        | LayerSpec::Dropout { .. }
        | LayerSpec::Dropout2d { .. }
        | LayerSpec::Flatten
        | LayerSpec::Scale { .. } => 0,
    }
}
