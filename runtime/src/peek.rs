//! Which protocol a connection asks for, read from its upgrade request *before* the WebSocket layer
//! reads it, so that the WebSocket's message bound can be the protocol's own: one native frame, or
//! one whole Cape invocation (which pycape sends as a single message of up to its whole input).
//!
//! Input: the first bytes of an untrusted connection, at most [`MAX_HEAD`], within the caller's
//! timeout. Output: the offered protocol (native preferred, as `upgrade::check` prefers it) and a
//! stream that replays what was read. The request is parsed by `httparse` (what tungstenite itself
//! parses it with); this module only picks a size bound. Whether the connection gets a session, and
//! in which protocol, is still `upgrade::check`'s decision, and the server refuses a session whose
//! chosen protocol is not the one peeked here.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use enclave_protocol::PROTOCOL_LABEL;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

use crate::session::cape::CAPE_SUBPROTOCOL;
use crate::upgrade::Wire;

/// The most request head read before the upgrade (tungstenite refuses longer heads too).
pub(crate) const MAX_HEAD: usize = 8 * 1024;
const MAX_HEADERS: usize = 64;

/// A stream that first yields the bytes already read from it.
#[derive(Debug)]
pub(crate) struct Replay<S> {
    head: Vec<u8>,
    at: usize,
    inner: S,
}

/// Reads `stream` until the end of the request head; returns the protocol it offers (None: neither,
/// or not a request: the upgrade will refuse it) and the stream to hand to the WebSocket layer.
pub(crate) async fn peek_wire<S: AsyncRead + Unpin>(mut stream: S) -> io::Result<(Option<Wire>, Replay<S>)> {
    let mut head = Vec::with_capacity(1024);
    let wire = loop {
        let mut buf = [0u8; 1024];
        let room = MAX_HEAD.saturating_sub(head.len()).min(buf.len());
        let n = match buf.get_mut(..room) {
            Some(b) if !b.is_empty() => stream.read(b).await?,
            _ => break None,
        };
        if n == 0 {
            break None;
        }
        head.extend_from_slice(buf.get(..n).unwrap_or_default());
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&head) {
            Ok(httparse::Status::Complete(_)) => break offered(request.headers),
            Ok(httparse::Status::Partial) => continue,
            Err(_) => break None,
        }
    };
    Ok((wire, Replay { head, at: 0, inner: stream }))
}

fn offered(headers: &[httparse::Header<'_>]) -> Option<Wire> {
    let entries = headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("Sec-WebSocket-Protocol"))
        .filter_map(|h| std::str::from_utf8(h.value).ok())
        .flat_map(|v| v.split(','))
        .map(str::trim);
    let mut wire = None;
    for entry in entries {
        if entry == PROTOCOL_LABEL {
            return Some(Wire::Native);
        }
        if entry == CAPE_SUBPROTOCOL {
            wire = Some(Wire::Cape);
        }
    }
    wire
}

impl<S: AsyncRead + Unpin> AsyncRead for Replay<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let Some(rest) = this.head.get(this.at..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(rest.get(..n).unwrap_or_default());
            this.at += n;
            if this.at == this.head.len() {
                this.head = Vec::new();
                this.at = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replay<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_offered_protocol_is_read_and_every_byte_replayed() {
        let request = b"GET /v1/run/echo HTTP/1.1\r\nHost: x\r\nSec-WebSocket-Protocol: cape.runtime, tok\r\n\r\nafter";
        let (wire, mut replay) = peek_wire(&request[..]).await.unwrap();
        assert_eq!(wire, Some(Wire::Cape));
        let mut all = Vec::new();
        replay.read_to_end(&mut all).await.unwrap();
        assert_eq!(all, request);

        let both = b"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: cape.runtime\r\nsec-websocket-protocol: enclave-session.v3\r\n\r\n";
        assert_eq!(peek_wire(&both[..]).await.unwrap().0, Some(Wire::Native));
        assert_eq!(peek_wire(&b"GET / HTTP/1.1\r\n\r\n"[..]).await.unwrap().0, None);
        assert_eq!(peek_wire(&b"not http at all\r\n\r\n"[..]).await.unwrap().0, None);
        // A head that never ends stops at MAX_HEAD.
        let endless = vec![b'a'; MAX_HEAD * 2];
        let (wire, mut replay) = peek_wire(&endless[..]).await.unwrap();
        assert_eq!(wire, None);
        let mut all = Vec::new();
        replay.read_to_end(&mut all).await.unwrap();
        assert_eq!(all.len(), MAX_HEAD * 2);
    }
}
