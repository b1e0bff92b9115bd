//! The tables a baseline JPEG's header defines (ITU T.81 B.2.4): quantization tables (DQT),
//! Huffman tables (DHT), and the frame itself (SOF0/SOF1). Each parser returns None for what a
//! well-formed file would not hold, so the caller leaves the file to the image crate.

use std::borrow::Cow;

/// Zig-zag index to natural (row-major) index of an 8x8 block (T.81 figure A.6).
pub const NATURAL_ORDER: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// A quantization table in zig-zag order, as DQT stores it.
pub type Quant = [u16; 64];

/// One DQT segment's tables: (destination 0-3, table).
pub fn parse_dqt(mut seg: &[u8]) -> Option<Vec<(usize, Quant)>> {
    let mut out = Vec::new();
    while let Some((&pq_tq, rest)) = seg.split_first() {
        let (precision, dest) = (pq_tq >> 4, usize::from(pq_tq & 15));
        let width = if precision == 0 { 1 } else { 2 };
        if precision > 1 || dest > 3 || rest.len() < 64 * width {
            return None;
        }
        let mut q = [0u16; 64];
        for (k, v) in q.iter_mut().enumerate() {
            *v = if width == 1 {
                u16::from(rest[k])
            } else {
                u16::from_be_bytes([rest[2 * k], rest[2 * k + 1]])
            };
        }
        out.push((dest, q));
        seg = &rest[64 * width..];
    }
    Some(out)
}

/// A canonical Huffman code (T.81 annex C): codes of up to 9 bits are read by one table
/// lookup, longer ones by the per-length bounds of F.2.2.3.
pub struct Huffman {
    /// For each 9-bit prefix: (length << 8) | value, or 0 where the code is longer.
    fast: Vec<u16>,
    /// Largest code of each length (index 1-16), -1 where there is none.
    max_code: [i32; 17],
    /// values[first_index[len] + code - min_code[len]] is the value of a code of that length.
    min_code: [i32; 17],
    first_index: [i32; 17],
    values: Vec<u8>,
}

pub const FAST_BITS: u32 = 9;

impl Huffman {
    /// `counts[i]` codes of length i + 1, then their values in code order.
    fn new(counts: &[u8; 16], values: Vec<u8>) -> Option<Self> {
        let mut fast = vec![0u16; 1 << FAST_BITS];
        let (mut max_code, mut min_code, mut first_index) = ([-1i32; 17], [0i32; 17], [0i32; 17]);
        let (mut code, mut k) = (0i32, 0usize);
        for len in 1..=16u32 {
            let n = usize::from(counts[len as usize - 1]);
            first_index[len as usize] = k as i32;
            min_code[len as usize] = code;
            for _ in 0..n {
                // A code that does not fit its length means the counts are impossible.
                if code >= (1 << len) {
                    return None;
                }
                if len <= FAST_BITS {
                    let shift = FAST_BITS - len;
                    let base = (code as usize) << shift;
                    let entry = ((len as u16) << 8) | u16::from(values[k]);
                    fast[base..base + (1 << shift)].fill(entry);
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                max_code[len as usize] = code - 1;
            }
            code <<= 1;
        }
        Some(Huffman {
            fast,
            max_code,
            min_code,
            first_index,
            values,
        })
    }

    /// The value and length of the code at the top of `peek16` (the next 16 bits).
    #[inline(always)]
    pub fn lookup(&self, peek16: u32) -> Option<(u8, u32)> {
        let entry = self.fast[(peek16 >> (16 - FAST_BITS)) as usize];
        if entry != 0 {
            return Some((entry as u8, u32::from(entry >> 8)));
        }
        self.lookup_long(peek16)
    }

    /// A code longer than FAST_BITS, found by its length's range of codes.
    #[cold]
    fn lookup_long(&self, peek16: u32) -> Option<(u8, u32)> {
        for len in FAST_BITS + 1..=16 {
            let code = (peek16 >> (16 - len)) as i32;
            if code <= self.max_code[len as usize] {
                let i = self.first_index[len as usize] + code - self.min_code[len as usize];
                return Some((*self.values.get(i as usize)?, len));
            }
        }
        None
    }
}

/// One DHT segment's tables: (class 0 = DC / 1 = AC, destination 0-3, table).
pub fn parse_dht(mut seg: &[u8]) -> Option<Vec<(usize, usize, Huffman)>> {
    let mut out = Vec::new();
    while seg.len() >= 17 {
        let (class, dest) = (usize::from(seg[0] >> 4), usize::from(seg[0] & 15));
        let counts: [u8; 16] = seg[1..17].try_into().ok()?;
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if class > 1 || dest > 3 || total > 256 || seg.len() < 17 + total {
            return None;
        }
        let table = Huffman::new(&counts, seg[17..17 + total].to_vec())?;
        out.push((class, dest, table));
        seg = &seg[17 + total..];
    }
    seg.is_empty().then_some(out)
}

/// A frame component (T.81 B.2.2) and what the scans so far made of it.
pub struct Component {
    pub id: u8,
    pub h: usize,
    pub v: usize,
    pub quant: usize,
    /// The quantization table, taken when the component's first scan starts.
    pub quant_table: Option<Quant>,
    /// Samples of the component's own size, ceil(X * h / hmax) by ceil(Y * v / vmax).
    pub width: usize,
    pub height: usize,
    /// Blocks across and down: every block an interleaved scan writes, dummy ones included.
    pub blocks_x: usize,
    pub blocks_y: usize,
    /// A progressive frame's quantized coefficients, 64 per block in natural order, blocks
    /// row-major, as the scans so far left them.
    pub coefs: Vec<i16>,
    /// A sequential frame's samples, rows `8 * blocks_x` long, written as its scan is read
    /// (no coefficient is kept: a block is final once read).
    pub plane: Vec<u8>,
    pub decoded: bool,
}

impl Component {
    /// The quantization table in natural order, as the inverse DCT takes it.
    pub fn dequantizer(&self) -> Option<[i32; 64]> {
        let zigzag = self.quant_table.as_ref()?;
        let mut quant = [0i32; 64];
        for (k, &q) in zigzag.iter().enumerate() {
            quant[NATURAL_ORDER[k]] = i32::from(q);
        }
        Some(quant)
    }

    /// The component's samples, rows `8 * blocks_x` long: a sequential scan's, made block by
    /// block as it was read, or each stored block of a progressive one dequantized and
    /// inverse-transformed (islow) now.
    #[inline(always)]
    pub fn samples(&self) -> Option<Cow<'_, [u8]>> {
        if !self.plane.is_empty() {
            return Some(Cow::Borrowed(&self.plane));
        }
        let quant = self.dequantizer()?;
        let stride = 8 * self.blocks_x;
        let mut plane = vec![0u8; stride * 8 * self.blocks_y];
        let avx2 = super::idct::has_avx2();
        for (i, block) in self.coefs.chunks_exact(64).enumerate() {
            let (bx, by) = (i % self.blocks_x, i / self.blocks_x);
            let out = &mut plane[by * 8 * stride + bx * 8..];
            super::idct::block_samples(block.try_into().ok()?, &quant, out, stride, avx2);
        }
        Some(Cow::Owned(plane))
    }
}

pub struct Frame {
    pub progressive: bool,
    pub width: usize,
    pub height: usize,
    pub hmax: usize,
    pub vmax: usize,
    pub mcus_x: usize,
    pub mcus_y: usize,
    pub components: Vec<Component>,
}

/// Above this many decoded samples the file is left to the image crate, whose 512 MiB
/// limit then gives its "too large" error.
const MAX_SAMPLES: usize = 512 << 20;

/// SOF0/SOF1 (sequential) or SOF2 (progressive): 8-bit samples, one (gray) or three
/// (colour) components of sampling 1-4.
pub fn parse_sof(seg: &[u8], progressive: bool) -> Option<Frame> {
    let (&precision, rest) = seg.split_first()?;
    let height = usize::from(u16::from_be_bytes([*rest.first()?, *rest.get(1)?]));
    let width = usize::from(u16::from_be_bytes([*rest.get(2)?, *rest.get(3)?]));
    let n = usize::from(*rest.get(4)?);
    let specs = rest.get(5..5 + 3 * n)?;
    if precision != 8 || width == 0 || height == 0 || !(n == 1 || n == 3) {
        return None;
    }
    let sampling: Vec<(u8, usize, usize, usize)> = specs
        .chunks_exact(3)
        .map(|c| {
            (
                c[0],
                usize::from(c[1] >> 4),
                usize::from(c[1] & 15),
                usize::from(c[2]),
            )
        })
        .collect();
    if sampling
        .iter()
        .any(|&(_, h, v, q)| !(1..=4).contains(&h) || !(1..=4).contains(&v) || q > 3)
    {
        return None;
    }
    let hmax = sampling.iter().map(|s| s.1).max()?;
    let vmax = sampling.iter().map(|s| s.2).max()?;
    let (mcus_x, mcus_y) = (width.div_ceil(8 * hmax), height.div_ceil(8 * vmax));
    // Coefficients take 2 bytes a sample, and padding to whole MCUs adds to that.
    if width * height * n > MAX_SAMPLES {
        return None;
    }
    let components = sampling
        .into_iter()
        .map(|(id, h, v, quant)| Component {
            id,
            h,
            v,
            quant,
            quant_table: None,
            width: (width * h).div_ceil(hmax),
            height: (height * v).div_ceil(vmax),
            blocks_x: mcus_x * h,
            blocks_y: mcus_y * v,
            coefs: if progressive {
                vec![0; mcus_x * h * mcus_y * v * 64]
            } else {
                Vec::new()
            },
            plane: Vec::new(),
            decoded: false,
        })
        .collect();
    Some(Frame {
        progressive,
        width,
        height,
        hmax,
        vmax,
        mcus_x,
        mcus_y,
        components,
    })
}
