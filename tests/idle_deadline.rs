//! The client's idle deadline is the one its message names (issue 17: a frozen enclave held a caller for
//! two periods while the error said one). On tokio's paused clock, so the test waits for nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use enclave_sdk::error::LimitError;
use enclave_sdk::Error;

/// A session to `function` at `url` (the mock's, or a proxy's in front of it), pinned to `mock`,
/// whose client gives up after `idle` without a record.
async fn session_idle_after(
    mock: &mock_enclave::MockEnclave,
    url: String,
    function: &str,
    idle: Duration,
) -> enclave_sdk::Session {
    let policy = pinned(mock, function).build().unwrap();
    let client = enclave_sdk::Client::builder().endpoint(url).policy(policy).idle_timeout(idle).build().unwrap();
    client.connect(function).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn an_enclave_that_stops_answering_times_out_one_idle_period_after_the_last_send() {
    let mock = mock().await;
    let idle = Duration::from_secs(5);
    let session = session_idle_after(&mock, mock.url(), "sleep-ms", idle).await;
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
    let session = session_idle_after(&mock, mock.url(), "echo", idle).await;
    // More output chunks than the reader buffers per invocation (16), each taken after 6 s.
    let input = vec![7u8; 24 * enclave_protocol::MAX_CHUNK_LEN];
    let mut output = SlowSink { pause: Duration::from_secs(6), wait: None, written: 0 };
    let received = session.invoke_stream(&input[..], &mut output, |_| {}).await.unwrap();
    assert_eq!((received, output.written), (input.len() as u64, input.len()));
}

/// Frames the client reads and skips (pings) are not records: a flood of them, which on `ws://`
/// anyone on the path can inject, must not hold a waiting caller past its idle timeout. A TCP proxy
/// forwards both ways and, once the enclave has gone quiet (`sleep-ms`), writes unmasked pings
/// (`0x89 0x00`) to the client as fast as it can. (With the reader's select biased towards the
/// socket, the call was still waiting after 5 s, once after 15: an outside review's probe.) On the
/// real clock: a paused one never advances while the flood keeps the runtime busy.
#[tokio::test]
async fn a_flood_of_pings_does_not_hold_a_caller_past_its_idle_timeout() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mock = mock().await;
    let upstream = mock.local_addr();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
        let ((mut client_r, mut client_w), (mut server_r, mut server_w)) = (client.into_split(), server.into_split());
        tokio::spawn(async move { tokio::io::copy(&mut client_r, &mut server_w).await });
        // Forward the enclave's bytes until it has been quiet for 300 ms (the invocation sleeps),
        // then flood: nothing of the enclave's is in flight, so no frame is split.
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match tokio::time::timeout(Duration::from_millis(300), server_r.read(&mut buf)).await {
                Ok(Ok(n @ 1..)) => client_w.write_all(&buf[..n]).await.unwrap(),
                Ok(_) => return,
                Err(_) => break,
            }
        }
        let pings = [0x89u8, 0x00].repeat(32 << 10);
        while client_w.write_all(&pings).await.is_ok() {}
    });
    let idle = Duration::from_secs(1);
    let session = session_idle_after(&mock, url, "sleep-ms", idle).await;
    let waited = tokio::time::timeout(Duration::from_secs(5), session.invoke(b"20000")).await;
    let err = waited.expect("still waiting 5 s into a 1 s idle timeout").unwrap_err();
    assert_eq!(err, Error::Limit(LimitError::IdleTimeout(idle)));
}
