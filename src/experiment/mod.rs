//! Run configs, studies (axes x seeds), sweeps, the run store and cluster job files.

pub mod config;
pub mod emit;
pub mod run_store;
pub mod study;
pub mod sweep;
