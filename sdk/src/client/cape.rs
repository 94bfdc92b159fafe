//! Cape Privacy's `cape.runtime` protocol, client side (PROTOCOL.md section 9): talk to an enclave
//! that speaks Cape's protocol, with this SDK's full [`Policy`](crate::attestation::Policy) verification.
//!
//! In: the [`Client`](crate::Client)'s configuration (endpoint, policy, token, timeouts; trusted), then untrusted JSON
//! text frames from the enclave. Out: a [`CapeSession`] whose document verified (signature, chain to the
//! pinned root, measurement sets, debug refusal, age, the Cape JSON `func_checksum` against the
//! checksum pin, our nonce, a 32-byte X25519 key) before any input is sent; then function outputs.
//! Cape's JSON claim names no function, so only this module asks for it (`Purpose::Cape` in the one
//! binding step, `attested`); every other path refuses it. This module does
//! not make Cape's protocol as strong as `enclave-session.v3`: each input is sealed with single-shot
//! HPKE to the attested key, but outputs return in the clear inside TLS, nothing binds the requests to
//! the transcript, and a recorded request can be replayed to the same enclave key.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use rand_core::{OsRng, RngCore};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::Message;

use enclave_protocol::{seal_single_shot, FunctionId, KEY_LEN, NONCE_LEN};

use super::attested::{self, AttestedEnclave, Connection, Purpose};
use super::config::Config;
use super::tls;
use super::transport::{self, ws_error, Deadline, Protocol, Ws};
use crate::attestation::AttestedDocument;
use crate::error::{ConfigError, Error, LimitError, SessionError, Wait};

/// How long a refused connection waits to say goodbye before it drops the socket.
const GOODBYE: Duration = Duration::from_secs(1);

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
///
/// Made by [`Client::connect_cape`](crate::Client::connect_cape). Cape's protocol is weaker than
/// `enclave-session.v3` (PROTOCOL.md section 9.3): outputs return under TLS only, and requests can be
/// replayed; use it only for enclaves that speak nothing else.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(client: enclave_sdk::Client) -> Result<(), enclave_sdk::Error> {
/// let mut session = client.connect_cape("alice/echo").await?; // verified before anything is sent
/// let output = session.invoke(b"input").await?;
/// assert_eq!(output, b"input");
/// session.close().await?;
/// # Ok(()) }
/// # let _ = demo;
/// ```
pub struct CapeSession {
    ws: Ws,
    enclave: AttestedEnclave,
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

/// Connects with Cape's protocol to `function` (`name` or `user/name`), verifies the enclave's
/// document against the client's policy, and returns the session; nothing but the nonce is sent
/// before the document verified. The checksum pin is looked up under the function's name, since
/// Cape's user data carries only a checksum; the token, if any, travels as Cape sends it.
pub(crate) async fn connect(config: &Config, function: &str) -> Result<CapeSession, Error> {
    let name = cape_function_name(function)?;
    // Results come back under TLS only (PROTOCOL.md section 9.3): without WebPKI validation the
    // certificate would be accepted provisionally and never bound, so refuse before connecting.
    if config.endpoint.tls() && !config.tls.as_ref().is_some_and(tls::ClientTls::checks_webpki) {
        return Err(ConfigError::CapeNeedsWebPki.into());
    }
    // Outputs arrive base64-encoded inside JSON: allow 4/3 of the output bound plus the envelope.
    let max = config.max_output_len.saturating_div(3).saturating_mul(4).saturating_add(4096);
    // Cape binds no TLS key into its documents: TLS here is ordinary TLS (WebPKI, required above),
    // and the outputs it carries are protected by nothing else. PROTOCOL.md section 9.3.
    let deadline = Deadline::after(config.handshake_timeout);
    let mut ws = transport::connect(config, function, Protocol::Cape, max, &deadline).await?.ws;

    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let hello = serde_json::json!({ "message": { "nonce": B64.encode(nonce) } }).to_string();
    let reply = deadline
        .run(Wait::Document, async {
            ws.send(Message::text(hello)).await.map_err(ws_error)?;
            next_message(&mut ws).await
        })
        .await?;
    let raw = match reply {
        Reply::Message { kind, body } if kind == "attestation_doc" => body,
        Reply::Message { .. } => return Err(SessionError::CapeMessage("expected an attestation_doc").into()),
        Reply::Error(message) => return Err(SessionError::CapeRemote { len: message.len(), message }.into()),
    };
    let connection = Connection { nonce: &nonce, function_id: &name, tls_spki: None, purpose: Purpose::Cape };
    let enclave = match attested::attest(&config.verifier, &raw, &connection, config.clock.now()) {
        Ok(enclave) => enclave,
        Err(e) => {
            let _ = tokio::time::timeout(GOODBYE, ws.close(None)).await;
            return Err(e);
        }
    };
    Ok(CapeSession {
        ws,
        enclave,
        function: function.to_owned(),
        name,
        idle_timeout: config.idle_timeout,
        max_output_len: config.max_output_len,
    })
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
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: enclave_sdk::Client) -> Result<(), enclave_sdk::Error> {
    /// let session = client.connect_cape("alice/echo").await?;
    /// // Cape's claim names no function: only the checksum was pinned and checked.
    /// assert!(session.attestation().claimed_function().is_none());
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    pub fn attestation(&self) -> &AttestedDocument {
        self.enclave.document()
    }

    /// Seals `input` to the attested key (RFC 9180 single-shot, empty info and aad), sends it, and
    /// waits for the function's result.
    ///
    /// # Errors
    /// [`Error::Function`] (code 0) when the enclave answers `{"error"}`: Cape does not distinguish a
    /// function's failure from a refusal, so the session may or may not still be usable;
    /// [`Error::Limit`] for an output over the bound, for the idle timeout while waiting for the
    /// result ([`LimitError::IdleTimeout`]), or while sending the input to an enclave (or proxy) that
    /// takes no bytes of it ([`LimitError::Timeout`] with [`Wait::Send`](crate::error::Wait::Send));
    /// [`Error::Session`] otherwise.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: enclave_sdk::Client) -> Result<(), enclave_sdk::Error> {
    /// let mut session = client.connect_cape("alice/echo").await?;
    /// let output = session.invoke(b"input").await?; // one at a time: Cape does not pipeline
    /// # let _ = output; Ok(()) }
    /// # let _ = demo;
    /// ```
    pub async fn invoke(&mut self, input: &[u8]) -> Result<Vec<u8>, Error> {
        let (enc, ct) = seal_single_shot(self.enclave.key(), input, &mut OsRng).map_err(SessionError::from)?;
        let mut frame = Vec::with_capacity(KEY_LEN.saturating_add(ct.len()));
        frame.extend_from_slice(&enc);
        frame.extend_from_slice(&ct);
        // Bounded like the reply: a peer that stops reading would otherwise hold this send forever.
        let ws = &mut self.ws;
        transport::bounded(Wait::Send, self.idle_timeout, async {
            ws.send(Message::binary(frame)).await.map_err(ws_error)
        })
        .await?;
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
    /// [`Error::Session`] when the close handshake fails; [`LimitError::Timeout`] with
    /// [`Wait::Close`](crate::error::Wait::Close) when it does not complete within the idle timeout.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(client: enclave_sdk::Client) -> Result<(), enclave_sdk::Error> {
    /// let session = client.connect_cape("alice/echo").await?;
    /// session.close().await?;
    /// # Ok(()) }
    /// # let _ = demo;
    /// ```
    pub async fn close(mut self) -> Result<(), Error> {
        let ws = &mut self.ws;
        transport::bounded(Wait::Close, self.idle_timeout, async { ws.close(None).await.map_err(ws_error) }).await
    }
}
