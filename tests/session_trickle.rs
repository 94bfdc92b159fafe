//! Hostile timing: an enclave (here, a relay in front of the mock) that trickles its bytes, one every
//! few milliseconds, so that something always arrives but no message ever completes in time. The
//! client's timeouts are deadlines on whole messages, not on bytes: it returns the specific limit error
//! instead of hanging, and the enclave goes on serving every other session.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use enclave_sdk::error::{LimitError, Wait};
use enclave_sdk::{Client, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The pause between two trickled bytes.
const GAP: Duration = Duration::from_millis(10);

/// A TCP relay to `upstream` that passes the client's bytes as they come and, while `slow` is set,
/// the enclave's bytes one at a time, `GAP` apart.
async fn trickling_relay(upstream: SocketAddr) -> (SocketAddr, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let slow = Arc::new(AtomicBool::new(false));
    let flag = slow.clone();
    tokio::spawn(async move {
        while let Ok((down, _)) = listener.accept().await {
            down.set_nodelay(true).unwrap();
            let up = tokio::net::TcpStream::connect(upstream).await.unwrap();
            let (mut down_read, mut down_write) = down.into_split();
            let (mut up_read, mut up_write) = up.into_split();
            tokio::spawn(async move { tokio::io::copy(&mut down_read, &mut up_write).await });
            let slow = flag.clone();
            tokio::spawn(async move {
                let mut buf = vec![0; 16 * 1024];
                while let Ok(n) = up_read.read(&mut buf).await {
                    let Some(bytes) = buf.get(..n).filter(|b| !b.is_empty()) else { break };
                    if slow.load(Ordering::SeqCst) {
                        for byte in bytes {
                            if down_write.write_all(&[*byte]).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(GAP).await;
                        }
                    } else if down_write.write_all(bytes).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, slow)
}

#[tokio::test]
async fn a_trickled_handshake_ends_at_the_handshake_deadline() {
    let mock = mock().await;
    let (relay, slow) = trickling_relay(mock.local_addr()).await;
    slow.store(true, Ordering::SeqCst);
    let timeout = Duration::from_millis(300);
    let client = Client::builder()
        .endpoint(format!("ws://{relay}"))
        .policy(pinned(&mock, "echo").build().unwrap())
        .handshake_timeout(timeout)
        .build()
        .unwrap();
    // The upgrade response alone is over a hundred bytes: more than a second at this pace.
    let err = tokio::time::timeout(Duration::from_secs(10), client.connect("echo"))
        .await
        .expect("the client hung on a trickling enclave")
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err, Error::Limit(LimitError::Timeout { wait: Wait::Upgrade, after: timeout }));

    // The enclave is not held up by it: a direct client attests and invokes meanwhile.
    let session = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    assert_eq!(session.invoke(b"still serving").await.unwrap(), b"still serving");
    assert_eq!(mock.stats().key_shares, 1, "only the direct client got as far as a key share");
}

#[tokio::test]
async fn a_trickled_answer_ends_at_the_idle_deadline_and_the_session_is_over() {
    let mock = mock().await;
    let (relay, slow) = trickling_relay(mock.local_addr()).await;
    // Long enough that a loaded CI machine does not trip it on the fast invocation first.
    let idle = Duration::from_millis(500);
    let client = Client::builder()
        .endpoint(format!("ws://{relay}"))
        .policy(pinned(&mock, "echo").build().unwrap())
        .idle_timeout(idle)
        .build()
        .unwrap();
    let session = client.connect("echo").await.unwrap();
    assert_eq!(session.invoke(b"fast").await.unwrap(), b"fast");

    // From now on a byte arrives every 10 ms, but a 1 KiB answer's record takes over 10 s to complete.
    slow.store(true, Ordering::SeqCst);
    let err = tokio::time::timeout(Duration::from_secs(10), session.invoke(&[7; 1024]))
        .await
        .expect("the client hung on a trickling enclave")
        .unwrap_err();
    assert_eq!(err, Error::Limit(LimitError::IdleTimeout(idle)));
    // The session has ended, and says why to every later call.
    assert_eq!(session.invoke(b"again").await.unwrap_err(), Error::Limit(LimitError::IdleTimeout(idle)));

    // The enclave served the invocation (only its answer was slowed) and serves others meanwhile.
    let other = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    assert_eq!(other.invoke(b"still serving").await.unwrap(), b"still serving");
    assert_eq!(mock.stats().invocations, 3);
}
