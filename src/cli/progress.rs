//! The progress line of `enclave run` on stderr, drawn by `indicatif`.
//!
//! Drawn only when stderr is a terminal; total, rate and ETA when the input's size is known. When
//! stdout is that terminal too, the line is cleared before the first byte of output, so it can never
//! overwrite output that does not end in a newline (a digest, say); at the end it is cleared, leaving
//! nothing behind.

use std::io::IsTerminal;
use std::pin::Pin;
use std::task::{Context, Poll};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::io::AsyncWrite;

/// One invocation's progress line.
pub(crate) struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A line for an input of `total` bytes (`None`: unknown, e.g. stdin); hidden unless stderr is a
    /// terminal.
    pub(crate) fn new(total: Option<u64>) -> Self {
        let target =
            if std::io::stderr().is_terminal() { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        Self::with_target(total, target)
    }

    fn with_target(total: Option<u64>, target: ProgressDrawTarget) -> Self {
        let bar = ProgressBar::with_draw_target(total, target);
        let template = match total {
            Some(_) => "sent {bytes} of {total_bytes} ({binary_bytes_per_sec}, ETA {eta}) {wide_bar}",
            None => "{spinner} sent {bytes} ({binary_bytes_per_sec})",
        };
        // The templates are constants; a template indicatif refused would leave its default style.
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        Self { bar }
    }

    /// From the SDK's progress callback: input bytes sent so far.
    pub(crate) fn update(&self, sent: u64) {
        // A file that grows while it is read is larger than its size at open: never "8 MiB of 7 MiB".
        if self.bar.length().is_some_and(|len| sent > len) {
            self.bar.set_length(sent);
        }
        self.bar.set_position(sent);
    }

    /// Wraps the output so the line is cleared before the first byte reaches `output` (when stdout
    /// shares the terminal with the line).
    pub(crate) fn clear_before<W: AsyncWrite + Unpin>(&self, output: W, same_terminal: bool) -> ClearBefore<W> {
        ClearBefore { inner: output, bar: same_terminal.then(|| self.bar.clone()) }
    }

    /// Clears the line.
    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// An output that clears a progress line before its first write.
pub(crate) struct ClearBefore<W> {
    inner: W,
    bar: Option<ProgressBar>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for ClearBefore<W> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        if let Some(bar) = self.bar.take() {
            // Synchronous on stderr: the line is gone before these bytes are handed to stdout.
            bar.finish_and_clear();
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn the_total_grows_with_a_growing_file_and_never_reads_less_than_sent() {
        let progress = Progress::with_target(Some(7 << 20), ProgressDrawTarget::hidden());
        progress.update(3 << 20);
        assert_eq!((progress.bar.position(), progress.bar.length()), (3 << 20, Some(7 << 20)));
        progress.update(8 << 20);
        assert_eq!((progress.bar.position(), progress.bar.length()), (8 << 20, Some(8 << 20)));
        let unknown = Progress::with_target(None, ProgressDrawTarget::hidden());
        unknown.update(5);
        assert_eq!((unknown.bar.position(), unknown.bar.length()), (5, None));
    }

    #[tokio::test]
    async fn the_line_is_cleared_before_the_first_output_byte() {
        let progress = Progress::with_target(Some(10), ProgressDrawTarget::hidden());
        let mut out = progress.clear_before(Vec::new(), true);
        assert!(!progress.bar.is_finished());
        out.write_all(b"digest").await.unwrap();
        assert!(progress.bar.is_finished());
        assert_eq!(out.inner, b"digest");
        // Output to a file or a pipe leaves the line running until the end.
        let progress = Progress::with_target(Some(10), ProgressDrawTarget::hidden());
        let mut out = progress.clear_before(Vec::new(), false);
        out.write_all(b"x").await.unwrap();
        assert!(!progress.bar.is_finished());
    }
}
