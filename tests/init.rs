//! `model.init` draws weights from PyTorch's distributions, checked by their bounds and
//! spread on a conv 32 -> 64 (3x3: fan_in 288, fan_out 576) and a linear 1024 -> 100:
//! - `default`: nn.Conv2d's and nn.Linear's own reset_parameters, kaiming_uniform_(a=sqrt(5))
//!   for the weight and the bias, both U(-1/sqrt(fan_in), 1/sqrt(fan_in));
//! - `kaiming`: nn.init.kaiming_normal_(w, nonlinearity="relu"), N(0, 2/fan_in), bias 0;
//! - `xavier`: nn.init.xavier_uniform_(w), U(+-sqrt(6/(fan_in+fan_out))), bias 0;
//! - `kaiming-uniform`: kaiming_uniform_(w, nonlinearity="relu"), U(+-sqrt(6/fan_in)), bias 0;
//! - `xavier-normal`: xavier_normal_(w), N(0, 2/(fan_in+fan_out)), bias 0;
//! - `lecun-normal`: kaiming_normal_(w, nonlinearity="linear"), N(0, 1/fan_in), bias 0;
//! - `orthogonal`: orthogonal_(w): the conv's 64 x 288 matrix has orthonormal rows, and so does
//!   the linear's 100 x 1024 (Burn stores it transposed, 1024 x 100, orthonormal columns);
//!
//! and nn.PReLU's slope 0.25, batch norm's weight 1, bias 0, running mean 0, running var 1.

use burn::prelude::*;
use convlab::model::Init;
use convlab::model::net::{Act, Layer, Net};
use convlab::model::spec::{LayerSpec, Shape};

fn values<const D: usize>(t: Tensor<D>) -> Vec<f64> {
    let v = t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    v.into_iter().map(f64::from).collect()
}

/// (mean, std, largest magnitude).
fn stats(v: &[f64]) -> (f64, f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt(), v.iter().fold(0.0, |m, x| m.max(x.abs())))
}

/// U(-bound, bound): inside the bound, reaching near it, with the uniform's spread.
fn assert_uniform(what: &str, v: &[f64], bound: f64) {
    let (mean, std, largest) = stats(v);
    assert!(
        largest <= bound * (1.0 + 1e-6),
        "{what}: {largest} > bound {bound}"
    );
    let reach = if v.len() > 1000 { 0.99 } else { 0.5 };
    assert!(
        largest > reach * bound,
        "{what}: {largest} far inside {bound}"
    );
    if v.len() > 1000 {
        let want = bound / 3f64.sqrt();
        assert!(
            (std / want - 1.0).abs() < 0.03,
            "{what}: std {std} vs {want}"
        );
        assert!(
            mean.abs() < 4.0 * want / (v.len() as f64).sqrt(),
            "{what}: mean {mean}"
        );
    }
}

fn assert_normal(what: &str, v: &[f64], std_want: f64) {
    let (mean, std, _) = stats(v);
    assert!(
        (std / std_want - 1.0).abs() < 0.03,
        "{what}: std {std} vs {std_want}"
    );
    let se = std_want / (v.len() as f64).sqrt();
    assert!(mean.abs() < 4.0 * se, "{what}: mean {mean}");
}

fn net(init: Init) -> Net {
    let layers = [
        LayerSpec::conv(64, 3, 1),
        LayerSpec::activation(convlab::model::Activation::Prelu),
        LayerSpec::bn(),
        LayerSpec::Flatten,
        LayerSpec::Linear {
            out: 100,
            input: None,
            bias: true,
        },
    ];
    let device = Device::flex();
    device.seed(7);
    Net::new(&layers, Shape::Image { c: 32, h: 4, w: 4 }, init, &device)
}

/// (conv weight, conv bias, linear weight, linear bias).
fn weights(net: &Net) -> [Vec<f64>; 4] {
    let (Layer::Conv(c), Layer::Linear(l)) = (&net.layers[0], &net.layers[4]) else {
        unreachable!()
    };
    [
        values(c.weight.val()),
        values(c.bias.as_ref().unwrap().val()),
        values(l.weight.val()),
        values(l.bias.as_ref().unwrap().val()),
    ]
}

#[test]
fn default_init_is_pytorchs_reset_parameters() {
    let n = net(Init::Default);
    let [cw, cb, lw, lb] = weights(&n);
    let (conv, linear) = (1.0 / 288f64.sqrt(), 1.0 / 1024f64.sqrt());
    assert_uniform("conv weight", &cw, conv);
    assert_uniform("conv bias", &cb, conv);
    assert_uniform("linear weight", &lw, linear);
    assert_uniform("linear bias", &lb, linear);
    let Layer::Act(Act::PRelu(p)) = &n.layers[1] else {
        unreachable!()
    };
    assert_eq!(values(p.alpha.val()), [0.25]);
    let Layer::Bn(bn) = &n.layers[2] else {
        unreachable!()
    };
    assert!(values(bn.gamma.val()).iter().all(|&g| g == 1.0));
    assert!(values(bn.beta.val()).iter().all(|&b| b == 0.0));
    assert!(values(bn.running_mean.value()).iter().all(|&m| m == 0.0));
    assert!(values(bn.running_var.value()).iter().all(|&v| v == 1.0));
}

#[test]
fn kaiming_is_kaiming_normal_for_relu_with_zero_biases() {
    let [cw, cb, lw, lb] = weights(&net(Init::Kaiming));
    assert_normal("conv weight", &cw, (2.0 / 288f64).sqrt());
    assert_normal("linear weight", &lw, (2.0 / 1024f64).sqrt());
    assert!(cb.iter().chain(&lb).all(|&b| b == 0.0));
}

#[test]
fn xavier_is_xavier_uniform_with_zero_biases() {
    let [cw, cb, lw, lb] = weights(&net(Init::Xavier));
    assert_uniform("conv weight", &cw, (6.0 / (288.0 + 576.0f64)).sqrt());
    assert_uniform("linear weight", &lw, (6.0 / (1024.0 + 100.0f64)).sqrt());
    assert!(cb.iter().chain(&lb).all(|&b| b == 0.0));
}

#[test]
fn kaiming_uniform_xavier_normal_and_lecun_normal_are_torchs_with_zero_biases() {
    let [cw, cb, lw, lb] = weights(&net(Init::KaimingUniform));
    assert_uniform("conv weight", &cw, (6.0 / 288f64).sqrt());
    assert_uniform("linear weight", &lw, (6.0 / 1024f64).sqrt());
    assert!(cb.iter().chain(&lb).all(|&b| b == 0.0));
    let [cw, cb, lw, lb] = weights(&net(Init::XavierNormal));
    assert_normal("conv weight", &cw, (2.0 / (288.0 + 576.0f64)).sqrt());
    assert_normal("linear weight", &lw, (2.0 / (1024.0 + 100.0f64)).sqrt());
    assert!(cb.iter().chain(&lb).all(|&b| b == 0.0));
    let [cw, cb, lw, lb] = weights(&net(Init::LecunNormal));
    assert_normal("conv weight", &cw, (1.0 / 288f64).sqrt());
    assert_normal("linear weight", &lw, (1.0 / 1024f64).sqrt());
    assert!(cb.iter().chain(&lb).all(|&b| b == 0.0));
}

/// Largest |G - I| of the Gram matrix of `rows` vectors of length `len`, stored one after
/// another (`by_rows`) or as the columns of a len x rows matrix.
fn gram_error(v: &[f64], rows: usize, len: usize, by_rows: bool) -> f64 {
    let at = |r: usize, i: usize| {
        if by_rows {
            v[r * len + i]
        } else {
            v[i * rows + r]
        }
    };
    let mut worst = 0f64;
    for a in 0..rows {
        for b in 0..rows {
            let dot: f64 = (0..len).map(|i| at(a, i) * at(b, i)).sum();
            let want = if a == b { 1.0 } else { 0.0 };
            worst = worst.max((dot - want).abs());
        }
    }
    worst
}

#[test]
fn orthogonal_weights_have_orthonormal_rows_as_torchs_orthogonal() {
    let [cw, cb, lw, lb] = weights(&net(Init::Orthogonal));
    // Conv [64, 32, 3, 3]: 64 filters of 288 weights, orthonormal.
    assert!(gram_error(&cw, 64, 288, true) < 1e-5, "conv");
    // Linear, Burn's [1024, 100] (PyTorch's [100, 1024]): 100 orthonormal columns.
    assert!(gram_error(&lw, 100, 1024, false) < 1e-5, "linear");
    assert!(cb.iter().chain(&lb).all(|&b| b == 0.0));
    // Not the same matrix twice: two seeds give different weights.
    let device = Device::flex();
    device.seed(8);
    let other = Net::new(
        &[LayerSpec::conv(64, 3, 1)],
        Shape::Image { c: 32, h: 4, w: 4 },
        Init::Orthogonal,
        &device,
    );
    let Layer::Conv(c) = &other.layers[0] else {
        unreachable!()
    };
    assert_ne!(values(c.weight.val()), cw);
}

/// A grouped conv's fans are PyTorch's: in / groups x k x k in, out x k x k out (Burn's own
/// fan-out divides by the groups). A depthwise conv 32 -> 64 (groups 32, 3x3): fan_in 9,
/// fan_out 576, so `xavier` is U(+-sqrt(6/585)) and the default U(+-1/3):
///   w = nn.Conv2d(32, 64, 3, groups=32).weight; nn.init._calculate_fan_in_and_fan_out(w)
///   -> (9, 576)
#[test]
fn a_grouped_convs_fans_are_pytorchs() {
    let weights = |init| {
        let conv = LayerSpec::Conv {
            out: 64,
            kernel: 3,
            stride: 1,
            padding: 1,
            input: None,
            bias: true,
            dirac: false,
            dilation: 1,
            groups: 32,
        };
        let device = Device::flex();
        device.seed(7);
        let net = Net::new(&[conv], Shape::Image { c: 32, h: 4, w: 4 }, init, &device);
        let Layer::Conv(c) = &net.layers[0] else {
            unreachable!()
        };
        assert_eq!(c.weight.val().dims(), [64, 1, 3, 3]);
        values(c.weight.val())
    };
    assert_uniform("xavier", &weights(Init::Xavier), (6.0 / 585f64).sqrt());
    assert_normal(
        "xavier-normal",
        &weights(Init::XavierNormal),
        (2.0 / 585f64).sqrt(),
    );
    assert_uniform("default", &weights(Init::Default), 1.0 / 3.0);
    assert_normal("kaiming", &weights(Init::Kaiming), (2.0 / 9f64).sqrt());
}
