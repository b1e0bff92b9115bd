//! Arguments that PyTorch's `print(model)` shows on its layers (`dilation=1`, `affine=True`,
//! `inplace=False`), and a few of Keras', where convlab has one behaviour. A net copied from
//! that printout trains as written: an argument at convlab's value is dropped, as the same
//! function; at another value it is refused with what convlab does, where serde would only
//! say "unknown field". (A conv's dilation and groups, a pool's ceil_mode and an average's
//! count_include_pad are the layers' own arguments, spec/mod.rs, and so are the
//! activations' arguments, spec/activation.rs.)

use crate::choice::fold;

/// The value an argument must have to be convlab's behaviour.
enum Value {
    /// A whole number, or a square pair of it (`dilation = [1, 1]`).
    Int(i64),
    Flag(bool),
    /// A word, compared folded (`"zeros"`).
    Word(&'static str),
    /// Any true or false: PyTorch's `inplace`, a memory choice with the same function.
    AnyFlag,
}

/// (layer, argument, convlab's value, what convlab does), the layer by convlab's kind.
const FIXED: &[(&str, &str, Value, &str)] = &[
    (
        "conv",
        "padding_mode",
        Value::Word("zeros"),
        "convlab's convolutions pad with zeros (padding_mode = \"zeros\")",
    ),
    ("pool", "dilation", Value::Int(1), NOT_DILATED),
    (
        "pool",
        "return_indices",
        Value::Flag(false),
        "convlab's pools return the maxima only (return_indices = false)",
    ),
    (
        "avg-pool",
        "output_size",
        Value::Int(1),
        "convlab's adaptive pool averages the whole plane, output_size = 1 (for k x k windows \
         write kernel_size = k)",
    ),
    (
        "bn",
        "affine",
        Value::Flag(true),
        "convlab's batch norm learns a scale and a shift (affine = true; weight = false keeps \
         the scale at 1)",
    ),
    (
        "bn",
        "bias",
        Value::Flag(true),
        "convlab's batch norm learns a shift (bias = true)",
    ),
    (
        "bn",
        "track_running_stats",
        Value::Flag(true),
        "convlab's batch norm keeps running statistics and evaluates with them \
         (track_running_stats = true)",
    ),
    ("flatten", "start_dim", Value::Int(1), ALL_BUT_BATCH),
    ("flatten", "end_dim", Value::Int(-1), ALL_BUT_BATCH),
    ("dropout", "inplace", Value::AnyFlag, INPLACE),
    ("dropout2d", "inplace", Value::AnyFlag, INPLACE),
    ("activation", "inplace", Value::AnyFlag, INPLACE),
];

const NOT_DILATED: &str = "convlab's pools are not dilated (dilation = 1)";
const INPLACE: &str = "inplace is true or false (the same function either way: PyTorch's \
                       memory choice)";
const ALL_BUT_BATCH: &str =
    "flatten flattens all but the batch dimension (start_dim = 1, end_dim = -1)";

impl Value {
    fn holds(&self, written: &toml::Value) -> bool {
        match *self {
            Value::Int(n) => match written {
                toml::Value::Array(pair) => {
                    pair.len() == 2 && pair.iter().all(|v| v.as_integer() == Some(n))
                }
                v => v.as_integer() == Some(n),
            },
            Value::Flag(b) => written.as_bool() == Some(b),
            Value::Word(w) => written.as_str().is_some_and(|s| fold(s) == fold(w)),
            Value::AnyFlag => written.is_bool(),
        }
    }
}

/// The names a layer table's arguments are looked up under: its type (`activation` for
/// every activation layer).
fn subjects(layer: &toml::Table) -> Vec<&'static str> {
    match layer.get("type").and_then(toml::Value::as_str) {
        Some(written) => FIXED
            .iter()
            .map(|(layer, ..)| *layer)
            .find(|layer| *layer == written)
            .into_iter()
            .collect(),
        None => Vec::new(),
    }
}

/// Drop the arguments of a layer (names already convlab's) that are written at the value that
/// is convlab's only behaviour.
pub(super) fn drop_fixed(layer: &mut toml::Table) {
    let subjects = subjects(layer);
    layer.retain(|key, written| {
        !FIXED
            .iter()
            .any(|(on, arg, value, _)| subjects.contains(on) && key == *arg && value.holds(written))
    });
}

/// Why a layer's argument at another value than convlab's only one is refused (`ceil_mode =
/// true: convlab's pools round the output size down (ceil_mode = false)`), for its first such
/// argument.
pub(super) fn refused_fixed(layer: &toml::Table) -> Option<String> {
    let subjects = subjects(layer);
    layer.iter().find_map(|(key, written)| {
        FIXED
            .iter()
            .find(|(on, arg, value, _)| {
                subjects.contains(on) && key == *arg && !value.holds(written)
            })
            .map(|(.., does)| format!("{key} = {written}: {does}"))
    })
}
