//! One scan (T.81 B.2.3): its entropy-coded data read block by block into each component's
//! coefficients, MCU by MCU where it interleaves components, block by block where it holds
//! one. Damaged data (a code no table holds, a coefficient past its band, bits read past the
//! scan's end, a missing restart marker) returns None.

use super::bits::Bits;
use super::blocks::{self, Band};
use super::idct;
use super::tables::{Frame, Huffman, Quant};

/// A scan's component: its index in the frame and its DC and AC table destinations.
pub struct ScanComponent {
    pub index: usize,
    pub dc: usize,
    pub ac: usize,
}

/// The tables in force when a scan starts.
pub struct Tables<'a> {
    pub quant: &'a [Option<Quant>; 4],
    pub dc: &'a [Option<Huffman>; 4],
    pub ac: &'a [Option<Huffman>; 4],
    pub restart_interval: usize,
}

/// What each block of the scan holds, with the Huffman tables it reads.
enum Kind<'t> {
    Sequential(Vec<(&'t Huffman, &'t Huffman)>),
    DcFirst(Vec<&'t Huffman>),
    DcRefine,
    AcFirst(&'t Huffman),
    AcRefine(&'t Huffman),
}

/// Decode the scan whose data starts at `data[start]` into `frame`'s coefficients; the
/// offset of the marker after it.
pub fn decode(
    data: &[u8],
    start: usize,
    frame: &mut Frame,
    scan: &[ScanComponent],
    band: Band,
    tables: &Tables,
) -> Option<usize> {
    let dc = |sc: &ScanComponent| tables.dc[sc.dc].as_ref();
    let ac = |sc: &ScanComponent| tables.ac[sc.ac].as_ref();
    let kind = match (frame.progressive, band.ss, band.ah) {
        (false, ..) => Kind::Sequential(
            scan.iter()
                .map(|s| Some((dc(s)?, ac(s)?)))
                .collect::<Option<_>>()?,
        ),
        (true, 0, 0) => Kind::DcFirst(scan.iter().map(dc).collect::<Option<_>>()?),
        (true, 0, _) => Kind::DcRefine,
        (true, _, 0) => Kind::AcFirst(ac(&scan[0])?),
        (true, ..) => Kind::AcRefine(ac(&scan[0])?),
    };
    // libjpeg takes each component's quantization table when the component's first scan
    // starts; a table redefined later applies to later components only.
    for sc in scan {
        let c = &mut frame.components[sc.index];
        if c.quant_table.is_none() {
            c.quant_table = Some(*tables.quant[c.quant].as_ref()?);
        }
    }
    // A sequential scan's blocks go to the samples as they are read, through each scan
    // component's table in natural order.
    let mut dequantizers = Vec::with_capacity(scan.len());
    if !frame.progressive {
        for sc in scan {
            let c = &mut frame.components[sc.index];
            dequantizers.push(c.dequantizer()?);
            c.plane = vec![0u8; 64 * c.blocks_x * c.blocks_y];
        }
    }
    let avx2 = super::idct::has_avx2();
    let single = scan.len() == 1;
    let (mcus_x, mcus_y) = if single {
        let c = &frame.components[scan[0].index];
        (c.width.div_ceil(8), c.height.div_ceil(8))
    } else {
        (frame.mcus_x, frame.mcus_y)
    };
    let mut bits = Bits::new(data, start);
    let mut predictions = vec![0i32; scan.len()];
    let mut eob_run = 0u32;
    let mut restarts = 0;
    for mcu in 0..mcus_x * mcus_y {
        let interval = tables.restart_interval;
        if interval > 0 && mcu > 0 && mcu % interval == 0 {
            bits.restart(restarts)?;
            restarts += 1;
            predictions.fill(0);
            eob_run = 0;
        }
        let (mx, my) = (mcu % mcus_x, mcu / mcus_x);
        for (i, sc) in scan.iter().enumerate() {
            let c = &mut frame.components[sc.index];
            let (bw, bh) = if single { (1, 1) } else { (c.h, c.v) };
            for by in 0..bh {
                for bx in 0..bw {
                    let (x, y) = (mx * bw + bx, my * bh + by);
                    let prediction = &mut predictions[i];
                    let at = (y * c.blocks_x + x) * 64;
                    match &kind {
                        Kind::Sequential(t) => {
                            let mut block = [0i16; 64];
                            blocks::sequential(&mut bits, t[i].0, t[i].1, prediction, &mut block)?;
                            let stride = 8 * c.blocks_x;
                            let out = &mut c.plane[8 * (y * stride + x)..];
                            idct::block_samples(&block, &dequantizers[i], out, stride, avx2);
                            Some(())
                        }
                        Kind::DcFirst(t) => {
                            let block = &mut c.coefs[at..at + 64];
                            blocks::dc_first(&mut bits, t[i], band.al, prediction, block)
                        }
                        Kind::DcRefine => {
                            blocks::dc_refine(&mut bits, band.al, &mut c.coefs[at..at + 64])
                        }
                        Kind::AcFirst(t) => {
                            let block = &mut c.coefs[at..at + 64];
                            blocks::ac_first(&mut bits, t, band, &mut eob_run, block)
                        }
                        Kind::AcRefine(t) => {
                            let block = &mut c.coefs[at..at + 64];
                            blocks::ac_refine(&mut bits, t, band, &mut eob_run, block)
                        }
                    }?;
                }
            }
        }
    }
    for sc in scan {
        frame.components[sc.index].decoded = true;
    }
    Some(bits.end())
}
