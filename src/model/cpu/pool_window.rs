//! What the max and average pooling passes share: which pools they take (square windows,
//! the same padding on every side) and a window's place on a plane, a last window over the
//! edge included (ceil mode).

use burn::nn::PaddingConfig2d;

use crate::model::spec::pooled_size;

/// `(kernel, stride, padding, over_edge)` of a pool the one-pass CPU operations take, for an
/// input plane of `h` x `w`; None sends it to Burn's pooling. `over_edge`: ceil mode keeps a
/// last window that hangs over the bottom or right edge (where the windows tile the padded
/// plane, ceil mode changes nothing and this is false).
pub(super) fn plain(
    kernel: [usize; 2],
    stride: [usize; 2],
    padding: &PaddingConfig2d,
    ceil_mode: bool,
    (h, w): (usize, usize),
) -> Option<(usize, usize, usize, bool)> {
    let ([k, kw], [s, sw]) = (kernel, stride);
    let p = match *padding {
        PaddingConfig2d::Valid => 0,
        PaddingConfig2d::Explicit(t, l, b, r) if t == l && l == b && b == r => t,
        _ => return None,
    };
    // PyTorch's limit, p <= k / 2, keeps every window on the plane in part.
    let plain =
        k == kw && s == sw && k > 0 && s > 0 && 2 * p <= k && h + 2 * p >= k && w + 2 * p >= k;
    if !plain {
        return None;
    }
    // Counted only now: a kernel larger than the padded plane has no windows to count.
    let g = PoolWindow::with_mode(&[1, 1, h, w], k, s, p, ceil_mode);
    let floor = PoolWindow::new(&[1, 1, h, w], k, s, p);
    Some((k, s, p, (g.oh, g.ow) != (floor.oh, floor.ow)))
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
    /// For an [n, c, h, w] `shape`, the output size rounded down.
    pub fn new(shape: &[usize], k: usize, s: usize, p: usize) -> Self {
        Self::with_mode(shape, k, s, p, false)
    }

    /// The same, rounded up with `ceil_mode`, as PyTorch counts: a last window that would
    /// start past the plane and its left padding is left out.
    pub fn with_mode(shape: &[usize], k: usize, s: usize, p: usize, ceil_mode: bool) -> Self {
        let (h, w) = (shape[2], shape[3]);
        PoolWindow {
            h,
            w,
            oh: pooled_size(h, k, s, p, ceil_mode),
            ow: pooled_size(w, k, s, p, ceil_mode),
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

    /// Ceil mode adds a window over the edge only where the windows do not tile the padded
    /// plane (shapes as PyTorch's: spec::shape's test).
    #[test]
    fn ceil_mode_is_plain_only_where_the_windows_tile_the_plane() {
        let over_edge = |k, s, p, n, ceil| {
            let padding = PaddingConfig2d::Explicit(p, p, p, p);
            plain([k, k], [s, s], &padding, ceil, (n, n)).map(|(.., over)| over)
        };
        assert_eq!(over_edge(2, 2, 0, 28, true), Some(false));
        assert_eq!(over_edge(3, 2, 1, 7, true), Some(false));
        assert_eq!(over_edge(2, 2, 0, 7, true), Some(true));
        assert_eq!(over_edge(3, 2, 0, 26, true), Some(true));
        assert_eq!(over_edge(3, 2, 0, 26, false), Some(false));
        // PyTorch drops a last window that would start in the right padding: 5 + 2 by 2x2
        // gives 3 windows, as rounding down does.
        assert_eq!(over_edge(2, 2, 1, 5, true), Some(false));
        // A kernel larger than the plane is Burn's to refuse.
        assert_eq!(over_edge(5, 1, 0, 3, true), None);
    }
}
