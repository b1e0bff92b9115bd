//! A conv's `padding` as PyTorch and Keras users also write it: `"valid"` (none) and
//! `"same"` (the output as large as the input: kernel / 2 on every side, dilation times that
//! for a dilated kernel). As PyTorch's
//! `padding="same"`, it is taken for stride 1 only, and with an odd kernel, because convlab
//! pads every side alike (Keras' strided "same" pads the bottom and right only, and PyTorch
//! refuses it: "padding='same' is not supported for strided convolutions"). A pool's
//! `"valid"` is read too; its `"same"` (Keras' only) is refused in `names::refused_layer`.

use serde::de::{self, Deserializer, Visitor};

use crate::choice::fold;

/// Rewrite each conv layer's `padding = "same"` or `"valid"` as its number of pixels, read
/// from the layer's kernel and stride as they finally are, so a `--set` or a study axis on
/// the kernel moves "same" along. Run on the final table, after the layer names are
/// convlab's; a word it cannot rewrite is left for `pixels` to refuse.
pub fn padding_words(config: &mut toml::Table) {
    for layer in super::names::layer_tables(config) {
        let (Some(kind @ ("conv" | "pool" | "avg-pool")), Some(word)) = (
            layer.get("type").and_then(toml::Value::as_str),
            layer.get("padding").and_then(toml::Value::as_str),
        ) else {
            continue;
        };
        let number = |key, default| match layer.get(key) {
            None => Some(default),
            Some(v) => v.as_integer(),
        };
        let pixels = match fold(word).as_str() {
            "valid" => Some(0),
            "same" if kind != "conv" => None,
            // A dilated kernel spans dilation * (kernel - 1) + 1 pixels: half of the rest
            // on each side.
            "same" => match (
                number("kernel", 3),
                number("stride", 1),
                number("dilation", 1),
            ) {
                (Some(kernel), Some(1), Some(d)) if kernel % 2 == 1 => Some(d * (kernel - 1) / 2),
                _ => None,
            },
            _ => None,
        };
        if let Some(pixels) = pixels {
            layer.insert("padding".into(), toml::Value::Integer(pixels));
        }
    }
}

/// serde for `padding`: a number of pixels; a word here is one `padding_words` could not
/// take, and the message says why.
pub fn pixels<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    struct Pixels;
    impl Visitor<'_> for Pixels {
        type Value = usize;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("padding: a number of pixels, \"same\" or \"valid\"")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<usize, E> {
            usize::try_from(v).map_err(|_| E::custom(format!("padding: {v} is too large")))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<usize, E> {
            usize::try_from(v).map_err(|_| E::custom(format!("padding: {v} is negative")))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<usize, E> {
            Err(E::custom(if fold(v) == "same" {
                "padding = \"same\" is taken with stride 1 and an odd kernel only (as \
                 PyTorch's; convlab pads every side alike): give the pixels, e.g. padding = 1"
                    .to_string()
            } else {
                format!("padding: \"{v}\" is not a number of pixels, \"same\" or \"valid\"")
            }))
        }
    }
    d.deserialize_any(Pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(layers: &str) -> String {
        let mut table: toml::Table = format!("[model]\nlayers = [{layers}]").parse().unwrap();
        padding_words(&mut table);
        table["model"]["layers"].to_string()
    }

    #[test]
    fn same_is_half_the_kernel_and_valid_is_none() {
        let out = rewritten(
            "{ type = \"conv\", out = 8, padding = \"same\" }, \
             { type = \"conv\", out = 8, kernel = 5, padding = \"Same\" }, \
             { type = \"conv\", out = 8, kernel = 7, stride = 1, padding = \"same\" }, \
             { type = \"conv\", out = 8, kernel = 3, stride = 2, padding = \"valid\" }, \
             { type = \"conv\", out = 8, kernel = 3, dilation = 2, padding = \"same\" }",
        );
        // The dilated 3x3 spans 5 pixels: 2 on each side (PyTorch's padding='same' too).
        assert_eq!(out.matches("padding = ").count(), 5, "{out}");
        for (i, want) in [1, 2, 3, 0, 2].iter().enumerate() {
            let layer = out.split('}').nth(i).unwrap_or_default();
            assert!(
                layer.contains(&format!("padding = {want}")),
                "layer {i}: {out}"
            );
        }
    }

    #[test]
    fn same_is_left_alone_where_it_would_pad_one_side_more() {
        // Strided, or an even kernel: kept as written, for `pixels` to refuse.
        let out = rewritten(
            "{ type = \"conv\", out = 8, stride = 2, padding = \"same\" }, \
             { type = \"conv\", out = 8, kernel = 4, padding = \"same\" }",
        );
        assert_eq!(out.matches("padding = \"same\"").count(), 2, "{out}");
    }

    #[test]
    fn a_pools_valid_is_none_and_its_same_is_left_for_refused_layer() {
        let out = rewritten(
            "{ type = \"pool\", padding = \"valid\" }, \
             { type = \"avg-pool\", kernel = 3, padding = \"Valid\" }, \
             { type = \"pool\", kernel = 3, stride = 1, padding = \"same\" }",
        );
        assert_eq!(out.matches("padding = 0").count(), 2, "{out}");
        assert!(out.contains("padding = \"same\""), "{out}");
    }
}
