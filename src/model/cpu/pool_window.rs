//! What the max and average pooling passes share: which pools they take (square windows,
//! the same padding on every side, no ceil mode unless it changes nothing) and a window's
//! place on a plane.

use burn::nn::PaddingConfig2d;

/// `(kernel, stride, padding)` of a pool the one-pass CPU operations take, for an input plane
/// of `h` x `w`; None sends it to Burn's pooling.
pub(super) fn plain(
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: &PaddingConfig2d,
    ceil_mode: bool,
    (h, w): (usize, usize),
) -> Option<(usize, usize, usize)> {
    let ([k, kw], [s, sw]) = (kernel, stride);
    let p = match *padding {
        PaddingConfig2d::Valid => 0,
        PaddingConfig2d::Explicit(t, l, b, r) if t == l && l == b && b == r => t,
        _ => return None,
    };
    // PyTorch's limit, p <= k / 2, keeps every window on the plane in part. Ceil mode
    // changes nothing where the windows tile the padded plane exactly (28 -> 14 by 2x2).
    let tiles = |n: usize| (n + 2 * p - k).is_multiple_of(s);
    let plain = k == kw
        && s == sw
        && k > 0
        && s > 0
        && 2 * p <= k
        && h + 2 * p >= k
        && w + 2 * p >= k
        && (!ceil_mode || (tiles(h) && tiles(w)));
    plain.then_some((k, s, p))
}

/// A plane of `h` x `w`, its windows (k x k every s pixels over the plane padded by p on
/// every side) and the output plane's `oh` x `ow`.
#[derive(Clone, Copy, Debug)]
pub(super) struct PoolWindow {
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub k: usize,
    pub s: usize,
    pub p: usize,
}

impl PoolWindow {
    /// For an [n, c, h, w] `shape`.
    pub fn new(shape: &[usize], k: usize, s: usize, p: usize) -> Self {
        let (h, w) = (shape[2], shape[3]);
        PoolWindow {
            h,
            w,
            oh: (h + 2 * p - k) / s + 1,
            ow: (w + 2 * p - k) / s + 1,
            k,
            s,
            p,
        }
    }

    /// The rows (or columns) of the plane under window `o` along a side of `n` pixels: the
    /// padding is left out (a max never picks it, and its zeros add nothing to a sum).
    pub fn span(&self, o: usize, n: usize) -> std::ops::Range<usize> {
        let start = o * self.s;
        start.saturating_sub(self.p)..(start + self.k - self.p).min(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ceil mode is taken where it gives the same windows as rounding down (the windows
    /// tile the padded plane), and sent to Burn's pooling where it adds one over the edge.
    #[test]
    fn ceil_mode_is_plain_only_where_the_windows_tile_the_plane() {
        let take = |k, s, p, n, ceil| {
            let padding = PaddingConfig2d::Explicit(p, p, p, p);
            plain([k, k], [s, s], &padding, ceil, (n, n)).is_some()
        };
        assert!(take(2, 2, 0, 28, true));
        assert!(take(3, 2, 1, 7, true));
        assert!(!take(2, 2, 0, 7, true));
        assert!(!take(3, 2, 0, 26, true));
        assert!(take(3, 2, 0, 26, false));
    }
}
