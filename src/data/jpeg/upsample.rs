//! Component planes to the image's pixels as libjpeg-turbo's jdsample.c and jdcolor.c make
//! them with their defaults (PIL's): chroma halved across, down or both is upsampled with the
//! "fancy" triangle filter, whose rounding alternates between output columns and rows; other
//! integer ratios repeat samples. YCbCr becomes RGB through libjpeg's fixed-point tables.

use super::tables::{Component, Frame};

/// Row y of a component's samples, cut to its width; rows past its edges repeat the first
/// and last, as libjpeg's context rows do.
#[inline(always)]
fn row<'p>(c: &Component, plane: &'p [u8], y: isize) -> &'p [u8] {
    let y = y.clamp(0, c.height as isize - 1) as usize;
    let stride = 8 * c.blocks_x;
    &plane[y * stride..y * stride + c.width]
}

/// One component's rows at the image's full size, `frame.width` wide, made one at a time from
/// its samples (`plane`, rows `8 * blocks_x` long), so that no full-size copy of a chroma
/// plane is ever held.
pub struct Upsampler<'p> {
    c: &'p Component,
    plane: &'p [u8],
    sx: usize,
    sy: usize,
    width: usize,
    /// One upsampled row before it is cut to the image's width, and one row of column sums.
    wide: Vec<u8>,
    sums: Vec<u32>,
}

impl<'p> Upsampler<'p> {
    /// None where the component's sampling does not divide the frame's largest.
    #[inline(always)]
    pub fn new(frame: &Frame, c: &'p Component, plane: &'p [u8]) -> Option<Self> {
        if !frame.hmax.is_multiple_of(c.h) || !frame.vmax.is_multiple_of(c.v) {
            return None;
        }
        let sx = frame.hmax / c.h;
        Some(Upsampler {
            c,
            plane,
            sx,
            sy: frame.vmax / c.v,
            width: frame.width,
            wide: vec![0u8; c.width * sx],
            sums: vec![0u32; c.width],
        })
    }

    /// Output row y.
    #[inline(always)]
    pub fn row(&mut self, y: usize) -> &[u8] {
        let (c, plane) = (self.c, self.plane);
        let near = row(c, plane, (y / self.sy) as isize);
        // The row fancy upsampling blends in: above for the upper output row of a pair,
        // below for the lower one.
        let far = row(
            c,
            plane,
            (y / self.sy) as isize + if y.is_multiple_of(2) { -1 } else { 1 },
        );
        match (self.sx, self.sy) {
            // Full resolution (luma, or 4:4:4 chroma): the row as it is.
            (1, 1) => return &near[..self.width],
            (2, 1) if c.width > 2 => h2v1(near, &mut self.wide),
            (1, 2) => h1v2(near, far, y % 2 == 1, &mut self.wide),
            (2, 2) if c.width > 2 => {
                for ((s, &n), &f) in self.sums.iter_mut().zip(near).zip(far) {
                    *s = 3 * u32::from(n) + u32::from(f);
                }
                h2v2(&self.sums, &mut self.wide);
            }
            (sx, _) => {
                for (o, &v) in self.wide.chunks_exact_mut(sx).zip(near) {
                    o.fill(v);
                }
            }
        }
        &self.wide[..self.width]
    }
}

/// 3/4 of the nearer sample and 1/4 of the next one across; +1 to the left output, +2 to the
/// right one (jdsample.c's h2v1_fancy_upsample). The end columns blend with themselves.
#[inline(always)]
fn h2v1(src: &[u8], out: &mut [u8]) {
    let n = src.len();
    let at = |i: usize| u32::from(src[i]);
    out[0] = src[0];
    out[1] = ((3 * at(0) + at(1) + 2) >> 2) as u8;
    // Three shifted slices, not windows(3), so that the loop vectorizes.
    let pairs = out[2..2 * n - 2].chunks_exact_mut(2);
    for (((o, &l), &m), &r) in pairs.zip(&src[..n - 2]).zip(&src[1..]).zip(&src[2..]) {
        let (left, mid, right) = (u32::from(l), 3 * u32::from(m), u32::from(r));
        o[0] = ((mid + left + 1) >> 2) as u8;
        o[1] = ((mid + right + 2) >> 2) as u8;
    }
    out[2 * n - 2] = ((3 * at(n - 1) + at(n - 2) + 1) >> 2) as u8;
    out[2 * n - 1] = src[n - 1];
}

/// 3/4 of the nearer row and 1/4 of the other; +1 to the upper output row, +2 to the lower
/// one (libjpeg-turbo's h1v2_fancy_upsample).
#[inline(always)]
fn h1v2(near: &[u8], far: &[u8], lower: bool, out: &mut [u8]) {
    let bias = if lower { 2 } else { 1 };
    for ((o, &n), &f) in out.iter_mut().zip(near).zip(far) {
        *o = ((3 * u32::from(n) + u32::from(f) + bias) >> 2) as u8;
    }
}

/// Both at once, from each column's 3:1 blend of the rows (`sums`): 3:1 across, +8 to the
/// left output and +7 to the right one, over 16 (h2v2_fancy_upsample).
#[inline(always)]
fn h2v2(sums: &[u32], out: &mut [u8]) {
    let n = sums.len();
    out[0] = ((4 * sums[0] + 8) >> 4) as u8;
    out[1] = ((3 * sums[0] + sums[1] + 7) >> 4) as u8;
    let pairs = out[2..2 * n - 2].chunks_exact_mut(2);
    for (((o, &l), &m), &r) in pairs.zip(&sums[..n - 2]).zip(&sums[1..]).zip(&sums[2..]) {
        o[0] = ((3 * m + l + 8) >> 4) as u8;
        o[1] = ((3 * m + r + 7) >> 4) as u8;
    }
    out[2 * n - 2] = ((3 * sums[n - 1] + sums[n - 2] + 8) >> 4) as u8;
    out[2 * n - 1] = ((4 * sums[n - 1] + 7) >> 4) as u8;
}

pub const SCALE_BITS: u32 = 16;
pub const HALF: i32 = 1 << (SCALE_BITS - 1);
// (c * 2^16 + 0.5) truncated, as jdcolor.c's FIX().
pub const CR_TO_R: i32 = 91881; // 1.40200
pub const CB_TO_B: i32 = 116130; // 1.77200
pub const CR_TO_G: i32 = 46802; // 0.71414
pub const CB_TO_G: i32 = 22554; // 0.34414

/// One pixel's Y, Cb, Cr to R, G, B: jdcolor.c's ycc_rgb_convert, whose tables hold these
/// products (each chroma term rounded; green's two summed, then shifted).
#[inline(always)]
fn ycc_pixel(y: u8, cb: u8, cr: u8) -> [u8; 3] {
    let (l, u, v) = (i32::from(y), i32::from(cb) - 128, i32::from(cr) - 128);
    [
        (l + ((CR_TO_R * v + HALF) >> SCALE_BITS)).clamp(0, 255) as u8,
        (l + ((HALF - CB_TO_G * u - CR_TO_G * v) >> SCALE_BITS)).clamp(0, 255) as u8,
        (l + ((CB_TO_B * u + HALF) >> SCALE_BITS)).clamp(0, 255) as u8,
    ]
}

/// One row of interleaved RGB (`out`, 3 bytes a pixel) from full-size rows of Y, Cb and Cr.
#[inline(always)]
pub fn ycc_row(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    for (((o, &l), &u), &v) in out.chunks_exact_mut(3).zip(y).zip(cb).zip(cr) {
        o.copy_from_slice(&ycc_pixel(l, u, v));
    }
}
