//! Run configs and the run store (sweeps build on these).

pub mod config;
pub mod run_store;
