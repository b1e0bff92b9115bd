//! convlab: train image classifiers and compare hyperparameters, reproducibly, on Burn.
//!
//! Layers, each importing only those below it (README "Code map"):
//! `cli` -> `experiment` -> `serve`, `report` -> `train` -> `model` -> `data`, with the
//! leaves `run` (the run folder's schema), `seed`, `choice` and `error` under them all.

#[macro_use]
pub mod choice;
pub mod cli;
pub mod data;
pub mod error;
pub mod experiment;
pub mod model;
pub mod report;
pub mod run;
pub mod seed;
pub mod serve;
pub mod text;
pub mod train;

pub use error::{Error, Result};
