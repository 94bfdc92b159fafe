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

use enclave_protocol::{FunctionChecksum, FunctionId, PlaintextBuf};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

pub(crate) use self::answer::{send_output, Answer};
use crate::budget::Charge;

mod answer;

/// An invocation's input, chunk by chunk.
///
/// The stream ends ([`recv`](Self::recv) returns `None`) only after the client's end-of-input marker:
/// a session that ends before it aborts the invocation instead, so a function never sees a truncated
/// input as whole.
///
/// Every chunk the session has read but the function has not taken is charged to the enclave's
/// memory budget for buffered input ([`ServerLimits::memory_budget`](crate::ServerLimits)). A chunk
/// taken with [`recv`](Self::recv) is the function's, no longer charged; a function that must hold
/// its whole input before it can answer should [`gather`](Self::gather) it, which keeps it charged
/// until it is dropped, so that such functions cannot hold more than the budget between them.
#[derive(Debug)]
pub struct FunctionInput(Source);

#[derive(Debug)]
enum Source {
    Plain(mpsc::Receiver<Vec<u8>>),
    Charged(mpsc::Receiver<ChargedChunk>),
    /// An input that came whole in one record (or empty): no channel to allocate for it.
    Whole(Option<ChargedChunk>),
}

/// A chunk of input and the bytes of the memory budget it holds. Its `Debug` shows the length only:
/// the bytes are a client's plaintext.
pub(crate) struct ChargedChunk {
    pub(crate) data: Vec<u8>,
    /// Held only to be dropped: the bytes go back to the budget with the chunk.
    pub(crate) _charge: Option<Charge>,
}

impl fmt::Debug for ChargedChunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChargedChunk({} bytes)", self.data.len())
    }
}

impl Drop for ChargedChunk {
    /// Input dropped unread (a session that ended, a function that stopped reading) is wiped.
    fn drop(&mut self) {
        drop(PlaintextBuf::from(std::mem::take(&mut self.data)));
    }
}

/// An input longer than [`FunctionInput::gather`] was allowed to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the input exceeds {max} bytes")]
pub struct InputExceeds {
    /// The bound that was passed to `gather`.
    pub max: usize,
}

/// An invocation's whole input, as [`FunctionInput::gather`] collected it: the chunks as they
/// arrived (no copy into one buffer, whose growth would be memory nobody charged), still charged to
/// the enclave's memory budget, and wiped, when dropped.
#[derive(Debug, Default)]
pub struct GatheredInput {
    chunks: Vec<ChargedChunk>,
    len: usize,
}

impl GatheredInput {
    /// Total bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the input was empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The chunks, in order.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        self.chunks.iter().map(|c| c.data.as_slice())
    }

    /// The whole input as one reader (e.g. for `serde_json::from_reader`).
    pub fn reader(&self) -> impl std::io::Read + '_ {
        ChunksReader { chunks: self.chunks(), current: &[] }
    }
}

struct ChunksReader<'a, I> {
    chunks: I,
    current: &'a [u8],
}

impl<'a, I: Iterator<Item = &'a [u8]>> std::io::Read for ChunksReader<'a, I> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.next() {
                Some(c) => self.current = c,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        let (now, rest) = self.current.split_at(n);
        buf.get_mut(..n).unwrap_or_default().copy_from_slice(now);
        self.current = rest;
        Ok(n)
    }
}

impl FunctionInput {
    /// An input fed by the session, each chunk still charged to the memory budget.
    pub(crate) fn charged(rx: mpsc::Receiver<ChargedChunk>) -> Self {
        Self(Source::Charged(rx))
    }

    /// An input that is already whole: `chunk`, or nothing. Most invocations are one record, and
    /// a channel for each (its allocation, its wake-ups) cost more than the invocation's own work.
    pub(crate) fn whole(chunk: Option<ChargedChunk>) -> Self {
        Self(Source::Whole(chunk))
    }

    /// The next chunk, or `None` once the input is whole. The chunk is the function's from here: it
    /// no longer counts against the memory budget.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        self.next_chunk().await.map(|mut c| std::mem::take(&mut c.data))
    }

    /// The next chunk with its charge (none for a plain input), from whichever source feeds this input.
    async fn next_chunk(&mut self) -> Option<ChargedChunk> {
        match &mut self.0 {
            Source::Plain(rx) => rx.recv().await.map(|data| ChargedChunk { data, _charge: None }),
            Source::Charged(rx) => rx.recv().await,
            Source::Whole(chunk) => chunk.take(),
        }
    }

    /// The whole input, kept charged to the memory budget until the result is dropped.
    ///
    /// # Errors
    /// [`InputExceeds`] as soon as more than `max` bytes have arrived (what had arrived is dropped).
    ///
    /// # Examples
    ///
    /// ```
    /// use enclave_runtime::{FunctionInput, InputExceeds};
    /// use std::io::Read as _;
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (tx, rx) = tokio::sync::mpsc::channel(4);
    /// tx.send(b"[1, ".to_vec()).await.unwrap();
    /// tx.send(b"2]".to_vec()).await.unwrap();
    /// drop(tx);
    /// let mut input = FunctionInput::from(rx);
    /// let all = input.gather(16).await.unwrap();
    /// let mut text = String::new();
    /// all.reader().read_to_string(&mut text).unwrap();
    /// assert_eq!((all.len(), text.as_str()), (6, "[1, 2]"));
    ///
    /// let (tx, rx) = tokio::sync::mpsc::channel(1);
    /// tx.send(vec![0; 17]).await.unwrap();
    /// drop(tx);
    /// assert_eq!(FunctionInput::from(rx).gather(16).await.err(), Some(InputExceeds { max: 16 }));
    /// # });
    /// ```
    pub async fn gather(&mut self, max: usize) -> Result<GatheredInput, InputExceeds> {
        let mut all = GatheredInput::default();
        loop {
            let Some(chunk) = self.next_chunk().await else { return Ok(all) };
            all.len = all.len.saturating_add(chunk.data.len());
            if all.len > max {
                return Err(InputExceeds { max });
            }
            all.chunks.push(chunk);
        }
    }
}

impl From<mpsc::Receiver<Vec<u8>>> for FunctionInput {
    /// The input a channel's sender feeds; dropping the sender ends the input. Nothing it carries is
    /// charged to a memory budget.
    fn from(rx: mpsc::Receiver<Vec<u8>>) -> Self {
        Self(Source::Plain(rx))
    }
}

/// Where an invocation's output goes, chunk by chunk, as it is produced.
///
/// A clone may be handed to a task the function spawns, but the output of a native session's
/// invocation ends when the function's future resolves (or the invocation is cancelled): a send
/// through any clone after that fails, and a clone kept longer holds nothing of the session.
#[derive(Debug, Clone)]
pub struct FunctionOutput(Sink);

#[derive(Debug, Clone)]
enum Sink {
    /// A channel whose receiver collects the output (Cape invocations, tests, a handler's own).
    Channel(mpsc::Sender<Vec<u8>>),
    /// A native session's invocation: chunks become its records on the session's queue directly.
    Records(Answer),
}

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
        match &self.0 {
            Sink::Channel(tx) => tx.send(chunk).await.map_err(|_| OutputClosed),
            Sink::Records(answer) => answer.send(chunk).await.map_err(|_| OutputClosed),
        }
    }

    /// Output that becomes `answer`'s records.
    pub(crate) fn records(answer: Answer) -> Self {
        Self(Sink::Records(answer))
    }
}

impl From<mpsc::Sender<Vec<u8>>> for FunctionOutput {
    /// Output into a channel whose receiver collects it.
    fn from(tx: mpsc::Sender<Vec<u8>>) -> Self {
        Self(Sink::Channel(tx))
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
            // A closed receiver is fine here: the function may finish before reading its input.
            let _ = in_tx.try_send(input);
            drop(in_tx);
            run_collecting(self, in_rx.into()).await
        })
    }
}

/// Runs `function` on one whole input that is still charged to the memory budget (a Cape
/// invocation): the charge is given back when the function takes the chunk, or, if it gathers its
/// input, when it drops what it gathered.
pub(crate) async fn invoke_whole(function: &dyn Function, input: ChargedChunk) -> Result<Vec<u8>, FunctionError> {
    run_collecting(function, FunctionInput::whole(Some(input))).await
}

/// Runs `function` on `input` (fed and closed by the caller) and gathers its whole output.
async fn run_collecting<F: Function + ?Sized>(function: &F, input: FunctionInput) -> Result<Vec<u8>, FunctionError> {
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(16);
    let collect = async {
        let mut out = Vec::new();
        while let Some(chunk) = out_rx.recv().await {
            out.extend_from_slice(&chunk);
        }
        out
    };
    let (result, out) = tokio::join!(function.invoke(input, out_tx.into()), collect);
    result.map(|()| out)
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

#[cfg(test)]
mod tests {
    use super::{ChargedChunk, FunctionInput};

    /// A function that logs its input with `{:?}` shows its length, never the client's bytes.
    #[tokio::test]
    async fn debug_shows_the_length_of_an_input_not_its_bytes() {
        let mut input = FunctionInput::whole(Some(ChargedChunk { data: b"secret".to_vec(), _charge: None }));
        let shown = format!("{input:?}");
        assert!(shown.contains("ChargedChunk(6 bytes)") && !shown.contains("115"), "{shown}");
        let all = input.gather(16).await.unwrap();
        let shown = format!("{all:?}");
        assert!(shown.contains("ChargedChunk(6 bytes)") && !shown.contains("115"), "{shown}");
    }
}
