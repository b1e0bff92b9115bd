//! convlab's own CubeCL kernels for Burn's CubeCL backend (`--features cuda` or
//! `cubecl-cpu`), where one of Burn's layers is many kernel launches: batch norm's training
//! pass. Tested on the CubeCL CPU runtime against Burn's own layer (tests/cube_kernels.rs),
//! and on a GPU by `convlab check`.

pub mod batch_norm;
mod geometry;
mod kernels;
