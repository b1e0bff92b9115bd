//! Training: device choice, optimizers, schedules, the loop, metrics and the guard.

pub mod bench;
pub mod device;
pub mod eval;
pub mod guard;
pub mod lr_find;
pub mod metrics;
pub mod optim;
pub mod resume;
pub mod schedule;
pub mod trainer;
