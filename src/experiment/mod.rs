//! Orchestration: config files and `--set`, single training runs, studies (axes x seeds),
//! sweeps, checkpoint evaluation and cluster job files. The layer the CLI calls.

pub mod compare;
pub mod config;
pub mod device_check;
pub mod emit;
pub mod evaluate;
pub mod interchange;
pub mod overrides;
pub mod study;
pub mod study_axes;
pub mod sweep;
pub mod training;
