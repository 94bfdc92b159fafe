//! One invocation, from its input channel to the records that answer it.
//!
//! Input: the invocation's input chunks (already opened and in order) and the function. Output: the
//! answer's records, queued for the session's writer in order: `Output`s, then exactly one of
//! `OutputEnd`, `OutputLast` or `FunctionError` (PROTOCOL.md section 5.3).

use std::future::Future;
use std::sync::Arc;

use enclave_protocol::io::Outgoing;
use enclave_protocol::{RequestId, ServerMessage, MAX_CHUNK_LEN};
use futures_util::FutureExt as _;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::admission::Ticket;
use crate::function::{send_output, Answer, Function, FunctionInput, FunctionOutput};
use crate::session::context::SessionContext;
use crate::stats::count;

/// The invocation `id` as a future that runs it to its end and counts it complete. `slot` is its
/// share of the invocation's in-flight slot, released as its last record is queued.
pub(super) fn invocation(
    ctx: &SessionContext,
    id: RequestId,
    input: FunctionInput,
    out: mpsc::Sender<Outgoing>,
    whole: bool,
    slot: Arc<OwnedSemaphorePermit>,
) -> impl Future<Output = ()> + Send + 'static {
    let function = ctx.function.clone();
    let stats = ctx.stats.clone();
    let ticket = ctx.ticket.clone();
    async move {
        run(function, id, input, out, whole, slot, &ticket).await;
        count(&stats.completed);
    }
}

/// Runs the function on its input and queues its answer as records.
///
/// When the input came whole in one record (`whole`), the output's last chunk travels with the
/// invocation's end (`OutputLast`), so a small invocation is answered with one record. A chunk is
/// held back for that only until the function first waits for something (input, a timer, a
/// process, room in the queue); from then on each chunk is sent as it comes, so streaming output is
/// not delayed. A streamed input gets a streamed answer: `Output`s, then `OutputEnd` or
/// `FunctionError`.
async fn run(
    function: Arc<dyn Function>,
    id: RequestId,
    input: FunctionInput,
    out: mpsc::Sender<Outgoing>,
    whole: bool,
    slot: Arc<OwnedSemaphorePermit>,
    ticket: &Arc<Ticket>,
) {
    let answer = Answer::new(&out, id, whole, ticket);
    let mut call = function.invoke(input, FunctionOutput::records(answer.clone()));
    // Most functions answer a whole input without waiting: polled once, they have finished, with
    // their last chunk still held.
    let result = match (&mut call).now_or_never() {
        Some(result) => result,
        None => tokio::join!(call, answer.stream()).0,
    };
    // Err: the session's writer is gone; nobody reads the rest.
    let Ok(last) = answer.finish().await else { return };
    let end = match result {
        Ok(()) => match last {
            Some(chunk) => {
                // All of the held chunk but its last piece, then that piece as the end.
                let cut = chunk.len().saturating_sub(1) / MAX_CHUNK_LEN * MAX_CHUNK_LEN;
                let (body, tail) = chunk.split_at_checked(cut).unwrap_or((&[], &chunk[..]));
                if send_output(&out, id, body).await.is_err() {
                    return;
                }
                ServerMessage::OutputLast { id, data: tail }.to_record()
            }
            None => ServerMessage::OutputEnd { id }.to_record(),
        },
        Err(e) => {
            if let Some(chunk) = last {
                if send_output(&out, id, &chunk).await.is_err() {
                    return;
                }
            }
            tracing::debug!(function_id = function.id().as_str(), id, "function returned an error");
            let message = e.to_string();
            ServerMessage::FunctionError { id, code: e.code(), message: &message }.to_record()
        }
    };
    let Ok(queued) = out.reserve().await else { return };
    // The slot (this task's share of it) frees as the invocation's last record is queued, with no
    // await in between: a client that has seen the end may start another invocation at once (the
    // client's limit may equal ours), and a drain that finds every slot free finds every end queued.
    drop(slot);
    queued.send(Outgoing::Record(end));
    ticket.progress();
}
