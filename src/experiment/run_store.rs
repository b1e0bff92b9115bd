//! The run folder: `runs/<name>/` with the resolved config, provenance, metrics, summary,
//! checkpoints and curves. Files are written atomically; an existing run is never
//! overwritten (a new name gets a `-2`, `-3`, ... suffix).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result, write_atomic};
use crate::experiment::config::RunConfig;
use crate::train::metrics::{CSV_HEADER, EpochMetrics};

pub const BURN_VERSION: &str = "0.22.1";

pub struct RunStore {
    pub dir: PathBuf,
}

/// Provenance written as run.json.
#[derive(Serialize)]
pub struct RunInfo<'a> {
    pub name: &'a str,
    pub seed: u64,
    pub convlab_version: &'a str,
    pub burn_version: &'a str,
    pub device: &'a str,
    pub cpu_threads: usize,
    pub dataset: &'a str,
    pub train_images: usize,
    pub val_images: usize,
    pub test_images: usize,
    pub parameters: usize,
    pub command: String,
    pub started_unix: u64,
}

impl RunStore {
    /// Create `root/name`, or `root/name-N` for the first free N.
    pub fn create_unique(root: &Path, name: &str) -> Result<Self> {
        std::fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
        for n in 1.. {
            let dir = if n == 1 {
                root.join(name)
            } else {
                root.join(format!("{name}-{n}"))
            };
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(Self { dir }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(&dir, e)),
            }
        }
        unreachable!()
    }

    /// Use exactly `dir`; it must not hold a run already.
    pub fn create_at(dir: &Path) -> Result<Self> {
        if dir.join("config.toml").exists() {
            return Err(Error::input(
                dir.display(),
                "already holds a run (config.toml exists); choose another --run-dir",
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    pub fn write_config(&self, cfg: &RunConfig) -> Result<()> {
        let text = format!(
            "# Resolved config of this run: every default written out.\n# Re-run with: convlab train {}\n{}",
            self.path("config.toml").display(),
            cfg.to_toml()
        );
        write_atomic(&self.path("config.toml"), text.as_bytes())
    }

    pub fn write_json(&self, file: &str, value: &impl Serialize) -> Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(|e| Error::Other(e.to_string()))?;
        write_atomic(&self.path(file), format!("{text}\n").as_bytes())
    }

    pub fn write_metrics(&self, rows: &[EpochMetrics]) -> Result<()> {
        let mut csv = String::from(CSV_HEADER);
        let mut timing = String::from("epoch,seconds\n");
        for r in rows {
            csv.push_str(&r.csv_row());
            timing.push_str(&format!("{},{:.3}\n", r.epoch, r.seconds));
        }
        write_atomic(&self.path("metrics.csv"), csv.as_bytes())?;
        write_atomic(&self.path("timing.csv"), timing.as_bytes())
    }
}
