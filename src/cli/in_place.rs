//! Regular files, read and written in place on the `enclave` process's one runtime thread.
//!
//! tokio's `fs::File` and `io::stdout` hand each read and write to a thread of tokio's blocking pool:
//! the first starts that thread, and each one after it is a hop there and back (`main` does not join
//! the thread at exit: a read of stdin may never end). For `enclave run`, a process that makes one
//! call, that was 0.2-0.4 ms of a 6 ms run (when the runtime still joined the thread at exit) when no
//! file and no stdout went through it (measured with
//! `scripts/bench_peers.py`); stdout on a pipe still starts that thread. A read or write of a regular file waits
//! only for the disk, so it is made in place; while it runs, the session's reader and writer wait (the
//! runtime has one thread, see `main`), which on a network file system that stalls for long can end the
//! session the way a stalled input does. Pipes, terminals, FIFOs and stdin can wait on another process
//! or a person for any time and stay on tokio's thread (see `run`): in place, a paused reader of the
//! output would stop the whole session until the enclave ended it.

use std::io::{ErrorKind, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A `Read` or `Write` used as tokio's `AsyncRead` or `AsyncWrite` by calling it directly: every poll
/// is ready, after the call returns.
pub(crate) struct InPlace<T>(pub(crate) T);

impl<T: Read + Unpin> AsyncRead for InPlace<T> {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let n = loop {
            match this.0.read(buf.initialize_unfilled()) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                other => break other?,
            }
        };
        buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<T: Write + Unpin> AsyncWrite for InPlace<T> {
    fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        loop {
            match this.0.write(data) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                other => return Poll::Ready(other),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(self.get_mut().0.flush())
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(flavor = "current_thread")]
    async fn reads_and_writes_what_the_inner_reader_and_writer_do() {
        let mut input = InPlace(&b"attested"[..]);
        let mut first = [0u8; 3];
        input.read_exact(&mut first).await.unwrap();
        let mut rest = Vec::new();
        input.read_to_end(&mut rest).await.unwrap();
        assert_eq!((&first[..], &rest[..]), (&b"att"[..], &b"ested"[..]));

        let mut output = InPlace(Vec::new());
        output.write_all(b"out").await.unwrap();
        output.shutdown().await.unwrap();
        assert_eq!(output.0, b"out");
    }

    /// A reader that fails once with EINTR, as a read interrupted by a signal does.
    struct InterruptedOnce(bool);

    impl Read for InterruptedOnce {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if std::mem::replace(&mut self.0, false) {
                return Err(ErrorKind::Interrupted.into());
            }
            buf[0] = 7;
            Ok(1)
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_interrupted_read_is_retried_and_other_errors_are_returned() {
        let mut b = [0u8; 1];
        InPlace(InterruptedOnce(true)).read_exact(&mut b).await.unwrap();
        assert_eq!(b, [7]);
        let err = InPlace(std::fs::File::open("/").unwrap()).read(&mut b).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IsADirectory);
    }
}
