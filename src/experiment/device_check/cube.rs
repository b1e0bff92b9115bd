//! `convlab check`'s rows for convlab's CubeCL batch-norm kernels alone (CubeCL devices).

use burn::nn::{BatchNorm, BatchNormConfig};
use burn::prelude::*;

use super::{KERNEL_LIMIT, Row, row, values};
use crate::model::cube::batch_norm;

/// convlab's CubeCL batch-norm kernels alone, called directly (whatever
/// `CONVLAB_CUBE_BATCH_NORM` says), at the fast recipe's shapes with at most 256, 32 and 1
/// units per cube in their partial sums: output, dx and dbeta against Burn's layer on
/// `reference`. The widths tell a fault in the shared-memory sums (only 256 wrong) from one
/// in the rest (all wrong).
pub fn cube_kernel_rows(device: &Device, reference: &Device) -> Vec<Row> {
    let mut rows = Vec::new();
    for shape in [[1024usize, 64, 16, 16], [1024, 256, 4, 4]] {
        let n: usize = shape.iter().product();
        let x: Vec<f32> = (0..n as u32)
            .map(|i| (((i.wrapping_mul(2654435761) >> 8) % 1000) as f32 / 800.0 - 0.3).max(-0.17))
            .collect();
        let dy: Vec<f32> = (0..n as u32)
            .map(|i| ((i.wrapping_mul(40503) >> 4) % 1000) as f32 / 500.0 - 1.0)
            .collect();
        let run = |device: &Device, own: bool| {
            let device = device.clone().autodiff();
            let bn: BatchNorm = BatchNormConfig::new(shape[1])
                .with_epsilon(1e-12)
                .init(&device);
            let x = Tensor::<1>::from_floats(x.as_slice(), &device)
                .reshape(shape)
                .require_grad();
            let y = if own {
                batch_norm::forward_train(&bn, x.clone()).0
            } else {
                bn.forward(x.clone())
            };
            let weights = Tensor::<1>::from_floats(dy.as_slice(), &device).reshape(shape);
            let grads = (y.clone() * weights).sum().backward();
            let dx = x.grad(&grads).map(values).unwrap_or_default();
            let dbeta = bn.beta.val().grad(&grads).map(values).unwrap_or_default();
            [values(y.inner()), dx, dbeta]
        };
        let want = run(reference, false);
        for cap in [256, 32, 1] {
            batch_norm::cap_threads(cap);
            let got = run(device, true);
            let case = format!("batch-norm kernels {shape:?} <= {cap} units");
            for (name, (a, b)) in ["output", "dx", "dbeta"].iter().zip(got.iter().zip(&want)) {
                rows.push(row(&case, name.to_string(), a, b, KERNEL_LIMIT));
            }
        }
        batch_norm::cap_threads(0);
    }
    rows
}
