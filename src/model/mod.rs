//! Models: layer specs (data), presets (spec lists), the Burn module, and checkpoints.

pub mod checkpoint;
pub mod cpu;
pub mod net;
pub mod predictor;
pub mod presets;
pub mod spec;

pub use net::Net;
pub use spec::{LayerSpec, Shape};
