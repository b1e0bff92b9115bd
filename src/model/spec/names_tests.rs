//! The names of layers and arguments as PyTorch and Keras write them, read as convlab's.

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
    // AvgPool2d without kernel_size stays as written (canonical_layer_names).
    let why = refused_layer(&table("{ type = \"AvgPool2d\" }")).unwrap_or_default();
    assert!(
        why.starts_with("model.layers[0] (AvgPool2d): kernel_size is required"),
        "{why}"
    );
    let why = refused_layer(&table("{ type = \"avg-pool\", output_size = 7 }"));
    assert!(why.unwrap_or_default().contains("output_size = 7: "));
    // serde reads a kind without fields from a table with any keys: refused here.
    let why = refused_layer(&table("{ type = \"flatten\", start_dim = 2 }"));
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
