//! Activations as PyTorch defines them, values and slopes, through the net: the values torch
//! gives sit above each check.

use burn::prelude::*;
use convlab::model::Net;
use convlab::model::net::{Act, Layer};
use convlab::model::spec::{ActivationLayer, GeluForm, LayerSpec, Shape};
use convlab::model::{Activation, Init};

/// Each activation a study compares, as PyTorch's module with its defaults computes it:
///   x = torch.tensor([-2., -0.5, 0., 0.5, 2.])
///   for m in [nn.ReLU(), nn.LeakyReLU(), nn.PReLU(), nn.ELU(), nn.RReLU().eval(), nn.GELU(),
///             nn.SiLU(), nn.Mish(), nn.SELU(), nn.Tanh(), nn.Sigmoid()]:
///       print(m(x).tolist())
/// and in training, RReLU's negative slopes drawn uniformly from [1/8, 1/3]:
///   torch.manual_seed(0); y = nn.RReLU().train()(-torch.ones(100000))
///   -y.min(), -y.max(), -y.mean()  ->  0.33333, 0.12500, 0.22924
#[test]
fn activations_match_pytorchs_defaults() {
    let x = [-2.0f32, -0.5, 0.0, 0.5, 2.0];
    let torch: [(Activation, [f32; 5]); 11] = [
        (Activation::Relu, [0.0, 0.0, 0.0, 0.5, 2.0]),
        (Activation::LeakyRelu, [-0.02, -0.005, 0.0, 0.5, 2.0]),
        (Activation::Prelu, [-0.5, -0.125, 0.0, 0.5, 2.0]),
        (
            Activation::Elu,
            [-0.864_664_7, -0.393_469_33, 0.0, 0.5, 2.0],
        ),
        (
            Activation::Rrelu,
            [-0.458_333_34, -0.114_583_336, 0.0, 0.5, 2.0],
        ),
        (
            Activation::Gelu,
            [-0.045_500_28, -0.154_268_77, 0.0, 0.345_731_23, 1.954_499_7],
        ),
        (
            Activation::Silu,
            [-0.238_405_84, -0.188_770_34, 0.0, 0.311_229_68, 1.761_594],
        ),
        (
            Activation::Mish,
            [-0.252_501_46, -0.220_743_76, 0.0, 0.375_245_24, 1.943_959],
        ),
        (
            Activation::Selu,
            [-1.520_166_5, -0.691_758_16, 0.0, 0.525_350_5, 2.101_402],
        ),
        (
            Activation::Tanh,
            [-0.964_027_6, -0.462_117_17, 0.0, 0.462_117_17, 0.964_027_6],
        ),
        (
            Activation::Sigmoid,
            [0.119_202_92, 0.377_540_68, 0.5, 0.622_459_35, 0.880_797],
        ),
    ];
    let device = Device::flex();
    let input = Shape::Image { c: 1, h: 1, w: 5 };
    let net_of = |kind| {
        let layers = [LayerSpec::activation(kind), LayerSpec::Flatten];
        Net::new(&layers, input, Init::Default, &device)
    };
    for (kind, want) in torch {
        let x = Tensor::<4>::from_floats([[[x]]], &device);
        let got: Vec<f32> = net_of(kind)
            .forward(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{kind:?}: {got:?} vs {want:?}");
        }
    }
    // RReLU in training (a gradient graph on the device): per-element slopes in [1/8, 1/3]
    // with mean 11/48; positives pass unchanged.
    let train = device.autodiff();
    let n = 100_000;
    let mut xs = vec![-1.0f32; n];
    xs[0] = 3.0;
    let x = Tensor::<4>::from_data(TensorData::new(xs, [1, 1, 1, n]), &train);
    let net = Net::new(
        &[LayerSpec::activation(Activation::Rrelu), LayerSpec::Flatten],
        Shape::Image { c: 1, h: 1, w: n },
        Init::Default,
        &train,
    );
    let y: Vec<f32> = net.forward(x).into_data().try_to_vec::<f32>().unwrap();
    assert_eq!(y[0], 3.0);
    let slopes: Vec<f32> = y[1..].iter().map(|v| -v).collect();
    let (lo, hi) = slopes
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &s| (l.min(s), h.max(s)));
    let mean = slopes.iter().sum::<f32>() / slopes.len() as f32;
    assert!((0.125..0.126).contains(&lo), "lowest slope {lo}");
    assert!(hi <= 1.0 / 3.0 && hi > 0.332, "highest slope {hi}");
    assert!((mean - 11.0 / 48.0).abs() < 2e-3, "mean slope {mean}");
}

/// The slope of each activation, as PyTorch's autograd gives it, at the same points, and
/// far out, where exp(x) overflows f32 (x = 100) or underflows it (x = -200):
///   x = torch.tensor([-200., -2., -0.5, 0., 0.5, 2., 100.], requires_grad=True)
///   for m in [nn.ELU(), nn.GELU(), nn.SiLU(), nn.Mish(), nn.SELU(), nn.Tanh(), nn.Sigmoid()]:
///       print(torch.autograd.grad(m(x).sum(), x)[0].tolist())
/// At 0, ELU and SELU take their negative branch's slope (alpha, alpha * scale), as torch's.
#[test]
fn activation_gradients_match_pytorchs() {
    let x = [-200.0f32, -2.0, -0.5, 0.0, 0.5, 2.0, 100.0];
    let torch: [(Activation, [f32; 7]); 7] = [
        (
            Activation::Elu,
            [0.0, 0.135_335_28, 0.606_530_67, 1.0, 1.0, 1.0, 1.0],
        ),
        (
            Activation::Gelu,
            [
                0.0,
                -0.085_231_87,
                0.132_504_91,
                0.5,
                0.867_495_06,
                1.085_231_9,
                1.0,
            ],
        ),
        (
            Activation::Silu,
            [
                0.0,
                -0.090_784_25,
                0.260_038_82,
                0.5,
                0.739_961_2,
                1.090_784_3,
                1.0,
            ],
        ),
        (
            Activation::Mish,
            [
                0.0,
                -0.108_355_1,
                0.289_510_64,
                0.6,
                0.886_424_4,
                1.069_317_9,
                1.0,
            ],
        ),
        (
            Activation::Selu,
            [
                0.0,
                0.237_932_86,
                1.066_341_2,
                1.758_099_3,
                1.050_701,
                1.050_701,
                1.050_701,
            ],
        ),
        (
            Activation::Tanh,
            [
                0.0,
                0.070_650_816,
                0.786_447_7,
                1.0,
                0.786_447_7,
                0.070_650_816,
                0.0,
            ],
        ),
        (
            Activation::Sigmoid,
            [
                0.0,
                0.104_993_58,
                0.235_003_71,
                0.25,
                0.235_003_71,
                0.104_993_63,
                0.0,
            ],
        ),
    ];
    let device = Device::flex().autodiff();
    for (kind, want) in torch {
        let input = Tensor::<4>::from_floats([[[x]]], &device).require_grad();
        let layers = [LayerSpec::activation(kind), LayerSpec::Flatten];
        let net = Net::new(
            &layers,
            Shape::Image { c: 1, h: 1, w: 7 },
            Init::Default,
            &device,
        );
        let grads = net.forward(input.clone()).sum().backward();
        let got: Vec<f32> = input
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-6, "{kind:?}: {got:?} vs {want:?}");
        }
    }
}

/// LeakyReLU's slope, ELU's alpha and GELU's tanh form as written in a layer, values and
/// gradients:
///   x = torch.tensor([-2., -0.5, 0., 0.5, 2.], requires_grad=True)
///   for m in [nn.LeakyReLU(0.2), nn.ELU(0.5), nn.GELU(approximate='tanh')]:
///       y = m(x); print(y.tolist(), torch.autograd.grad(y.sum(), x)[0].tolist())
#[test]
fn a_written_slope_and_alpha_match_pytorchs() {
    let x = [-2.0f32, -0.5, 0.0, 0.5, 2.0];
    let leaky = LayerSpec::Activation(ActivationLayer {
        negative_slope: Some(0.2),
        ..ActivationLayer::new(Activation::LeakyRelu)
    });
    let elu = LayerSpec::Activation(ActivationLayer {
        alpha: Some(0.5),
        ..ActivationLayer::new(Activation::Elu)
    });
    let gelu_tanh = LayerSpec::Activation(ActivationLayer {
        approximate: Some(GeluForm::Tanh),
        ..ActivationLayer::new(Activation::Gelu)
    });
    let torch = [
        (
            leaky,
            [-0.4, -0.1, 0.0, 0.5, 2.0],
            [0.2, 0.2, 0.2, 1.0, 1.0],
        ),
        (
            elu,
            [-0.432_332_37, -0.196_734_67, 0.0, 0.5, 2.0],
            [0.067_667_64, 0.303_265_33, 0.5, 1.0, 1.0],
        ),
        (
            gelu_tanh,
            [-0.045_402_29, -0.154_286, 0.0, 0.345_714, 1.954_597_7],
            [-0.086_099_22, 0.132_630_11, 0.5, 0.867_369_9, 1.086_099_3],
        ),
    ];
    let device = Device::flex().autodiff();
    for (layer, want, slope) in torch {
        let input = Tensor::<4>::from_floats([[[x]]], &device).require_grad();
        let layers = [layer.clone(), LayerSpec::Flatten];
        let shape = Shape::Image { c: 1, h: 1, w: 5 };
        let net = Net::new(&layers, shape, Init::Default, &device);
        let y = net.forward(input.clone());
        let got: Vec<f32> = y.clone().into_data().try_to_vec().unwrap();
        let grads = y.sum().backward();
        let dx: Vec<f32> = input
            .grad(&grads)
            .unwrap()
            .into_data()
            .try_to_vec()
            .unwrap();
        for (g, w) in got.iter().zip(want).chain(dx.iter().zip(slope)) {
            assert!((g - w).abs() < 1e-6, "{layer:?}: {got:?} {dx:?}");
        }
    }
}

/// PReLU with one slope per channel (`num_parameters`, `init`) and RReLU's written range in
/// evaluation (the midpoint slope), values and gradients:
///   x = torch.tensor([[[[-2., 1.]], [[-1., 3.]]]], requires_grad=True)
///   m = nn.PReLU(num_parameters=2, init=0.1); y = m(x)
///   torch.autograd.grad((y * torch.tensor([1., 2.])).sum(), [x, m.weight])
///   -> y [-0.2, 1, -0.1, 3], x [0.1, 2, 0.1, 2], weight [-2, -1]
///   nn.RReLU(0.1, 0.3).eval()(torch.tensor([-2., 0.5]))  ->  [-0.4, 0.5]
#[test]
fn prelu_per_channel_and_a_written_rrelu_range_match_pytorchs() {
    let device = Device::flex().autodiff();
    let prelu = LayerSpec::Activation(ActivationLayer {
        num_parameters: Some(2),
        init: Some(0.1),
        ..ActivationLayer::new(Activation::Prelu)
    });
    let shape = Shape::Image { c: 2, h: 1, w: 2 };
    let net = Net::new(&[prelu], shape, Init::Default, &device);
    let x = Tensor::<4>::from_floats([[[[-2.0, 1.0]], [[-1.0, 3.0]]]], &device).require_grad();
    let y = net.forward(x.clone());
    // The net's output is flattened: channel 0's two pixels, then channel 1's.
    let weights = Tensor::<2>::from_floats([[1.0, 2.0, 1.0, 2.0]], &device);
    let grads = (y.clone() * weights).sum().backward();
    let Layer::Act(Act::PRelu(p)) = &net.layers[0] else {
        panic!("a PReLU layer");
    };
    let y: Vec<f32> = y.into_data().try_to_vec().unwrap();
    assert_eq!(y, [-0.2, 1.0, -0.1, 3.0]);
    let dx: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
    assert_eq!(dx, [0.1, 2.0, 0.1, 2.0]);
    let slopes: Vec<f32> = p
        .alpha
        .val()
        .grad(&grads)
        .unwrap()
        .into_data()
        .try_to_vec()
        .unwrap();
    assert_eq!(slopes, [-2.0, -1.0]);

    let rrelu = LayerSpec::Activation(ActivationLayer {
        lower: Some(0.1),
        upper: Some(0.3),
        ..ActivationLayer::new(Activation::Rrelu)
    });
    let shape = Shape::Image { c: 1, h: 1, w: 2 };
    let net = Net::new(
        std::slice::from_ref(&rrelu),
        shape,
        Init::Default,
        &Device::flex(),
    );
    let y = net.forward(Tensor::<4>::from_floats([[[[-2.0, 0.5]]]], &Device::flex()));
    let y: Vec<f32> = y.into_data().try_to_vec().unwrap();
    assert!((y[0] + 0.4).abs() < 1e-6 && y[1] == 0.5, "{y:?}");
    // In training its slopes are drawn from [0.1, 0.3].
    let n = 10_000;
    let shape = Shape::Image { c: 1, h: 1, w: n };
    let net = Net::new(&[rrelu], shape, Init::Default, &device);
    let x = Tensor::<4>::from_data(TensorData::new(vec![-1.0f32; n], [1, 1, 1, n]), &device);
    let slopes: Vec<f32> = net.forward(x).neg().into_data().try_to_vec().unwrap();
    let mean = slopes.iter().sum::<f32>() / n as f32;
    assert!(slopes.iter().all(|s| (0.1..=0.3).contains(s)), "{slopes:?}");
    assert!((mean - 0.2).abs() < 3e-3, "mean slope {mean}");
}
