//! What the sessions run: the [`Function`] trait, its input and output streams, the errors a function
//! reports, and [`Functions`], the table the server looks the upgrade's function id up in.
//!
//! Input: chunks of an invocation's input that the session has already opened, bounded and ordered
//! (their content is the client's: untrusted). Output: the function's output chunks, or a
//! [`FunctionError`] the session sends back sealed with its wire code ([`FunctionError::code`]).
//! This module decides nothing about who may call a function, and never logs or displays input or
//! output bytes. The functions themselves live with whoever serves them (the mock enclave's built-ins
//! and function directories, or an application's own handler).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use enclave_protocol::{FunctionChecksum, FunctionId};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

/// An invocation's input, chunk by chunk.
///
/// The stream ends ([`recv`](Self::recv) returns `None`) only after the client's end-of-input marker:
/// a session that ends before it aborts the invocation instead, so a function never sees a truncated
/// input as whole.
#[derive(Debug)]
pub struct FunctionInput(mpsc::Receiver<Vec<u8>>);

impl FunctionInput {
    /// The next chunk, or `None` once the input is whole.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        self.0.recv().await
    }
}

impl From<mpsc::Receiver<Vec<u8>>> for FunctionInput {
    /// The input a channel's sender feeds; dropping the sender ends the input.
    fn from(rx: mpsc::Receiver<Vec<u8>>) -> Self {
        Self(rx)
    }
}

/// Where an invocation's output goes, chunk by chunk, as it is produced.
#[derive(Debug, Clone)]
pub struct FunctionOutput(mpsc::Sender<Vec<u8>>);

/// The session is gone; nobody reads further output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("output channel closed")]
pub struct OutputClosed;

impl FunctionOutput {
    /// Sends one chunk (any length: the session cuts it into records); waits while the session's
    /// writer is busy, which is the backpressure a slow client puts on the function.
    ///
    /// # Errors
    /// [`OutputClosed`] when the session has ended.
    pub async fn send(&self, chunk: Vec<u8>) -> Result<(), OutputClosed> {
        self.0.send(chunk).await.map_err(|_| OutputClosed)
    }
}

impl From<mpsc::Sender<Vec<u8>>> for FunctionOutput {
    /// Output into a channel whose receiver collects it.
    fn from(tx: mpsc::Sender<Vec<u8>>) -> Self {
        Self(tx)
    }
}

/// Why a function did not produce its output. The session sends it to the client, sealed, as a
/// `FunctionError` with [`code`](Self::code) and this `Display` (which never includes input or output
/// bytes); the session goes on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FunctionError {
    /// The function ran and reported failure.
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
    /// A function that buffers its input received more than it holds.
    #[error("function {function} buffers at most {limit} input bytes")]
    InputTooLarge {
        /// Function id.
        function: FunctionId,
        /// The limit.
        limit: usize,
    },
    /// The function wrote more than its output limit and was stopped.
    #[error("function {function} wrote more than {limit} output bytes and was killed")]
    OutputTooLarge {
        /// Function id.
        function: FunctionId,
        /// The limit.
        limit: usize,
    },
    /// The function ran longer than its time limit and was stopped.
    #[error("function {function} ran longer than {limit_ms} ms and was killed")]
    TimedOut {
        /// Function id.
        function: FunctionId,
        /// The limit in milliseconds.
        limit_ms: u128,
    },
    /// The function's process exited unsuccessfully.
    #[error("function {function} exited with {}", code.map_or_else(|| "a signal".to_string(), |c| format!("status {c}")))]
    Exited {
        /// Function id.
        function: FunctionId,
        /// Exit code, `None` when killed by a signal.
        code: Option<i32>,
    },
    /// Starting or talking to the function's process failed.
    #[error("function {function}: process I/O: {kind}")]
    Process {
        /// Function id.
        function: FunctionId,
        /// The I/O error kind.
        kind: std::io::ErrorKind,
    },
    /// The output's receiver was dropped (the client went away).
    #[error("function {function}: output channel closed")]
    OutputClosed {
        /// Function id.
        function: FunctionId,
    },
}

impl FunctionError {
    /// The code this error travels with (PROTOCOL.md section 5.3): 1 failed, 2 invalid input, 3 input
    /// too large, 4 output too large, 5 timed out, 6 exited unsuccessfully, 100 other.
    ///
    /// ```
    /// use enclave_runtime::FunctionError;
    /// let e = FunctionError::TimedOut { function: "f".parse().unwrap(), limit_ms: 300 };
    /// assert_eq!(e.code(), 5);
    /// ```
    pub fn code(&self) -> u16 {
        match self {
            Self::Failed { .. } => 1,
            Self::InvalidInput { .. } => 2,
            Self::InputTooLarge { .. } => 3,
            Self::OutputTooLarge { .. } => 4,
            Self::TimedOut { .. } => 5,
            Self::Exited { .. } => 6,
            Self::Process { .. } | Self::OutputClosed { .. } => 100,
        }
    }
}

/// A function a session can invoke: its id, the checksum the enclave attests for it, and how to run
/// it on a stream of input.
///
/// # Examples
///
/// ```
/// use enclave_protocol::{FunctionChecksum, FunctionId};
/// use enclave_runtime::{Function, FunctionError, FunctionInput, FunctionOutput};
/// use futures_util::future::BoxFuture;
///
/// /// Answers with the number of input bytes.
/// #[derive(Debug)]
/// struct Count { id: FunctionId, checksum: FunctionChecksum }
///
/// impl Function for Count {
///     fn id(&self) -> &FunctionId { &self.id }
///     fn checksum(&self) -> FunctionChecksum { self.checksum }
///     fn invoke(&self, mut input: FunctionInput, output: FunctionOutput) -> BoxFuture<'_, Result<(), FunctionError>> {
///         Box::pin(async move {
///             let mut n = 0;
///             while let Some(chunk) = input.recv().await {
///                 n += chunk.len();
///             }
///             output.send(n.to_string().into_bytes()).await
///                 .map_err(|_| FunctionError::OutputClosed { function: self.id.clone() })
///         })
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let count = Count { id: "count".parse().unwrap(), checksum: FunctionChecksum::from_bytes([0; 32]) };
/// assert_eq!(count.invoke_bytes(b"four".to_vec()).await, Ok(b"4".to_vec()));
/// # });
/// ```
pub trait Function: Send + Sync + fmt::Debug {
    /// The id clients invoke it by.
    fn id(&self) -> &FunctionId;

    /// The checksum the enclave reports for it in every document.
    fn checksum(&self) -> FunctionChecksum;

    /// Runs the function. Input chunks arrive on `input`, whose end means the input is whole; output
    /// chunks go out on `output` as they are produced.
    ///
    /// # Errors
    /// A [`FunctionError`] for a function failure; output already sent stays sent.
    fn invoke(&self, input: FunctionInput, output: FunctionOutput) -> BoxFuture<'_, Result<(), FunctionError>>;

    /// Runs the function on a whole input and returns its whole output (Cape invocations, tests).
    ///
    /// # Errors
    /// As [`Function::invoke`].
    fn invoke_bytes(&self, input: Vec<u8>) -> BoxFuture<'_, Result<Vec<u8>, FunctionError>> {
        Box::pin(async move {
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
            let (result, out) = tokio::join!(self.invoke(in_rx.into(), out_tx.into()), collect);
            result.map(|()| out)
        })
    }
}

/// Functions by id: what a server serves. Cheap to clone (the functions are shared).
///
/// # Examples
///
/// ```
/// # use enclave_protocol::{FunctionChecksum, FunctionId};
/// # use enclave_runtime::{Function, FunctionError, FunctionInput, FunctionOutput};
/// # use futures_util::future::BoxFuture;
/// # #[derive(Debug)] struct Nothing(FunctionId);
/// # impl Function for Nothing {
/// #     fn id(&self) -> &FunctionId { &self.0 }
/// #     fn checksum(&self) -> FunctionChecksum { FunctionChecksum::from_bytes([0; 32]) }
/// #     fn invoke(&self, _: FunctionInput, _: FunctionOutput) -> BoxFuture<'_, Result<(), FunctionError>> {
/// #         Box::pin(async { Ok(()) })
/// #     }
/// # }
/// use std::sync::Arc;
/// use enclave_runtime::{DuplicateFunction, Functions};
///
/// let id: FunctionId = "nothing".parse().unwrap();
/// let mut functions = Functions::new();
/// functions.add(Arc::new(Nothing(id.clone())))?;
/// assert!(functions.get(&id).is_some());
/// assert_eq!(functions.add(Arc::new(Nothing(id.clone()))), Err(DuplicateFunction { id }));
/// # Ok::<(), DuplicateFunction>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Functions {
    by_id: BTreeMap<FunctionId, Arc<dyn Function>>,
}

/// Two functions with one id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("function {id} is defined twice")]
pub struct DuplicateFunction {
    /// The id.
    pub id: FunctionId,
}

impl Functions {
    /// No functions.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `function` under its id.
    ///
    /// # Errors
    /// [`DuplicateFunction`] when a function with that id is already there (nothing is replaced).
    pub fn add(&mut self, function: Arc<dyn Function>) -> Result<(), DuplicateFunction> {
        let id = function.id().clone();
        if self.by_id.contains_key(&id) {
            return Err(DuplicateFunction { id });
        }
        self.by_id.insert(id, function);
        Ok(())
    }

    /// The function with this id.
    pub fn get(&self, id: &FunctionId) -> Option<Arc<dyn Function>> {
        self.by_id.get(id).cloned()
    }

    /// Whether a function with this id is served.
    pub fn contains(&self, id: &FunctionId) -> bool {
        self.by_id.contains_key(id)
    }

    /// Every function, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Function>> {
        self.by_id.values()
    }
}
