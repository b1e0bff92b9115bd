//! Batch norm's arithmetic in training, by blocks of channels: each block is one job that
//! reads its channels' values for their sums and then again for the outputs, while they are
//! still in the core's cache. Done as whole-tensor passes (every channel's sums, then the
//! outputs), each pass read the activations from memory again: three reads and a write
//! forward, five reads and a write backward (bench/bn_probe.rs).
//!
//! In [n, C, plane] data a block of channels c0..c1 is one run of (c1 - c0) planes per image.
//! Blocks span at least `MIN_RUN` values per image: one channel of a 16x16 or larger plane,
//! more of smaller ones (all the features of a flat [batch, features] input). Channel by
//! channel, ResNet's 4x4 planes at batch 1,024 were 64-byte pieces 16 KB apart, and the passes
//! ran slower than the whole-tensor ones on this VM's 4 KB pages.
//!
//! Each channel's sums still add its planes' `sum_zip`s in image order, as before, so the
//! values have the same bits, whatever the thread count.

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

use super::sum_zip;

/// Values per image that a block spans at least (where there are enough channels).
const MIN_RUN: usize = 256;

/// The shape of the data: images, channels, values per plane.
#[derive(Clone, Copy)]
struct Layout {
    images: usize,
    channels: usize,
    plane: usize,
}

impl Layout {
    /// The layout of `len` values in `channels` channels of `plane` values per plane.
    fn of(len: usize, (channels, plane): (usize, usize)) -> Self {
        Layout {
            images: len / plane / channels,
            channels,
            plane,
        }
    }

    /// The values of channels `block` in image n (one run).
    fn run(&self, n: usize, block: &Range<usize>) -> Range<usize> {
        let start = (n * self.channels + block.start) * self.plane;
        start..start + block.len() * self.plane
    }
}

/// The output's elements, shared by the jobs: each job's writer hands out only its own
/// block's runs, one at a time.
#[derive(Clone, Copy)]
struct Shared(*mut MaybeUninit<f32>);

// SAFETY: the writers hand out disjoint runs (below), so sharing the pointer races on nothing.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// A block's runs of the output.
struct BlockWriter {
    dst: Shared,
    layout: Layout,
    block: Range<usize>,
}

impl BlockWriter {
    /// The block's run in image n.
    fn run(&mut self, n: usize) -> &mut [MaybeUninit<f32>] {
        assert!(n < self.layout.images);
        let r = self.layout.run(n, &self.block);
        // SAFETY: the run lies inside the output (n < images, the block inside the
        // channels); blocks do not overlap and only this block's writer hands out its runs;
        // the `&mut self` borrow lets one live at a time.
        unsafe { std::slice::from_raw_parts_mut(self.dst.0.add(r.start), r.len()) }
    }
}

/// A tensor of `layout`'s size written by `job(block, writer)`, which must write every value
/// of its block's runs; the blocks run in parallel. Returns the output (empty and no writer
/// when `write` is false) and the jobs' results in channel order.
fn by_blocks<T: Send>(
    layout: Layout,
    write: bool,
    job: impl Fn(Range<usize>, Option<BlockWriter>) -> T + Sync,
) -> (Vec<f32>, Vec<T>) {
    let Layout {
        images,
        channels,
        plane,
    } = layout;
    let len = images * channels * plane;
    let per = MIN_RUN.div_ceil(plane).min(channels).max(1);
    let mut out: Vec<f32> = Vec::with_capacity(if write { len } else { 0 });
    let dst = Shared(out.spare_capacity_mut().as_mut_ptr());
    let results = (0..channels.div_ceil(per))
        .into_par_iter()
        .map(|b| {
            let block = b * per..((b + 1) * per).min(channels);
            let writer = write.then(|| BlockWriter {
                dst,
                layout,
                block: block.clone(),
            });
            job(block, writer)
        })
        .collect();
    if write {
        // SAFETY: the blocks cover every channel, and each job wrote its runs in every image.
        unsafe { out.set_len(len) };
    }
    (out, results)
}

/// Per channel of `block`, the sum over its planes of `f(c, a[i], b[i])`: `sum_zip` plane by
/// plane, added in image order.
#[inline(always)]
fn block_sums(
    (a, b): (&[f32], &[f32]),
    layout: Layout,
    block: &Range<usize>,
    f: impl Fn(usize, f32, f32) -> f32,
) -> Vec<f32> {
    let mut totals = vec![0.0f32; block.len()];
    for n in 0..layout.images {
        let r = layout.run(n, block);
        let planes = a[r.clone()].chunks_exact(layout.plane);
        for (k, (pa, pb)) in planes.zip(b[r].chunks_exact(layout.plane)).enumerate() {
            totals[k] += sum_zip(pa, pb, |x, y| f(k, x, y));
        }
    }
    totals
}

wide! {
    /// The statistics of channels `block` (`stats`: mean, biased variance per channel) and
    /// their runs of y; `gamma`, `beta`: every channel's.
    fn forward_block(
        xs: &[f32],
        layout: Layout,
        block: Range<usize>,
        affine: (&[f32], &[f32], f32),
        out: &mut BlockWriter,
        stats: &mut Vec<(f32, f32)>,
    ) {
        let ((gamma, beta, eps), plane) = (affine, layout.plane);
        let count = (layout.images * plane) as f32;
        let mean: Vec<f32> = block_sums((xs, xs), layout, &block, |_, v, _| v)
            .into_iter()
            .map(|s| s / count)
            .collect();
        let var: Vec<f32> = block_sums((xs, xs), layout, &block, |k, v, _| {
            (v - mean[k]) * (v - mean[k])
        })
        .into_iter()
        .map(|s| s / count)
        .collect();
        let scale: Vec<f32> = (0..block.len())
            .map(|k| gamma[block.start + k] / (var[k] + eps).sqrt())
            .collect();
        let shift: Vec<f32> = (0..block.len())
            .map(|k| beta[block.start + k] - mean[k] * scale[k])
            .collect();
        for n in 0..layout.images {
            let src = &xs[layout.run(n, &block)];
            let planes = out.run(n).chunks_exact_mut(plane).zip(src.chunks_exact(plane));
            for (k, (o, x)) in planes.enumerate() {
                let (a, b) = (scale[k], shift[k]);
                for (o, &v) in o.iter_mut().zip(x) {
                    o.write(v * a + b);
                }
            }
        }
        *stats = mean.into_iter().zip(var).collect();
    }
}

wide! {
    /// The dgamma and dbeta of channels `block` (`sums`) and, given `out`, their runs of dx;
    /// `stats`: every channel's gamma, mean and 1 / sqrt(variance + eps).
    fn backward_block(
        xs: &[f32],
        gs: &[f32],
        layout: Layout,
        block: Range<usize>,
        stats: (&[f32], &[f32], &[f32]),
        out: Option<&mut BlockWriter>,
        sums: &mut Vec<(f32, f32)>,
    ) {
        let ((gamma, mean, inv_std), plane, c0) = (stats, layout.plane, block.start);
        let count = (layout.images * plane) as f32;
        let dbeta = block_sums((gs, gs), layout, &block, |_, d, _| d);
        let dgamma = block_sums((gs, xs), layout, &block, |k, d, v| {
            d * (v - mean[c0 + k]) * inv_std[c0 + k]
        });
        if let Some(out) = out {
            for n in 0..layout.images {
                let r = layout.run(n, &block);
                let (x, g) = (&xs[r.clone()], &gs[r]);
                let planes = x.chunks_exact(plane).zip(g.chunks_exact(plane));
                for (k, (o, (x, g))) in out.run(n).chunks_exact_mut(plane).zip(planes).enumerate() {
                    let c = c0 + k;
                    let (mdy, mdyx) = (dbeta[k] / count, dgamma[k] / count);
                    let (scale, m, is) = (gamma[c] * inv_std[c], mean[c], inv_std[c]);
                    for (o, (&v, &gv)) in o.iter_mut().zip(x.iter().zip(g)) {
                        o.write(scale * (gv - mdy - (v - m) * is * mdyx));
                    }
                }
            }
        }
        *sums = dgamma.into_iter().zip(dbeta).collect();
    }
}

/// Training-mode batch norm of `xs` ([n, C, plane]): (y, batch mean, biased batch variance).
pub(super) fn forward(
    xs: &[f32],
    (channels, plane): (usize, usize),
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let layout = Layout::of(xs.len(), (channels, plane));
    let (y, stats) = by_blocks(layout, true, |block, out| {
        let mut out = out.expect("the forward pass writes y");
        let mut stats = vec![];
        forward_block(xs, layout, block, (gamma, beta, eps), &mut out, &mut stats);
        stats
    });
    let (mean, var) = stats.into_iter().flatten().unzip();
    (y, mean, var)
}

/// The gradients of training-mode batch norm given dy (`gs`): (dx, empty unless `need_x`;
/// dgamma; dbeta).
pub(super) fn backward(
    [xs, gs]: [&[f32]; 2],
    (channels, plane): (usize, usize),
    gamma: &[f32],
    [mean, var]: [&[f32]; 2],
    eps: f32,
    need_x: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let layout = Layout::of(xs.len(), (channels, plane));
    let inv_std: Vec<f32> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
    let (dx, sums) = by_blocks(layout, need_x, |block, mut out| {
        let mut sums = vec![];
        let stats = (gamma, mean, &inv_std[..]);
        backward_block(xs, gs, layout, block, stats, out.as_mut(), &mut sums);
        sums
    });
    let (dgamma, dbeta) = sums.into_iter().flatten().unzip();
    (dx, dgamma, dbeta)
}
