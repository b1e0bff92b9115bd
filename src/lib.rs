//! convlab: train image classifiers and compare hyperparameters, reproducibly, on Burn.
//!
//! Layout: `data` (datasets, transforms, batching), `model` (specs, presets, the net,
//! checkpoints), `train` (optimizers, schedules, loop, metrics), `experiment` (configs,
//! run store), `report` (charts), `serve` (HTTP), `cli`.

pub mod cli;
pub mod data;
pub mod error;
pub mod experiment;
pub mod model;
pub mod report;
pub mod serve;
pub mod train;

pub use error::{Error, Result};
