//! A bf16 GEMM for the CPU convolutions under `train.precision = "bf16"`, on CPUs with
//! AVX512-BF16 (Zen 4 and later, Intel Cooper Lake and Sapphire Rapids on): both operands are
//! rounded to bf16 (to nearest, ties to even) while they are packed, and `vdpbf16ps` adds
//! products of bf16 pairs into f32 sums, as oneDNN does for PyTorch's autocast. One such
//! instruction does 32 multiply-adds where an f32 FMA does 16, and the packed operands are
//! half the bytes: on ResNet-18's Winograd shapes the kernel runs at 2.2-3.4x the `gemm`
//! crate's f32 (bench/bf16_gemm_probe.rs).
//!
//! Layout: A (m x k) in panels of MR rows, `[panel][k / 2][MR]`, B (k x n) in panels of NR
//! columns, `[panel][k / 2][NR]`, each u32 a pair of bf16 along k (low half first); rows,
//! columns and the odd k past the ends are zero. The micro-kernel keeps an MR x NR block of C
//! in 16 registers of 16 f32 and, per k pair, broadcasts one A pair per row against two B
//! vectors. Single-threaded like `matmul`: the callers split the work over images.
//! On a CPU with AMX tiles the products run there instead (`gemm_bf16_amx`), with A packed
//! in that kernel's own layout (`gemm_bf16_amx_pack`); B's panels serve both.
//!
//! `CONVLAB_CPU_BF16_GEMM=off` keeps the f32 GEMM on bf16-rounded values (the arithmetic
//! before this kernel), `=all` takes the bf16 GEMM on narrow convs too, to measure one
//! against the other.

use std::cell::RefCell;

use super::bf16::round_to_bf16;

/// The micro-kernel's height: A's panels hold this many rows.
pub(super) const MR: usize = 8;
/// The micro-kernel's width: B's panels hold this many columns.
pub(super) const NR: usize = 32;

/// `CONVLAB_CPU_BF16_GEMM`, read once: "off" or "all", else empty.
fn setting() -> &'static str {
    static SETTING: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SETTING.get_or_init(|| std::env::var("CONVLAB_CPU_BF16_GEMM").unwrap_or_default())
}

/// Whether bf16 GEMMs run here: the CPU has AVX512-BF16 (with AVX512F/BW for the packing)
/// and the user did not turn them off.
pub fn available() -> bool {
    setting() != "off" && cpu_has_bf16()
}

/// Whether those bf16 GEMMs run on AMX tiles here (`gemm_bf16_amx`), else on AVX-512.
pub fn on_amx() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        available() && super::gemm_bf16_amx::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the user asked for bf16 GEMMs on every conv, the narrow ones too (`conv.rs`
/// leaves those to f32 GEMMs), to measure one against the other.
pub(super) fn on_every_conv() -> bool {
    setting() == "all"
}

fn cpu_has_bf16() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// f32 -> bf16 bits: `bf16::round_to_bf16`'s top half. A NaN keeps its sign and top payload
/// bits and gets the quiet bit, so that a NaN whose payload lay in the low half stays a NaN.
#[inline(always)]
pub(super) fn bf16_bits(v: f32) -> u32 {
    let top = round_to_bf16(v).to_bits() >> 16;
    if v.is_nan() { top | 0x40 } else { top }
}

/// A matrix as the GEMM reads it: element (i, j) at `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct Strided<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

/// `width`-wide panels of `lines` lines (A's rows, or B's columns) over k, as bf16 pairs
/// along k; element kk of line l is `src[l * line_stride + kk * k_stride]`. Lines past
/// `lines` and the odd k are zero. Where the lines or k run along memory (stride 1), the
/// blocks of 16 lines go through `gemm_bf16_pack`'s vector code, the rest here.
pub(super) fn pack(
    out: &mut Vec<u32>,
    lines: usize,
    k: usize,
    width: usize,
    src: &[f32],
    (line_stride, k_stride): (usize, usize),
) {
    let (kp, panels) = (k.div_ceil(2), lines.div_ceil(width));
    // Every pair of the `lines` lines is written below; only the last panel's lines past
    // `lines` need zeros (a reused buffer holds the previous GEMM's pairs there).
    out.resize(panels * kp * width, 0);
    for l in lines..panels * width {
        for q in 0..kp {
            out[(l / width * kp + q) * width + l % width] = 0;
        }
    }
    if lines == 0 || k == 0 {
        return;
    }
    assert!(src.len() > (lines - 1) * line_stride + (k - 1) * k_stride);
    #[allow(unused_mut)]
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if cpu_has_bf16() && (line_stride == 1 || k_stride == 1) {
        let s = super::gemm_bf16_pack::Source {
            src,
            line_stride,
            k_stride,
            k,
        };
        // SAFETY: the CPU has AVX512F/BW/BF16 (checked); `src` holds every element (asserted)
        // and `out` the panels (resized above).
        done = unsafe { super::gemm_bf16_pack::pack_blocks(out, lines, width, &s) };
    }
    let at = |l: usize, kk: usize| {
        if kk < k {
            bf16_bits(src[l * line_stride + kk * k_stride])
        } else {
            0
        }
    };
    for l in done..lines {
        let (p, i) = (l / width, l % width);
        for q in 0..kp {
            out[(p * kp + q) * width + i] = at(l, 2 * q) | at(l, 2 * q + 1) << 16;
        }
    }
}

/// 16 rows of A packed as [`pack_a`] packs a block of 16 rows (two MR-row panels of
/// `k.div_ceil(2)` pairs, `out` exactly that long); element kk of row l is
/// `src[l * line_stride + kk * k_stride]`, one of the strides 1. Only where [`available`]
/// (which includes the vector packing's CPU features).
pub(super) fn pack_rows16(
    out: &mut [u32],
    src: &[f32],
    k: usize,
    line_stride: usize,
    k_stride: usize,
) {
    assert!(MR == 8 && out.len() == rows16_len(k) && available());
    assert!((line_stride == 1 || k_stride == 1) && k > 0);
    assert!(src.len() > 15 * line_stride + (k - 1) * k_stride);
    #[cfg(target_arch = "x86_64")]
    if on_amx() {
        super::gemm_bf16_amx_pack::pack(out, 16, k, src, (line_stride, k_stride));
    } else {
        let s = super::gemm_bf16_pack::Source {
            src,
            line_stride,
            k_stride,
            k,
        };
        // SAFETY: the CPU has AVX512F/BW/BF16 (asserted); `src` holds every element of the
        // 16 rows and `out` their two panels (asserted).
        unsafe { super::gemm_bf16_pack::pack_blocks(out, 16, MR, &s) };
    }
}

/// u32s of 16 rows of A packed over k ([`pack_rows16`]'s `out`).
pub(super) fn rows16_len(k: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if on_amx() {
        return super::gemm_bf16_amx_pack::packed_len(16, k);
    }
    16 * k.div_ceil(2)
}

/// A (m x k) packed in MR-row panels, or in AMX's layout where AMX runs ([`on_amx`]).
pub fn pack_a(out: &mut Vec<u32>, m: usize, k: usize, a: Strided) {
    #[cfg(target_arch = "x86_64")]
    if on_amx() {
        out.resize(super::gemm_bf16_amx_pack::packed_len(m, k), 0);
        return super::gemm_bf16_amx_pack::pack(out, m, k, a.data, (a.rs, a.cs));
    }
    pack(out, m, k, MR, a.data, (a.rs, a.cs));
}

/// B (k x n) packed in NR-column panels.
pub fn pack_b(out: &mut Vec<u32>, k: usize, n: usize, b: Strided) {
    pack(out, n, k, NR, b.data, (b.cs, b.rs));
}

/// A packed once for many GEMMs (a layer's weights over a pass) where `bf16_gemms`
/// (`ConvShape::bf16_gemms`); None otherwise (the f32 GEMM reads A as it lies).
pub(super) fn pack_once(bf16_gemms: bool, m: usize, k: usize, a: Strided) -> Option<Vec<u32>> {
    bf16_gemms.then(|| {
        let mut pa = Vec::new();
        pack_a(&mut pa, m, k, a);
        pa
    })
}

thread_local! {
    /// Each thread's packs of A and B, kept between calls (no allocation per GEMM).
    static PACKS: RefCell<(Vec<u32>, Vec<u32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// dst[m, n] (row-major) (+)= A (m x k) * B (k x n), A and B rounded to bf16, sums in f32.
/// Only where [`available`].
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    a: Strided,
    b: Strided,
    accumulate: bool,
) {
    PACKS.with_borrow_mut(|(pa, pb)| {
        pack_a(pa, m, k, a);
        pack_b(pb, k, n, b);
        matmul_packed(m, n, k, dst, pa, pb, accumulate);
    });
}

/// [`matmul`] with A already packed ([`pack_a`]): a layer's weights packed once per pass.
pub(super) fn matmul_packed_a(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    pa: &[u32],
    b: Strided,
    accumulate: bool,
) {
    PACKS.with_borrow_mut(|(_, pb)| {
        pack_b(pb, k, n, b);
        matmul_packed(m, n, k, dst, pa, pb, accumulate);
    });
}

/// dst[m, n] (row-major) (+)= A * B from their packs ([`pack_a`], [`pack_b`]), on AMX tiles
/// where [`on_amx`], else on the AVX-512 kernel.
pub fn matmul_packed(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    pa: &[u32],
    pb: &[u32],
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if on_amx() {
        return super::gemm_bf16_amx::matmul_packed(m, n, k, dst, (pa, pb), accumulate);
    }
    matmul_panels(m, n, k, dst, (pa, pb), accumulate);
}

/// [`matmul_packed`] on the AVX-512 kernel, A in MR-row panels ([`pack`] of width MR).
pub(super) fn matmul_panels(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    (pa, pb): (&[u32], &[u32]),
    accumulate: bool,
) {
    let kp = k.div_ceil(2);
    assert!(dst.len() >= m * n && cpu_has_bf16());
    assert!(pa.len() >= m.div_ceil(MR) * kp * MR && pb.len() >= n.div_ceil(NR) * kp * NR);
    #[cfg(target_arch = "x86_64")]
    for pn in 0..n.div_ceil(NR) {
        let cols = NR.min(n - pn * NR);
        let b = &pb[pn * kp * NR..][..kp * NR];
        for pm in 0..m.div_ceil(MR) {
            let rows = MR.min(m - pm * MR);
            let a = &pa[pm * kp * MR..][..kp * MR];
            let at = pm * MR * n + pn * NR;
            // SAFETY: the CPU has AVX512-BF16 (asserted); the panels hold kp pairs per line
            // (asserted); a full tile's MR rows of NR values, n apart, lie inside dst
            // (at + (MR - 1) * n + NR <= m * n), and edge tiles go through `tile`.
            unsafe {
                if rows == MR && cols == NR {
                    let c = dst.as_mut_ptr().add(at);
                    simd::kernel(kp, a.as_ptr(), b.as_ptr(), c, n, accumulate);
                } else {
                    let mut tile = [0f32; MR * NR];
                    simd::kernel(kp, a.as_ptr(), b.as_ptr(), tile.as_mut_ptr(), NR, false);
                    write_block(dst, (at, n), &tile, (rows, cols), accumulate);
                }
            }
        }
    }
}

/// The first `rows` x `cols` of a block computed apart (`block`, rows NR apart) into dst from
/// `at` (rows n apart), added to what is there when `accumulate`: the kernels' edge blocks.
pub(super) fn write_block(
    dst: &mut [f32],
    (at, n): (usize, usize),
    block: &[f32],
    (rows, cols): (usize, usize),
    accumulate: bool,
) {
    for r in 0..rows {
        let d = &mut dst[at + r * n..][..cols];
        let b = &block[r * NR..][..cols];
        if accumulate {
            d.iter_mut().zip(b).for_each(|(d, b)| *d += b);
        } else {
            d.copy_from_slice(b);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    use super::{MR, NR};
    use std::arch::x86_64::*;

    /// C[MR x NR] (row stride `ldc`) (+)= A panel x B panel over `kp` k pairs.
    ///
    /// # Safety
    /// The CPU has AVX512F and AVX512-BF16; `a` holds kp * MR pairs, `b` kp * NR; `c` has MR
    /// rows of NR f32s, `ldc` apart (initialized when `accumulate`).
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub unsafe fn kernel(
        kp: usize,
        a: *const u32,
        b: *const u32,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) {
        let mut acc = [_mm512_setzero_ps(); 2 * MR];
        for q in 0..kp {
            // SAFETY: within the panels (the caller's contract).
            unsafe {
                let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b.add(q * NR).cast()));
                let b1: __m512bh =
                    std::mem::transmute(_mm512_loadu_si512(b.add(q * NR + 16).cast()));
                for r in 0..MR {
                    let ar: __m512bh =
                        std::mem::transmute(_mm512_set1_epi32(*a.add(q * MR + r) as i32));
                    acc[2 * r] = _mm512_dpbf16_ps(acc[2 * r], ar, b0);
                    acc[2 * r + 1] = _mm512_dpbf16_ps(acc[2 * r + 1], ar, b1);
                }
            }
        }
        for r in 0..MR {
            // SAFETY: c has MR rows of NR values, ldc apart (the caller's contract).
            unsafe {
                let (c0, c1) = (c.add(r * ldc), c.add(r * ldc + 16));
                if accumulate {
                    acc[2 * r] = _mm512_add_ps(acc[2 * r], _mm512_loadu_ps(c0));
                    acc[2 * r + 1] = _mm512_add_ps(acc[2 * r + 1], _mm512_loadu_ps(c1));
                }
                _mm512_storeu_ps(c0, acc[2 * r]);
                _mm512_storeu_ps(c1, acc[2 * r + 1]);
            }
        }
    }
}

#[cfg(test)]
#[path = "gemm_bf16_tests.rs"]
mod tests;
