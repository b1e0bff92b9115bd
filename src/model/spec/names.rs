//! Layer types and arguments as PyTorch and Keras users write them (`Conv2d`, `MaxPooling2D`,
//! `Dense`, `BatchNorm2d`, `nn.ReLU()` as `{ type = "ReLU" }`; `filters`, `kernel_size`,
//! `units`), read as convlab's own before the layer list is parsed, as the config's other
//! names are: in types, case, `-` and `_` do not matter. A type that is none of them is left
//! for serde to refuse with the list of kinds.

use crate::choice::fold;
use crate::model::config::Activation;

/// Other names of each layer type (compared folded). AvgPool2d is not among avg-pool's:
/// PyTorch's averages k x k windows, convlab's `avg-pool` the whole plane (its
/// `AdaptiveAvgPool2d(1)`, Keras' `GlobalAveragePooling2D`).
const ALIASES: &[(&str, &[&str])] = &[
    ("conv", &["conv2d"]),
    ("pool", &["maxpool", "maxpool2d", "maxpooling2d"]),
    (
        "avg-pool",
        &[
            "adaptiveavgpool2d",
            "globalaveragepooling2d",
            "globalavgpool2d",
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
/// Keras' batch-norm `momentum` is not among them: it is 1 minus PyTorch's.
const ARGUMENTS: &[(&str, &str, &str)] = &[
    ("conv", "out_channels", "out"),
    ("conv", "filters", "out"),
    ("conv", "in_channels", "in"),
    ("conv", "kernel_size", "kernel"),
    ("conv", "strides", "stride"),
    ("pool", "kernel_size", "kernel"),
    ("pool", "pool_size", "kernel"),
    ("pool", "strides", "stride"),
    ("linear", "out_features", "out"),
    ("linear", "units", "out"),
    ("linear", "in_features", "in"),
    ("dropout", "rate", "p"),
    ("dropout2d", "rate", "p"),
    ("bn", "num_features", "in"),
];

/// Arguments PyTorch users write as pairs (`kernel_size=(3, 3)`): a square pair is one number.
const PAIRED: &[&str] = &["kernel", "stride", "padding"];

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
    for layer in layer_tables(config) {
        let Some(toml::Value::String(written)) = layer.get("type") else {
            continue;
        };
        let written = written.clone();
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
            // nn.ReLU(inplace=True): a memory choice of PyTorch's, the same function.
            if matches!(layer.get("inplace"), Some(toml::Value::Boolean(_))) {
                layer.remove("inplace");
            }
        }
    }
}

const SOFTMAX: &str = "the loss is CrossEntropyLoss, which takes the logits and applies \
    log-softmax itself; a softmax before it squashes the gradients and the run stalls (predict \
    and serve report softmax probabilities themselves)";

/// Why a layer as PyTorch or Keras users write it is not taken, for the first such layer
/// (`model.layers[7] (Softmax): ...`), on a table whose names are convlab's: a softmax at
/// the end (convlab's loss is CrossEntropyLoss on the logits), a windowed average pool
/// (what to use instead), a pair that is not square (`kernel_size = [3, 5]`), and Keras'
/// `activation =` on a conv or dense layer, which convlab writes as a layer of its own.
pub fn refused_layer(config: &toml::Table) -> Option<String> {
    let layers = config.get("model")?.get("layers")?.as_array()?;
    layers.iter().enumerate().find_map(|(i, layer)| {
        let written = layer.get("type")?.as_str()?;
        let pair = PAIRED
            .iter()
            .find(|k| layer.get(**k).is_some_and(|v| v.is_array()));
        if let (Some(key), "conv" | "pool") = (pair, written) {
            let pair = layer.get(*key).map(ToString::to_string).unwrap_or_default();
            return Some(format!(
                "model.layers[{i}] ({written}): {key} = {pair}: convlab's kernels, strides and \
                 paddings are square, one number for both sides"
            ));
        }
        let why = match (fold(written).as_str(), layer.get("activation")) {
            ("softmax", _) => format!("{SOFTMAX}: remove this layer"),
            ("logsoftmax", _) => "the loss is CrossEntropyLoss, which takes the logits and \
                applies log-softmax itself (PyTorch's LogSoftmax + NLLLoss is the same loss): \
                remove this layer"
                .to_string(),
            ("avgpool2d" | "averagepooling2d", _) => "an average over k x k \
                windows is not a convlab layer: use { type = \"pool\", kernel = K } (max over \
                the window) or { type = \"avg-pool\" } (the average of the whole plane, \
                AdaptiveAvgPool2d(1))"
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
mod tests {
    use super::*;

    fn rewritten(layers: &str) -> String {
        let mut table: toml::Table = format!("[model]\nlayers = [{layers}]").parse().unwrap();
        canonical_layer_names(&mut table);
        table["model"]["layers"].to_string()
    }

    #[test]
    fn pytorch_and_keras_layer_names_become_convlabs() {
        let cases = [
            ("Conv2d", "conv"),
            ("Conv2D", "conv"),
            ("MaxPool2d", "pool"),
            ("MaxPooling2D", "pool"),
            ("AdaptiveAvgPool2d", "avg-pool"),
            ("GlobalAveragePooling2D", "avg-pool"),
            ("BatchNorm2d", "bn"),
            ("BatchNormalization", "bn"),
            ("Dense", "linear"),
            ("Linear", "linear"),
            ("Flatten", "flatten"),
            ("Dropout", "dropout"),
            ("SpatialDropout2D", "dropout2d"),
            ("avg_pool", "avg-pool"),
        ];
        for (written, kind) in cases {
            let out = rewritten(&format!("{{ type = \"{written}\" }}"));
            assert!(
                out.contains(&format!("type = \"{kind}\"")),
                "{written}: {out}"
            );
        }
    }

    #[test]
    fn arguments_take_convlabs_names_unless_those_are_given_too() {
        let out = rewritten(
            "{ type = \"Conv2D\", filters = 8, kernel_size = 5, strides = 2 }, \
             { type = \"Dense\", units = 10, in_features = 4 }",
        );
        for arg in ["out = 8", "kernel = 5", "stride = 2", "out = 10", "in = 4"] {
            assert!(out.contains(arg), "{arg}: {out}");
        }
        assert!(!out.contains("filters") && !out.contains("units"), "{out}");
        // Both names: left for serde to refuse as unknown, not silently one of them.
        let out = rewritten("{ type = \"conv\", out = 8, filters = 16 }");
        assert!(
            out.contains("filters = 16") && out.contains("out = 8"),
            "{out}"
        );
    }

    #[test]
    fn square_pairs_are_one_number_and_inplace_and_linear_are_dropped() {
        let out = rewritten(
            "{ type = \"Conv2d\", out_channels = 8, kernel_size = [5, 5], stride = [2, 2], \
             padding = [1, 1] }, { type = \"MaxPool2d\", kernel_size = [3, 2] }, \
             { type = \"ReLU\", inplace = true }, { type = \"BatchNorm1d\", num_features = 4 }",
        );
        for arg in ["kernel = 5", "stride = 2", "padding = 1", "in = 4"] {
            assert!(out.contains(arg), "{arg}: {out}");
        }
        // Not square: left for refused_layer to name.
        assert!(out.contains("kernel = [3, 2]"), "{out}");
        assert!(!out.contains("inplace"), "{out}");
        // Keras' activation = "linear" is the identity: dropped; another one stays.
        let out = rewritten(
            "{ type = \"Dense\", units = 10, activation = \"linear\" }, \
             { type = \"Dense\", units = 10, activation = \"relu\" }",
        );
        assert_eq!(out.matches("activation").count(), 1, "{out}");
    }

    #[test]
    fn layers_convlab_does_not_take_are_refused_with_the_reason() {
        let table = |layers: &str| -> toml::Table {
            format!("[model]\nlayers = [{layers}]").parse().unwrap()
        };
        let why = refused_layer(&table(
            "{ type = \"Linear\", out_features = 10 }, { type = \"Log_Softmax\", dim = 1 }",
        ));
        let why = why.unwrap_or_default();
        assert!(
            why.starts_with("model.layers[1] (Log_Softmax): the loss is"),
            "{why}"
        );
        let why = refused_layer(&table("{ type = \"Softmax\" }")).unwrap_or_default();
        assert!(why.contains("the run stalls"), "{why}");
        assert_eq!(refused_layer(&table("{ type = \"ReLU\" }")), None);
        // Keras' activation argument (names already convlab's, as typed() runs it).
        let why = refused_layer(&table(
            "{ type = \"conv\", out = 8, activation = \"relu\" }",
        ));
        let want = "model.layers[0] (conv): activation = \"relu\" is Keras' shorthand; \
                    convlab writes the activation as a layer of its own: { type = \"relu\" } \
                    after this one";
        assert_eq!(why.as_deref(), Some(want));
        let why = refused_layer(&table(
            "{ type = \"linear\", out = 10, activation = \"softmax\" }",
        ));
        assert!(
            why.unwrap_or_default()
                .ends_with("themselves): leave it out")
        );
        let why = refused_layer(&table("{ type = \"pool\", kernel = [3, 2] }"));
        let want = "model.layers[0] (pool): kernel = [3, 2]: convlab's kernels, strides and \
                    paddings are square, one number for both sides";
        assert_eq!(why.as_deref(), Some(want));
        let why = refused_layer(&table("{ type = \"AvgPool2d\", kernel_size = 2 }"));
        assert!(why.unwrap_or_default().contains("{ type = \"avg-pool\" }"));
        // convlab's own avg-pool (the whole plane) folds to "avgpool": it stays.
        assert_eq!(refused_layer(&table("{ type = \"avg-pool\" }")), None);
        // A residual block's activation is its own argument.
        let block = "{ type = \"residual\", out = 8, activation = \"elu\" }";
        assert_eq!(refused_layer(&table(block)), None);
    }

    #[test]
    fn an_activation_name_is_an_activation_layer_and_unknown_names_stay() {
        let out = rewritten("{ type = \"LeakyReLU\" }");
        assert!(out.contains("type = \"activation\""), "{out}");
        assert!(out.contains("kind = \"LeakyReLU\""), "{out}");
        // PyTorch's AvgPool2d averages windows, not the plane: not taken for avg-pool.
        let out = rewritten("{ type = \"AvgPool2d\" }, { type = \"conv3d\" }");
        assert!(out.contains("type = \"AvgPool2d\""), "{out}");
        assert!(out.contains("type = \"conv3d\""), "{out}");
    }
}
