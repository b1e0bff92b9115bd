//! A hidden-layer activation as a module of the net: one enum over every kind, each with
//! PyTorch's defaults, run through convlab's one-pass CPU operations where it has them
//! (`cpu::prelu`, `cpu::smooth`) and Burn's layers elsewhere.

use burn::nn::activation::{
    Elu, EluConfig, Gelu, HardSigmoid, HardSigmoidConfig, HardSwish, Hardtanh, HardtanhConfig,
    LeakyRelu, LeakyReluConfig, Mish, PRelu, PReluConfig, RRelu, RReluConfig, Relu, Relu6, Selu,
    SiLU, Sigmoid, Tanh,
};
use burn::prelude::*;

use crate::model::config::Activation;
use crate::model::cpu;
use crate::model::cpu::smooth::{self, Smooth};
use crate::model::spec::ActivationLayer;

#[derive(Module, Debug)]
pub enum Act {
    Relu(Relu),
    LeakyRelu(LeakyRelu),
    PRelu(PRelu),
    RRelu(RRelu),
    Elu(Elu),
    Gelu(Gelu),
    // New kinds go last, so the ones before keep their places in a checkpoint's record.
    Silu(SiLU),
    Mish(Mish),
    Selu(Selu),
    Tanh(Tanh),
    Sigmoid(Sigmoid),
    Relu6(Relu6),
    Hardtanh(Hardtanh),
    Hardswish(HardSwish),
    Hardsigmoid(HardSigmoid),
}

impl Act {
    /// An activation layer with the arguments its spec writes, PyTorch's defaults elsewhere.
    pub(crate) fn with(spec: &ActivationLayer, device: &Device) -> Self {
        let (lower, upper) = spec.rrelu_range();
        match spec.kind {
            Activation::LeakyRelu => Act::LeakyRelu(
                LeakyReluConfig::new()
                    .with_negative_slope(spec.leaky_slope())
                    .init(),
            ),
            Activation::Elu => Act::Elu(EluConfig::new().with_alpha(spec.elu_alpha()).init()),
            Activation::Prelu => Act::PRelu(
                PReluConfig::new()
                    .with_num_parameters(spec.slopes())
                    .with_alpha(spec.prelu_init())
                    .init(device),
            ),
            Activation::Rrelu => Act::RRelu(
                RReluConfig::new()
                    .with_lower(lower)
                    .with_upper(upper)
                    .init(),
            ),
            Activation::Gelu if spec.gelu_tanh() => Act::Gelu(Gelu::new_approximate()),
            Activation::Relu => Act::Relu(Relu::new()),
            Activation::Gelu => Act::Gelu(Gelu::new()),
            Activation::Silu => Act::Silu(SiLU::new()),
            Activation::Mish => Act::Mish(Mish::new()),
            Activation::Selu => Act::Selu(Selu::new()),
            Activation::Tanh => Act::Tanh(Tanh::new()),
            Activation::Sigmoid => Act::Sigmoid(Sigmoid::new()),
            Activation::Relu6 => Act::Relu6(Relu6::new()),
            Activation::Hardtanh => {
                let (min, max) = spec.hardtanh_range();
                let config = HardtanhConfig::new().with_min_val(min).with_max_val(max);
                Act::Hardtanh(config.init())
            }
            Activation::Hardswish => Act::Hardswish(HardSwish::new()),
            // Burn's default is Keras 2's 0.2 x + 0.5; PyTorch's is x / 6 + 1/2.
            Activation::Hardsigmoid => Act::Hardsigmoid(
                HardSigmoidConfig::new()
                    .with_alpha(1.0 / 6.0)
                    .with_beta(0.5)
                    .init(),
            ),
        }
    }

    /// An activation layer with PyTorch's defaults.
    pub(crate) fn new(kind: Activation, device: &Device) -> Self {
        Act::with(&ActivationLayer::new(kind), device)
    }

    /// Whether the output holds only input values (or zeros), and the gradient likewise: then
    /// bf16 values stay bf16 values (`Net::forward`'s skipped roundings).
    pub(crate) fn keeps_bf16(&self) -> bool {
        matches!(self, Act::Relu(_) | Act::Relu6(_))
    }

    pub(crate) fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Act::Relu(a) => cpu::prelu::fixed_slope(x, 0.0, |x| a.forward(x)),
            Act::LeakyRelu(a) => cpu::prelu::fixed_slope(x, a.negative_slope, |x| a.forward(x)),
            Act::PRelu(a) => cpu::prelu::forward(a, x),
            Act::RRelu(a) => a.forward(x),
            Act::Elu(a) => {
                let kind = Smooth::Elu {
                    alpha: a.alpha as f32,
                };
                smooth::forward(x, kind, |x| super::elu::elu(x, a.alpha))
            }
            Act::Gelu(a) if a.approximate => smooth::forward(x, Smooth::GeluTanh, |x| a.forward(x)),
            Act::Gelu(_) => super::gelu::forward(x),
            Act::Silu(a) => smooth::forward(x, Smooth::Silu, |x| a.forward(x)),
            Act::Mish(a) => smooth::forward(x, Smooth::Mish, |x| a.forward(x)),
            Act::Selu(_) => smooth::forward(x, Smooth::Selu, super::elu::selu),
            Act::Tanh(a) => smooth::forward(x, Smooth::Tanh, |x| a.forward(x)),
            Act::Sigmoid(a) => smooth::forward(x, Smooth::Sigmoid, |x| a.forward(x)),
            Act::Relu6(a) => {
                let kind = Smooth::Clamp { min: 0.0, max: 6.0 };
                smooth::forward(x, kind, |x| a.forward(x))
            }
            Act::Hardtanh(a) => {
                let (min, max) = (a.min_val as f32, a.max_val as f32);
                smooth::forward(x, Smooth::Clamp { min, max }, |x| a.forward(x))
            }
            Act::Hardswish(a) => smooth::forward(x, Smooth::Hardswish, |x| a.forward(x)),
            Act::Hardsigmoid(a) => smooth::forward(x, Smooth::Hardsigmoid, |x| a.forward(x)),
        }
    }
}
