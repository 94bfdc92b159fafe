//! Holding an upgraded connection's first bytes back, so that the upgrade response and the
//! session's first message leave in one write: a native session's `101` and its document (one TCP
//! segment on `ws://`, one TLS record on `wss://`, instead of two of each, with a wake of the client
//! between them).
//!
//! Input: the bytes the WebSocket layer writes (ours: the upgrade response, then frames). Output:
//! the same bytes in the same order to the inner stream. While [`Cork::hold`] is on, writes are kept
//! here and a flush sends nothing; once it is released, the next flush writes what was kept
//! together with whatever was written after it. Only the upgrade's check turns the hold on (for an
//! accepted native upgrade), so a refusal is never held; the native session releases it when its
//! document is ready, or before it waits for its attestation turn. This module decides nothing.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes kept back: an upgrade response is a few hundred bytes (its headers are ours), and
/// the session's first message is at most one frame. Past this the hold ends early, so nothing
/// written here can grow without bound.
const MAX_HELD: usize = 64 * 1024;

/// Turns the hold of one [`Corked`] stream on or off (shared with the upgrade's callback, which
/// cannot reach the stream itself).
#[derive(Debug, Clone, Default)]
pub(crate) struct Cork(Arc<AtomicBool>);

impl Cork {
    /// Keep writes back from now on (until [`release`](Self::release)).
    pub(crate) fn hold(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// The next flush writes what was kept.
    pub(crate) fn release(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    fn holding(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A stream whose writes can be held back (see the module).
#[derive(Debug)]
pub(crate) struct Corked<S> {
    inner: S,
    cork: Cork,
    /// What was written while holding (and, once released, after it) and is not yet on `inner`.
    held: Vec<u8>,
    /// How much of `held` has reached `inner`.
    sent: usize,
}

impl<S> Corked<S> {
    /// `inner`, holding its writes while `cork` says so.
    pub(crate) fn new(inner: S, cork: Cork) -> Self {
        Self { inner, cork, held: Vec::new(), sent: 0 }
    }
}

impl<S: AsyncWrite + Unpin> Corked<S> {
    /// Writes what is held to `inner` (not flushing it); afterwards writes pass straight through.
    fn poll_send_held(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(rest) = self.held.get(self.sent..).filter(|r| !r.is_empty()) {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, rest))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent = self.sent.saturating_add(n);
        }
        self.held = Vec::new();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Corked<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Corked<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let holding = this.cork.holding();
        if holding || !this.held.is_empty() {
            if this.held.len().saturating_add(buf.len()) <= MAX_HELD {
                // Released but not yet flushed: this write joins what is held, in order.
                this.held.extend_from_slice(buf);
                return Poll::Ready(Ok(buf.len()));
            }
            this.cork.release();
            ready!(this.poll_send_held(cx))?;
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if this.cork.holding() {
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_send_held(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A connection closed while holding closes without what was held (its session ended before
        // its first message: the client learns it from the close).
        let this = &mut *self;
        if !this.cork.holding() {
            ready!(this.poll_send_held(cx))?;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    #[tokio::test]
    async fn held_writes_leave_with_the_first_write_after_the_release() {
        let (client, server) = tokio::io::duplex(1 << 20);
        let cork = Cork::default();
        let mut corked = Corked::new(server, cork.clone());
        let mut client = client;
        cork.hold();
        corked.write_all(b"HTTP/1.1 101\r\n\r\n").await.unwrap();
        corked.flush().await.unwrap();
        let mut byte = [0u8; 1];
        let early = tokio::time::timeout(std::time::Duration::from_millis(20), client.read(&mut byte)).await;
        assert!(early.is_err(), "a held write reached the peer before the release");
        cork.release();
        corked.write_all(b"document").await.unwrap();
        corked.flush().await.unwrap();
        let mut got = vec![0u8; 16 + 8];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"HTTP/1.1 101\r\n\r\ndocument");
        // Then writes pass straight through.
        corked.write_all(b"more").await.unwrap();
        corked.flush().await.unwrap();
        let mut more = [0u8; 4];
        client.read_exact(&mut more).await.unwrap();
        assert_eq!(&more, b"more");
    }

    #[tokio::test]
    async fn without_a_hold_nothing_waits_for_a_release() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let mut corked = Corked::new(server, Cork::default());
        let refusal = b"HTTP/1.1 401\r\n\r\n";
        corked.write_all(refusal).await.unwrap();
        corked.flush().await.unwrap();
        let mut got = vec![0u8; refusal.len()];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, refusal);
    }

    /// Past the bound the hold ends and what was held goes first: holding never grows without bound.
    #[tokio::test]
    async fn a_hold_past_its_bound_sends_in_order_instead_of_growing() {
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let cork = Cork::default();
        let mut corked = Corked::new(server, cork.clone());
        cork.hold();
        corked.write_all(b"head").await.unwrap();
        let big = vec![7u8; MAX_HELD];
        corked.write_all(&big).await.unwrap();
        corked.flush().await.unwrap();
        let mut got = vec![0u8; 4 + MAX_HELD];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got.get(..4), Some(&b"head"[..]));
        assert!(got.get(4..).unwrap().iter().all(|b| *b == 7));
    }
}
