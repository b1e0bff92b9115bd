//! libjpeg's "islow" inverse DCT (jidctint.c, the Loeffler-Ligtenberg-Moschytz algorithm in
//! 13-bit fixed point), which libjpeg-turbo runs by default and so PIL does. Every rounding
//! step is the same, so the samples are the same, not only close.
//!
//! Each pass runs the eight 1-D transforms side by side, one per lane of an 8-wide vector
//! (columns, then rows), as libjpeg-turbo's SIMD code does; jidctint.c's shortcut for a
//! column or row with no AC terms gives the same values as the full transform, so only the
//! whole-block case is kept, for speed ([`dc_only`]: a flat block, most of a smooth image,
//! is one value). The arithmetic is 32-bit, as that SIMD code's is: a file an encoder wrote
//! keeps every sum far inside it (dequantized terms stay near +-2048); a crafted file's
//! sums wrap rather than panic, and its pixels are noise, as in libjpeg.

const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;

// round(c * 2^13) of each cosine constant, as jidctint.c's FIX_ values.
const FIX_0_298631336: i32 = 2446;
const FIX_0_390180644: i32 = 3196;
const FIX_0_541196100: i32 = 4433;
const FIX_0_765366865: i32 = 6270;
const FIX_0_899976223: i32 = 7373;
const FIX_1_175875602: i32 = 9633;
const FIX_1_501321110: i32 = 12299;
const FIX_1_847759065: i32 = 15137;
const FIX_1_961570560: i32 = 16069;
const FIX_2_053119869: i32 = 16819;
const FIX_2_562915447: i32 = 20995;
const FIX_3_072711026: i32 = 25172;

/// Eight lanes: the same step of eight 1-D transforms, in 32-bit arithmetic that wraps.
/// Plain arrays here (which the compiler vectorizes as it can); one AVX2 register in
/// `idct_x86`.
pub trait Lanes: Copy {
    fn add(self, b: Self) -> Self;
    fn sub(self, b: Self) -> Self;
    fn mul(self, c: i32) -> Self;
    fn shl(self, n: u32) -> Self;
    /// x / 2^n rounded half up, as libjpeg's DESCALE.
    fn descale(self, n: u32) -> Self;
}

impl Lanes for [i32; 8] {
    #[inline(always)]
    fn add(mut self, b: Self) -> Self {
        for l in 0..8 {
            self[l] = self[l].wrapping_add(b[l]);
        }
        self
    }

    #[inline(always)]
    fn sub(mut self, b: Self) -> Self {
        for l in 0..8 {
            self[l] = self[l].wrapping_sub(b[l]);
        }
        self
    }

    #[inline(always)]
    fn mul(mut self, c: i32) -> Self {
        for v in &mut self {
            *v = v.wrapping_mul(c);
        }
        self
    }

    #[inline(always)]
    fn shl(mut self, n: u32) -> Self {
        for v in &mut self {
            *v = v.wrapping_shl(n);
        }
        self
    }

    #[inline(always)]
    fn descale(mut self, n: u32) -> Self {
        for v in &mut self {
            *v = v.wrapping_add(1 << (n - 1)) >> n;
        }
        self
    }
}

/// The 8-point transform, before descaling: inputs 0-7 to outputs 0-7, lane by lane.
#[inline(always)]
pub fn transform<L: Lanes>(x: [L; 8]) -> [L; 8] {
    // Even part: inputs 0, 2, 4, 6.
    let z1 = x[2].add(x[6]).mul(FIX_0_541196100);
    let tmp2 = z1.add(x[6].mul(-FIX_1_847759065));
    let tmp3 = z1.add(x[2].mul(FIX_0_765366865));
    let tmp0 = x[0].add(x[4]).shl(CONST_BITS);
    let tmp1 = x[0].sub(x[4]).shl(CONST_BITS);
    let (tmp10, tmp13) = (tmp0.add(tmp3), tmp0.sub(tmp3));
    let (tmp11, tmp12) = (tmp1.add(tmp2), tmp1.sub(tmp2));
    // Odd part: inputs 7, 5, 3, 1.
    let (t0, t1, t2, t3) = (x[7], x[5], x[3], x[1]);
    let (z1, z2, z3, z4) = (t0.add(t3), t1.add(t2), t0.add(t2), t1.add(t3));
    let z5 = z3.add(z4).mul(FIX_1_175875602);
    let (t0, t1) = (t0.mul(FIX_0_298631336), t1.mul(FIX_2_053119869));
    let (t2, t3) = (t2.mul(FIX_3_072711026), t3.mul(FIX_1_501321110));
    let (z1, z2) = (z1.mul(-FIX_0_899976223), z2.mul(-FIX_2_562915447));
    let z3 = z3.mul(-FIX_1_961570560).add(z5);
    let z4 = z4.mul(-FIX_0_390180644).add(z5);
    let t0 = t0.add(z1.add(z3));
    let t1 = t1.add(z2.add(z4));
    let t2 = t2.add(z2.add(z3));
    let t3 = t3.add(z1.add(z4));
    [
        tmp10.add(t3),
        tmp11.add(t2),
        tmp12.add(t1),
        tmp13.add(t0),
        tmp13.sub(t0),
        tmp12.sub(t1),
        tmp11.sub(t2),
        tmp10.sub(t3),
    ]
}

/// Pass 1's descaling (the columns' results keep PASS1_BITS of fraction).
pub const PASS1_SHIFT: u32 = CONST_BITS - PASS1_BITS;
/// Pass 2's descaling, to sample values before the level shift.
pub const PASS2_SHIFT: u32 = CONST_BITS + PASS1_BITS + 3;

/// A block's quantized coefficients (natural order), dequantized by `quant`, to 8x8 samples
/// written at `out` with `stride`.
#[inline(always)]
pub fn islow(block: &[i16; 64], quant: &[i32; 64], out: &mut [u8], stride: usize) {
    // Pass 1, the columns: lane c of input r is coefficient (r, c).
    let mut rows = [[0i32; 8]; 8];
    for (i, (&b, &q)) in block.iter().zip(quant).enumerate() {
        rows[i / 8][i % 8] = i32::from(b).wrapping_mul(q);
    }
    let mut ws = transform(rows);
    for v in &mut ws {
        *v = v.descale(PASS1_SHIFT);
    }
    // Pass 2, the rows: lane r of input c is the workspace's (r, c).
    let mut cols = [[0i32; 8]; 8];
    for (r, row) in ws.iter().enumerate() {
        for (c, &v) in row.iter().enumerate() {
            cols[c][r] = v;
        }
    }
    let px = transform(cols);
    // Output column c, lane r: level-shifted by 128 and clamped, as libjpeg-turbo's SIMD
    // code saturates (its C table wraps only values no encoder's file produces), as eight
    // bytes, then turned into rows.
    let mut columns = [0u64; 8];
    for (column, p) in columns.iter_mut().zip(px) {
        let mut bytes = [0u8; 8];
        for (b, v) in bytes.iter_mut().zip(p.descale(PASS2_SHIFT)) {
            *b = v.wrapping_add(128).clamp(0, 255) as u8;
        }
        *column = u64::from_le_bytes(bytes);
    }
    for (line, row) in out.chunks_mut(stride).zip(transpose_bytes(columns)) {
        line[..8].copy_from_slice(&row.to_le_bytes());
    }
}

/// A block's quantized coefficients to its 8x8 samples at `out` (rows `stride` apart), with
/// AVX2 where `avx2` says the CPU has it.
#[inline(always)]
pub fn block_samples(
    block: &[i16; 64],
    quant: &[i32; 64],
    out: &mut [u8],
    stride: usize,
    avx2: bool,
) {
    // Smooth areas are mostly blocks of one flat value: no transform needed.
    if block[1..].iter().all(|&b| b == 0) {
        let v = dc_only(i32::from(block[0]).wrapping_mul(quant[0]));
        for line in out.chunks_mut(stride).take(8) {
            line[..8].fill(v);
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: the caller has checked that the CPU has AVX2.
        unsafe { super::idct_x86::islow(block, quant, out, stride) };
        return;
    }
    let _ = avx2;
    islow(block, quant, out, stride);
}

/// True where the CPU runs [`block_samples`]'s AVX2 code.
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    return std::is_x86_feature_detected!("avx2");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The samples of a block whose only nonzero coefficient is the DC term (`dc`,
/// dequantized): all eight rows and columns of the full transform give this one value, by
/// the same wrapping steps.
#[inline(always)]
pub fn dc_only(dc: i32) -> u8 {
    let ws = (dc.wrapping_shl(CONST_BITS)).wrapping_add(1 << (PASS1_SHIFT - 1)) >> PASS1_SHIFT;
    let px = (ws.wrapping_shl(CONST_BITS)).wrapping_add(1 << (PASS2_SHIFT - 1)) >> PASS2_SHIFT;
    px.wrapping_add(128).clamp(0, 255) as u8
}

/// An 8x8 byte matrix held as eight words (byte j of word i is entry (i, j)) transposed by
/// swapping ever smaller off-diagonal blocks: 4x4, then 2x2, then single bytes.
#[inline(always)]
fn transpose_bytes(mut m: [u64; 8]) -> [u64; 8] {
    for (half, low) in [
        (4, 0x0000_0000_FFFF_FFFF_u64),
        (2, 0x0000_FFFF_0000_FFFF),
        (1, 0x00FF_00FF_00FF_00FF),
    ] {
        let shift = 8 * half as u32;
        for i in (0..8).filter(|i| i & half == 0) {
            let (a, b) = (m[i], m[i + half]);
            m[i] = (a & low) | ((b & low) << shift);
            m[i + half] = ((a >> shift) & low) | (b & !low);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposes_bytes() {
        let m: [u64; 8] =
            std::array::from_fn(|i| u64::from_le_bytes(std::array::from_fn(|j| (8 * i + j) as u8)));
        let t = transpose_bytes(m);
        for (j, row) in t.iter().enumerate() {
            assert_eq!(
                row.to_le_bytes(),
                std::array::from_fn(|i| (8 * i + j) as u8),
                "row {j}"
            );
        }
    }

    #[test]
    fn dc_only_block_is_the_full_transform() {
        for dc in [
            -70000,
            -2048,
            -1029,
            -1024,
            -1,
            0,
            1,
            3,
            4,
            1016,
            1023,
            1024,
            2047,
            70000,
            i32::MAX / 3,
        ] {
            let (mut block, mut quant) = ([0i16; 64], [1i32; 64]);
            (block[0], quant[0]) = (1, dc);
            let mut out = [0u8; 64];
            islow(&block, &quant, &mut out, 8);
            assert_eq!(out, [dc_only(dc); 64], "dc {dc}");
        }
    }
}
