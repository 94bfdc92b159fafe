//! Cape Privacy's `cape.runtime` protocol, client side (PROTOCOL.md section 9): talk to an enclave
//! that speaks Cape's protocol, with this SDK's full [`Policy`](crate::attestation::Policy) verification.
//!
//! In: the [`Client`]'s configuration (endpoint, policy, token, timeouts; trusted), then untrusted JSON
//! text frames from the enclave. Out: a [`CapeSession`] whose document verified (signature, chain to the
//! pinned root, measurement sets, debug refusal, age, the Cape JSON `func_checksum` against the
//! checksum pin, our nonce, a 32-byte X25519 key) before any input is sent; then function outputs.
//! Cape's JSON claim names no function, so only this module asks the verifier to read it
//! ([`UserDataForm::Cape`]); every other path refuses it. This module does
//! not make Cape's protocol as strong as `enclave-session.v1`: each input is sealed with single-shot
//! HPKE to the attested key, but outputs return in the clear inside TLS, nothing binds the requests to
//! the transcript, and a recorded request can be replayed to the same enclave key.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use rand_core::{OsRng, RngCore};
use serde::Deserialize;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use enclave_protocol::{seal_single_shot, FunctionId};

use super::client::{tls_connect, ws_error, Client, Io, Ws};
use crate::attestation::{AttestedDocument, Expected, UserDataForm};
use crate::error::{ConfigError, ConnectError, Error, LimitError, SessionError};

/// The subprotocol Cape clients offer and Cape enclaves select.
pub const CAPE_SUBPROTOCOL: &str = "cape.runtime";
/// Nonce length: the native protocol's 32 bytes (Cape's own client sends 16 decimal digits).
const NONCE_LEN: usize = 32;

/// The enclave's JSON messages: `{"message": {"type": T, "message": "<base64>"}}` or `{"error": E}`.
#[derive(Deserialize)]
struct Envelope {
    message: Option<Inner>,
    error: Option<String>,
}

#[derive(Deserialize)]
struct Inner {
    #[serde(rename = "type")]
    kind: String,
    message: String,
}

/// An attested connection to a Cape-protocol enclave. Invocations run one at a time, in order.
pub struct CapeSession {
    ws: Ws,
    key: [u8; 32],
    document: AttestedDocument,
    function: String,
    name: FunctionId,
    idle_timeout: Duration,
    max_output_len: usize,
}

impl std::fmt::Debug for CapeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapeSession").field("function", &self.function).finish_non_exhaustive()
    }
}

/// Cape addresses a function as `name` or `user/name`; each part follows the [`FunctionId`] rule.
/// Returns the name, under which the checksum pin is looked up.
fn cape_function_name(function: &str) -> Result<FunctionId, ConfigError> {
    let name = match function.split_once('/') {
        Some((user, name)) => {
            FunctionId::new(user).map_err(ConfigError::FunctionId)?;
            name
        }
        None => function,
    };
    FunctionId::new(name).map_err(ConfigError::FunctionId)
}

impl Client {
    /// Connects with Cape's protocol to `function` (`name`, or `user/name` as Cape addresses
    /// functions), verifies the enclave's document against this client's policy, and returns a
    /// session. Nothing but the nonce is sent before the document verified.
    ///
    /// The checksum pin is looked up under the function's name (the part after `/`), since Cape's user
    /// data carries only a checksum. The client's token, if any, is sent as Cape does: as the second
    /// `Sec-WebSocket-Protocol` entry.
    ///
    /// # Errors
    /// [`Error::Connect`] before the document, [`Error::Attestation`] when it is refused (only the
    /// nonce was sent), [`Error::Session`] for a malformed Cape message, [`Error::Limit`] on timeout.
    pub async fn connect_cape(&self, function: &str) -> Result<CapeSession, Error> {
        let name = cape_function_name(function)?;
        let timeout = self.config.handshake_timeout;
        tokio::time::timeout(timeout, self.cape_attest(function, name))
            .await
            .map_err(|_| LimitError::HandshakeTimeout(timeout))?
    }

    async fn cape_attest(&self, function: &str, name: FunctionId) -> Result<CapeSession, Error> {
        let c = &self.config;
        // Results come back under TLS only (PROTOCOL.md section 9.3): without WebPKI validation the
        // certificate would be accepted provisionally and never bound, so refuse before connecting.
        if c.tls && c.webpki_roots.is_none() {
            return Err(ConfigError::CapeNeedsWebPki.into());
        }
        let tcp = TcpStream::connect(&c.host_port)
            .await
            .map_err(|e| ConnectError::Io { addr: c.host_port.clone(), kind: e.kind() })?;
        let _ = tcp.set_nodelay(true);
        // Cape binds no TLS key into its documents: TLS here is ordinary TLS (WebPKI when roots are
        // configured, otherwise only provisional), and the outputs it carries are protected by nothing
        // else. PROTOCOL.md section 9.3.
        let stream: Box<dyn Io> = if c.tls {
            let (tls, _seen) = tls_connect(&c.host, c.webpki_roots.clone(), tcp).await?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let url = format!("{}/v1/run/{function}", c.endpoint);
        let mut request = url.as_str().into_client_request().map_err(|_| ConfigError::Endpoint(url.clone()))?;
        let offered = match &c.token {
            Some(t) => format!("{CAPE_SUBPROTOCOL}, {}", t.as_str()),
            None => CAPE_SUBPROTOCOL.to_owned(),
        };
        let mut value = HeaderValue::from_str(&offered)
            .map_err(|_| ConfigError::Env { name: "token", problem: "not a valid header value".into() })?;
        value.set_sensitive(true);
        request.headers_mut().insert("Sec-WebSocket-Protocol", value);
        // Outputs arrive base64-encoded inside JSON: allow 4/3 of the output bound plus the envelope.
        let max = c.max_output_len.saturating_div(3).saturating_mul(4).saturating_add(4096);
        let config = WebSocketConfig::default().max_message_size(Some(max)).max_frame_size(Some(max));
        let (mut ws, response) =
            tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await.map_err(|e| match e {
                tungstenite::Error::Http(r) => ConnectError::Http { status: r.status().as_u16() },
                tungstenite::Error::Protocol(tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(_)) => {
                    ConnectError::Subprotocol { found: None, expected: CAPE_SUBPROTOCOL }
                }
                other => ConnectError::Handshake(other.to_string()),
            })?;
        let chosen = response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok());
        if chosen != Some(CAPE_SUBPROTOCOL) {
            return Err(
                ConnectError::Subprotocol { found: chosen.map(str::to_owned), expected: CAPE_SUBPROTOCOL }.into()
            );
        }

        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let hello = serde_json::json!({ "message": { "nonce": B64.encode(nonce) } }).to_string();
        ws.send(Message::text(hello)).await.map_err(ws_error)?;
        let raw = match next_message(&mut ws).await? {
            Reply::Message { kind, body } if kind == "attestation_doc" => body,
            Reply::Message { .. } => return Err(SessionError::CapeMessage("expected an attestation_doc").into()),
            Reply::Error(message) => return Err(SessionError::CapeRemote { len: message.len(), message }.into()),
        };
        let expected = Expected::none()
            .with_nonce(&nonce)
            .with_function_id(&name)
            .requiring_x25519_key()
            .with_user_data_form(UserDataForm::Cape);
        let document = match c.verifier.verify(&raw, &expected, c.clock.now()) {
            Ok(d) => d,
            Err(e) => {
                let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                return Err(e.into());
            }
        };
        let Some(key) = document.x25519_public_key() else {
            let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
            return Err(SessionError::NoEnclaveKey.into());
        };
        Ok(CapeSession {
            ws,
            key,
            document,
            function: function.to_owned(),
            name,
            idle_timeout: c.idle_timeout,
            max_output_len: c.max_output_len,
        })
    }
}

enum Reply {
    Message { kind: String, body: Vec<u8> },
    Error(String),
}

async fn next_message(ws: &mut Ws) -> Result<Reply, Error> {
    let text = loop {
        match ws.next().await {
            None | Some(Ok(Message::Close(_))) => return Err(SessionError::Truncated { pending: 0 }.into()),
            Some(Err(e)) => return Err(ws_error(e)),
            Some(Ok(Message::Text(t))) => break t,
            Some(Ok(Message::Binary(_))) => {
                return Err(SessionError::CapeMessage("binary message from the enclave").into())
            }
            Some(Ok(_)) => continue,
        }
    };
    let env: Envelope =
        serde_json::from_str(text.as_str()).map_err(|_| SessionError::CapeMessage("not a Cape JSON envelope"))?;
    match (env.message, env.error) {
        (_, Some(e)) => Ok(Reply::Error(e)),
        (Some(m), None) => {
            let body =
                B64.decode(m.message.as_bytes()).map_err(|_| SessionError::CapeMessage("message is not base64"))?;
            Ok(Reply::Message { kind: m.kind, body })
        }
        (None, None) => Err(SessionError::CapeMessage("neither message nor error").into()),
    }
}

impl CapeSession {
    /// The verified attestation document.
    pub fn attestation(&self) -> &AttestedDocument {
        &self.document
    }

    /// Seals `input` to the attested key (RFC 9180 single-shot, empty info and aad), sends it, and
    /// waits for the function's result.
    ///
    /// # Errors
    /// [`Error::Function`] (code 0) when the enclave answers `{"error"}`: Cape does not distinguish a
    /// function's failure from a refusal, so the session may or may not still be usable;
    /// [`Error::Limit`] for the idle timeout or an output over the bound; [`Error::Session`] otherwise.
    pub async fn invoke(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let (enc, ct) = seal_single_shot(&self.key, input, &mut OsRng).map_err(SessionError::from)?;
        let mut frame = Vec::with_capacity(enc.len().saturating_add(ct.len()));
        frame.extend_from_slice(&enc);
        frame.extend_from_slice(&ct);
        self.ws.send(Message::binary(frame)).await.map_err(ws_error)?;
        let reply = tokio::time::timeout(self.idle_timeout, next_message(&mut self.ws))
            .await
            .map_err(|_| LimitError::IdleTimeout(self.idle_timeout))??;
        match reply {
            Reply::Message { kind, body } if kind == "function_result" => {
                if body.len() > self.max_output_len {
                    return Err(LimitError::OutputTooLarge { max: self.max_output_len }.into());
                }
                Ok(body)
            }
            Reply::Message { .. } => Err(SessionError::CapeMessage("expected a function_result").into()),
            Reply::Error(message) => Err(Error::Function { function_id: self.name.clone(), code: 0, message }),
        }
    }

    /// Closes the connection.
    ///
    /// # Errors
    /// [`Error::Session`] when the close handshake fails.
    pub async fn close(mut self) -> Result<(), Error> {
        self.ws.close(None).await.map_err(ws_error)
    }
}
