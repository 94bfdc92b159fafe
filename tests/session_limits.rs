//! Limits on both sides produce their specific errors, and the other sessions keep working.

#![allow(clippy::unwrap_used, clippy::expect_used)] // helpers outside #[test] fns assert too

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use enclave_protocol::WireError;
use enclave_sdk::error::{ConnectError, LimitError, SessionError, Wait};
use enclave_sdk::{Client, Error};

#[tokio::test]
async fn enclave_in_flight_limit() {
    let mock = mock_with(|l| l.max_in_flight = 2).await;
    let session = Arc::new(pinned_client(&mock, "sleep-ms").connect("sleep-ms").await.unwrap());
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let s = session.clone();
            tokio::spawn(async move { s.invoke(b"300").await })
        })
        .collect();
    let mut errors = Vec::new();
    for c in calls {
        if let Err(e) = c.await.unwrap() {
            errors.push(e);
        }
    }
    assert!(errors.contains(&Error::Limit(LimitError::EnclaveInFlight { max: 2 })), "{errors:?}");
    // Another session is unaffected.
    let other = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    assert_eq!(other.invoke(b"fine").await.unwrap(), b"fine");
}

#[tokio::test]
async fn client_in_flight_limit_waits_instead_of_failing() {
    let mock = mock_with(|l| l.max_in_flight = 2).await;
    let c = Client::builder()
        .endpoint(mock.url())
        .policy(pinned(&mock, "sleep-ms").build().unwrap())
        .max_in_flight(2)
        .build()
        .unwrap();
    let session = Arc::new(c.connect("sleep-ms").await.unwrap());
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let s = session.clone();
            tokio::spawn(async move { s.invoke(b"20").await })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.unwrap().unwrap(), b"");
    }
}

#[tokio::test]
async fn enclave_session_limit() {
    let mock = mock_with(|l| l.max_sessions = 1).await;
    let c = pinned_client(&mock, "echo");
    let first = c.connect("echo").await.unwrap();
    assert_eq!(c.connect("echo").await.unwrap_err(), Error::Connect(ConnectError::Http { status: 503 }));
    assert_eq!(first.invoke(b"still here").await.unwrap(), b"still here");
    first.close().await.unwrap();
    // The slot frees once the session has ended on the enclave's side.
    let mut again = c.connect("echo").await;
    for _ in 0..50 {
        if again.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        again = c.connect("echo").await;
    }
    assert_eq!(again.unwrap().invoke(b"next").await.unwrap(), b"next");
}

#[tokio::test]
async fn client_handshake_timeout_against_a_silent_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let (_sock, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let mock = mock().await;
    let c = Client::builder()
        .endpoint(format!("ws://{addr}"))
        .policy(pinned(&mock, "echo").build().unwrap())
        .handshake_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let err = c.connect("echo").await.unwrap_err();
    // It accepted the connection and never answered the upgrade: the error says so.
    assert_eq!(err, Error::Limit(LimitError::Timeout { wait: Wait::Upgrade, after: Duration::from_millis(200) }));
    hold.abort();
}

#[tokio::test]
async fn enclave_handshake_timeout_closes_a_silent_client() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mock = mock_with(|l| l.handshake_timeout = Duration::from_millis(200)).await;
    let mut req = format!("{}/v1/run/echo", mock.url()).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "enclave-session.v3".parse().unwrap());
    let nonce = enclave_protocol::Nonce::from_bytes([0x42; 32]).to_header_value();
    req.headers_mut().insert(enclave_protocol::NONCE_HEADER, nonce.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    // The document comes unasked, right after the upgrade.
    let first = tokio::time::timeout(Duration::from_secs(3), ws.next()).await.expect("no document");
    assert!(matches!(first, Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(_)))), "{first:?}");
    // Send no key share: the enclave must give up on its own.
    let end = tokio::time::timeout(Duration::from_secs(3), ws.next()).await.expect("enclave kept a silent client");
    assert!(!matches!(end, Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(_)))), "{end:?}");
    let st = mock.stats();
    assert_eq!((st.documents, st.key_shares), (1, 0), "{st:?}");
}

#[tokio::test]
async fn enclave_idle_timeout() {
    let mock = mock_with(|l| l.idle_timeout = Duration::from_secs(1)).await;
    let session = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    assert_eq!(session.invoke(b"a").await.unwrap(), b"a");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(session.invoke(b"b").await.unwrap_err(), Error::Limit(LimitError::EnclaveIdle { secs: 1 }));
}

#[tokio::test]
async fn client_idle_timeout() {
    let mock = mock().await;
    let c = Client::builder()
        .endpoint(mock.url())
        .policy(pinned(&mock, "sleep-ms").build().unwrap())
        .idle_timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let session = c.connect("sleep-ms").await.unwrap();
    let err = session.invoke(b"1000").await.unwrap_err();
    assert_eq!(err, Error::Limit(LimitError::IdleTimeout(Duration::from_millis(100))));
}

#[tokio::test]
async fn output_bound_of_invoke_and_the_session_goes_on() {
    let mock = mock().await;
    let c = Client::builder()
        .endpoint(mock.url())
        .policy(pinned(&mock, "echo").build().unwrap())
        .max_output_len(10)
        .build()
        .unwrap();
    let session = c.connect("echo").await.unwrap();
    assert_eq!(session.invoke(&[7; 11]).await.unwrap_err(), Error::Limit(LimitError::OutputTooLarge { max: 10 }));
    assert_eq!(session.invoke(&[7; 10]).await.unwrap(), [7; 10]);
}

#[tokio::test]
async fn document_size_bound() {
    let mock = mock().await;
    let c = Client::builder()
        .endpoint(mock.url())
        .policy(pinned(&mock, "echo").build().unwrap())
        .max_document_len(512)
        .build()
        .unwrap();
    let err = c.connect("echo").await.unwrap_err();
    assert!(
        matches!(err, Error::Session(SessionError::Wire(WireError::TooLong { frame: "attestation", max: 512, .. }))),
        "{err:?}"
    );
    assert_eq!(mock.stats().key_shares, 0);
}

#[tokio::test]
async fn shutdown_drains_running_invocations() {
    let mock = mock().await;
    let session = Arc::new(pinned_client(&mock, "sleep-ms").connect("sleep-ms").await.unwrap());
    let s = session.clone();
    let running = tokio::spawn(async move { s.invoke(b"300").await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    mock.shutdown().await;
    assert_eq!(running.await.unwrap().unwrap(), b"");
    let err = session.invoke(b"1").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Session(SessionError::Remote { .. } | SessionError::Truncated { .. } | SessionError::Closed)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_slow_upload_is_not_idleness() {
    use tokio::io::AsyncWriteExt;
    let mock = mock().await;
    let c = Client::builder()
        .endpoint(mock.url())
        .policy(pinned(&mock, "sha256").build().unwrap())
        .idle_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let session = c.connect("sha256").await.unwrap();
    // sha256 answers only after the whole input; the input trickles in for three idle periods.
    let (mut w, r) = tokio::io::duplex(1024);
    let feeder = tokio::spawn(async move {
        for _ in 0..15 {
            w.write_all(b"slow ").await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut out = Vec::new();
    session.invoke_stream(r, &mut out, |_| {}).await.unwrap();
    feeder.await.unwrap();
    assert_eq!(out, b"21139a7e9438beeb8100c68363c2daa613110fed024c580a9ea4ec270dc70869");
}

#[tokio::test]
#[allow(clippy::result_large_err)] // the callback signature is tungstenite's
async fn oversized_message_from_a_hostile_server() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
    use tokio_tungstenite::tungstenite::Message;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let callback = |_: &Request, mut resp: Response| {
            resp.headers_mut().insert("Sec-WebSocket-Protocol", "enclave-session.v3".parse().unwrap());
            Ok(resp)
        };
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, callback).await.unwrap();
        // One megabyte where a document of at most 20 KiB belongs.
        let _ = ws.send(Message::binary(vec![0x02; 1 << 20])).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    let mock = mock().await;
    let c = Client::builder()
        .endpoint(format!("ws://{addr}"))
        .policy(pinned(&mock, "echo").build().unwrap())
        .build()
        .unwrap();
    let err = c.connect("echo").await.unwrap_err();
    assert!(matches!(err, Error::Limit(LimitError::MessageTooLarge { .. })), "{err:?}");
}
