//! The one-pass activations against their definitions in f64, value and slope, over the
//! whole f32 range that matters and its edges; the PyTorch numbers are checked through the
//! net in tests/pytorch_semantics.rs.
use super::super::smooth_math::{EXP_HI, EXP_LO, exp};
use super::*;

/// Inputs from -200 to 200, dense near 0, with the edges: ±0, tiny, the exp limits.
fn inputs() -> Vec<f32> {
    let mut xs: Vec<f32> = (-20_000..=20_000).map(|i| i as f32 * 1e-3).collect();
    xs.extend((-400..=400).map(|i| i as f32 * 0.5));
    xs.extend([
        0.0, -0.0, 1e-30, -1e-30, 1e-8, -1e-8, EXP_LO, EXP_HI, -88.0, 88.0,
    ]);
    xs.extend([
        0.624_999_9,
        0.625,
        -0.625,
        9.0,
        9.02,
        19.99,
        20.01,
        -87.4,
        -103.0,
    ]);
    xs
}

fn sigmoid64(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn tanh_softplus64(x: f64) -> f64 {
    x.exp().ln_1p().tanh()
}

fn elu64(x: f64, alpha: f64) -> f64 {
    if x > 0.0 { x } else { alpha * x.exp_m1() }
}

/// (value, slope) of each kind in f64, PyTorch's branches at 0.
fn reference(kind: Smooth, x: f64) -> (f64, f64) {
    let (a, l) = (SELU_ALPHA as f64, SELU_SCALE as f64);
    match kind {
        Smooth::Sigmoid => (sigmoid64(x), sigmoid64(x) * (1.0 - sigmoid64(x))),
        Smooth::Tanh => (x.tanh(), 1.0 - x.tanh().powi(2)),
        Smooth::Silu => {
            let s = sigmoid64(x);
            (x * s, s * (1.0 + x * (1.0 - s)))
        }
        Smooth::Mish => {
            let t = tanh_softplus64(x);
            (x * t, t + x * sigmoid64(x) * (1.0 - t * t))
        }
        Smooth::Elu { alpha } => {
            let alpha = alpha as f64;
            let d = if x > 0.0 { 1.0 } else { alpha * x.exp() };
            (elu64(x, alpha), d)
        }
        Smooth::Selu => {
            let d = if x > 0.0 { l } else { l * a * x.exp() };
            (l * elu64(x, a), d)
        }
        Smooth::Gelu => {
            let cdf = 0.5 * erfc64(-x / std::f64::consts::SQRT_2);
            let pdf = (-x * x / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
            (x * cdf, cdf + x * pdf)
        }
        Smooth::GeluTanh => {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            let t = (k * (x + 0.044715 * x * x * x)).tanh();
            let du = k * (1.0 + 3.0 * 0.044715 * x * x);
            (
                0.5 * x * (1.0 + t),
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du,
            )
        }
        // PyTorch's slopes at the kinks: 0 at the bounds, and Hardswish's 0 at -3, 1 at 3.
        Smooth::Clamp { min, max } => {
            let (min, max) = (min as f64, max as f64);
            let d = if x <= min || x >= max { 0.0 } else { 1.0 };
            (x.clamp(min, max), d)
        }
        Smooth::Hardsigmoid => {
            let d = if x > -3.0 && x < 3.0 { 1.0 / 6.0 } else { 0.0 };
            ((x + 3.0).clamp(0.0, 6.0) / 6.0, d)
        }
        Smooth::Hardswish => {
            let d = match x {
                x if x <= -3.0 => 0.0,
                x if x < 3.0 => x / 3.0 + 0.5,
                _ => 1.0,
            };
            (x * (x + 3.0).clamp(0.0, 6.0) / 6.0, d)
        }
    }
}

/// erfc in f64 to ~1e-15: its Taylor series near 0, a continued fraction in the tails.
fn erfc64(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc64(-x);
    }
    if x < 2.5 {
        // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
        let (mut term, mut sum, mut n) = (x, x, 0.0);
        while term.abs() > 1e-17 * sum.abs() {
            n += 1.0;
            term *= -x * x / n;
            sum += term / (2.0 * n + 1.0);
        }
        return 1.0 - 2.0 / std::f64::consts::PI.sqrt() * sum;
    }
    // Lentz-free backward evaluation of erfc(x) = exp(-x^2)/sqrt(pi) / (x + 1/2/(x + 1/(x + 3/2/(x + ...))))
    let mut f = x;
    for k in (1..200).rev() {
        f = x + (k as f64 / 2.0) / f;
    }
    (-x * x).exp() / std::f64::consts::PI.sqrt() / f
}

const KINDS: [Smooth; 13] = [
    Smooth::Sigmoid,
    Smooth::Tanh,
    Smooth::Silu,
    Smooth::Mish,
    Smooth::Elu { alpha: 1.0 },
    Smooth::Elu { alpha: 0.3 },
    Smooth::Selu,
    Smooth::Gelu,
    Smooth::GeluTanh,
    Smooth::Clamp { min: 0.0, max: 6.0 },
    Smooth::Clamp {
        min: -1.0,
        max: 1.0,
    },
    Smooth::Hardsigmoid,
    Smooth::Hardswish,
];

#[test]
fn exp_is_within_two_ulps_and_never_overflows() {
    for x in inputs() {
        let want = (x as f64).exp();
        let got = exp(x);
        assert!(got.is_finite() && got > 0.0, "exp({x}) = {got}");
        if (EXP_LO..=EXP_HI).contains(&x) {
            let ulp = (want as f32).abs() * f32::EPSILON;
            let err = (got as f64 - want).abs() / ulp as f64;
            assert!(err <= 2.0, "exp({x}): {got} vs {want}, {err:.2} ulp");
        }
    }
}

#[test]
fn the_f64_erfc_is_pythons() {
    // math.erfc(x) for x in 0.5, 2.4, 2.6, 3.0, -1.0, 6.0 (CPython 3.11)
    let want = [
        (0.5, 0.4795001221869535),
        (2.4, 0.0006885138966450789),
        (2.6, 0.00023603441652934908),
        (3.0, 2.2090496998585438e-05),
        (-1.0, 1.842700792949715),
        (6.0, 2.1519736712498916e-17),
    ];
    for (x, w) in want {
        assert!(
            (erfc64(x) - w).abs() <= 1e-12 * w,
            "erfc({x}) = {}, not {w}",
            erfc64(x)
        );
    }
}

#[test]
fn values_and_slopes_match_the_definitions() {
    for kind in KINDS {
        for x in inputs() {
            let (want_y, want_d) = reference(kind, x as f64);
            let y = value(kind, x);
            // The backward pass reads what the layer keeps: its output or its input.
            let kept = if kind.backward_reads_output() { y } else { x };
            let d = slope(kind, kept, 1.0);
            // Errors of a few f32 roundings of the larger of the value and 1; the slopes of
            // sigmoid and tanh come from a rounded output, as PyTorch's do.
            let tol_y = 4e-7 * want_y.abs().max(1.0);
            assert!(
                (y as f64 - want_y).abs() <= tol_y,
                "{kind:?}({x}) = {y}, not {want_y}"
            );
            let tol_d = 6e-7 * want_d.abs().max(1.0);
            assert!(
                (d as f64 - want_d).abs() <= tol_d,
                "{kind:?}'({x}) = {d}, not {want_d}"
            );
            // Nothing subnormal is handed on: exact zeros instead.
            for (what, v) in [("value", y), ("slope", d)] {
                assert!(v == 0.0 || v.is_normal(), "{kind:?}({x}): {what} {v:e}");
            }
        }
    }
}

#[test]
fn nan_and_infinity_pass_as_pytorchs() {
    for kind in KINDS {
        assert!(value(kind, f32::NAN).is_nan(), "{kind:?}(NaN)");
    }
    assert_eq!(value(Smooth::Sigmoid, f32::INFINITY), 1.0);
    assert_eq!(value(Smooth::Sigmoid, f32::NEG_INFINITY), 0.0);
    assert_eq!(value(Smooth::Tanh, f32::NEG_INFINITY), -1.0);
    assert_eq!(value(Smooth::Elu { alpha: 1.0 }, f32::NEG_INFINITY), -1.0);
    assert_eq!(value(Smooth::Mish, f32::INFINITY), f32::INFINITY);
}
