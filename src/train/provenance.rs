//! What a run records about itself: run.json's provenance and each checkpoint's header.

use crate::error::{Error, Result};
use crate::model::checkpoint::CheckpointMeta;
use crate::model::config::Precision;
use crate::model::spec::Shape;
use crate::run::{BUILD, BURN_VERSION, EpochMetrics, RunInfo};
use crate::train::device::DeviceName;
use crate::train::trainer::Trainer;

impl Trainer<'_> {
    /// The header of a checkpoint saved after `epoch`, with that epoch's metrics.
    pub(super) fn meta(&self, epoch: usize, row: &EpochMetrics) -> Result<CheckpointMeta> {
        let Shape::Image { c, h, w } = self.prep.input else {
            unreachable!("inputs are images")
        };
        Ok(CheckpointMeta {
            convlab_version: env!("CARGO_PKG_VERSION").into(),
            burn_version: BURN_VERSION.into(),
            layers: self.prep.layers.clone(),
            input: [c, h, w],
            classes: self.prep.classes.clone(),
            dataset: self.cfg.data.checkpoint_label(),
            mean: self.prep.norm.mean.clone(),
            std: self.prep.norm.std.clone(),
            device: self.cfg.device.to_string(),
            epoch,
            summary: serde_json::to_value(row).map_err(|e| Error::Serialize {
                what: "epoch metrics".into(),
                problem: e.to_string(),
            })?,
        })
    }

    /// run.json: seed, versions, device, threads, data sizes and the command line.
    pub(super) fn info(&self, parameters: usize) -> RunInfo {
        let (cfg, p) = (self.cfg, self.prep);
        RunInfo {
            name: cfg.name.clone(),
            seed: cfg.seed,
            convlab_version: env!("CARGO_PKG_VERSION").into(),
            burn_version: BURN_VERSION.into(),
            build: BUILD.into(),
            device: cfg.device.to_string(),
            cpu_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            cpu_simd: cpu_simd().into(),
            dataset: cfg.data.label(),
            train_images: p.train.len(),
            val_images: p.val.as_ref().map_or(0, |v| v.len()),
            test_images: p.test.len(),
            parameters,
            bf16_arithmetic: match (cfg.train.precision, cfg.device) {
                (Precision::Fp32, _) => String::new(),
                (Precision::Bf16, DeviceName::Cpu) => {
                    crate::model::cpu::bf16::cpu_arithmetic().into()
                }
                (Precision::Bf16, _) => "bf16".into(),
            },
            command: std::env::args().collect::<Vec<_>>().join(" "),
            env: std::env::vars()
                .filter(|(k, _)| k.starts_with("CONVLAB_"))
                .collect(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        }
    }
}

/// The widest x86 SIMD level the CPU has (the architecture's name elsewhere).
fn cpu_simd() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
        "sse2"
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH
    }
}
