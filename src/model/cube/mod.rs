//! convlab's own CubeCL kernels for Burn's CubeCL backend (`--features cuda` or
//! `cubecl-cpu`), where one of Burn's layers is many kernel launches: batch norm's training
//! pass. Tested on the CubeCL CPU runtime against Burn's own layer (tests/cube_kernels.rs),
//! on a GPU by `convlab check`, and compiled for an H100 without one (`sources`).

pub mod batch_norm;
mod geometry;
mod kernels;
#[cfg(all(feature = "cuda", feature = "cubecl-cpu"))]
pub mod sources;
