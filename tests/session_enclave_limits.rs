//! The enclave's own limits against hostile raw-protocol clients: inputs left open count against the
//! in-flight limit, and a client that stops reading loses its session within the idle timeout,
//! without holding up a shutdown. Every wait is bounded, so a regression fails instead of hanging.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use enclave_sdk::attestation::{Expected, UnixTime, Verifier};
use enclave_sdk::session::handshake::{transcript_hash, Nonce, PROTOCOL_LABEL};
use enclave_sdk::session::records::{client_setup, RequestSealer, ResponseOpener};
use enclave_sdk::session::wire::{ClientMessage, Frame, FrameLimits, ServerMessage, SessionErrorCode};
use futures_util::{SinkExt, StreamExt};
use mock_enclave::{MockEnclave, ServerLimits};
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The longest any single step may take before the test calls it a hang.
const STEP: Duration = Duration::from_secs(3);

struct Raw {
    ws: Ws,
    sealer: RequestSealer,
    opener: ResponseOpener,
}

async fn mock_with(f: impl FnOnce(&mut ServerLimits)) -> MockEnclave {
    let mut limits = ServerLimits::default();
    f(&mut limits);
    MockEnclave::builder().limits(limits).spawn().await.unwrap()
}

/// The handshake of PROTOCOL.md section 4, verifying the document.
async fn open(mock: &MockEnclave, function: &str) -> Raw {
    let mut req = format!("{}/v1/run/{function}", mock.url()).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", PROTOCOL_LABEL.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let nonce = Nonce::random(&mut rand_core::OsRng);
    ws.send(Message::binary(Frame::ClientHello { nonce: nonce.as_bytes() }.encode())).await.unwrap();
    let Some(Ok(Message::Binary(bytes))) = ws.next().await else { panic!("no document") };
    let Ok(Frame::Attestation(doc)) = Frame::decode(&bytes, &FrameLimits::default()) else { panic!("not a document") };
    let verified = Verifier::new(pinned(mock, function).build().unwrap())
        .verify(
            doc,
            &Expected::none().with_nonce(nonce.as_bytes()).with_function_id(function).requiring_x25519_key(),
            UnixTime::now(),
        )
        .unwrap();
    let info = transcript_hash(function, &nonce, doc);
    let (enc, sealer, opener) =
        client_setup(&verified.x25519_public_key().unwrap(), &info, &mut rand_core::OsRng).unwrap();
    ws.send(Message::binary(Frame::KeyShare(&enc).encode())).await.unwrap();
    Raw { ws, sealer, opener }
}

impl Raw {
    async fn send(&mut self, m: ClientMessage<'_>) {
        let frame = Frame::Record(&self.sealer.seal(&m.encode()).unwrap()).encode();
        self.ws.send(Message::binary(frame)).await.unwrap();
    }

    /// The next record's message, or None when the enclave closed; a hang is a failure.
    async fn recv(&mut self) -> Option<Vec<u8>> {
        let next = async {
            loop {
                match self.ws.next().await {
                    Some(Ok(Message::Binary(b))) => {
                        let Ok(Frame::Record(ct)) = Frame::decode(&b, &FrameLimits::default()) else {
                            panic!("not a record")
                        };
                        return Some(self.opener.open(ct).unwrap().to_vec());
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                    Some(Ok(_)) => continue,
                }
            }
        };
        timeout(STEP, next).await.expect("the enclave neither answered nor closed")
    }

    /// Streams 64 KiB chunks of one input to `echo` and never reads its output, until the enclave
    /// stops taking them (a send that does not complete within 300 ms).
    async fn stream_until_the_enclave_stops_reading(&mut self) {
        let chunk = vec![0x5a; 65536];
        let filled = async {
            loop {
                let send = self.send(ClientMessage::Input { id: 1, data: &chunk });
                if timeout(Duration::from_millis(300), send).await.is_err() {
                    return;
                }
            }
        };
        timeout(Duration::from_secs(4), filled).await.expect("the enclave never stopped taking input");
    }
}

/// Polls until the mock has no open session; the elapsed time, or None after `within`.
async fn sessions_close(mock: &MockEnclave, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    timeout(within, async {
        while mock.stats().open_sessions != 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .ok()
    .map(|()| start.elapsed())
}

/// Review finding 3: a streamed input to a function that returned early held its input state after
/// its slot was freed, so one session could keep any number of invocations open. PROTOCOL.md
/// section 6: an invocation is in flight until its input has ended too, and the one over the limit
/// gets SessionError 2 with the limit.
#[tokio::test]
async fn inputs_left_open_count_against_the_in_flight_limit() {
    let mock = mock_with(|l| l.max_in_flight = 4).await;
    let mut raw = open(&mock, "fail").await;
    for id in 1..=4 {
        raw.send(ClientMessage::Input { id, data: b"x" }).await;
        let answer = raw.recv().await.expect("session ended");
        assert!(
            matches!(ServerMessage::decode(&answer), Ok(ServerMessage::FunctionError { id: got, code: 1, .. }) if got == id),
            "at id {id}: {:?}",
            ServerMessage::decode(&answer)
        );
    }
    // Ending one input frees its slot: the next invocation runs.
    raw.send(ClientMessage::InputEnd { id: 1 }).await;
    raw.send(ClientMessage::Input { id: 5, data: b"x" }).await;
    let answer = raw.recv().await.expect("session ended");
    assert!(matches!(ServerMessage::decode(&answer), Ok(ServerMessage::FunctionError { id: 5, code: 1, .. })));
    // Four inputs are open (2, 3, 4, 5), their functions long finished: a fifth is over the limit.
    raw.send(ClientMessage::Input { id: 6, data: b"x" }).await;
    assert_eq!(
        ServerMessage::decode(&raw.recv().await.expect("session ended")),
        Ok(ServerMessage::SessionError { code: SessionErrorCode::TooManyInFlight, detail: 4 })
    );
    assert_eq!(raw.recv().await, None, "a record followed the SessionError");
    assert!(sessions_close(&mock, STEP).await.is_some(), "{:?}", mock.stats());
    let s = mock.stats();
    // Invocation 6 never started; the four open inputs were abandoned with the session.
    assert_eq!((s.invocations, s.completed, s.abandoned), (5, 5, 4), "{s:?}");
}

/// Review finding 4: the read loop waited on a full input channel outside its select!, and the writer
/// on a full socket without a bound, so a client that streams input and never reads held its session
/// (and its slot) forever. Now the writer gives up after the idle timeout without progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_loses_its_session_within_the_idle_timeout() {
    let mock = mock_with(|l| l.idle_timeout = Duration::from_millis(500)).await;
    let mut raw = open(&mock, "echo").await;
    raw.stream_until_the_enclave_stops_reading().await;
    assert_eq!(mock.stats().open_sessions, 1);
    // The enclave's writer stalled before the client noticed, so about one idle timeout (0.5 s) at most.
    let closed = sessions_close(&mock, STEP).await;
    assert!(closed.is_some_and(|t| t < Duration::from_millis(1500)), "{closed:?} {:?}", mock.stats());
    assert_eq!(mock.stats().abandoned, 1, "the open input ran on a prefix");
    // The client was still connected all along: it is the enclave that ended the session.
    drop(raw);
    // And the enclave serves others.
    let s = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    assert_eq!(timeout(STEP, s.invoke(b"fine")).await.unwrap().unwrap(), b"fine");
}

/// Review finding 4, the drain: a shutdown waited for that session up to its drain timeout (30 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_does_not_hold_up_a_shutdown() {
    let mock = mock_with(|l| l.idle_timeout = Duration::from_millis(500)).await;
    let mut raw = open(&mock, "echo").await;
    raw.stream_until_the_enclave_stops_reading().await;
    let started = Instant::now();
    timeout(STEP, mock.shutdown()).await.expect("shutdown waited for a client that never reads");
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
    drop(raw);
}

/// Review finding 7: while the read loop waited for a streamed input's function to take a chunk,
/// invocations it runs inline (a whole input in one record) stopped too. A user function that holds
/// its input unread for 3 s when it starts with "h", and answers "ok" at once otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inline_invocation_is_answered_while_a_streamed_input_waits_for_its_function() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("hold");
    std::fs::create_dir(&f).unwrap();
    let script = "#!/bin/sh\nc=$(head -c 1)\nif [ \"$c\" = h ]; then sleep 3; fi\ncat >/dev/null\nprintf ok\n";
    std::fs::write(f.join("main"), script).unwrap();
    std::fs::set_permissions(f.join("main"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut functions = mock_enclave::functions::FunctionRegistry::builtins();
    functions.load_dir(dir.path()).unwrap();
    let mock = MockEnclave::builder().functions(functions).spawn().await.unwrap();
    let mut raw = open(&mock, "hold").await;
    raw.send(ClientMessage::Input { id: 1, data: b"h" }).await;
    raw.send(ClientMessage::InputLast { id: 2, data: b"e" }).await;
    // More than the pipe, the feeder and the input channel hold: the enclave now waits on function 1.
    let chunk = vec![b'h'; 65536];
    for _ in 0..16 {
        raw.send(ClientMessage::Input { id: 1, data: &chunk }).await;
    }
    let started = Instant::now();
    let mut answer = Vec::new();
    loop {
        let m = raw.recv().await.expect("session ended");
        match ServerMessage::decode(&m).unwrap() {
            ServerMessage::Output { id: 2, data } => answer.extend_from_slice(data),
            ServerMessage::OutputEnd { id: 2 } => break,
            ServerMessage::OutputLast { id: 2, data } => {
                answer.extend_from_slice(data);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(answer, b"ok");
    // Function 1 sleeps 3 s before it reads again: the answer did not wait for it.
    assert!(started.elapsed() < Duration::from_millis(1500), "{:?}", started.elapsed());
}
