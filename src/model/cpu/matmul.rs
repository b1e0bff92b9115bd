//! The GEMM calls of the CPU convolutions, on plain row-major (or strided) `f32` slices,
//! single-threaded: the callers split the work over images themselves.

use std::mem::MaybeUninit;

use gemm::{Parallelism, gemm};

/// dst[m, n] (+)= lhs[m, k] * rhs[k, n], all row-major unless the strides (between rows,
/// between columns) say otherwise. `accumulate` adds to what is in `dst`.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    lhs: &[f32],
    lhs_strides: (isize, isize),
    rhs: &[f32],
    rhs_strides: (isize, isize),
    accumulate: bool,
) {
    assert!(dst.len() >= m * n);
    // SAFETY: dst holds m x n initialized values (asserted).
    unsafe {
        gemm_raw(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            n,
            lhs,
            lhs_strides,
            rhs,
            rhs_strides,
            accumulate,
        )
    }
}

/// dst[m, n] = lhs[m, k] * rhs[k, n] (strides as for `matmul`) into uninitialized memory;
/// returns dst's first m x n values, now written.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul_uninit<'a>(
    m: usize,
    n: usize,
    k: usize,
    dst: &'a mut [MaybeUninit<f32>],
    lhs: &[f32],
    lhs_strides: (isize, isize),
    rhs: &[f32],
    rhs_strides: (isize, isize),
) -> &'a mut [f32] {
    assert!(dst.len() >= m * n);
    let dst = dst.as_mut_ptr().cast::<f32>();
    // SAFETY: without `accumulate`, gemm only writes dst, every one of its m x n elements
    // (asserted in bounds), which are then valid f32s.
    unsafe {
        gemm_raw(m, n, k, dst, n, lhs, lhs_strides, rhs, rhs_strides, false);
        std::slice::from_raw_parts_mut(dst, m * n)
    }
}

/// Whether a rows x cols matrix with `strides` (non-negative) lies inside `len` elements.
fn fits(len: usize, rows: usize, cols: usize, strides: (isize, isize)) -> bool {
    let (rs, cs) = (strides.0.max(0) as usize, strides.1.max(0) as usize);
    strides.0 >= 0
        && strides.1 >= 0
        && (rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < len)
}

/// The one `gemm` call, behind `matmul`, `matmul_uninit` and the tiles of
/// `add_product_nt`.
///
/// # Safety
/// `dst` points to m rows of n f32s, `dst_row_stride` apart, initialized when `accumulate`
/// (only then read).
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_row_stride: usize,
    lhs: &[f32],
    lhs_strides: (isize, isize),
    rhs: &[f32],
    rhs_strides: (isize, isize),
    accumulate: bool,
) {
    assert!(fits(lhs.len(), m, k, lhs_strides) && fits(rhs.len(), k, n, rhs_strides));
    // SAFETY: lhs and rhs are read inside their slices (asserted); dst per the caller.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_row_stride as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_strides.1,
            lhs_strides.0,
            rhs.as_ptr(),
            rhs_strides.1,
            rhs_strides.0,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// dst (+)= a * b^T for a `[m, k]` and b `[n, k]`, both row-major: the form of every weight
/// gradient (output gradient times patches, both laid out along the image). An empty `dst`
/// is filled with the product (written, never 0-filled and read back: 4.7 MB a chunk on a
/// 256 -> 512 conv); otherwise the product is added to its m x n values.
///
/// With fewer than 64 rows and long rows, the product is done in dst tiles of at most
/// 16 x 16, for which gemm takes its dot-product kernels that read a and b where they lie.
/// One gemm over the whole product first gathers a's columns into a panel, rows `k` floats
/// apart; at k = 1024 (a 32 x 32 image) that stride is 4 KiB and every row falls in the same
/// cache set. Measured on one core (best of 50): cifar-cnn's first conv (m = 15, n = 27,
/// k = 1024) 49-53 GFLOP/s by tiles against 21-32 by panel; m = 45, n = 15, k = 1024 50
/// against 41; m = 32, n = 9, k = 784, 53 against 45 (mnist-cnn's own first conv, m = 10, is
/// level: 53 both ways). At k = 256 or from m = 64 the
/// panel is faster (57-100 against 44-59).
pub(super) fn add_product_nt(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut Vec<f32>,
    a: &[f32],
    b: &[f32],
) {
    let (a_s, b_t) = ((k as isize, 1), (1, k as isize));
    if m < 64 && k >= 512 {
        if dst.is_empty() {
            dst.resize(m * n, 0.0);
        }
        add_product_nt_by_tiles(m, n, k, dst, a, b);
    } else if dst.is_empty() {
        dst.reserve_exact(m * n);
        let spare = dst.spare_capacity_mut();
        matmul_uninit(m, n, k, spare, a, a_s, b, b_t);
        // SAFETY: matmul_uninit wrote all m * n values.
        unsafe { dst.set_len(m * n) };
    } else {
        matmul(m, n, k, dst, a, a_s, b, b_t, true);
    }
}

/// dst[m, n] += a[m, k] * b[n, k]^T in dst tiles of at most 16 x 16 (see `add_product_nt`).
fn add_product_nt_by_tiles(m: usize, n: usize, k: usize, dst: &mut [f32], a: &[f32], b: &[f32]) {
    const TILE: usize = 16;
    assert!(dst.len() >= m * n);
    let (a_s, b_t) = ((k as isize, 1), (1, k as isize));
    for r in (0..m).step_by(TILE) {
        let rows = TILE.min(m - r);
        for c in (0..n).step_by(TILE) {
            let cols = TILE.min(n - c);
            let (a, b) = (&a[r * k..], &b[c * k..]);
            // SAFETY: the rows x cols block of dst at (r, c), rows n apart, lies inside dst
            // (asserted above) and is initialized.
            unsafe {
                let at = dst.as_mut_ptr().add(r * n + c);
                gemm_raw(rows, cols, k, at, n, a, a_s, b, b_t, true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::add_product_nt;
    use crate::model::cpu::conv_kernels::tests::values;

    /// a * b^T in f64, the definition.
    fn product_nt(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f64> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|t| a[i * k + t] as f64 * b[j * k + t] as f64)
                    .sum();
            }
        }
        out
    }

    /// Both ways (by tiles: fewer than 64 rows, rows of 512 or more; one gemm otherwise),
    /// tile remainders included: the first call fills an empty dst, the second adds to it.
    #[test]
    fn add_product_nt_fills_then_adds_the_product() {
        for (m, n, k) in [(20, 27, 600), (15, 9, 1024), (70, 9, 600), (5, 3, 100)] {
            let (a, b) = (values(m * k, 11), values(n * k, 12));
            let want = product_nt(m, n, k, &a, &b);
            let mut dst = Vec::new();
            add_product_nt(m, n, k, &mut dst, &a, &b);
            add_product_nt(m, n, k, &mut dst, &a, &b);
            assert_eq!(dst.len(), m * n);
            for (i, (&got, &w)) in dst.iter().zip(&want).enumerate() {
                let err = (got as f64 - 2.0 * w).abs();
                assert!(
                    err < 1e-3 * (1.0 + w.abs()),
                    "{m}x{n}x{k} [{i}]: {got} vs {}",
                    2.0 * w
                );
            }
        }
    }
}
