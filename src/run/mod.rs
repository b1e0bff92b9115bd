//! The run folder's schema: every file a run or a study leaves on disk, as types that are
//! written and read back with serde through this module only. The trainer writes it, the
//! sweep and the report read it; none of them knows a file name or a JSON key by heart.
//!
//! ```text
//! runs/<name>/                       runs/<study>/
//!   config.toml   resolved config      study.json   StudyIndex
//!   run.json      RunInfo              study.toml   the study file as given
//!   metrics.csv   EpochMetrics rows    <variant>/seed-N/   one run folder each
//!   timing.csv    seconds per epoch
//!   events.out.tfevents.convlab   metrics.csv for TensorBoard
//!   summary.json  Summary (the run is finished once it exists)
//!   .lock         held (OS lock) by the process training the run
//!   best.ckpt, last.ckpt, curves.png, resume.state (while unfinished)
//! ```

mod folder;
mod hparams;
mod lock;
mod lr_find;
mod metrics;
mod study_index;
mod summary;
mod tensorboard;

pub use folder::{RunDir, checkpoint_in, files, folder_name_problem, read_json, write_json};
pub use lock::{RunLock, lock_waiting, try_lock};
pub use lr_find::{LR_FIND_EXPLODE, LrFinding, LrPoint};
pub use metrics::{EpochMetrics, parse_metrics_csv};
pub use study_index::{Axis, StudyIndex, TrialEntry, Variant};
pub use summary::{RunInfo, Status, Summary};

/// The Burn version convlab is pinned to (Cargo.toml), recorded in runs and checkpoints.
pub const BURN_VERSION: &str = "0.22.1";

/// The backends this binary was built with (cargo features), recorded in runs and printed
/// by `convlab --version`: on CUDA, which compiler turns the kernels into PTX is part of what
/// a speed figure measured.
pub const BUILD: &str = if cfg!(feature = "cuda-nvrtc") {
    "cpu + cuda (kernels through NVRTC)"
} else if cfg!(feature = "cuda") {
    "cpu + cuda (kernels through LLVM)"
} else if cfg!(feature = "cubecl-cpu") {
    "cpu + cubecl-cpu"
} else {
    "cpu"
};
