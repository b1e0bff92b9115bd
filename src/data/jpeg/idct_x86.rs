//! The inverse DCT of `idct` with each step's eight lanes in one AVX2 register, and the
//! block's two transposes and its final clamp as shuffles and saturating packs, as
//! libjpeg-turbo's SIMD code does them. The arithmetic is `idct::transform`'s, step for step,
//! so the samples are the same; a test sets both side by side on random blocks.

use std::arch::x86_64::*;

use super::idct::{Lanes, PASS1_SHIFT, PASS2_SHIFT, transform};

/// Eight 32-bit lanes in an AVX2 register. Made only inside [`islow`], which runs only where
/// the CPU has AVX2.
#[derive(Clone, Copy)]
struct I32x8(__m256i);

// SAFETY (every intrinsic below): an I32x8 exists only inside `islow`, whose caller has
// checked that the CPU has AVX2.
impl Lanes for I32x8 {
    #[inline(always)]
    fn add(self, b: Self) -> Self {
        I32x8(unsafe { _mm256_add_epi32(self.0, b.0) })
    }

    #[inline(always)]
    fn sub(self, b: Self) -> Self {
        I32x8(unsafe { _mm256_sub_epi32(self.0, b.0) })
    }

    #[inline(always)]
    fn mul(self, c: i32) -> Self {
        I32x8(unsafe { _mm256_mullo_epi32(self.0, _mm256_set1_epi32(c)) })
    }

    #[inline(always)]
    fn shl(self, n: u32) -> Self {
        I32x8(unsafe { _mm256_sll_epi32(self.0, _mm_cvtsi32_si128(n as i32)) })
    }

    #[inline(always)]
    fn descale(self, n: u32) -> Self {
        let rounded = self.add(I32x8(unsafe { _mm256_set1_epi32(1 << (n - 1)) }));
        I32x8(unsafe { _mm256_sra_epi32(rounded.0, _mm_cvtsi32_si128(n as i32)) })
    }
}

/// An 8x8 matrix of 32-bit values, one row a register, transposed: pairs of rows
/// interleaved as 32-bit, then 64-bit values, then the 128-bit halves exchanged.
#[target_feature(enable = "avx2")]
#[inline]
fn transpose(r: [I32x8; 8]) -> [I32x8; 8] {
    let r = r.map(|v| v.0);
    let (t0, t1) = (
        _mm256_unpacklo_epi32(r[0], r[1]),
        _mm256_unpackhi_epi32(r[0], r[1]),
    );
    let (t2, t3) = (
        _mm256_unpacklo_epi32(r[2], r[3]),
        _mm256_unpackhi_epi32(r[2], r[3]),
    );
    let (t4, t5) = (
        _mm256_unpacklo_epi32(r[4], r[5]),
        _mm256_unpackhi_epi32(r[4], r[5]),
    );
    let (t6, t7) = (
        _mm256_unpacklo_epi32(r[6], r[7]),
        _mm256_unpackhi_epi32(r[6], r[7]),
    );
    // Columns 0 and 4 of rows 0-3, then 1 and 5, 2 and 6, 3 and 7; u4-u7 the same of rows 4-7.
    let (u0, u1) = (_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2));
    let (u2, u3) = (_mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3));
    let (u4, u5) = (_mm256_unpacklo_epi64(t4, t6), _mm256_unpackhi_epi64(t4, t6));
    let (u6, u7) = (_mm256_unpacklo_epi64(t5, t7), _mm256_unpackhi_epi64(t5, t7));
    [
        _mm256_permute2x128_si256::<0x20>(u0, u4),
        _mm256_permute2x128_si256::<0x20>(u1, u5),
        _mm256_permute2x128_si256::<0x20>(u2, u6),
        _mm256_permute2x128_si256::<0x20>(u3, u7),
        _mm256_permute2x128_si256::<0x31>(u0, u4),
        _mm256_permute2x128_si256::<0x31>(u1, u5),
        _mm256_permute2x128_si256::<0x31>(u2, u6),
        _mm256_permute2x128_si256::<0x31>(u3, u7),
    ]
    .map(I32x8)
}

/// `idct::islow` in AVX2 registers.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn islow(block: &[i16; 64], quant: &[i32; 64], out: &mut [u8], stride: usize) {
    assert!(out.len() >= 7 * stride + 8, "a block's rows fit the plane");
    let mut rows = [I32x8(_mm256_setzero_si256()); 8];
    for (r, row) in rows.iter_mut().enumerate() {
        // In bounds: row r is block[8r..8r + 8] (16 bytes), its table quant[8r..8r + 8].
        let (coef, q) = unsafe {
            (
                _mm_loadu_si128(block.as_ptr().add(8 * r).cast()),
                _mm256_loadu_si256(quant.as_ptr().add(8 * r).cast()),
            )
        };
        *row = I32x8(_mm256_mullo_epi32(_mm256_cvtepi16_epi32(coef), q));
    }
    let mut ws = transform(rows);
    for v in &mut ws {
        *v = v.descale(PASS1_SHIFT);
    }
    let mut px = transform(transpose(ws));
    for v in &mut px {
        *v = v.descale(PASS2_SHIFT).add(I32x8(_mm256_set1_epi32(128)));
    }
    let px = transpose(px).map(|v| v.0);
    // Saturating packs clamp to 0-255 as `idct::islow` does: 32 to 16 bits, then 16 to 8.
    // Each pack works within 128-bit halves; the permute puts each row's 8 bytes together.
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (half, p) in px.chunks_exact(4).enumerate() {
        let (a, b) = (
            _mm256_packs_epi32(p[0], p[1]),
            _mm256_packs_epi32(p[2], p[3]),
        );
        let bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(a, b), order);
        let mut rows = [0u8; 32];
        // SAFETY: `rows` holds the 32 bytes stored.
        unsafe { _mm256_storeu_si256(rows.as_mut_ptr().cast(), bytes) };
        for (r, row) in rows.chunks_exact(8).enumerate() {
            let at = (4 * half + r) * stride;
            out[at..at + 8].copy_from_slice(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Random blocks, with coefficients and tables from small to large (where sums wrap),
    /// give the same samples here as in `idct::islow`.
    #[test]
    fn matches_the_portable_transform() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for trial in 0..20_000 {
            let (span, qmax) = [(16, 16), (256, 64), (2048, 255), (32768, 65535)][trial % 4];
            let block: [i16; 64] = std::array::from_fn(|i| {
                // Sparse blocks too, as real ones are.
                if i > 0 && rng.random_ratio(1, 3) {
                    0
                } else {
                    rng.random_range(-span..span) as i16
                }
            });
            let quant: [i32; 64] = std::array::from_fn(|_| rng.random_range(1..=qmax));
            let (mut ours, mut portable) = ([0u8; 80], [0u8; 80]);
            // SAFETY: checked above that the CPU has AVX2.
            unsafe { islow(&block, &quant, &mut ours, 10) };
            super::super::idct::islow(&block, &quant, &mut portable, 10);
            assert_eq!(ours, portable, "trial {trial}: {block:?} {quant:?}");
        }
    }
}
