//! One error type for everything a user can get wrong, so the CLI can print one line and
//! pick the exit code (2 for bad input, 3 for a diverged run, 1 for anything else).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or value the user gave us is wrong: names the input and the problem.
    #[error("{input}: {problem}")]
    Input { input: String, problem: String },

    /// The dataset is not where we looked.
    #[error("{dataset} not found (looked in: {looked}); {hint}")]
    DataNotFound {
        dataset: String,
        looked: String,
        hint: String,
    },

    /// Training stopped because it diverged; the diagnosis says why.
    #[error("run diverged: {0}")]
    Diverged(String),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A value of ours could not be turned into bytes (JSON, weights): a bug or a full
    /// memory, never the user's input.
    #[error("{what}: could not serialize: {problem}")]
    Serialize { what: String, problem: String },

    /// A chart could not be drawn.
    #[error("{path}: could not draw: {problem}")]
    Draw { path: PathBuf, problem: String },

    /// A process, thread or runtime convlab needs could not be started or waited for.
    #[error("{what}: {problem}")]
    Process { what: String, problem: String },

    /// A download from an official source failed.
    #[error("{url}: download failed: {problem}")]
    Download { url: String, problem: String },

    /// Some trials of a sweep failed with an error (each printed on its own line).
    #[error(
        "{0} trial(s) failed (not diverged: an error, printed above); fix it and run the same command again"
    )]
    TrialsFailed(usize),

    /// Some inputs failed (each already reported on its own line), the rest succeeded.
    #[error("{0}")]
    Partial(String),
}

impl Error {
    pub fn input(input: impl std::fmt::Display, problem: impl std::fmt::Display) -> Self {
        Error::Input {
            input: input.to_string(),
            problem: one_line(&problem.to_string()),
        }
    }

    pub fn process(what: impl std::fmt::Display, problem: impl std::fmt::Display) -> Self {
        Error::Process {
            what: what.to_string(),
            problem: one_line(&problem.to_string()),
        }
    }

    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// Process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. } | Error::DataNotFound { .. } | Error::Partial(_) => 2,
            // A path that is missing, of the wrong kind (a folder given for a file, a file in
            // place of a folder) or not text where text is read: the user's input is wrong.
            Error::Io { source, .. } if input_io_kind(source.kind()) => 2,
            Error::Diverged(_) => 3,
            _ => 1,
        }
    }
}

/// A library's message as one line: a decoder's "expected 162 but found 69\n" ended a
/// predict error's line early and left ")" on the next (the `image` crate's JPEG errors).
fn one_line(text: &str) -> String {
    if !text.contains(['\n', '\r']) {
        return text.to_string();
    }
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn input_io_kind(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind::*;
    matches!(kind, NotFound | IsADirectory | NotADirectory | InvalidData)
}

pub type Result<T> = std::result::Result<T, Error>;

/// Read a whole file, mapping the I/O error to one that names the file.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// A file read in sections whose lengths come from the file itself (the dataset cache, the
/// resume file): each length is checked against what is left of the file before anything is
/// allocated, so a damaged one can neither overflow nor ask for more memory than the file
/// holds, and each section lands in its own buffer (no copy of the whole file first).
pub struct SectionReader {
    file: std::fs::File,
    left: u64,
}

impl SectionReader {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let left = file.metadata()?.len();
        Ok(SectionReader { file, left })
    }

    pub fn is_at_end(&self) -> bool {
        self.left == 0
    }

    /// The next `n` bytes; None if the file holds fewer or cannot be read.
    pub fn take(&mut self, n: u64) -> Option<Vec<u8>> {
        use std::io::Read;
        self.left = self.left.checked_sub(n)?;
        let mut v = Vec::with_capacity(usize::try_from(n).ok()?);
        (&mut self.file).take(n).read_to_end(&mut v).ok()?;
        (v.len() as u64 == n).then_some(v)
    }

    /// The next 8 bytes as a little-endian length, then that many bytes.
    pub fn take_section(&mut self) -> Option<Vec<u8>> {
        let len = self.take(8)?;
        self.take(u64::from_le_bytes(len.try_into().ok()?))
    }
}

/// Write `bytes` to `path` atomically: a temporary file in the same folder, then a rename,
/// so a crash never leaves a half-written result where a good one was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_parts(path, &[bytes])
}

/// `write_atomic` of the parts one after another, without joining them in memory first (a
/// resume file or a dataset cache is hundreds of MB).
pub fn write_atomic_parts(path: &Path, parts: &[&[u8]]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    // A full disk or a file-size limit fails the write: the temporary goes, the error names
    // the file the user knows, and whatever `path` held before is untouched.
    let written = write_parts(&tmp, parts).and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

fn write_parts(path: &Path, parts: &[&[u8]]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    for part in parts {
        file.write_all(part)?;
    }
    Ok(())
}
