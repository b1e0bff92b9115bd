//! Training: the run config, device choice, optimizers, schedules, one training step, the
//! loop, evaluation, metrics, the divergence guard, resuming, fine-tuning recipes, the
//! learning-rate range test and the throughput benchmark.

pub mod adadelta;
pub mod adam;
pub mod adam_family;
pub mod averaged;
pub mod bench;
pub mod config;
#[cfg(feature = "cuda")]
mod cuda_probe;
#[cfg(test)]
mod cycled_momentum_tests;
pub mod device;
pub mod ema;
mod epoch;
pub mod eval;
pub mod finetune;
pub mod grad_plan;
pub mod guard;
pub mod kernel_cache;
pub mod lookahead;
pub mod lr_find;
pub mod metrics;
pub mod mix;
pub mod optim;
#[cfg(test)]
mod optim_fixtures;
pub mod prepare;
mod provenance;
pub mod resume;
pub mod rmsprop;
pub mod schedule;
pub mod sgd;
pub mod step;
pub mod trainer;
pub mod unused_keys;
