//! One process per run folder: an exclusive OS lock (flock on Unix, LockFileEx on Windows)
//! on `<run>/.lock`, held while the run trains.
//!
//! Why an OS lock rather than a PID file: the kernel drops it when its holder dies, SIGKILL
//! included, so a crashed or killed sweep leaves nothing to clean up and the next sweep
//! resumes the run as before. The lock file itself stays (empty); it carries no state.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The lock file's name inside a run folder.
const LOCK_FILE: &str = ".lock";

/// Held for as long as it lives; dropping it (or the process ending) releases the folder.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

/// Locks `dir` (which must exist) for this process: `Ok(None)` when another process holds it.
pub fn try_lock(dir: &Path) -> Result<Option<RunLock>> {
    let (file, path) = open_lock_file(dir)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(RunLock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

/// Locks `dir` (created if missing), waiting for another holder to let go: for short work
/// that must not interleave, such as reading a study's runs and writing its report.
pub fn lock_waiting(dir: &Path) -> Result<RunLock> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let (file, path) = open_lock_file(dir)?;
    file.lock().map_err(|e| Error::io(&path, e))?;
    Ok(RunLock { _file: file })
}

/// `dir`'s lock file, created empty if missing (never truncated: another process may hold it).
fn open_lock_file(dir: &Path) -> Result<(File, PathBuf)> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    Ok((file, path))
}
