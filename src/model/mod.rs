//! Models: the model config, layer specs (data), presets (one table of spec lists), the
//! Burn module, checkpoints, the predictor, the CPU operations and the CubeCL kernels.

pub mod activation;
pub mod checkpoint;
pub mod config;
pub mod cpu;
#[cfg(any(feature = "cuda", feature = "cubecl-cpu"))]
pub mod cube;
pub mod elu;
pub mod gelu;
mod init;
pub mod net;
mod orthogonal;
pub mod params;
pub mod predictor;
pub mod presets;
pub mod pytorch;
pub mod spec;
pub mod summary;
pub mod whiten;

pub use config::{Activation, BatchNormChoice, Init, ModelConfig};
pub use net::Net;
pub use spec::{LayerSpec, Shape};
