//! One invocation, from its input channel to the records that answer it.
//!
//! Input: the invocation's input chunks (already opened and in order) and the function. Output: the
//! answer's records, queued for the session's writer in order: `Output`s, then exactly one of
//! `OutputEnd`, `OutputLast` or `FunctionError` (PROTOCOL.md section 5.3).

use std::future::Future;
use std::sync::Arc;

use enclave_protocol::io::Outgoing;
use enclave_protocol::{PlaintextBuf, RequestId, ServerMessage, MAX_CHUNK_LEN};
use futures_util::FutureExt as _;
use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::admission::Ticket;
use crate::function::{Function, FunctionInput};
use crate::session::context::SessionContext;
use crate::stats::count;

/// Output chunks buffered between the function and its forwarder.
const OUTPUT_CHUNKS_BUFFERED: usize = 4;

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

/// Feeds the input channel to the function and queues its output as records.
///
/// When the input came whole in one record (`whole`), the output's last chunk travels with the
/// invocation's end (`OutputLast`), so a small invocation is answered with one record. A chunk is
/// held back for that only when the function has already finished; a function still running gets
/// each chunk sent as it comes, so streaming output is not delayed. A streamed input gets a
/// streamed answer: `Output`s, then `OutputEnd` or `FunctionError`.
async fn run(
    function: Arc<dyn Function>,
    id: RequestId,
    input: FunctionInput,
    out: mpsc::Sender<Outgoing>,
    whole: bool,
    slot: Arc<OwnedSemaphorePermit>,
    ticket: &Ticket,
) {
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(OUTPUT_CHUNKS_BUFFERED);
    let forward = async {
        let mut next = out_rx.recv().await;
        while let Some(chunk) = next {
            let chunk = PlaintextBuf::from(chunk);
            // What is there now, without waiting (and without `try_recv`, which parks the thread
            // while a send is half done): more output, the end (the function finished), or nothing yet.
            match out_rx.recv().now_or_never() {
                Some(None) if whole => return Ok(Some(chunk)),
                Some(more) => next = more,
                None => next = None,
            }
            send_output(&out, id, &chunk).await?;
            // Output is progress: a session streaming a long answer keeps its slot.
            ticket.progress();
            if next.is_none() {
                next = out_rx.recv().await;
            }
        }
        Ok::<_, ()>(None)
    };
    let (result, last) = tokio::join!(function.invoke(input, out_tx.into()), forward);
    // Err: the session's writer is gone; nobody reads the rest.
    let Ok(last) = last else { return };
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

/// Queues `chunk` as Output records of at most [`MAX_CHUNK_LEN`] bytes (none for an empty chunk).
async fn send_output(out: &mpsc::Sender<Outgoing>, id: RequestId, chunk: &[u8]) -> Result<(), ()> {
    for data in chunk.chunks(MAX_CHUNK_LEN) {
        out.send(Outgoing::Record(ServerMessage::Output { id, data }.to_record())).await.map_err(drop)?;
    }
    Ok(())
}
