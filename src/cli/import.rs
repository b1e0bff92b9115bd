//! `convlab import MODEL.pth --preset NAME | --config RUN.toml | --like CKPT`: a PyTorch
//! state_dict as a convlab checkpoint, for eval, predict, serve and finetune.

use std::path::PathBuf;

use clap::{ArgGroup, Args};

use crate::data::DatasetName;
use crate::error::Result;
use crate::experiment::interchange::{ImportOptions, NetSource, import};

#[derive(Args)]
#[command(group(ArgGroup::new("net").required(true).args(["preset", "config", "like"])))]
pub struct ImportArgs {
    /// A state_dict saved by torch.save (zip or legacy format; CUDA tensors load on the CPU),
    /// or a whole model saved with torch.save(model) when its tensors can be found.
    pth: PathBuf,
    /// The net is this preset (`convlab presets`).
    #[arg(long)]
    preset: Option<String>,
    /// The net is this run config's [model] (a preset with knobs, or a layer list).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The net, classes, input and normalization are this convlab checkpoint's (or run
    /// folder's best.ckpt): a model exported with `convlab export` and trained further in
    /// PyTorch comes back whole, an image folder's classes included.
    #[arg(long, conflicts_with = "dataset")]
    like: Option<PathBuf>,
    /// The dataset whose classes and input shape the model has (default: the config's, or
    /// MNIST for a 1-channel preset and CIFAR-10 for a 3-channel one).
    #[arg(long)]
    dataset: Option<DatasetName>,
    /// The per-channel mean of transforms.Normalize, if the notebook used one (e.g. 0.1307;
    /// with --like, default: that checkpoint's).
    #[arg(long, value_delimiter = ',')]
    mean: Vec<f32>,
    /// The per-channel std of transforms.Normalize (e.g. 0.3081).
    #[arg(long, value_delimiter = ',')]
    std: Vec<f32>,
    /// The entry holding the state_dict when the file saved more, e.g. model_state_dict or
    /// state_dict (nested keys with dots).
    #[arg(long)]
    key: Option<String>,
    /// The checkpoint to write (default: MODEL.ckpt beside MODEL.pth).
    #[arg(long, short = 'o')]
    out: Option<PathBuf>,
    /// Replace an existing checkpoint.
    #[arg(long)]
    force: bool,
}

pub fn run(a: ImportArgs) -> Result<()> {
    let net = match (a.preset, a.config, a.like) {
        (Some(p), _, _) => NetSource::Preset(p),
        (None, Some(c), _) => NetSource::Config(c),
        (None, None, Some(l)) => NetSource::Like(l),
        (None, None, None) => unreachable!("clap requires --preset, --config or --like"),
    };
    let out = a.out.unwrap_or_else(|| a.pth.with_extension("ckpt"));
    let meta = import(&ImportOptions {
        pth: a.pth.clone(),
        key: a.key,
        net,
        dataset: a.dataset,
        mean: a.mean,
        std: a.std,
        out: out.clone(),
        force: a.force,
    })?;
    println!(
        "{}: {} layers, {} classes ({}), input {:?}{} -> {}",
        a.pth.display(),
        meta.layers.len(),
        meta.classes.len(),
        meta.dataset,
        meta.input,
        if meta.mean.is_empty() {
            ", pixels in [0, 1] (no normalization: a model trained after transforms.Normalize \
             needs its values as --mean/--std)"
                .to_string()
        } else {
            format!(", normalized with mean {:?} std {:?}", meta.mean, meta.std)
        },
        out.display()
    );
    Ok(())
}
