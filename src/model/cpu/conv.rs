//! The im2col convolution as a Burn operation: the forward pass on `Flex`, and on
//! `Autodiff<Flex>` the forward pass plus its own backward step, both running `conv_kernels`
//! (or `winograd` for 3x3 stride-1 convs, `conv_pairs` for those on planes of a few pixels;
//! `CONVLAB_CPU_CONV=im2col` keeps im2col for all, to measure one against the other on a full
//! run).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::{Autodiff, Backend, Flex, backend_extension, tensor::FloatTensor};
use burn::nn::PaddingConfig2d;
use burn::tensor::Tensor;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use super::conv_kernels::{self, ConvShape};
use super::{conv_pairs, depthwise, gemm_bf16, winograd, winograd_grid};
use super::{dims, on_flex, tensor, values};

/// Which kernels run a convolution.
#[derive(Clone, Copy)]
enum Path {
    Im2col,
    Winograd,
    /// Winograd's convs on planes of a few pixels (`conv_pairs`).
    Pairs,
}

/// Holds every Winograd conv to F(m x m, 3x3), m = 2 or 4, or with `None` leaves the choice
/// to convlab (`CONVLAB_WINOGRAD=f23|f43` does the same from the environment, which this
/// overrides): for benchmarks that time both variants in one process
/// (bench/winograd_probe.rs). Results differ in rounding only.
pub fn force_winograd_outputs(m: Option<usize>) {
    winograd_grid::force_outputs(m);
}

/// The kernels for `s`: Winograd's transforms where they apply (by position pairs on the
/// smallest planes), im2col elsewhere, or everywhere if the user asked for it
/// (`CONVLAB_CPU_CONV=im2col`, read once).
fn path(s: &ConvShape) -> Path {
    static IM2COL_ONLY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let im2col_only =
        *IM2COL_ONLY.get_or_init(|| std::env::var("CONVLAB_CPU_CONV").is_ok_and(|v| v == "im2col"));
    if im2col_only || !winograd::applies(s) {
        Path::Im2col
    } else if conv_pairs::applies(s) {
        Path::Pairs
    } else {
        Path::Winograd
    }
}

#[backend_extension(Flex, Autodiff)]
pub trait CpuConv: Backend {
    /// conv2d with a square kernel, one stride and one padding for both axes.
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        bf16: bool,
    ) -> FloatTensor<Self>;
}

/// Burn's conv2d, or on flex convlab's: the depthwise passes for a conv with one input
/// channel per group (`depthwise`), the im2col/Winograd ones where the conv is plain (square
/// kernel, same stride and padding on both axes, no dilation or groups); `bf16`: their GEMMs
/// in bf16 where the CPU can (`ConvShape::bf16`). Other grouped or dilated convs keep Burn's.
pub fn conv2d_fast(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    options: ConvOptions<2>,
    bf16: bool,
) -> Tensor<4> {
    let [_, _, kh, kw] = weight.dims();
    let plain = kh == kw
        && options.stride[0] == options.stride[1]
        && !options.is_asymmetric()
        && options.padding[0] == options.padding[1]
        && options.dilation == [1, 1]
        && options.groups == 1;
    if !on_flex(&x) {
        return conv2d(x, weight, bias, options);
    }
    if let Some(g) = depthwise::depthwise(x.dims(), weight.dims(), &options) {
        return depthwise::conv2d(x, weight, bias, g);
    }
    if !plain {
        return conv2d(x, weight, bias, options);
    }
    let bias = bias.unwrap_or_else(|| Tensor::zeros([weight.dims()[0]], &weight.device()));
    let out = <burn::backend::Dispatch as CpuConv>::cpu_conv2d(
        x.into_dispatch(),
        weight.into_dispatch(),
        bias.into_dispatch(),
        options.stride[0],
        options.padding[0].0,
        bf16,
    );
    Tensor::from_dispatch(out)
}

fn shape_of(
    x: &FlexTensor,
    weight: &FlexTensor,
    stride: usize,
    pad: usize,
    bf16: bool,
) -> ConvShape {
    let (xd, wd) = (dims(x), dims(weight));
    ConvShape {
        n: xd[0],
        c: xd[1],
        h: xd[2],
        w: xd[3],
        o: wd[0],
        k: wd[2],
        stride,
        pad,
        bf16: bf16 && (xd[1].min(wd[0]) >= BF16_GEMM_MIN_CHANNELS || gemm_bf16::on_every_conv()),
    }
}

/// The fewest input and output channels for which a bf16 conv takes the bf16 GEMMs: on
/// narrower convs the GEMMs' sums are short (10 or 15 channels, 9 to 27 taps) and packing
/// both operands costs more than the faster products save. One conv's forward and backward
/// pass, bf16 GEMMs against f32 GEMMs in the same process (median of 7 interleaved, this
/// 2-core AVX512-BF16 VM): 1 -> 10 channels 0.42x, 10 -> 32 0.92x, 3 -> 15 0.76x,
/// 15 -> 45 0.85x; 16 -> 32 1.07x, 32 -> 64 1.34x, 128 -> 128 1.43x, 512 -> 512 1.23x
/// (`CONVLAB_CPU_BF16_GEMM=all cargo run --release --example bf16_conv_probe`).
const BF16_GEMM_MIN_CHANNELS: usize = 16;

fn flex_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: &FlexTensor,
    stride: usize,
    pad: usize,
    bf16: bool,
) -> FlexTensor {
    let s = shape_of(x, weight, stride, pad, bf16);
    let (x, weight, bias) = (values(x), values(weight), values(bias));
    let y = match path(&s) {
        Path::Winograd => winograd::forward(&s, &x, &weight, Some(&bias)),
        Path::Pairs => conv_pairs::forward(&s, &x, &weight, Some(&bias)),
        Path::Im2col => conv_kernels::forward(&s, &x, &weight, Some(&bias)),
    };
    tensor(y, [s.n, s.o, s.out_h(), s.out_w()])
}

impl CpuConv for Flex {
    fn cpu_conv2d(
        x: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        stride: usize,
        pad: usize,
        bf16: bool,
    ) -> FlexTensor {
        flex_forward(&x, &weight, &bias, stride, pad, bf16)
    }
}

#[derive(Debug)]
struct CpuConvBackward;

impl Backward<Flex, 3> for CpuConvBackward {
    /// The input and weight as they were in the forward pass, stride, padding, bf16 GEMMs.
    type State = (FlexTensor, FlexTensor, usize, usize, bool);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        let (x, weight, stride, pad, bf16) = ops.state;
        let s = shape_of(&x, &weight, stride, pad, bf16);
        let backward = match path(&s) {
            Path::Winograd => winograd::backward,
            Path::Pairs => conv_pairs::backward,
            Path::Im2col => conv_kernels::backward,
        };
        let g = backward(
            &s,
            &values(&x),
            &values(&weight),
            &values(&dy),
            node_x.is_some(),
            node_b.is_some(),
        );
        if let (Some(node), Some(dx)) = (node_x, g.x) {
            grads.register::<Flex>(node.id, tensor(dx, [s.n, s.c, s.h, s.w]));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, tensor(g.weight, [s.o, s.c, s.k, s.k]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(g.bias, [s.o]));
        }
    }
}

impl<C: CheckpointStrategy> CpuConv for Autodiff<Flex, C> {
    fn cpu_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        stride: usize,
        pad: usize,
        bf16: bool,
    ) -> FloatTensor<Self> {
        let (xp, xn) = x.into_parts();
        let (wp, wn) = weight.into_parts();
        let (bp, bn) = bias.into_parts();
        let y = flex_forward(&xp, &wp, &bp, stride, pad, bf16);
        match CpuConvBackward
            .prepare::<C>([xn, wn, bn])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((xp, wp, stride, pad, bf16), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}

/// `Conv2d::forward` with the convolution routed through [`conv2d_fast`] (convlab's nets use
/// explicit padding; other padding modes keep Burn's path).
/// The weights are cast to the input's float type (bf16 under `train.precision = "bf16"`), so
/// their gradients reach the f32 weights through the cast.
pub fn forward(conv: &burn::nn::conv::Conv2d, input: Tensor<4>) -> Tensor<4> {
    let dtype = input.dtype();
    let weight = super::cast_to(conv.weight.val(), dtype);
    let bias = conv.bias.as_ref().map(|b| super::cast_to(b.val(), dtype));
    forward_with(conv, input, weight, bias, false)
}

/// [`forward`] with the layer's weight and bias given as tensors derived from its own (cast
/// or rounded at use: `super::bf16`); the layer gives the stride, padding and the rest;
/// `bf16` runs its GEMMs in bf16 where the CPU can (emulated bf16, `ConvShape::bf16`).
/// `Same` padding (which convlab's nets never use) keeps Burn's path and the layer's weights.
pub fn forward_with(
    conv: &burn::nn::conv::Conv2d,
    input: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    bf16: bool,
) -> Tensor<4> {
    let padding = match conv.padding {
        PaddingConfig2d::Explicit(top, left, bottom, right) => [(top, bottom), (left, right)],
        PaddingConfig2d::Valid => [(0, 0), (0, 0)],
        PaddingConfig2d::Same => return conv.forward(input),
    };
    let options = ConvOptions::new_with_padding(conv.stride, padding, conv.dilation, conv.groups);
    conv2d_fast(input, weight, bias, options, bf16)
}
