//! The checks of a whole net, before any tensor exists: each layer's shape against the one
//! before it and the classes at the end (errors that name the layer and the config), and the
//! warnings for nets that train badly without failing.

use super::{LayerSpec, Shape};
use crate::error::{Error, Result};

/// Check a whole net against its input shape and class count; returns the shape after each
/// layer. `origin` names the config in the error; a layer is named by its key in a layer
/// list (`model.layers[4]`), or by its number in `preset` when the net is one (the user's
/// config has no model.layers to look up).
pub fn check_net(
    layers: &[LayerSpec],
    input: Shape,
    classes: usize,
    origin: &str,
    preset: &str,
) -> Result<Vec<Shape>> {
    let mut shape = input;
    let mut shapes = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        let first_only = (i > 0 && matches!(layer, LayerSpec::Whiten { .. }))
            .then_some("whiten must be the first layer (its filters come from the input images)");
        let checked = match first_only {
            Some(problem) => Err(problem.to_string()),
            None => layer.output_shape(shape),
        };
        shape = checked.map_err(|problem| {
            let layer_name = match preset {
                "" => format!("model.layers[{i}]"),
                name => format!("preset {name}, layer {i}"),
            };
            Error::input(
                origin,
                format!("{layer_name} ({}), input {shape}: {problem}", layer.kind()),
            )
        })?;
        shapes.push(shape);
    }
    // A layer list's end is the user's to fix: its key leads the message, as in every
    // other config error (and names the --set that changed it).
    let whose = if preset.is_empty() {
        "model.layers: "
    } else {
        ""
    };
    match shape {
        Shape::Flat(n) if n == classes => Ok(shapes),
        other => Err(Error::input(
            origin,
            format!(
                "{whose}the net ends with {other} but the dataset has {classes} classes (the last layer should be linear with out = {classes})"
            ),
        )),
    }
}

/// Check the input a net is written for (`model.input_shape`, Keras' `input_shape` on the
/// first layer) against the data's images: Keras' order `[28, 28, 1]`, PyTorch's `[1, 28,
/// 28]`, `[28, 28]` for one channel, or the flat `[784]` (Keras' `Flatten(input_shape=...)`
/// and `Dense(input_shape=(784,))`) all match a 1x28x28 image.
pub fn check_input(declared: Option<&[usize]>, input: Shape, origin: &str) -> Result<()> {
    let (Some(declared), Shape::Image { c, h, w }) = (declared, input) else {
        return Ok(());
    };
    let matches = [
        vec![h, w, c],
        vec![c, h, w],
        vec![c * h * w],
        if c == 1 { vec![h, w] } else { vec![] },
    ];
    if matches.iter().any(|m| m.as_slice() == declared) {
        return Ok(());
    }
    Err(Error::input(
        origin,
        format!(
            "model.input_shape = {declared:?} (Keras' input_shape) but the data's images are \
             {c}x{h}x{w} (channels x height x width): Keras' order is [{h}, {w}, {c}]"
        ),
    ))
}

/// Warn about a net that trains badly without failing: an activation on the logits bounds
/// them (ReLU makes negative scores impossible), which the seed notebooks hit.
pub fn lint_net(layers: &[LayerSpec]) -> Vec<String> {
    let mut warnings = Vec::new();
    let last_linear = layers
        .iter()
        .rposition(|l| matches!(l, LayerSpec::Linear { .. }));
    let after = last_linear.and_then(|i| {
        let j = layers[i + 1..]
            .iter()
            .position(|l| matches!(l, LayerSpec::Activation(_)))?;
        Some((i, i + 1 + j))
    });
    if let Some((i, j)) = after {
        warnings.push(format!(
            "model.layers[{j}] (activation) follows the last linear layer, model.layers[{i}]: \
             logits should be left unbounded for cross-entropy"
        ));
    }
    warnings
}
