//! The session's invocation table: which invocations are in flight, which inputs are still open,
//! and where each chunk of input goes (PROTOCOL.md sections 5.3 and 6).
//!
//! Input: chunks of input from authentic records, in record order. Output: a started invocation, a
//! chunk delivered to its function (or held until the function has room), or the session error an
//! out-of-order id or one invocation too many amounts to. The one place that decides when an input
//! is whole (its end marker, never the session's end).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use enclave_protocol::io::Outgoing;
use std::time::Duration;

use enclave_protocol::{RequestId, SessionErrorCode};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::decode::Chunk;
use super::invocation::invocation;
use crate::function::{ChargedChunk, FunctionInput};
use crate::session::context::SessionContext;
use crate::session::end::SessionEnd;
use crate::stats::count;

/// Input chunks buffered per invocation before the reader waits for the function.
const INPUT_CHUNKS_BUFFERED: usize = 4;

/// The invocations of one session.
pub(super) struct Invocations {
    /// Invocations whose input has not ended yet: the input channel, the task to abort if it never
    /// does, and a share of the invocation's slot.
    inputs: HashMap<RequestId, OpenInput>,
    /// Every invocation task not known to have finished.
    tasks: Vec<tokio::task::JoinHandle<()>>,
    last_id: RequestId,
    slots: Arc<Semaphore>,
    max: usize,
}

struct OpenInput {
    tx: mpsc::Sender<ChargedChunk>,
    task: tokio::task::AbortHandle,
    _slot: Arc<OwnedSemaphorePermit>,
    /// When its last chunk (or its first) arrived: an input open for long with none is stalled.
    last: Instant,
}

/// A chunk read from the client that its function has not taken yet (its input channel was full).
/// Dropped (the session ended) it is wiped and its memory charge given back.
pub(super) struct Stalled {
    id: RequestId,
    chunk: ChargedChunk,
    /// The chunk was the input's last (`InputLast`): the input closes once it is delivered.
    end_of_input: bool,
}

/// What became of a chunk.
pub(super) enum Received<F> {
    /// It started an invocation whose input is already whole: run it in the session's own task.
    Inline(F),
    /// It went to its invocation (or was dropped because that function has finished reading).
    Delivered,
    /// Its function has no room yet: deliver it with [`Invocations::deliver`] once there is.
    Stalled(Stalled),
}

impl Invocations {
    /// An empty table allowing `max` invocations in flight.
    pub(super) fn new(max: usize) -> Self {
        Self { inputs: HashMap::new(), tasks: Vec::new(), last_id: 0, slots: Arc::new(Semaphore::new(max)), max }
    }

    /// No invocation in flight.
    pub(super) fn is_idle(&self) -> bool {
        self.slots.available_permits() == self.max
    }

    /// Some input is still open: the session waits on the client.
    pub(super) fn awaiting_input(&self) -> bool {
        !self.inputs.is_empty()
    }

    /// Resolves once every invocation has finished (for a drain).
    pub(super) async fn all_finished(&self) {
        let _ = self.slots.acquire_many(u32::try_from(self.max).unwrap_or(u32::MAX)).await;
    }

    /// Takes one chunk: starts its invocation when its id is new, else delivers it to the open input.
    ///
    /// # Errors
    /// `ShuttingDown` for a new invocation while draining; `Refused(TooManyInFlight)` past the limit;
    /// `Refused(RequestIdNotIncreasing)` for an id at or below the highest seen whose input has ended.
    pub(super) fn receive(
        &mut self,
        chunk: Chunk,
        draining: bool,
        ctx: &SessionContext,
        out: &mpsc::Sender<Outgoing>,
    ) -> Result<Received<impl Future<Output = ()> + Send + 'static>, SessionEnd> {
        let Chunk { id, data, end_of_input, charge } = chunk;
        let mut item = Some(ChargedChunk { data, _charge: charge });
        if id > self.last_id {
            if draining {
                return Err(SessionEnd::ShuttingDown);
            }
            // An invocation is in flight until both its function has ended and its input has ended
            // (PROTOCOL.md section 6): the function's task and the open input each hold a share of
            // the slot. Otherwise inputs left open to a function that returned early would pile up.
            let Ok(permit) = self.slots.clone().try_acquire_owned() else {
                return Err(SessionEnd::Refused(SessionErrorCode::TooManyInFlight));
            };
            let slot = Arc::new(permit);
            self.last_id = id;
            count(&ctx.stats.invocations);
            // An invocation whose first record is also its last (InputLast) has its whole input now:
            // hand it over before the function starts (no channel), and keep no input state for it.
            // Its input is all here, so it never waits on the session's loop: run it there rather
            // than spawn it (a spawn and a cross-task wake per small invocation).
            if end_of_input {
                let input = FunctionInput::whole(item.take().filter(|c| !c.data.is_empty()));
                return Ok(Received::Inline(invocation(ctx, id, input, out.clone(), true, slot)));
            }
            // A streamed input is fed by the session's loop, which may wait on the function: that
            // one needs a task of its own.
            let (tx, rx) = mpsc::channel(INPUT_CHUNKS_BUFFERED);
            let run = invocation(ctx, id, FunctionInput::charged(rx), out.clone(), false, slot.clone());
            let task = tokio::spawn(run);
            self.tasks.retain(|t| !t.is_finished());
            let abort = task.abort_handle();
            self.tasks.push(task);
            self.inputs.insert(id, OpenInput { tx, task: abort, _slot: slot, last: Instant::now() });
        }
        let Some(open) = self.inputs.get_mut(&id) else {
            // PROTOCOL.md section 5.3: an id at or below the highest seen, whose input has ended.
            return Err(SessionEnd::Refused(SessionErrorCode::RequestIdNotIncreasing));
        };
        // Read only for an input still open (an inline invocation needs no clock).
        open.last = Instant::now();
        if let Some(item) = item.filter(|c| !c.data.is_empty()) {
            match open.tx.try_send(item) {
                Ok(()) => {}
                // Wait for the function in the session's loop, not here, where the idle timer,
                // shutdown and inline invocations would stop. The input stays open (if this was its
                // last chunk) until the chunk is delivered.
                Err(mpsc::error::TrySendError::Full(chunk)) => {
                    return Ok(Received::Stalled(Stalled { id, chunk, end_of_input }))
                }
                // A function that finished early drops its receiver; the rest of its input is
                // discarded (wiped, and its charge given back, as the chunk drops).
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        if end_of_input {
            // Dropping the sender closes the function's input: the end marker made it whole.
            self.inputs.remove(&id);
        }
        Ok(Received::Delivered)
    }

    /// Room in the stalled chunk's input channel; never resolves when nothing is stalled. Err: the
    /// function has finished and takes no more input.
    pub(super) async fn room(
        &self,
        stalled: &Option<Stalled>,
    ) -> Result<mpsc::OwnedPermit<ChargedChunk>, mpsc::error::SendError<()>> {
        match stalled.as_ref().and_then(|s| self.inputs.get(&s.id)) {
            // An owned permit, so that the caller may take the stalled chunk out.
            Some(open) => open.tx.clone().reserve_owned().await,
            None => std::future::pending().await,
        }
    }

    /// Delivers a stalled chunk once [`room`](Self::room) resolved.
    pub(super) fn deliver(
        &mut self,
        stalled: Stalled,
        room: Result<mpsc::OwnedPermit<ChargedChunk>, mpsc::error::SendError<()>>,
    ) {
        let Stalled { id, chunk, end_of_input } = stalled;
        // Err: a function that finished early takes no more; the chunk drops wiped.
        if let Ok(permit) = room {
            permit.send(chunk);
        }
        if end_of_input {
            self.inputs.remove(&id);
        }
    }

    /// Whether some input has stayed open for `timeout` with no chunk (PROTOCOL.md section 6): a
    /// client that keeps inputs open without sending them holds the function's memory and the slot.
    pub(super) fn input_stalled(&self, now: Instant, timeout: Duration) -> bool {
        self.inputs.values().any(|open| now.saturating_duration_since(open.last) >= timeout)
    }

    /// The session is over: every invocation whose input never ended is aborted, never run on a
    /// prefix of its input, and every task is told to stop. Returns the tasks, to wait for.
    pub(super) fn end(&mut self, ctx: &SessionContext) -> Vec<tokio::task::JoinHandle<()>> {
        for (_, open) in self.inputs.drain() {
            // Abort before the sender drops: a closed channel would read as a complete input.
            open.task.abort();
            count(&ctx.stats.abandoned);
        }
        // Nobody will read further outputs. (A drain has already waited for running invocations.)
        for task in &self.tasks {
            task.abort();
        }
        std::mem::take(&mut self.tasks)
    }
}
