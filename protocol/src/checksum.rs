//! Function checksums: the SHA-256 an enclave reports for the function it runs.
//!
//! Input: a function directory on the local disk (trusted: the caller's own copy of the function
//! source, or the enclave's sealed copy of it), or a built-in function's name and version. Output: a
//! [`FunctionChecksum`], which the enclave side reports in its user data and a client pins: both sides
//! compute it with this one module (feature `fs`; the SDK and the runtime turn it on).
//! This module decides nothing about trust: it only computes, identically on both sides.
//!
//! # Directory encoding (version 1, stable)
//!
//! `enc(x)` is `x.len()` as 8 bytes big-endian followed by `x`. The checksum is SHA-256 over:
//!
//! ```text
//! enc("enclave-sdk function directory v1")
//! for every entry below the directory (not the directory itself), in bytewise order of its
//! relative path ('/'-separated, the raw bytes of the file names):
//!     type byte: b'd' directory | b'f' regular file
//!     enc(relative path)
//!     for a file only:
//!         executable byte: 1 if any execute bit (0o111) is set, else 0
//!         enc(contents)
//! ```
//!
//! Symbolic links and special files (sockets, FIFOs, devices) are refused, not followed: a link could
//! make the checksum depend on files outside the directory. Empty directories count. Ownership,
//! timestamps and permission bits other than "executable" do not count, so a checkout on another
//! machine gives the same checksum.
//!
//! # Built-in encoding
//!
//! SHA-256 over `enc("enclave-sdk builtin function v1") ‖ enc(name) ‖ enc(version)`.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{FunctionChecksum, FunctionId};
use sha2::{Digest, Sha256};

/// Upper bound on the entries of one function directory, so a mistaken path (`/`) fails fast.
pub(crate) const MAX_ENTRIES: usize = 100_000;

/// Maximum directory nesting below the function directory.
pub(crate) const MAX_DEPTH: usize = 64;

const DIR_DOMAIN: &[u8] = b"enclave-sdk function directory v1";
const BUILTIN_DOMAIN: &[u8] = b"enclave-sdk builtin function v1";

/// Why a directory checksum could not be computed.
///
/// # Examples
///
/// ```
/// use enclave_protocol::checksum::{directory_checksum, ChecksumError};
/// let missing = directory_checksum(std::path::Path::new("/nonexistent/function"));
/// assert!(matches!(missing, Err(ChecksumError::Io { .. }) | Err(ChecksumError::NotADirectory { .. })));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChecksumError {
    /// The path is not a directory.
    #[error("{path}: not a directory")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A symbolic link inside the function directory.
    #[error("{path}: symbolic links are refused in function directories")]
    Symlink {
        /// The link.
        path: PathBuf,
    },
    /// A socket, FIFO or device file.
    #[error("{path}: only regular files and directories are allowed in function directories")]
    UnsupportedFileType {
        /// The entry.
        path: PathBuf,
    },
    /// More entries than `MAX_ENTRIES`.
    #[error("function directory has more than {max} entries")]
    TooManyEntries {
        /// The limit.
        max: usize,
    },
    /// Nested deeper than `MAX_DEPTH`.
    #[error("{path}: nested deeper than {max} directories")]
    TooDeep {
        /// The directory too deep.
        path: PathBuf,
        /// The limit.
        max: usize,
    },
    /// A file name that is not valid UTF-8 on a platform without raw byte names.
    #[error("{path}: file name is not valid UTF-8")]
    NonUtf8Name {
        /// The entry.
        path: PathBuf,
    },
    /// Reading the directory or a file failed.
    #[error("{path}: {kind}")]
    Io {
        /// What was being read.
        path: PathBuf,
        /// The I/O error kind.
        kind: std::io::ErrorKind,
    },
}

/// The checksum of a built-in function: its name and the version of the program providing it.
///
/// ```
/// use enclave_protocol::checksum::builtin_checksum;
/// let echo: enclave_protocol::FunctionId = "echo".parse()?;
/// assert_ne!(builtin_checksum(&echo, "0.1.0"), builtin_checksum(&echo, "0.1.1"));
/// # Ok::<(), enclave_protocol::MeasurementError>(())
/// ```
pub fn builtin_checksum(name: &FunctionId, version: &str) -> FunctionChecksum {
    let mut h = Sha256::new();
    for field in [BUILTIN_DOMAIN, name.as_str().as_bytes(), version.as_bytes()] {
        enc(&mut h, field);
    }
    FunctionChecksum::from_bytes(h.finalize().into())
}

/// The checksum of a function directory, per the module-level encoding.
///
/// # Errors
/// [`ChecksumError`]: not a directory, a symlink or special file inside, too many entries or too
/// deep, or an I/O error (with the path).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_protocol::checksum::directory_checksum;
/// let dir = std::env::temp_dir().join(format!("checksum-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join("main"), "#!/bin/sh\ncat\n")?;
/// let before = directory_checksum(&dir)?;
/// std::fs::write(dir.join("main"), "#!/bin/sh\ncat -n\n")?;
/// assert_ne!(directory_checksum(&dir)?, before); // one changed byte changes it
/// std::fs::remove_dir_all(&dir)?;
/// # Ok(()) }
/// ```
pub fn directory_checksum(path: &Path) -> Result<FunctionChecksum, ChecksumError> {
    let meta = fs::symlink_metadata(path).map_err(|e| io(path, &e))?;
    if !meta.is_dir() {
        return Err(ChecksumError::NotADirectory { path: path.to_path_buf() });
    }
    let mut entries = Vec::new();
    collect(path, &[], 0, &mut entries)?;
    // Bytewise order of the relative path, independent of the file system's listing order.
    entries.sort_by(|a, b| a.rel.cmp(&b.rel));

    let mut h = Sha256::new();
    enc(&mut h, DIR_DOMAIN);
    for entry in &entries {
        match &entry.kind {
            Kind::Dir => {
                h.update([b'd']);
                enc(&mut h, &entry.rel);
            }
            Kind::File { executable, len } => {
                h.update([b'f']);
                enc(&mut h, &entry.rel);
                h.update([u8::from(*executable)]);
                hash_file(&mut h, &entry.path, *len)?;
            }
        }
    }
    Ok(FunctionChecksum::from_bytes(h.finalize().into()))
}

struct Entry {
    rel: Vec<u8>,
    path: PathBuf,
    kind: Kind,
}

enum Kind {
    Dir,
    File { executable: bool, len: u64 },
}

fn collect(dir: &Path, prefix: &[u8], depth: usize, out: &mut Vec<Entry>) -> Result<(), ChecksumError> {
    if depth > MAX_DEPTH {
        return Err(ChecksumError::TooDeep { path: dir.to_path_buf(), max: MAX_DEPTH });
    }
    for item in fs::read_dir(dir).map_err(|e| io(dir, &e))? {
        let item = item.map_err(|e| io(dir, &e))?;
        let path = item.path();
        let meta = fs::symlink_metadata(&path).map_err(|e| io(&path, &e))?;
        let mut rel = prefix.to_vec();
        if !rel.is_empty() {
            rel.push(b'/');
        }
        rel.extend_from_slice(&name_bytes(&item.file_name(), &path)?);
        if out.len() >= MAX_ENTRIES {
            return Err(ChecksumError::TooManyEntries { max: MAX_ENTRIES });
        }
        let ft = meta.file_type();
        if ft.is_symlink() {
            return Err(ChecksumError::Symlink { path });
        } else if ft.is_dir() {
            out.push(Entry { rel: rel.clone(), path: path.clone(), kind: Kind::Dir });
            collect(&path, &rel, depth + 1, out)?;
        } else if ft.is_file() {
            out.push(Entry { rel, path, kind: Kind::File { executable: is_executable(&meta), len: meta.len() } });
        } else {
            return Err(ChecksumError::UnsupportedFileType { path });
        }
    }
    Ok(())
}

/// Hashes `enc(contents)` by streaming the file. The length prefix is the size seen when listing;
/// a file that changes size while being read is reported rather than hashed inconsistently.
fn hash_file(h: &mut Sha256, path: &Path, len: u64) -> Result<(), ChecksumError> {
    h.update(len.to_be_bytes());
    let file = fs::File::open(path).map_err(|e| io(path, &e))?;
    let mut reader = file.take(len.saturating_add(1));
    let mut buf = vec![0u8; 64 * 1024];
    let mut seen: u64 = 0;
    loop {
        let n = reader.read(&mut buf).map_err(|e| io(path, &e))?;
        if n == 0 {
            break;
        }
        let chunk = buf.get(..n).unwrap_or_default();
        seen = seen.saturating_add(n as u64);
        h.update(chunk);
    }
    if seen != len {
        return Err(ChecksumError::Io { path: path.to_path_buf(), kind: std::io::ErrorKind::UnexpectedEof });
    }
    Ok(())
}

fn enc(h: &mut Sha256, field: &[u8]) {
    h.update((field.len() as u64).to_be_bytes());
    h.update(field);
}

fn io(path: &Path, e: &std::io::Error) -> ChecksumError {
    ChecksumError::Io { path: path.to_path_buf(), kind: e.kind() }
}

#[cfg(unix)]
fn name_bytes(name: &std::ffi::OsStr, _path: &Path) -> Result<Vec<u8>, ChecksumError> {
    use std::os::unix::ffi::OsStrExt;
    Ok(name.as_bytes().to_vec())
}

#[cfg(not(unix))]
fn name_bytes(name: &std::ffi::OsStr, path: &Path) -> Result<Vec<u8>, ChecksumError> {
    name.to_str().map(|s| s.as_bytes().to_vec()).ok_or_else(|| ChecksumError::NonUtf8Name { path: path.to_path_buf() })
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_checksum_follows_the_documented_encoding() {
        let mut msg = Vec::new();
        for f in [BUILTIN_DOMAIN, b"echo", b"1.2.3"] {
            msg.extend_from_slice(&(f.len() as u64).to_be_bytes());
            msg.extend_from_slice(f);
        }
        let expected = FunctionChecksum::from_bytes(Sha256::digest(&msg).into());
        let id = |s: &str| FunctionId::new(s).unwrap();
        assert_eq!(builtin_checksum(&id("echo"), "1.2.3"), expected);
        // Length prefixes keep ("ec","ho1.2.3") apart from ("echo","1.2.3").
        assert_ne!(builtin_checksum(&id("ec"), "ho1.2.3"), expected);
    }
}
