//! Entropy-coded data as a bit stream (T.81 F.1.2.3, F.2.2.5): 0xFF 0x00 is a 0xFF byte, a
//! marker ends the data, restart markers are checked and passed.

use super::tables::Huffman;

/// Entropy-coded bytes as a bit stream: 0xFF 0x00 is a 0xFF byte; a marker ends the data, and
/// zero bits stand in after it so that a lookahead never runs short.
pub struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    buf: u64,
    count: u32,
    /// Zero bits put in the buffer after the end of the data; reading into them is damage.
    padding: u32,
    /// The marker that ended the data and where its 0xFF is.
    marker: Option<(u8, usize)>,
}

impl<'a> Bits<'a> {
    pub fn new(data: &'a [u8], pos: usize) -> Self {
        Bits {
            data,
            pos,
            buf: 0,
            count: 0,
            padding: 0,
            marker: None,
        }
    }

    /// Tops the buffer up to at least 57 bits: eight bytes at a time where none of them is
    /// 0xFF (then no byte is stuffed and no marker is near), else byte by byte.
    #[inline(always)]
    fn fill(&mut self) {
        if let Some(word) = self
            .data
            .get(self.pos..)
            .and_then(|rest| rest.first_chunk::<8>())
        {
            let word = u64::from_be_bytes(*word);
            let inverted = !word;
            let has_ff =
                inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080;
            if has_ff == 0 && self.marker.is_none() {
                // The whole bytes that fit below the `count` bits held.
                let bytes = (64 - self.count) / 8;
                let top = u64::MAX.checked_shr(8 * bytes).map_or(u64::MAX, |low| !low);
                self.buf |= (word & top) >> self.count;
                self.count += 8 * bytes;
                self.pos += bytes as usize;
                return;
            }
        }
        self.fill_slowly();
    }

    #[inline(never)]
    fn fill_slowly(&mut self) {
        while self.count <= 56 {
            let byte = self.next_byte();
            self.buf |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    fn next_byte(&mut self) -> u8 {
        if self.marker.is_none() {
            match self.data.get(self.pos) {
                Some(&0xFF) => {
                    // Fill bytes (more 0xFF) may come before a marker.
                    let mut next = self.pos + 1;
                    while self.data.get(next) == Some(&0xFF) {
                        next += 1;
                    }
                    match self.data.get(next) {
                        Some(0) => {
                            self.pos = next + 1;
                            return 0xFF;
                        }
                        Some(&m) => self.marker = Some((m, self.pos)),
                        None => self.marker = Some((0, self.data.len())),
                    }
                }
                Some(&b) => {
                    self.pos += 1;
                    return b;
                }
                None => self.marker = Some((0, self.data.len())),
            }
        }
        self.padding += 8;
        0
    }

    #[inline(always)]
    fn peek16(&mut self) -> u32 {
        if self.count < 16 {
            self.fill();
        }
        (self.buf >> 48) as u32
    }

    #[inline(always)]
    fn consume(&mut self, n: u32) {
        self.buf <<= n;
        self.count -= n;
    }

    #[inline(always)]
    pub fn decode(&mut self, table: &Huffman) -> Option<u8> {
        let (value, len) = table.lookup(self.peek16())?;
        self.consume(len);
        Some(value)
    }

    /// `n` more bits as an unsigned number (n <= 16).
    #[inline(always)]
    pub fn receive(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        if self.count < n {
            self.fill();
        }
        let bits = (self.buf >> (64 - n)) as u32;
        self.consume(n);
        bits
    }

    /// `n` more bits as the signed value of T.81's EXTEND (F.2.2.1).
    #[inline(always)]
    pub fn receive_extend(&mut self, n: u32) -> i32 {
        let bits = self.receive(n) as i32;
        if n == 0 || bits >= 1 << (n - 1) {
            bits
        } else {
            bits - (1 << n) + 1
        }
    }

    pub fn overran(&self) -> bool {
        self.count < self.padding
    }

    /// Past a restart marker RSTn: the bits before it are padding; prediction starts over.
    pub fn restart(&mut self, n: usize) -> Option<()> {
        let at = match self.marker.take() {
            Some((_, at)) => at,
            None => self.pos,
        };
        let fill = self
            .data
            .get(at..)?
            .iter()
            .take_while(|&&b| b == 0xFF)
            .count();
        let marker = *self.data.get(at + fill)?;
        if fill == 0 || usize::from(marker) != 0xD0 + n % 8 {
            return None;
        }
        *self = Bits::new(self.data, at + fill + 1);
        Some(())
    }

    /// Where the marker that ends the scan starts.
    pub fn end(&self) -> usize {
        match self.marker {
            Some((_, at)) => at,
            None => {
                let mut at = self.pos;
                while at + 1 < self.data.len() {
                    if self.data[at] == 0xFF && !matches!(self.data[at + 1], 0 | 0xFF) {
                        break;
                    }
                    at += 1;
                }
                at
            }
        }
    }
}
