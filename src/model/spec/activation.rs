//! An activation layer as written: its kind and the arguments PyTorch's module of that kind
//! takes (LeakyReLU's `negative_slope`, ELU's `alpha`, PReLU's `num_parameters` and `init`,
//! RReLU's `lower` and `upper`, GELU's `approximate`, Hardtanh's `min_val` and `max_val`),
//! each on its own kind only. Unwritten, each is PyTorch's default, so a saved config without
//! them keeps its meaning.

use serde::{Deserialize, Serialize};

use crate::model::config::Activation;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ActivationLayer {
    pub kind: Activation,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_slope: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// PReLU's learnt slopes: 1 for the layer, or one per channel (per feature on a flat
    /// input), as `nn.PReLU(num_parameters=C)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_parameters: Option<usize>,
    /// PReLU's starting slope (0.25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<f64>,
    /// RReLU's range of random slopes in training, [1/8, 1/3]; it evaluates with the midpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lower: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approximate: Option<GeluForm>,
    /// Hardtanh's bounds, [-1, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_val: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_val: Option<f64>,
}

/// GELU's `approximate`: exact (with erf), or PyTorch's tanh formula.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum GeluForm {
    None,
    Tanh,
}

/// PyTorch's defaults: LeakyReLU's slope, ELU's alpha, RReLU's range, PReLU's start.
const LEAKY_SLOPE: f64 = 0.01;
const ELU_ALPHA: f64 = 1.0;
const RRELU_LOWER: f64 = 1.0 / 8.0;
const RRELU_UPPER: f64 = 1.0 / 3.0;
const PRELU_INIT: f64 = 0.25;
const HARDTANH_MIN: f64 = -1.0;
const HARDTANH_MAX: f64 = 1.0;

impl ActivationLayer {
    /// The kind with PyTorch's defaults (`nn.LeakyReLU()`, `nn.PReLU()`, ...).
    pub fn new(kind: Activation) -> Self {
        ActivationLayer {
            kind,
            negative_slope: None,
            alpha: None,
            num_parameters: None,
            init: None,
            lower: None,
            upper: None,
            approximate: None,
            min_val: None,
            max_val: None,
        }
    }

    /// PReLU's number of learnt slopes; 0 for every other kind.
    pub fn slopes(&self) -> usize {
        match self.kind {
            Activation::Prelu => self.num_parameters.unwrap_or(1),
            _ => 0,
        }
    }

    pub fn leaky_slope(&self) -> f64 {
        self.negative_slope.unwrap_or(LEAKY_SLOPE)
    }

    pub fn elu_alpha(&self) -> f64 {
        self.alpha.unwrap_or(ELU_ALPHA)
    }

    pub fn prelu_init(&self) -> f64 {
        self.init.unwrap_or(PRELU_INIT)
    }

    /// RReLU's training range, as written or PyTorch's.
    pub fn rrelu_range(&self) -> (f64, f64) {
        (
            self.lower.unwrap_or(RRELU_LOWER),
            self.upper.unwrap_or(RRELU_UPPER),
        )
    }

    /// Hardtanh's bounds, as written or PyTorch's.
    pub fn hardtanh_range(&self) -> (f64, f64) {
        (
            self.min_val.unwrap_or(HARDTANH_MIN),
            self.max_val.unwrap_or(HARDTANH_MAX),
        )
    }

    pub fn gelu_tanh(&self) -> bool {
        self.approximate == Some(GeluForm::Tanh)
    }

    /// Each written argument belongs to the kind and is a usable number; PReLU's slopes are
    /// one or one per channel of the input (`width`), as PyTorch requires.
    pub(super) fn check(&self, width: usize) -> Result<(), String> {
        let kind = self.kind;
        let numbers = [
            ("negative_slope", self.negative_slope, Activation::LeakyRelu),
            ("alpha", self.alpha, Activation::Elu),
            ("init", self.init, Activation::Prelu),
            ("lower", self.lower, Activation::Rrelu),
            ("upper", self.upper, Activation::Rrelu),
            ("min_val", self.min_val, Activation::Hardtanh),
            ("max_val", self.max_val, Activation::Hardtanh),
        ];
        let others = [
            (
                "num_parameters",
                self.num_parameters.is_some(),
                Activation::Prelu,
            ),
            ("approximate", self.approximate.is_some(), Activation::Gelu),
        ];
        let written = numbers
            .iter()
            .map(|(arg, v, owner)| (*arg, v.is_some(), *owner));
        for (arg, given, owner) in written.chain(others) {
            if given && kind != owner {
                return Err(format!("{arg} is {owner}'s argument, not {kind}'s"));
            }
        }
        for (arg, value, _) in numbers {
            if let Some(v) = value.filter(|v| !v.is_finite()) {
                return Err(format!("{arg} = {v} must be a finite number"));
            }
        }
        if let Some(n) = self.num_parameters.filter(|&n| n != 1 && n != width) {
            return Err(format!(
                "num_parameters = {n}: PReLU learns 1 slope or one per channel, and this \
                 layer receives {width}"
            ));
        }
        let (lower, upper) = self.rrelu_range();
        if lower > upper {
            return Err(format!("lower = {lower} is above upper = {upper}"));
        }
        let (min, max) = self.hardtanh_range();
        if min >= max {
            return Err(format!(
                "min_val = {min} must be below max_val = {max}, as PyTorch's Hardtanh requires"
            ));
        }
        Ok(())
    }

    /// How `summary` names the layer: the kind, then any argument not at its default.
    pub fn label(&self) -> String {
        let mut label = self.kind.to_string();
        if let Some(slope) = self.negative_slope {
            label += &format!(" {slope}");
        }
        if let Some(alpha) = self.alpha {
            label += &format!(" alpha {alpha}");
        }
        if self.slopes() > 1 {
            label += &format!(" x{}", self.slopes());
        }
        if let Some(init) = self.init {
            label += &format!(" init {init}");
        }
        if self.lower.is_some() || self.upper.is_some() {
            let (lower, upper) = self.rrelu_range();
            label += &format!(" [{lower}, {upper}]");
        }
        if self.gelu_tanh() {
            label += " tanh";
        }
        if self.min_val.is_some() || self.max_val.is_some() {
            let (min, max) = self.hardtanh_range();
            label += &format!(" [{min}, {max}]");
        }
        label
    }
}
