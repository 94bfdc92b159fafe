//! The enclave's own limits against hostile raw-protocol clients: inputs left open count against the
//! in-flight limit, and a client that stops reading loses its session within the idle timeout,
//! without holding up a shutdown. Every wait is bounded, so a regression fails instead of hanging.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::raw::{open, Raw};
use common::*;
use enclave_protocol::{ClientMessage, ServerMessage, SessionErrorCode};
use mock_enclave::MockEnclave;
use tokio::time::{timeout, Instant};

/// The longest any single step may take before the test calls it a hang.
const STEP: Duration = Duration::from_secs(3);

/// Streams 64 KiB chunks of one input to `echo` and never reads its output, until the enclave stops
/// taking them (a send that does not complete within 300 ms).
///
/// Returns whether the enclave had already ended the session by then: its writer can stall, and its
/// idle timeout run out, while the last chunks still fit in the socket's buffers (seen once in CI).
async fn stream_until_the_enclave_stops_reading(raw: &mut Raw) -> bool {
    let chunk = vec![0x5a; 65536];
    let filled = async {
        loop {
            let send = raw.try_send(ClientMessage::Input { id: 1, data: &chunk });
            match timeout(Duration::from_millis(300), send).await {
                Err(_) => return false,
                Ok(Err(_)) => return true,
                Ok(Ok(())) => continue,
            }
        }
    };
    timeout(Duration::from_secs(4), filled).await.expect("the enclave never stopped taking input")
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
        let answer = raw.recv_within(STEP).await.expect("session ended");
        assert!(
            matches!(ServerMessage::decode(&answer), Ok(ServerMessage::FunctionError { id: got, code: 1, .. }) if got == id),
            "at id {id}: {:?}",
            ServerMessage::decode(&answer)
        );
    }
    // Ending one input frees its slot: the next invocation runs.
    raw.send(ClientMessage::InputEnd { id: 1 }).await;
    raw.send(ClientMessage::Input { id: 5, data: b"x" }).await;
    let answer = raw.recv_within(STEP).await.expect("session ended");
    assert!(matches!(ServerMessage::decode(&answer), Ok(ServerMessage::FunctionError { id: 5, code: 1, .. })));
    // Four inputs are open (2, 3, 4, 5), their functions long finished: a fifth is over the limit.
    raw.send(ClientMessage::Input { id: 6, data: b"x" }).await;
    assert_eq!(
        ServerMessage::decode(&raw.recv_within(STEP).await.expect("session ended")),
        Ok(ServerMessage::SessionError { code: SessionErrorCode::TooManyInFlight, detail: 4 })
    );
    assert_eq!(raw.recv_within(STEP).await, None, "a record followed the SessionError");
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
    if !stream_until_the_enclave_stops_reading(&mut raw).await {
        assert_eq!(mock.stats().open_sessions, 1);
    }
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
    let _ended_already = stream_until_the_enclave_stops_reading(&mut raw).await;
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
        let m = raw.recv_within(STEP).await.expect("session ended");
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
