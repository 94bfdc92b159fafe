//! A man in the middle on the WebSocket path between the SDK and the mock enclave. The proxy relays
//! every frame and records every payload it saw in both directions; each test gives it one attack.
//! In every case the SDK returns the specific error, the enclave's counters show what it refused,
//! and the recorded bytes never contain the 64-byte plaintext input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::result_large_err)] // the upgrade callback's signature is tungstenite's

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use enclave_protocol::{RecordError, NONCE_HEADER};
use enclave_sdk::attestation::{AttestationError, CoseError, Policy, TrustRoot};
use enclave_sdk::error::SessionError;
use enclave_sdk::{Client, Error};
use futures_util::{SinkExt, StreamExt};
use mock_enclave::{MockEnclave, ServerStats};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

/// The plaintext input: distinctive, and 64 bytes so a partial leak would still be long.
const CANARY: &[u8; 64] = b"CANARY-mitm-5e1d0c7a-the-proxy-must-never-see-this-plaintext!!!!";

const FRAME_ATTESTATION: u8 = 0x02;
const FRAME_RECORD: u8 = 0x04;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    /// The value of the client's `Enclave-Nonce` upgrade header (once per connection, before any
    /// message); what the hook sends are the values forwarded upstream.
    UpgradeNonce,
    ToEnclave,
    ToClient,
}

/// What the proxy does with one binary message: forward these (possibly none, possibly several), or
/// cut both connections without a close frame.
enum Act {
    Send(Vec<Vec<u8>>),
    Cut,
}

/// The attack: called for the upgrade's nonce header, then for every binary message with its
/// direction and its index among that direction's binary messages.
type Hook = Box<dyn FnMut(Dir, usize, Vec<u8>) -> Act + Send>;

/// An attack on one direction's records: called with the record's number (from 0) and its frame.
type RecordHook = Box<dyn FnMut(usize, Vec<u8>) -> Act + Send>;

/// Everything the proxy saw, in order, and each connection's frames split by direction.
#[derive(Default)]
struct Seen {
    bytes: Vec<u8>,
    /// The `Enclave-Nonce` header values the clients sent, in order.
    nonces: Vec<Vec<u8>>,
    to_enclave: Vec<Vec<u8>>,
    to_client: Vec<Vec<u8>>,
}

struct Proxy {
    url: String,
    seen: Arc<Mutex<Seen>>,
}

impl Proxy {
    fn saw_canary(&self) -> bool {
        self.seen.lock().unwrap().bytes.windows(CANARY.len()).any(|w| w == CANARY)
    }
    fn bytes_seen(&self) -> usize {
        self.seen.lock().unwrap().bytes.len()
    }
    fn frames(&self, dir: Dir) -> Vec<Vec<u8>> {
        let s = self.seen.lock().unwrap();
        match dir {
            Dir::UpgradeNonce => s.nonces.clone(),
            Dir::ToEnclave => s.to_enclave.clone(),
            Dir::ToClient => s.to_client.clone(),
        }
    }
}

/// Starts a proxy on 127.0.0.1:0 that forwards each connection to `upstream` (a ws:// base URL),
/// with the path the client asked for rewritten by `path`, applying a fresh hook from `attack`.
async fn proxy(
    upstream: String,
    path: impl Fn(&str) -> String + Send + Sync + 'static,
    attack: impl Fn() -> Hook + Send + Sync + 'static,
) -> Proxy {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let recorder = seen.clone();
    let path = Arc::new(path);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (seen, upstream, path, hook) = (recorder.clone(), upstream.clone(), path.clone(), attack());
            tokio::spawn(relay(tcp, upstream, path, hook, seen));
        }
    });
    Proxy { url, seen }
}

async fn relay(
    tcp: tokio::net::TcpStream,
    upstream: String,
    path: Arc<impl Fn(&str) -> String>,
    mut hook: Hook,
    seen: Arc<Mutex<Seen>>,
) {
    let asked = Arc::new(Mutex::new((String::new(), Vec::new())));
    let record = asked.clone();
    let callback = move |req: &Request, mut resp: Response| {
        let nonces = req.headers().get_all(NONCE_HEADER).iter().map(|v| v.as_bytes().to_vec()).collect();
        *record.lock().unwrap() = (req.uri().path().to_owned(), nonces);
        resp.headers_mut().insert("Sec-WebSocket-Protocol", "enclave-session.v3".parse().unwrap());
        Ok(resp)
    };
    let Ok(mut down) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else { return };
    let (asked_path, nonces) = asked.lock().unwrap().clone();
    let target = path(&asked_path);
    let mut req = format!("{upstream}{target}").into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "enclave-session.v3".parse().unwrap());
    for nonce in nonces {
        {
            let mut s = seen.lock().unwrap();
            s.bytes.extend_from_slice(&nonce);
            s.nonces.push(nonce.clone());
        }
        let Act::Send(forwarded) = hook(Dir::UpgradeNonce, 0, nonce) else { return };
        for value in forwarded {
            req.headers_mut().append(NONCE_HEADER, value.try_into().unwrap());
        }
    }
    let Ok((mut up, _)) = tokio_tungstenite::connect_async(req).await else { return };
    let mut counts = [0usize; 2];
    loop {
        let (dir, msg) = tokio::select! {
            m = down.next() => (Dir::ToEnclave, m),
            m = up.next() => (Dir::ToClient, m),
        };
        let data = match msg {
            Some(Ok(Message::Binary(b))) => b.to_vec(),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => continue,
        };
        {
            let mut s = seen.lock().unwrap();
            s.bytes.extend_from_slice(&data);
            match dir {
                Dir::ToEnclave | Dir::UpgradeNonce => s.to_enclave.push(data.clone()),
                Dir::ToClient => s.to_client.push(data.clone()),
            }
        }
        let index = &mut counts[usize::from(dir == Dir::ToClient)];
        let act = hook(dir, *index, data);
        *index += 1;
        let out = match act {
            Act::Send(v) => v,
            Act::Cut => return, // both sockets drop here: no close frame either way
        };
        for m in out {
            let sent = match dir {
                Dir::ToEnclave | Dir::UpgradeNonce => up.send(Message::binary(m)).await,
                Dir::ToClient => down.send(Message::binary(m)).await,
            };
            if sent.is_err() {
                return;
            }
        }
    }
    let _ = down.close(None).await;
    let _ = up.close(None).await;
}

fn same_path(p: &str) -> String {
    p.to_owned()
}

fn faithful() -> Hook {
    Box::new(|_, _, m| Act::Send(vec![m]))
}

/// A hook that changes only the attestation frame.
fn on_document(f: impl Fn(Vec<u8>) -> Vec<u8> + Send + Sync + Clone + 'static) -> impl Fn() -> Hook + Send + Sync {
    move || {
        let f = f.clone();
        Box::new(move |dir, _, m: Vec<u8>| {
            if dir == Dir::ToClient && m.first() == Some(&FRAME_ATTESTATION) {
                Act::Send(vec![f(m)])
            } else {
                Act::Send(vec![m])
            }
        })
    }
}

/// A hook that applies `f` to the `dir` records (frames of type `Record`), numbered from 0.
fn on_records(dir: Dir, f: impl Fn() -> RecordHook + Send + Sync + 'static) -> impl Fn() -> Hook + Send + Sync {
    move || {
        let mut g = f();
        let mut n = 0;
        Box::new(move |d, _, m: Vec<u8>| {
            if d == dir && m.first() == Some(&FRAME_RECORD) {
                n += 1;
                g(n - 1, m)
            } else {
                Act::Send(vec![m])
            }
        })
    }
}

fn client_via(proxy: &Proxy, policy: Policy) -> Client {
    Client::builder()
        .endpoint(proxy.url.clone())
        .policy(policy)
        .handshake_timeout(Duration::from_secs(5))
        .idle_timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

/// Connects through the proxy and invokes `echo` with the canary; returns the first error.
///
/// The canary is streamed, so that the invocation takes two records each way (`Input`, `InputEnd`;
/// `Output`, `OutputEnd`) for the record attacks to drop, duplicate, reorder and cut; an input sent
/// whole with `invoke` is one record each way (`InputLast`, `OutputLast`).
async fn attacked(proxy: &Proxy, policy: Policy) -> Error {
    let c = client_via(proxy, policy);
    let r = tokio::time::timeout(Duration::from_secs(10), async {
        let s = c.connect("echo").await?;
        let mut out = Vec::new();
        s.invoke_stream(&CANARY[..], &mut out, |_| {}).await.map(|_| out)
    })
    .await
    .expect("the client hung under attack");
    let err = r.expect_err("the attack went unnoticed");
    assert!(!err.to_string().contains("CANARY"), "{err}");
    err
}

/// Waits for the mock's counters to settle (the enclave side finishes after the client returns).
async fn settled(mock: &MockEnclave, done: impl Fn(&ServerStats) -> bool) -> ServerStats {
    for _ in 0..200 {
        if done(&mock.stats()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    mock.stats()
}

fn assert_no_canary(p: &Proxy) {
    assert!(p.bytes_seen() > 1000, "the proxy saw almost nothing: the canary check would prove nothing");
    assert!(!p.saw_canary(), "the proxy saw the plaintext input");
}

#[tokio::test]
async fn faithful_relay_works_and_sees_only_ciphertext() {
    let mock = mock().await;
    let p = proxy(mock.url(), same_path, faithful).await;
    let s = client_via(&p, pinned(&mock, "echo").build().unwrap()).connect("echo").await.unwrap();
    assert_eq!(s.invoke(CANARY).await.unwrap(), CANARY);
    s.close().await.unwrap();
    let st = mock.stats();
    assert_eq!((st.key_shares, st.invocations, st.completed, st.records_rejected), (1, 1, 1, 0));
    // The proxy relays the Close record on its own task: let it catch up before counting.
    for _ in 0..200 {
        if p.frames(Dir::ToEnclave).len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Key share, InputLast, Close (the nonce came in the upgrade request); document, OutputLast.
    assert_eq!(p.frames(Dir::ToEnclave).len(), 3);
    assert_eq!(p.frames(Dir::ToClient).len(), 2);
    assert_no_canary(&p);
    // The proxy's recording is not blind: a plaintext sent in the clear would have been found.
    p.seen.lock().unwrap().bytes.extend_from_slice(CANARY);
    assert!(p.saw_canary());
}

#[tokio::test]
async fn a_flipped_byte_in_the_document_breaks_its_signature() {
    let mock = mock().await;
    // The last byte is inside the COSE signature.
    let p = proxy(
        mock.url(),
        same_path,
        on_document(|mut m| {
            if let Some(b) = m.last_mut() {
                *b ^= 0x01;
            }
            m
        }),
    )
    .await;
    let err = attacked(&p, pinned(&mock, "echo").build().unwrap()).await;
    assert!(matches!(err, Error::Attestation(AttestationError::Cose(CoseError::BadSignature))), "{err:?}");
    let st = settled(&mock, |_| true).await;
    assert_eq!((st.documents, st.key_shares, st.invocations), (1, 0, 0));
    assert_no_canary(&p);
}

#[tokio::test]
async fn a_substituted_enclave_key_breaks_the_signature() {
    let mock = mock().await;
    // The attacker swaps in its own X25519 key (a 32-byte bstr after the "public_key" text key).
    let p = proxy(
        mock.url(),
        same_path,
        on_document(|mut m| {
            let label = b"public_keyX\x20";
            let at = m.windows(label.len()).position(|w| w == label).expect("public_key field") + label.len();
            m[at..at + 32].copy_from_slice(&[0x66; 32]);
            m
        }),
    )
    .await;
    let err = attacked(&p, pinned(&mock, "echo").build().unwrap()).await;
    assert!(matches!(err, Error::Attestation(AttestationError::Cose(CoseError::BadSignature))), "{err:?}");
    assert_eq!((mock.stats().key_shares, mock.stats().invocations), (0, 0));
    assert_no_canary(&p);
}

#[tokio::test]
async fn a_document_from_an_earlier_connection_fails_the_nonce() {
    let mock = mock().await;
    let policy = || pinned(&mock, "echo").build().unwrap();
    // First a faithful session, recorded.
    let first = proxy(mock.url(), same_path, faithful).await;
    let s = client_via(&first, policy()).connect("echo").await.unwrap();
    assert_eq!(s.invoke(b"warm-up").await.unwrap(), b"warm-up");
    let old = first.frames(Dir::ToClient)[0].clone();
    // Then the recorded document is served in place of the fresh one.
    let p = proxy(mock.url(), same_path, on_document(move |_| old.clone())).await;
    let err = attacked(&p, policy()).await;
    assert!(matches!(err, Error::Attestation(AttestationError::NonceMismatch { .. })), "{err:?}");
    let st = mock.stats();
    assert_eq!((st.documents, st.key_shares, st.invocations), (2, 1, 1), "only the warm-up got through");
    assert_no_canary(&p);
}

/// The attacker opens its own connection with the client's nonce and splices that connection's
/// document (genuine, right nonce, another per-connection key) into the client's connection. The
/// client accepts it, but its key share and records are bound to the spliced document's key and
/// transcript, so the enclave on the client's connection cannot open them.
// Multi-threaded: the hook blocks (block_in_place) while it fetches the spliced document.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_spliced_document_with_the_clients_nonce_yields_nothing() {
    let mock = mock().await;
    let upstream = mock.url();
    let p = proxy(mock.url(), same_path, move || {
        let upstream = upstream.clone();
        Box::new(move |dir, i, m: Vec<u8>| {
            if dir == Dir::UpgradeNonce && i == 0 {
                // The client's nonce: fetch a second document over the same nonce, in the background.
                let (nonce, up) = (m.clone(), upstream.clone());
                // block_in_place hands this worker's queued tasks (the mock's among them) to
                // another worker while the hook waits.
                let doc = tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current().block_on(async move {
                        let mut req = format!("{up}/v1/run/echo").into_client_request().unwrap();
                        req.headers_mut().insert("Sec-WebSocket-Protocol", "enclave-session.v3".parse().unwrap());
                        req.headers_mut().insert(NONCE_HEADER, nonce.try_into().unwrap());
                        let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
                        let Some(Ok(Message::Binary(d))) = ws.next().await else { unreachable!("no document") };
                        d.to_vec()
                    })
                });
                SPLICED.lock().unwrap().replace(doc);
                return Act::Send(vec![m]);
            }
            if dir == Dir::ToClient && m.first() == Some(&FRAME_ATTESTATION) {
                let doc = SPLICED.lock().unwrap().take().expect("spliced document");
                assert_ne!(doc, m, "two connections got the same document");
                return Act::Send(vec![doc]);
            }
            Act::Send(vec![m])
        })
    })
    .await;
    let err = attacked(&p, pinned(&mock, "echo").build().unwrap()).await;
    assert!(matches!(err, Error::Session(SessionError::Truncated { pending: 1 })), "{err:?}");
    let st = settled(&mock, |s| s.records_rejected == 1).await;
    assert_eq!((st.documents, st.key_shares, st.records_rejected, st.invocations), (2, 1, 1, 0), "{st:?}");
    assert_no_canary(&p);
}

static SPLICED: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// The attacker replaces the client's nonce in the upgrade request with one of its choosing (say, one
/// it holds a document for): the enclave's genuine document echoes the attacker's nonce, and the
/// client refuses it before sending anything.
#[tokio::test]
async fn a_nonce_substituted_in_the_upgrade_request_fails_the_nonce() {
    let mock = mock().await;
    let chosen = enclave_protocol::Nonce::from_bytes([0x5a; 32]).to_header_value().into_bytes();
    let forwarded = chosen.clone();
    let p = proxy(mock.url(), same_path, move || {
        let forwarded = forwarded.clone();
        Box::new(move |dir, _, m| Act::Send(vec![if dir == Dir::UpgradeNonce { forwarded.clone() } else { m }]))
    })
    .await;
    let err = attacked(&p, pinned(&mock, "echo").build().unwrap()).await;
    assert!(matches!(err, Error::Attestation(AttestationError::NonceMismatch { .. })), "{err:?}");
    let st = settled(&mock, |s| s.open_sessions == 0).await;
    assert_eq!((st.documents, st.key_shares, st.invocations), (1, 0, 0), "{st:?}");
    assert_ne!(p.frames(Dir::UpgradeNonce), vec![chosen], "the client sent its own nonce");
    assert!(p.frames(Dir::ToEnclave).is_empty(), "the client sent a message after refusing the document");
    assert_no_canary(&p);
}

/// A proxy that strips or doubles the nonce header: the enclave refuses the upgrade (400), issues no
/// document, and the client sees the refusal, not a session.
#[tokio::test]
async fn a_stripped_or_doubled_nonce_header_gets_no_document() {
    let mock = mock().await;
    for copies in [0usize, 2] {
        let p = proxy(mock.url(), same_path, move || {
            Box::new(move |dir, _, m: Vec<u8>| {
                Act::Send(if dir == Dir::UpgradeNonce { vec![m; copies] } else { vec![m] })
            })
        })
        .await;
        let c = client_via(&p, pinned(&mock, "echo").build().unwrap());
        let err = c.connect("echo").await.expect_err("no nonce, no session");
        // The proxy accepted the client's upgrade before it asked upstream: the client sees the
        // connection end where the document should have come.
        assert_eq!(err, Error::Session(SessionError::Truncated { pending: 0 }), "{copies}: {err:?}");
    }
    let st = mock.stats();
    assert_eq!((st.sessions, st.documents, st.key_shares), (0, 0, 0), "{st:?}");
}

/// A policy pinning `mock`'s measurements and echo checksum, trusting `root`'s CA: as every real
/// enclave chains to the one AWS root, the attacker's genuine enclave chains to the pinned root.
fn pinned_with_root(mock: &MockEnclave, root: &MockEnclave) -> Policy {
    Policy::builder()
        .trust_root(TrustRoot::from_pem(&root.root_pem()).unwrap())
        .allow_measurements(every_pcr(mock))
        .function_checksum_for(fid("echo"), checksum(mock, "echo"))
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_genuine_document_of_a_debug_mode_enclave_is_refused() {
    let pinned_enclave = mock().await;
    let debug = MockEnclave::builder().debug_mode(true).spawn().await.unwrap();
    let p = proxy(debug.url(), same_path, faithful).await;
    let err = attacked(&p, pinned_with_root(&pinned_enclave, &debug)).await;
    // Debug mode is refused before the PCRs are compared (it zeroes PCR0..2, which would fail too).
    assert_eq!(err, Error::Attestation(AttestationError::DebugMode));
    assert_eq!((debug.stats().documents, debug.stats().key_shares, debug.stats().invocations), (1, 0, 0));
    assert_no_canary(&p);
}

#[tokio::test]
async fn a_genuine_document_of_an_enclave_with_other_pcrs_is_refused() {
    let pinned_enclave = mock().await;
    let other = MockEnclave::builder().image("mock-enclave", "test-but-modified").spawn().await.unwrap();
    let p = proxy(other.url(), same_path, faithful).await;
    let err = attacked(&p, pinned_with_root(&pinned_enclave, &other)).await;
    assert!(
        matches!(err, Error::Attestation(AttestationError::PcrNotAllowed { index: enclave_sdk::PcrIndex::IMAGE, .. })),
        "{err:?}"
    );
    assert_eq!((other.stats().key_shares, other.stats().invocations), (0, 0));
    assert_no_canary(&p);
}

#[tokio::test]
async fn a_genuine_document_of_the_enclave_running_another_function_is_refused() {
    let mock = mock().await;
    // The client asks for echo; the proxy connects it to uppercase on the same, pinned enclave.
    let p = proxy(mock.url(), |path| path.replace("/echo", "/uppercase"), faithful).await;
    let mismatch =
        Error::Attestation(AttestationError::FunctionIdMismatch { expected: fid("echo"), found: fid("uppercase") });
    assert_eq!(attacked(&p, pinned(&mock, "echo").build().unwrap()).await, mismatch);
    // Pinning both functions' checksums does not help: the document names another function.
    let both =
        pinned(&mock, "echo").function_checksum_for(fid("uppercase"), checksum(&mock, "uppercase")).build().unwrap();
    assert_eq!(attacked(&p, both).await, mismatch);
    assert_eq!((mock.stats().key_shares, mock.stats().invocations), (0, 0));
    assert_no_canary(&p);
}

/// Replays a whole recorded client side (nonce, key share, records) to the enclave on a new
/// connection: the enclave's fresh key and document make the old records unopenable.
#[tokio::test]
async fn an_earlier_sessions_client_records_replayed_to_the_enclave_are_rejected() {
    let mock = mock().await;
    let p = proxy(mock.url(), same_path, faithful).await;
    let s = client_via(&p, pinned(&mock, "echo").build().unwrap()).connect("echo").await.unwrap();
    assert_eq!(s.invoke(CANARY).await.unwrap(), CANARY);
    let recorded = p.frames(Dir::ToEnclave);
    drop(s);

    let nonces = p.frames(Dir::UpgradeNonce);
    assert_eq!(nonces.len(), 1);

    let mut req = format!("{}/v1/run/echo", mock.url()).into_client_request().unwrap();
    req.headers_mut().insert("Sec-WebSocket-Protocol", "enclave-session.v3".parse().unwrap());
    req.headers_mut().insert(NONCE_HEADER, nonces[0].clone().try_into().unwrap()); // the same nonce
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let Some(Ok(Message::Binary(doc))) = ws.next().await else { unreachable!("no document") };
    assert_ne!(doc.to_vec(), p.frames(Dir::ToClient)[0], "the enclave reused a document");
    assert_eq!(recorded.len(), 2, "key share, InputLast");
    for frame in &recorded {
        let _ = ws.send(Message::binary(frame.clone())).await; // key share, InputLast
    }
    let mut answers = 0;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(2), ws.next()).await {
        if matches!(m, Message::Binary(_)) {
            answers += 1;
        }
    }
    assert_eq!(answers, 0, "the enclave answered a replayed record");
    let st = settled(&mock, |s| s.records_rejected == 1).await;
    assert_eq!((st.key_shares, st.invocations, st.records_rejected), (2, 1, 1), "{st:?}");
    assert_no_canary(&p);
}

fn drop_first() -> RecordHook {
    Box::new(|i, m| Act::Send(if i == 0 { vec![] } else { vec![m] }))
}

fn duplicate_first() -> RecordHook {
    Box::new(|i, m| Act::Send(if i == 0 { vec![m.clone(), m] } else { vec![m] }))
}

fn swap_first_two() -> RecordHook {
    let mut held = None;
    Box::new(move |i, m| match i {
        0 => {
            held = Some(m);
            Act::Send(vec![])
        }
        1 => Act::Send(vec![m, held.take().expect("record 0 held")]),
        _ => Act::Send(vec![m]),
    })
}

/// A client record dropped, duplicated or reordered: the enclave rejects the record at its
/// position, runs nothing, and closes; the client sees the connection end.
async fn client_record_attack(f: fn() -> RecordHook) {
    let mock = mock().await;
    let p = proxy(mock.url(), same_path, on_records(Dir::ToEnclave, f)).await;
    let err = attacked(&p, pinned(&mock, "echo").build().unwrap()).await;
    assert_eq!(err, Error::Session(SessionError::Truncated { pending: 1 }), "{err:?}");
    let st = settled(&mock, |s| s.records_rejected == 1).await;
    assert_eq!((st.key_shares, st.records_rejected, st.completed), (1, 1, 0), "{st:?}");
    assert_no_canary(&p);
}

#[tokio::test]
async fn a_dropped_client_record() {
    client_record_attack(drop_first).await;
}

#[tokio::test]
async fn a_duplicated_client_record() {
    client_record_attack(duplicate_first).await;
}

#[tokio::test]
async fn reordered_client_records() {
    client_record_attack(swap_first_two).await;
}

/// An enclave record dropped, duplicated or reordered: the client refuses the record at `seq`.
async fn enclave_record_attack(f: fn() -> RecordHook, seq: u64) {
    let mock = mock().await;
    let p = proxy(mock.url(), same_path, on_records(Dir::ToClient, f)).await;
    let err = attacked(&p, pinned(&mock, "echo").build().unwrap()).await;
    assert_eq!(
        err,
        Error::Session(SessionError::Record(RecordError::Open { direction: "enclave to client", seq })),
        "{err:?}"
    );
    // The enclave ran the invocation; what it sent back was tampered with on the way.
    let st = settled(&mock, |s| s.completed == 1).await;
    assert_eq!((st.invocations, st.completed, st.records_rejected), (1, 1, 0), "{st:?}");
    assert_no_canary(&p);
}

#[tokio::test]
async fn a_dropped_enclave_record() {
    enclave_record_attack(drop_first, 0).await;
}

#[tokio::test]
async fn a_duplicated_enclave_record() {
    enclave_record_attack(duplicate_first, 1).await;
}

#[tokio::test]
async fn reordered_enclave_records() {
    enclave_record_attack(swap_first_two, 0).await;
}

#[tokio::test]
async fn the_enclave_stream_truncated_after_the_first_output_record() {
    let mock = mock().await;
    let p = proxy(
        mock.url(),
        same_path,
        on_records(Dir::ToClient, || Box::new(|i, m| if i == 0 { Act::Send(vec![m]) } else { Act::Cut })),
    )
    .await;
    let err = attacked(&p, pinned(&mock, "echo").build().unwrap()).await;
    assert_eq!(err, Error::Session(SessionError::Truncated { pending: 1 }));
    assert_no_canary(&p);
}

#[tokio::test]
async fn the_client_stream_truncated_before_the_input_end() {
    let mock = mock().await;
    let p = proxy(
        mock.url(),
        same_path,
        on_records(Dir::ToEnclave, || Box::new(|i, m| if i == 0 { Act::Send(vec![m]) } else { Act::Cut })),
    )
    .await;
    let err = attacked(&p, pinned(&mock, "echo").build().unwrap()).await;
    assert_eq!(err, Error::Session(SessionError::Truncated { pending: 1 }));
    // The enclave got the input's first record but never its end: it must not run on a prefix.
    let st = settled(&mock, |s| s.abandoned == 1).await;
    assert_eq!((st.invocations, st.abandoned, st.completed), (1, 1, 0), "{st:?}");
    assert_no_canary(&p);
}
