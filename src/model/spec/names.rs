//! Layer types and arguments as PyTorch and Keras users write them (`Conv2d`, `MaxPooling2D`,
//! `Dense`, `BatchNorm2d`, `nn.ReLU()` as `{ type = "ReLU" }`; `filters`, `kernel_size`,
//! `units`), read as convlab's own before the layer list is parsed, as the config's other
//! names are: in types, case, `-` and `_` do not matter. A type that is none of them is left
//! for serde to refuse with the list of kinds.

use super::fixed;
use crate::choice::fold;
use crate::model::config::Activation;

/// Other names of each layer type (compared folded). convlab's `avg-pool` is both PyTorch's
/// `AdaptiveAvgPool2d(1)` (the whole plane; no kernel) and its `AvgPool2d(k)` (k x k windows).
const ALIASES: &[(&str, &[&str])] = &[
    ("conv", &["conv2d"]),
    ("pool", &["maxpool", "maxpool2d", "maxpooling2d"]),
    (
        "avg-pool",
        &[
            "adaptiveavgpool2d",
            "globalaveragepooling2d",
            "globalavgpool2d",
            "avgpool2d",
            "averagepooling2d",
        ],
    ),
    (
        "bn",
        &[
            "batchnorm",
            "batchnorm1d",
            "batchnorm2d",
            "batchnormalization",
        ],
    ),
    ("dropout2d", &["spatialdropout2d"]),
    ("linear", &["dense"]),
    ("residual", &["basicblock"]),
];

/// Other names of layer arguments, by layer type: (kind, PyTorch's or Keras' name, convlab's).
/// Keras' batch-norm `momentum` is not among them: it is 1 minus PyTorch's. (Arguments that
/// convlab has one value of, a pool's `dilation = 1`, are fixed.rs's.)
const ARGUMENTS: &[(&str, &str, &str)] = &[
    ("conv", "out_channels", "out"),
    ("conv", "filters", "out"),
    ("conv", "in_channels", "in"),
    ("conv", "kernel_size", "kernel"),
    ("conv", "strides", "stride"),
    ("conv", "use_bias", "bias"),
    ("conv", "dilation_rate", "dilation"),
    ("pool", "kernel_size", "kernel"),
    ("pool", "pool_size", "kernel"),
    ("pool", "strides", "stride"),
    ("avg-pool", "kernel_size", "kernel"),
    ("avg-pool", "pool_size", "kernel"),
    ("avg-pool", "strides", "stride"),
    ("linear", "out_features", "out"),
    ("linear", "units", "out"),
    ("linear", "in_features", "in"),
    ("linear", "input_dim", "in"),
    ("linear", "use_bias", "bias"),
    ("dropout", "rate", "p"),
    ("dropout2d", "rate", "p"),
    ("bn", "num_features", "in"),
    ("bn", "epsilon", "eps"),
];

/// Arguments PyTorch users write as pairs (`kernel_size=(3, 3)`): a square pair is one number.
const PAIRED: &[&str] = &["kernel", "stride", "padding", "dilation"];

/// The kinds serde knows (`LayerSpec`'s tags), compared folded too (`AvgPool`, `Dropout`).
const KINDS: &[&str] = &[
    "conv",
    "whiten",
    "pool",
    "avg-pool",
    "bn",
    "activation",
    "dropout",
    "dropout2d",
    "flatten",
    "linear",
    "scale",
    "residual",
];

/// Rewrite every `model.layers[i]` of a config table to convlab's names: its type, and its
/// arguments' names where convlab's own is not also given (then serde refuses the other);
/// an activation's name as the type (`{ type = "ReLU" }`) becomes
/// `{ type = "activation", kind = "ReLU" }`. Run on a file's table before its `--set`s, so
/// `--set model.layers[0].out=64` replaces a `filters = 32`, and again on the final table.
pub fn canonical_layer_names(config: &mut toml::Table) {
    first_layers_input_shape(config);
    for layer in layer_tables(config) {
        let Some(toml::Value::String(written)) = layer.get("type") else {
            continue;
        };
        let written = written.clone();
        let windows = matches!(fold(&written).as_str(), "avgpool2d" | "averagepooling2d");
        if windows
            && !["kernel", "kernel_size", "pool_size"]
                .iter()
                .any(|k| layer.contains_key(*k))
        {
            if fold(&written) == "avgpool2d" {
                // PyTorch requires kernel_size; without it this is not the whole plane.
                continue;
            }
            // Keras' AveragePooling2D: pool_size=(2, 2) by default.
            layer.insert("kernel".into(), toml::Value::Integer(2));
        }
        if let Some(kind) = layer_kind(&written) {
            layer.insert("type".into(), toml::Value::String(kind.into()));
            for (_, theirs, ours) in ARGUMENTS.iter().filter(|(k, ..)| *k == kind) {
                if !layer.contains_key(*ours)
                    && let Some(value) = layer.remove(*theirs)
                {
                    layer.insert((*ours).into(), value);
                }
            }
            // Keras' activation="linear" (its default) is no activation at all.
            if matches!(kind, "conv" | "linear")
                && layer
                    .get("activation")
                    .and_then(toml::Value::as_str)
                    .is_some_and(|a| fold(a) == "linear")
            {
                layer.remove("activation");
            }
            for key in PAIRED {
                if let Some(toml::Value::Array(pair)) = layer.get(*key)
                    && let [a, b] = pair.as_slice()
                    && a.as_integer().is_some()
                    && a == b
                {
                    let one = a.clone();
                    layer.insert((*key).into(), one);
                }
            }
        } else if written.parse::<Activation>().is_ok() && !layer.contains_key("kind") {
            layer.insert("type".into(), toml::Value::String("activation".into()));
            layer.insert("kind".into(), toml::Value::String(written));
        }
        // Keras 2's LeakyReLU(alpha=0.3) is PyTorch's negative_slope (ELU's alpha is alpha).
        let parsed = layer
            .get("kind")
            .and_then(toml::Value::as_str)
            .map(str::parse);
        if layer.get("type").and_then(toml::Value::as_str) == Some("activation")
            && parsed == Some(Ok(Activation::LeakyRelu))
            && !layer.contains_key("negative_slope")
            && let Some(slope) = layer.remove("alpha")
        {
            layer.insert("negative_slope".into(), slope);
        }
        // Keras' ReLU(max_value=6) is ReLU6, and another cap m is Hardtanh(0, m).
        if layer.get("type").and_then(toml::Value::as_str) == Some("activation")
            && parsed == Some(Ok(Activation::Relu))
            && let Some(cap) = layer.remove("max_value")
        {
            let six = cap.as_float().or(cap.as_integer().map(|i| i as f64)) == Some(6.0);
            let kind = if six { "relu6" } else { "hardtanh" };
            layer.insert("kind".into(), toml::Value::String(kind.into()));
            if !six {
                layer.insert("min_val".into(), toml::Value::Float(0.0));
                layer.insert("max_val".into(), cap);
            }
        }
        fixed::drop_fixed(layer);
    }
}

const SOFTMAX: &str = "the loss is CrossEntropyLoss, which takes the logits and applies \
    log-softmax itself; a softmax before it squashes the gradients and the run stalls (predict \
    and serve report softmax probabilities themselves)";

/// Why a layer as PyTorch or Keras users write it is not taken, for the first such layer
/// (`model.layers[7] (Softmax): ...`), on a table whose names are convlab's: a softmax at
/// the end (convlab's loss is CrossEntropyLoss on the logits), `AvgPool2d` without its
/// kernel_size, an argument convlab has one value of at another (`dilation = 2`, an
/// adaptive pool to more than 1x1: fixed.rs), other arguments on a flatten (serde reads a
/// kind without fields from a table with any keys), a pair that is not square (`kernel_size =
/// [3, 5]`), and Keras' `activation =` on a conv or dense layer, which convlab writes as a
/// layer of its own.
pub fn refused_layer(config: &toml::Table) -> Option<String> {
    let layers = config.get("model")?.get("layers")?.as_array()?;
    layers.iter().enumerate().find_map(|(i, layer)| {
        let written = layer.get("type")?.as_str()?;
        let pair = PAIRED
            .iter()
            .find(|k| layer.get(**k).is_some_and(|v| v.is_array()));
        if let (Some(key), "conv" | "pool" | "avg-pool") = (pair, written) {
            let pair = layer.get(*key).map(ToString::to_string).unwrap_or_default();
            return Some(format!(
                "model.layers[{i}] ({written}): {key} = {pair}: convlab's kernels, strides, \
                 paddings and dilations are square, one number for both sides"
            ));
        }
        if layer.get("input_shape").is_some() {
            let why = match i {
                0 => "input_shape is given twice, here and as model.input_shape: keep one",
                _ => "input_shape belongs on the first layer (Keras reads it there only)",
            };
            return Some(format!("model.layers[{i}] ({written}): {why}"));
        }
        if layer.get("shared_axes").is_some() {
            return Some(format!(
                "model.layers[{i}] ({written}): shared_axes is Keras' PReLU argument; convlab's \
                 PReLU is PyTorch's, with num_parameters = 1 (one slope, Keras' shared_axes = \
                 [1, 2, 3]) or the channel count (one per channel, shared_axes = [1, 2])"
            ));
        }
        if let Some(why) = layer.as_table().and_then(fixed::refused_fixed) {
            return Some(format!("model.layers[{i}] ({written}): {why}"));
        }
        let why = match (fold(written).as_str(), layer.get("activation")) {
            ("softmax", _) => format!("{SOFTMAX}: remove this layer"),
            ("input" | "inputlayer", _) => format!(
                "keras.Input is not a layer of convlab's list: write its shape on the first \
                 layer, input_shape = {} (or as model.input_shape), and remove this one",
                layer
                    .get("shape")
                    .map_or("[28, 28, 1]".into(), ToString::to_string)
            ),
            ("logsoftmax", _) => "the loss is CrossEntropyLoss, which takes the logits and \
                applies log-softmax itself (PyTorch's LogSoftmax + NLLLoss is the same loss): \
                remove this layer"
                .to_string(),
            ("avgpool2d", _) => "kernel_size is required, as in PyTorch: { type = \
                \"AvgPool2d\", kernel_size = 2 } averages 2x2 windows; { type = \"avg-pool\" } \
                averages the whole plane (AdaptiveAvgPool2d(1))"
                .to_string(),
            ("pool" | "avgpool", _)
                if layer
                    .get("padding")
                    .and_then(toml::Value::as_str)
                    .is_some_and(|p| fold(p) == "same") =>
            {
                "padding = \"same\" on a pool is Keras' (it pads the bottom and right more \
                 when the stride is not 1): give the pixels on every side, as PyTorch's \
                 padding=1"
                    .to_string()
            }
            ("flatten", _) if layer.as_table().is_some_and(|t| t.len() > 1) => "flatten takes \
                no arguments: it flattens all but the batch dimension (nn.Flatten()'s start_dim \
                = 1)"
                .to_string(),
            ("conv" | "linear", Some(toml::Value::String(act))) if fold(act) == "softmax" => {
                format!("activation = \"{act}\": {SOFTMAX}: leave it out")
            }
            ("conv" | "linear", Some(toml::Value::String(act))) => format!(
                "activation = \"{act}\" is Keras' shorthand; convlab writes the activation as \
                 a layer of its own: {{ type = \"{act}\" }} after this one"
            ),
            _ => return None,
        };
        Some(format!("model.layers[{i}] ({written}): {why}"))
    })
}

/// Keras' `input_shape` on the first layer becomes `model.input_shape` (checked against the
/// data by `check_input`), unless that is given too (then refused_layer names both).
fn first_layers_input_shape(config: &mut toml::Table) {
    let Some(toml::Value::Table(model)) = config.get_mut("model") else {
        return;
    };
    if model.contains_key("input_shape") {
        return;
    }
    let first = model
        .get_mut("layers")
        .and_then(|l| l.as_array_mut())
        .and_then(|l| l.first_mut())
        .and_then(toml::Value::as_table_mut);
    if let Some(shape) = first.and_then(|layer| layer.remove("input_shape")) {
        model.insert("input_shape".into(), shape);
    }
}

/// Each table of a config's `model.layers` (none when it has no layer list).
pub(super) fn layer_tables(config: &mut toml::Table) -> impl Iterator<Item = &mut toml::Table> {
    let layers = match config.get_mut("model") {
        Some(toml::Value::Table(model)) => model.get_mut("layers").and_then(|l| l.as_array_mut()),
        _ => None,
    };
    layers
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_table_mut)
}

/// convlab's name of a layer type written in any of its spellings.
fn layer_kind(written: &str) -> Option<&'static str> {
    let key = fold(written);
    KINDS.iter().copied().find(|k| fold(k) == key).or_else(|| {
        ALIASES
            .iter()
            .find(|(_, names)| names.contains(&key.as_str()))
            .map(|(kind, _)| *kind)
    })
}

#[cfg(test)]
#[path = "names_tests.rs"]
mod tests;
