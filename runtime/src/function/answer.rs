//! A native invocation's answer as its function writes it: each output chunk becomes the
//! invocation's `Output` records on the session's queue, and while the function has not yet waited
//! for anything, its newest chunk is held back so that it can travel with the end (`OutputLast`,
//! PROTOCOL.md section 5.3).
//!
//! Input: output chunks from the function (the enclave's own code; their bytes are a client's
//! plaintext, wiped when dropped), in the order its sends complete. Output: records queued for the
//! session's writer in that order, each chunk's records together, and none after the answer's end.
//! This replaces a channel per invocation and a forwarder reading it: for a small invocation, the
//! channel's allocations and wake-ups cost more than the invocation's own records
//! (`enclave-bench --only rates`).

use std::fmt;
use std::sync::{Arc, Weak};

use enclave_protocol::io::Outgoing;
use enclave_protocol::{PlaintextBuf, RequestId, ServerMessage, MAX_CHUNK_LEN};
use tokio::sync::{mpsc, Mutex};

use crate::admission::Ticket;

/// One invocation's answer, shared by the invocation and every clone of its `FunctionOutput`.
///
/// The session's queue and slot are held weakly: the invocation's runner owns the strong ones, so a
/// clone that outlives its invocation (kept by a task the function spawned) neither keeps the
/// session's writer and slot alive nor reaches the queue once the invocation or the session is over.
#[derive(Clone)]
pub(crate) struct Answer {
    out: mpsc::WeakSender<Outgoing>,
    id: RequestId,
    ticket: Weak<Ticket>,
    /// An async lock: it is held while a chunk's records wait for room in the queue, so that chunks
    /// sent one after another (from clones too) are queued whole and in order.
    state: Arc<Mutex<State>>,
}

struct State {
    /// The newest chunk, not queued yet: it may still be the answer's last.
    held: Option<PlaintextBuf>,
    /// Whether the newest chunk is held back (only until the function first waits: the output of
    /// a function still running goes out as it comes).
    hold: bool,
    /// The answer is over: a later send fails, as a send on a closed channel would.
    ended: bool,
    /// The session's writer is gone; nothing more reaches the client.
    broken: bool,
}

/// The session's writer is gone, or the answer has ended.
#[derive(Debug)]
pub(crate) struct Gone;

impl fmt::Debug for Answer {
    // Never the held chunk: a client's plaintext.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Answer {
    /// The answer to invocation `id`, queued on `out`; `hold`: keep the newest chunk back until the
    /// function first waits (an input that came whole, whose answer may then be one record).
    pub(crate) fn new(out: &mpsc::Sender<Outgoing>, id: RequestId, hold: bool, ticket: &Arc<Ticket>) -> Self {
        let state = State { held: None, hold, ended: false, broken: false };
        Self { out: out.downgrade(), id, ticket: Arc::downgrade(ticket), state: Arc::new(Mutex::new(state)) }
    }

    /// The function's send: queues `chunk` (or, while holding, the chunk it replaces), waiting for
    /// room in the session's queue. Err once the answer has ended or the writer is gone.
    pub(crate) async fn send(&self, chunk: Vec<u8>) -> Result<(), Gone> {
        let chunk = PlaintextBuf::from(chunk);
        let mut state = self.state.lock().await;
        if state.ended || state.broken {
            return Err(Gone);
        }
        let ready = if state.hold {
            match state.held.replace(chunk) {
                Some(previous) => previous,
                None => return Ok(()),
            }
        } else {
            chunk
        };
        self.queue(&mut state, &ready).await
    }

    /// The function waits for something: stop holding chunks back, and queue the one held.
    pub(crate) async fn stream(&self) {
        let mut state = self.state.lock().await;
        state.hold = false;
        if let Some(held) = state.held.take() {
            // A failure marks the answer broken; the function learns it at its next send.
            let _ = self.queue(&mut state, &held).await;
        }
    }

    /// Ends the answer: no chunk is queued after this. Returns the chunk still held, to travel with
    /// the end record.
    ///
    /// # Errors
    /// [`Gone`] when the writer went away while the function ran (no end record can reach the client).
    pub(crate) async fn finish(&self) -> Result<Option<PlaintextBuf>, Gone> {
        let mut state = self.state.lock().await;
        state.ended = true;
        if state.broken {
            return Err(Gone);
        }
        Ok(state.held.take())
    }

    async fn queue(&self, state: &mut State, chunk: &[u8]) -> Result<(), Gone> {
        // Gone with its invocation: the runner held the strong queue sender and the slot.
        let (Some(out), Some(ticket)) = (self.out.upgrade(), self.ticket.upgrade()) else {
            state.broken = true;
            return Err(Gone);
        };
        if send_output(&out, self.id, chunk).await.is_err() {
            state.broken = true;
            return Err(Gone);
        }
        // Output is progress: a session streaming a long answer keeps its slot.
        ticket.progress();
        Ok(())
    }
}

/// Queues `chunk` as Output records of at most [`MAX_CHUNK_LEN`] bytes (none for an empty chunk).
pub(crate) async fn send_output(out: &mpsc::Sender<Outgoing>, id: RequestId, chunk: &[u8]) -> Result<(), Gone> {
    for data in chunk.chunks(MAX_CHUNK_LEN) {
        out.send(Outgoing::Record(ServerMessage::Output { id, data }.to_record())).await.map_err(|_| Gone)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use enclave_protocol::io::Outgoing;
    use enclave_protocol::ServerMessage;
    use tokio::sync::mpsc;

    use super::{Answer, Gone};
    use crate::admission::Admission;

    /// An answer, its queue, and the strong sender and slot its invocation's runner would hold.
    fn answer(hold: bool) -> (Answer, mpsc::Receiver<Outgoing>, impl Sized) {
        let (out, queue) = mpsc::channel(8);
        let (ticket, _stopped) = Admission::new(1, Duration::from_secs(1), None).admit(Duration::from_secs(1)).unwrap();
        let ticket = std::sync::Arc::new(ticket);
        (Answer::new(&out, 7, hold, &ticket), queue, (out, ticket))
    }

    /// The (id, data) of each Output record queued so far.
    fn outputs(queue: &mut mpsc::Receiver<Outgoing>) -> Vec<(u64, Vec<u8>)> {
        let mut got = Vec::new();
        while let Ok(Outgoing::Record(r)) = queue.try_recv() {
            match ServerMessage::decode(r.plaintext()).unwrap() {
                ServerMessage::Output { id, data } => got.push((id, data.to_vec())),
                other => panic!("not an Output: {other:?}"),
            }
        }
        got
    }

    #[tokio::test]
    async fn while_holding_only_the_newest_chunk_waits_and_it_is_the_one_finish_returns() {
        let (answer, mut queue, _runner) = answer(true);
        answer.send(b"one".to_vec()).await.unwrap();
        assert_eq!(outputs(&mut queue), []);
        answer.send(b"two".to_vec()).await.unwrap();
        assert_eq!(outputs(&mut queue), [(7, b"one".to_vec())]);
        let last = answer.finish().await.unwrap();
        assert_eq!(last.as_deref(), Some(&b"two"[..]));
    }

    #[tokio::test]
    async fn once_the_function_waits_every_chunk_goes_out_as_it_comes() {
        let (answer, mut queue, _runner) = answer(true);
        answer.send(b"held".to_vec()).await.unwrap();
        answer.stream().await;
        answer.send(b"next".to_vec()).await.unwrap();
        assert_eq!(outputs(&mut queue), [(7, b"held".to_vec()), (7, b"next".to_vec())]);
        assert!(matches!(answer.finish().await, Ok(None)));
    }

    /// A clone kept past the invocation's end (a task the function spawned) cannot add records
    /// after the end record.
    #[tokio::test]
    async fn a_send_after_the_end_fails_and_queues_nothing() {
        let (answer, mut queue, _runner) = answer(false);
        let late = answer.clone();
        assert!(matches!(answer.finish().await, Ok(None)));
        assert!(matches!(late.send(b"late".to_vec()).await, Err(Gone)));
        assert_eq!(outputs(&mut queue), []);
    }

    /// A clone kept after its invocation's runner is gone (the invocation aborted or dropped at the
    /// session's end) reaches nothing.
    #[tokio::test]
    async fn a_clone_outliving_its_invocation_reaches_nothing() {
        let (answer, mut queue, runner) = answer(false);
        let kept = answer.clone();
        drop((answer, runner));
        assert!(matches!(kept.send(b"late".to_vec()).await, Err(Gone)));
        assert!(matches!(queue.try_recv(), Err(mpsc::error::TryRecvError::Disconnected)));
    }

    #[tokio::test]
    async fn when_the_writer_is_gone_sends_and_the_end_fail() {
        let (answer, queue, _runner) = answer(false);
        drop(queue);
        assert!(matches!(answer.send(b"x".to_vec()).await, Err(Gone)));
        assert!(matches!(answer.finish().await, Err(Gone)));
    }
}
