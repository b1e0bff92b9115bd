//! The Q of `torch.nn.init.orthogonal_`, for a matrix of n rows no longer than its m columns:
//! Q = L^-1 A, where L is the lower Cholesky factor of A A^T (L has a positive diagonal, so Q
//! is the QR's Q with R's diagonal made positive, as PyTorch makes it). All in f64, by blocks
//! of `BLOCK` rows, so that nearly all the arithmetic is GEMMs that skip L's zero half:
//! A A^T only on and below the diagonal (about n^2 m / 2 multiply-adds), the factor by column
//! panels (n^3 / 6), and Q block row by block row, each block's earlier rows subtracted in
//! one GEMM (n^2 m / 2). The unblocked version (a full A A^T, L^-1 built column by column in
//! dot products, then a full product) did twice the multiply-adds: vgg-blocks' init, mostly
//! its 2048 x 4096 fc, took 1.47-1.65 s, now 0.79-1.25 s, PyTorch's `orthogonal_` 0.51-0.60 s
//! (bench/orthogonal_speed.py, bench/RESULTS.md).
//!
//! One pass of Cholesky QR loses orthogonality as eps x cond(A)^2; `orthonormal_rows` says
//! when it takes a second.

use gemm::{Parallelism, gemm};

/// Rows per block: GEMMs this thin still run near full speed, and the diagonal blocks
/// (factored and inverted one element at a time) stay a small share of the work.
const BLOCK: usize = 128;

/// Q = L^-1 A for `a`, n x m row-major with n <= m: n orthonormal rows spanning A's.
/// Below two columns a row, a second pass (CholeskyQR2) orthonormalizes the first's Q:
/// a nearly square normal matrix's condition number has a long tail (beyond 100 x its side
/// for about 2 draws in 100), and eps x cond^2 would then show in f32 weights. From twice
/// as many columns as rows the smallest singular value stays near sqrt(m) - sqrt(n), so the
/// condition number stays near 6 and one pass is exact to about 1e-14.
pub(crate) fn orthonormal_rows(a: &[f64], n: usize, m: usize) -> Vec<f64> {
    assert!(n <= m && a.len() == n * m);
    let q = cholesky_qr(a, n, m);
    if m < 2 * n { cholesky_qr(&q, n, m) } else { q }
}

/// One pass of Cholesky QR.
fn cholesky_qr(a: &[f64], n: usize, m: usize) -> Vec<f64> {
    let gram = lower_gram(a, n, m);
    let (l, diagonal_inverses) = cholesky(gram, n);
    forward_solve(&l, &diagonal_inverses, a, n, m)
}

/// A A^T (n x n, row-major), the blocks on and below the diagonal only: block row i is
/// A's rows of block i times the transpose of A's rows up to the end of block i.
fn lower_gram(a: &[f64], n: usize, m: usize) -> Vec<f64> {
    let mut g = vec![0f64; n * n];
    for i0 in (0..n).step_by(BLOCK) {
        let rows = BLOCK.min(n - i0);
        let dst = Strided::rows(&mut g[i0 * n..], n);
        let lhs = (&a[i0 * m..], (m, 1));
        let transposed = (a, (1, m));
        product(rows, i0 + rows, m, dst, lhs, transposed, Product::Set);
    }
    g
}

/// L with L L^T = `g` (left-looking by column panels: each panel first loses the products
/// of the columns before it, then its diagonal block is factored and the rows below are
/// solved against it), and the inverses of L's diagonal blocks, which the solve reuses.
fn cholesky(mut g: Vec<f64>, n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut l = vec![0f64; n * n];
    let mut inverses = Vec::new();
    for k0 in (0..n).step_by(BLOCK) {
        let kb = BLOCK.min(n - k0);
        if k0 > 0 {
            // g[k0.., panel] -= L[k0.., ..k0] L[panel, ..k0]^T
            let dst = Strided::rows(&mut g[k0 * n + k0..], n);
            let lhs = (&l[k0 * n..], (n, 1));
            let transposed = (&l[k0 * n..], (1, n));
            product(n - k0, kb, k0, dst, lhs, transposed, Product::Subtract);
        }
        let diagonal = unblocked_cholesky(&g, n, k0, kb);
        let inverse = lower_inverse(&diagonal, kb);
        for (r, row) in diagonal.chunks_exact(kb).enumerate() {
            l[(k0 + r) * n + k0..][..kb].copy_from_slice(row);
        }
        let below = n - k0 - kb;
        if below > 0 {
            // L[below, panel] = g[below, panel] (L_kk^-1)^T
            let dst = Strided::rows(&mut l[(k0 + kb) * n + k0..], n);
            let lhs = (&g[(k0 + kb) * n + k0..], (n, 1));
            let transposed = (&inverse[..], (1, kb));
            product(below, kb, kb, dst, lhs, transposed, Product::Set);
        }
        inverses.push(inverse);
    }
    (l, inverses)
}

/// Q's block rows in order: Q_i = L_ii^-1 (A_i - L[i, ..i] Q[..i]).
fn forward_solve(l: &[f64], inverses: &[Vec<f64>], a: &[f64], n: usize, m: usize) -> Vec<f64> {
    let mut q = vec![0f64; n * m];
    for (i0, inverse) in (0..n).step_by(BLOCK).zip(inverses) {
        let rows = BLOCK.min(n - i0);
        let mut rest = a[i0 * m..(i0 + rows) * m].to_vec();
        let (done, todo) = q.split_at_mut(i0 * m);
        if i0 > 0 {
            let lhs = (&l[i0 * n..], (n, 1));
            let solved = (&*done, (m, 1));
            let dst = Strided::rows(&mut rest, m);
            product(rows, m, i0, dst, lhs, solved, Product::Subtract);
        }
        let dst = Strided::rows(&mut todo[..rows * m], m);
        product(
            rows,
            m,
            rows,
            dst,
            (inverse, (rows, 1)),
            (&rest, (m, 1)),
            Product::Set,
        );
    }
    q
}

/// The Cholesky factor of g's kb x kb block at (k0, k0), row-major, read from its lower half.
fn unblocked_cholesky(g: &[f64], n: usize, k0: usize, kb: usize) -> Vec<f64> {
    let mut l = vec![0f64; kb * kb];
    for i in 0..kb {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|p| l[i * kb + p] * l[j * kb + p]).sum();
            let s = g[(k0 + i) * n + k0 + j] - dot;
            l[i * kb + j] = if i == j {
                // A random normal matrix's Gram is positive definite; the floor only keeps
                // a degenerate draw from dividing by zero.
                s.max(f64::MIN_POSITIVE).sqrt()
            } else {
                s / l[j * kb + j]
            };
        }
    }
    l
}

/// The inverse of the kb x kb lower triangular `l` (row-major), column by column:
/// x_i = (e_c[i] - l[i][c..i] . x[c..i]) / l[i][i].
fn lower_inverse(l: &[f64], kb: usize) -> Vec<f64> {
    let mut inv = vec![0f64; kb * kb];
    for c in 0..kb {
        for i in c..kb {
            let dot: f64 = (c..i).map(|p| l[i * kb + p] * inv[p * kb + c]).sum();
            let rhs = if i == c { 1.0 } else { 0.0 };
            inv[i * kb + c] = (rhs - dot) / l[i * kb + i];
        }
    }
    inv
}

/// What a product does to its destination.
#[derive(Clone, Copy)]
enum Product {
    Set,
    Subtract,
}

/// A row-major destination whose rows lie `row_stride` apart.
struct Strided<'a> {
    data: &'a mut [f64],
    row_stride: usize,
}

impl<'a> Strided<'a> {
    fn rows(data: &'a mut [f64], row_stride: usize) -> Self {
        Strided { data, row_stride }
    }
}

/// A matrix operand: its first element onward, and its (row, column) strides.
type Operand<'a> = (&'a [f64], (usize, usize));

/// dst[rows, cols] = (or -=) lhs[rows, depth] rhs[depth, cols], spread over the cores.
fn product(
    rows: usize,
    cols: usize,
    depth: usize,
    dst: Strided,
    lhs: Operand,
    rhs: Operand,
    op: Product,
) {
    let reach = |r: usize, c: usize, (rs, cs): (usize, usize)| match (r, c) {
        (0, _) | (_, 0) => 0,
        _ => (r - 1) * rs + (c - 1) * cs + 1,
    };
    assert!(reach(rows, cols, (dst.row_stride, 1)) <= dst.data.len());
    assert!(reach(rows, depth, lhs.1) <= lhs.0.len());
    assert!(reach(depth, cols, rhs.1) <= rhs.0.len());
    let (keep, scale) = match op {
        Product::Set => (false, 1.0),
        Product::Subtract => (true, -1.0),
    };
    // SAFETY: every element gemm reads or writes lies inside the slices (asserted above);
    // dst is borrowed mutably, so it overlaps neither operand.
    unsafe {
        gemm(
            rows,
            cols,
            depth,
            dst.data.as_mut_ptr(),
            1,
            dst.row_stride as isize,
            keep,
            lhs.0.as_ptr(),
            lhs.1.1 as isize,
            lhs.1.0 as isize,
            rhs.0.as_ptr(),
            rhs.1.1 as isize,
            rhs.1.0 as isize,
            if keep { 1.0 } else { 0.0 },
            scale,
            false,
            false,
            false,
            Parallelism::Rayon(0),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn random(n: usize, m: usize, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..n * m).map(|_| rng.random_range(-1.0..1.0)).collect()
    }

    /// Modified Gram-Schmidt, row by row: the same Q (rows orthonormal, each row's leading
    /// coefficient positive), computed the textbook way.
    fn gram_schmidt(a: &[f64], n: usize, m: usize) -> Vec<f64> {
        let mut q = a.to_vec();
        for i in 0..n {
            for j in 0..i {
                let (before, row) = q.split_at_mut(i * m);
                let qj = &before[j * m..(j + 1) * m];
                let r: f64 = qj.iter().zip(&row[..m]).map(|(x, y)| x * y).sum();
                row[..m].iter_mut().zip(qj).for_each(|(y, x)| *y -= r * x);
            }
            let row = &mut q[i * m..(i + 1) * m];
            let norm = row.iter().map(|x| x * x).sum::<f64>().sqrt();
            row.iter_mut().for_each(|x| *x /= norm);
        }
        q
    }

    /// The largest |Q Q^T - I|.
    fn orthogonality_error(q: &[f64], n: usize, m: usize) -> f64 {
        let mut worst = 0f64;
        for i in 0..n {
            for j in 0..=i {
                let dot: f64 = (0..m).map(|k| q[i * m + k] * q[j * m + k]).sum();
                worst = worst.max((dot - if i == j { 1.0 } else { 0.0 }).abs());
            }
        }
        worst
    }

    #[test]
    fn a_nearly_singular_square_matrix_still_gets_orthonormal_rows() {
        // The last row a hair off the one before it: one pass alone leaves Q Q^T off by
        // 0.42 here (eps x cond(A)^2), where a second brings it to rounding.
        let n = 200;
        let mut a = random(n, n, 7);
        let nudge = random(1, n, 8);
        for k in 0..n {
            a[(n - 1) * n + k] = a[(n - 2) * n + k] + 1e-6 * nudge[k];
        }
        let error = orthogonality_error(&orthonormal_rows(&a, n, n), n, n);
        assert!(error < 1e-12, "Q Q^T - I up to {error:e}");
    }

    #[test]
    fn matches_gram_schmidt_across_blocks() {
        // 300 rows: two full blocks and a ragged one; square, wide, and one row.
        for (n, m) in [(300, 300), (300, 700), (1, 5), (BLOCK, BLOCK + 1)] {
            let a = random(n, m, n as u64 + m as u64);
            let q = orthonormal_rows(&a, n, m);
            let want = gram_schmidt(&a, n, m);
            let worst = q
                .iter()
                .zip(&want)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-9, "{n} x {m}: |Q - Q_mgs| up to {worst:e}");
            let off = orthogonality_error(&q, n, m);
            assert!(off < 1e-13, "{n} x {m}: Q Q^T - I up to {off:e}");
        }
    }
}
