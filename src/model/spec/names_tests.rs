//! The names of layers and arguments as PyTorch and Keras write them, read as convlab's.

use super::*;
use crate::model::spec::{ActivationLayer, GeluForm, LayerSpec};

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
    let table =
        |layers: &str| -> toml::Table { format!("[model]\nlayers = [{layers}]").parse().unwrap() };
    let why = refused_layer(&table(
        "{ type = \"Linear\", out_features = 10 }, { type = \"Log_Softmax\", dim = 1 }",
    ));
    let why = why.unwrap_or_default();
    assert!(
        why.starts_with("model.layers[1] (Log_Softmax): the loss is"),
        "{why}"
    );
    let why = refused_layer(&table("{ type = \"Input\", shape = [32, 32, 3] }"));
    let why = why.unwrap_or_default();
    assert!(
        why.contains("on the first layer, input_shape = [32, 32, 3] (or"),
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
    let want = "model.layers[0] (pool): kernel = [3, 2]: convlab's kernels, strides, \
                paddings and dilations are square, one number for both sides";
    assert_eq!(why.as_deref(), Some(want));
    // AvgPool2d without kernel_size stays as written (canonical_layer_names).
    let why = refused_layer(&table("{ type = \"AvgPool2d\" }")).unwrap_or_default();
    assert!(
        why.starts_with("model.layers[0] (AvgPool2d): kernel_size is required"),
        "{why}"
    );
    let why = refused_layer(&table("{ type = \"avg-pool\", output_size = 7 }"));
    assert!(why.unwrap_or_default().contains("output_size = 7: "));
    // serde reads a kind without fields from a table with any keys: refused here.
    let why = refused_layer(&table("{ type = \"flatten\", dims = 2 }"));
    assert!(
        why.unwrap_or_default()
            .contains("flatten takes no arguments")
    );
    assert_eq!(refused_layer(&table("{ type = \"flatten\" }")), None);
    let why = refused_layer(&table("{ type = \"pool\", padding = \"same\" }"));
    assert!(
        why.unwrap_or_default()
            .contains("give the pixels on every side")
    );
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
    // PyTorch's AvgPool2d without its required kernel_size: not taken for the whole plane.
    let out = rewritten("{ type = \"AvgPool2d\" }, { type = \"conv3d\" }");
    assert!(out.contains("type = \"AvgPool2d\""), "{out}");
    assert!(out.contains("type = \"conv3d\""), "{out}");
}

#[test]
fn average_pools_over_windows_and_the_plane() {
    let out = rewritten(
        "{ type = \"AvgPool2d\", kernel_size = [3, 3], stride = 2 }, \
         { type = \"AveragePooling2D\" }, \
         { type = \"AveragePooling2D\", pool_size = 3, strides = 1 }, \
         { type = \"AdaptiveAvgPool2d\", output_size = [1, 1] }, \
         { type = \"Flatten\", start_dim = 1 }",
    );
    let want = "[{ type = \"avg-pool\", stride = 2, kernel = 3 }, \
                { type = \"avg-pool\", kernel = 2 }, \
                { type = \"avg-pool\", kernel = 3, stride = 1 }, \
                { type = \"avg-pool\" }, { type = \"flatten\" }]";
    assert_eq!(out, want);
    // Other values are the user's to see refused.
    let out = rewritten("{ type = \"AdaptiveAvgPool2d\", output_size = 7 }");
    assert!(out.contains("output_size = 7"), "{out}");
}

/// The layers of a table after `canonical_layer_names`, parsed.
fn parsed(layers: &str) -> Vec<LayerSpec> {
    let mut table: toml::Table = format!("[model]\nlayers = [{layers}]").parse().unwrap();
    canonical_layer_names(&mut table);
    assert_eq!(refused_layer(&table), None);
    table["model"]["layers"].clone().try_into().unwrap()
}

// Each layer as PyTorch 2.15's print(model) shows it, positional arguments named:
//   nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(inplace=True),
//     nn.MaxPool2d(2), nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.LeakyReLU(),
//     nn.AvgPool2d(2), nn.Dropout2d(0.1), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
//     nn.Linear(64, 128), nn.ELU(), nn.PReLU(), nn.RReLU(), nn.GELU(), nn.Dropout(0.25),
//     nn.Linear(128, 10))
#[test]
fn a_net_as_print_model_shows_it_is_the_same_net_in_convlabs_names() {
    let printed = parsed(
        "{ type = \"Conv2d\", in_channels = 1, out_channels = 32, kernel_size = [3, 3], \
           stride = [1, 1], padding = [1, 1] }, \
         { type = \"BatchNorm2d\", num_features = 32, eps = 1e-05, momentum = 0.1, \
           affine = true, bias = true, track_running_stats = true }, \
         { type = \"ReLU\", inplace = true }, \
         { type = \"MaxPool2d\", kernel_size = 2, stride = 2, padding = 0, dilation = 1, \
           ceil_mode = false }, \
         { type = \"Conv2d\", in_channels = 32, out_channels = 64, kernel_size = [3, 3], \
           stride = [1, 1], padding = [1, 1], bias = false, dilation = [1, 1], groups = 1, \
           padding_mode = \"zeros\" }, \
         { type = \"LeakyReLU\", negative_slope = 0.01 }, \
         { type = \"AvgPool2d\", kernel_size = 2, stride = 2, padding = 0, ceil_mode = false, \
           count_include_pad = true }, \
         { type = \"Dropout2d\", p = 0.1, inplace = false }, \
         { type = \"AdaptiveAvgPool2d\", output_size = 1 }, \
         { type = \"Flatten\", start_dim = 1, end_dim = -1 }, \
         { type = \"Linear\", in_features = 64, out_features = 128, bias = true }, \
         { type = \"ELU\", alpha = 1.0 }, { type = \"PReLU\", num_parameters = 1 }, \
         { type = \"RReLU\", lower = 0.125, upper = 0.3333333333333333 }, \
         { type = \"GELU\", approximate = \"none\" }, \
         { type = \"Dropout\", p = 0.25, inplace = false }, \
         { type = \"Linear\", in_features = 128, out_features = 10, bias = true }",
    );
    let own = parsed(
        "{ type = \"conv\", in = 1, out = 32, padding = 1 }, { type = \"bn\", in = 32 }, \
         { type = \"relu\" }, { type = \"pool\", stride = 2 }, \
         { type = \"conv\", in = 32, out = 64, padding = 1, bias = false }, \
         { type = \"leaky-relu\", negative_slope = 0.01 }, \
         { type = \"avg-pool\", kernel = 2, stride = 2 }, \
         { type = \"dropout2d\", p = 0.1 }, { type = \"avg-pool\" }, { type = \"flatten\" }, \
         { type = \"linear\", in = 64, out = 128 }, { type = \"elu\", alpha = 1.0 }, \
         { type = \"prelu\", num_parameters = 1 }, \
         { type = \"rrelu\", lower = 0.125, upper = 0.3333333333333333 }, \
         { type = \"gelu\", approximate = \"none\" }, { type = \"dropout\", p = 0.25 }, \
         { type = \"linear\", in = 128, out = 10 }",
    );
    assert_eq!(printed, own);
    // Keras' names of a bias and of batch norm's eps.
    let keras = parsed(
        "{ type = \"Conv2D\", filters = 8, use_bias = false, dilation_rate = [1, 1] }, \
         { type = \"BatchNormalization\", epsilon = 0.001 }",
    );
    let own = parsed("{ type = \"conv\", out = 8, bias = false }, { type = \"bn\", eps = 0.001 }");
    assert_eq!(keras, own);
    // A conv's dilation (Keras' dilation_rate) and groups are its own.
    let dilated = parsed(
        "{ type = \"Conv2d\", out_channels = 8, dilation = [2, 2], groups = 4 }, \
         { type = \"Conv2D\", filters = 8, dilation_rate = 3 }",
    );
    let own = parsed(
        "{ type = \"conv\", out = 8, dilation = 2, groups = 4 }, \
         { type = \"conv\", out = 8, dilation = 3 }",
    );
    assert_eq!(dilated, own);
    assert_ne!(dilated[0], LayerSpec::conv(8, 3, 0));
}

#[test]
fn an_argument_at_another_value_than_convlabs_is_refused_with_what_convlab_does() {
    let cases = [
        (
            "{ type = \"MaxPool2d\", kernel_size = 3, dilation = 2 }",
            "model.layers[0] (pool): dilation = 2: convlab's pools are not dilated \
             (dilation = 1)",
        ),
        (
            "{ type = \"PReLU\", shared_axes = [1, 2] }",
            "model.layers[0] (activation): shared_axes is Keras' PReLU argument; convlab's PReLU \
             is PyTorch's, with num_parameters = 1 (one slope, Keras' shared_axes = [1, 2, 3]) \
             or the channel count (one per channel, shared_axes = [1, 2])",
        ),
        (
            "{ type = \"MaxPool2d\", kernel_size = 2, return_indices = true }",
            "model.layers[0] (pool): return_indices = true: convlab's pools return the maxima \
             only (return_indices = false)",
        ),
        (
            "{ type = \"BatchNorm2d\", affine = false }",
            "model.layers[0] (bn): affine = false: convlab's batch norm learns a scale and a \
             shift (affine = true; weight = false keeps the scale at 1)",
        ),
        (
            "{ type = \"Dropout\", p = 0.5, inplace = \"yes\" }",
            "model.layers[0] (dropout): inplace = \"yes\": inplace is true or false (the same \
             function either way: PyTorch's memory choice)",
        ),
    ];
    for (layer, want) in cases {
        let mut table: toml::Table = format!("[model]\nlayers = [{layer}]").parse().unwrap();
        canonical_layer_names(&mut table);
        assert_eq!(refused_layer(&table).as_deref(), Some(want), "{layer}");
    }
    for layer in [
        "{ type = \"Conv2d\", out_channels = 8, padding_mode = \"reflect\" }",
        "{ type = \"BatchNorm2d\", track_running_stats = false }",
        "{ type = \"Flatten\", end_dim = 2 }",
    ] {
        let mut table: toml::Table = format!("[model]\nlayers = [{layer}]").parse().unwrap();
        canonical_layer_names(&mut table);
        let why = refused_layer(&table).unwrap_or_default();
        assert!(
            why.contains(": convlab's") || why.contains(": flatten"),
            "{layer}: {why}"
        );
    }
}

/// Each activation's arguments as PyTorch's module takes them; an argument on another kind,
/// a slope count that is neither 1 nor the channels, or an upside-down range is refused.
#[test]
fn activation_arguments_are_the_layers_own() {
    let layers = parsed(
        "{ type = \"LeakyReLU\", negative_slope = 0.2 }, { type = \"LeakyReLU\", alpha = 0.3 }, \
         { type = \"ELU\", alpha = 0.5 }, { type = \"PReLU\", num_parameters = 4, init = 0.1 }, \
         { type = \"RReLU\", lower = 0.1, upper = 0.3 }, \
         { type = \"GELU\", approximate = \"tanh\" }",
    );
    let act = ActivationLayer::new;
    let want = [
        ActivationLayer {
            negative_slope: Some(0.2),
            ..act(Activation::LeakyRelu)
        },
        // Keras 2's LeakyReLU(alpha=0.3).
        ActivationLayer {
            negative_slope: Some(0.3),
            ..act(Activation::LeakyRelu)
        },
        ActivationLayer {
            alpha: Some(0.5),
            ..act(Activation::Elu)
        },
        ActivationLayer {
            num_parameters: Some(4),
            init: Some(0.1),
            ..act(Activation::Prelu)
        },
        ActivationLayer {
            lower: Some(0.1),
            upper: Some(0.3),
            ..act(Activation::Rrelu)
        },
        ActivationLayer {
            approximate: Some(GeluForm::Tanh),
            ..act(Activation::Gelu)
        },
    ];
    assert_eq!(layers, want.map(LayerSpec::Activation));
    let flat = crate::model::spec::Shape::Flat(4);
    let refused = [
        (
            ActivationLayer {
                negative_slope: Some(0.2),
                ..act(Activation::Relu)
            },
            "negative_slope is leaky-relu's argument, not relu's",
        ),
        (
            ActivationLayer {
                alpha: Some(f64::NAN),
                ..act(Activation::Elu)
            },
            "alpha = NaN must be a finite number",
        ),
        (
            ActivationLayer {
                approximate: Some(GeluForm::Tanh),
                ..act(Activation::Silu)
            },
            "approximate is gelu's argument, not silu's",
        ),
        (
            ActivationLayer {
                num_parameters: Some(8),
                ..act(Activation::Prelu)
            },
            "num_parameters = 8: PReLU learns 1 slope or one per channel, and this layer \
             receives 4",
        ),
        (
            ActivationLayer {
                lower: Some(0.5),
                ..act(Activation::Rrelu)
            },
            "lower = 0.5 is above upper = 0.3333333333333333",
        ),
    ];
    for (layer, why) in refused {
        let got = LayerSpec::Activation(layer.clone()).output_shape(flat);
        assert_eq!(got, Err(why.into()), "{layer:?}");
    }
}
