//! convlab's CubeCL kernels (src/model/cube/) run on the CubeCL CPU runtime, against Burn's own
//! layers on flex: the GPU code path's kernels checked where there is no GPU.
//!
//!     bash ../shared/tools/llvm-for-cuda.sh
//!     CONVLAB_CUBE_BATCH_NORM=cube cargo test --release --features cubecl-cpu --test cube_kernels
//!
//! Built with `--features cuda` alone, the same tests run the kernels on the GPU (still against
//! flex): the test binary can be built here and carried to a GPU machine (bench/README.md, "GPU").
#![cfg(any(feature = "cubecl-cpu", feature = "cuda"))]

use burn::nn::{BatchNorm, BatchNormConfig};
use burn::prelude::*;
use convlab::model::cpu::batch_norm;

/// Deterministic values in [-1, 1) (the same generator as tests/cpu_ops/).
fn wavy(n: usize, seed: u32) -> Vec<f32> {
    (0..n as u32)
        .map(|i| ((i.wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

/// Where the kernels run: the CubeCL CPU runtime, or the GPU in a `cuda`-only build.
fn kernel_device() -> Device {
    #[cfg(feature = "cubecl-cpu")]
    let device = Device::cpu();
    #[cfg(not(feature = "cubecl-cpu"))]
    let device = Device::cuda(0);
    device.autodiff()
}

fn tensor<const D: usize>(v: &[f32], shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::<1>::from_floats(v, device).reshape(shape)
}

fn assert_close(what: &str, a: Vec<f32>, b: Vec<f32>, tolerance: f32) {
    assert_eq!(a.len(), b.len(), "{what}");
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f32::max);
    assert!(worst < tolerance, "{what}: differs by {worst}");
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

/// (output, dx, dgamma, dbeta, running mean, running var) of one training step of batch norm
/// on `device`, through convlab's `batch_norm::forward` (`own`) or Burn's `BatchNorm::forward`.
fn step<const D: usize>(x: &[f32], shape: [usize; D], device: &Device, own: bool) -> [Vec<f32>; 6] {
    let c = shape[1];
    let mut bn: BatchNorm = BatchNormConfig::new(c).init(device);
    let gamma = wavy(c, 8).iter().map(|v| v + 1.5).collect::<Vec<_>>();
    bn.gamma = bn.gamma.map(|_| tensor(&gamma, [c], device).require_grad());
    bn.beta = bn
        .beta
        .map(|_| tensor(&wavy(c, 9), [c], device).require_grad());
    let x = tensor(x, shape, device).require_grad();
    let y = if own {
        assert!(
            convlab::model::cube::batch_norm::applies(&x),
            "the kernels are used (run with CONVLAB_CUBE_BATCH_NORM=cube, as .ci/run does)"
        );
        batch_norm::forward(&bn, x.clone())
    } else {
        bn.forward(x.clone())
    };
    let n: usize = shape.iter().product();
    let weights = tensor(&wavy(n, 11), shape, device);
    let grads = (y.clone() * weights).sum().backward();
    [
        values(y.inner()),
        values(x.grad(&grads).unwrap()),
        values(bn.gamma.val().grad(&grads).unwrap()),
        values(bn.beta.val().grad(&grads).unwrap()),
        // value_sync: the forward's update is pending until synced (value() is the old one).
        values(bn.running_mean.value_sync().inner()),
        values(bn.running_var.value_sync().inner()),
    ]
}

fn check<const D: usize>(x: Vec<f32>, shape: [usize; D], tolerance: f32) {
    let cube = step(&x, shape, &kernel_device(), true);
    let mut burn = step(&x, shape, &Device::flex().autodiff(), false);
    // Burn's running variance takes the biased batch variance, convlab's (as PyTorch's) the
    // unbiased one: from the default 1 at momentum 0.1, 0.9 + 0.1 v against 0.9 + 0.1 v n / (n - 1).
    let n = (x.len() / shape[1]) as f32;
    burn[5] = burn[5]
        .iter()
        .map(|v| 0.9 + (v - 0.9) * n / (n - 1.0))
        .collect();
    let names = [
        "output",
        "dx",
        "dgamma",
        "dbeta",
        "running mean",
        "running var",
    ];
    for ((name, a), b) in names.iter().zip(cube).zip(burn) {
        assert_close(&format!("{shape:?} {name}"), a, b, tolerance);
    }
}

/// The kernels give Burn's training-mode output, gradients and running statistics: images,
/// flat features, planes split over many cubes per channel, and more channels than units.
#[test]
fn cube_batch_norm_matches_burns_and_its_gradients() {
    let scaled = |n: usize, seed: u32| wavy(n, seed).iter().map(|v| v * 3.0).collect();
    check(scaled(4 * 3 * 5 * 6, 10), [4, 3, 5, 6], 1e-4);
    check(scaled(7 * 5, 12), [7, 5], 1e-4);
    check(scaled(6 * 3 * 40 * 40, 13), [6, 3, 40, 40], 1e-4);
    check(scaled(2 * 70 * 3 * 3, 14), [2, 70, 3, 3], 1e-4);
}

/// The fast recipe's batch norms (batch 1,024; 64 channels of 16x16 and 256 of 4x4; eps 1e-12,
/// no scale), on GELU-like inputs, as `convlab check` runs them on a GPU: the recipe diverged
/// with these kernels on an H100 (bench/RESULTS.md), so here they must match Burn's layer at
/// its shapes (relative RMS of output, dx and dbeta within `KERNEL_LIMIT`; 1.1e-5, 1.4e-4 and
/// 6e-6 seen at 64x16x16) and stay finite, at each width `check` tries (here the CPU
/// runtime's cubes hold at most as many units as cores, so 256 and 32 both mean that).
#[test]
fn cube_batch_norm_at_the_fast_recipes_shapes() {
    use convlab::experiment::device_check::{KERNEL_LIMIT, cube_kernel_rows};
    let rows = cube_kernel_rows(&kernel_device(), &Device::flex());
    assert_eq!(
        rows.len(),
        2 * 3 * 3,
        "two shapes, three widths, three tensors"
    );
    for r in &rows {
        println!("{} {}: relative RMS {:e}", r.case, r.tensor, r.rel_rms);
        assert!(r.finite, "{} {}: not finite", r.case, r.tensor);
        assert!(
            r.rel_rms < KERNEL_LIMIT,
            "{} {}: relative RMS {:e}",
            r.case,
            r.tensor,
            r.rel_rms
        );
    }
}

/// Batch norm's training step in f64 from its formulas: (output, dx, dgamma, dbeta) for the
/// gamma, beta and output weights `step` uses.
fn reference(x: &[f32], [n, c, plane]: [usize; 3]) -> [Vec<f32>; 4] {
    let gamma: Vec<f64> = wavy(c, 8).iter().map(|&v| v as f64 + 1.5).collect();
    let beta: Vec<f64> = wavy(c, 9).iter().map(|&v| v as f64).collect();
    let dy = wavy(n * c * plane, 11);
    let at = |i: usize, ch: usize, s: usize| (i * c + ch) * plane + s;
    let m = (n * plane) as f64;
    let (mut y, mut dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    let (mut dgamma, mut dbeta) = (vec![0.0; c], vec![0.0; c]);
    for ch in 0..c {
        let all = || (0..n).flat_map(move |i| (0..plane).map(move |s| at(i, ch, s)));
        let mean = all().map(|j| x[j] as f64).sum::<f64>() / m;
        let var = all().map(|j| (x[j] as f64 - mean).powi(2)).sum::<f64>() / m;
        let inv_std = 1.0 / (var + 1e-5).sqrt();
        let xhat = |j: usize| (x[j] as f64 - mean) * inv_std;
        let sum_dy: f64 = all().map(|j| dy[j] as f64).sum();
        let sum_dy_xhat: f64 = all().map(|j| dy[j] as f64 * xhat(j)).sum();
        for j in all() {
            y[j] = (gamma[ch] * xhat(j) + beta[ch]) as f32;
            dx[j] = (gamma[ch] * inv_std / m * (m * dy[j] as f64 - sum_dy - xhat(j) * sum_dy_xhat))
                as f32;
        }
        dgamma[ch] = sum_dy_xhat as f32;
        dbeta[ch] = sum_dy as f32;
    }
    [y, dx, dgamma, dbeta]
}

/// A channel whose mean is large against its spread (100 +- 0.1): the variance comes from
/// values shifted by one of the channel's own, so it does not cancel away in f32. Checked
/// against the f64 formulas. Worst errors seen here (relative to 1 + |value|): output 7.8e-5,
/// dx 7.8e-4, dgamma 5.5e-7; Burn's own f32 layer on flex: 2.2e-4, 2.2e-3, 3.5e-6.
#[test]
fn cube_batch_norm_keeps_a_small_variance_under_a_large_mean() {
    let shape = [8, 2, 6, 6];
    let x: Vec<f32> = wavy(8 * 2 * 6 * 6, 15)
        .iter()
        .map(|v| 100.0 + 0.1 * v)
        .collect();
    let cube = step(&x, shape, &kernel_device(), true);
    let burn = step(&x, shape, &Device::flex().autodiff(), false);
    let exact = reference(&x, [8, 2, 36]);
    let names = ["output", "dx", "dgamma", "dbeta"];
    for (i, name) in names.iter().enumerate() {
        let err = |a: &[f32]| {
            a.iter()
                .zip(&exact[i])
                .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
                .fold(0.0, f32::max)
        };
        println!("{name}: cube {:e}, burn {:e}", err(&cube[i]), err(&burn[i]));
        assert_close(
            &format!("{name} against f64"),
            cube[i].clone(),
            exact[i].clone(),
            1.5e-3,
        );
    }
}

/// (gelu(x), d gelu / dx) on `device`, through convlab's GELU (`own`) or Burn's layer.
fn gelu_and_slope(xs: &[f32], device: &Device, own: bool) -> (Vec<f32>, Vec<f32>) {
    let x = tensor(xs, [xs.len()], device).require_grad();
    let y = if own {
        convlab::model::gelu::forward(x.clone())
    } else {
        burn::nn::Gelu::new().forward(x.clone())
    };
    let grads = y.clone().sum().backward();
    (values(y.inner()), values(x.grad(&grads).unwrap()))
}

/// GELU on the CubeCL path has the exact slope Phi(x) + x phi(x), as PyTorch's `nn.GELU()` and
/// flex have: flex's gradient is the reference. Burn's own layer there differentiates the
/// tanh approximation instead (up to 8.7e-4 off, near x = -2), which the last check catches.
#[test]
fn cube_gelu_has_the_exact_gradient() {
    let xs: Vec<f32> = (0..1201).map(|i| -6.0 + i as f32 * 0.01).collect();
    let (want_y, want_slope) = gelu_and_slope(&xs, &Device::flex().autodiff(), false);
    let cube = kernel_device();
    let (y, slope) = gelu_and_slope(&xs, &cube, true);
    assert_close("gelu", y, want_y, 1e-6);
    assert_close("gelu slope", slope, want_slope.clone(), 1e-6);
    let (_, burns_slope) = gelu_and_slope(&xs, &cube, false);
    let worst = burns_slope
        .iter()
        .zip(&want_slope)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        worst > 5e-4,
        "Burn's CubeCL GELU slope is exact now ({worst}): drop ours"
    );
}

/// Every kernel compiles for an H100 (sm_90a) through both of cubecl-cuda's compilers (LLVM
/// to PTX, the default; CUDA C++ for NVRTC), which on a GPU happens only at a kernel's first
/// launch. In the partial sums, the two shared arrays lie side by side (2 x units x 4 bytes,
/// the second at byte units x 4: they do not overlap), and the tree that adds them is fenced at
/// every level in the PTX: one barrier after the stores and one per halving.
#[cfg(all(feature = "cuda", feature = "cubecl-cpu"))]
#[test]
fn kernels_compile_for_an_h100_with_both_cuda_compilers() {
    let sources = convlab::model::cube::sources::cuda_sources(90).unwrap();
    // 4 partial-sum variants and 4 other kernels, each through 2 compilers.
    assert_eq!(sources.len(), 16);
    for s in &sources {
        let mark = if s.compiler == "llvm" {
            ".target sm_90a"
        } else {
            "__global__"
        };
        assert!(
            s.text.contains(mark),
            "{} ({}): no {mark}",
            s.kernel,
            s.compiler
        );
    }
    let find = |kernel: &str, compiler: &str| {
        sources
            .iter()
            .find(|s| s.kernel == kernel && s.compiler == compiler)
            .unwrap_or_else(|| panic!("{kernel} ({compiler}) missing"))
    };
    for units in [256usize, 32] {
        for way in ["forward", "backward"] {
            let name = format!("channel_partials/{units}/{way}");
            let ptx = find(&name, "llvm");
            assert_eq!(ptx.shared_bytes, Some(2 * units * 4), "{name}");
            let barriers = ptx.text.matches("bar.sync").count();
            let levels = units.trailing_zeros() as usize;
            assert_eq!(barriers, 1 + levels, "{name}: PTX\n{}", ptx.text);
            let cpp = find(&name, "cpp");
            let second = format!("[{}])", units * 4);
            assert!(
                cpp.text.contains("__syncthreads();"),
                "{name}: C++\n{}",
                cpp.text
            );
            assert!(cpp.text.contains(&second), "{name}: C++\n{}", cpp.text);
        }
    }
}
