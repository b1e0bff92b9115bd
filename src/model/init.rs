//! Weight init: Burn's default (PyTorch's own bounds), `torch.nn.init`'s choices with zero
//! biases, airbench's dirac filters; one place, so each layer kind draws the same way.

use burn::module::Param;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::Distribution;

use crate::model::config::Init;
use crate::model::orthogonal::orthonormal_rows;

/// Weight init choice: Burn's default (the same uniform bounds as PyTorch's), or one of
/// `torch.nn.init`'s for weights with zero biases. Burn's fans are PyTorch's (conv: cin x k x k
/// in, cout x k x k out); ReLU's gain is sqrt(2), as `calculate_gain("relu")`.
pub(crate) struct WeightInit(pub(crate) Option<Initializer>);

impl WeightInit {
    pub(crate) fn from_name(init: Init) -> Self {
        let relu_gain = 2f64.sqrt();
        WeightInit(match init {
            Init::Default => None,
            Init::Kaiming => Some(Initializer::KaimingNormal {
                gain: relu_gain,
                fan_out_only: false,
            }),
            Init::KaimingUniform => Some(Initializer::KaimingUniform {
                gain: relu_gain,
                fan_out_only: false,
            }),
            Init::LecunNormal => Some(Initializer::KaimingNormal {
                gain: 1.0,
                fan_out_only: false,
            }),
            Init::Xavier => Some(Initializer::XavierUniform { gain: 1.0 }),
            Init::XavierNormal => Some(Initializer::XavierNormal { gain: 1.0 }),
            Init::Orthogonal => Some(Initializer::Orthogonal { gain: 1.0 }),
        })
    }

    /// What the layer's own init draws. For the orthogonal init the layer starts at zero
    /// (the bias too, which drew from the weight's init and is zeroed anyway) and `redraw`
    /// fills the weight.
    fn layer_initializer(&self) -> Option<Initializer> {
        match &self.0 {
            Some(Initializer::Orthogonal { .. }) => Some(Initializer::Zeros),
            other => other.clone(),
        }
    }

    fn redraw<const D: usize>(&self, w: Param<Tensor<D>>, device: &Device) -> Param<Tensor<D>> {
        match &self.0 {
            Some(Initializer::Orthogonal { .. }) => {
                Param::from_tensor(orthogonal(w.val().shape(), device))
            }
            _ => w,
        }
    }

    /// A conv (`conv_config`'s, with any dilation or groups); a `torch.nn.init` choice
    /// zeroes the bias, as its users write it.
    pub(crate) fn conv(&self, config: Conv2dConfig, device: &Device) -> Conv2d {
        let [cin, cout] = config.channels;
        let (groups, area) = (config.groups, config.kernel_size.iter().product::<usize>());
        let initializer = self.layer_initializer();
        let config = match &initializer {
            Some(i) => config.with_initializer(i.clone()),
            None => config,
        };
        let mut conv = config.init(device);
        // PyTorch's fan-out of a grouped conv is out x k x k (Burn's divides it by the
        // groups): the Xavier inits redraw with it.
        if let Some(i @ (Initializer::XavierUniform { .. } | Initializer::XavierNormal { .. })) =
            initializer.filter(|_| groups > 1)
        {
            let shape = [
                cout,
                cin / groups,
                config.kernel_size[0],
                config.kernel_size[1],
            ];
            conv.weight = i.init_with(shape, Some(cin / groups * area), Some(cout * area), device);
        }
        if self.0.is_some() {
            conv.bias = conv.bias.map(|b| zeros_like(b, device));
            conv.weight = self.redraw(conv.weight, device);
        }
        conv
    }

    pub(crate) fn linear(&self, din: usize, dout: usize, bias: bool, device: &Device) -> Linear {
        let c = LinearConfig::new(din, dout).with_bias(bias);
        match self.layer_initializer() {
            Some(i) => {
                let mut l = c.with_initializer(i).init(device);
                l.bias = l.bias.map(|b| zeros_like(b, device));
                l.weight = self.redraw(l.weight, device);
                l
            }
            None => c.init(device),
        }
    }
}

/// A square conv from `cin` to `cout` channels; `bias: false` for convs followed by batch norm
/// (BN's beta plays that role).
pub(crate) fn conv_config(
    [cin, cout]: [usize; 2],
    [k, stride, pad]: [usize; 3],
    bias: bool,
) -> Conv2dConfig {
    Conv2dConfig::new([cin, cout], [k, k])
        .with_stride([stride, stride])
        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
        .with_bias(bias)
}

/// `torch.nn.init.dirac_` on the first `in` filters (each passes its own input channel
/// through the kernel's centre); the others keep their init.
pub(crate) fn dirac_init(mut conv: Conv2d) -> Conv2d {
    let [out, cin, kh, kw] = conv.weight.val().dims();
    let data = conv.weight.val().into_data().convert::<f32>();
    let mut w = data.try_to_vec::<f32>().unwrap_or_default();
    for o in 0..out.min(cin) {
        let filter = &mut w[o * cin * kh * kw..(o + 1) * cin * kh * kw];
        filter.fill(0.0);
        filter[o * kh * kw + (kh / 2) * kw + kw / 2] = 1.0;
    }
    let device = conv.weight.val().device();
    let weight = Tensor::from_data(TensorData::new(w, [out, cin, kh, kw]), &device);
    conv.weight = Param::from_tensor(weight);
    conv
}

fn zeros_like(p: Param<Tensor<1>>, device: &Device) -> Param<Tensor<1>> {
    Param::from_tensor(Tensor::zeros(p.val().shape(), device))
}

/// `torch.nn.init.orthogonal_(w)`: a standard normal matrix of one row per output, replaced by
/// the Q of its QR with R's diagonal made positive (so a matrix wider than tall gets
/// orthonormal rows, a taller one orthonormal columns; Burn's linear weight is PyTorch's
/// transposed, which keeps the same vectors orthonormal). Q comes from a blocked Cholesky QR
/// in f64 on the CPU (`orthogonal::orthonormal_rows`): Burn's Householder QR carries a
/// rows x rows Q (ResNet-18's 4608-long filters took minutes).
fn orthogonal<const D: usize>(shape: burn::tensor::Shape, device: &Device) -> Tensor<D> {
    let rows = shape.dims::<D>()[0];
    let cols = shape.num_elements() / rows;
    let normal = Tensor::<2>::random([rows, cols], Distribution::Normal(0.0, 1.0), device);
    let drawn: Vec<f64> = normal.into_data().iter::<f64>().collect();
    let q: Vec<f32> = if rows <= cols {
        let q = orthonormal_rows(&drawn, rows, cols);
        q.iter().map(|&x| x as f32).collect()
    } else {
        let q = orthonormal_rows(&transpose(&drawn, rows, cols), cols, rows);
        transpose(&q, cols, rows)
            .iter()
            .map(|&x| x as f32)
            .collect()
    };
    Tensor::<2>::from_data(TensorData::new(q, [rows, cols]), device).reshape(shape)
}

/// The cols x rows transpose of the row-major rows x cols `m`.
fn transpose(m: &[f64], rows: usize, cols: usize) -> Vec<f64> {
    (0..cols)
        .flat_map(|c| (0..rows).map(move |r| m[r * cols + c]))
        .collect()
}
