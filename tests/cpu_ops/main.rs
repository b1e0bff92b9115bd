//! convlab's CPU operations (src/model/cpu/) against Burn's own: outputs and gradients, and
//! bit-identical results whatever the thread count.

use burn::prelude::*;
use convlab::model::presets::resolve_layers;
use convlab::model::spec::Shape;
use convlab::model::{Init, ModelConfig, Net};

mod batch_norm;
mod depthwise;
mod dropout;

/// Held by every test here that draws from the flex device's random generator (a net's init,
/// a dropout mask): the generator is one per process, and the dropout test's "same seed, same
/// mask" failed in CI when another test's init drew between its `seed` and its mask.
pub static DEVICE_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Deterministic values in [-1, 1) for the operation checks below.
fn wavy<const D: usize>(shape: [usize; D], seed: u32, device: &Device) -> Tensor<D> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n as u32)
        .map(|i| ((i.wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 1000) as f32 / 500.0 - 1.0)
        .collect();
    Tensor::<1>::from_floats(v.as_slice(), device).reshape(shape)
}

/// `f` run on a pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(f)
}

fn assert_close<const D: usize>(what: &str, a: Tensor<D>, b: Tensor<D>) {
    assert_eq!(a.dims(), b.dims(), "{what}");
    let (a, b) = (
        a.into_data().try_to_vec::<f32>().unwrap(),
        b.into_data().try_to_vec::<f32>().unwrap(),
    );
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() / (1.0 + y.abs()))
        .fold(0.0, f32::max);
    assert!(worst < 1e-4, "{what}: differs by {worst}");
}

/// convlab's convolutions (used on the CPU: im2col, lowered by rows for wider stride-1 kernels,
/// and Winograd for 3x3 stride-1 convs with c * o >= 64) give Burn's conv2d's output and the
/// same gradients for the input, weight and bias, for the kernel/stride/padding mixes the
/// presets use and 5x5 and 7x7 ones.
#[test]
fn cpu_conv_matches_burns_conv2d_and_its_gradients() {
    use burn::tensor::module::conv2d;
    use burn::tensor::ops::ConvOptions;
    use convlab::model::cpu::conv::conv2d_fast;
    let device = Device::flex().autodiff();
    for (n, c, hw, o, k, stride, pad) in [
        (3, 1, 12, 4, 5, 1, 0),
        (4, 3, 9, 5, 3, 1, 1),
        (2, 4, 9, 6, 3, 2, 1),
        (5, 6, 6, 3, 1, 2, 0),
        (4, 8, 10, 8, 3, 1, 1),
        (3, 16, 7, 8, 3, 1, 0),
        // Lowered by rows (conv_rows.rs): stride 1, at least 32 rows (c * k and o * k).
        (3, 8, 10, 8, 5, 1, 2),
        (2, 6, 11, 5, 7, 1, 3),
    ] {
        let case = format!("n{n} c{c} hw{hw} o{o} k{k} s{stride} p{pad}");
        let run = |fast: bool| {
            let x = wavy([n, c, hw, hw], 1, &device).require_grad();
            assert!(convlab::model::cpu::on_flex(&x), "the fast path is taken");
            let w = wavy([o, c, k, k], 2, &device).require_grad();
            let b = wavy([o], 3, &device).require_grad();
            let opts = ConvOptions::new([stride; 2], [pad; 2], [1, 1], 1);
            let y = if fast {
                conv2d_fast(x.clone(), w.clone(), Some(b.clone()), opts, false)
            } else {
                conv2d(x.clone(), w.clone(), Some(b.clone()), opts)
            };
            // A loss whose output gradient is not uniform, so every path is exercised.
            let r = wavy(y.dims(), 4, &device);
            let grads = (y.clone() * r).sum().backward();
            let g = |t: &Tensor<4>| t.grad(&grads).unwrap();
            (y.inner(), g(&x), g(&w), b.grad(&grads).unwrap())
        };
        let (fast, burn) = (run(true), run(false));
        assert_close(&format!("{case} output"), fast.0, burn.0);
        assert_close(&format!("{case} dx"), fast.1, burn.1);
        assert_close(&format!("{case} dw"), fast.2, burn.2);
        assert_close(&format!("{case} db"), fast.3, burn.3);
    }
}

/// The one-pass PReLU gives Burn's PReLU output and gradients, with one slope or one per
/// channel, on images and on flat [batch, features] inputs (one slope per feature).
#[test]
fn cpu_prelu_matches_burns_prelu_and_its_gradients() {
    for slopes in [1, 3] {
        prelu_against_burn(slopes, [2, 3, 4, 5]);
        prelu_against_burn(slopes, [700, 3]);
    }
}

fn prelu_against_burn<const D: usize>(slopes: usize, shape: [usize; D]) {
    use burn::nn::PReluConfig;
    use convlab::model::cpu::prelu;
    let device = Device::flex().autodiff();
    let run = |fast: bool| {
        let mut layer = PReluConfig::new().with_num_parameters(slopes).init(&device);
        layer.alpha = layer
            .alpha
            .map(|_| wavy([slopes], 5, &device).require_grad());
        let x = wavy(shape, 6, &device).require_grad();
        let y = if fast {
            prelu::forward(&layer, x.clone())
        } else {
            layer.forward(x.clone())
        };
        let grads = (y.clone() * wavy(shape, 7, &device)).sum().backward();
        (
            y.inner(),
            x.grad(&grads).unwrap(),
            layer.alpha.val().grad(&grads).unwrap(),
        )
    };
    let (fast, burn) = (run(true), run(false));
    let case = format!("{slopes} slopes, {shape:?}");
    assert_close(&format!("{case}: output"), fast.0, burn.0);
    assert_close(&format!("{case}: dx"), fast.1, burn.1);
    assert_close(&format!("{case}: dalpha"), fast.2, burn.2);
}

/// ReLU and LeakyReLU through the one-pass PReLU with a constant slope give Burn's outputs and
/// input gradients. At exactly 0 the gradient is PyTorch's (slope 0 for ReLU, the negative
/// slope for LeakyReLU):
///   x = torch.tensor([0., -1., 1.], requires_grad=True)
///   F.leaky_relu(x, 0.1).sum().backward(); x.grad  # tensor([0.1000, 0.1000, 1.0000])
/// Burn's LeakyReLU gives 1 there, so exact zeros are compared with PyTorch's value.
#[test]
fn cpu_relu_and_leaky_relu_match_burns() {
    for slope in [0.0, 0.1] {
        relu_against_burn(slope, [3, 4, 20, 20]);
        relu_against_burn(slope, [60, 80]);
    }
}

/// One shape of `cpu_relu_and_leaky_relu_match_burns`: images, or flat [batch, features].
fn relu_against_burn<const D: usize>(slope: f64, shape: [usize; D]) {
    use burn::nn::{LeakyReluConfig, Relu};
    use convlab::model::cpu::prelu;
    let device = Device::flex().autodiff();
    let leaky = LeakyReluConfig::new().with_negative_slope(slope).init();
    let name = format!("slope {slope}, {shape:?}");
    // Rounded to tenths so that some inputs are exactly 0.
    let input = || (wavy(shape, 24, &device) * 10.0).round() / 10.0;
    let run = |fast: bool| {
        let x = input().require_grad();
        let y = match (fast, slope == 0.0) {
            (true, _) => prelu::fixed_slope(x.clone(), slope, |_| panic!("not on flex")),
            (false, true) => Relu::new().forward(x.clone()),
            (false, false) => leaky.forward(x.clone()),
        };
        let grads = (y.clone() * wavy(shape, 25, &device)).sum().backward();
        (y.inner(), x.grad(&grads).unwrap())
    };
    let (fast, burn) = (run(true), run(false));
    assert_close(&format!("{name} output"), fast.0, burn.0);
    let (x, r) = (input(), wavy(shape, 25, &device));
    // Where x == 0: PyTorch's gradient, slope * upstream; elsewhere Burn's.
    let at_zero = x.inner().equal_elem(0.0);
    let zeros: i64 = at_zero.clone().int().sum().into_scalar::<i64>();
    assert!(zeros > 0, "some exact zeros");
    let expected = burn.1.mask_where(at_zero, r.inner() * slope);
    assert_close(&format!("{name} dx"), fast.1, expected);
}

/// Channel dropout's one-pass scaling (one factor per plane, the mask times 1 / keep) equals
/// the broadcast multiply it replaces, output and input gradient.
#[test]
fn cpu_plane_scaling_matches_a_broadcast_multiply() {
    use convlab::model::cpu::plane_affine;
    let device = Device::flex().autodiff();
    for [n, c, h, w] in [[2, 3, 4, 5], [5, 4, 33, 33]] {
        let factors = wavy([n, c, 1, 1], 21, &device)
            .greater_elem(0.0)
            .float()
            .mul_scalar(1.0 / 0.65);
        let run = |fast: bool| {
            let x = wavy([n, c, h, w], 22, &device).require_grad();
            let y = if fast {
                let zero = Tensor::<1>::zeros([1], &device);
                plane_affine::apply(x.clone(), factors.clone().reshape([n * c]), zero)
            } else {
                x.clone() * factors.clone()
            };
            let grads = (y.clone() * wavy(y.dims(), 23, &device)).sum().backward();
            (y.inner(), x.grad(&grads).unwrap())
        };
        let (fast, burn) = (run(true), run(false));
        assert_close(&format!("{n}x{c}x{h}x{w} output"), fast.0, burn.0);
        assert_close(&format!("{n}x{c}x{h}x{w} dx"), fast.1, burn.1);
    }
}

/// The one-pass max pool gives Burn's output and input gradient, for the presets' 2x2/2
/// window and an overlapping 3x3/2 one (where gradients of shared winners add up). At 41x41
/// the 2x2 backward pass takes its 20 rows of 20 windows in two blocks (13 rows, then 7) and
/// leaves the odd last row and column at zero. With padding and ceil mode (a last window
/// over the edge, cut to the plane; 5 + 2 by 2x2 drops the one that would start in the
/// padding), as Burn's pooling, which follows PyTorch's count.
#[test]
fn cpu_max_pool_matches_burns_and_its_gradient() {
    use burn::nn::PaddingConfig2d;
    use burn::nn::pool::MaxPool2dConfig;
    use convlab::model::cpu::max_pool;
    let device = Device::flex().autodiff();
    let cases = [
        (2, 2, 8, 0, false),
        (3, 2, 9, 0, false),
        (2, 2, 7, 0, false),
        (2, 2, 41, 0, false),
        (2, 2, 7, 0, true),
        (3, 2, 26, 0, true),
        (3, 2, 10, 1, true),
        (2, 2, 5, 1, true),
    ];
    for (k, s, hw, p, ceil) in cases {
        let pool = MaxPool2dConfig::new([k, k])
            .with_strides([s, s])
            .with_padding(PaddingConfig2d::Explicit(p, p, p, p))
            .with_ceil_mode(ceil)
            .init();
        let run = |fast: bool| {
            let x = wavy([3, 2, hw, hw], 12, &device).require_grad();
            let y = if fast {
                max_pool::forward(&pool, x.clone())
            } else {
                pool.forward(x.clone())
            };
            let grads = (y.clone() * wavy(y.dims(), 13, &device)).sum().backward();
            (y.inner(), x.grad(&grads).unwrap())
        };
        let (fast, burn) = (run(true), run(false));
        let case = format!("k{k} s{s} hw{hw} p{p} ceil {ceil}");
        assert_close(&format!("{case} output"), fast.0, burn.0);
        assert_close(&format!("{case} dx"), fast.1, burn.1);
    }
}

/// The CPU operations split work in fixed chunks and sum partial results in a fixed order,
/// so a forward and backward pass through seed 004's net (conv, PReLU, batch norm, pooling,
/// BatchNorm1d; dropout off, so that no random mask enters) gives the same bits on 1 thread
/// as on 2.
#[test]
fn cpu_training_pass_is_bit_identical_whatever_the_thread_count() {
    let cfg = ModelConfig {
        preset: "bn-prelu-cnn".into(),
        dropout: 0.0,
        ..Default::default()
    };
    let layers = resolve_layers(&cfg, 10, "test").unwrap();
    let device = Device::flex().autodiff();
    let input = Shape::Image { c: 3, h: 32, w: 32 };
    let net = {
        let _rng = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
        Net::new(&layers, input, Init::Default, &device)
    };
    let bits = |t: Vec<f32>| -> Vec<u32> { t.iter().map(|f| f.to_bits()).collect() };
    let run = |threads: usize| {
        on_threads(threads, || {
            let x = wavy([12, 3, 32, 32], 30, &device).require_grad();
            let y = net.forward(x.clone());
            let grads = (y.clone() * wavy(y.dims(), 31, &device)).sum().backward();
            let dx = x
                .grad(&grads)
                .unwrap()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            (bits(y.inner().into_data().try_to_vec().unwrap()), bits(dx))
        })
    };
    let (one, two) = (run(1), run(2));
    assert!(
        one.1.iter().any(|&b| b != 0),
        "the input gradient is not all zero"
    );
    assert_eq!(one.0, two.0, "logits differ between 1 and 2 threads");
    assert_eq!(
        one.1, two.1,
        "input gradients differ between 1 and 2 threads"
    );
}
