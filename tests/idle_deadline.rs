//! The client's idle deadline is the one its message names (issue 17: a frozen enclave held a caller for
//! two periods while the error said one). On tokio's paused clock, so the test waits for nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use enclave_sdk::error::LimitError;
use enclave_sdk::Error;

#[tokio::test(start_paused = true)]
async fn an_enclave_that_stops_answering_times_out_one_idle_period_after_the_last_send() {
    let mock = mock().await;
    let idle = Duration::from_secs(5);
    let policy = pinned(&mock, "sleep-ms").build().unwrap();
    let client = enclave_sdk::Client::builder().endpoint(mock.url()).policy(policy).idle_timeout(idle).build().unwrap();
    let session = client.connect("sleep-ms").await.unwrap();
    // The last record from the enclave (its handshake) is 3 s old when the input goes out, so the
    // timer's first check, at 5 s, finds the send 2 s old: the deadline is then 5 s after the send,
    // not 5 s after that check.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The enclave goes quiet for 20 s: the client must give up 5 s after its input went out.
    let sent = tokio::time::Instant::now();
    let err = session.invoke(b"20000").await.unwrap_err();
    let waited = sent.elapsed();
    assert_eq!(err, Error::Limit(LimitError::IdleTimeout(idle)));
    assert!(
        waited >= idle && waited < idle + Duration::from_secs(1),
        "gave up after {waited:?}, the message says {idle:?}"
    );
}

/// Writes everything it is given, after `pause` each time: a consumer slower than the idle timeout.
struct SlowSink {
    pause: Duration,
    wait: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    written: usize,
}

impl tokio::io::AsyncWrite for SlowSink {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let pause = self.pause;
        let wait = self.wait.get_or_insert_with(|| Box::pin(tokio::time::sleep(pause)));
        std::task::ready!(std::future::Future::poll(wait.as_mut(), cx));
        self.wait = None;
        self.written += buf.len();
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// A caller that takes each output chunk more slowly than the idle timeout (a paused pager, a slow
/// pipe) is not an idle enclave: the reader, waiting for the caller to take a chunk, did not count
/// that wait as the enclave's silence, and a record already there wins over a timer that ran out
/// meanwhile. Before, the session failed with `IdleTimeout` once the reader was a full buffer ahead.
#[tokio::test(start_paused = true)]
async fn a_caller_slower_than_the_idle_timeout_keeps_its_invocation() {
    let mock = mock().await;
    let idle = Duration::from_secs(5);
    let policy = pinned(&mock, "echo").build().unwrap();
    let client = enclave_sdk::Client::builder().endpoint(mock.url()).policy(policy).idle_timeout(idle).build().unwrap();
    let session = client.connect("echo").await.unwrap();
    // More output chunks than the reader buffers per invocation (16), each taken after 6 s.
    let input = vec![7u8; 24 * enclave_protocol::MAX_CHUNK_LEN];
    let mut output = SlowSink { pause: Duration::from_secs(6), wait: None, written: 0 };
    let received = session.invoke_stream(&input[..], &mut output, |_| {}).await.unwrap();
    assert_eq!((received, output.written), (input.len() as u64, input.len()));
}
