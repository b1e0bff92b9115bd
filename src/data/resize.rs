//! Resizing as PIL's `Image.resize(size, BILINEAR)` does it, which is what torchvision's
//! `transforms.Resize` runs on the PIL images `ImageFolder` opens: a triangle filter widened
//! by the scale when shrinking (antialiased), weights normalized in f64 then fixed to 22
//! fractional bits, one pass across and one down, the first pass's result rounded to bytes
//! (Pillow's libImaging/Resample.c). The image crate's triangle filter accumulates in f32
//! and rounds once, so a resized image differed from PyTorch's by a level here and there.

/// Fractional bits of the fixed-point weights (Resample.c's PRECISION_BITS, 32 - 8 - 2).
const PRECISION_BITS: u32 = 22;
/// A weighted sum starts at half a unit, so that the shift rounds.
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// For each output position: the first input position it reads, and its fixed-point
/// weights (as many as it reads).
struct Weights {
    first: Vec<usize>,
    weights: Vec<Vec<i32>>,
}

/// Resample.c's precompute_coeffs and normalize_coeffs_8bpc for the bilinear filter
/// (support 1), over the whole input (box 0..input).
fn weights(input: usize, output: usize) -> Weights {
    let scale = input as f64 / output as f64;
    let filter_scale = scale.max(1.0);
    let support = filter_scale;
    let (mut first, mut weights) = (Vec::with_capacity(output), Vec::with_capacity(output));
    for out in 0..output {
        let center = (out as f64 + 0.5) * scale;
        // C's (int) casts truncate toward zero, as `as` does.
        let lo = ((center - support + 0.5) as i64).max(0) as usize;
        let hi = ((center + support + 0.5) as i64).min(input as i64) as usize;
        let taps: Vec<f64> = (lo..hi.max(lo))
            .map(|x| {
                let t = ((x as f64 - center + 0.5) * (1.0 / filter_scale)).abs();
                if t < 1.0 { 1.0 - t } else { 0.0 }
            })
            .collect();
        let sum: f64 = taps.iter().sum();
        let fixed = taps
            .iter()
            .map(|&w| {
                let w = if sum != 0.0 { w / sum } else { w };
                let scaled = w * f64::from(1u32 << PRECISION_BITS);
                (if w < 0.0 { scaled - 0.5 } else { scaled + 0.5 }) as i32
            })
            .collect();
        first.push(lo);
        weights.push(fixed);
    }
    Weights { first, weights }
}

/// A weighted sum back to a byte: Resample.c's clip8.
fn clip8(sum: i32) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

/// `px`, `w` x `h` pixels of `c` interleaved 8-bit channels, resized to `out_w` x `out_h`.
/// A dimension that keeps its size is not resampled, as in PIL. The pass across runs
/// first, unless the height shrinks by more than twice as many pixels as the width does:
/// Pillow 13's rule (its ImagingResampleInner), which decides how the first pass rounds.
pub fn bilinear(
    px: &[u8],
    c: usize,
    (w, h): (usize, usize),
    (out_w, out_h): (usize, usize),
) -> Vec<u8> {
    let (across, down) = (out_w != w, out_h != h);
    let shrink_h = h as i64 - out_h as i64;
    if across && down && shrink_h > 0 && shrink_h > 2 * (w as i64 - out_w as i64) {
        let tall = vertical(px, c, w, h, out_h);
        return horizontal(&tall, c, w, out_h, out_w);
    }
    match (across, down) {
        (true, true) => vertical(&horizontal(px, c, w, h, out_w), c, out_w, h, out_h),
        (true, false) => horizontal(px, c, w, h, out_w),
        (false, true) => vertical(px, c, w, h, out_h),
        (false, false) => px.to_vec(),
    }
}

/// Every row resampled from `w` to `out_w` pixels.
fn horizontal(px: &[u8], c: usize, w: usize, h: usize, out_w: usize) -> Vec<u8> {
    // The channel count as a constant, so that each tap's channels are summed in one pass.
    match c {
        1 => horizontal_of::<1>(px, w, h, out_w),
        3 => horizontal_of::<3>(px, w, h, out_w),
        _ => unreachable!("images are gray or RGB here, not {c} channels"),
    }
}

fn horizontal_of<const C: usize>(px: &[u8], w: usize, h: usize, out_w: usize) -> Vec<u8> {
    let k = weights(w, out_w);
    let mut out = vec![0u8; h * out_w * C];
    for (src, line) in px.chunks_exact(w * C).zip(out.chunks_exact_mut(out_w * C)) {
        for ((dst, &first), taps) in line.chunks_exact_mut(C).zip(&k.first).zip(&k.weights) {
            let mut sum = [HALF; C];
            let from = &src[first * C..(first + taps.len()) * C];
            for (p, &wt) in from.chunks_exact(C).zip(taps) {
                for ch in 0..C {
                    sum[ch] += i32::from(p[ch]) * wt;
                }
            }
            for ch in 0..C {
                dst[ch] = clip8(sum[ch]);
            }
        }
    }
    out
}

/// Every column resampled from `h` to `out_h` pixels: each output row is a weighted sum of
/// whole input rows, which vectorizes.
fn vertical(px: &[u8], c: usize, w: usize, h: usize, out_h: usize) -> Vec<u8> {
    let k = weights(h, out_h);
    let stride = w * c;
    let mut out = vec![0u8; out_h * stride];
    let mut sums = vec![0i32; stride];
    for ((line, &first), taps) in out.chunks_exact_mut(stride).zip(&k.first).zip(&k.weights) {
        sums.fill(HALF);
        for (r, &wt) in taps.iter().enumerate() {
            let row = &px[(first + r) * stride..(first + r + 1) * stride];
            for (s, &v) in sums.iter_mut().zip(row) {
                *s += i32::from(v) * wt;
            }
        }
        for (o, &s) in line.iter_mut().zip(&sums) {
            *o = clip8(s);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::bilinear;

    /// PIL's values (Pillow 13.0.0):
    ///
    /// ```python
    /// a = (np.arange(35).reshape(7, 5) * 37 % 256).astype(np.uint8)  # 5 wide, 7 high
    /// np.asarray(Image.fromarray(a).resize((3, 5), Image.BILINEAR)).flatten().tolist()
    /// b = np.random.default_rng(0).integers(0, 256, (9, 6), dtype=np.uint8)
    /// np.asarray(Image.fromarray(b).resize((4, 3), Image.BILINEAR)).flatten().tolist()
    /// ```
    ///
    /// 5x7 to 3x5 runs across first; 8x9 enlarges both ways. 6x9 to 4x3 shrinks the height by
    /// 6 pixels, more than twice the width's 2, so Pillow 13 runs the pass down first;
    /// across first gives 97 for its 6th value and 129 for its 10th.
    #[test]
    fn resizes_as_pil_does() {
        let a: Vec<u8> = (0..35u32).map(|i| (i * 37 % 256) as u8).collect();
        assert_eq!(
            bilinear(&a, 1, (5, 7), (3, 5)),
            [
                78, 69, 108, 162, 131, 83, 86, 117, 148, 151, 103, 72, 126, 165, 156
            ]
        );
        let up = bilinear(&a, 1, (5, 7), (8, 9));
        assert_eq!(up.len(), 72);
        assert_eq!(
            &up[..12],
            [0, 16, 39, 62, 86, 109, 132, 148, 123, 139, 152, 68]
        );
        assert_eq!(
            &up[60..],
            [166, 82, 95, 111, 86, 102, 125, 148, 172, 195, 218, 234]
        );
        let b = [
            95, 130, 194, 217, 207, 235, 15, 163, 33, 215, 217, 130, 248, 189, 16, 69, 184, 232,
            205, 78, 169, 61, 125, 10, 29, 240, 66, 19, 182, 39, 59, 4, 59, 81, 222, 44, 120, 122,
            50, 208, 78, 28, 64, 166, 121, 89, 170, 233, 127, 178, 237, 128, 113, 123,
        ];
        let want = [130, 116, 163, 178, 118, 96, 103, 96, 110, 130, 131, 134];
        assert_eq!(bilinear(&b, 1, (6, 9), (4, 3)), want);
        // Three channels are resized each on its own: the same image in each gives it thrice.
        let rgb: Vec<u8> = b.iter().flat_map(|&v| [v, v, v]).collect();
        let out = bilinear(&rgb, 3, (6, 9), (4, 3));
        assert_eq!(out.chunks(3).map(|p| p[1]).collect::<Vec<_>>(), want);
    }
}
