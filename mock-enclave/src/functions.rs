//! The functions a mock enclave runs, by id, each with the checksum it reports.
//!
//! Input: function invocations with input bytes that came from a client (untrusted content, but the
//! session layer has already decrypted and bounded each chunk), and the function directory the
//! operator configures (trusted). Output: the function's output chunks, or a [`FunctionError`] that the
//! session layer sends back encrypted. This module does not decide who may call a function, and it
//! never logs or displays input or output bytes.
//!
//! # Built-ins
//!
//! | id           | output                                                      | streams? |
//! |--------------|-------------------------------------------------------------|----------|
//! | `echo`       | the input                                                   | yes      |
//! | `sha256`     | lowercase hex SHA-256 of the input                          | input    |
//! | `uppercase`  | the input with ASCII letters upper-cased (other bytes kept) | yes      |
//! | `word-count` | decimal count of whitespace-separated words                 | input    |
//! | `mean`       | mean of a JSON array of numbers, as a JSON number           | buffers  |
//! | `sleep-ms`   | sleeps N ms (N: decimal input, at most the time limit), outputs nothing | buffers |
//! | `fail`       | always [`FunctionError::Failed`]                            | -        |
//!
//! A built-in's checksum is [`builtin_checksum`]`(id, mock-enclave version)`. Functions that buffer
//! refuse input past [`Limits::max_buffered_input`] with [`FunctionError::InputTooLarge`].
//!
//! # User functions
//!
//! [`FunctionRegistry::load_dir`] makes each *subdirectory* `DIR/<id>/` a function named `<id>`
//! (a [`FunctionId`]: letters, digits, `.`, `_`, `-`; 1..=128 bytes; not starting with `.`; the same
//! rule the client and the policy file apply). Its entry point is the
//! executable file `DIR/<id>/main`; other files in the subdirectory are its data, and all of them
//! count in its checksum ([`directory_checksum`] of the subdirectory, what `enclave checksum` prints).
//! Entries of `DIR` that are not directories, or whose names start with `.`, are skipped.
//! A directory, rather than a lone executable, so that a function's data files and the program that
//! reads them are measured together.
//!
//! The entry runs with the input on stdin and its stdout as the output, in its own directory, with an
//! empty environment except `PATH=/usr/local/bin:/usr/bin:/bin`, stderr discarded (it could echo input).
//! It is killed when it exceeds [`Limits::timeout`] (wall time) or writes more than
//! [`Limits::max_output`] bytes, and a non-zero exit is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use enclave_sdk::checksum::{builtin_checksum, directory_checksum, ChecksumError};
use enclave_sdk::{FunctionChecksum, FunctionId, MeasurementError};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// The version built-in checksums are bound to.
pub const MOCK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The ids of the built-in functions.
pub const BUILTINS: [&str; 7] = ["echo", "sha256", "uppercase", "word-count", "mean", "sleep-ms", "fail"];

/// The name of a user function's entry point inside its directory.
pub const ENTRY: &str = "main";

/// Resource limits applied to every invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Wall-time limit of a user function, and the longest `sleep-ms` accepts.
    pub timeout: Duration,
    /// Most output bytes a user function may write.
    pub max_output: usize,
    /// Most input bytes a function that needs all of its input (`mean`, `sleep-ms`) buffers.
    pub max_buffered_input: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(30), max_output: 16 << 20, max_buffered_input: 16 << 20 }
    }
}

impl Limits {
    /// Limits with the given values.
    pub fn new(timeout: Duration, max_output: usize, max_buffered_input: usize) -> Self {
        Self { timeout, max_output, max_buffered_input }
    }
}

/// Why a function could not be loaded or did not produce output. `Display` never includes input or
/// output bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FunctionError {
    /// The function ran and reported failure (the `fail` built-in).
    #[error("function {function} failed: {message}")]
    Failed {
        /// Function id.
        function: FunctionId,
        /// What the function reported (never derived from input).
        message: &'static str,
    },
    /// The input is not what the function accepts.
    #[error("function {function}: invalid input: {expected}")]
    InvalidInput {
        /// Function id.
        function: FunctionId,
        /// What it expects.
        expected: &'static str,
    },
    /// A buffering function received more input than it holds.
    #[error("function {function} buffers at most {limit} input bytes")]
    InputTooLarge {
        /// Function id.
        function: FunctionId,
        /// The limit.
        limit: usize,
    },
    /// A user function wrote more than the output limit and was killed.
    #[error("function {function} wrote more than {limit} output bytes and was killed")]
    OutputTooLarge {
        /// Function id.
        function: FunctionId,
        /// The limit.
        limit: usize,
    },
    /// A user function ran longer than the time limit and was killed.
    #[error("function {function} ran longer than {limit_ms} ms and was killed")]
    TimedOut {
        /// Function id.
        function: FunctionId,
        /// The limit in milliseconds.
        limit_ms: u128,
    },
    /// A user function exited unsuccessfully.
    #[error("function {function} exited with {}", code.map_or_else(|| "a signal".to_string(), |c| format!("status {c}")))]
    Exited {
        /// Function id.
        function: FunctionId,
        /// Exit code, `None` when killed by a signal.
        code: Option<i32>,
    },
    /// Starting or talking to a user function's process failed.
    #[error("function {function}: process I/O: {kind}")]
    Process {
        /// Function id.
        function: FunctionId,
        /// The I/O error kind.
        kind: std::io::ErrorKind,
    },
    /// The output receiver was dropped (the client went away).
    #[error("function {function}: output channel closed")]
    OutputClosed {
        /// Function id.
        function: FunctionId,
    },
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

/// A function: id, checksum, and how to run it.
#[derive(Debug)]
pub struct Function {
    id: FunctionId,
    checksum: FunctionChecksum,
    kind: Kind,
    limits: Limits,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Builtin {
    Echo,
    Sha256,
    Uppercase,
    WordCount,
    Mean,
    SleepMs,
    Fail,
}

#[derive(Debug)]
enum Kind {
    Builtin(Builtin),
    Executable { dir: PathBuf, entry: PathBuf },
}

impl Function {
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

    /// Runs the function. Input chunks arrive on `input`; the channel closing means the end of input
    /// (the session layer closes it only after the client's final-chunk marker, so a truncated input
    /// never looks complete). Output chunks go out on `output` as they are produced.
    ///
    /// # Errors
    /// A [`FunctionError`] for a function failure; the session sends it to the client, encrypted.
    /// Output already sent stays sent.
    pub async fn invoke(
        &self,
        mut input: mpsc::Receiver<Vec<u8>>,
        output: mpsc::Sender<Vec<u8>>,
    ) -> Result<(), FunctionError> {
        let send = |chunk: Vec<u8>| {
            let output = output.clone();
            async move { output.send(chunk).await.map_err(|_| FunctionError::OutputClosed { function: self.id.clone() }) }
        };
        match &self.kind {
            Kind::Builtin(Builtin::Echo) => {
                while let Some(chunk) = input.recv().await {
                    send(chunk).await?;
                }
                Ok(())
            }
            Kind::Builtin(Builtin::Uppercase) => {
                while let Some(mut chunk) = input.recv().await {
                    chunk.make_ascii_uppercase();
                    send(chunk).await?;
                }
                Ok(())
            }
            Kind::Builtin(Builtin::Sha256) => {
                let mut h = Sha256::new();
                while let Some(chunk) = input.recv().await {
                    h.update(&chunk);
                }
                send(hex::encode(h.finalize()).into_bytes()).await
            }
            Kind::Builtin(Builtin::WordCount) => {
                // A word may span chunks: carry "inside a word" across chunk boundaries.
                let (mut words, mut in_word) = (0u64, false);
                while let Some(chunk) = input.recv().await {
                    for b in chunk {
                        let space = b.is_ascii_whitespace();
                        if !space && !in_word {
                            words += 1;
                        }
                        in_word = !space;
                    }
                }
                send(words.to_string().into_bytes()).await
            }
            Kind::Builtin(Builtin::Mean) => {
                let all = self.buffer(&mut input).await?;
                send(mean(&self.id, &all)?.into_bytes()).await
            }
            Kind::Builtin(Builtin::SleepMs) => {
                let all = self.buffer(&mut input).await?;
                let ms = std::str::from_utf8(&all)
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .filter(|ms| u128::from(*ms) <= self.limits.timeout.as_millis())
                    .ok_or_else(|| self.invalid("a decimal number of milliseconds within the time limit"))?;
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(())
            }
            Kind::Builtin(Builtin::Fail) => {
                Err(FunctionError::Failed { function: self.id.clone(), message: "the fail function always fails" })
            }
            Kind::Executable { dir, entry } => self.run_executable(dir, entry, input, output.clone()).await,
        }
    }

    /// Runs the function on a whole input and returns its whole output.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let registry = mock_enclave::functions::FunctionRegistry::builtins();
    /// let upper = registry.get(&"uppercase".parse().unwrap()).unwrap();
    /// assert_eq!(upper.invoke_bytes(b"hi".to_vec()).await.unwrap(), b"HI");
    /// # });
    /// ```
    ///
    /// # Errors
    /// As [`Function::invoke`].
    pub async fn invoke_bytes(&self, input: Vec<u8>) -> Result<Vec<u8>, FunctionError> {
        let (in_tx, in_rx) = mpsc::channel(1);
        let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(16);
        // A closed receiver is fine here: the function may finish before reading its input.
        let _ = in_tx.try_send(input);
        drop(in_tx);
        let collect = async {
            let mut out = Vec::new();
            while let Some(chunk) = out_rx.recv().await {
                out.extend_from_slice(&chunk);
            }
            out
        };
        let (result, out) = tokio::join!(self.invoke(in_rx, out_tx), collect);
        result.map(|()| out)
    }

    async fn buffer(&self, input: &mut mpsc::Receiver<Vec<u8>>) -> Result<Vec<u8>, FunctionError> {
        let mut all = Vec::new();
        while let Some(chunk) = input.recv().await {
            if all.len().saturating_add(chunk.len()) > self.limits.max_buffered_input {
                return Err(FunctionError::InputTooLarge {
                    function: self.id.clone(),
                    limit: self.limits.max_buffered_input,
                });
            }
            all.extend_from_slice(&chunk);
        }
        Ok(all)
    }

    fn invalid(&self, expected: &'static str) -> FunctionError {
        FunctionError::InvalidInput { function: self.id.clone(), expected }
    }

    async fn run_executable(
        &self,
        dir: &Path,
        entry: &Path,
        mut input: mpsc::Receiver<Vec<u8>>,
        output: mpsc::Sender<Vec<u8>>,
    ) -> Result<(), FunctionError> {
        let process = |e: std::io::Error| FunctionError::Process { function: self.id.clone(), kind: e.kind() };
        let mut command = tokio::process::Command::new(entry);
        command
            .current_dir(dir)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let mut child = spawn_retrying_busy(&mut command).await.map_err(process)?;
        let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(FunctionError::Process { function: self.id.clone(), kind: std::io::ErrorKind::BrokenPipe });
        };
        // Feed stdin concurrently with reading stdout, so a function that writes before it has read
        // everything cannot deadlock on a full pipe. A function that exits without reading all of its
        // input (EPIPE) is not an error by itself; its exit status decides.
        let feed = async move {
            while let Some(chunk) = input.recv().await {
                if stdin.write_all(&chunk).await.is_err() {
                    break;
                }
            }
            drop(stdin);
        };
        let limit = self.limits.max_output;
        let pump = async {
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0usize;
            loop {
                let n = stdout.read(&mut buf).await.map_err(process)?;
                if n == 0 {
                    return Ok(());
                }
                total = total.saturating_add(n);
                if total > limit {
                    return Err(FunctionError::OutputTooLarge { function: self.id.clone(), limit });
                }
                let chunk = buf.get(..n).unwrap_or_default().to_vec();
                output.send(chunk).await.map_err(|_| FunctionError::OutputClosed { function: self.id.clone() })?;
            }
        };
        let run = async {
            // try_join: an output overflow stops feeding at once instead of draining the client's input.
            tokio::try_join!(
                async {
                    feed.await;
                    Ok(())
                },
                pump
            )?;
            child.wait().await.map_err(process)
        };
        let status = match tokio::time::timeout(self.limits.timeout, run).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => {
                let _ = child.start_kill();
                return Err(e);
            }
            Err(_) => {
                let _ = child.start_kill();
                return Err(FunctionError::TimedOut {
                    function: self.id.clone(),
                    limit_ms: self.limits.timeout.as_millis(),
                });
            }
        };
        if status.success() {
            Ok(())
        } else {
            Err(FunctionError::Exited { function: self.id.clone(), code: status.code() })
        }
    }
}

/// Linux refuses to exec a file some process still holds open for writing (ETXTBSY). A freshly
/// written entry point can be briefly held by a child forked concurrently elsewhere in this process;
/// retry a few times rather than fail the invocation.
async fn spawn_retrying_busy(command: &mut tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    const ETXTBSY: i32 = 26;
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

fn mean(function: &FunctionId, input: &[u8]) -> Result<String, FunctionError> {
    let invalid =
        || FunctionError::InvalidInput { function: function.clone(), expected: "a non-empty JSON array of numbers" };
    let values: Vec<f64> = serde_json::from_slice(input).map_err(|_| invalid())?;
    if values.is_empty() {
        return Err(invalid());
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    serde_json::to_string(&mean).map_err(|_| invalid())
}

/// Functions by id.
#[derive(Debug, Default)]
pub struct FunctionRegistry {
    functions: BTreeMap<FunctionId, Arc<Function>>,
    limits: Limits,
}

impl FunctionRegistry {
    /// The built-in functions with default [`Limits`].
    pub fn builtins() -> Self {
        Self::builtins_with_limits(Limits::default())
    }

    /// The built-in functions, with `limits` for them and for any user function loaded later.
    pub fn builtins_with_limits(limits: Limits) -> Self {
        let table = [
            ("echo", Builtin::Echo),
            ("sha256", Builtin::Sha256),
            ("uppercase", Builtin::Uppercase),
            ("word-count", Builtin::WordCount),
            ("mean", Builtin::Mean),
            ("sleep-ms", Builtin::SleepMs),
            ("fail", Builtin::Fail),
        ];
        // Every name in the table follows the FunctionId rule (a unit test says so), so none is dropped.
        let functions = table
            .into_iter()
            .filter_map(|(name, b)| FunctionId::new(name).ok().map(|id| (id, b)))
            .map(|(id, b)| {
                let f = Function { checksum: builtin_checksum(&id, MOCK_VERSION), id, kind: Kind::Builtin(b), limits };
                (f.id.clone(), Arc::new(f))
            })
            .collect();
        Self { functions, limits }
    }

    /// Adds every function directory under `dir` (see the module docs for the layout).
    ///
    /// # Errors
    /// [`FunctionError::Io`] when `dir` cannot be listed; [`FunctionError::InvalidId`],
    /// [`FunctionError::Duplicate`], [`FunctionError::MissingEntry`] or [`FunctionError::Checksum`]
    /// for a bad function directory. Nothing is added unless every function loads.
    pub fn load_dir(&mut self, dir: &Path) -> Result<(), FunctionError> {
        let io = |e: std::io::Error| FunctionError::Io { path: dir.to_path_buf(), kind: e.kind() };
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
                .map_err(|reason| FunctionError::InvalidId { id: lossy.chars().take(64).collect(), reason })?;
            if self.functions.contains_key(&id) {
                return Err(FunctionError::Duplicate { id });
            }
            let path = item.path();
            let entry = path.join(ENTRY);
            if !is_executable_file(&entry) {
                return Err(FunctionError::MissingEntry { id, path: entry });
            }
            let checksum =
                directory_checksum(&path).map_err(|source| FunctionError::Checksum { id: id.clone(), source })?;
            loaded.push(Function { id, checksum, kind: Kind::Executable { dir: path, entry }, limits: self.limits });
        }
        for f in loaded {
            self.functions.insert(f.id.clone(), Arc::new(f));
        }
        Ok(())
    }

    /// The function with this id.
    pub fn get(&self, id: &FunctionId) -> Option<Arc<Function>> {
        self.functions.get(id).cloned()
    }

    /// Every function, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Function>> {
        self.functions.values()
    }

    /// The limits applied to invocations.
    pub fn limits(&self) -> Limits {
        self.limits
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_is_registered() {
        let registry = FunctionRegistry::builtins();
        let ids: Vec<&str> = registry.iter().map(|f| f.id().as_str()).collect();
        let mut want = BUILTINS.to_vec();
        want.sort_unstable();
        assert_eq!(ids, want);
    }

    #[test]
    fn mean_rejects_non_arrays_and_empty() {
        let id = FunctionId::new("mean").unwrap();
        assert_eq!(mean(&id, b"[1, 2, 3.5]").unwrap(), "2.1666666666666665");
        for bad in [&b"[]"[..], b"{}", b"[\"a\"]", b"nope"] {
            assert!(matches!(mean(&id, bad), Err(FunctionError::InvalidInput { .. })));
        }
    }
}
