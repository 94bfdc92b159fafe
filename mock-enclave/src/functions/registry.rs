//! The mock's function table: the built-ins and the user functions loaded from a directory, each a
//! [`MockFunction`] with the checksum it reports, and the runtime's [`Functions`] made from them.
//!
//! Input: the function directory the operator configures (trusted). Output: functions by id, or a
//! [`LoadError`] naming the directory entry that is wrong. This module decides nothing about who may
//! call a function.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use enclave_protocol::{FunctionChecksum, FunctionId};
use enclave_runtime::{
    Confinement, DirectoryFunction, Function, FunctionError, FunctionInput, FunctionLimits as Limits, FunctionOutput,
    Functions, LoadError,
};
use enclave_sdk::checksum::builtin_checksum;
use futures_util::future::BoxFuture;

use super::builtin::{Builtin, MOCK_VERSION, TABLE};

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
    /// Sealed at load by the runtime; its checksum is the sealed copy's.
    Directory(DirectoryFunction),
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
                Kind::Directory(f) => f.invoke(input, output).await,
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

    /// Adds every function directory under `dir` (see the module docs for the layout), each sealed
    /// and measured at once and confined when it runs ([`Confinement::Landlock`]). `dir` may be
    /// relative to the current directory.
    ///
    /// # Errors
    /// [`LoadError::Io`] when `dir` cannot be listed; [`LoadError::InvalidId`],
    /// [`LoadError::Duplicate`], [`LoadError::MissingEntry`], [`LoadError::Checksum`] or
    /// [`LoadError::Seal`] for a bad function directory; [`LoadError::Unconfinable`] on a kernel
    /// without Landlock. Nothing is added unless every function loads.
    pub fn load_dir(&mut self, dir: &Path) -> Result<(), LoadError> {
        self.load_dir_with(dir, Confinement::Landlock)
    }

    /// [`load_dir`](Self::load_dir) with another confinement.
    ///
    /// # Errors
    /// As [`load_dir`](Self::load_dir).
    pub fn load_dir_with(&mut self, dir: &Path, confinement: Confinement) -> Result<(), LoadError> {
        let loaded = DirectoryFunction::load_all(dir, self.limits, confinement)?;
        if let Some(f) = loaded.iter().find(|f| self.functions.contains_key(f.id())) {
            return Err(LoadError::Duplicate { id: f.id().clone() });
        }
        for f in loaded {
            let (id, checksum, limits) = (f.id().clone(), f.checksum(), f.limits());
            self.functions
                .insert(id.clone(), Arc::new(MockFunction { id, checksum, kind: Kind::Directory(f), limits }));
        }
        Ok(())
    }

    /// Every function's id and checksum, in id order: the function set the mock's image measures
    /// ([`crate::measurements::Measurements::for_mock`]).
    pub fn manifest(&self) -> Vec<(FunctionId, FunctionChecksum)> {
        self.functions.values().map(|f| (f.id.clone(), f.checksum)).collect()
    }

    /// Whether any of its directory functions could read `path` under its confinement
    /// ([`Confinement::lets_functions_read`]); built-ins read no file.
    pub fn readable_by_functions(&self, path: &Path) -> bool {
        self.functions.values().any(|f| match &f.kind {
            Kind::Directory(d) => d.confinement().lets_functions_read(path),
            Kind::Builtin(_) => false,
        })
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
