//! JPEGs decoded to the pixels libjpeg-turbo gives PIL, and so torchvision's `ImageFolder`
//! and Keras' `load_img`: the "islow" integer inverse DCT, "fancy" chroma upsampling and
//! libjpeg's YCbCr tables, each rounding as libjpeg's does. The image crate's decoder
//! (zune-jpeg) rounds differently: on CIFAR-10's JPEGs a quarter of the values differed from
//! PIL's, by up to 4 levels, so a net trained here saw other pixels than the same net in
//! PyTorch.
//!
//! This reads 8-bit Huffman-coded JPEGs, sequential (SOF0/SOF1) or progressive (SOF2), of
//! one component (gray) or three (YCbCr, or RGB where the file says so): what cameras,
//! browsers, PIL and CIFAR-10's archive write. Anything else (arithmetic coding, 12 bits,
//! CMYK, damaged data) returns None, and the caller leaves the file to the image crate as
//! before.

mod bits;
mod blocks;
mod idct;
#[cfg(target_arch = "x86_64")]
mod idct_x86;
mod scan;
mod tables;
mod upsample;
#[cfg(target_arch = "x86_64")]
mod ycc_x86;

use image::{DynamicImage, GrayImage, RgbImage};

use blocks::Band;
use scan::{ScanComponent, Tables};
use tables::{Frame, Huffman, Quant};

/// True for bytes that start as a JPEG does (SOI, then a marker).
fn is_jpeg(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0xD8, 0xFF])
}

/// The image in `bytes` as libjpeg-turbo decodes it, or None where this decoder leaves the
/// file to the image crate.
pub fn decode(bytes: &[u8]) -> Option<DynamicImage> {
    if !is_jpeg(bytes) {
        return None;
    }
    let mut quant: [Option<Quant>; 4] = Default::default();
    let mut dc: [Option<Huffman>; 4] = Default::default();
    let mut ac: [Option<Huffman>; 4] = Default::default();
    let (mut restart_interval, mut frame) = (0usize, None::<Frame>);
    let (mut jfif, mut adobe_transform) = (false, None::<u8>);
    let mut pos = 2;
    loop {
        // A marker: 0xFF (fill bytes may repeat it), then its code.
        let fill = bytes.get(pos..)?.iter().take_while(|&&b| b == 0xFF).count();
        let code = *bytes.get(pos + fill)?;
        if fill == 0 {
            return None;
        }
        pos += fill + 1;
        if code == 0xD9 {
            break;
        }
        if matches!(code, 0x01 | 0xD0..=0xD7) {
            continue;
        }
        let len = usize::from(u16::from_be_bytes([*bytes.get(pos)?, *bytes.get(pos + 1)?]));
        let seg = bytes.get(pos + 2..(pos + len).max(pos + 2))?;
        pos += len.max(2);
        match code {
            0xC0..=0xC2 if frame.is_none() => frame = Some(tables::parse_sof(seg, code == 0xC2)?),
            0xC4 => {
                for (class, dest, table) in tables::parse_dht(seg)? {
                    [&mut dc, &mut ac][class][dest] = Some(table);
                }
            }
            0xDB => tables::parse_dqt(seg)?
                .into_iter()
                .for_each(|(d, q)| quant[d] = Some(q)),
            0xDD => restart_interval = usize::from(u16::from_be_bytes(seg.try_into().ok()?)),
            0xE0 => jfif |= seg.starts_with(b"JFIF\0"),
            0xEE if seg.starts_with(b"Adobe") => adobe_transform = Some(*seg.get(11)?),
            0xDA => {
                let frame = frame.as_mut()?;
                let (scan, band) = parse_sos(seg, frame)?;
                let tables = Tables {
                    quant: &quant,
                    dc: &dc,
                    ac: &ac,
                    restart_interval,
                };
                pos = scan::decode(bytes, pos, frame, &scan, band, &tables)?;
            }
            // Other frame types: lossless, arithmetic-coded, 12-bit, a second frame.
            0xC0..=0xCF if code != 0xC4 && code != 0xC8 && code != 0xCC => return None,
            // DNL (a height given after the scan) and hierarchical markers.
            0xDC | 0xDE | 0xDF => return None,
            _ => {}
        }
    }
    let frame = frame?;
    if !frame.components.iter().all(|c| c.decoded) {
        return None;
    }
    // libjpeg reads three components as RGB, not YCbCr, where an Adobe marker says so or,
    // with neither JFIF nor Adobe marker, where the components are named 'R', 'G', 'B'.
    let ids: Vec<u8> = frame.components.iter().map(|c| c.id).collect();
    let rgb_coded =
        adobe_transform == Some(0) || (!jfif && adobe_transform.is_none() && ids == b"RGB");
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { pixels_avx2(&frame, rgb_coded) };
    }
    pixels(&frame, rgb_coded, false)
}

/// [`pixels`] compiled for AVX2, where the upsampling's arithmetic becomes vector
/// instructions, with the colour conversion's own AVX2 code.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn pixels_avx2(frame: &Frame, rgb_coded: bool) -> Option<DynamicImage> {
    pixels(frame, rgb_coded, true)
}

/// The decoded samples to the image: a progressive frame's inverse DCT, then upsampling and
/// colour conversion, row by row into the image. Inlined with its callees into
/// [`pixels_avx2`]; loops, not closures, as a closure is a function of its own, compiled
/// without AVX2.
#[inline(always)]
fn pixels(frame: &Frame, rgb_coded: bool, avx2: bool) -> Option<DynamicImage> {
    let (w, h) = (frame.width, frame.height);
    let mut planes = Vec::with_capacity(3);
    for c in &frame.components {
        planes.push(c.samples()?);
    }
    let mut rows = Vec::with_capacity(3);
    for (c, plane) in frame.components.iter().zip(&planes) {
        rows.push(upsample::Upsampler::new(frame, c, plane)?);
    }
    let (w32, h32) = (w as u32, h as u32);
    match &mut rows[..] {
        [gray] => {
            let mut out = vec![0u8; w * h];
            for (y, line) in out.chunks_exact_mut(w).enumerate() {
                line.copy_from_slice(gray.row(y));
            }
            GrayImage::from_raw(w32, h32, out).map(Into::into)
        }
        [a, b, c] => {
            let mut out = vec![0u8; 3 * w * h];
            for (y, line) in out.chunks_exact_mut(3 * w).enumerate() {
                let (a, b, c) = (a.row(y), b.row(y), c.row(y));
                if rgb_coded {
                    for (((px, &r), &g), &b) in line.chunks_exact_mut(3).zip(a).zip(b).zip(c) {
                        px.copy_from_slice(&[r, g, b]);
                    }
                } else {
                    ycc_row(a, b, c, line, avx2);
                }
            }
            RgbImage::from_raw(w32, h32, out).map(Into::into)
        }
        _ => None,
    }
}

/// One row of RGB from Y, Cb and Cr rows, in AVX2 registers where `avx2` says the CPU has
/// them.
#[inline(always)]
fn ycc_row(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8], avx2: bool) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is true only inside pixels_avx2, called where the CPU has AVX2.
        return unsafe { ycc_x86::ycc_row(y, cb, cr, out) };
    }
    let _ = avx2;
    upsample::ycc_row(y, cb, cr, out)
}

/// SOS: the scan's components, each a frame component named once, with its tables; and
/// its band. libjpeg's checks: a sequential scan covers 0..=63 at once; a progressive scan
/// is a DC scan (0..=0) or one component's AC band, and a refinement lowers Al by one.
fn parse_sos(seg: &[u8], frame: &Frame) -> Option<(Vec<ScanComponent>, Band)> {
    let n = usize::from(*seg.first()?);
    let specs = seg.get(1..1 + 2 * n)?;
    let [ss, se, a] = seg.get(1 + 2 * n..4 + 2 * n)?.try_into().ok()?;
    let band = Band {
        ss: usize::from(ss),
        se: usize::from(se),
        ah: u32::from(a >> 4),
        al: u32::from(a & 15),
    };
    let valid = if !frame.progressive {
        (band.ss, band.se, band.ah, band.al) == (0, 63, 0, 0)
    } else {
        let shape = if band.ss == 0 {
            band.se == 0
        } else {
            band.ss <= band.se && band.se <= 63 && n == 1
        };
        shape && (band.ah == 0 || band.al + 1 == band.ah) && band.al <= 13
    };
    if n == 0 || n > 4 || !valid {
        return None;
    }
    let mut out: Vec<ScanComponent> = Vec::with_capacity(n);
    for spec in specs.chunks_exact(2) {
        let index = frame.components.iter().position(|c| c.id == spec[0])?;
        let (dc, ac) = (usize::from(spec[1] >> 4), usize::from(spec[1] & 15));
        if dc > 3 || ac > 3 || out.iter().any(|s| s.index == index) {
            return None;
        }
        out.push(ScanComponent { index, dc, ac });
    }
    // An interleaved scan holds at most 10 blocks per MCU (T.81 B.2.3).
    let blocks: usize = out
        .iter()
        .map(|s| frame.components[s.index].h * frame.components[s.index].v)
        .sum();
    (n == 1 || blocks <= 10).then_some((out, band))
}
