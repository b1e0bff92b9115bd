//! The F(4x4, 3x3) matrices (Lavin and Gray's points 0, +-1, +-2 and infinity), their
//! products with one column as factored point functions, and the lane loops that apply
//! them across runs of tiles or filters.
//!
//! Products and sums are each rounded as written (Rust does not fuse them), so the AVX2 build
//! and the plain one give the same bits.

/// B^T: V = B^T d B.
#[cfg(test)]
const BT: [[f32; 6]; 6] = [
    [4.0, 0.0, -5.0, 0.0, 1.0, 0.0],
    [0.0, -4.0, -4.0, 1.0, 1.0, 0.0],
    [0.0, 4.0, -4.0, -1.0, 1.0, 0.0],
    [0.0, -2.0, -1.0, 2.0, 1.0, 0.0],
    [0.0, 2.0, -1.0, -2.0, 1.0, 0.0],
    [0.0, 4.0, 0.0, -5.0, 0.0, 1.0],
];

/// A^T: y = A^T M A.
#[cfg(test)]
const AT: [[f32; 6]; 4] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 0.0],
    [0.0, 1.0, -1.0, 2.0, -2.0, 0.0],
    [0.0, 1.0, 1.0, 4.0, 4.0, 0.0],
    [0.0, 1.0, -1.0, 8.0, -8.0, 1.0],
];

/// row . x, zero coefficients skipped, summed in order. Inlined where `row` is a constant,
/// so the skips and the products by 1 fold away.
#[inline(always)]
fn dot<const K: usize>(row: [f32; K], x: [f32; K]) -> f32 {
    let mut acc: Option<f32> = None;
    for k in 0..K {
        if row[k] != 0.0 {
            let term = row[k] * x[k];
            acc = Some(acc.map_or(term, |a| a + term));
        }
    }
    acc.unwrap_or(0.0)
}

/// The array [expr at i = first, ...]: an array literal, where `[..].map(closure)` was a
/// call per array that the compiler left out of line (7% of a conv's time).
macro_rules! each {
    ($i:ident in [$($n:literal),*] => $e:expr) => {
        [$({
            let $i: usize = $n;
            $e
        }),*]
    };
}
pub(super) use each;

/// The transpose of a matrix.
const fn transposed<const R: usize, const C: usize>(m: &[[f32; C]; R]) -> [[f32; R]; C] {
    let mut t = [[0.0; R]; C];
    let mut r = 0;
    while r < R {
        let mut c = 0;
        while c < C {
            t[c][r] = m[r][c];
            c += 1;
        }
        r += 1;
    }
    t
}

/// The rows of A and B.
#[cfg(test)]
const A: [[f32; 4]; 6] = transposed(&AT);
#[cfg(test)]
const B: [[f32; 6]; 6] = transposed(&BT);

/// G: U = G w G^T.
const G: [[f32; 3]; 6] = [
    [0.25, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

const GT: [[f32; 6]; 3] = transposed(&G);

/// G w for one column w of a 3x3 filter (its six rows; sixths, so not factored).
#[inline(always)]
pub(super) fn g6(w: [f32; 3]) -> [f32; 6] {
    [
        dot(G[0], w),
        dot(G[1], w),
        dot(G[2], w),
        dot(G[3], w),
        dot(G[4], w),
        dot(G[5], w),
    ]
}

/// G^T x for one column x of six values of a tile gradient.
#[inline(always)]
pub(super) fn gt3(x: [f32; 6]) -> [f32; 3] {
    [dot(GT[0], x), dot(GT[1], x), dot(GT[2], x)]
}

/// B^T x for one column x of six values, factored (about 20 operations where the matrix
/// has 21 nonzero entries, with products): rows 1-2 and 3-4 share their sums.
#[inline(always)]
pub(super) fn bt6([d0, d1, d2, d3, d4, d5]: [f32; 6]) -> [f32; 6] {
    let (a, b) = (d3 + d4, d1 + d2);
    let (c, e) = (d4 - d3, d1 - d2);
    let (f, g) = (d4 - d2, d3 - d1);
    [
        4.0 * d0 - 5.0 * d2 + d4,
        a - 4.0 * b,
        c + 4.0 * e,
        f + 2.0 * g,
        f - 2.0 * g,
        4.0 * d1 - 5.0 * d3 + d5,
    ]
}

/// B z (the columns of B^T), factored.
#[inline(always)]
pub(super) fn b6([z0, z1, z2, z3, z4, z5]: [f32; 6]) -> [f32; 6] {
    let (s12, d12, s34, d34) = (z1 + z2, z1 - z2, z3 + z4, z3 - z4);
    [
        4.0 * z0,
        4.0 * (z5 - d12) - 2.0 * d34,
        -5.0 * z0 - 4.0 * s12 - s34,
        d12 + 2.0 * d34 - 5.0 * z5,
        z0 + s12 + s34,
        z5,
    ]
}

/// A^T m, factored.
#[inline(always)]
pub(super) fn at6([m0, m1, m2, m3, m4, m5]: [f32; 6]) -> [f32; 4] {
    let (s12, d12, s34, d34) = (m1 + m2, m1 - m2, m3 + m4, m3 - m4);
    [
        m0 + s12 + s34,
        d12 + 2.0 * d34,
        s12 + 4.0 * s34,
        d12 + 8.0 * d34 + m5,
    ]
}

/// A x (the columns of A^T), factored.
#[inline(always)]
pub(super) fn a4([x0, x1, x2, x3]: [f32; 4]) -> [f32; 6] {
    let (e, o) = (x0 + x2, x1 + x3);
    let (e4, o4) = (x0 + 4.0 * x2, x1 + 4.0 * x3);
    [x0, e + o, e - o, e4 + 2.0 * o4, e4 - 2.0 * o4, x3]
}

/// out[t] = f(ins[.][t])[k] for every t < out's length. One output per loop: with several
/// the compiler cannot tell that they do not overlap, and leaves the loop scalar. Inlined
/// where k is a constant, so only output k's arithmetic is left.
#[inline(always)]
pub(super) fn lane<const I: usize, const O: usize>(
    ins: [&[f32]; I],
    out: &mut [f32],
    k: usize,
    f: impl Fn([f32; I]) -> [f32; O],
) {
    let n = out.len();
    assert!(ins.iter().all(|s| s.len() >= n));
    for (t, o) in out.iter_mut().enumerate() {
        // SAFETY: t < n <= every input's length, asserted above (checked indexing here keeps
        // the loop from vectorizing).
        *o = f(std::array::from_fn(|i| unsafe { *ins[i].get_unchecked(t) }))[k];
    }
}

/// outs[k][t] = f(ins[.][t])[k] for each listed k: `lane` once per output.
macro_rules! lanes {
    ($ins:expr, $outs:expr, $f:expr, [$($k:literal),*]) => {{
        let (ins, outs) = ($ins, $outs);
        $(lane(ins, &mut *outs[$k], $k, $f);)*
    }};
}
pub(super) use lanes;

/// K runs of `len` values in `buf`, the k-th at first + k * step.
#[inline(always)]
pub(super) fn runs<const K: usize>(
    buf: &[f32],
    first: usize,
    step: usize,
    len: usize,
) -> [&[f32]; K] {
    std::array::from_fn(|k| &buf[first + k * step..][..len])
}

/// `runs`, writable; they must not overlap (step >= len).
#[inline(always)]
pub(super) fn runs_mut<const K: usize>(
    buf: &mut [f32],
    first: usize,
    step: usize,
    len: usize,
) -> [&mut [f32]; K] {
    assert!(step >= len && first + (K - 1) * step + len <= buf.len());
    let base = buf.as_mut_ptr();
    // SAFETY: in bounds (asserted) and disjoint (step >= len), all borrowed from `buf`.
    std::array::from_fn(|k| unsafe {
        std::slice::from_raw_parts_mut(base.add(first + k * step), len)
    })
}

#[cfg(test)]
#[path = "winograd_points43_tests.rs"]
mod tests;
