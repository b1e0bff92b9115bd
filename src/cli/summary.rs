//! `convlab summary CONFIG`: the net a config trains, layer by layer, before training it
//! (Keras' `model.summary()`, torchinfo's `summary`): each layer's output shape, trainable
//! parameters and multiply-adds, and the totals. `convlab summary MODEL.ckpt`: the same for
//! the net a checkpoint stores (a run folder: its best.ckpt).

use clap::Args;

use super::{ConfigArgs, thousands};
use crate::data::{self, DataConfig, Lookup, known_layout};
use crate::error::{Error, Result};
use crate::experiment::config::is_study;
use crate::experiment::overrides::{blame_set, warning_line};
use crate::experiment::study::Study;
use crate::model::checkpoint;
use crate::model::params::trainable_params;
use crate::model::presets::resolve_layers;
use crate::model::spec::{LayerSpec, Shape, check_input, check_net};
use crate::model::summary::summarize;
use crate::run::files;
use crate::text::counted;
use crate::train::config::RunConfig;
use crate::train::unused_keys::unused_keys;

#[derive(Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    config: ConfigArgs,
}

pub fn run(a: SummaryArgs) -> Result<()> {
    let path = &a.config.config;
    // A run folder stands for its best.ckpt, as for eval and predict.
    if path.extension().is_some_and(|e| e == "ckpt") || path.join(files::BEST).is_file() {
        return checkpoint_summary(&a);
    }
    if is_study(path)? {
        return study_summary(&a);
    }
    // The warnings train gives on the same config, such as layers a preset leaves unread.
    let (cfg, given) = a.config.load_and_keys()?;
    let (origin, sets) = (a.config.origin(), &a.config.set);
    for line in unused_keys(&cfg, &given) {
        eprintln!("{}", warning_line(&origin, &line, sets));
    }
    let lookup = a.config.data.lookup();
    let net =
        config_net(&cfg, &mut DataShapes::new(&lookup), &origin).map_err(|e| blame_set(e, sets))?;
    net.print(&format!("{}: {}", cfg.name, net.what));
    Ok(())
}

/// The net a run config trains: its layers, input shape, class count and dataset.
pub(super) struct ConfigNet {
    what: String,
    pub(super) layers: Vec<LayerSpec>,
    pub(super) input: Shape,
    pub(super) classes: usize,
    dataset: String,
}

impl ConfigNet {
    fn print(&self, what: &str) {
        print(what, &self.layers, self.input, self.classes, &self.dataset);
    }
}

/// A dataset's image shape as stored and its class count. A built-in dataset's are known
/// without reading it; a folder is read, once per distinct `[data]` table (a study's variants
/// mostly share one).
pub(super) struct DataShapes<'a> {
    lookup: &'a Lookup,
    read: Vec<(DataConfig, [usize; 3], usize)>,
}

impl<'a> DataShapes<'a> {
    pub(super) fn new(lookup: &'a Lookup) -> Self {
        Self {
            lookup,
            read: Vec::new(),
        }
    }

    fn of(&mut self, data: &DataConfig) -> Result<([usize; 3], usize)> {
        if let Some((shape, names)) = known_layout(data.dataset) {
            return Ok((shape, names.len()));
        }
        if let Some((_, shape, classes)) = self.read.iter().find(|(d, _, _)| d == data) {
            return Ok((*shape, *classes));
        }
        let splits = data::load(data, self.lookup)?;
        let (shape, classes) = (splits.train.shape, splits.train.classes.len());
        self.read.push((data.clone(), shape, classes));
        Ok((shape, classes))
    }
}

pub(super) fn config_net(
    cfg: &RunConfig,
    shapes: &mut DataShapes,
    origin: &str,
) -> Result<ConfigNet> {
    let (native, classes) = shapes.of(&cfg.data)?;
    let [c, h, w] = cfg.data.layout().shape(native);
    let input = Shape::Image { c, h, w };
    let layers = resolve_layers(&cfg.model, classes, origin)?;
    check_input(cfg.model.input_shape.as_deref(), input, origin)?;
    check_net(&layers, input, classes, origin, &cfg.model.preset)?;
    let what = match cfg.model.preset.as_str() {
        "" => "custom net".to_string(),
        p => format!("preset {p}"),
    };
    Ok(ConfigNet {
        what,
        layers,
        input,
        classes,
        dataset: cfg.data.label(),
    })
}

/// A study's nets: each distinct one once, with the variants that train it (an axis such as
/// the optimizer leaves one net; one such as the activation gives a net per value).
fn study_summary(a: &SummaryArgs) -> Result<()> {
    let path = &a.config.config;
    let study = Study::load(path, &a.config.set)?;
    let lookup = a.config.data.lookup();
    let mut shapes = DataShapes::new(&lookup);
    // Seed-major: the first trials are every variant once.
    let mut nets: Vec<(ConfigNet, Vec<&str>)> = Vec::new();
    for (trial, variant) in study.trials.iter().zip(&study.variants) {
        let origin = format!("{} (variant {})", path.display(), variant.name);
        let net = config_net(&trial.cfg, &mut shapes, &origin)?;
        match nets
            .iter_mut()
            .find(|(n, _)| n.layers == net.layers && n.input == net.input)
        {
            Some((_, names)) => names.push(&variant.name),
            None => nets.push((net, vec![&variant.name])),
        }
    }
    println!(
        "study {}: {}, {}",
        study.name,
        counted(study.variants.len(), "variant"),
        counted(nets.len(), "distinct net")
    );
    for (net, names) in &nets {
        println!();
        let which = if names.len() == study.variants.len() {
            "every variant".to_string()
        } else {
            names.join(", ")
        };
        net.print(&format!("{} for {which}", net.what));
    }
    Ok(())
}

/// The net stored in a checkpoint (a trained run's, or one imported from PyTorch).
fn checkpoint_summary(a: &SummaryArgs) -> Result<()> {
    let path = &crate::run::checkpoint_in(&a.config.config)?;
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
    let rows = summarize(layers, input);
    // As wide as the longest description ("conv 64 7x7 stride 2 pad 3, no bias"), so the
    // columns after it stay aligned.
    let width = rows
        .iter()
        .map(|r| r.description.len())
        .max()
        .unwrap_or(0)
        .max(28);
    println!(
        "{:>3}  {:<width$} {:>14} {:>12} {:>15}",
        "#", "layer", "output", "params", "mult-adds"
    );
    for (i, r) in rows.iter().enumerate() {
        println!(
            "{i:>3}  {:<width$} {:>14} {:>12} {:>15}",
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
