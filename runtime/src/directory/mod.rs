//! Functions from a directory: each subdirectory `DIR/<id>/` is a function named `<id>` whose
//! executable `main` runs as a process per invocation, input on stdin, output from stdout.
//!
//! Input: the functions directory the operator configures (trusted, but read once: what is served is
//! what was read at start). Output: [`DirectoryFunction`]s, each a sealed copy of its directory with
//! the checksum of exactly that copy, or a [`LoadError`] naming the entry that is wrong.
//!
//! What runs is what was measured: [`DirectoryFunction::load_all`] copies every function directory
//! into a private directory of the runtime's own (mode 0700, files read-only), computes each checksum
//! over the copy ([`enclave_protocol::checksum::directory_checksum`], what `enclave checksum` prints
//! for the original), and runs the copy. Replacing a file in the original afterwards changes nothing
//! that runs or is attested; a restart re-reads it and reports the new checksum.
//!
//! Every invocation runs confined ([`Confinement::Landlock`], `sandbox`): its process may read and
//! execute only the system directories (`/usr`, `/bin`, `/sbin`, `/lib*`, `/etc`), its own sealed
//! copy (its working directory) and `/dev/null`, `/dev/zero`, `/dev/random`, `/dev/urandom`; it may
//! write nothing but `/dev/null` and its stdout, make no TCP connection, and signal no process
//! outside its sandbox. So a function cannot read the attester's keys, another function's files, or
//! alter its own copy. Its environment is empty but for a fixed `PATH=/usr/local/bin:/usr/bin:/bin`;
//! its stderr is discarded (it could echo input).
//!
//! Layout of the module: `seal` (the private copy), `sandbox` (the confinement), `process` (one
//! invocation as a process under [`FunctionLimits`]).

mod process;
mod sandbox;
mod seal;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use enclave_protocol::checksum::{directory_checksum, ChecksumError};
use enclave_protocol::{FunctionChecksum, FunctionId, MeasurementError};
use futures_util::future::BoxFuture;

use crate::function::{Function, FunctionError, FunctionInput, FunctionOutput};
use crate::function_limits::FunctionLimits;

use self::seal::SealRoot;

/// The name of a function's entry point inside its directory.
pub const ENTRY: &str = "main";

/// How a directory function's process is confined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Confinement {
    /// Landlock (Linux 5.13 and later): the process reads only the system directories and its own
    /// sealed copy, writes nothing, connects nowhere (module docs). Loading fails with
    /// [`LoadError::Unconfinable`] where the kernel cannot enforce it.
    #[default]
    Landlock,
    /// No confinement: a function can read whatever the runtime's user can, the attester's keys
    /// included, and so claim to be another function.
    ///
    /// # Security
    /// Only for kernels without Landlock, where every function in the image is equally trusted.
    DangerousNone,
}

impl Confinement {
    /// Whether a function confined this way could read `path`: what keeps secrets (an attester's
    /// keys, a TLS key) out of the functions' reach is that no such rule covers them. `path` is
    /// resolved as a process opening it would resolve it (relative to the current directory, links
    /// followed); where it does not exist yet, from its deepest existing ancestor. A path that
    /// cannot be resolved (`..` after a missing component) counts as readable: the answer errs
    /// towards refusing. [`Confinement::DangerousNone`] reads everything.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    /// use enclave_runtime::Confinement;
    /// assert!(Confinement::Landlock.lets_functions_read(Path::new("/etc/enclave/state")));
    /// assert!(!Confinement::Landlock.lets_functions_read(Path::new("/var/lib/enclave/state")));
    /// assert!(Confinement::DangerousNone.lets_functions_read(Path::new("/var/lib/enclave/state")));
    /// ```
    pub fn lets_functions_read(self, path: &Path) -> bool {
        match self {
            Self::DangerousNone => true,
            Self::Landlock => resolve(path).is_none_or(|resolved| sandbox::readable(&resolved)),
        }
    }
}

/// `path` absolute with its links resolved, as far as it exists; `None` when that cannot be said.
fn resolve(path: &Path) -> Option<PathBuf> {
    let absolute = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().ok()?.join(path) };
    let mut missing = Vec::new();
    let mut existing = absolute.as_path();
    loop {
        if let Ok(mut resolved) = existing.canonicalize() {
            resolved.extend(missing.iter().rev());
            return Some(resolved);
        }
        // file_name() is None for a path ending in `..`, which cannot be resolved without the
        // missing component before it.
        missing.push(existing.file_name()?);
        existing = existing.parent()?;
    }
}

/// Why a functions directory could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A function directory entry has a name that is not a valid [`FunctionId`].
    #[error("function directory {id:?}: {reason}")]
    InvalidId {
        /// The rejected name (lossy UTF-8, at most 64 characters).
        id: String,
        /// Which part of the rule it breaks.
        reason: MeasurementError,
    },
    /// Two functions with one id (a directory named like a built-in, or loaded twice).
    #[error("function {id} is defined twice")]
    Duplicate {
        /// The id.
        id: FunctionId,
    },
    /// A function directory has no executable `main`.
    #[error("function {id}: {path} is missing or not an executable regular file")]
    MissingEntry {
        /// The id.
        id: FunctionId,
        /// The expected entry point.
        path: PathBuf,
    },
    /// Listing the functions directory failed.
    #[error("functions directory {path}: {kind}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The I/O error kind.
        kind: std::io::ErrorKind,
    },
    /// The function's checksum could not be computed (a symbolic link or special file in it, too
    /// many entries, too deep).
    #[error("function {id}: checksum: {source}")]
    Checksum {
        /// The id.
        id: FunctionId,
        /// Why.
        source: ChecksumError,
    },
    /// The function could not be copied into the runtime's private directory.
    #[error("function {id}: sealing {path}: {kind}")]
    Seal {
        /// The id.
        id: FunctionId,
        /// The file or directory being copied or created.
        path: PathBuf,
        /// The I/O error kind.
        kind: std::io::ErrorKind,
    },
    /// [`Confinement::Landlock`] was asked for and this kernel cannot enforce it.
    #[error(
        "functions cannot be confined on this system ({reason}); Landlock needs Linux 5.13 or later with it enabled"
    )]
    Unconfinable {
        /// What the kernel answered.
        reason: String,
    },
}

/// A function directory, sealed at load: the copy that runs, the checksum of that copy, its limits.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use enclave_runtime::{Confinement, DirectoryFunction, Function, FunctionLimits};
///
/// let dir = std::env::temp_dir().join(format!("directory-doc-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("shout"))?;
/// let main = dir.join("shout/main");
/// std::fs::write(&main, "#!/bin/sh\ntr a-z A-Z\n")?;
/// # use std::os::unix::fs::PermissionsExt;
/// std::fs::set_permissions(&main, std::fs::Permissions::from_mode(0o755))?;
///
/// let functions = DirectoryFunction::load_all(&dir, FunctionLimits::default(), Confinement::Landlock)?;
/// std::fs::remove_dir_all(&dir)?; // the sealed copy is what runs
/// assert_eq!(functions[0].invoke_bytes(b"hi".to_vec()).await?, b"HI");
/// # Ok(())
/// # }
/// ```
pub struct DirectoryFunction {
    id: FunctionId,
    checksum: FunctionChecksum,
    /// The sealed copy (absolute), the process's working directory and its only readable files.
    sealed: PathBuf,
    limits: FunctionLimits,
    confinement: Confinement,
    /// Keeps the private directory alive while any function loaded with it is.
    _root: Arc<SealRoot>,
}

impl fmt::Debug for DirectoryFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirectoryFunction")
            .field("id", &self.id)
            .field("checksum", &self.checksum)
            .field("confinement", &self.confinement)
            .finish_non_exhaustive()
    }
}

impl DirectoryFunction {
    /// Seals every function directory under `dir` (module docs): each subdirectory whose name is a
    /// [`FunctionId`] and which holds an executable regular file `main`. Entries of `dir` that are not
    /// directories, or whose names start with `.`, are skipped. `dir` may be relative (to the current
    /// directory, read once here).
    ///
    /// # Errors
    /// [`LoadError::Io`] when `dir` cannot be listed; [`LoadError::InvalidId`],
    /// [`LoadError::MissingEntry`], [`LoadError::Checksum`] or [`LoadError::Seal`] for a bad
    /// function directory; [`LoadError::Unconfinable`] when `confinement` cannot be enforced here.
    /// Nothing is returned unless every function loads.
    pub fn load_all(
        dir: &Path,
        limits: FunctionLimits,
        confinement: Confinement,
    ) -> Result<Vec<DirectoryFunction>, LoadError> {
        if confinement == Confinement::Landlock {
            sandbox::probe().map_err(|reason| LoadError::Unconfinable { reason })?;
        }
        let io = |e: std::io::Error| LoadError::Io { path: dir.to_path_buf(), kind: e.kind() };
        let mut found = Vec::new();
        for item in std::fs::read_dir(dir).map_err(io)? {
            let item = item.map_err(io)?;
            let lossy = item.file_name().to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(item.path()).map_err(io)?;
            if !meta.is_dir() || lossy.starts_with('.') {
                continue;
            }
            // A name that is not UTF-8 comes out with U+FFFD, which the rule refuses.
            let id = FunctionId::new(lossy.as_str())
                .map_err(|reason| LoadError::InvalidId { id: lossy.chars().take(64).collect(), reason })?;
            let entry = item.path().join(ENTRY);
            if !is_executable_file(&entry) {
                return Err(LoadError::MissingEntry { id, path: entry });
            }
            // The original's checksum first: it names a symlink or special file in the original,
            // which the copy refuses too, with the same error `enclave checksum` gives.
            directory_checksum(&item.path()).map_err(|source| LoadError::Checksum { id: id.clone(), source })?;
            found.push((id, item.path()));
        }
        found.sort_by(|a, b| a.0.cmp(&b.0));
        let root = Arc::new(SealRoot::create().map_err(|(path, kind)| LoadError::Io { path, kind })?);
        let mut functions = Vec::with_capacity(found.len());
        for (id, source) in found {
            let sealed = root.seal(id.as_str(), &source).map_err(|(path, kind)| LoadError::Seal {
                id: id.clone(),
                path,
                kind,
            })?;
            // Measured from the copy: these are the bytes every invocation executes.
            let checksum =
                directory_checksum(&sealed).map_err(|source| LoadError::Checksum { id: id.clone(), source })?;
            functions.push(DirectoryFunction { id, checksum, sealed, limits, confinement, _root: root.clone() });
        }
        Ok(functions)
    }

    /// The id clients invoke it by.
    pub fn id(&self) -> &FunctionId {
        &self.id
    }

    /// The checksum of the sealed copy, which the enclave reports.
    pub fn checksum(&self) -> FunctionChecksum {
        self.checksum
    }

    /// The limits its invocations run under.
    pub fn limits(&self) -> FunctionLimits {
        self.limits
    }

    /// How its processes are confined.
    pub fn confinement(&self) -> Confinement {
        self.confinement
    }
}

impl Function for DirectoryFunction {
    fn id(&self) -> &FunctionId {
        &self.id
    }

    fn checksum(&self) -> FunctionChecksum {
        self.checksum
    }

    fn invoke(&self, input: FunctionInput, output: FunctionOutput) -> BoxFuture<'_, Result<(), FunctionError>> {
        Box::pin(process::run(&self.id, &self.limits, &self.sealed, self.confinement, input, output))
    }
}

/// Whether `path` is a regular file (not a link) with an execute bit.
fn is_executable_file(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}
