//! Batch norm's training passes as CubeCL kernels, for Burn's CubeCL backend (CUDA, and the
//! CubeCL CPU runtime that tests them without a GPU). Burn builds batch norm from a dozen
//! tensor operations, each a kernel launch and a pass over the activation (and its backward
//! from as many again); here each direction is three launches: per-channel partial sums,
//! a per-channel finish, and one elementwise pass.
//!
//! Tensors are contiguous f32 [batch, channels, plane...]; `plane` is the product of the
//! trailing dims (1 for a flat [batch, features] input). No atomics: partial sums are added in
//! a fixed order, so a run gives the same bits every time on one device.

use burn::backend::TensorMetadata;
use burn::tensor::Shape;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

use super::geometry::{Geometry, empty_like, per_channel, per_element};

/// Per (channel c, chunk k) = (CUBE_POS_X, CUBE_POS_Y): the sums of `u` and `u * w` over the
/// chunk's share of the channel's `count` = batch * plane elements, into `partials[(c, k, 2)]`.
/// Forward (`forward`): u = w = x - x[0, c, 0] (shifted by one of the channel's own values, so
/// the variance `E[u^2] - E[u]^2` does not cancel away when the mean is large against the
/// spread). Backward: u = dy, w = x - mean[c].
#[cube(launch, create_dummy_kernel)]
pub(super) fn channel_partials_kernel(
    u_src: &[f32],
    w_src: &[f32],
    mean: &[f32],
    partials: &mut [f32],
    channels: u32,
    plane: u32,
    count: u32,
    #[comptime] threads: usize,
    #[comptime] forward: bool,
) {
    let c = CUBE_POS_X as usize;
    let k = CUBE_POS_Y as usize;
    let chunks = CUBE_COUNT_Y as usize;
    let t = UNIT_POS_X as usize;
    let plane = plane as usize;
    let channels = channels as usize;
    let count = count as usize;
    let shift = if forward { u_src[c * plane] } else { mean[c] };
    let mut p = 0.0f32;
    let mut q = 0.0f32;
    let mut i = k * threads + t;
    while i < count {
        let at = ((i / plane) * channels + c) * plane + i % plane;
        if forward {
            let d = u_src[at] - shift;
            p += d;
            q += d * d;
        } else {
            let d = u_src[at];
            p += d;
            q += d * (w_src[at] - shift);
        }
        i += chunks * threads;
    }
    let mut sp = Shared::<[f32]>::new_slice(threads);
    let mut sq = Shared::<[f32]>::new_slice(threads);
    sp[t] = p;
    sq[t] = q;
    sync_cube();
    // A runtime value (threads is a compile-time one, and the loop must not unroll at
    // expansion): the cube's size is `threads`.
    let mut half = (CUBE_DIM_X / 2) as usize;
    while half > 0 {
        if t < half {
            sp[t] += sp[t + half];
            sq[t] += sq[t + half];
        }
        sync_cube();
        half /= 2;
    }
    if t == 0 {
        let at = (c * chunks + k) * 2;
        partials[at] = sp[0];
        partials[at + 1] = sq[0];
    }
}

/// Sum `which` (0: of u, 1: of u * w) of channel c over its chunks, in chunk order.
#[cube]
fn channel_total(partials: &[f32], c: usize, chunks: usize, which: usize) -> f32 {
    let mut total = 0.0f32;
    for k in 0..chunks {
        total += partials[(c * chunks + k) * 2 + which];
    }
    total
}

/// One unit per channel: the batch mean and biased variance from the partial sums, and the
/// scale gamma / sqrt(var + eps) the output pass uses.
#[cube(launch, create_dummy_kernel)]
pub(super) fn forward_finish_kernel(
    x: &[f32],
    partials: &[f32],
    gamma: &[f32],
    mean: &mut [f32],
    var: &mut [f32],
    scale: &mut [f32],
    channels: u32,
    plane: u32,
    count: u32,
    chunks: u32,
    epsilon: f32,
) {
    let c = ABSOLUTE_POS;
    if c >= channels as usize {
        terminate!();
    }
    let p = channel_total(partials, c, chunks as usize, 0);
    let q = channel_total(partials, c, chunks as usize, 1);
    let m = f32::cast_from(count);
    let d = p / m;
    let v = f32::max(q / m - d * d, 0.0f32);
    mean[c] = x[c * plane as usize] + d;
    var[c] = v;
    scale[c] = gamma[c] / f32::sqrt(v + epsilon);
}

/// y = (x - mean[c]) * scale[c] + beta[c], elementwise.
#[cube(launch, create_dummy_kernel)]
pub(super) fn forward_output_kernel(
    x: &[f32],
    mean: &[f32],
    scale: &[f32],
    beta: &[f32],
    out: &mut [f32],
    channels: u32,
    plane: u32,
) {
    let i = ABSOLUTE_POS;
    if i >= out.len() {
        terminate!();
    }
    let c = (i / plane as usize) % channels as usize;
    out[i] = (x[i] - mean[c]) * scale[c] + beta[c];
}

/// One unit per channel, from the partial sums P = sum(dy), Q = sum(dy * (x - mean)):
/// dbeta = P, dgamma = Q * inv_std, and the input gradient's coefficients
/// dx = a * (dy - P / M) + b * (x - mean), a = gamma * inv_std, b = -a * inv_std^2 * Q / M.
#[cube(launch, create_dummy_kernel)]
pub(super) fn backward_finish_kernel(
    partials: &[f32],
    gamma: &[f32],
    var: &[f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    coef_a: &mut [f32],
    coef_b: &mut [f32],
    channels: u32,
    count: u32,
    chunks: u32,
    epsilon: f32,
) {
    let c = ABSOLUTE_POS;
    if c >= channels as usize {
        terminate!();
    }
    let p = channel_total(partials, c, chunks as usize, 0);
    let q = channel_total(partials, c, chunks as usize, 1);
    let m = f32::cast_from(count);
    let inv_std = 1.0f32 / f32::sqrt(var[c] + epsilon);
    let a = gamma[c] * inv_std;
    dbeta[c] = p;
    dgamma[c] = q * inv_std;
    coef_a[c] = a;
    coef_b[c] = -a * inv_std * inv_std * q / m;
}

/// dx = a[c] * (dy - dbeta[c] / M) + b[c] * (x - mean[c]), elementwise.
#[cube(launch, create_dummy_kernel)]
pub(super) fn backward_input_kernel(
    dy: &[f32],
    x: &[f32],
    mean: &[f32],
    dbeta: &[f32],
    coef_a: &[f32],
    coef_b: &[f32],
    out: &mut [f32],
    channels: u32,
    plane: u32,
    count: u32,
) {
    let i = ABSOLUTE_POS;
    if i >= out.len() {
        terminate!();
    }
    let c = (i / plane as usize) % channels as usize;
    let m = f32::cast_from(count);
    out[i] = coef_a[c] * (dy[i] - dbeta[c] / m) + coef_b[c] * (x[i] - mean[c]);
}

/// Training-mode batch norm over dim 1 of f32 `x`: (output, batch mean, biased batch variance).
pub fn batch_norm_train(
    x: CubeTensor,
    gamma: CubeTensor,
    beta: CubeTensor,
    epsilon: f64,
) -> (CubeTensor, CubeTensor, CubeTensor) {
    let (x, gamma, beta) = (
        into_contiguous(x),
        into_contiguous(gamma),
        into_contiguous(beta),
    );
    let g = Geometry::of(&x);
    let client = x.client.clone();
    let stat = || empty_like(&x, Shape::new([g.channels]));
    let partials = empty_like(&x, Shape::new([g.channels * g.chunks * 2]));
    let (mean, var, scale) = (stat(), stat(), stat());
    let out = empty_like(&x, x.shape());
    let (cubes, dim) = g.partials_launch();
    channel_partials_kernel::launch(
        &client,
        cubes,
        dim,
        x.clone().into_buffer_arg(),
        x.clone().into_buffer_arg(),
        gamma.clone().into_buffer_arg(), // `mean`: unread forward (the shift is x[0, c, 0])
        partials.clone().into_buffer_arg(),
        g.channels as u32,
        g.plane as u32,
        g.count as u32,
        g.threads,
        true,
    );
    let (cubes, dim) = per_channel(&x, g.channels);
    forward_finish_kernel::launch(
        &client,
        cubes,
        dim,
        x.clone().into_buffer_arg(),
        partials.into_buffer_arg(),
        gamma.into_buffer_arg(),
        mean.clone().into_buffer_arg(),
        var.clone().into_buffer_arg(),
        scale.clone().into_buffer_arg(),
        g.channels as u32,
        g.plane as u32,
        g.count as u32,
        g.chunks as u32,
        epsilon as f32,
    );
    let (cubes, dim) = per_element(&x);
    forward_output_kernel::launch(
        &client,
        cubes,
        dim,
        x.into_buffer_arg(),
        mean.clone().into_buffer_arg(),
        scale.into_buffer_arg(),
        beta.into_buffer_arg(),
        out.clone().into_buffer_arg(),
        g.channels as u32,
        g.plane as u32,
    );
    (out, mean, var)
}

/// Batch norm's backward step: (dx, dgamma, dbeta) from the output gradient `dy`, the input
/// `x`, gamma and the forward pass's batch statistics.
pub fn batch_norm_backward(
    dy: CubeTensor,
    x: CubeTensor,
    gamma: CubeTensor,
    mean: CubeTensor,
    var: CubeTensor,
    epsilon: f64,
) -> (CubeTensor, CubeTensor, CubeTensor) {
    let (dy, x) = (into_contiguous(dy), into_contiguous(x));
    let (gamma, mean, var) = (
        into_contiguous(gamma),
        into_contiguous(mean),
        into_contiguous(var),
    );
    let g = Geometry::of(&x);
    let client = x.client.clone();
    let stat = || empty_like(&x, Shape::new([g.channels]));
    let partials = empty_like(&x, Shape::new([g.channels * g.chunks * 2]));
    let (dgamma, dbeta, coef_a, coef_b) = (stat(), stat(), stat(), stat());
    let dx = empty_like(&x, x.shape());
    let (cubes, dim) = g.partials_launch();
    channel_partials_kernel::launch(
        &client,
        cubes,
        dim,
        dy.clone().into_buffer_arg(),
        x.clone().into_buffer_arg(),
        mean.clone().into_buffer_arg(),
        partials.clone().into_buffer_arg(),
        g.channels as u32,
        g.plane as u32,
        g.count as u32,
        g.threads,
        false,
    );
    let (cubes, dim) = per_channel(&x, g.channels);
    backward_finish_kernel::launch(
        &client,
        cubes,
        dim,
        partials.into_buffer_arg(),
        gamma.into_buffer_arg(),
        var.into_buffer_arg(),
        dgamma.clone().into_buffer_arg(),
        dbeta.clone().into_buffer_arg(),
        coef_a.clone().into_buffer_arg(),
        coef_b.clone().into_buffer_arg(),
        g.channels as u32,
        g.count as u32,
        g.chunks as u32,
        epsilon as f32,
    );
    let (cubes, dim) = per_element(&x);
    backward_input_kernel::launch(
        &client,
        cubes,
        dim,
        dy.into_buffer_arg(),
        x.into_buffer_arg(),
        mean.into_buffer_arg(),
        dbeta.clone().into_buffer_arg(),
        coef_a.into_buffer_arg(),
        coef_b.into_buffer_arg(),
        dx.clone().into_buffer_arg(),
        g.channels as u32,
        g.plane as u32,
        g.count as u32,
    );
    (dx, dgamma, dbeta)
}
