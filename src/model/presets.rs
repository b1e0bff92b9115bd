//! Preset nets, written as layer lists so the knobs (activation, dropout, batch norm) apply
//! to every preset the same way and the run folder stores the exact net that trained.

use crate::error::{Error, Result};
use crate::experiment::config::ModelConfig;
use crate::model::spec::LayerSpec;

pub const PRESETS: &[(&str, &str)] = &[
    (
        "mnist-cnn",
        "conv 10 k5, pool, act, conv 32 k5, pool, act, fc 100, act, dropout 0.3, fc (seed notebooks)",
    ),
    ("cifar-cnn", "mnist-cnn's shape with 15/45 channels"),
    (
        "vgg-blocks",
        "three double-conv blocks 16/32, 64/128, 128/256, fc 4096-2048-256-classes, no activation on logits",
    ),
    (
        "bn-prelu-cnn",
        "conv 16/32/64 each with BN, PReLU and pool, dropout 0.35, fc 100",
    ),
    (
        "vgg11",
        "VGG-11 with batch norm, CIFAR variant (one linear head)",
    ),
    (
        "vgg16",
        "VGG-16 with batch norm, CIFAR variant (one linear head)",
    ),
    (
        "resnet18",
        "ResNet-18, CIFAR variant (3x3 stem, no max-pool)",
    ),
];

/// Per-preset defaults for the knobs: (activation, dropout p, batch norm).
fn preset_defaults(name: &str) -> Option<(&'static str, f64, bool)> {
    Some(match name {
        "mnist-cnn" | "cifar-cnn" => ("relu", 0.3, false),
        "vgg-blocks" => ("relu", 0.0, false),
        "bn-prelu-cnn" => ("prelu", 0.35, true),
        "vgg11" | "vgg16" => ("relu", 0.0, true),
        "resnet18" => ("relu", 0.0, true),
        _ => return None,
    })
}

/// Builds layer lists with the resolved knobs.
struct Builder {
    act: String,
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
        self.layers.push(LayerSpec::Activation {
            kind: self.act.clone(),
        });
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
            activation: self.act.clone(),
        });
        self
    }
}

/// The layer list for `model`: a preset with its knobs applied, or the custom layers.
pub fn resolve_layers(model: &ModelConfig, classes: usize, origin: &str) -> Result<Vec<LayerSpec>> {
    if model.preset.is_empty() {
        return Ok(model.layers.clone());
    }
    let name = model.preset.as_str();
    let Some((act, p, bn)) = preset_defaults(name) else {
        let names: Vec<_> = PRESETS.iter().map(|(n, _)| *n).collect();
        return Err(Error::input(
            origin,
            format!(
                "model.preset: unknown preset \"{name}\" (expected one of: {})",
                names.join(", ")
            ),
        ));
    };
    let mut b = Builder {
        act: if model.activation.is_empty() {
            act.into()
        } else {
            model.activation.clone()
        },
        p: if model.dropout >= 0.0 {
            model.dropout
        } else {
            p
        },
        bn: match model.batch_norm.as_str() {
            "on" => true,
            "off" => false,
            _ => bn,
        },
        layers: Vec::new(),
    };
    match name {
        "mnist-cnn" | "cifar-cnn" => {
            let (c1, c2) = if name == "mnist-cnn" {
                (10, 32)
            } else {
                (15, 45)
            };
            b.conv(c1, 5, 0).pool().act().conv(c2, 5, 0).pool().act();
            b.flatten().linear(100).act().dropout().linear(classes);
        }
        "vgg-blocks" => {
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
        "bn-prelu-cnn" => {
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
        "vgg11" | "vgg16" => {
            let plan: &[usize] = if name == "vgg11" {
                &[64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0]
            } else {
                &[
                    64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0,
                ]
            };
            for &c in plan {
                if c == 0 {
                    b.pool();
                } else {
                    b.conv(c, 3, 1).act();
                }
            }
            b.flatten().dropout().linear(classes);
        }
        "resnet18" => {
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
        _ => unreachable!("preset_defaults covers every name"),
    }
    Ok(b.layers)
}
