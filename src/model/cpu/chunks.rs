//! The batch cut into fixed chunks of images for the convolutions' backward passes: the
//! chunks run in parallel and their partial weight gradients are summed in chunk order, so
//! the gradients have the same bits whatever the number of threads. Also each thread's
//! scratch buffers, which the chunks of both convolution paths work in.

use std::cell::RefCell;
use std::mem::MaybeUninit;

use rayon::prelude::*;

/// The chunks' partial gradients (each `len` long) summed in chunk order: the same bits
/// whatever the thread count. Long sums (a 256 -> 512 conv's 8 partials of 1.2M weights) run
/// in parallel over fixed ranges of elements, each still summed in chunk order.
pub(super) fn sum_in_chunk_order<'a>(
    partials: impl Iterator<Item = &'a [f32]>,
    len: usize,
) -> Vec<f32> {
    const RANGE: usize = 1 << 14;
    let partials: Vec<&[f32]> = partials.collect();
    let (sum, _) = filled_in_chunks(len, RANGE, |r, out| {
        let start = r * RANGE;
        let out = zeroed(out);
        // A partial may be empty (no bias): it adds nothing, as zip stops at its end.
        for part in &partials {
            let part = part.get(start..).unwrap_or(&[]);
            out.iter_mut().zip(part).for_each(|(a, b)| *a += b);
        }
    });
    sum
}

/// `part` with every element set to 0, as an initialized slice.
pub(super) fn zeroed(part: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    part.iter_mut().for_each(|v| {
        v.write(0.0);
    });
    // SAFETY: every element was just written.
    unsafe { std::slice::from_raw_parts_mut(part.as_mut_ptr().cast::<f32>(), part.len()) }
}

/// Runs `work(chunk, dx of its images)` over the batch in chunks of `per` images, in
/// parallel; `work` must write every element of its dx chunk. Returns dx (when `need_x`) and
/// each chunk's result, in chunk order.
pub(super) fn backward_in_chunks<T: Send>(
    n: usize,
    per: usize,
    in_len: usize,
    need_x: bool,
    work: impl Fn(usize, Option<&mut [MaybeUninit<f32>]>) -> T + Sync,
) -> (Option<Vec<f32>>, Vec<T>) {
    if !need_x {
        let partials = (0..n.div_ceil(per))
            .into_par_iter()
            .map(|c| work(c, None))
            .collect();
        return (None, partials);
    }
    let (dx, partials) = filled_in_chunks(n * in_len, per * in_len, |c, dxc| work(c, Some(dxc)));
    (Some(dx), partials)
}

/// A vector of `len` values, never zeroed first: `fill(k, slice)` writes chunk k (elements
/// k * chunk_len onward, the last chunk shorter), chunks in parallel. `fill` must write every
/// element of its slice. Returns the vector and each chunk's result, in chunk order.
pub(super) fn filled_in_chunks<T: Send>(
    len: usize,
    chunk_len: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) -> T + Sync,
) -> (Vec<f32>, Vec<T>) {
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let results = out.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk_len)
        .enumerate()
        .map(|(k, part)| fill(k, part))
        .collect();
    // SAFETY: the chunks cover all `len` elements and `fill` wrote each one.
    unsafe { out.set_len(len) };
    (out, results)
}

/// Rows, each cut into `pieces` pieces, regrouped piece by piece: entry j holds piece j of
/// every row, in row order (to hand each parallel task its piece of every row).
pub(super) fn by_piece<T>(mut rows: Vec<impl Iterator<Item = T>>, pieces: usize) -> Vec<Vec<T>> {
    (0..pieces)
        .map(|_| {
            rows.iter_mut()
                .map(|r| r.next().expect("`pieces` pieces per row"))
                .collect()
        })
        .collect()
}

thread_local! {
    /// Each thread's scratch buffers (im2col: patches and patch gradients; Winograd: input
    /// tiles, output or gradient tiles, row scratch), kept between calls: the convolutions
    /// overwrite every element they read, so they are never zeroed. A fresh zeroed
    /// c*k*k x oh*ow buffer per chunk of images was a memset of 2.4 MB per chunk on
    /// ResNet-18's 64-channel layers.
    static SCRATCH: RefCell<[Vec<f32>; 3]> = const { RefCell::new([Vec::new(), Vec::new(), Vec::new()]) };
}

/// Runs `f` with this thread's three scratch buffers cut to `lens`. `f` must not start
/// parallel work (a stolen job on this thread would borrow the buffers again).
pub(super) fn with_scratch<R>(
    lens: [usize; 3],
    f: impl FnOnce(&mut [f32], &mut [f32], &mut [f32]) -> R,
) -> R {
    SCRATCH.with(|cell| {
        let mut bufs = cell.borrow_mut();
        for (b, &len) in bufs.iter_mut().zip(&lens) {
            if b.len() < len {
                b.resize(len, 0.0);
            }
        }
        let [a, b, c] = &mut *bufs;
        f(&mut a[..lens[0]], &mut b[..lens[1]], &mut c[..lens[2]])
    })
}
