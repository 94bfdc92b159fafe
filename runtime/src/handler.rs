//! An application's own function: a Rust `async` handler from the input stream to the output
//! stream, served by the runtime like any other [`Function`], under the same [`FunctionLimits`] and
//! with the same [`FunctionError`]s.
//!
//! Input: the invocation's input chunks (the client's bytes: untrusted, already opened, bounded and
//! in order; the stream ends only at the client's end marker). Output: what the handler sends, cut
//! off with [`FunctionError::OutputTooLarge`] past the limit; a handler running past the time limit
//! is dropped and the client gets [`FunctionError::TimedOut`]. Neither the handler's input nor its
//! output is logged here.
//!
//! What identifies the handler's code to a client is the image it is built into (PCR0 and PCR2 of
//! the enclave image file, `enclave measure`); the checksum a handler reports names its version
//! within that image, e.g. [`builtin_checksum`](enclave_protocol::checksum::builtin_checksum) over
//! its id and the application's version.

use std::fmt;
use std::future::Future;

use enclave_protocol::{FunctionChecksum, FunctionId};
use futures_util::future::BoxFuture;
use tokio::sync::mpsc;

use crate::function::{Function, FunctionError, FunctionInput, FunctionOutput};
use crate::function_limits::FunctionLimits;

/// Output chunks between the handler and the limit that counts them.
const OUTPUT_CHUNKS_BUFFERED: usize = 4;

type Run = dyn Fn(FunctionInput, FunctionOutput) -> BoxFuture<'static, Result<(), FunctionError>> + Send + Sync;

/// A function written as an `async` closure over its input and output streams.
///
/// # Examples
///
/// ```
/// use enclave_protocol::checksum::builtin_checksum;
/// use enclave_runtime::{Function, FunctionError, FunctionLimits, Handler};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let id: enclave_protocol::FunctionId = "reverse".parse()?;
/// let reverse = Handler::new(id.clone(), builtin_checksum(&id, "1.0.0"), move |mut input, output| {
///     let id = id.clone();
///     async move {
///         let mut all = Vec::new();
///         while let Some(chunk) = input.recv().await {
///             all.extend_from_slice(&chunk);
///         }
///         all.reverse();
///         output.send(all).await.map_err(|_| FunctionError::OutputClosed { function: id })
///     }
/// })
/// .limits(FunctionLimits::new(std::time::Duration::from_secs(5), 1 << 20, 1 << 20));
/// assert_eq!(reverse.invoke_bytes(b"abc".to_vec()).await?, b"cba");
/// # Ok(())
/// # }
/// ```
pub struct Handler {
    id: FunctionId,
    checksum: FunctionChecksum,
    limits: FunctionLimits,
    run: Box<Run>,
}

impl fmt::Debug for Handler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handler")
            .field("id", &self.id)
            .field("checksum", &self.checksum)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Handler {
    /// Serves `handler` as function `id`, reporting `checksum`, under [`FunctionLimits::default`].
    /// The handler is called once per invocation with that invocation's streams.
    pub fn new<F, Fut>(id: FunctionId, checksum: FunctionChecksum, handler: F) -> Self
    where
        F: Fn(FunctionInput, FunctionOutput) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), FunctionError>> + Send + 'static,
    {
        let run =
            move |input, output| -> BoxFuture<'static, Result<(), FunctionError>> { Box::pin(handler(input, output)) };
        Self { id, checksum, limits: FunctionLimits::default(), run: Box::new(run) }
    }

    /// Replace the limits (the time limit and the output limit apply; `max_buffered_input` is the
    /// handler's to honour, as it alone knows whether it buffers).
    #[must_use]
    pub fn limits(mut self, limits: FunctionLimits) -> Self {
        self.limits = limits;
        self
    }
}

impl Function for Handler {
    fn id(&self) -> &FunctionId {
        &self.id
    }

    fn checksum(&self) -> FunctionChecksum {
        self.checksum
    }

    fn invoke(&self, input: FunctionInput, output: FunctionOutput) -> BoxFuture<'_, Result<(), FunctionError>> {
        Box::pin(async move {
            let (tx, mut rx) = mpsc::channel::<Vec<u8>>(OUTPUT_CHUNKS_BUFFERED);
            let handler = (self.run)(input, tx.into());
            let limit = self.limits.max_output;
            let forward = async {
                let mut total = 0usize;
                while let Some(chunk) = rx.recv().await {
                    total = total.saturating_add(chunk.len());
                    if total > limit {
                        return Err(FunctionError::OutputTooLarge { function: self.id.clone(), limit });
                    }
                    output.send(chunk).await.map_err(|_| FunctionError::OutputClosed { function: self.id.clone() })?;
                }
                Ok(())
            };
            // try_join: past the output limit the handler is dropped at once, not drained.
            let both = async { tokio::try_join!(handler, forward).map(drop) };
            match tokio::time::timeout(self.limits.timeout, both).await {
                Ok(result) => result,
                Err(_) => Err(FunctionError::TimedOut {
                    function: self.id.clone(),
                    limit_ms: self.limits.timeout.as_millis(),
                }),
            }
        })
    }
}
