//! `[model]` of a run config: a preset or a layer list, the knobs that apply to it, the
//! weight init, and an optional pretrained checkpoint.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::model::spec::LayerSpec;

crate::choice! {
    /// Hidden-layer activations, with PyTorch's defaults (LeakyReLU slope 0.01, one PReLU
    /// slope initialised to 0.25, RReLU in [1/8, 1/3], ELU alpha 1, exact GELU, SELU's
    /// fixed alpha and scale, Hardtanh in [-1, 1]). Tanh and sigmoid are the saturating
    /// classics a study sets against ReLU; SiLU (swish) and Mish the smooth modern ones;
    /// ReLU6, Hardswish and Hardsigmoid MobileNet's piecewise ones (PyTorch's definitions:
    /// Hardsigmoid is relu6(x + 3) / 6, Keras 3's hard_sigmoid, not Keras 2's 0.2 x + 0.5).
    pub enum Activation("activation") {
        Relu => "relu",
        LeakyRelu => "leaky-relu",
        Prelu => "prelu",
        Rrelu => "rrelu",
        Elu => "elu",
        Gelu => "gelu",
        Silu => "silu" | "swish",
        Mish => "mish",
        Selu => "selu",
        Tanh => "tanh",
        Sigmoid => "sigmoid",
        Relu6 => "relu6",
        Hardtanh => "hardtanh",
        Hardswish => "hardswish" | "hard-silu",
        Hardsigmoid => "hardsigmoid",
    }
}

crate::choice! {
    /// Batch norm after every conv of a preset.
    pub enum BatchNormChoice("value") {
        /// The preset's own choice.
        Preset => "preset",
        On => "on",
        Off => "off",
    }
}

crate::choice! {
    /// Weight init: Burn's default (the same bounds as PyTorch's), or one of `torch.nn.init`'s
    /// (Keras' names read too) for conv and linear weights, with zero biases.
    pub enum Init("value") {
        Default => "default",
        /// kaiming_normal_(w, nonlinearity="relu"): N(0, 2/fan_in).
        Kaiming => "kaiming" | "kaiming-normal" | "he-normal" | "he",
        /// xavier_uniform_(w): U(+-sqrt(6/(fan_in+fan_out))).
        Xavier => "xavier" | "xavier-uniform" | "glorot-uniform" | "glorot",
        /// kaiming_uniform_(w, nonlinearity="relu"): U(+-sqrt(6/fan_in)).
        KaimingUniform => "kaiming-uniform" | "he-uniform",
        /// xavier_normal_(w): N(0, 2/(fan_in+fan_out)).
        XavierNormal => "xavier-normal" | "glorot-normal",
        /// kaiming_normal_(w, nonlinearity="linear"): N(0, 1/fan_in), what PyTorch's nn.SELU
        /// asks for (Keras' lecun_normal truncates the normal; this does not).
        LecunNormal => "lecun-normal",
        /// orthogonal_(w): the weight, as a matrix of one row per output, has orthonormal
        /// rows (or columns, when taller than wide).
        Orthogonal => "orthogonal",
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// A preset name (`convlab presets` lists them), or empty when `layers` is given (a
    /// config that lists layers and writes no preset gets ""; a preset written beside them
    /// is the net, and the layers are a warning: `--set model.preset=resnet18` on a
    /// layer-list file compares a preset).
    pub preset: String,
    /// Activation for every hidden activation; "" (None) keeps the preset's own.
    #[serde(with = "crate::choice::empty_as_none")]
    pub activation: Option<Activation>,
    /// Dropout probability for every dropout layer; negative keeps the preset's own.
    pub dropout: f64,
    pub batch_norm: BatchNormChoice,
    pub init: Init,
    /// A custom net, used when `preset` is empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerSpec>,
    /// Start from this checkpoint's weights (fine-tuning). Every layer but the last must
    /// match it; the last linear layer is new when the class count differs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pretrained: Option<PathBuf>,
    /// The input the net is written for, as Keras' `input_shape` on the first layer (read
    /// into here): checked against the data's images before training (spec::check_input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<usize>>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            preset: "mnist-cnn".into(),
            activation: None,
            dropout: -1.0,
            batch_norm: BatchNormChoice::Preset,
            init: Init::Default,
            layers: Vec::new(),
            pretrained: None,
            input_shape: None,
        }
    }
}

impl ModelConfig {
    /// Impossible values, as (key, problem).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.dropout.is_nan() || self.dropout >= 1.0 {
            return Err((
                "model.dropout",
                format!("{} is not in [0, 1)", self.dropout),
            ));
        }
        if self.preset.is_empty() && self.layers.is_empty() {
            return Err(("model", "set model.preset or list model.layers".into()));
        }
        if self.preset.is_empty() {
            // The knobs rewrite a preset; on a layer list they would change nothing, and a
            // study over them would train identical variants and report "no difference".
            let knob = if self.activation.is_some() {
                Some("model.activation")
            } else if self.dropout >= 0.0 {
                Some("model.dropout")
            } else if self.batch_norm != BatchNormChoice::Preset {
                Some("model.batch_norm")
            } else {
                None
            };
            if let Some(key) = knob {
                return Err((
                    key,
                    "applies to presets only; this net is a layer list, so set it on the layers in model.layers".into(),
                ));
            }
        }
        Ok(())
    }
}

crate::choice! {
    /// The float format of a training step's activations (`train.precision`). The weights,
    /// their gradients, the optimizer state and batch norm stay f32 either way.
    pub enum Precision("value") {
        Fp32 => "fp32",
        /// bfloat16 activations, convolutions and linear layers (weights cast at use), as
        /// PyTorch's autocast(dtype=torch.bfloat16): faster on GPUs with bf16 tensor cores.
        /// On the CPU the same roundings with f32 arithmetic (`cpu::bf16`).
        Bf16 => "bf16",
    }
}

impl Precision {
    pub fn dtype(self) -> burn::tensor::DType {
        match self {
            Precision::Fp32 => burn::tensor::DType::F32,
            Precision::Bf16 => burn::tensor::DType::BF16,
        }
    }

    /// A batch in this precision: the net then computes in it (`Net::forward`).
    pub fn input(self, x: burn::tensor::Tensor<4>) -> burn::tensor::Tensor<4> {
        crate::model::cpu::cast_to(x, self.dtype())
    }
}
