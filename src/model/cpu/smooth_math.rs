//! The scalar formulas under `smooth`'s passes: an exp, sigmoid, tanh and the normal
//! distribution's tails in branch-free f32 arithmetic that vectorizes, and the clamps of the
//! piecewise activations. Each is inlined into `smooth`'s per-kind loops.

/// Below about this, exp(x) is under f32's smallest normal number (e^-87.3365): taken as 0.
pub(super) const EXP_LO: f32 = -87.33;
/// Above this, exp(x) overflows f32: callers clamp or never get there.
pub(super) const EXP_HI: f32 = 88.376_26;

/// exp(x) for x in [EXP_LO, EXP_HI] (inputs outside are clamped), within 2 ulps: 2^n times a
/// degree-7 polynomial on [-ln2/2, ln2/2] (Cody-Waite reduction, Cephes' `expf`
/// coefficients). Branch-free, so a loop of it vectorizes. The rounding to n adds and
/// subtracts 1.5 * 2^23 (round half to even, no `round` call, exact for |n| < 2^22).
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    let x = x.clamp(EXP_LO, EXP_HI);
    let t = x * std::f32::consts::LOG2_E + SHIFT;
    let n = t - SHIFT;
    // ln 2 in two parts: 355/512 (exact in f32, so n * it is too) and the rest.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5e-1;
    let e = r * r * p + r + 1.0;
    // n is in [-126, 127] after the clamp: 2^n is a normal number built from its bits.
    let bits = (t.to_bits() as i32 - SHIFT.to_bits() as i32 + 127) << 23;
    e * f32::from_bits(bits as u32)
}

/// The logistic sigmoid s and 1 - s, each without cancellation, from e = exp(-|x|) (exact 0
/// where it would be subnormal): 1 / (1 + e) is the one of them at least 1/2, e / (1 + e)
/// the other.
#[inline(always)]
pub(super) fn sigmoid_pair(x: f32) -> (f32, f32) {
    let e = exp(-x.abs());
    let e = if -x.abs() < EXP_LO { 0.0 } else { e };
    let big = 1.0 / (1.0 + e);
    let small = e * big;
    if x >= 0.0 { (big, small) } else { (small, big) }
}

#[inline(always)]
pub(super) fn sigmoid(x: f32) -> f32 {
    sigmoid_pair(x).0
}

/// tanh: an odd polynomial near 0 (Cephes' `tanhf`, relative error ~1e-7 where 1 - e would
/// cancel), (1 - e) / (1 + e) with e = exp(-2|x|) elsewhere.
#[inline(always)]
pub(super) fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let near = ((((-5.704_988_7e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1)
        * z
        - 3.333_328e-1)
        * z
        * x
        + x;
    let e = exp(-2.0 * a);
    let far = ((1.0 - e) / (1.0 + e)).copysign(x);
    if a < 0.625 { near } else { far }
}

/// t = tanh(softplus(x)) and 1 - t^2, without a log: with u = e^x, (1 + u)^2 is
/// e^(2 softplus), so t = n / (n + 2) with n = u (u + 2), and 1 - t^2 = 4 (n + 1) / (n + 2)^2
/// (no cancellation as t nears 1). t is 1 in f32 for x above 20, where u is clamped.
#[inline(always)]
pub(super) fn tanh_softplus(x: f32) -> (f32, f32) {
    let u = exp(x.min(20.0));
    let u = if x < EXP_LO { 0.0 } else { u };
    let n = u * (u + 2.0);
    let inv = 1.0 / (n + 2.0);
    (n * inv, 4.0 * (n + 1.0) * inv * inv)
}

/// exp(x), 0 where that would be subnormal.
#[inline(always)]
fn exp_or_zero(x: f32) -> f32 {
    if x < EXP_LO { 0.0 } else { exp(x) }
}

/// The normal distribution's Phi(x) and density phi(x), for the exact GELU. Phi's smaller tail
/// is erfc(|x| / sqrt 2) / 2, from the Chebyshev fit of Numerical Recipes' `erfcc`
/// (fractional error under 1.2e-7 everywhere, so the tail keeps its relative precision
/// where 1 + erf(x) would cancel).
#[inline(always)]
pub(super) fn normal_cdf_pdf(x: f32) -> (f32, f32) {
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_204
                                + t * (1.488_515_9 + t * (-0.822_152_2 + t * 0.170_872_77))))))));
    let half_square = -z * z;
    let tail = 0.5 * t * exp_or_zero(half_square + poly);
    let cdf = if x >= 0.0 { 1.0 - tail } else { tail };
    // 1 / sqrt(2 pi)
    let pdf = 0.398_942_3 * exp_or_zero(half_square);
    (cdf, pdf)
}

/// For GELU's tanh form: s = (1 + tanh(u)) / 2, which is sigmoid(2u) (so its tail keeps its
/// relative precision where 1 + tanh(u) would cancel), 1 - s, and du/dx.
#[inline(always)]
pub(super) fn gelu_tanh_parts(x: f32) -> (f32, f32, f32) {
    const ROOT_2_OVER_PI: f32 = 0.797_884_6;
    const CUBIC: f32 = 0.044_715;
    let u = ROOT_2_OVER_PI * (x + CUBIC * x * x * x);
    let (s, one_minus_s) = sigmoid_pair(2.0 * u);
    (s, one_minus_s, ROOT_2_OVER_PI * (1.0 + 3.0 * CUBIC * x * x))
}

/// alpha * (exp(x) - 1) for x <= 0, x above.
#[inline(always)]
pub(super) fn elu(x: f32, alpha: f32) -> f32 {
    let curve = alpha * (exp(x.min(0.0)) - 1.0);
    // NaN fails both tests and passes through, as in PyTorch.
    if x <= 0.0 { curve } else { x }
}

/// x clamped to [lo, hi], NaN passing through (f32::clamp's bounds checks would stop the
/// loop vectorizing).
#[inline(always)]
pub(super) fn clamp(x: f32, lo: f32, hi: f32) -> f32 {
    if x < lo {
        lo
    } else if x > hi {
        hi
    } else {
        x
    }
}

/// PyTorch's relu6(x + 3) and its division by 6 (a division, as PyTorch's kernel does it).
#[inline(always)]
pub(super) fn relu6_shifted(x: f32) -> f32 {
    clamp(x + 3.0, 0.0, 6.0)
}
