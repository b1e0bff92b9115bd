//! PyTorch interchange: a net's weights as PyTorch's state_dict sees them (module names of
//! the `nn.Sequential` that `export` prints, tensors in PyTorch's layout), read from and
//! written to `.pth` files, and the same net as ONNX.

pub mod export;
pub mod import;
pub mod onnx;
mod onnx_proto;
pub mod python;
mod zip_pth;

use burn::module::{Param, RunningState};
use burn::nn::BatchNorm;
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::TensorData;

use crate::model::net::{Act, Layer, Net, Residual};

/// What a group of tensors is, as PyTorch modules go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Conv,
    Linear,
    BatchNorm,
    Prelu,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Conv => "conv",
            Kind::Linear => "linear",
            Kind::BatchNorm => "batch norm",
            Kind::Prelu => "PReLU",
        }
    }
}

/// One tensor in PyTorch's layout (a linear weight is [out, in]).
#[derive(Debug, Clone, PartialEq)]
pub struct Named {
    pub name: &'static str,
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// One module's tensors: `module` is its state_dict prefix ("3", "5.conv1").
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub module: String,
    pub kind: Kind,
    pub tensors: Vec<Named>,
}

fn named<const D: usize>(name: &'static str, t: Tensor<D>) -> Named {
    let shape = t.dims().to_vec();
    let values = t
        .into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default();
    Named {
        name,
        shape,
        values,
    }
}

/// Every parameter and batch-norm buffer of `net`, in state_dict order.
pub fn groups(net: &Net) -> Vec<Group> {
    let mut out = Vec::new();
    for (i, layer) in net.layers.iter().enumerate() {
        let m = i.to_string();
        match layer {
            Layer::Conv(c) => out.push(conv_group(m, c)),
            Layer::Linear(l) => out.push(linear_group(m, l)),
            Layer::Bn(b) => out.push(bn_group(m, b)),
            Layer::Act(Act::PRelu(p)) => out.push(prelu_group(m, &p.alpha)),
            Layer::Residual(r) => residual_groups(&m, r, &mut out),
            _ => {}
        }
    }
    out
}

fn conv_group(module: String, c: &Conv2d) -> Group {
    weight_and_bias(module, Kind::Conv, named("weight", c.weight.val()), &c.bias)
}

fn linear_group(module: String, l: &Linear) -> Group {
    // Burn keeps [in, out]; PyTorch [out, in].
    let weight = named("weight", l.weight.val().transpose());
    weight_and_bias(module, Kind::Linear, weight, &l.bias)
}

fn weight_and_bias(
    module: String,
    kind: Kind,
    weight: Named,
    bias: &Option<Param<Tensor<1>>>,
) -> Group {
    let mut tensors = vec![weight];
    tensors.extend(bias.as_ref().map(|b| named("bias", b.val())));
    Group {
        module,
        kind,
        tensors,
    }
}

fn bn_group(module: String, b: &BatchNorm) -> Group {
    Group {
        module,
        kind: Kind::BatchNorm,
        tensors: vec![
            named("weight", b.gamma.val()),
            named("bias", b.beta.val()),
            named("running_mean", b.running_mean.value()),
            named("running_var", b.running_var.value()),
        ],
    }
}

fn prelu_group(module: String, alpha: &Param<Tensor<1>>) -> Group {
    Group {
        module,
        kind: Kind::Prelu,
        tensors: vec![named("weight", alpha.val())],
    }
}

/// A residual block's modules, named as the exported `BasicBlock` names them.
fn residual_groups(m: &str, r: &Residual, out: &mut Vec<Group>) {
    out.push(conv_group(format!("{m}.conv1"), &r.conv1));
    out.push(bn_group(format!("{m}.bn1"), &r.bn1));
    if let Act::PRelu(p) = &r.act1 {
        out.push(prelu_group(format!("{m}.act1"), &p.alpha));
    }
    out.push(conv_group(format!("{m}.conv2"), &r.conv2));
    out.push(bn_group(format!("{m}.bn2"), &r.bn2));
    if let Some(s) = &r.shortcut {
        out.push(conv_group(format!("{m}.shortcut.0"), &s.conv));
        out.push(bn_group(format!("{m}.shortcut.1"), &s.bn));
    }
    if let Act::PRelu(p) = &r.act2 {
        out.push(prelu_group(format!("{m}.act2"), &p.alpha));
    }
}

/// Replace `net`'s tensors with `groups`, which must be `groups(&net)`'s list with other
/// values (same order and shapes; the importer has checked them).
pub fn set_groups(mut net: Net, groups: Vec<Group>, device: &Device) -> Net {
    let mut it = groups.into_iter().map(|g| g.tensors);
    let mut next = move || it.next().unwrap_or_default();
    for layer in net.layers.iter_mut() {
        match layer {
            Layer::Conv(c) => set_conv(c, next(), device),
            Layer::Linear(l) => set_linear(l, next(), device),
            Layer::Bn(b) => set_bn(b, next(), device),
            Layer::Act(Act::PRelu(p)) => p.alpha = param(&next()[0], device),
            Layer::Residual(r) => {
                set_conv(&mut r.conv1, next(), device);
                set_bn(&mut r.bn1, next(), device);
                if let Act::PRelu(p) = &mut r.act1 {
                    p.alpha = param(&next()[0], device);
                }
                set_conv(&mut r.conv2, next(), device);
                set_bn(&mut r.bn2, next(), device);
                if let Some(s) = &mut r.shortcut {
                    set_conv(&mut s.conv, next(), device);
                    set_bn(&mut s.bn, next(), device);
                }
                if let Act::PRelu(p) = &mut r.act2 {
                    p.alpha = param(&next()[0], device);
                }
            }
            _ => {}
        }
    }
    net
}

fn tensor<const D: usize>(t: &Named, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(t.values.clone(), t.shape.clone()), device)
}

fn param<const D: usize>(t: &Named, device: &Device) -> Param<Tensor<D>> {
    Param::from_tensor(tensor(t, device))
}

fn set_conv(c: &mut Conv2d, t: Vec<Named>, device: &Device) {
    c.weight = param(&t[0], device);
    if let Some(b) = t.get(1) {
        c.bias = Some(param(b, device));
    }
}

fn set_linear(l: &mut Linear, t: Vec<Named>, device: &Device) {
    l.weight = Param::from_tensor(tensor::<2>(&t[0], device).transpose());
    if let Some(b) = t.get(1) {
        l.bias = Some(param(b, device));
    }
}

fn set_bn(b: &mut BatchNorm, t: Vec<Named>, device: &Device) {
    b.gamma = param(&t[0], device);
    b.beta = param(&t[1], device);
    b.running_mean = RunningState::new(tensor(&t[2], device));
    b.running_var = RunningState::new(tensor(&t[3], device));
}

/// Compare module paths as people number them: "layer10" after "layer9", "10" after "9".
pub fn natural_key(name: &str) -> Vec<(u8, u64, String)> {
    let mut key = Vec::new();
    let mut rest = name;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            let n = rest[..digits].parse().unwrap_or(u64::MAX);
            key.push((0, n, String::new()));
            rest = &rest[digits..];
        } else {
            let text = rest.len() - rest.trim_start_matches(|c: char| !c.is_ascii_digit()).len();
            key.push((1, 0, rest[..text].to_string()));
            rest = &rest[text..];
        }
    }
    key
}
