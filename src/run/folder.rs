//! [`RunDir`]: one run folder, created without overwriting and written atomically.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::metrics::{EpochMetrics, parse_metrics_csv, to_csv};
use super::summary::{RunInfo, Status, Summary};
use crate::error::{Error, Result, write_atomic};

/// The file names of a run folder.
pub mod files {
    pub const CONFIG: &str = "config.toml";
    pub const RUN_INFO: &str = "run.json";
    pub const METRICS: &str = "metrics.csv";
    pub const TIMING: &str = "timing.csv";
    pub const EVENTS: &str = super::super::tensorboard::FILE;
    pub const SUMMARY: &str = "summary.json";
    pub const BEST: &str = "best.ckpt";
    pub const LAST: &str = "last.ckpt";
    pub const CURVES: &str = "curves.png";
    /// lr-find's suggestions; its folder has a config.toml too but is no training run.
    pub const LR_FIND: &str = "lr_find.json";
    /// Present only while a resumable run is unfinished.
    pub const RESUME: &str = "resume.state";
    pub const STUDY_INDEX: &str = "study.json";
    pub const STUDY_FILE: &str = "study.toml";
}

/// The checkpoint file a `--checkpoint` argument names: the file itself, or for a run folder
/// its `best.ckpt` (the folder `train` printed is what a user has at hand; Lightning's and
/// fastai's loaders likewise take a checkpoint folder).
///
/// A checkpoint of a run that diverged gets a warning: its weights are from before the
/// divergence, often still at chance (predict and serve gave no hint).
pub fn checkpoint_in(path: &Path) -> Result<PathBuf> {
    let file = match path.is_dir() {
        false => path.to_path_buf(),
        true => path.join(files::BEST),
    };
    if path.is_dir() && !file.is_file() {
        return Err(Error::input(
            path.display(),
            format!(
                "a folder with no {} in it; pass a .ckpt file or a run folder",
                files::BEST
            ),
        ));
    }
    if file.is_file() {
        warn_if_diverged(&file);
    }
    Ok(file)
}

fn warn_if_diverged(checkpoint: &Path) {
    let Some(dir) = checkpoint.parent() else {
        return;
    };
    let run = RunDir {
        dir: dir.to_path_buf(),
    };
    let Ok(Some(s)) = run.read_summary() else {
        return;
    };
    if s.status != Status::Diverged {
        return;
    }
    let name = checkpoint.file_name().unwrap_or_default().to_string_lossy();
    let weights = match name == files::BEST {
        true => format!("holds its best epoch before that (epoch {})", s.best_epoch),
        false => "holds weights of that run".to_string(),
    };
    eprintln!(
        "warning: {}: its run diverged (summary.json); {name} {weights}, which may predict no better than chance",
        dir.display()
    );
}

/// Why `name` cannot be one run or study folder under the runs folder, None when it can: it
/// must be one path component (no separator, no `..` climbing out), not hidden, printable.
pub fn folder_name_problem(name: &str) -> Option<String> {
    let problem = if name.is_empty() {
        "is empty"
    } else if name.contains(['/', '\\']) {
        "holds a path separator"
    } else if name.starts_with('.') {
        "starts with a dot"
    } else if name.chars().any(char::is_control) {
        "holds a control character"
    } else {
        return None;
    };
    Some(format!(
        "\"{}\" {problem}; it names a folder under the runs folder",
        name.escape_debug()
    ))
}

#[derive(Debug, Clone)]
pub struct RunDir {
    pub dir: PathBuf,
}

impl RunDir {
    /// Create `root/name`, or `root/name-N` for the first free N: an existing run is never
    /// overwritten.
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
        unreachable!("an unbounded range always yields a free name or an error")
    }

    /// Use exactly `dir`, which must be new or empty (hidden files aside): a run, or the
    /// user's own files, are never written over.
    pub fn create_at(dir: &Path) -> Result<Self> {
        if dir.is_file() {
            return Err(Error::input(
                dir.display(),
                "a file; --run-dir takes a folder",
            ));
        }
        if dir.join(files::CONFIG).exists() {
            return Err(Error::input(
                dir.display(),
                "already holds a run (config.toml exists); choose another --run-dir",
            ));
        }
        // A folder of the user's own files (an image folder, say) would get checkpoints and
        // metrics.csv written among them, over any file of those names.
        let mut held: Vec<String> = std::fs::read_dir(dir)
            .map(|entries| {
                (entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned()))
                .filter(|n| !n.starts_with('.'))
                .collect()
            })
            .unwrap_or_default();
        if !held.is_empty() {
            held.sort();
            let more = if held.len() > 3 { ", ..." } else { "" };
            held.truncate(3);
            return Err(Error::input(
                dir.display(),
                format!(
                    "holds other files ({}{more}); --run-dir takes a new or empty folder, so \
                     that nothing in it is overwritten",
                    held.join(", ")
                ),
            ));
        }
        Self::open(dir)
    }

    /// `dir`, created if missing, whatever it holds (a sweep continues its own runs).
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// config.toml: the resolved config text, with a comment saying how to re-run it.
    pub fn write_config(&self, resolved_toml: &str) -> Result<()> {
        let text = format!(
            "# Resolved config of this run: every default written out.\n# Re-run with: convlab train {}\n{resolved_toml}",
            self.path(files::CONFIG).display(),
        );
        write_atomic(&self.path(files::CONFIG), text.as_bytes())
    }

    /// config.toml's text, None when the folder has none yet.
    pub fn read_config(&self) -> Option<String> {
        std::fs::read_to_string(self.path(files::CONFIG)).ok()
    }

    pub fn write_info(&self, info: &RunInfo) -> Result<()> {
        write_json(&self.path(files::RUN_INFO), info)
    }

    /// run.json, None when the run has not started.
    pub fn read_info(&self) -> Result<Option<RunInfo>> {
        read_json(&self.path(files::RUN_INFO), "corrupt run.json")
    }

    /// summary.json; the TensorBoard event file, where there is one, gets the run's end.
    pub fn write_summary(&self, summary: &Summary) -> Result<()> {
        write_json(&self.path(files::SUMMARY), summary)?;
        // A run that diverged within its first epoch has no event file yet: it gets one, so
        // that TensorBoard lists it, as a failure.
        let path = self.path(files::EVENTS);
        let mut events = std::fs::read(&path).unwrap_or_else(|_| self.events(&[]));
        events.extend(super::tensorboard::end_records(summary, self.started()));
        write_atomic(&path, &events)
    }

    /// The run's start (run.json) in Unix seconds, 0 when unknown: it anchors TensorBoard's
    /// wall-clock axis.
    fn started(&self) -> f64 {
        let info = self.read_info().ok().flatten();
        info.map_or(0.0, |i| i.started_unix as f64)
    }

    /// The TensorBoard event file for `rows`, headed by config.toml for the HParams
    /// dashboard (written before the first epoch).
    fn events(&self, rows: &[EpochMetrics]) -> Vec<u8> {
        let config = std::fs::read_to_string(self.path(files::CONFIG)).ok();
        let config = config.and_then(|c| c.parse::<toml::Table>().ok());
        super::tensorboard::events_file(rows, self.started(), config.as_ref())
    }

    /// The summary of a finished run; None while it is unfinished (or never started).
    pub fn read_summary(&self) -> Result<Option<Summary>> {
        read_json(&self.path(files::SUMMARY), "corrupt summary")
    }

    /// metrics.csv, timing.csv and the TensorBoard event file, all three from `rows`.
    pub fn write_metrics(&self, rows: &[EpochMetrics]) -> Result<()> {
        let (csv, timing) = to_csv(rows);
        write_atomic(&self.path(files::METRICS), csv.as_bytes())?;
        write_atomic(&self.path(files::TIMING), timing.as_bytes())?;
        write_atomic(&self.path(files::EVENTS), &self.events(rows))
    }

    /// metrics.csv's rows; empty when there is none yet.
    pub fn read_metrics(&self) -> Result<Vec<EpochMetrics>> {
        let path = self.path(files::METRICS);
        match std::fs::read_to_string(&path) {
            Ok(text) => parse_metrics_csv(&text).map_err(|e| Error::input(path.display(), e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// A killed run can leave the temporary files of an unfinished atomic write
    /// (`.name.tmpPID`); they never replaced a good file, so they can go.
    pub fn remove_temporaries(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') && name.contains(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Pretty JSON with a final newline, written atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Serialize {
        what: path.display().to_string(),
        problem: e.to_string(),
    })?;
    write_atomic(path, format!("{text}\n").as_bytes())
}

/// A JSON file of ours: None when it does not exist, an error naming it when it is corrupt.
pub fn read_json<T: DeserializeOwned>(path: &Path, corrupt: &str) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::input(path.display(), format!("{corrupt}: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}
