//! Which Winograd variant a conv runs, F(2x2, 3x3) or F(4x4, 3x3), as the tile grid of its
//! planes: the grid's shape, the choice (`grid`) and the switch that overrides it.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::conv_kernels::ConvShape;
use super::winograd_tiles43 as t43;

/// The tile grid of one plane: th x tw tiles of m x m outputs (m = 2 for F(2x2, 3x3), 4 for
/// F(4x4, 3x3), `winograd_tiles43.rs`); tile (ty, tx) reads the (m + 2) x (m + 2) input
/// window whose top-left corner is (m ty - pad, m tx - pad).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Grid {
    pub h: usize,
    pub w: usize,
    pub oh: usize,
    pub ow: usize,
    pub pad: usize,
    pub th: usize,
    pub tw: usize,
    pub m: usize,
}

impl Grid {
    /// The F(2x2, 3x3) grid.
    pub fn new(s: &ConvShape) -> Self {
        Self::with_outputs(s, 2)
    }
    /// The grid of m x m output tiles (2 or 4).
    pub fn with_outputs(s: &ConvShape, m: usize) -> Self {
        assert!(m == 2 || m == 4, "F({m}x{m}, 3x3) is not implemented");
        let (oh, ow) = (s.out_h(), s.out_w());
        let (th, tw) = (oh.div_ceil(m), ow.div_ceil(m));
        Grid {
            h: s.h,
            w: s.w,
            oh,
            ow,
            pad: s.pad,
            th,
            tw,
            m,
        }
    }
    pub fn tiles(&self) -> usize {
        self.th * self.tw
    }
    /// Positions in a tile: (m + 2)^2, the GEMMs per pass.
    pub fn positions(&self) -> usize {
        (self.m + 2) * (self.m + 2)
    }
    /// Rows of the zero-padded input the tiles read (at least h + 2 pad).
    pub fn rows(&self) -> usize {
        self.m * self.th + 2
    }
    /// Row scratch any one of the plane transforms needs.
    pub fn scratch_len(&self) -> usize {
        if self.m == 4 {
            return t43::scratch_len(self);
        }
        let span = self.tw + 1;
        let input = 2 * span + 8 * (self.th + 1) * self.tw;
        let input_grad = 2 * self.rows() * span + 32 * self.tiles();
        input.max(input_grad)
    }
}

/// The F(2x2, 3x3) grids (padding 1) whose plane transforms also run as copies with every
/// size a constant (`winograd_tiles.rs`, `plane_transform!`): ResNet's 4x4 and 8x8 planes,
/// and a 28x28 image's 7x7 after two poolings. With the sizes known at run time only, each of
/// a pass's 40-80 runs of 2-4 lanes sets up its own loop, most of the pass on these planes
/// (bench/RESULTS.md, "the small planes' transforms").
pub(super) const SMALL_PLANES: [Grid; 3] = [small_grid(4, 2), small_grid(7, 4), small_grid(8, 4)];

const fn small_grid(side: usize, tiles: usize) -> Grid {
    Grid {
        h: side,
        w: side,
        oh: side,
        ow: side,
        pad: 1,
        th: tiles,
        tw: tiles,
        m: 2,
    }
}

/// Which of `SMALL_PLANES` `g` is, if any.
pub(super) fn small_plane(g: &Grid) -> Option<usize> {
    SMALL_PLANES.iter().position(|s| s == g)
}

/// The tile grid a conv runs on. F(4x4, 3x3) does 1.78x fewer GEMM flops than F(2x2, 3x3)
/// but costs more in transforms and in tile data per output. Per conv (forward + backward,
/// bench/winograd_probe.rs, bench/RESULTS.md) it was 1.0-1.33x faster with 64+ channels on
/// 7x7 planes or larger and 1,024+ F(4x4) tiles in the batch, and slower elsewhere: 0.6-0.9x
/// on 4x4 planes, ~0.95x with 16-32 channels, 0.8-0.94x at 512 tiles on 16x16 planes (ResNet-18
/// b32's second stage; 8x8 planes at 256-512 tiles were 1.0-1.1x, too close to count). Under
/// bf16 GEMMs, where the GEMMs weigh less, it was no faster (0.87-1.16x), and it would add to
/// bf16's rounding: F(2x2, 3x3) stays. `CONVLAB_WINOGRAD=f23|f43` overrides.
pub(super) fn grid(s: &ConvShape) -> Grid {
    let f43 = Grid::with_outputs(s, 4);
    let m = match forced_outputs() {
        Some(m) => m,
        None if s.bf16_gemms() => 2,
        None if s.c.min(s.o) >= 64 && f43.oh.min(f43.ow) >= 7 && s.n * f43.tiles() >= 1024 => 4,
        None => 2,
    };
    if m == 4 { f43 } else { Grid::new(s) }
}

/// The output tile size every Winograd conv is held to: 0 for none (convlab's choice), 2 or
/// 4, or `UNREAD` before the first conv reads `CONVLAB_WINOGRAD`. Read on every conv, so an
/// atomic rather than the environment (a lock and a String each time).
static FORCED_OUTPUTS: AtomicUsize = AtomicUsize::new(UNREAD);
const UNREAD: usize = usize::MAX;

/// `CONVLAB_WINOGRAD=f23|f43` (read once), or what `force_outputs` set last.
fn forced_outputs() -> Option<usize> {
    let mut m = FORCED_OUTPUTS.load(Ordering::Relaxed);
    if m == UNREAD {
        let from_env = match std::env::var("CONVLAB_WINOGRAD").as_deref() {
            Ok("f23") => 2,
            Ok("f43") => 4,
            _ => 0,
        };
        // A `force_outputs` that came first wins.
        m = match FORCED_OUTPUTS.compare_exchange(
            UNREAD,
            from_env,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => from_env,
            Err(set) => set,
        };
    }
    (m != 0).then_some(m)
}

/// Holds every Winograd conv to F(m x m, 3x3) (m = 2 or 4), or with `None` returns the
/// choice to `grid`; it overrides `CONVLAB_WINOGRAD`. For benchmarks that time both.
pub(super) fn force_outputs(m: Option<usize>) {
    assert!(
        matches!(m, None | Some(2) | Some(4)),
        "F(m x m, 3x3) has m = 2 or 4"
    );
    FORCED_OUTPUTS.store(m.unwrap_or(0), Ordering::Relaxed);
}
