//! `upsample::ycc_row` in AVX2 registers: sixteen pixels at a time, each channel computed as
//! in `ycc_pixel` (32-bit products, arithmetic shifts), clamped by saturating packs and
//! interleaved to R, G, B by byte shuffles. A test sets it beside the portable row.

use std::arch::x86_64::*;

use super::upsample::{
    CB_TO_B, CB_TO_G, CR_TO_G, CR_TO_R, HALF, SCALE_BITS, ycc_row as portable_row,
};

/// For output bytes 16j..16j + 16 of sixteen interleaved pixels: which byte of a channel's
/// sixteen each holds (byte p is pixel p / 3, channel p % 3), 0x80 (zero) where another
/// channel's byte goes.
const fn interleave_mask(j: usize, channel: usize) -> [u8; 16] {
    let mut mask = [0x80u8; 16];
    let mut q = 0;
    while q < 16 {
        let p = 16 * j + q;
        if p % 3 == channel {
            mask[q] = (p / 3) as u8;
        }
        q += 1;
    }
    mask
}

const MASKS: [[[u8; 16]; 3]; 3] = {
    let mut m = [[[0u8; 16]; 3]; 3];
    let mut j = 0;
    while j < 3 {
        let mut c = 0;
        while c < 3 {
            m[j][c] = interleave_mask(j, c);
            c += 1;
        }
        j += 1;
    }
    m
};

/// The channel values (32-bit lanes) of the eight pixels whose Y, Cb and Cr are the low
/// eight bytes of `y`, `cb` and `cr`.
#[target_feature(enable = "avx2")]
#[inline]
fn channels(y: __m128i, cb: __m128i, cr: __m128i) -> [__m256i; 3] {
    let offset = _mm256_set1_epi32(128);
    let l = _mm256_cvtepu8_epi32(y);
    let u = _mm256_sub_epi32(_mm256_cvtepu8_epi32(cb), offset);
    let v = _mm256_sub_epi32(_mm256_cvtepu8_epi32(cr), offset);
    let half = _mm256_set1_epi32(HALF);
    let times = |k: i32, x: __m256i| _mm256_mullo_epi32(_mm256_set1_epi32(k), x);
    let r = _mm256_add_epi32(times(CR_TO_R, v), half);
    let g = _mm256_sub_epi32(_mm256_sub_epi32(half, times(CB_TO_G, u)), times(CR_TO_G, v));
    let b = _mm256_add_epi32(times(CB_TO_B, u), half);
    let shifted = |x: __m256i| _mm256_add_epi32(l, _mm256_srai_epi32::<{ SCALE_BITS as i32 }>(x));
    [shifted(r), shifted(g), shifted(b)]
}

/// Sixteen 32-bit values (two registers) to sixteen bytes, clamped to 0-255.
#[target_feature(enable = "avx2")]
#[inline]
fn to_bytes(lo: __m256i, hi: __m256i) -> __m128i {
    // packs works within 128-bit halves: put the four 64-bit quarters back in order.
    let words = _mm256_permute4x64_epi64::<0b1101_1000>(_mm256_packs_epi32(lo, hi));
    _mm_packus_epi16(
        _mm256_castsi256_si128(words),
        _mm256_extracti128_si256::<1>(words),
    )
}

/// One row of interleaved RGB from full-size rows of Y, Cb and Cr, as `upsample::ycc_row`.
///
/// # Safety
/// The CPU must have AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn ycc_row(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    let n = y.len().min(cb.len()).min(cr.len()).min(out.len() / 3);
    let whole = n / 16 * 16;
    let mut masks = [[_mm_setzero_si128(); 3]; 3];
    for (registers, bytes) in masks.iter_mut().zip(&MASKS) {
        for (register, mask) in registers.iter_mut().zip(bytes) {
            // SAFETY: reads the mask's 16 bytes.
            *register = unsafe { _mm_loadu_si128(mask.as_ptr().cast()) };
        }
    }
    for start in (0..whole).step_by(16) {
        // SAFETY: start + 16 <= n, within each row.
        let (yv, cbv, crv) = unsafe {
            (
                _mm_loadu_si128(y.as_ptr().add(start).cast()),
                _mm_loadu_si128(cb.as_ptr().add(start).cast()),
                _mm_loadu_si128(cr.as_ptr().add(start).cast()),
            )
        };
        // Pixels 0-7, then 8-15.
        let lo = channels(yv, cbv, crv);
        let high = |v: __m128i| _mm_srli_si128::<8>(v);
        let hi = channels(high(yv), high(cbv), high(crv));
        let bytes = [
            to_bytes(lo[0], hi[0]),
            to_bytes(lo[1], hi[1]),
            to_bytes(lo[2], hi[2]),
        ];
        for (j, m) in masks.iter().enumerate() {
            let part = _mm_or_si128(
                _mm_or_si128(
                    _mm_shuffle_epi8(bytes[0], m[0]),
                    _mm_shuffle_epi8(bytes[1], m[1]),
                ),
                _mm_shuffle_epi8(bytes[2], m[2]),
            );
            // SAFETY: bytes 3 * start + 16j .. + 16 lie within out[..3n].
            unsafe { _mm_storeu_si128(out.as_mut_ptr().add(3 * start + 16 * j).cast(), part) };
        }
    }
    portable_row(
        &y[whole..n],
        &cb[whole..n],
        &cr[whole..n],
        &mut out[3 * whole..3 * n],
    );
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    /// Random rows of every length up to 70 (whole blocks of sixteen and the tail) give the
    /// portable row's bytes.
    #[test]
    fn matches_the_portable_row() {
        if !std::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for n in 0..=70 {
            for _ in 0..50 {
                let rows: [Vec<u8>; 3] =
                    std::array::from_fn(|_| (0..n).map(|_| rng.random()).collect());
                let (mut ours, mut portable) = (vec![0u8; 3 * n], vec![0u8; 3 * n]);
                // SAFETY: checked above that the CPU has AVX2.
                unsafe { super::ycc_row(&rows[0], &rows[1], &rows[2], &mut ours) };
                super::portable_row(&rows[0], &rows[1], &rows[2], &mut portable);
                assert_eq!(ours, portable, "{n} pixels: {rows:?}");
            }
        }
    }
}
