//! The patch-whitening first layer (airbench's): its filters are the eigenvectors of the
//! training images' k x k patch covariance, each scaled by 1/sqrt(eigenvalue + eps), and
//! their negatives, so that the layer's output is decorrelated with unit variance per
//! direction and a ReLU-like activation after it loses no information.

use burn::module::Param;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

/// Second moments of every `k` x `k` patch (stride 1, no padding) of `images`
/// ([n, c, h, w] row-major): the (c*k*k)^2 matrix sum(p p^T) / patches, patch entries in
/// (channel, row, column) order as PyTorch's `unfold` gives them. Not mean-centred, as
/// airbench's.
pub fn patch_covariance(images: &[f32], [c, h, w]: [usize; 3], k: usize) -> Vec<f64> {
    let d = c * k * k;
    let n = images.len() / (c * h * w).max(1);
    let mut cov = vec![0f64; d * d];
    let mut patch = vec![0f64; d];
    let mut count = 0usize;
    for img in images.chunks_exact(c * h * w).take(n) {
        for y in 0..=h.saturating_sub(k) {
            for x in 0..=w.saturating_sub(k) {
                for ch in 0..c {
                    for dy in 0..k {
                        for dx in 0..k {
                            patch[ch * k * k + dy * k + dx] =
                                img[ch * h * w + (y + dy) * w + x + dx] as f64;
                        }
                    }
                }
                for i in 0..d {
                    let pi = patch[i];
                    for j in i..d {
                        cov[i * d + j] += pi * patch[j];
                    }
                }
                count += 1;
            }
        }
    }
    for i in 0..d {
        for j in i..d {
            let v = cov[i * d + j] / count.max(1) as f64;
            cov[i * d + j] = v;
            cov[j * d + i] = v;
        }
    }
    cov
}

/// Eigenvalues (descending) and unit eigenvectors (rows, same order) of the symmetric d x d
/// matrix `a`, by cyclic Jacobi rotations: exact to rounding for the 12 x 12 matrices here.
pub fn symmetric_eigen(mut a: Vec<f64>, d: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut v = vec![0f64; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    for _sweep in 0..100 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j] * a[i * d + j])
            .sum();
        if off < 1e-30 {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q * d + q] - a[p * d + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let t = if theta == 0.0 { 1.0 } else { t };
                let (cs, sn) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = cs * akp - sn * akq;
                    a[k * d + q] = sn * akp + cs * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = cs * apk - sn * aqk;
                    a[q * d + k] = sn * apk + cs * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = cs * vkp - sn * vkq;
                    v[k * d + q] = sn * vkp + cs * vkq;
                }
            }
        }
    }
    let mut order: Vec<usize> = (0..d).collect();
    order.sort_by(|&i, &j| a[j * d + j].total_cmp(&a[i * d + i]));
    let values = order.iter().map(|&i| a[i * d + i]).collect();
    let vectors = order
        .iter()
        .map(|&i| (0..d).map(|k| v[k * d + i]).collect())
        .collect();
    (values, vectors)
}

/// The whitening filters for `images`: [2*d, c, k, k] row-major, d = c*k*k; the first d
/// are eigenvector / sqrt(eigenvalue + eps) in descending eigenvalue order, the rest their
/// negatives.
pub fn filters(images: &[f32], shape: [usize; 3], k: usize, eps: f64) -> Vec<f32> {
    let d = shape[0] * k * k;
    let (values, vectors) = symmetric_eigen(patch_covariance(images, shape, k), d);
    let scaled: Vec<f32> = values
        .iter()
        .zip(&vectors)
        .flat_map(|(l, v)| {
            let s = 1.0 / (l.max(0.0) + eps).sqrt();
            v.iter().map(move |x| (x * s) as f32)
        })
        .collect();
    let negated = scaled.iter().map(|x| -x);
    scaled.iter().copied().chain(negated).collect()
}

/// Set `conv`'s weights to the whitening filters of `images`.
pub fn init(conv: &mut Conv2d, images: &[f32], shape: [usize; 3], eps: f64) {
    let [out, cin, k, _] = conv.weight.val().dims();
    let device = conv.weight.val().device();
    let w = filters(images, shape, k, eps);
    debug_assert_eq!(w.len(), out * cin * k * k);
    let weight = Tensor::from_data(TensorData::new(w, [out, cin, k, k]), &device);
    conv.weight = Param::from_tensor(weight);
}
