//! `convlab check`: does a device compute convlab's training step as the CPU does? Each case
//! builds a net once on the CPU (flex with convlab's CPU operations, the path every CPU figure
//! in bench/RESULTS.md comes from), copies its weights to the device, runs one forward, loss
//! and backward on the same synthetic batch on both, and compares the logits, the loss and
//! every parameter's gradient as a relative RMS difference, ||device - cpu|| / ||cpu||.
//!
//! Why: on an H100 the fast recipe diverged within its first 16 batches with convlab's CubeCL
//! batch norm while its tests passed on the CubeCL CPU runtime (bench/RESULTS.md), and a test
//! binary does not fit beside convlab's in the 64 MiB that travel to a GPU machine. This
//! command runs from the binary a user already has, on the shapes training meets (the fast
//! recipe's net at its batch of 1,024), and names the tensor that is off. On CubeCL devices it
//! also runs the batch-norm kernels alone at the recipe's shapes with at most 256, 32 and 1
//! units per cube (`cube_kernel_rows`), to tell a fault in their shared-memory sums from one
//! elsewhere.
//!
//! Limits: the GPU computes f32 convolutions and matrix products in TF32 (10-bit mantissa), so
//! the nets' rows allow 2e-2; a wrong kernel is off by O(1) or not finite.

#[cfg(any(feature = "cuda", feature = "cubecl-cpu"))]
mod cube;
#[cfg(any(feature = "cuda", feature = "cubecl-cpu"))]
pub use cube::cube_kernel_rows;

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::experiment::config::{parse_table, run_config};
use crate::model::presets::resolve_layers;
use crate::model::spec::{LayerSpec, Shape, check_net};
use crate::model::{Init, ModelConfig, Net};
use crate::train::device::{self, DeviceName};
use crate::train::eval::cross_entropy;

/// The fast recipe, whose net and batch the first case checks.
const FAST_RECIPE: &str = include_str!("../../../examples/cifar10-fast.toml");
/// Relative RMS allowed for a net's rows (TF32 on the GPU) and for the kernels' alone (f32).
pub const NET_LIMIT: f64 = 2e-2;
pub const KERNEL_LIMIT: f64 = 5e-4;

/// One tensor compared.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The case: a net and batch, or a kernel and shape.
    pub case: String,
    /// "logits", "loss", a parameter's gradient ("layers.2.Conv.weight [64, 24, 3, 3]"), or a
    /// kernel output.
    pub tensor: String,
    /// ||device - cpu|| / ||cpu|| (0 when both are zero).
    pub rel_rms: f64,
    /// Whether every value the device gave is finite.
    pub finite: bool,
    pub limit: f64,
}

impl Row {
    pub fn ok(&self) -> bool {
        self.finite && self.rel_rms <= self.limit
    }
}

/// A net to check: its layers, input and batch.
pub struct NetCase {
    pub name: String,
    pub layers: Vec<LayerSpec>,
    pub input: [usize; 3],
    pub batch: usize,
    pub label_smoothing: f64,
}

/// The nets `convlab check` runs: the fast recipe's at its batch, and three presets at batches
/// whose CPU reference takes a few seconds (bn-prelu-cnn at 512: its GPU speed row is the
/// furthest off PyTorch's). `batch` replaces every case's batch (a quick look).
pub fn default_cases(batch: Option<usize>) -> Result<Vec<NetCase>> {
    let fast = run_config(
        parse_table(FAST_RECIPE, "examples/cifar10-fast.toml")?,
        "examples/cifar10-fast.toml",
    )?;
    let fast_layers = resolve_layers(&fast.model, 10, "examples/cifar10-fast.toml")?;
    let mut cases = vec![NetCase {
        name: "cifar10-fast".into(),
        layers: fast_layers,
        input: [3, 32, 32],
        batch: fast.train.batch_size,
        label_smoothing: fast.train.label_smoothing,
    }];
    for (preset, batch) in [("bn-prelu-cnn", 512), ("resnet18", 32), ("vgg-blocks", 64)] {
        // No dropout: its masks are random draws, different on each device.
        let model = ModelConfig {
            preset: preset.into(),
            dropout: 0.0,
            ..Default::default()
        };
        cases.push(NetCase {
            name: preset.into(),
            layers: resolve_layers(&model, 10, "check")?,
            input: [3, 32, 32],
            batch,
            label_smoothing: 0.0,
        });
    }
    if let Some(b) = batch {
        cases.iter_mut().for_each(|c| c.batch = b);
    }
    Ok(cases)
}

/// Every case on `name`'s device against the CPU; `progress` hears each case's name first.
pub fn run(
    name: DeviceName,
    cases: &[NetCase],
    mut progress: impl FnMut(&str),
) -> Result<Vec<Row>> {
    if name == DeviceName::Cpu {
        return Err(Error::input(
            "--device",
            "check compares a device with the CPU: give cuda, cubecl-cpu or ndarray",
        ));
    }
    let device = device::select(name)?;
    let mut rows = Vec::new();
    for case in cases {
        let label = format!("{} batch {}", case.name, case.batch);
        progress(&label);
        rows.extend(guarded(&label, || {
            compare_net(case, &device, &Device::flex())
        })?);
    }
    #[cfg(any(feature = "cuda", feature = "cubecl-cpu"))]
    if matches!(name, DeviceName::Cuda | DeviceName::CubeclCpu) {
        progress("batch-norm kernels");
        let kernels = || Ok(cube_kernel_rows(&device, &Device::flex()));
        rows.extend(guarded("batch-norm kernels", kernels)?);
    }
    Ok(rows)
}

/// `f`'s rows, or one failing row if it panicked (a kernel the device refused, say), so the
/// cases after it still run; the panic hook has printed the message.
fn guarded(case: &str, f: impl FnOnce() -> Result<Vec<Row>>) -> Result<Vec<Row>> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(rows) => rows,
        Err(_) => Ok(vec![Row {
            case: case.into(),
            tensor: "panicked (message above)".into(),
            rel_rms: f64::INFINITY,
            finite: false,
            limit: NET_LIMIT,
        }]),
    }
}

/// One training step's logits, loss and gradients of `case`'s net on `device` against
/// `reference`, from the same weights and batch.
pub fn compare_net(case: &NetCase, device: &Device, reference: &Device) -> Result<Vec<Row>> {
    let [c, h, w] = case.input;
    let shape = Shape::Image { c, h, w };
    check_net(&case.layers, shape, 10, &case.name, "")?;
    let reference = reference.clone().autodiff();
    reference.seed(0);
    let net = Net::new(&case.layers, shape, Init::Default, &reference);
    // A net of its own on the device (a clone would share the batch-norm running statistics,
    // which Burn keeps behind shared locks), then the reference's weights copied in.
    let device = device.clone().autodiff();
    let mut weights = Collect(Vec::new());
    net.visit(&mut weights);
    let fresh = Net::new(&case.layers, shape, Init::Default, &device);
    let moved = fresh.map(&mut Fill {
        data: weights.0.into_iter(),
        device: device.clone(),
    });
    let want = step_values(&net, case, &reference);
    let got = step_values(&moved, case, &device);
    let label = format!("{} batch {}", case.name, case.batch);
    Ok(got
        .into_iter()
        .zip(want)
        .map(|((tensor, a), (_, b))| row(&label, tensor, &a, &b, NET_LIMIT))
        .collect())
}

/// A row from the device's values `a` and the reference's `b`.
pub fn row(case: &str, tensor: String, a: &[f32], b: &[f32], limit: f64) -> Row {
    Row {
        case: case.into(),
        tensor,
        rel_rms: relative_rms(a, b),
        finite: a.iter().all(|v| v.is_finite()),
        limit,
    }
}

/// ||a - b|| / ||b||, in f64; 0 when both are zero, infinite when only b is (or lengths differ).
pub fn relative_rms(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    let diff: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum();
    let norm: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
    if diff == 0.0 {
        0.0
    } else if norm == 0.0 {
        f64::INFINITY
    } else {
        (diff / norm).sqrt()
    }
}

/// Deterministic inputs in [-1.5, 1.5) and labels 0..9 in turn: the same on every device.
fn batch(case: &NetCase, device: &Device) -> (Tensor<4>, Tensor<1, Int>) {
    let [c, h, w] = case.input;
    let n = case.batch * c * h * w;
    let pixels: Vec<f32> = (0..n as u32)
        .map(|i| ((i.wrapping_mul(2654435761) >> 8) % 3000) as f32 / 1000.0 - 1.5)
        .collect();
    let labels: Vec<i64> = (0..case.batch as i64).map(|i| i % 10).collect();
    (
        Tensor::<1>::from_floats(pixels.as_slice(), device).reshape([case.batch, c, h, w]),
        Tensor::from_data(TensorData::new(labels, [case.batch]), device),
    )
}

/// (name, values) of the logits, the loss and each parameter's gradient after one step.
fn step_values(net: &Net, case: &NetCase, device: &Device) -> Vec<(String, Vec<f32>)> {
    let (x, y) = batch(case, device);
    let logits = net.forward(x);
    let loss = cross_entropy(logits.clone(), y, case.label_smoothing);
    let grads = loss.backward();
    let mut out = vec![
        ("logits".to_string(), values(logits.inner())),
        ("loss".to_string(), values(loss.inner())),
    ];
    let mut collect = CollectGrads {
        grads: &grads,
        path: Vec::new(),
        out: Vec::new(),
    };
    net.visit(&mut collect);
    out.extend(collect.out);
    out
}

pub(crate) fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .unwrap_or_default()
}

/// Each tracked parameter's gradient, named by its place in the net ("layers.2.weight"; the
/// batch-norm running statistics have none and are skipped).
struct CollectGrads<'a> {
    grads: &'a burn::tensor::Gradients,
    path: Vec<String>,
    out: Vec<(String, Vec<f32>)>,
}

impl ModuleVisitor for CollectGrads<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        if let Some(g) = t.grad(self.grads) {
            let name = format!("{} {:?}", self.path.join("."), t.dims());
            self.out.push((name, values(g)));
        }
    }
}

/// Every float tensor's values (weights, biases, running statistics), in visiting order.
struct Collect(Vec<TensorData>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().into_data());
    }
}

/// Each float tensor replaced by the next of `Collect`'s values on `device`, tracked where it
/// was. Both nets come from the same layer list, so the visiting orders agree.
struct Fill {
    data: std::vec::IntoIter<TensorData>,
    device: Device,
}

impl ModuleMapper for Fill {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(data) = self.data.next() else {
            return param;
        };
        let device = self.device.clone();
        param.map(|t| {
            let moved = Tensor::from_data(data, &device);
            if t.is_require_grad() {
                moved.require_grad()
            } else {
                moved
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_rms_by_hand() {
        // ||(1, 2) - (1, 1)|| / ||(1, 1)|| = 1 / sqrt(2)
        assert!((relative_rms(&[1.0, 2.0], &[1.0, 1.0]) - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(relative_rms(&[0.0], &[0.0]), 0.0);
        assert_eq!(relative_rms(&[1.0], &[0.0]), f64::INFINITY);
        assert_eq!(relative_rms(&[1.0], &[1.0, 2.0]), f64::INFINITY);
        let bad = row("c", "t".into(), &[f32::NAN], &[1.0], 1.0);
        assert!(!bad.ok(), "a NaN fails whatever the RMS says");
    }

    /// The CPU against itself: every row is exactly 0, and there is one per parameter that
    /// has a gradient (mnist-cnn: 2 convs + 2 linears, weight and bias each) plus two.
    #[test]
    fn the_cpu_against_itself_agrees_exactly() {
        let model = ModelConfig {
            preset: "mnist-cnn".into(),
            dropout: 0.0,
            ..Default::default()
        };
        let case = NetCase {
            name: "mnist-cnn".into(),
            layers: resolve_layers(&model, 10, "test").unwrap(),
            input: [1, 28, 28],
            batch: 4,
            label_smoothing: 0.1,
        };
        let rows = compare_net(&case, &Device::flex(), &Device::flex()).unwrap();
        assert_eq!(rows.len(), 2 + 8, "{rows:?}");
        assert!(rows.iter().all(|r| r.rel_rms == 0.0 && r.ok()), "{rows:?}");
        assert_eq!(rows[2].tensor, "layers.0.Conv.weight [10, 1, 3, 3]");
        assert_eq!(rows[9].tensor, "layers.9.Linear.bias [10]");
    }

    #[test]
    fn the_fast_recipes_net_is_the_first_case() {
        let cases = default_cases(None).unwrap();
        assert_eq!(
            (cases[0].name.as_str(), cases[0].batch),
            ("cifar10-fast", 1024)
        );
        assert_eq!(cases[0].label_smoothing, 0.2);
        assert!(default_cases(Some(8)).unwrap().iter().all(|c| c.batch == 8));
    }
}
