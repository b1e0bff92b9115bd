//! summary.json (how a run ended) and run.json (where and how it ran).

use serde::{Deserialize, Serialize};

/// How a run ended. A diverged run is a result like the others: its summary is stored and
/// the caller decides what it means (the CLI exits with 3, a sweep goes on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Completed,
    EarlyStopped,
    Diverged,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Completed => "completed",
            Status::EarlyStopped => "early-stopped",
            Status::Diverged => "diverged",
        }
    }

    /// Completed or early-stopped: a run whose numbers count in a comparison.
    pub fn finished(self) -> bool {
        self != Status::Diverged
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub status: Status,
    /// Why a diverged run was stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnosis: Option<String>,
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub best_val_loss: Option<f64>,
    pub best_val_acc: Option<f64>,
    /// Test metrics of the weights the run ends with (the best ones when restored).
    pub test_loss: Option<f64>,
    pub test_acc: Option<f64>,
    pub seconds: f64,
    pub parameters: usize,
}

/// Provenance written as run.json when a run starts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub name: String,
    pub seed: u64,
    pub convlab_version: String,
    pub burn_version: String,
    /// The backends of the binary ([`crate::run::BUILD`]); absent in runs from before it was
    /// recorded.
    #[serde(default)]
    pub build: String,
    pub device: String,
    pub cpu_threads: usize,
    /// The widest SIMD the CPU offers ("avx512f", "avx2", ...): the likely reason the same
    /// seed can end a few last digits apart on two CPU kinds (Burn's flex kernels can use
    /// wider vectors on one); on one CPU kind it gives identical numbers. Absent in runs from
    /// before it was recorded.
    #[serde(default)]
    pub cpu_simd: String,
    pub dataset: String,
    pub train_images: usize,
    pub val_images: usize,
    pub test_images: usize,
    pub parameters: usize,
    pub command: String,
    /// How a bf16 run (`train.precision = "bf16"`) computed: on the CPU "bf16 GEMMs
    /// (AVX512-BF16) on bf16-rounded values" or, without those instructions, "f32 on
    /// bf16-rounded values" (`model::cpu::bf16::cpu_arithmetic`); "bf16" elsewhere; absent
    /// for fp32 runs and in runs from before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub bf16_arithmetic: String,
    /// The `CONVLAB_*` environment variables set when the run started (switches such as
    /// `CONVLAB_CPU_CONV=im2col` change the rounding, so the numbers); empty for most runs.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
    pub started_unix: u64,
}
