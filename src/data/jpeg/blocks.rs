//! One block's share of a scan, as quantized coefficients in natural order: a sequential
//! scan's whole block (T.81 F.2.2), or one of a progressive scan's four kinds (G.1.2): the DC
//! term's first bits or a refinement bit, a band of AC terms' first bits or refinement bits.
//! Each follows libjpeg's jdhuff.c / jdphuff.c step for step, so the coefficients, and from
//! them the pixels, are libjpeg's.

use super::bits::Bits;
use super::tables::{Huffman, NATURAL_ORDER};

/// A scan's band (Ss..=Se, zig-zag) and successive approximation (Ah, Al).
#[derive(Clone, Copy)]
pub struct Band {
    pub ss: usize,
    pub se: usize,
    pub ah: u32,
    pub al: u32,
}

/// The DC difference: a size from the table, then that many bits.
fn dc_diff(bits: &mut Bits, dc: &Huffman) -> Option<i32> {
    let size = bits.decode(dc)?;
    (size <= 15).then(|| bits.receive_extend(u32::from(size)))
}

/// A sequential scan's block: the DC difference, then (run, size) codes to end of block.
pub fn sequential(
    bits: &mut Bits,
    dc: &Huffman,
    ac: &Huffman,
    prediction: &mut i32,
    block: &mut [i16],
) -> Option<()> {
    // The DC term as a progressive scan's first pass with no scaling.
    dc_first(bits, dc, 0, prediction, block)?;
    let mut k = 1;
    while k < 64 {
        let rs = bits.decode(ac)?;
        let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
        if size == 0 {
            if run != 15 {
                break;
            }
            k += 16;
            continue;
        }
        k += run;
        if k > 63 {
            return None;
        }
        block[NATURAL_ORDER[k]] = bits.receive_extend(size) as i16;
        k += 1;
    }
    (!bits.overran()).then_some(())
}

/// A progressive DC scan's first pass: the difference, scaled up by Al (kept as a 16-bit
/// JCOEF, as libjpeg keeps coefficients).
pub fn dc_first(
    bits: &mut Bits,
    dc: &Huffman,
    al: u32,
    prediction: &mut i32,
    block: &mut [i16],
) -> Option<()> {
    *prediction = prediction.wrapping_add(dc_diff(bits, dc)?);
    block[0] = prediction.wrapping_shl(al) as i16;
    (!bits.overran()).then_some(())
}

/// A DC refinement: one bit, bit Al of the term.
pub fn dc_refine(bits: &mut Bits, al: u32, block: &mut [i16]) -> Option<()> {
    if bits.receive(1) != 0 {
        block[0] |= 1 << al;
    }
    (!bits.overran()).then_some(())
}

/// An AC band's first pass. `eob_run` counts the blocks still to skip, whose band is zero.
pub fn ac_first(
    bits: &mut Bits,
    ac: &Huffman,
    band: Band,
    eob_run: &mut u32,
    block: &mut [i16],
) -> Option<()> {
    if *eob_run > 0 {
        *eob_run -= 1;
        return Some(());
    }
    let mut k = band.ss;
    while k <= band.se {
        let rs = bits.decode(ac)?;
        let (run, size) = (usize::from(rs >> 4), u32::from(rs & 15));
        if size != 0 {
            k += run;
            if k > band.se {
                return None;
            }
            block[NATURAL_ORDER[k]] = bits.receive_extend(size).wrapping_shl(band.al) as i16;
        } else if run == 15 {
            k += 15;
        } else {
            // EOBr: this block and 2^r + r more bits' worth of blocks end here.
            *eob_run = (1 << run) + bits.receive(run as u32) - 1;
            break;
        }
        k += 1;
    }
    (!bits.overran()).then_some(())
}

/// A correction bit for a term already nonzero: 1 adds bit Al to its magnitude.
fn refine(bits: &mut Bits, coef: &mut i16, al: u32) {
    if bits.receive(1) != 0 && (*coef & (1 << al)) == 0 {
        *coef = coef.wrapping_add(if *coef >= 0 { 1 << al } else { -1 << al });
    }
}

/// An AC band's refinement: new terms of magnitude 2^Al, and a correction bit for each term
/// already nonzero that the codes pass over (jdphuff.c's decode_mcu_AC_refine).
pub fn ac_refine(
    bits: &mut Bits,
    ac: &Huffman,
    band: Band,
    eob_run: &mut u32,
    block: &mut [i16],
) -> Option<()> {
    let mut k = band.ss;
    if *eob_run == 0 {
        while k <= band.se {
            let rs = bits.decode(ac)?;
            let (mut run, size) = (i32::from(rs >> 4), rs & 15);
            let mut new = 0i16;
            if size != 0 {
                // The size of a new term is always 1; libjpeg only warns otherwise.
                new = if bits.receive(1) != 0 {
                    1 << band.al
                } else {
                    -1 << band.al
                };
            } else if run != 15 {
                *eob_run = (1 << run) + bits.receive(run as u32);
                break;
            }
            // Pass over terms already nonzero (correcting each) and `run` zero ones.
            while k <= band.se {
                let coef = &mut block[NATURAL_ORDER[k]];
                if *coef != 0 {
                    refine(bits, coef, band.al);
                } else {
                    run -= 1;
                    if run < 0 {
                        break;
                    }
                }
                k += 1;
            }
            if new != 0 {
                if k > band.se {
                    return None;
                }
                block[NATURAL_ORDER[k]] = new;
            }
            k += 1;
        }
    }
    if *eob_run > 0 {
        // In an end-of-band run: the rest of the band's nonzero terms each get a bit.
        for &pos in NATURAL_ORDER.get(k..=band.se).unwrap_or_default() {
            if block[pos] != 0 {
                refine(bits, &mut block[pos], band.al);
            }
        }
        *eob_run -= 1;
    }
    (!bits.overran()).then_some(())
}
