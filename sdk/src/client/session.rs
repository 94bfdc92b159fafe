//! The open session: invocations pipelined over one attested connection, with a reader and a writer
//! task.
//!
//! Input: the caller's inputs (trusted) and the enclave's records (untrusted until they open, then
//! trusted only as far as they authenticate). Output: function outputs, or an [`Error`]. Ids reach
//! the wire in increasing order however callers interleave; every pending invocation learns of a
//! session's end at once; memory is bounded per invocation and per session; every wait also waits on
//! the session's end, so a stalled peer cannot keep a caller waiting after the session is over.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt as _, SinkExt as _};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use zeroize::Zeroizing;

use enclave_protocol::io::{write_pump, IdleTimer, Outgoing, PumpConfig, PumpEnd};
use enclave_protocol::{
    ClientMessage, Frame, FrameLimits, FunctionId, PlaintextBuf, RequestId, RequestSealer, ResponseOpener,
    ServerMessage, SessionErrorCode, MAX_CHUNK_LEN, MESSAGE_HEADER_LEN,
};

use super::config::Config;
use super::transport::{self, next_binary, ws_error, Ws};
use crate::attestation::AttestedDocument;
use crate::error::{Error, LimitError, SessionError, Wait};

/// Records buffered per invocation between the reader and the caller, past the first; bounds memory
/// per invocation.
const EVENTS_PER_INVOCATION: usize = 16;
/// Records queued for the writer, across the session's invocations, at least: bounds memory (at most
/// this many chunks, or one per invocation in flight if that is more), and is what one flush can carry.
const OUTGOING_QUEUED: usize = 16;

/// What the reader task delivers to one invocation.
enum Event {
    Output(Chunk),
    /// The last chunk of the output, and the end.
    Last(Chunk),
    End,
    FunctionError {
        code: u16,
        message: String,
    },
}

/// An invocation the enclave has not ended yet. Its in-flight slot lives here, not with the caller:
/// a caller that gives up does not end the invocation in the enclave, so the slot is freed only when
/// the enclave ends it (End, Last or FunctionError) or the session ends.
struct Pending {
    events: Deliver,
    _slot: OwnedSemaphorePermit,
}

/// The reader's way to an invocation's caller. Most outputs are one record, so the first event goes
/// through a oneshot, which never makes the reader wait; a channel, which can, is made only when a
/// second record follows.
enum Deliver {
    First(oneshot::Sender<First>),
    Rest(mpsc::Sender<Event>),
}

/// An invocation's first event, with the channel for the rest when more records follow.
type First = (Event, Option<mpsc::Receiver<Event>>);

/// The caller's side of [`Deliver`]: the invocation's events in order, then `None` (also when the
/// session ended first: its failure is recorded by then).
struct Events(EventsState);

enum EventsState {
    First(oneshot::Receiver<First>),
    Rest(mpsc::Receiver<Event>),
    Over,
}

impl Events {
    /// Cancel safe: a dropped call loses no event.
    async fn recv(&mut self) -> Option<Event> {
        match &mut self.0 {
            EventsState::First(first) => {
                let (event, rest) = match first.await {
                    Ok((event, rest)) => (Some(event), rest),
                    Err(_) => (None, None),
                };
                self.0 = rest.map_or(EventsState::Over, EventsState::Rest);
                event
            }
            EventsState::Rest(rest) => rest.recv().await,
            EventsState::Over => None,
        }
    }
}

/// An output chunk: the opened record's plaintext, whose tail is the data (the header is skipped, not
/// cut off: cutting would move the whole chunk).
struct Chunk {
    plaintext: PlaintextBuf,
    start: usize,
}

impl std::ops::Deref for Chunk {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.plaintext.get(self.start..).unwrap_or_default()
    }
}

/// Progress of a streaming invocation, passed to its callback.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(session: enclave_sdk::Session) -> Result<(), enclave_sdk::Error> {
/// let file = tokio::fs::File::open("big.bin").await.map_err(|e| enclave_sdk::Error::LocalIo { kind: e.kind() })?;
/// let n = session
///     .invoke_stream(file, tokio::io::sink(), |p: enclave_sdk::Progress| eprint!("\rsent {} received {}", p.sent, p.received))
///     .await?;
/// # let _ = n; Ok(()) }
/// # let _ = demo;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Input bytes sealed and sent so far.
    pub sent: u64,
    /// Output bytes received and written so far.
    pub received: u64,
}

struct Shared {
    /// The next request id. Held while an invocation's first record is queued (into room reserved
    /// before it is taken, so never across a wait), so that ids reach the wire in increasing order
    /// however callers interleave.
    next_id: StdMutex<RequestId>,
    /// To the writer task, which alone holds the sealer and the socket's sending half.
    outgoing: mpsc::Sender<Outgoing>,
    /// Set once the session has failed (the failure is recorded first). Everything that waits on the
    /// socket or the queue also waits on this, so a stalled peer cannot keep a caller or the writer
    /// waiting after the session is over.
    dead: watch::Sender<bool>,
    /// The invocations waiting for the enclave; `None` once the session failed, so that no invocation
    /// can register after the reader has dropped the others (it would never hear of the failure).
    pending: StdMutex<Option<HashMap<RequestId, Pending>>>,
    /// Why the session ended, as the reader saw it: the authority, since it reads what the enclave
    /// said (a SessionError record) before the connection's end.
    failure: StdMutex<Option<Error>>,
    /// Why the writer stopped, if it failed: a broken socket usually, whose cause the reader is about
    /// to report. Used only when the reader has recorded nothing.
    write_failure: StdMutex<Option<Error>>,
    in_flight: Arc<Semaphore>,
    invocations: AtomicU64,
    /// When this client last sent a record: a long upload with no answer yet is not idleness.
    /// On tokio's clock, the one the idle timer runs on.
    last_sent: StdMutex<tokio::time::Instant>,
}

/// An attested session with one function in one enclave.
///
/// [`invoke`](Self::invoke) takes `&self`: share the session (e.g. in an `Arc`) and call it from many
/// tasks; the invocations are pipelined over the one connection. Dropping the session closes it.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let mock = mock_enclave::MockEnclave::builder().spawn().await?;
/// # let release = enclave_sdk::MeasurementSet::new(
/// #     mock.measurements().pcrs().iter().map(|(i, v)| enclave_protocol::Pcr::new(*i, v.clone())))?;
/// # let policy = enclave_sdk::attestation::Policy::builder()
/// #     .trust_root(enclave_sdk::attestation::TrustRoot::from_pem(&mock.root_pem())?)
/// #     .allow_measurements(release)
/// #     .build()?;
/// # let client = enclave_sdk::Client::builder().endpoint(mock.url()).policy(policy).build()?;
/// let session = client.connect("word-count").await?; // attested: nothing was sent before
/// assert_eq!(session.invoke(b"one two three").await?, b"3");
/// session.close().await?;
/// # Ok(()) }
/// ```
pub struct Session {
    config: Arc<Config>,
    function_id: FunctionId,
    document: AttestedDocument,
    shared: Arc<Shared>,
    reader: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("function_id", &self.function_id).finish_non_exhaustive()
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

impl Session {
    pub(crate) fn start(
        config: Arc<Config>,
        function_id: FunctionId,
        document: AttestedDocument,
        sink: SplitSink<Ws, Message>,
        stream: SplitStream<Ws>,
        sealer: RequestSealer,
        opener: ResponseOpener,
    ) -> Self {
        // Room for one record per invocation in flight: a pipelined small invocation then never waits
        // for the writer, and the writer taking a record never has to wake (across threads) a
        // caller waiting for room, which cost more than the record itself.
        let (outgoing, queue) = mpsc::channel(config.max_in_flight.max(OUTGOING_QUEUED));
        let shared = Arc::new(Shared {
            next_id: StdMutex::new(1),
            outgoing,
            dead: watch::Sender::new(false),
            pending: StdMutex::new(Some(HashMap::new())),
            failure: StdMutex::new(None),
            write_failure: StdMutex::new(None),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            invocations: AtomicU64::new(0),
            last_sent: StdMutex::new(tokio::time::Instant::now()),
        });
        let reader = tokio::spawn(read_loop(shared.clone(), stream, opener, config.limits, config.idle_timeout));
        let writer = tokio::spawn(write_loop(shared.clone(), sink, sealer, queue));
        Self { config, function_id, document, shared, reader, writer }
    }

    /// The verified attestation document this session was opened on.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = mock_enclave::MockEnclave::builder().spawn().await?;
    /// # let release = enclave_sdk::MeasurementSet::new(
    /// #     mock.measurements().pcrs().iter().map(|(i, v)| enclave_protocol::Pcr::new(*i, v.clone())))?;
    /// # let policy = enclave_sdk::attestation::Policy::builder()
    /// #     .trust_root(enclave_sdk::attestation::TrustRoot::from_pem(&mock.root_pem())?)
    /// #     .allow_measurements(release)
    /// #     .build()?;
    /// # let client = enclave_sdk::Client::builder().endpoint(mock.url()).policy(policy).build()?;
    /// let session = client.connect("echo").await?;
    /// let document = session.attestation(); // verified before anything was sent
    /// assert_eq!(document.claimed_function().map(|c| c.function_id().as_str()), Some("echo"));
    /// println!("{} at {} ms", document.module_id(), document.timestamp_ms());
    /// # Ok(()) }
    /// ```
    pub fn attestation(&self) -> &AttestedDocument {
        &self.document
    }

    /// The function this session invokes.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = mock_enclave::MockEnclave::builder().spawn().await?;
    /// # let release = enclave_sdk::MeasurementSet::new(
    /// #     mock.measurements().pcrs().iter().map(|(i, v)| enclave_protocol::Pcr::new(*i, v.clone())))?;
    /// # let policy = enclave_sdk::attestation::Policy::builder()
    /// #     .trust_root(enclave_sdk::attestation::TrustRoot::from_pem(&mock.root_pem())?)
    /// #     .allow_measurements(release)
    /// #     .build()?;
    /// # let client = enclave_sdk::Client::builder().endpoint(mock.url()).policy(policy).build()?;
    /// let session = client.connect("echo").await?;
    /// assert_eq!(session.function_id().as_str(), "echo");
    /// # Ok(()) }
    /// ```
    pub fn function_id(&self) -> &FunctionId {
        &self.function_id
    }

    /// Invokes the function on `input` and returns its whole output.
    ///
    /// # Errors
    /// [`Error::Function`] when the function failed (the session goes on); [`Error::Session`] when the
    /// session broke; [`LimitError::OutputTooLarge`] past the configured output bound.
    ///
    /// # Cancel safety
    /// Dropping the future abandons the invocation: its id is spent, the enclave still runs it, and its
    /// output is discarded as it arrives. Its in-flight slot stays taken until the enclave ends it (or
    /// the session ends), so abandoned invocations count against `max_in_flight` just as the enclave
    /// counts them, and the session never has more running than that; the same holds when `invoke`
    /// returns early with [`LimitError::OutputTooLarge`]. The session stays usable only if the input
    /// had been fully sent; otherwise the enclave waits for the rest of that input until an idle
    /// timeout ends the session, and the slot stays taken until then.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = mock_enclave::MockEnclave::builder().spawn().await?;
    /// # let release = enclave_sdk::MeasurementSet::new(
    /// #     mock.measurements().pcrs().iter().map(|(i, v)| enclave_protocol::Pcr::new(*i, v.clone())))?;
    /// # let policy = enclave_sdk::attestation::Policy::builder()
    /// #     .trust_root(enclave_sdk::attestation::TrustRoot::from_pem(&mock.root_pem())?)
    /// #     .allow_measurements(release)
    /// #     .build()?;
    /// # let client = enclave_sdk::Client::builder().endpoint(mock.url()).policy(policy).build()?;
    /// let session = std::sync::Arc::new(client.connect("uppercase").await?);
    /// // Concurrent invocations share the one connection (pipelined).
    /// let calls = ["a", "b", "c"].map(|text| {
    ///     let session = session.clone();
    ///     tokio::spawn(async move { session.invoke(text.as_bytes()).await })
    /// });
    /// for (call, expected) in calls.into_iter().zip(["A", "B", "C"]) {
    ///     assert_eq!(call.await??, expected.as_bytes());
    /// }
    /// // A function's own failure ends only its invocation.
    /// let failing = client.connect("fail").await?;
    /// assert!(matches!(failing.invoke(b"x").await, Err(enclave_sdk::Error::Function { .. })));
    /// assert_eq!(session.invocations(), 3);
    /// # Ok(()) }
    /// ```
    pub async fn invoke(&self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let mut out = Zeroizing::new(Vec::new());
        let max = self.config.max_output_len;
        self.run(input, |chunk: &[u8]| {
            let len = out.len().saturating_add(chunk.len());
            if len > max {
                return Err(LimitError::OutputTooLarge { max }.into());
            }
            if len > out.capacity() {
                // Grow by hand: a Vec that reallocates frees its old buffer, output and all, unwiped.
                // The old buffer here is a Zeroizing one, wiped (spare capacity too) as it drops.
                let mut bigger = Zeroizing::new(Vec::with_capacity(len.max(out.capacity().saturating_mul(2)).min(max)));
                bigger.extend_from_slice(&out);
                out = bigger;
            }
            out.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
        // The caller owns the output from here; what it does with the buffer is its business.
        Ok(std::mem::take(&mut *out))
    }

    async fn run(&self, input: &[u8], mut sink: impl FnMut(&[u8]) -> Result<(), Error>) -> Result<(), Error> {
        // An input of one chunk (or none) travels as one InputLast record; a longer one as Inputs
        // ending with an InputLast.
        let mut chunks = input.chunks(MAX_CHUNK_LEN).peekable();
        let first = chunks.next().unwrap_or_default();
        let first_is_last = chunks.peek().is_none();
        let (id, mut events) = self
            .begin(|id| {
                if first_is_last {
                    ClientMessage::InputLast { id, data: first }
                } else {
                    ClientMessage::Input { id, data: first }
                }
            })
            .await?;
        let send_all = async {
            while let Some(data) = chunks.next() {
                let last = chunks.peek().is_none();
                self.send(if last { ClientMessage::InputLast { id, data } } else { ClientMessage::Input { id, data } })
                    .await?;
            }
            Ok(())
        };
        let receive = async {
            loop {
                match events.recv().await {
                    Some(Event::Output(data)) => sink(&data)?,
                    Some(Event::Last(data)) => return sink(&data),
                    Some(Event::End) => return Ok(()),
                    Some(Event::FunctionError { code, message }) => {
                        return Err(Error::Function { function_id: self.function_id.clone(), code, message })
                    }
                    None => return Err(self.failure()),
                }
            }
        };
        drive(send_all, receive).await
    }

    /// Invokes the function, streaming `input` to it and its output into `output`, with memory bounded
    /// by a few chunks whatever the sizes. `progress` is called after each chunk in either direction.
    ///
    /// Returns the number of output bytes written.
    ///
    /// # Errors
    /// As [`invoke`](Self::invoke), plus [`Error::LocalIo`] when reading `input` or writing `output`
    /// fails (the invocation is then abandoned; see below).
    ///
    /// # Cancel safety
    /// As [`invoke`](Self::invoke), also when it returns early with [`Error::LocalIo`]. An abandoned
    /// invocation whose input was not complete leaves the enclave waiting; close the session rather
    /// than reuse it.
    ///
    /// # Backpressure
    /// One reader takes the enclave's records for the whole session, and each invocation buffers at
    /// most 17 of them (about 1 MiB of output). While `output` takes nothing and that buffer is full,
    /// the reader waits, and the session's other invocations wait with it. This client does not count
    /// that wait as the enclave's silence, but an enclave that cannot write for its idle timeout ends
    /// the session. Give an output you may not drain promptly a session of its own.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = mock_enclave::MockEnclave::builder().spawn().await?;
    /// # let release = enclave_sdk::MeasurementSet::new(
    /// #     mock.measurements().pcrs().iter().map(|(i, v)| enclave_protocol::Pcr::new(*i, v.clone())))?;
    /// # let policy = enclave_sdk::attestation::Policy::builder()
    /// #     .trust_root(enclave_sdk::attestation::TrustRoot::from_pem(&mock.root_pem())?)
    /// #     .allow_measurements(release)
    /// #     .build()?;
    /// # let client = enclave_sdk::Client::builder().endpoint(mock.url()).policy(policy).build()?;
    /// let session = client.connect("sha256").await?;
    /// let input: &[u8] = &[7u8; 200_000]; // any AsyncRead: a file, a socket
    /// let mut digest = Vec::new(); // any AsyncWrite
    /// let mut sent = 0;
    /// let written = session.invoke_stream(input, &mut digest, |p| sent = p.sent).await?;
    /// assert_eq!((written, sent), (digest.len() as u64, 200_000));
    /// # Ok(()) }
    /// ```
    pub async fn invoke_stream(
        &self,
        mut input: impl AsyncRead + Unpin,
        mut output: impl AsyncWrite + Unpin,
        mut progress: impl FnMut(Progress),
    ) -> Result<u64, Error> {
        let mut buf = Zeroizing::new(vec![0u8; MAX_CHUNK_LEN]);
        // The first chunk goes out with the invocation's start; an empty input is one InputLast.
        let first = input.read(&mut buf[..]).await.map_err(|e| Error::LocalIo { kind: e.kind() })?;
        let (id, mut events) = self
            .begin(|id| {
                let data = buf.get(..first).unwrap_or_default();
                if first == 0 {
                    ClientMessage::InputLast { id, data }
                } else {
                    ClientMessage::Input { id, data }
                }
            })
            .await?;
        let sent = AtomicU64::new(first as u64);
        let received = AtomicU64::new(0);
        let report = |progress: &mut dyn FnMut(Progress)| {
            progress(Progress { sent: sent.load(Ordering::Relaxed), received: received.load(Ordering::Relaxed) })
        };
        if first > 0 {
            report(&mut progress);
        }
        let progress = StdMutex::new(&mut progress);
        let send_all = async {
            if first == 0 {
                return Ok(());
            }
            loop {
                // Send what is available now rather than waiting to fill a chunk: a slow source keeps
                // the session moving (and not idle), a fast one still fills chunks.
                // Read straight into the record: the chunk is sealed where it landed.
                let mut record = ClientMessage::input_record(id);
                let n = input
                    .read(record.append_zeroed(MAX_CHUNK_LEN))
                    .await
                    .map_err(|e| Error::LocalIo { kind: e.kind() })?;
                record.truncate_plaintext(MESSAGE_HEADER_LEN + n);
                if n == 0 {
                    break;
                }
                self.queue(Outgoing::Record(record)).await?;
                sent.fetch_add(n as u64, Ordering::Relaxed);
                if let Ok(mut p) = progress.lock() {
                    report(&mut **p);
                }
            }
            self.send(ClientMessage::InputEnd { id }).await
        };
        let receive = async {
            loop {
                match events.recv().await {
                    Some(Event::Output(data)) => {
                        output.write_all(&data).await.map_err(|e| Error::LocalIo { kind: e.kind() })?;
                        received.fetch_add(data.len() as u64, Ordering::Relaxed);
                        if let Ok(mut p) = progress.lock() {
                            report(&mut **p);
                        }
                    }
                    Some(Event::Last(data)) => {
                        output.write_all(&data).await.map_err(|e| Error::LocalIo { kind: e.kind() })?;
                        received.fetch_add(data.len() as u64, Ordering::Relaxed);
                        if let Ok(mut p) = progress.lock() {
                            report(&mut **p);
                        }
                        output.flush().await.map_err(|e| Error::LocalIo { kind: e.kind() })?;
                        return Ok(received.load(Ordering::Relaxed));
                    }
                    Some(Event::End) => {
                        output.flush().await.map_err(|e| Error::LocalIo { kind: e.kind() })?;
                        return Ok(received.load(Ordering::Relaxed));
                    }
                    Some(Event::FunctionError { code, message }) => {
                        return Err(Error::Function { function_id: self.function_id.clone(), code, message })
                    }
                    None => return Err(self.failure()),
                }
            }
        };
        drive(send_all, receive).await
    }

    /// Ends the session with an authenticated close, so the enclave can tell it from a cut connection.
    ///
    /// # Errors
    /// [`Error::Session`] when the session had already failed; [`LimitError::Timeout`] with
    /// [`Wait::Close`](crate::error::Wait::Close) when the close record cannot be sent within the idle
    /// timeout (the enclave, or a proxy, stopped reading).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = mock_enclave::MockEnclave::builder().spawn().await?;
    /// # let release = enclave_sdk::MeasurementSet::new(
    /// #     mock.measurements().pcrs().iter().map(|(i, v)| enclave_protocol::Pcr::new(*i, v.clone())))?;
    /// # let policy = enclave_sdk::attestation::Policy::builder()
    /// #     .trust_root(enclave_sdk::attestation::TrustRoot::from_pem(&mock.root_pem())?)
    /// #     .allow_measurements(release)
    /// #     .build()?;
    /// # let client = enclave_sdk::Client::builder().endpoint(mock.url()).policy(policy).build()?;
    /// let session = client.connect("echo").await?;
    /// session.invoke(b"last call").await?;
    /// session.close().await?; // the enclave sees an authenticated end, not a cut connection
    /// # Ok(()) }
    /// ```
    pub async fn close(self) -> Result<(), Error> {
        let idle = self.config.idle_timeout;
        transport::bounded(Wait::Close, idle, async {
            let r = self.send(ClientMessage::Close).await;
            let (ack, done) = oneshot::channel();
            if self.queue(Outgoing::Close(ack)).await.is_ok() {
                let _ = done.await;
            }
            r
        })
        .await
    }

    /// Invocations started on this session so far.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mock = mock_enclave::MockEnclave::builder().spawn().await?;
    /// # let release = enclave_sdk::MeasurementSet::new(
    /// #     mock.measurements().pcrs().iter().map(|(i, v)| enclave_protocol::Pcr::new(*i, v.clone())))?;
    /// # let policy = enclave_sdk::attestation::Policy::builder()
    /// #     .trust_root(enclave_sdk::attestation::TrustRoot::from_pem(&mock.root_pem())?)
    /// #     .allow_measurements(release)
    /// #     .build()?;
    /// # let client = enclave_sdk::Client::builder().endpoint(mock.url()).policy(policy).build()?;
    /// let session = client.connect("echo").await?;
    /// session.invoke(b"one").await?;
    /// assert_eq!(session.invocations(), 1);
    /// # Ok(()) }
    /// ```
    pub fn invocations(&self) -> u64 {
        self.shared.invocations.load(Ordering::Relaxed)
    }

    /// Whether the session can still carry an invocation, as far as this process knows: it has not
    /// failed (which includes the enclave's `SessionError`), and its reader and writer still run (a
    /// runtime that shut down ends them without a failure being recorded).
    pub(crate) fn is_alive(&self) -> bool {
        !*self.shared.dead.borrow() && !self.reader.is_finished() && !self.writer.is_finished()
    }

    /// Waits for an in-flight slot and room in the writer's queue, then allocates the next id, registers
    /// the invocation and queues its first record, made by `first`. The enclave starts an invocation at
    /// its first record, so the id allocation and that record's place in the queue happen under one
    /// lock, held without waiting: ids reach the wire in increasing order however callers interleave.
    /// Cancel safe: until the lock, nothing is registered; after it, nothing is waited for.
    async fn begin<'a>(
        &self,
        first: impl FnOnce(RequestId) -> ClientMessage<'a>,
    ) -> Result<(RequestId, Events), Error> {
        let slot = self.shared.in_flight.clone().acquire_owned().await.map_err(|_| self.failure())?;
        let room = self.reserve().await?;
        let (tx, rx) = oneshot::channel();
        let mut next_id = self.shared.next_id.lock().map_err(|_| SessionError::Closed)?;
        let id = *next_id;
        *next_id = id.checked_add(1).ok_or(SessionError::Closed)?;
        let mut guard = self.shared.pending.lock().map_err(|_| SessionError::Closed)?;
        // Gone means the reader has recorded the failure and dropped every pending invocation:
        // one registered now would wait for an end that never comes.
        let Some(p) = guard.as_mut() else {
            drop((guard, next_id));
            return Err(self.failure());
        };
        p.insert(id, Pending { events: Deliver::First(tx), _slot: slot });
        drop(guard);
        // Made under the lock, as its header carries the id: one chunk's copy at most (64 KiB, a few
        // microseconds), which callers on other threads wait out.
        room.send(Outgoing::Record(first(id).to_record()));
        drop(next_id);
        self.shared.invocations.fetch_add(1, Ordering::Relaxed);
        Ok((id, Events(EventsState::First(rx))))
    }

    /// Queues one record for the writer; waits while the queue is full.
    async fn send(&self, msg: ClientMessage<'_>) -> Result<(), Error> {
        self.queue(Outgoing::Record(msg.to_record())).await
    }

    /// Queues an item for the writer; waits while the queue is full (see [`Session::reserve`]).
    async fn queue(&self, item: Outgoing) -> Result<(), Error> {
        self.reserve().await?.send(item);
        Ok(())
    }

    /// Room for one item in the writer's queue, waited for while the queue is full, but not past the
    /// session's end: a writer stalled on a peer that stopped reading would otherwise keep the queue
    /// full and this caller waiting forever after the reader gave up.
    async fn reserve(&self) -> Result<mpsc::Permit<'_, Outgoing>, Error> {
        let mut dead = self.shared.dead.subscribe();
        tokio::select! {
            biased;
            () = died(&mut dead) => Err(self.failure()),
            r = self.shared.outgoing.reserve() => match r {
                Ok(room) => Ok(room),
                Err(_) => {
                    // The writer stopped on a broken socket: the reader is about to see why (often
                    // the enclave's SessionError, queued just before it closed). Report that rather
                    // than the bare broken pipe, waiting no longer than an idle period for it.
                    let _ = tokio::time::timeout(self.config.idle_timeout, died(&mut dead)).await;
                    Err(self.failure())
                }
            },
        }
    }

    fn failure(&self) -> Error {
        failure_of(&self.shared)
    }
}

/// Runs an invocation's input and output sides together. An answer (including a function error) wins
/// over a send failure that followed it, so a failed send waits for the answer (which the session's
/// end delivers, if nothing else does). A failed answer ends the invocation at once: the rest of the
/// input is dropped unsent, rather than waited for behind a stalled writer or a slow source.
async fn drive<T>(
    send_all: impl std::future::Future<Output = Result<(), Error>>,
    receive: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::pin!(send_all, receive);
    let mut sent = None;
    loop {
        tokio::select! {
            r = &mut send_all, if sent.is_none() => sent = Some(r),
            r = &mut receive => {
                let v = r?;
                let sent = match sent {
                    Some(sent) => sent,
                    None => send_all.await,
                };
                return sent.map(|()| v);
            }
        }
    }
}

/// Resolves once the session has failed.
async fn died(dead: &mut watch::Receiver<bool>) {
    let _ = dead.wait_for(|d| *d).await;
}

fn failure_of(shared: &Shared) -> Error {
    shared
        .failure
        .lock()
        .ok()
        .and_then(|f| f.clone())
        .or_else(|| shared.write_failure.lock().ok().and_then(|f| f.clone()))
        .unwrap_or(Error::Session(SessionError::Closed))
}

/// Reads and opens every enclave record, and hands each to its invocation. The first failure ends the
/// session: it is recorded, every pending invocation and the writer learn of it, and the reader stops.
async fn read_loop(
    shared: Arc<Shared>,
    mut stream: SplitStream<Ws>,
    mut opener: ResponseOpener,
    limits: FrameLimits,
    idle: Duration,
) {
    let mut timer = IdleTimer::new(idle);
    let err = loop {
        match read_one(&shared, &mut stream, &mut opener, &limits, &mut timer).await {
            Ok(()) => continue,
            Err(e) => break e,
        }
    };
    tracing::debug!(error = %err, "session ended");
    if let Ok(mut f) = shared.failure.lock() {
        f.get_or_insert(err.clone());
    }
    // In this order: a caller that sees `dead`, a closed semaphore or no pending map finds the
    // failure already recorded.
    shared.dead.send_replace(true);
    shared.in_flight.close();
    // Dropping the senders tells every pending invocation at once (its receiver ends, and it reads the
    // recorded failure), and frees their slots. Sending each the error would wait on any caller whose
    // channel is full, and every caller after it would wait too.
    // Poisoned or not: a pending invocation left registered would never hear of the end.
    let pending = shared.pending.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    drop(pending);
}

/// Seals and sends the queued records in queue order ([`write_pump`]: one flush per wake-up).
async fn write_loop(
    shared: Arc<Shared>,
    mut sink: SplitSink<Ws, Message>,
    mut sealer: RequestSealer,
    mut queue: mpsc::Receiver<Outgoing>,
) {
    // Every wait on the socket also waits on the session's end: a peer that stops reading while the
    // connection stays up would otherwise hold the writer (and everyone queueing behind it) forever.
    let mut dead = shared.dead.subscribe();
    let config = PumpConfig { wrap: Message::binary, stall: None };
    let end = write_pump(
        &mut queue,
        &mut sink,
        |r| sealer.seal(r),
        &config,
        died(&mut dead),
        || {
            if let Ok(mut t) = shared.last_sent.lock() {
                *t = tokio::time::Instant::now();
            }
        },
    )
    .await;
    let failed: Option<Error> = match end {
        PumpEnd::Sink(e) => Some(ws_error(e)),
        PumpEnd::Seal(e) => Some(SessionError::from(e).into()),
        _ => None,
    };
    if let Some(e) = failed {
        tracing::debug!(error = %e, "session writer stopped");
        if let Ok(mut f) = shared.write_failure.lock() {
            f.get_or_insert(e);
        }
    }
    // Refuse further records before the socket goes: a sender sees the failure, not a hang.
    queue.close();
    // After a failure the close is attempted once, not waited for: the peer may be the reason.
    tokio::select! {
        biased;
        _ = sink.close() => {}
        () = died(&mut dead) => {}
    }
}

async fn read_one(
    shared: &Shared,
    stream: &mut SplitStream<Ws>,
    opener: &mut ResponseOpener,
    limits: &FrameLimits,
    timer: &mut IdleTimer,
) -> Result<(), Error> {
    let idle = timer.period();
    let bytes = loop {
        // Dropping `next()` when the timer fires is safe: the WebSocket keeps partial frames in its
        // own state.
        // Unbiased: a peer that keeps the socket busy with frames `next_binary` skips (a flood of
        // pings, which on ws:// anyone on the path can inject) would otherwise starve the timer.
        tokio::select! {
            r = next_binary(stream) => break r,
            () = timer.expired() => {
                // A record already there when the timer is looked at (it ran out while this task was
                // not running: the caller's thread busy) is the proof of life the timer waits for.
                if let Some(r) = next_binary(stream).now_or_never() {
                    break r;
                }
                let waiting = shared.pending.lock().ok().and_then(|p| p.as_ref().map(HashMap::len)).unwrap_or(0);
                let last_sent = shared.last_sent.lock().map(|t| *t).ok();
                let sending = last_sent.filter(|t| t.elapsed() < idle);
                // Idle means an invocation waits and nothing moved either way for the whole period.
                if waiting > 0 && sending.is_none() {
                    return Err(LimitError::IdleTimeout(idle).into());
                }
                // A recent send: idle from that send on, not for a whole new period from this check
                // (which once let a silent enclave hold a caller twice as long as the error says).
                if let Some(at) = sending {
                    timer.touch_at(at);
                }
            }
        }
    };
    timer.touch();
    let bytes = bytes.map_err(|e| match e {
        Error::Session(SessionError::Truncated { .. }) => {
            let pending = shared.pending.lock().ok().and_then(|p| p.as_ref().map(HashMap::len)).unwrap_or(0);
            SessionError::Truncated { pending }.into()
        }
        other => other,
    })?;
    let ct = match Frame::decode(&bytes, limits).map_err(SessionError::from)? {
        Frame::Record(ct) => ct,
        other => return Err(SessionError::UnexpectedFrame { expected: "record", found: other.name() }.into()),
    };
    let mut plaintext = opener.open(ct).map_err(SessionError::from)?;
    // Output data is the plaintext's tail: hand over the buffer itself rather than a copy.
    let empty = || Chunk { plaintext: PlaintextBuf::default(), start: 0 };
    let (id, event, data_len) = match ServerMessage::decode(&plaintext).map_err(SessionError::from)? {
        ServerMessage::Output { id, data } => (id, Event::Output(empty()), data.len()),
        ServerMessage::OutputLast { id, data } => (id, Event::Last(empty()), data.len()),
        ServerMessage::OutputEnd { id } => (id, Event::End, 0),
        ServerMessage::FunctionError { id, code, message } => {
            (id, Event::FunctionError { code, message: message.to_owned() }, 0)
        }
        ServerMessage::SessionError { code, detail } => {
            return Err(match code {
                SessionErrorCode::TooManyInFlight => LimitError::EnclaveInFlight { max: detail }.into(),
                SessionErrorCode::IdleTimeout => LimitError::EnclaveIdle { secs: detail }.into(),
                SessionErrorCode::SessionMemory => LimitError::EnclaveSessionMemory { share: detail }.into(),
                SessionErrorCode::MemoryBudget => LimitError::EnclaveMemoryBudget { budget: detail }.into(),
                SessionErrorCode::Evicted => LimitError::Evicted { idle_secs: detail }.into(),
                SessionErrorCode::InputStalled => LimitError::EnclaveInputStalled { secs: detail }.into(),
                code => SessionError::Remote { code, detail }.into(),
            })
        }
    };
    let event = match event {
        Event::Output(_) | Event::Last(_) => {
            let start = plaintext.len().saturating_sub(data_len);
            let data = Chunk { start, plaintext: PlaintextBuf::from(std::mem::take(&mut *plaintext)) };
            if matches!(event, Event::Output(_)) {
                Event::Output(data)
            } else {
                Event::Last(data)
            }
        }
        other => other,
    };
    let finished = !matches!(event, Event::Output(_));
    let delivery = {
        let mut guard = shared.pending.lock().map_err(|_| SessionError::Closed)?;
        let p = guard.as_mut().ok_or(SessionError::Closed)?;
        // An ended invocation leaves the map, and its slot with it: the enclave no longer counts it.
        if finished {
            p.remove(&id).map(|e| (e.events, None))
        } else {
            p.get_mut(&id).map(|e| match &e.events {
                Deliver::Rest(rest) => (Deliver::Rest(rest.clone()), None),
                // More records follow this one: they go through a channel, made now.
                Deliver::First(_) => {
                    let (tx, rx) = mpsc::channel(EVENTS_PER_INVOCATION);
                    (std::mem::replace(&mut e.events, Deliver::Rest(tx)), Some(rx))
                }
            })
        }
    };
    // A dropped receiver means the caller abandoned the invocation; its output is discarded.
    match delivery.ok_or(SessionError::UnknownInvocation { id })? {
        (Deliver::First(first), rest) => {
            let _ = first.send((event, rest));
        }
        (Deliver::Rest(rest), _) => {
            let _ = rest.send(event).await;
            // Waiting for a slow caller to take the event is not the enclave's silence: the idle
            // period starts once it is taken.
            timer.touch();
        }
    }
    Ok(())
}
