//! A packed for the AMX kernel (`gemm_bf16_amx`): blocks of 16 rows, each row's k as bf16
//! pairs along memory, padded with zeros to whole tiles of 16 pairs: `[m / 16][16][kpad]`.
//! An A tile is then 16 rows of 64 bytes, `kpad * 4` bytes apart, read where they lie.
//! Rounded to nearest, ties to even, as `gemm_bf16::bf16_bits` (the tests compare the bits):
//! - k along memory (a row-major A): 32 values of a row round to its next 16 pairs in one
//!   `vcvtne2ps2bf16`, already in place;
//! - rows along memory (a transposed A): two k rows of 16 lines round to 16 pairs as the
//!   B packing's do, and a 16 x 16 transpose turns 16 such vectors into 16 rows of pairs.

#![cfg(target_arch = "x86_64")]

use std::arch::x86_64::*;

use super::gemm_bf16::bf16_bits;
use super::gemm_bf16_pack::transpose16;

/// Rows per block, and k pairs per tile.
pub(super) const ROWS: usize = 16;

/// k pairs per packed row: k / 2, rounded up to whole tiles.
pub(super) fn padded_pairs(k: usize) -> usize {
    k.div_ceil(2).div_ceil(ROWS) * ROWS
}

/// u32s of a packed A of m rows.
pub(super) fn packed_len(m: usize, k: usize) -> usize {
    m.div_ceil(ROWS) * ROWS * padded_pairs(k)
}

/// `out` (exactly `packed_len(lines, k)` long) = the lines (A's rows) packed; element kk of
/// line l is `src[l * line_stride + kk * k_stride]`.
pub(super) fn pack(
    out: &mut [u32],
    lines: usize,
    k: usize,
    src: &[f32],
    (line_stride, k_stride): (usize, usize),
) {
    assert!(out.len() == packed_len(lines, k) && super::gemm_bf16::on_amx());
    if lines == 0 || k == 0 {
        out.fill(0);
        return;
    }
    assert!(src.len() > (lines - 1) * line_stride + (k - 1) * k_stride);
    let s = Source {
        src,
        line_stride,
        k_stride,
        k,
        lines,
    };
    let kpad = padded_pairs(k);
    for (b, block) in out.chunks_exact_mut(ROWS * kpad).enumerate() {
        // SAFETY: the CPU has AVX512F/BW/BF16 (asserted: `on_amx` requires
        // `gemm_bf16::available`, which checks them); `src` holds every element of the lines
        // (asserted) and the loads are masked to the lines and k that exist.
        unsafe {
            if k_stride == 1 {
                rows_along_k(block, ROWS * b, &s);
            } else if line_stride == 1 {
                rows_across(block, ROWS * b, &s);
            } else {
                block.fill(0);
                for l in ROWS * b..lines.min(ROWS * (b + 1)) {
                    let row = &mut block[(l - ROWS * b) * kpad..][..kpad];
                    for (q, pair) in row.iter_mut().enumerate() {
                        let at = |kk: usize| {
                            if kk < k {
                                bf16_bits(src[l * line_stride + kk * k_stride])
                            } else {
                                0
                            }
                        };
                        *pair = at(2 * q) | at(2 * q + 1) << 16;
                    }
                }
            }
        }
    }
}

struct Source<'a> {
    src: &'a [f32],
    line_stride: usize,
    k_stride: usize,
    k: usize,
    lines: usize,
}

/// Mask of the first `n` of 16 lanes (n clamped to 0..=16).
fn first(n: usize) -> __mmask16 {
    if n >= 16 { !0 } else { (1u16 << n) - 1 }
}

/// The 16 rows from line l0 (zeros past the last line), k along memory.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn rows_along_k(block: &mut [u32], l0: usize, s: &Source) {
    let kpad = padded_pairs(s.k);
    for i in 0..ROWS {
        let row = &mut block[i * kpad..][..kpad];
        if l0 + i >= s.lines {
            row.fill(0);
            continue;
        }
        let line = &s.src[(l0 + i) * s.line_stride..][..s.k];
        for (qb, pairs) in row.chunks_exact_mut(ROWS).enumerate() {
            let at = 32 * qb;
            let (lo, hi) = (
                first(s.k.saturating_sub(at)),
                first(s.k.saturating_sub(at + 16)),
            );
            // SAFETY: the loads are masked to the k values of `line` from `at` on (a masked
            // lane is not read); `pairs` holds 16 u32.
            unsafe {
                let p = line.as_ptr().wrapping_add(at);
                let v = _mm512_cvtne2ps_pbh(
                    _mm512_maskz_loadu_ps(hi, p.wrapping_add(16)),
                    _mm512_maskz_loadu_ps(lo, p),
                );
                _mm512_storeu_si512(
                    pairs.as_mut_ptr().cast(),
                    std::mem::transmute::<__m512bh, __m512i>(v),
                );
            }
        }
    }
}

/// The 16 rows from line l0 (zeros past the last line), lines along memory.
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn rows_across(block: &mut [u32], l0: usize, s: &Source) {
    let kpad = padded_pairs(s.k);
    let live = first(s.lines - l0);
    let interleave: [u16; 32] = std::array::from_fn(|i| (i / 2 + 16 * (i % 2)) as u16);
    // SAFETY: `interleave` holds the 32 u16 of one vector.
    let perm = unsafe { _mm512_loadu_si512(interleave.as_ptr().cast()) };
    let k_row = |kk: usize| {
        if kk < s.k {
            // SAFETY: masked to the lines that exist, of k row kk (< k).
            unsafe { _mm512_maskz_loadu_ps(live, s.src.as_ptr().add(kk * s.k_stride + l0)) }
        } else {
            _mm512_setzero_ps()
        }
    };
    for qb in 0..kpad / ROWS {
        let pairs: [__m512i; 16] = std::array::from_fn(|j| {
            let q = ROWS * qb + j;
            let both = _mm512_cvtne2ps_pbh(k_row(2 * q + 1), k_row(2 * q));
            // SAFETY: a bf16 vector is 512 bits, as an integer vector.
            _mm512_permutexvar_epi16(perm, unsafe {
                std::mem::transmute::<__m512bh, __m512i>(both)
            })
        });
        for (i, row) in transpose16(pairs).into_iter().enumerate() {
            let at = &mut block[i * kpad + ROWS * qb..][..ROWS];
            // SAFETY: `at` holds 16 u32.
            unsafe { _mm512_storeu_si512(at.as_mut_ptr().cast(), row) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu::conv_kernels::tests::values;
    use crate::model::cpu::gemm_bf16;

    /// The vector packings (k along memory, lines along memory) and the plain one (neither)
    /// give the layout's bits: line l's pair q at `l * kpad + q`, the bf16 of k 2q in its low
    /// half, zeros past the lines and past k; with whole and part blocks of 16 lines, k odd,
    /// k = 1, k past a vector's 32.
    #[test]
    fn packs_are_rows_of_bf16_pairs_padded_to_whole_tiles() {
        if !gemm_bf16::on_amx() {
            eprintln!("skipped: no AMX here, this packing is not used");
            return;
        }
        for (lines, k) in [(16, 32), (17, 33), (5, 1), (40, 300), (3, 64)] {
            let src = values(2 * lines * k + 1, 9);
            for strides in [(k, 1), (1, lines), (2 * k, 2)] {
                let kpad = padded_pairs(k);
                let mut got = vec![7u32; packed_len(lines, k)];
                pack(&mut got, lines, k, &src, strides);
                let at = |l: usize, kk: usize| {
                    if l < lines && kk < k {
                        bf16_bits(src[l * strides.0 + kk * strides.1])
                    } else {
                        0
                    }
                };
                for (i, &g) in got.iter().enumerate() {
                    let (l, q) = (i / kpad, i % kpad);
                    let want = at(l, 2 * q) | at(l, 2 * q + 1) << 16;
                    assert_eq!(g, want, "{lines} x {k} {strides:?}: line {l} pair {q}");
                }
            }
        }
    }
}
