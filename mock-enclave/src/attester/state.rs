//! The mock's state directory on disk: bounded reads, atomic writes with the mode set at creation, a
//! private directory, and the typed error for all of it.
//!
//! Input: paths under the operator's state directory (trusted: written by this crate, but read back
//! with size bounds, and a damaged file is an error, never regenerated over). Output: bytes, files.
//! The software NSM keeps its CA keys here, and the mock its TLS identity.
//!
//! Whoever can write a key can mint documents, so the directory is refused when others could have
//! replaced what it holds: the directory group- or world-writable ([`StateError::Writable`]), a key
//! file not mode 0600 ([`StateError::KeyMode`]), any state file group- or world-writable, or a
//! symbolic link where a state file should be ([`StateError::Symlink`], never followed). These are the
//! one place the mock decides whether its state may be used ([`check_dir`], [`read_key`], [`read_file`]).
//! Whether the functions it serves could read it is decided where both are known, when the mock
//! starts (`MockEnclaveBuilder::spawn`, [`StateError::ReadableByFunctions`]).

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
    /// The state directory, or a file in it, can be written by the group or by others.
    #[error("{path} is mode {mode:04o}: group- or world-writable; the state directory and its files must be writable by their owner only")]
    Writable {
        /// The directory or file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file is not mode 0600.
    #[error("key file {path} is mode {mode:04o}; it must be 0600")]
    KeyMode {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A symbolic link where the state directory or a state file should be.
    #[error("{path} is a symbolic link; state files are never followed through links")]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// The state directory lies where the functions served beside it may read (beneath a system
    /// directory such as `/etc` or `/usr`, which their confinement lets them read): any of them
    /// could take the CA keys and mint documents for the others.
    #[error("{path} can be read by the functions the mock serves (their confinement allows the system directories); keep the state directory elsewhere, e.g. under /var/lib or your home")]
    ReadableByFunctions {
        /// The state directory, as given.
        path: PathBuf,
    },
    /// Creating what the directory stores failed.
    #[error("{0}")]
    Attester(#[from] AttesterError),
}

/// Refuses a state directory that is a symbolic link, or that the group or others can write.
pub(crate) fn check_dir(dir: &Path) -> Result<(), StateError> {
    let meta = fs::symlink_metadata(dir).map_err(|e| io(dir, &e))?;
    if meta.file_type().is_symlink() {
        return Err(StateError::Symlink { path: dir.to_path_buf() });
    }
    if !meta.is_dir() {
        return Err(StateError::Corrupt { path: dir.to_path_buf(), problem: "not a directory" });
    }
    match mode(&meta) {
        m if m & 0o022 != 0 => Err(StateError::Writable { path: dir.to_path_buf(), mode: m }),
        _ => Ok(()),
    }
}

/// Reads a key file: refused when it is a link or not mode 0600, then as [`read_file`].
pub(crate) fn read_key(path: &Path, max: u64) -> Result<Vec<u8>, StateError> {
    let meta = fs::symlink_metadata(path).map_err(|e| io(path, &e))?;
    if meta.file_type().is_symlink() {
        return Err(StateError::Symlink { path: path.to_path_buf() });
    }
    match mode(&meta) {
        0o600 => read_file(path, max),
        m => Err(StateError::KeyMode { path: path.to_path_buf(), mode: m }),
    }
}

/// Reads `path`, refusing a link, a file the group or others can write, and a file larger than `max`
/// bytes (larger than anything written here).
pub(crate) fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, StateError> {
    let meta = fs::symlink_metadata(path).map_err(|e| io(path, &e))?;
    if meta.file_type().is_symlink() {
        return Err(StateError::Symlink { path: path.to_path_buf() });
    }
    if !meta.is_file() {
        return Err(StateError::Corrupt { path: path.to_path_buf(), problem: "not a regular file" });
    }
    if mode(&meta) & 0o022 != 0 {
        return Err(StateError::Writable { path: path.to_path_buf(), mode: mode(&meta) });
    }
    if meta.len() > max {
        return Err(StateError::Corrupt { path: path.to_path_buf(), problem: "larger than any file we write" });
    }
    let mut file = fs::File::open(path).map_err(|e| io(path, &e))?;
    // The file opened must be the one inspected: a link swapped in between is caught here.
    let opened = file.metadata().map_err(|e| io(path, &e))?;
    if !same_file(&meta, &opened) {
        return Err(StateError::Symlink { path: path.to_path_buf() });
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut file, max), &mut bytes).map_err(|e| io(path, &e))?;
    Ok(bytes)
}

#[cfg(unix)]
fn mode(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn mode(_meta: &fs::Metadata) -> u32 {
    0o600
}

#[cfg(unix)]
fn same_file(a: &fs::Metadata, b: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(_a: &fs::Metadata, _b: &fs::Metadata) -> bool {
    true
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
