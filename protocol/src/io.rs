//! The two pieces of a session's I/O that both ends run the same way, on tokio (feature `io`): the
//! idle timer of a read loop, and the write pump that seals and sends queued records.
//!
//! They live here, behind a feature, rather than once in the SDK and once in the enclave: the pump's
//! batching (everything queued when it wakes goes out in one flush) and its seal-in-queue-order rule
//! are part of what the record layer's sequence numbers assume, and two copies had drifted apart.
//! Nothing here knows WebSockets: the pump writes to any `Sink` of the caller's message type, and the
//! caller says how a frame becomes one.
//!
//! Input: records queued by the session (trusted: the session's own), the peer's pace (untrusted: it
//! may stop reading). Output: frames on the sink, and why the pump stopped ([`PumpEnd`]).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures_util::{FutureExt as _, Sink, SinkExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Sleep};

use crate::idle::Idle;
use crate::record::{PlainRecord, RecordError};

/// The [`Idle`] period of a read loop on tokio's clock (which tests may pause).
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use enclave_protocol::io::IdleTimer;
/// use std::time::Duration;
///
/// let mut timer = IdleTimer::new(Duration::from_secs(5));
/// timer.touch(); // a record arrived
/// timer.expired().await; // nothing more for 5 s
/// # }
/// ```
#[derive(Debug)]
pub struct IdleTimer {
    sleep: Pin<Box<Sleep>>,
    idle: Idle,
}

impl IdleTimer {
    /// A timer whose first period starts now.
    pub fn new(period: Duration) -> Self {
        let now = Instant::now();
        Self { sleep: Box::pin(tokio::time::sleep_until(now + period)), idle: Idle::new(period, now.into_std()) }
    }

    /// The idle period.
    pub fn period(&self) -> Duration {
        self.idle.period()
    }

    /// Something arrived: the idle period starts again.
    pub fn touch(&mut self) {
        self.idle.touch(Instant::now().into_std());
    }

    /// Something happened at `at` that this loop did not see (another task's send, say): the period
    /// runs from `at`, even when that is before the check that just ended one, so activity elsewhere
    /// extends the period to exactly one period after it, never to a whole new one.
    pub fn touch_at(&mut self, at: Instant) {
        self.idle.touch(at.into_std());
        self.sleep.as_mut().reset(Instant::from_std(self.idle.deadline()));
    }

    /// Resolves once nothing has arrived for the idle period, and starts a new period. Cancel-safe.
    pub async fn expired(&mut self) {
        loop {
            self.sleep.as_mut().await;
            let now = Instant::now();
            if self.idle.check(now.into_std()) {
                self.sleep.as_mut().reset(now + self.idle.period());
                return;
            }
            self.sleep.as_mut().reset(Instant::from_std(self.idle.deadline()));
        }
    }
}

/// What a session queues for its writer, in the order it must go out.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outgoing {
    /// A record laid out in the clear; the pump seals it when its turn comes, so sequence numbers
    /// follow queue order.
    Record(PlainRecord),
    /// Everything queued before has been sent: close the sink, then acknowledge.
    Close(oneshot::Sender<()>),
    /// The session's last record (the enclave's `SessionError`, PROTOCOL.md section 5.4): sealed
    /// and sent after everything queued before it, then the sink is closed; nothing queued after it
    /// is ever sent, whoever still holds a sender.
    Last(PlainRecord),
}

/// Why [`write_pump`] returned.
#[derive(Debug)]
#[non_exhaustive]
pub enum PumpEnd<E> {
    /// Every sender is gone and the queue is empty.
    Drained,
    /// An [`Outgoing::Close`] was served: the sink was closed and the close acknowledged.
    Closed,
    /// The caller's `cancel` future resolved (the session is over).
    Cancelled,
    /// One write or flush waited longer than the stall bound: the peer accepts no bytes.
    Stalled(Duration),
    /// The sink failed.
    Sink(E),
    /// Sealing a record failed; nothing after it was sent.
    Seal(RecordError),
}

/// How [`write_pump`] writes: the sink, how a sealed frame becomes one of its messages, and the
/// bound on one write.
#[derive(Debug)]
pub struct PumpConfig<M> {
    /// Makes a sink message of one sealed frame (e.g. a WebSocket binary message).
    pub wrap: fn(Vec<u8>) -> M,
    /// A write or flush that waits longer ends the pump with [`PumpEnd::Stalled`]; `None` waits as
    /// long as `cancel` allows.
    pub stall: Option<Duration>,
}

/// Seals and sends queued records in queue order until the queue drains, a close is served, `cancel`
/// resolves, or a write fails or stalls. Everything queued when the pump wakes goes out with one flush:
/// concurrent invocations share a write instead of one each. `flushed` runs after each flush.
///
/// The pump does not close the sink on its way out (except for [`Outgoing::Close`]) or close the
/// queue: whether a stalled peer is worth a close is the caller's call.
pub async fn write_pump<M, S: Sink<M> + Unpin>(
    queue: &mut mpsc::Receiver<Outgoing>,
    sink: &mut S,
    mut seal: impl FnMut(PlainRecord) -> Result<Vec<u8>, RecordError>,
    config: &PumpConfig<M>,
    cancel: impl Future<Output = ()>,
    mut flushed: impl FnMut(),
) -> PumpEnd<S::Error> {
    tokio::pin!(cancel);
    loop {
        let item = tokio::select! {
            item = queue.recv() => item,
            () = &mut cancel => return PumpEnd::Cancelled,
        };
        let Some(mut item) = item else { return PumpEnd::Drained };
        loop {
            let (record, last) = match item {
                Outgoing::Record(record) => (record, false),
                Outgoing::Last(record) => (record, true),
                Outgoing::Close(ack) => {
                    let _ = bounded(config.stall, cancel.as_mut(), || sink.close()).await;
                    let _ = ack.send(());
                    return PumpEnd::Closed;
                }
            };
            let frame = match seal(record) {
                Ok(frame) => frame,
                Err(e) => return PumpEnd::Seal(e),
            };
            if let Err(end) = bounded(config.stall, cancel.as_mut(), || sink.feed((config.wrap)(frame))).await {
                return end;
            }
            if last {
                // Closing flushes what was fed; the queue is never read again.
                if let Err(end) = bounded(config.stall, cancel.as_mut(), || sink.close()).await {
                    return end;
                }
                flushed();
                return PumpEnd::Closed;
            }
            // Whatever else is queued already goes in the same flush. (Not `try_recv`: it parks the
            // thread while a send is half done, which costs more than the batch saves.)
            match queue.recv().now_or_never() {
                Some(Some(next)) => item = next,
                _ => break,
            }
        }
        if let Err(end) = bounded(config.stall, cancel.as_mut(), || sink.flush()).await {
            return end;
        }
        flushed();
    }
}

/// One write, bounded by `stall` and by `cancel` (checked first: a session that is over sends nothing
/// more). The write future is made here, in the branch that awaits it, so the pump's state holds one
/// of it (each pump is a task of its own per session, and its size is that session's cost).
async fn bounded<E, W: Future<Output = Result<(), E>>>(
    stall: Option<Duration>,
    cancel: Pin<&mut impl Future<Output = ()>>,
    write: impl FnOnce() -> W,
) -> Result<(), PumpEnd<E>> {
    match stall {
        None => tokio::select! {
            biased;
            () = cancel => Err(PumpEnd::Cancelled),
            r = write() => r.map_err(PumpEnd::Sink),
        },
        Some(limit) => tokio::select! {
            biased;
            () = cancel => Err(PumpEnd::Cancelled),
            r = tokio::time::timeout(limit, write()) => match r {
                Ok(r) => r.map_err(PumpEnd::Sink),
                Err(_) => Err(PumpEnd::Stalled(limit)),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{client_setup, ClientMessage, EnclaveKey, Frame, FrameLimits};
    use std::task::{Context, Poll};

    /// A sink that keeps what it is sent, or (`stuck`) accepts nothing, like a peer that stopped reading.
    #[derive(Default)]
    struct TestSink {
        sent: Vec<Vec<u8>>,
        closed: bool,
        stuck: bool,
    }

    impl Sink<Vec<u8>> for TestSink {
        type Error = std::convert::Infallible;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            if self.stuck {
                Poll::Pending
            } else {
                Poll::Ready(Ok(()))
            }
        }
        fn start_send(mut self: Pin<&mut Self>, item: Vec<u8>) -> Result<(), Self::Error> {
            self.sent.push(item);
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.poll_ready(cx)
        }
        fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            self.closed = true;
            Poll::Ready(Ok(()))
        }
    }

    fn sealer() -> (crate::RequestSealer, crate::RequestOpener) {
        let key = EnclaveKey::generate(&mut rand_core::OsRng);
        let (enc, sealer, _) = client_setup(&key.public_key(), b"t", &mut rand_core::OsRng).unwrap();
        (sealer, key.accept(&enc, b"t").unwrap().0)
    }

    /// Records go out sealed in queue order, those queued together in one flush, and a close is
    /// served after everything before it.
    #[tokio::test]
    async fn records_go_out_in_queue_order_and_close_last() {
        let (mut s, mut opener) = sealer();
        let (tx, mut queue) = mpsc::channel(8);
        for id in 1..=3 {
            tx.send(Outgoing::Record(ClientMessage::InputEnd { id }.to_record())).await.unwrap();
        }
        let (ack, acked) = oneshot::channel();
        tx.send(Outgoing::Close(ack)).await.unwrap();
        let mut sink = TestSink::default();
        let mut flushes = 0;
        let config = PumpConfig { wrap: |f| f, stall: None };
        let end =
            write_pump(&mut queue, &mut sink, |r| s.seal(r), &config, std::future::pending(), || flushes += 1).await;
        assert!(matches!(end, PumpEnd::Closed), "{end:?}");
        assert_eq!(acked.await, Ok(()));
        assert_eq!(flushes, 0, "the close came in the same batch, and closing flushes");
        assert_eq!(sink.sent.len(), 3);
        for (id, frame) in (1..=3).zip(&sink.sent) {
            let Ok(Frame::Record(body)) = Frame::decode(frame, &FrameLimits::default()) else { panic!() };
            assert_eq!(ClientMessage::decode(&opener.open(body).unwrap()), Ok(ClientMessage::InputEnd { id }));
        }
        assert!(sink.closed);
    }

    /// A last record goes out after what was queued before it, the sink is closed, and what is queued
    /// after it is never sent.
    #[tokio::test]
    async fn nothing_follows_a_last_record() {
        let (mut s, mut opener) = sealer();
        let (tx, mut queue) = mpsc::channel(8);
        tx.send(Outgoing::Record(ClientMessage::InputEnd { id: 1 }.to_record())).await.unwrap();
        tx.send(Outgoing::Last(ClientMessage::InputEnd { id: 2 }.to_record())).await.unwrap();
        tx.send(Outgoing::Record(ClientMessage::InputEnd { id: 3 }.to_record())).await.unwrap();
        let mut sink = TestSink::default();
        let config = PumpConfig { wrap: |f| f, stall: None };
        let end = write_pump(&mut queue, &mut sink, |r| s.seal(r), &config, std::future::pending(), || ()).await;
        assert!(matches!(end, PumpEnd::Closed), "{end:?}");
        assert!(sink.closed);
        assert_eq!(sink.sent.len(), 2);
        for (id, frame) in (1..=2).zip(&sink.sent) {
            let Ok(Frame::Record(body)) = Frame::decode(frame, &FrameLimits::default()) else { panic!() };
            assert_eq!(ClientMessage::decode(&opener.open(body).unwrap()), Ok(ClientMessage::InputEnd { id }));
        }
    }

    /// A peer that accepts nothing ends the pump after the stall bound, or when the caller cancels.
    #[tokio::test(start_paused = true)]
    async fn a_stalled_peer_ends_the_pump() {
        let (mut s, _) = sealer();
        let (tx, mut queue) = mpsc::channel(8);
        tx.send(Outgoing::Record(ClientMessage::Close.to_record())).await.unwrap();
        let mut sink = TestSink { stuck: true, ..TestSink::default() };
        let config = PumpConfig { wrap: |f| f, stall: Some(Duration::from_secs(7)) };
        let end = write_pump(&mut queue, &mut sink, |r| s.seal(r), &config, std::future::pending(), || ()).await;
        assert!(matches!(end, PumpEnd::Stalled(d) if d == Duration::from_secs(7)), "{end:?}");

        tx.send(Outgoing::Record(ClientMessage::Close.to_record())).await.unwrap();
        let config = PumpConfig { wrap: |f| f, stall: None };
        let cancel = tokio::time::sleep(Duration::from_secs(3));
        let end = write_pump(&mut queue, &mut sink, |r| s.seal(r), &config, cancel, || ()).await;
        assert!(matches!(end, PumpEnd::Cancelled), "{end:?}");
        drop(tx);
        sink.stuck = false;
        let end = write_pump(&mut queue, &mut sink, |r| s.seal(r), &config, std::future::pending(), || ()).await;
        assert!(matches!(end, PumpEnd::Drained), "{end:?}");
        assert!(sink.sent.is_empty() && !sink.closed, "nothing was sent, and the pump leaves closing to its caller");
    }
}
