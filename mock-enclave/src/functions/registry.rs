//! The mock's function table: the built-ins and the user functions loaded from a directory, each a
//! [`MockFunction`] with the checksum it reports, and the runtime's [`Functions`] made from them.
//!
//! Input: the function directory the operator configures (trusted). Output: functions by id, or a
//! [`LoadError`] naming the directory entry that is wrong. This module decides nothing about who may
//! call a function.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use enclave_protocol::{FunctionChecksum, FunctionId, MeasurementError};
use enclave_runtime::{Function, FunctionError, FunctionInput, FunctionOutput, Functions};
use enclave_sdk::checksum::{builtin_checksum, directory_checksum, ChecksumError};
use futures_util::future::BoxFuture;

use super::builtin::{Builtin, MOCK_VERSION, TABLE};
use super::executable::{self, is_executable_file, ENTRY};
use super::limits::Limits;

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
    /// Two functions with one id (a user function named like a built-in, or loaded twice).
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
    /// The function's checksum could not be computed.
    #[error("function {id}: checksum: {source}")]
    Checksum {
        /// The id.
        id: FunctionId,
        /// Why.
        source: ChecksumError,
    },
}

/// A mock function: a built-in or a user function directory, with its id, checksum and limits.
#[derive(Debug)]
pub struct MockFunction {
    id: FunctionId,
    checksum: FunctionChecksum,
    kind: Kind,
    limits: Limits,
}

#[derive(Debug)]
enum Kind {
    Builtin(Builtin),
    Executable { dir: PathBuf, entry: PathBuf },
}

impl MockFunction {
    /// The id clients invoke it by.
    pub fn id(&self) -> &FunctionId {
        &self.id
    }

    /// The checksum the enclave reports for it (see [`enclave_sdk::checksum`]).
    pub fn checksum(&self) -> FunctionChecksum {
        self.checksum
    }

    /// Whether it is a built-in.
    pub fn is_builtin(&self) -> bool {
        matches!(self.kind, Kind::Builtin(_))
    }
}

impl Function for MockFunction {
    fn id(&self) -> &FunctionId {
        &self.id
    }

    fn checksum(&self) -> FunctionChecksum {
        self.checksum
    }

    /// Runs the function; see [`Function::invoke`].
    ///
    /// ```
    /// use enclave_runtime::Function as _;
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let registry = mock_enclave::functions::FunctionRegistry::builtins();
    /// let upper = registry.get(&"uppercase".parse().unwrap()).unwrap();
    /// assert_eq!(upper.invoke_bytes(b"hi".to_vec()).await.unwrap(), b"HI");
    /// # });
    /// ```
    fn invoke(&self, input: FunctionInput, output: FunctionOutput) -> BoxFuture<'_, Result<(), FunctionError>> {
        Box::pin(async move {
            match &self.kind {
                Kind::Builtin(b) => b.run(&self.id, &self.limits, input, output).await,
                Kind::Executable { dir, entry } => {
                    executable::run(&self.id, &self.limits, dir, entry, input, output).await
                }
            }
        })
    }
}

/// Functions by id: the built-ins and any user functions loaded.
#[derive(Debug, Default)]
pub struct FunctionRegistry {
    functions: BTreeMap<FunctionId, Arc<MockFunction>>,
    limits: Limits,
}

impl FunctionRegistry {
    /// The built-in functions with default [`Limits`].
    pub fn builtins() -> Self {
        Self::builtins_with_limits(Limits::default())
    }

    /// The built-in functions, with `limits` for them and for any user function loaded later.
    pub fn builtins_with_limits(limits: Limits) -> Self {
        // Every name in the table follows the FunctionId rule (a unit test says so), so none is dropped.
        let functions = TABLE
            .into_iter()
            .filter_map(|(name, b)| FunctionId::new(name).ok().map(|id| (id, b)))
            .map(|(id, b)| {
                let f =
                    MockFunction { checksum: builtin_checksum(&id, MOCK_VERSION), id, kind: Kind::Builtin(b), limits };
                (f.id.clone(), Arc::new(f))
            })
            .collect();
        Self { functions, limits }
    }

    /// Adds every function directory under `dir` (see the module docs for the layout).
    ///
    /// # Errors
    /// [`LoadError::Io`] when `dir` cannot be listed; [`LoadError::InvalidId`],
    /// [`LoadError::Duplicate`], [`LoadError::MissingEntry`] or [`LoadError::Checksum`] for a bad
    /// function directory. Nothing is added unless every function loads.
    pub fn load_dir(&mut self, dir: &Path) -> Result<(), LoadError> {
        let io = |e: std::io::Error| LoadError::Io { path: dir.to_path_buf(), kind: e.kind() };
        let mut loaded = Vec::new();
        for item in std::fs::read_dir(dir).map_err(io)? {
            let item = item.map_err(io)?;
            let name = item.file_name();
            let lossy = name.to_string_lossy().into_owned();
            let meta = std::fs::symlink_metadata(item.path()).map_err(io)?;
            if !meta.is_dir() || lossy.starts_with('.') {
                continue;
            }
            // A name that is not UTF-8 comes out with U+FFFD, which the rule refuses.
            let id = FunctionId::new(lossy.as_str())
                .map_err(|reason| LoadError::InvalidId { id: lossy.chars().take(64).collect(), reason })?;
            if self.functions.contains_key(&id) {
                return Err(LoadError::Duplicate { id });
            }
            let path = item.path();
            let entry = path.join(ENTRY);
            if !is_executable_file(&entry) {
                return Err(LoadError::MissingEntry { id, path: entry });
            }
            let checksum =
                directory_checksum(&path).map_err(|source| LoadError::Checksum { id: id.clone(), source })?;
            loaded.push(MockFunction {
                id,
                checksum,
                kind: Kind::Executable { dir: path, entry },
                limits: self.limits,
            });
        }
        for f in loaded {
            self.functions.insert(f.id.clone(), Arc::new(f));
        }
        Ok(())
    }

    /// The function with this id.
    pub fn get(&self, id: &FunctionId) -> Option<Arc<MockFunction>> {
        self.functions.get(id).cloned()
    }

    /// Every function, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<MockFunction>> {
        self.functions.values()
    }

    /// The limits applied to invocations.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The runtime's table of these functions, to serve them (they are shared, not copied).
    pub fn to_functions(&self) -> Functions {
        let mut functions = Functions::new();
        for f in self.functions.values() {
            // Ids are unique here already (the map's keys), so no function is refused.
            let _ = functions.add(f.clone());
        }
        functions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::BUILTINS;

    #[test]
    fn every_builtin_is_registered() {
        let registry = FunctionRegistry::builtins();
        let ids: Vec<&str> = registry.iter().map(|f| f.id().as_str()).collect();
        let mut want = BUILTINS.to_vec();
        want.sort_unstable();
        assert_eq!(ids, want);
        let served = registry.to_functions();
        assert_eq!(served.iter().map(|f| f.id().as_str()).collect::<Vec<_>>(), want);
    }
}
