//! The mock serves Cape's `cape.runtime` protocol over real sockets: the document verifies with the
//! SDK's verifier under the mock's root, PCRs and the Cape JSON checksum; several invocations run on
//! one connection; function errors come back as `{"error"}`; malformed frames get `{"error"}` and a
//! close; the upgrade checks (token, path, subprotocol) apply as for the native protocol.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use enclave_protocol::seal_single_shot;
use enclave_sdk::attestation::{Expected, Policy, TrustRoot, UserDataForm, Verifier};
use futures_util::{SinkExt, StreamExt};
use mock_enclave::MockEnclave;
use rand_core::OsRng;
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(mock: &MockEnclave, path: &str, protocols: &str) -> Result<Ws, WsError> {
    let mut req = format!("{}{path}", mock.url()).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(protocols).unwrap());
    let (ws, resp) = tokio_tungstenite::connect_async(req).await?;
    assert_eq!(resp.headers()["Sec-WebSocket-Protocol"], "cape.runtime");
    Ok(ws)
}

async fn next_json(ws: &mut Ws) -> Value {
    match ws.next().await.unwrap().unwrap() {
        Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("expected text, got {other:?}"),
    }
}

async fn closed(ws: &mut Ws) -> bool {
    matches!(ws.next().await, None | Some(Ok(Message::Close(_))) | Some(Err(_)))
}

/// Nonce out, document in, verified as pycape and the SDK's Cape mode do; returns the attested key.
async fn attest(mock: &MockEnclave, ws: &mut Ws, function_id: &str) -> [u8; 32] {
    let nonce = b"0123456789012345";
    let hello = serde_json::json!({"message": {"nonce": B64.encode(nonce)}});
    ws.send(Message::text(hello.to_string())).await.unwrap();
    let v = next_json(ws).await;
    assert_eq!(v["message"]["type"], "attestation_doc");
    let doc = B64.decode(v["message"]["message"].as_str().unwrap()).unwrap();
    // Untagged COSE_Sign1: a 4-element array (major type 4), not tag 18.
    assert_eq!(doc[0], 0x84);
    let function_id: enclave_sdk::FunctionId = function_id.parse().unwrap();
    let every_pcr = enclave_sdk::MeasurementSet::new(
        mock.measurements().pcrs().iter().map(|(i, v)| enclave_sdk::Pcr::new(*i, v.clone())),
    )
    .unwrap();
    let sum = mock.function_checksum(&function_id).unwrap();
    let policy = Policy::builder()
        .trust_root(TrustRoot::from_der(mock.root_der().to_vec()).unwrap())
        .allow_measurements(every_pcr)
        .function_checksum(sum)
        .build()
        .unwrap();
    let expected = Expected::none()
        .with_nonce(nonce)
        .with_function_id(&function_id)
        .requiring_x25519_key()
        .with_user_data_form(UserDataForm::Cape);
    let verified = Verifier::new(policy).verify_now(&doc, &expected).unwrap();
    let user_data: Value = serde_json::from_slice(verified.user_data().unwrap()).unwrap();
    assert_eq!(user_data["func_checksum"], B64.encode(sum.as_bytes()));
    verified.x25519_public_key().unwrap()
}

async fn invoke(ws: &mut Ws, key: &[u8; 32], input: &[u8]) -> Value {
    let (enc, ct) = seal_single_shot(key, input, &mut OsRng).unwrap();
    ws.send(Message::binary([enc.as_slice(), &ct].concat())).await.unwrap();
    next_json(ws).await
}

fn output(v: &Value) -> Vec<u8> {
    assert_eq!(v["message"]["type"], "function_result", "{v}");
    B64.decode(v["message"]["message"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn several_invocations_on_one_connection() {
    let mock = MockEnclave::builder().spawn().await.unwrap();
    let mut ws = connect(&mock, "/v1/run/uppercase", "cape.runtime, some-token").await.unwrap();
    let key = attest(&mock, &mut ws, "uppercase").await;
    for word in ["abc", "hello world", ""] {
        assert_eq!(output(&invoke(&mut ws, &key, word.as_bytes()).await), word.to_uppercase().as_bytes());
    }
    ws.close(None).await.unwrap();
    let stats = mock.stats();
    assert_eq!((stats.sessions, stats.documents, stats.invocations, stats.completed), (1, 1, 3, 3));
}

#[tokio::test]
async fn user_slash_name_path_and_function_errors() {
    let mock = MockEnclave::builder().spawn().await.unwrap();
    let mut ws = connect(&mock, "/v1/run/alice/fail", "cape.runtime").await.unwrap();
    let key = attest(&mock, &mut ws, "fail").await;
    let v = invoke(&mut ws, &key, b"x").await;
    assert_eq!(v["error"], "function fail failed: the fail function always fails");
    // A function error does not end the connection.
    let v = invoke(&mut ws, &key, b"y").await;
    assert!(v["error"].is_string());

    let mut ws = connect(&mock, "/v1/run/alice/mean", "cape.runtime").await.unwrap();
    let key = attest(&mock, &mut ws, "mean").await;
    let mean = output(&invoke(&mut ws, &key, b"[1, 2, 3, 6]").await);
    assert_eq!(String::from_utf8(mean).unwrap().parse::<f64>().unwrap(), 3.0);
}

#[tokio::test]
async fn malformed_frames_get_an_error_and_a_close() {
    let mock = MockEnclave::builder().spawn().await.unwrap();

    // A binary frame instead of the nonce.
    let mut ws = connect(&mock, "/v1/run/echo", "cape.runtime").await.unwrap();
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert_eq!(next_json(&mut ws).await["error"], "expected the nonce as a text frame");
    assert!(closed(&mut ws).await);

    // A nonce that is not base64.
    let mut ws = connect(&mock, "/v1/run/echo", "cape.runtime").await.unwrap();
    ws.send(Message::text(r#"{"message":{"nonce":"%%"}}"#)).await.unwrap();
    assert!(next_json(&mut ws).await["error"].as_str().unwrap().starts_with("nonce is not base64"));
    assert!(closed(&mut ws).await);

    // A ciphertext that does not open under the attested key.
    let mut ws = connect(&mock, "/v1/run/echo", "cape.runtime").await.unwrap();
    let key = attest(&mock, &mut ws, "echo").await;
    let (enc, mut ct) = seal_single_shot(&key, b"secret", &mut OsRng).unwrap();
    ct[0] ^= 1;
    ws.send(Message::binary([enc.as_slice(), &ct].concat())).await.unwrap();
    assert_eq!(
        next_json(&mut ws).await["error"],
        "invocation: client to enclave record 0 failed authentication (forged, replayed, reordered, or one was dropped)"
    );
    assert!(closed(&mut ws).await);

    // A frame shorter than enc, and a text frame after the document.
    let mut ws = connect(&mock, "/v1/run/echo", "cape.runtime").await.unwrap();
    attest(&mock, &mut ws, "echo").await;
    ws.send(Message::binary(vec![0u8; 31])).await.unwrap();
    assert_eq!(next_json(&mut ws).await["error"], "invocation frame of 31 bytes is shorter than enc");
    assert!(closed(&mut ws).await);
    let mut ws = connect(&mock, "/v1/run/echo", "cape.runtime").await.unwrap();
    attest(&mock, &mut ws, "echo").await;
    ws.send(Message::text("{}")).await.unwrap();
    assert_eq!(next_json(&mut ws).await["error"], "expected a binary invocation frame");
    assert!(closed(&mut ws).await);

    // An input above the enclave's Cape input limit (one message: pycape sends it whole): the client
    // is told both sizes, then closed.
    let mut limits = mock_enclave::ServerLimits::default();
    limits.cape_max_input = 100_000;
    let small = MockEnclave::builder().limits(limits).spawn().await.unwrap();
    let mut ws = connect(&small, "/v1/run/echo", "cape.runtime").await.unwrap();
    let key = attest(&small, &mut ws, "echo").await;
    let (enc, ct) = seal_single_shot(&key, &vec![0u8; 100_001], &mut OsRng).unwrap();
    ws.send(Message::binary([enc.as_slice(), &ct].concat())).await.unwrap();
    assert_eq!(
        next_json(&mut ws).await["error"],
        "an input of 100001 bytes exceeds the enclave's limit of 100000 bytes for one Cape invocation"
    );
    assert!(closed(&mut ws).await);
    assert_eq!(small.stats().invocations, 0);
    assert_eq!(mock.stats().invocations, 0);
    assert_eq!(mock.stats().records_rejected, 1);
}

#[tokio::test]
async fn upgrade_checks_apply_to_cape_clients() {
    let mock = MockEnclave::builder().token("t0ken").spawn().await.unwrap();
    // Cape carries the token as the second subprotocol entry.
    let mut ws = connect(&mock, "/v1/run/echo", "cape.runtime, t0ken").await.unwrap();
    let key = attest(&mock, &mut ws, "echo").await;
    assert_eq!(output(&invoke(&mut ws, &key, b"hi").await), b"hi");

    let status = |e: WsError| match e {
        WsError::Http(r) => r.status().as_u16(),
        other => panic!("expected an HTTP refusal, got {other}"),
    };
    assert_eq!(status(connect(&mock, "/v1/run/echo", "cape.runtime, wrong").await.unwrap_err()), 401);
    assert_eq!(status(connect(&mock, "/v1/run/nope", "cape.runtime, t0ken").await.unwrap_err()), 404);
    assert_eq!(status(connect(&mock, "/v1/run/a/nope", "cape.runtime, t0ken").await.unwrap_err()), 404);
    // The token in the subprotocol list counts only for Cape clients.
    assert_eq!(status(connect(&mock, "/v1/run/echo", "other, t0ken").await.unwrap_err()), 401);
    let open = MockEnclave::builder().spawn().await.unwrap();
    assert_eq!(status(connect(&open, "/v1/run/echo", "other").await.unwrap_err()), 400);
}

#[tokio::test]
async fn session_limit_applies_to_cape_clients() {
    let mut limits = mock_enclave::ServerLimits::default();
    limits.max_sessions = 1;
    let mock = MockEnclave::builder().limits(limits).spawn().await.unwrap();
    let mut first = connect(&mock, "/v1/run/echo", "cape.runtime").await.unwrap();
    attest(&mock, &mut first, "echo").await;
    match connect(&mock, "/v1/run/echo", "cape.runtime").await {
        Err(WsError::Http(r)) => assert_eq!(r.status().as_u16(), 503),
        other => panic!("expected 503, got {other:?}"),
    }
}

/// A Cape client that sends invocations and never reads the results cannot keep its session (and its
/// slot): once the enclave's replies stop draining for the idle timeout, the enclave ends the session.
#[tokio::test]
async fn a_cape_client_that_never_reads_loses_its_session() {
    let mut limits = mock_enclave::ServerLimits::default();
    limits.idle_timeout = std::time::Duration::from_millis(500);
    let mock = MockEnclave::builder().limits(limits).spawn().await.unwrap();
    let mut ws = connect(&mock, "/v1/run/echo", "cape.runtime").await.unwrap();
    let key = attest(&mock, &mut ws, "echo").await;
    let (enc, ct) = seal_single_shot(&key, &vec![7u8; 60 * 1024], &mut OsRng).unwrap();
    let frame = [enc.as_slice(), &ct].concat();
    // Echo answers are a third larger (base64), so the loopback buffers fill within a few hundred;
    // the client's own sends stall once the enclave stops reading, which is expected here.
    let (mut sink, _unread) = ws.split();
    let flood = tokio::spawn(async move {
        for _ in 0..2000 {
            if sink.send(Message::binary(frame.clone())).await.is_err() {
                break;
            }
        }
    });
    let gone = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        while mock.stats().open_sessions != 0 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    })
    .await;
    flood.abort();
    assert!(gone.is_ok(), "the session of a client that never reads stayed open: {:?}", mock.stats());
    // The enclave still serves others.
    let mut other = connect(&mock, "/v1/run/echo", "cape.runtime").await.unwrap();
    let key = attest(&mock, &mut other, "echo").await;
    assert_eq!(output(&invoke(&mut other, &key, b"still serving").await), b"still serving");
}
