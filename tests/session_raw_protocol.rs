//! The enclave's side of the record rules, driven by a hand-written client built from the SDK's
//! protocol blocks: a replayed record, a reused request id and a garbage frame each end the session,
//! and a session cut before `InputEnd` never runs the function on the prefix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::raw::open;
use common::*;
use enclave_protocol::{ClientMessage, ServerMessage, SessionErrorCode};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_replayed_record_ends_the_session() {
    let mock = mock().await;
    let mut raw = open(&mock, "echo").await;
    let first = raw.send(ClientMessage::Input { id: 1, data: b"once" }).await;
    raw.send(ClientMessage::InputEnd { id: 1 }).await;
    assert_eq!(ServerMessage::decode(&raw.recv().await.unwrap()), Ok(ServerMessage::Output { id: 1, data: b"once" }));
    assert_eq!(ServerMessage::decode(&raw.recv().await.unwrap()), Ok(ServerMessage::OutputEnd { id: 1 }));
    raw.ws.send(Message::binary(first)).await.unwrap();
    assert_eq!(raw.recv().await, None, "the enclave kept the session after a replayed record");
    let s = mock.stats();
    assert_eq!((s.records_rejected, s.invocations), (1, 1));
}

#[tokio::test]
async fn a_reused_request_id_ends_the_session_with_an_authenticated_error() {
    let mock = mock().await;
    let mut raw = open(&mock, "echo").await;
    raw.send(ClientMessage::InputEnd { id: 5 }).await;
    assert_eq!(ServerMessage::decode(&raw.recv().await.unwrap()), Ok(ServerMessage::OutputEnd { id: 5 }));
    raw.send(ClientMessage::Input { id: 5, data: b"again" }).await;
    assert_eq!(
        ServerMessage::decode(&raw.recv().await.unwrap()),
        Ok(ServerMessage::SessionError { code: SessionErrorCode::RequestIdNotIncreasing, detail: 0 })
    );
    assert_eq!(raw.recv().await, None);
    assert_eq!(mock.stats().invocations, 1);
}

#[tokio::test]
async fn garbage_after_the_handshake_ends_the_session() {
    let mock = mock().await;
    let mut raw = open(&mock, "echo").await;
    raw.ws.send(Message::binary(vec![0x04, 1, 2, 3])).await.unwrap();
    assert_eq!(raw.recv().await, None);
    assert_eq!(mock.stats().records_rejected, 1);
    // The enclave keeps serving others.
    let s = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    assert_eq!(s.invoke(b"fine").await.unwrap(), b"fine");
}

#[tokio::test]
async fn input_without_its_end_marker_is_never_run() {
    let mock = mock().await;
    let mut raw = open(&mock, "word-count").await;
    raw.send(ClientMessage::Input { id: 1, data: b"a truncated input" }).await;
    // Cut the connection before InputEnd: the function must not answer for a prefix.
    drop(raw);
    for _ in 0..100 {
        if mock.stats().abandoned == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let s = mock.stats();
    assert_eq!((s.invocations, s.abandoned, s.completed), (1, 1, 0), "{s:?}");
    let mut again = open(&mock, "word-count").await;
    again.send(ClientMessage::Input { id: 1, data: b"a whole input" }).await;
    again.send(ClientMessage::InputEnd { id: 1 }).await;
    assert_eq!(ServerMessage::decode(&again.recv().await.unwrap()), Ok(ServerMessage::Output { id: 1, data: b"3" }));
    assert_eq!(ServerMessage::decode(&again.recv().await.unwrap()), Ok(ServerMessage::OutputEnd { id: 1 }));
    assert_eq!(mock.stats().completed, 1);
}

#[tokio::test]
async fn an_input_left_open_does_not_hold_the_session_forever() {
    let mock = mock_with(|l| l.idle_timeout = std::time::Duration::from_millis(300)).await;
    let mut raw = open(&mock, "echo").await;
    raw.send(ClientMessage::Input { id: 1, data: b"and then nothing" }).await;
    // The echo comes back; then the enclave waits for more input, and gives up after its idle timeout.
    assert_eq!(
        ServerMessage::decode(&raw.recv().await.unwrap()),
        Ok(ServerMessage::Output { id: 1, data: b"and then nothing" })
    );
    let end = raw.recv_within(std::time::Duration::from_secs(3)).await;
    assert_eq!(
        ServerMessage::decode(&end.unwrap()),
        Ok(ServerMessage::SessionError { code: SessionErrorCode::IdleTimeout, detail: 0 })
    );
    assert_eq!(mock.stats().abandoned, 1);
}

#[tokio::test]
async fn a_malformed_message_in_an_authentic_record_is_answered_with_protocol_violation() {
    let mock = mock().await;
    let mut raw = open(&mock, "echo").await;
    // Kind 0x81 is the enclave's own Output: a client may not send it.
    let bogus = [0x81, 0, 0, 0, 0, 0, 0, 0, 1];
    raw.send_plaintext(&bogus).await;
    assert_eq!(
        ServerMessage::decode(&raw.recv().await.unwrap()),
        Ok(ServerMessage::SessionError { code: SessionErrorCode::ProtocolViolation, detail: 0 })
    );
    assert_eq!(raw.recv().await, None);
}

/// PROTOCOL.md section 5.2: an input sent whole in one `InputLast` is answered with one `OutputLast`;
/// a streamed input (`Input`s, then an `InputLast`) with `Output`s and an `OutputEnd`.
#[tokio::test]
async fn one_record_each_way_for_a_whole_input_and_a_streamed_answer_for_a_streamed_one() {
    let mock = mock().await;
    let mut raw = open(&mock, "echo").await;
    raw.send(ClientMessage::InputLast { id: 1, data: b"whole" }).await;
    assert_eq!(
        ServerMessage::decode(&raw.recv().await.unwrap()),
        Ok(ServerMessage::OutputLast { id: 1, data: b"whole" })
    );
    raw.send(ClientMessage::InputLast { id: 2, data: b"" }).await;
    assert_eq!(ServerMessage::decode(&raw.recv().await.unwrap()), Ok(ServerMessage::OutputEnd { id: 2 }));
    raw.send(ClientMessage::Input { id: 3, data: b"first" }).await;
    raw.send(ClientMessage::InputLast { id: 3, data: b"second" }).await;
    assert_eq!(ServerMessage::decode(&raw.recv().await.unwrap()), Ok(ServerMessage::Output { id: 3, data: b"first" }));
    assert_eq!(ServerMessage::decode(&raw.recv().await.unwrap()), Ok(ServerMessage::Output { id: 3, data: b"second" }));
    assert_eq!(ServerMessage::decode(&raw.recv().await.unwrap()), Ok(ServerMessage::OutputEnd { id: 3 }));
    // The function's error still ends an invocation that came whole.
    let mut failing = open(&mock, "mean").await;
    failing.send(ClientMessage::InputLast { id: 1, data: b"not numbers" }).await;
    assert!(
        matches!(
            ServerMessage::decode(&failing.recv().await.unwrap()),
            Ok(ServerMessage::FunctionError { id: 1, code: 2, .. })
        ),
        "mean accepted words"
    );
    let s = mock.stats();
    assert_eq!((s.invocations, s.completed, s.records_rejected), (4, 4, 0), "{s:?}");
}

/// An `InputLast` ends its input: a later record for the same id is a reused id.
#[tokio::test]
async fn a_record_after_input_last_for_the_same_id_is_a_reused_id() {
    let mock = mock().await;
    let mut raw = open(&mock, "echo").await;
    raw.send(ClientMessage::InputLast { id: 1, data: b"done" }).await;
    assert_eq!(
        ServerMessage::decode(&raw.recv().await.unwrap()),
        Ok(ServerMessage::OutputLast { id: 1, data: b"done" })
    );
    raw.send(ClientMessage::InputLast { id: 1, data: b"again" }).await;
    assert_eq!(
        ServerMessage::decode(&raw.recv().await.unwrap()),
        Ok(ServerMessage::SessionError { code: SessionErrorCode::RequestIdNotIncreasing, detail: 0 })
    );
    assert_eq!(raw.recv().await, None);
}

/// The enclave's last-chunk kind is not the client's to send.
#[tokio::test]
async fn an_output_last_from_the_client_is_a_protocol_violation() {
    let mock = mock().await;
    let mut raw = open(&mock, "echo").await;
    let bogus = [0x85, 0, 0, 0, 0, 0, 0, 0, 1, b'x'];
    raw.send_plaintext(&bogus).await;
    assert_eq!(
        ServerMessage::decode(&raw.recv().await.unwrap()),
        Ok(ServerMessage::SessionError { code: SessionErrorCode::ProtocolViolation, detail: 0 })
    );
    assert_eq!(raw.recv().await, None);
}
