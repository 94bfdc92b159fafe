//! The mock's state directory on disk: bounded reads, atomic writes with the mode set at creation, a
//! private directory, and the typed error for all of it.
//!
//! Input: paths under the operator's state directory (trusted: written by this crate, but read back
//! with size bounds, and a damaged file is an error, never regenerated over). Output: bytes, files.
//! The software NSM keeps its CA keys here, and the mock its TLS identity.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use enclave_runtime::AttesterError;

/// Why the state directory could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing a file or the directory failed.
    #[error("state file {path}: {kind}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error kind.
        kind: std::io::ErrorKind,
    },
    /// A state file exists but is not what this crate wrote.
    #[error("state file {path}: {problem}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Creating what the directory stores failed.
    #[error("{0}")]
    Attester(#[from] AttesterError),
}

/// Reads `path`, refusing a file larger than `max` bytes (larger than anything written here).
pub(crate) fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, StateError> {
    let meta = fs::metadata(path).map_err(|e| io(path, &e))?;
    if meta.len() > max {
        return Err(StateError::Corrupt { path: path.to_path_buf(), problem: "larger than any file we write" });
    }
    fs::read(path).map_err(|e| io(path, &e))
}

/// Writes a new file with `mode` set at creation (never briefly world-readable), then renames it
/// into place so a crash leaves either the old state or the new one.
pub(crate) fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), StateError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(|e| io(&tmp, &e))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(|e| io(&tmp, &e))?;
    fs::rename(&tmp, path).map_err(|e| io(path, &e))
}

/// Creates `dir` (and its parents) with mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), StateError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| io(dir, &e))
}

fn io(path: &Path, e: &std::io::Error) -> StateError {
    StateError::Io { path: PathBuf::from(path), kind: e.kind() }
}
