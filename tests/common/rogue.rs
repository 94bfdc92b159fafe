//! A rogue enclave, for the tests that prove a rogue gets nothing: a real mock enclave, speaking
//! `enclave-session.v3` and Cape mode, whose chain ends at the test root the policies trust (as every
//! genuine enclave's chain ends at AWS's root), running another image and claiming the right function
//! checksums. A relay in front of it records every message a client sends it, and the nonce header of
//! each upgrade request.
//!
//! The rogue is built to satisfy every weak pin: it shares PCR1 with the pinned image (one nitro-cli
//! version builds both), PCR3 and PCR4 with the pinned deployment (its operator chooses the parent
//! instance and its IAM role), and every built-in function's checksum (a checksum is what the code
//! claims). Only PCR0, PCR2 (the image and the application) and PCR8 (its signer) differ. So a policy
//! pinning anything less than PCR0, PCR2 or PCR8 would accept it: `rogue_gets_the_input_when_the_rule_
//! is_waived` shows that it does, so the refusals elsewhere cannot pass by accident.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use enclave_sdk::attestation::{Policy, PolicyBuilder, TrustRoot};
use enclave_sdk::{Client, FunctionChecksum, MeasurementSet, Pcr, PcrIndex, PcrValue};
use futures_util::{SinkExt, StreamExt};
use mock_enclave::functions::{FunctionRegistry, MOCK_VERSION};
use mock_enclave::measurements::{Measurements, MOCK_IMAGE_NAME};
use mock_enclave::MockEnclave;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

/// The input every test tries to send: it must never reach the rogue.
pub const CANARY: &[u8; 48] = b"CANARY-rogue-enclave-must-never-receive-this!!!!";

/// The parent instance's IAM role (PCR3) and id (PCR4), chosen by the operator: the rogue has them too.
pub const ROLE: [u8; 48] = [0x33; 48];
pub const INSTANCE: [u8; 48] = [0x44; 48];
/// The rogue's signing certificate (PCR8).
pub const ROGUE_SIGNER: [u8; 48] = [0x88; 48];

/// One message a client sent towards the rogue, or the nonce its upgrade request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// An `Enclave-Nonce` upgrade header's value (the relay forwards no other header but the subprotocol).
    UpgradeNonce(Vec<u8>),
    Binary(Vec<u8>),
    Text(String),
}

pub struct Rogue {
    pub mock: MockEnclave,
    /// The image the policies pin: what the genuine deployment measures.
    pub image: Measurements,
    /// The relay's base URL: connect here.
    pub url: String,
    /// The test root, as a file for the CLI's `--root`.
    pub root_path: String,
    sent: Arc<Mutex<Vec<Sent>>>,
    _dir: tempfile::TempDir,
}

fn with_parent(m: Measurements) -> Measurements {
    m.with_pcr(Pcr::new(PcrIndex::PARENT_ROLE, ROLE.into()))
        .unwrap()
        .with_pcr(Pcr::new(PcrIndex::PARENT_INSTANCE, INSTANCE.into()))
        .unwrap()
}

impl Rogue {
    pub async fn start() -> Self {
        let image = with_parent(Measurements::for_image(
            MOCK_IMAGE_NAME,
            MOCK_VERSION,
            FunctionRegistry::builtins().manifest(),
        ));
        // The rogue is the same mock with one more function (code of its own that keeps its input):
        // another application, so the mock measures another PCR0 and PCR2, and the same PCR1.
        let dir = tempfile::tempdir().unwrap();
        let keep = dir.path().join("functions/keep-input");
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::write(keep.join("main"), "#!/bin/sh\ncat\n").unwrap();
        std::fs::set_permissions(keep.join("main"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let mut functions = FunctionRegistry::builtins();
        functions.load_dir(&dir.path().join("functions")).unwrap();
        let mock = MockEnclave::builder()
            .functions(functions)
            .pcr(Pcr::new(PcrIndex::PARENT_ROLE, ROLE.into()))
            .pcr(Pcr::new(PcrIndex::PARENT_INSTANCE, INSTANCE.into()))
            .pcr(Pcr::new(PcrIndex::SIGNING_CERTIFICATE, ROGUE_SIGNER.into()))
            .spawn()
            .await
            .unwrap();
        let rogue = mock.measurements();
        assert_eq!(image.pcrs()[&PcrIndex::KERNEL], rogue.pcrs()[&PcrIndex::KERNEL], "one nitro-cli version");
        assert_ne!(image.pcrs()[&PcrIndex::IMAGE], rogue.pcrs()[&PcrIndex::IMAGE]);
        assert_ne!(image.pcrs()[&PcrIndex::APPLICATION], rogue.pcrs()[&PcrIndex::APPLICATION]);
        let root_path = dir.path().join("root.pem");
        std::fs::write(&root_path, mock.root_pem()).unwrap();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let url = relay(mock.url(), sent.clone()).await;
        Self { mock, image, url, root_path: path(root_path), sent, _dir: dir }
    }

    /// A policy builder trusting the test root, and nothing else yet.
    pub fn policy(&self) -> PolicyBuilder {
        Policy::builder().trust_root(TrustRoot::from_pem(&self.mock.root_pem()).unwrap())
    }

    /// The pinned image's PCRs at `indices`, as one set.
    pub fn image_set(&self, indices: &[u8]) -> MeasurementSet {
        super::set_of(self.image.pcrs(), indices)
    }

    /// `IDX=HEX,...` of the pinned image's PCRs at `indices`, for `--pcrs` and `ENCLAVE_PCRS`.
    pub fn image_text(&self, indices: &[u8]) -> String {
        self.image_set(indices).to_string()
    }

    pub fn image_pcr(&self, index: PcrIndex) -> PcrValue {
        self.image.pcrs()[&index].clone()
    }

    /// What the rogue really reports.
    pub fn rogue_pcr(&self, index: PcrIndex) -> PcrValue {
        self.mock.measurements().pcrs()[&index].clone()
    }

    /// The right checksum of `function`: the rogue claims it.
    pub fn checksum(&self, function: &str) -> FunctionChecksum {
        super::checksum(&self.mock, function)
    }

    pub fn client(&self, policy: Policy) -> Client {
        Client::builder()
            .endpoint(self.url.clone())
            .policy(policy)
            .handshake_timeout(Duration::from_secs(5))
            .build()
            .unwrap()
    }

    /// Everything clients sent towards the rogue, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }

    /// No client connected at all (the policy was refused before any connection).
    pub fn assert_untouched(&self) {
        assert_eq!(self.mock.stats().sessions, 0, "{:?}", self.mock.stats());
        assert!(self.sent().is_empty(), "{:?}", self.sent());
    }

    /// The rogue received no key share and no input: per connection only the client's nonce (in the
    /// upgrade request's header, or Cape's nonce message), no binary message at all, and never the canary.
    pub async fn assert_got_no_key_share_and_no_input(&self, connections: u64) {
        for _ in 0..200 {
            if self.mock.stats().open_sessions == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let st = self.mock.stats();
        assert_eq!((st.sessions, st.documents), (connections, connections), "{st:?}");
        assert_eq!((st.key_shares, st.invocations, st.records_rejected), (0, 0, 0), "{st:?}");
        let sent = self.sent();
        assert_eq!(sent.len() as u64, connections, "one message per connection, the nonce: {sent:?}");
        for m in &sent {
            match m {
                Sent::UpgradeNonce(n) => assert!(
                    n.len() == enclave_protocol::NONCE_HEADER_LEN
                        && enclave_protocol::Nonce::from_header_values([n.as_slice()]).is_ok(),
                    "not a nonce header: {n:?}"
                ),
                Sent::Binary(b) => panic!("a binary message reached the rogue: {b:?}"),
                Sent::Text(t) => assert!(t.starts_with(r#"{"message":{"nonce":"#), "not Cape's nonce: {t}"),
            }
        }
        let all: Vec<u8> = sent
            .iter()
            .flat_map(|m| match m {
                Sent::UpgradeNonce(b) | Sent::Binary(b) => b.clone(),
                Sent::Text(t) => t.clone().into_bytes(),
            })
            .collect();
        assert!(!all.windows(CANARY.len()).any(|w| w == CANARY));
    }
}

fn path(p: PathBuf) -> String {
    p.to_str().unwrap().to_owned()
}

/// A WebSocket relay on 127.0.0.1:0 to `upstream`, for either subprotocol: it offers upstream what the
/// client offered, answers the client with the first entry (what the mock selects), and records every
/// message towards the enclave.
async fn relay(upstream: String, sent: Arc<Mutex<Vec<Sent>>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(one_connection(tcp, upstream.clone(), sent.clone()));
        }
    });
    url
}

#[allow(clippy::result_large_err)] // the upgrade callback's signature is tungstenite's
async fn one_connection(tcp: tokio::net::TcpStream, upstream: String, sent: Arc<Mutex<Vec<Sent>>>) {
    let asked = Arc::new(Mutex::new((String::new(), None::<HeaderValue>, Vec::<HeaderValue>::new())));
    let record = asked.clone();
    let upgrades = sent.clone();
    let callback = move |req: &Request, mut resp: Response| {
        let offered = req.headers().get("Sec-WebSocket-Protocol").cloned();
        if let Some(first) = offered.as_ref().and_then(|v| v.to_str().ok()).and_then(|v| v.split(',').next()) {
            resp.headers_mut().insert("Sec-WebSocket-Protocol", first.trim().parse().unwrap());
        }
        let nonces: Vec<HeaderValue> = req.headers().get_all(enclave_protocol::NONCE_HEADER).iter().cloned().collect();
        upgrades.lock().unwrap().extend(nonces.iter().map(|v| Sent::UpgradeNonce(v.as_bytes().to_vec())));
        *record.lock().unwrap() = (req.uri().path().to_owned(), offered, nonces);
        Ok(resp)
    };
    let Ok(mut down) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else { return };
    let (path, offered, nonces) = asked.lock().unwrap().clone();
    let mut req = format!("{upstream}{path}").into_client_request().unwrap();
    if let Some(offered) = offered {
        req.headers_mut().insert("Sec-WebSocket-Protocol", offered);
    }
    for nonce in nonces {
        req.headers_mut().append(enclave_protocol::NONCE_HEADER, nonce);
    }
    let Ok((mut up, _)) = tokio_tungstenite::connect_async(req).await else { return };
    loop {
        tokio::select! {
            m = down.next() => match m {
                Some(Ok(m @ (Message::Binary(_) | Message::Text(_)))) => {
                    sent.lock().unwrap().push(match &m {
                        Message::Binary(b) => Sent::Binary(b.to_vec()),
                        Message::Text(t) => Sent::Text(t.as_str().to_owned()),
                        _ => unreachable!("matched above"),
                    });
                    if up.send(m).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            m = up.next() => match m {
                Some(Ok(m @ (Message::Binary(_) | Message::Text(_)))) => {
                    if down.send(m).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = down.close(None).await;
    let _ = up.close(None).await;
}
