//! Preset nets, one table: each row has the name, what it is, the defaults of the knobs
//! (activation, dropout, batch norm) and the function that writes its layer list, so the
//! knobs apply to every preset the same way and the run folder stores the exact net.

use crate::error::{Error, Result};
use crate::model::config::{Activation, BatchNormChoice, ModelConfig};
use crate::model::spec::LayerSpec;

pub struct Preset {
    pub name: &'static str,
    pub about: &'static str,
    pub activation: Activation,
    pub dropout: f64,
    pub batch_norm: bool,
    build: fn(&mut Builder, usize),
}

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "mnist-cnn",
        about: "conv 10 k5, pool, act, conv 32 k5, pool, act, fc 100, act, dropout 0.3, fc (seed notebooks)",
        activation: Activation::Relu,
        dropout: 0.3,
        batch_norm: false,
        build: |b, classes| small_cnn(b, (10, 32), classes),
    },
    Preset {
        name: "cifar-cnn",
        about: "mnist-cnn's shape with 15/45 channels",
        activation: Activation::Relu,
        dropout: 0.3,
        batch_norm: false,
        build: |b, classes| small_cnn(b, (15, 45), classes),
    },
    Preset {
        name: "vgg-blocks",
        about: "three double-conv blocks 16/32, 64/128, 128/256, fc 4096-2048-256-classes, no activation on logits",
        activation: Activation::Relu,
        dropout: 0.0,
        batch_norm: false,
        build: vgg_blocks,
    },
    Preset {
        name: "bn-prelu-cnn",
        about: "conv 16/32/64 each with BN, PReLU and pool, dropout 0.35, fc 100",
        activation: Activation::Prelu,
        dropout: 0.35,
        batch_norm: true,
        build: bn_prelu_cnn,
    },
    Preset {
        name: "vgg11",
        about: "VGG-11 with batch norm, CIFAR variant (one linear head)",
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
        about: "VGG-16 with batch norm, CIFAR variant (one linear head)",
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
        about: "ResNet-18, CIFAR variant (3x3 stem, no max-pool)",
        activation: Activation::Relu,
        dropout: 0.0,
        batch_norm: true,
        build: resnet18,
    },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
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
        self.layers.push(LayerSpec::Conv {
            out,
            kernel,
            stride: 1,
            padding,
            input: None,
        });
        if self.bn {
            self.layers.push(LayerSpec::Bn);
        }
        self
    }
    fn act(&mut self) -> &mut Self {
        self.layers.push(LayerSpec::Activation { kind: self.act });
        self
    }
    fn pool(&mut self) -> &mut Self {
        self.layers.push(LayerSpec::Pool {
            kernel: 2,
            stride: None,
        });
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
        self.layers.push(LayerSpec::Linear { out, input: None });
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
    b.conv(c1, 5, 0).pool().act().conv(c2, 5, 0).pool().act();
    b.flatten().linear(100).act().dropout().linear(classes);
}

fn vgg_blocks(b: &mut Builder, classes: usize) {
    for (c1, c2) in [(16, 32), (64, 128), (128, 256)] {
        b.conv(c1, 3, 1).act().conv(c2, 3, 1).act().pool();
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

fn bn_prelu_cnn(b: &mut Builder, classes: usize) {
    for c in [16, 32, 64] {
        b.conv(c, 3, 1).act().pool();
    }
    b.flatten()
        .dropout()
        .linear(100)
        .act()
        .dropout()
        .linear(classes);
}

/// VGG from its plan: channel counts, 0 for a max-pool.
fn vgg(b: &mut Builder, plan: &[usize], classes: usize) {
    for &c in plan {
        if c == 0 {
            b.pool();
        } else {
            b.conv(c, 3, 1).act();
        }
    }
    b.flatten().dropout().linear(classes);
}

fn resnet18(b: &mut Builder, classes: usize) {
    b.conv(64, 3, 1).act();
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
    b.layers.push(LayerSpec::AvgPool);
    b.flatten().dropout().linear(classes);
}

/// The layer list for `model`: a preset with its knobs applied, or the custom layers.
pub fn resolve_layers(model: &ModelConfig, classes: usize, origin: &str) -> Result<Vec<LayerSpec>> {
    if model.preset.is_empty() {
        return Ok(model.layers.clone());
    }
    let preset = find(&model.preset).ok_or_else(|| {
        let names: Vec<_> = PRESETS.iter().map(|p| p.name).collect();
        Error::input(
            origin,
            format!(
                "model.preset: unknown preset \"{}\" (expected one of: {})",
                model.preset,
                names.join(", ")
            ),
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
