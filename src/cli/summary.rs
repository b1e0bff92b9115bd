//! `convlab summary CONFIG`: the net a config trains, layer by layer, before training it
//! (Keras' `model.summary()`, torchinfo's `summary`): each layer's output shape, trainable
//! parameters and multiply-adds, and the totals. `convlab summary MODEL.ckpt`: the same for
//! the net a checkpoint stores.

use clap::Args;

use super::{ConfigArgs, thousands};
use crate::data::{self, known_layout};
use crate::error::{Error, Result};
use crate::model::checkpoint;
use crate::model::params::trainable_params;
use crate::model::presets::resolve_layers;
use crate::model::spec::{LayerSpec, Shape, check_net};
use crate::model::summary::summarize;

#[derive(Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn run(a: SummaryArgs) -> Result<()> {
    let path = &a.config.config;
    if path.extension().is_some_and(|e| e == "ckpt") {
        return checkpoint_summary(&a);
    }
    let cfg = a.config.load()?;
    let origin = a.config.origin();
    // A built-in dataset's layout is known without reading it; a folder is read.
    let (native, classes) = match known_layout(cfg.data.dataset) {
        Some((shape, names)) => (shape, names.len()),
        None => {
            let splits = data::load(&cfg.data, &a.config.data.lookup())?;
            (splits.train.shape, splits.train.classes.len())
        }
    };
    let [c, h, w] = cfg.data.layout().shape(native);
    let input = Shape::Image { c, h, w };
    let layers = resolve_layers(&cfg.model, classes, &origin)?;
    check_net(&layers, input, classes, &origin)?;
    let net = match cfg.model.preset.as_str() {
        "" => "custom net".to_string(),
        p => format!("preset {p}"),
    };
    let what = format!("{}: {net}", cfg.name);
    print(&what, &layers, input, classes, &cfg.data.label());
    Ok(())
}

/// The net stored in a checkpoint (a trained run's, or one imported from PyTorch).
fn checkpoint_summary(a: &SummaryArgs) -> Result<()> {
    let path = &a.config.config;
    if !a.config.set.is_empty() {
        return Err(Error::input(
            path.display(),
            "--set changes a config; a checkpoint's net is what it stores",
        ));
    }
    let (meta, _) = checkpoint::read_meta(path)?;
    let what = format!("{}: trained net (epoch {})", path.display(), meta.epoch);
    let classes = meta.classes.len();
    print(
        &what,
        &meta.layers,
        meta.input_shape(),
        classes,
        &meta.dataset,
    );
    Ok(())
}

fn print(what: &str, layers: &[LayerSpec], input: Shape, classes: usize, dataset: &str) {
    println!("{what}, input {input}, {classes} classes ({dataset})");
    println!(
        "{:>3}  {:<28} {:>14} {:>12} {:>15}",
        "#", "layer", "output", "params", "mult-adds"
    );
    let rows = summarize(layers, input);
    for (i, r) in rows.iter().enumerate() {
        println!(
            "{i:>3}  {:<28} {:>14} {:>12} {:>15}",
            r.description,
            r.output.to_string(),
            thousands(r.params as u64),
            thousands(r.mult_adds)
        );
    }
    let params = trainable_params(layers, input);
    let mult_adds: u64 = rows.iter().map(|r| r.mult_adds).sum();
    println!(
        "parameters {} ({:.2} MB as f32); forward multiply-adds per image {} ({:.2} M)",
        thousands(params as u64),
        params as f64 * 4.0 / 1e6,
        thousands(mult_adds),
        mult_adds as f64 / 1e6
    );
    println!(
        "parameters as PyTorch's sum(p.numel() for p in model.parameters()); multiply-adds of convolutions and linear layers, half of FlopCounterMode's FLOPs"
    );
}
