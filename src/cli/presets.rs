//! `convlab presets`: the preset table, with the seed notebook each one reproduces and its
//! parameter count as PyTorch reports it.

use super::thousands;
use crate::error::Result;
use crate::model::ModelConfig;
use crate::model::params::trainable_params;
use crate::model::presets::{PRESETS, resolve_layers};
use crate::model::spec::Shape;

pub fn run() -> Result<()> {
    println!(
        "{:<14} {:<22} {:>11}  net",
        "preset", "reproduces", "parameters"
    );
    for p in PRESETS {
        let model = ModelConfig {
            preset: p.name.into(),
            ..Default::default()
        };
        let layers = resolve_layers(&model, 10, "presets")?;
        let [c, h, w] = p.input;
        let params = trainable_params(&layers, Shape::Image { c, h, w });
        let seed = if p.seed.is_empty() { "-" } else { p.seed };
        println!(
            "{:<14} {:<22} {:>11}  {}",
            p.name,
            seed,
            thousands(params as u64),
            p.about
        );
    }
    println!(
        "\nparameters: trainable, for {{1x28x28 | 3x32x32}} input and 10 classes, as PyTorch's sum(p.numel() for p in model.parameters()) counts them (batch norm running statistics excluded)"
    );
    Ok(())
}
