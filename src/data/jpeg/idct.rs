//! libjpeg's "islow" inverse DCT (jidctint.c, the Loeffler-Ligtenberg-Moschytz algorithm in
//! 13-bit fixed point), which libjpeg-turbo runs by default and so PIL does. Every rounding
//! step is the same, so the samples are the same, not only close.
//!
//! Each pass runs the eight 1-D transforms side by side, one per lane of an 8-wide vector
//! (columns, then rows), as libjpeg-turbo's SIMD code does; jidctint.c's shortcut for a
//! column or row with no AC terms gives the same values as the full transform, so it is
//! not needed. The arithmetic is 32-bit, as that SIMD code's is: a file an encoder wrote
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

/// Eight lanes: the same step of eight 1-D transforms.
type Lanes = [i32; 8];

#[inline(always)]
fn add(mut a: Lanes, b: Lanes) -> Lanes {
    for l in 0..8 {
        a[l] = a[l].wrapping_add(b[l]);
    }
    a
}

#[inline(always)]
fn sub(mut a: Lanes, b: Lanes) -> Lanes {
    for l in 0..8 {
        a[l] = a[l].wrapping_sub(b[l]);
    }
    a
}

#[inline(always)]
fn mul(mut a: Lanes, c: i32) -> Lanes {
    for v in &mut a {
        *v = v.wrapping_mul(c);
    }
    a
}

#[inline(always)]
fn shl(mut a: Lanes, n: u32) -> Lanes {
    for v in &mut a {
        *v = v.wrapping_shl(n);
    }
    a
}

/// x / 2^n rounded half up, as libjpeg's DESCALE.
#[inline(always)]
fn descale(mut a: Lanes, n: u32) -> Lanes {
    for v in &mut a {
        *v = v.wrapping_add(1 << (n - 1)) >> n;
    }
    a
}

/// The 8-point transform, before descaling: inputs 0-7 to outputs 0-7, lane by lane.
#[inline(always)]
fn transform(x: [Lanes; 8]) -> [Lanes; 8] {
    // Even part: inputs 0, 2, 4, 6.
    let z1 = mul(add(x[2], x[6]), FIX_0_541196100);
    let tmp2 = add(z1, mul(x[6], -FIX_1_847759065));
    let tmp3 = add(z1, mul(x[2], FIX_0_765366865));
    let tmp0 = shl(add(x[0], x[4]), CONST_BITS);
    let tmp1 = shl(sub(x[0], x[4]), CONST_BITS);
    let (tmp10, tmp13) = (add(tmp0, tmp3), sub(tmp0, tmp3));
    let (tmp11, tmp12) = (add(tmp1, tmp2), sub(tmp1, tmp2));
    // Odd part: inputs 7, 5, 3, 1.
    let (t0, t1, t2, t3) = (x[7], x[5], x[3], x[1]);
    let (z1, z2, z3, z4) = (add(t0, t3), add(t1, t2), add(t0, t2), add(t1, t3));
    let z5 = mul(add(z3, z4), FIX_1_175875602);
    let (t0, t1) = (mul(t0, FIX_0_298631336), mul(t1, FIX_2_053119869));
    let (t2, t3) = (mul(t2, FIX_3_072711026), mul(t3, FIX_1_501321110));
    let (z1, z2) = (mul(z1, -FIX_0_899976223), mul(z2, -FIX_2_562915447));
    let z3 = add(mul(z3, -FIX_1_961570560), z5);
    let z4 = add(mul(z4, -FIX_0_390180644), z5);
    let t0 = add(t0, add(z1, z3));
    let t1 = add(t1, add(z2, z4));
    let t2 = add(t2, add(z2, z3));
    let t3 = add(t3, add(z1, z4));
    [
        add(tmp10, t3),
        add(tmp11, t2),
        add(tmp12, t1),
        add(tmp13, t0),
        sub(tmp13, t0),
        sub(tmp12, t1),
        sub(tmp11, t2),
        sub(tmp10, t3),
    ]
}

/// Dequantized coefficients (natural order) to 8x8 samples written at `out` with `stride`.
#[inline(always)]
pub fn islow(coef: &[i32; 64], out: &mut [u8], stride: usize) {
    // Pass 1, the columns: lane c of input r is coefficient (r, c).
    let mut rows = [[0i32; 8]; 8];
    for (row, c) in rows.iter_mut().zip(coef.chunks_exact(8)) {
        row.copy_from_slice(c);
    }
    let mut ws = transform(rows);
    for v in &mut ws {
        *v = descale(*v, CONST_BITS - PASS1_BITS);
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
        for (b, v) in bytes
            .iter_mut()
            .zip(descale(p, CONST_BITS + PASS1_BITS + 3))
        {
            *b = v.wrapping_add(128).clamp(0, 255) as u8;
        }
        *column = u64::from_le_bytes(bytes);
    }
    for (line, row) in out.chunks_mut(stride).zip(transpose_bytes(columns)) {
        line[..8].copy_from_slice(&row.to_le_bytes());
    }
}

/// The samples of a block whose only nonzero coefficient is the DC term (`dc`,
/// dequantized): all eight rows and columns of the full transform give this one value, by
/// the same wrapping steps.
#[inline(always)]
pub fn dc_only(dc: i32) -> u8 {
    let ws = (dc.wrapping_shl(CONST_BITS)).wrapping_add(1 << (CONST_BITS - PASS1_BITS - 1))
        >> (CONST_BITS - PASS1_BITS);
    let n = CONST_BITS + PASS1_BITS + 3;
    let px = (ws.wrapping_shl(CONST_BITS)).wrapping_add(1 << (n - 1)) >> n;
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
            let mut coef = [0i32; 64];
            coef[0] = dc;
            let mut out = [0u8; 64];
            islow(&coef, &mut out, 8);
            assert_eq!(out, [dc_only(dc); 64], "dc {dc}");
        }
    }
}
