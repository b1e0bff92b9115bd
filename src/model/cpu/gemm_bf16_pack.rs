//! The vector half of `gemm_bf16::pack`: blocks of 16 lines (A's rows or B's columns) rounded
//! to bf16 and laid out as the micro-kernel reads them, `[panel][k / 2][width]` pairs along k.
//! Two layouts come from the convolutions:
//! - lines along memory (a row-major B, a transposed A): two k rows of 16 lines are rounded by
//!   one `vcvtne2ps2bf16` and interleaved into pairs by `vpermw`;
//! - k along memory (the weight gradient's operands, a row-major A): 32 k values of each of 16
//!   lines round to 16 pairs in one vector, and a 16 x 16 transpose of 32-bit lanes turns 16
//!   such vectors into one vector of lines per pair.
//!
//! Both round to nearest, ties to even, as `bf16_bits` does (the tests compare the bits).

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

/// Element kk of line l is `src[l * line_stride + kk * k_stride]`, kk < k.
pub(super) struct Source<'a> {
    pub src: &'a [f32],
    pub line_stride: usize,
    pub k_stride: usize,
    pub k: usize,
}

/// Packs the first `lines / 16 * 16` lines (every k pair) into `out` and returns how many.
///
/// # Safety
/// The CPU has AVX512F, AVX512BW and AVX512-BF16; one of the strides is 1; `src` holds every
/// element of `lines` lines; `out` holds `lines.div_ceil(width)` panels of `k.div_ceil(2)`
/// pairs of `width`, which is 8 or a multiple of 16.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
pub(super) unsafe fn pack_blocks(out: &mut [u32], lines: usize, width: usize, s: &Source) -> usize {
    assert!(width == 8 || width.is_multiple_of(16));
    let blocks = lines / 16;
    for b in 0..blocks {
        // SAFETY: as this function's.
        unsafe {
            if s.line_stride == 1 {
                across(out, 16 * b, width, s);
            } else {
                along(out, 16 * b, width, s);
            }
        }
    }
    16 * blocks
}

/// Pair q of lines l0..l0 + 16 (`v`'s 16 lanes) into their places in the panels.
///
/// # Safety
/// As `pack_blocks`'s, and l0 + 16 <= the packed lines.
#[inline(always)]
unsafe fn store(out: &mut [u32], kp: usize, width: usize, l0: usize, q: usize, v: __m512i) {
    let at = |l: usize| (l / width * kp + q) * width + l % width;
    // SAFETY: every index is inside the panels of lines l0..l0 + 16 (the caller's contract).
    unsafe {
        if width == 8 {
            let p = out.as_mut_ptr();
            _mm256_storeu_si256(p.add(at(l0)).cast(), _mm512_castsi512_si256(v));
            _mm256_storeu_si256(p.add(at(l0 + 8)).cast(), _mm512_extracti64x4_epi64(v, 1));
        } else {
            assert!(at(l0) + 16 <= out.len());
            _mm512_storeu_si512(out.as_mut_ptr().add(at(l0)).cast(), v);
        }
    }
}

/// Lines along memory (`line_stride == 1`).
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn across(out: &mut [u32], l0: usize, width: usize, s: &Source) {
    let kp = s.k.div_ceil(2);
    let interleave: [u16; 32] = std::array::from_fn(|i| (i / 2 + 16 * (i % 2)) as u16);
    // SAFETY: `interleave` holds the 32 u16 of one vector.
    let perm = unsafe { _mm512_loadu_si512(interleave.as_ptr().cast()) };
    for q in 0..kp {
        let row = |kk: usize| &s.src[kk * s.k_stride + l0..][..16];
        // SAFETY: each row slice holds 16 f32 (bounds-checked above); `store` as ours.
        unsafe {
            let lo = _mm512_loadu_ps(row(2 * q).as_ptr());
            let hi = if 2 * q + 1 < s.k {
                _mm512_loadu_ps(row(2 * q + 1).as_ptr())
            } else {
                _mm512_setzero_ps()
            };
            let both: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
            store(out, kp, width, l0, q, _mm512_permutexvar_epi16(perm, both));
        }
    }
}

/// k along memory (`k_stride == 1`): 16 pairs at a time through a transpose, the last
/// k % 32 values of each line one pair at a time.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn along(out: &mut [u32], l0: usize, width: usize, s: &Source) {
    let kp = s.k.div_ceil(2);
    let full = s.k / 32;
    for qb in 0..full {
        let mut v = [_mm512_setzero_si512(); 16];
        for (i, v) in v.iter_mut().enumerate() {
            let line = &s.src[(l0 + i) * s.line_stride + 32 * qb..][..32];
            // SAFETY: `line` holds 32 f32 (bounds-checked).
            unsafe {
                let lo = _mm512_loadu_ps(line.as_ptr());
                let hi = _mm512_loadu_ps(line.as_ptr().add(16));
                *v = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo));
            }
        }
        let t = transpose16(v);
        for (j, t) in t.into_iter().enumerate() {
            // SAFETY: as ours.
            unsafe { store(out, kp, width, l0, 16 * qb + j, t) };
        }
    }
    for q in 16 * full..kp {
        let pair: [u32; 16] = std::array::from_fn(|i| {
            let at = |kk: usize| {
                if kk < s.k {
                    super::gemm_bf16::bf16_bits(s.src[(l0 + i) * s.line_stride + kk])
                } else {
                    0
                }
            };
            at(2 * q) | at(2 * q + 1) << 16
        });
        // SAFETY: `pair` holds 16 u32; `store` as ours.
        unsafe {
            store(
                out,
                kp,
                width,
                l0,
                q,
                _mm512_loadu_si512(pair.as_ptr().cast()),
            )
        };
    }
}

/// The 16 x 16 transpose of 32-bit lanes: lane j of row i becomes lane i of row j. Pairs of
/// rows interleave by 32 then 64 bits, which leaves each 128-bit lane L of result 4g + j
/// holding column 4L + j of rows 4g..4g + 4; two rounds of 128-bit shuffles gather those.
#[target_feature(enable = "avx512f")]
pub(super) fn transpose16(r: [__m512i; 16]) -> [__m512i; 16] {
    let t: [__m512i; 16] = std::array::from_fn(|i| {
        let (a, b) = (r[i & !1], r[i | 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_epi32(a, b)
        } else {
            _mm512_unpackhi_epi32(a, b)
        }
    });
    // u[4g + j], j = 0..4: columns 4L + j of rows 4g..4g + 4 in lane L.
    let u: [__m512i; 16] = std::array::from_fn(|i| {
        let (g, j) = (i / 4, i % 4);
        let (a, b) = (t[4 * g + j / 2], t[4 * g + 2 + j / 2]);
        if j % 2 == 0 {
            _mm512_unpacklo_epi64(a, b)
        } else {
            _mm512_unpackhi_epi64(a, b)
        }
    });
    let mut out = [_mm512_setzero_si512(); 16];
    for j in 0..4 {
        let v1 = _mm512_shuffle_i32x4::<0x44>(u[j], u[4 + j]);
        let v2 = _mm512_shuffle_i32x4::<0xee>(u[j], u[4 + j]);
        let w1 = _mm512_shuffle_i32x4::<0x44>(u[8 + j], u[12 + j]);
        let w2 = _mm512_shuffle_i32x4::<0xee>(u[8 + j], u[12 + j]);
        out[j] = _mm512_shuffle_i32x4::<0x88>(v1, w1);
        out[4 + j] = _mm512_shuffle_i32x4::<0xdd>(v1, w1);
        out[8 + j] = _mm512_shuffle_i32x4::<0x88>(v2, w2);
        out[12 + j] = _mm512_shuffle_i32x4::<0xdd>(v2, w2);
    }
    out
}
