//! Preset nets, one table: each row has the name, what it is, the defaults of the knobs
//! (activation, dropout, batch norm) and the function that writes its layer list, so the
//! knobs apply to every preset the same way and the run folder stores the exact net.

use crate::error::{Error, Result};
use crate::model::config::{Activation, BatchNormChoice, ModelConfig};
use crate::model::spec::LayerSpec;

pub struct Preset {
    pub name: &'static str,
    /// Which seed notebook's net this is, layer for layer ("" when none).
    pub seed: &'static str,
    pub about: &'static str,
    /// The input it was written for, [channels, height, width] (10 classes).
    pub input: [usize; 3],
    pub activation: Activation,
    pub dropout: f64,
    pub batch_norm: bool,
    build: fn(&mut Builder, usize),
}

const MNIST: [usize; 3] = [1, 28, 28];
const CIFAR: [usize; 3] = [3, 32, 32];

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "mnist-cnn",
        seed: "seed 001 (MNIST)",
        about: "conv 10 3x3 pad 1, pool, act, conv 32 3x3 pad 1, pool, act, fc 100, act, dropout 0.3, fc",
        input: MNIST,
        activation: Activation::Relu,
        dropout: 0.3,
        batch_norm: false,
        build: |b, classes| small_cnn(b, (10, 32), classes),
    },
    Preset {
        name: "cifar-cnn",
        seed: "seed 001 (CIFAR-10)",
        about: "mnist-cnn's shape with 15/45 channels",
        input: CIFAR,
        activation: Activation::Relu,
        dropout: 0.3,
        batch_norm: false,
        build: |b, classes| small_cnn(b, (15, 45), classes),
    },
    Preset {
        name: "vgg-blocks",
        seed: "seed 002",
        about: "three double-conv blocks 16/32, 64/128, 128/256, fc 4096-2048-256-classes, no activation on logits",
        input: CIFAR,
        activation: Activation::Relu,
        dropout: 0.0,
        batch_norm: false,
        build: vgg_blocks,
    },
    Preset {
        name: "bn-prelu-cnn",
        seed: "seed 004 (final net)",
        about: "[conv 3x3 pad 1, PReLU, Dropout2d 0.35, BN] x 3 (16, 32+pool, 64+pool), fc 100, PReLU, dropout 0.35, BatchNorm1d, fc",
        input: CIFAR,
        activation: Activation::Prelu,
        dropout: 0.35,
        batch_norm: true,
        build: bn_prelu_cnn,
    },
    Preset {
        name: "vgg11",
        seed: "",
        about: "VGG-11 with batch norm, CIFAR variant (one linear head)",
        input: CIFAR,
        activation: Activation::Relu,
        dropout: 0.0,
        batch_norm: true,
        build: |b, classes| {
            vgg(
                b,
                &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
                classes,
            )
        },
    },
    Preset {
        name: "vgg16",
        seed: "",
        about: "VGG-16 with batch norm, CIFAR variant (one linear head)",
        input: CIFAR,
        activation: Activation::Relu,
        dropout: 0.0,
        batch_norm: true,
        build: |b, classes| {
            let plan = [
                64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
            ];
            vgg(b, &plan, classes)
        },
    },
    Preset {
        name: "resnet18",
        seed: "",
        about: "ResNet-18, CIFAR variant as commonly written in PyTorch (3x3 stem without bias, no max-pool)",
        input: CIFAR,
        activation: Activation::Relu,
        dropout: 0.0,
        batch_norm: true,
        build: resnet18,
    },
];

/// The preset a name stands for, read as the config's other names are: case, `-` and `_`
/// do not matter (`ResNet18`, `resnet-18`, `VGG_16`, `MNIST-CNN`).
pub fn find(name: &str) -> Option<&'static Preset> {
    let key = crate::choice::fold(name);
    PRESETS.iter().find(|p| crate::choice::fold(p.name) == key)
}

/// What is wrong with a preset name [`find`] does not know, listing the ones it does.
pub fn unknown_preset(name: &str) -> String {
    let names: Vec<_> = PRESETS.iter().map(|p| p.name).collect();
    format!(
        "unknown preset \"{name}\" (expected one of: {})",
        names.join(", ")
    )
}

/// Builds layer lists with the resolved knobs.
struct Builder {
    act: Activation,
    p: f64,
    bn: bool,
    layers: Vec<LayerSpec>,
}

impl Builder {
    fn conv(&mut self, out: usize, kernel: usize, padding: usize) -> &mut Self {
        self.layers.push(LayerSpec::conv(out, kernel, padding));
        self
    }
    /// Batch norm (2d or 1d, from the position), when the knob is on.
    fn bn(&mut self) -> &mut Self {
        if self.bn {
            self.layers.push(LayerSpec::bn());
        }
        self
    }
    fn dropout2d(&mut self) -> &mut Self {
        if self.p > 0.0 {
            self.layers.push(LayerSpec::Dropout2d { p: self.p });
        }
        self
    }
    fn act(&mut self) -> &mut Self {
        self.layers.push(LayerSpec::activation(self.act));
        self
    }
    fn pool(&mut self) -> &mut Self {
        self.layers.push(LayerSpec::max_pool(2, None));
        self
    }
    fn dropout(&mut self) -> &mut Self {
        if self.p > 0.0 {
            self.layers.push(LayerSpec::Dropout { p: self.p });
        }
        self
    }
    fn flatten(&mut self) -> &mut Self {
        self.layers.push(LayerSpec::Flatten);
        self
    }
    fn linear(&mut self, out: usize) -> &mut Self {
        self.layers.push(LayerSpec::Linear {
            out,
            input: None,
            bias: true,
        });
        self
    }
    fn residual(&mut self, out: usize, stride: usize) -> &mut Self {
        self.layers.push(LayerSpec::Residual {
            out,
            stride,
            activation: self.act,
        });
        self
    }
}

fn small_cnn(b: &mut Builder, (c1, c2): (usize, usize), classes: usize) {
    b.conv(c1, 3, 1)
        .bn()
        .pool()
        .act()
        .conv(c2, 3, 1)
        .bn()
        .pool()
        .act();
    b.flatten().linear(100).act().dropout().linear(classes);
}

fn vgg_blocks(b: &mut Builder, classes: usize) {
    for (c1, c2) in [(16, 32), (64, 128), (128, 256)] {
        b.conv(c1, 3, 1).bn().act().conv(c2, 3, 1).bn().act().pool();
    }
    // 256 x 4 x 4 = 4096 features on a 32x32 input.
    b.flatten()
        .dropout()
        .linear(2048)
        .act()
        .dropout()
        .linear(256)
        .act()
        .linear(classes);
}

/// Seed 004's order: activation and dropout before batch norm, no pool after the first
/// conv (so the flatten gives 64 x 8 x 8 = 4096 features), batch norm on the fc layer too.
fn bn_prelu_cnn(b: &mut Builder, classes: usize) {
    b.conv(16, 3, 1).act().dropout2d().bn();
    for c in [32, 64] {
        b.conv(c, 3, 1).act().dropout2d().bn().pool();
    }
    b.flatten().linear(100).act().dropout().bn().linear(classes);
}

/// VGG from its plan: channel counts, 0 for a max-pool.
fn vgg(b: &mut Builder, plan: &[usize], classes: usize) {
    for &c in plan {
        if c == 0 {
            b.pool();
        } else {
            b.conv(c, 3, 1).bn().act();
        }
    }
    b.flatten().dropout().linear(classes);
}

fn resnet18(b: &mut Builder, classes: usize) {
    b.layers.push(LayerSpec::Conv {
        out: 64,
        kernel: 3,
        stride: 1,
        padding: 1,
        input: None,
        bias: false,
        dirac: false,
        dilation: 1,
        groups: 1,
    });
    b.bn().act();
    for (out, stride) in [
        (64, 1),
        (64, 1),
        (128, 2),
        (128, 1),
        (256, 2),
        (256, 1),
        (512, 2),
        (512, 1),
    ] {
        b.residual(out, stride);
    }
    b.layers.push(LayerSpec::global_avg_pool());
    b.flatten().dropout().linear(classes);
}

/// The layer list for `model`: a preset with its knobs applied, or the custom layers.
pub fn resolve_layers(model: &ModelConfig, classes: usize, origin: &str) -> Result<Vec<LayerSpec>> {
    if model.preset.is_empty() {
        return Ok(model.layers.clone());
    }
    let preset = find(&model.preset).ok_or_else(|| {
        Error::input(
            origin,
            format!("model.preset: {}", unknown_preset(&model.preset)),
        )
    })?;
    let mut b = Builder {
        act: model.activation.unwrap_or(preset.activation),
        p: if model.dropout >= 0.0 {
            model.dropout
        } else {
            preset.dropout
        },
        bn: match model.batch_norm {
            BatchNormChoice::On => true,
            BatchNormChoice::Off => false,
            BatchNormChoice::Preset => preset.batch_norm,
        },
        layers: Vec::new(),
    };
    (preset.build)(&mut b, classes);
    Ok(b.layers)
}
