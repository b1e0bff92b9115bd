//! The batch cut into fixed chunks of images for the convolutions' backward passes: the
//! chunks run in parallel and their partial weight gradients are summed in chunk order, so
//! the gradients have the same bits whatever the number of threads.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// The chunks' partial gradients (each `len` long) summed in chunk order: the same bits
/// whatever the thread count.
pub(super) fn sum_in_chunk_order<'a>(
    partials: impl Iterator<Item = &'a [f32]>,
    len: usize,
) -> Vec<f32> {
    let mut sum = vec![0.0f32; len];
    for part in partials {
        sum.iter_mut().zip(part).for_each(|(a, b)| *a += b);
    }
    sum
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
    let mut dx: Vec<f32> = Vec::with_capacity(n * in_len);
    let partials = dx.spare_capacity_mut()[..n * in_len]
        .par_chunks_mut(in_len * per)
        .enumerate()
        .map(|(chunk, dxc)| work(chunk, Some(dxc)))
        .collect();
    // SAFETY: the chunks cover all n * in_len elements and `work` wrote each one.
    unsafe { dx.set_len(n * in_len) };
    (Some(dx), partials)
}
