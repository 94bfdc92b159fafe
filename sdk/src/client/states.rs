//! A native connection as typed states: [`Connected`] (upgraded, the nonce sent in the upgrade
//! request) -> [`Attested`]
//! (document verified and bound to this connection) -> an open [`Session`].
//!
//! Each step takes `self`; a step that fails drops the state and with it the socket, so no code can
//! resume from a half state, and the key share (the first byte that depends on anything the caller
//! will send) can only be sent from [`Attested`]. The protocol's own steps are
//! `enclave_protocol::ClientHandshake`'s; this module moves their frames and hands the document to
//! the one binding step, `attested::attest`.

use std::sync::Arc;
use std::time::Duration;

use enclave_protocol::{ClientHandshake, DocumentReceived, FunctionId};
use futures_util::StreamExt as _;
use rand_core::OsRng;

use super::attested::{self, AttestedEnclave, Connection, Purpose};
use super::config::Config;
use super::session::Session;
use super::transport::{self, next_binary, send_binary, Deadline, Protocol, Ws};
use crate::attestation::AttestedDocument;
use crate::error::{Error, SessionError, Wait};

/// How long a refused connection waits to say goodbye before it drops the socket.
const GOODBYE: Duration = Duration::from_secs(1);

/// Upgraded to `enclave-session.v3`, with the nonce sent in the upgrade request; the document (the
/// enclave's first message, already on its way) is not in yet.
pub(crate) struct Connected {
    ws: Ws,
    tls_spki: Option<Vec<u8>>,
    handshake: ClientHandshake,
    /// The handshake's one deadline, up to the key share.
    deadline: Deadline,
}

/// The document verified against the policy and bound to this connection; nothing but the nonce
/// has been sent.
pub(crate) struct Attested {
    ws: Ws,
    received: DocumentReceived,
    enclave: AttestedEnclave,
    deadline: Deadline,
}

impl Connected {
    /// Draws a fresh nonce, connects to `function_id`, and upgrades with the nonce in the request, each
    /// step by the handshake's deadline (which goes on to bound the document and the key share).
    pub(crate) async fn open(config: &Config, function_id: &FunctionId) -> Result<Self, Error> {
        let deadline = Deadline::after(config.handshake_timeout);
        let max = transport::native_message_len(&config.limits);
        let handshake = ClientHandshake::start(function_id.clone(), &mut OsRng);
        let native = Protocol::Native(handshake.nonce());
        let transport = transport::connect(config, function_id.as_str(), native, max, &deadline).await?;
        Ok(Self { ws: transport.ws, tls_spki: transport.tls_spki, handshake, deadline })
    }

    /// Receives the document (not yet verified).
    async fn receive(mut self, config: &Config) -> Result<(Ws, Option<Vec<u8>>, DocumentReceived), Error> {
        let bytes = self.deadline.run(Wait::Document, next_binary(&mut self.ws)).await?;
        let received = self.handshake.receive_document(&bytes, &config.limits).map_err(SessionError::from)?;
        Ok((self.ws, self.tls_spki, received))
    }

    /// Receives the document and binds it for a session. On a refusal the connection is closed and
    /// nothing more is sent.
    pub(crate) async fn attest(self, config: &Config) -> Result<Attested, Error> {
        let deadline = self.deadline;
        let (mut ws, tls_spki, received) = self.receive(config).await?;
        let connection = connection(&received, tls_spki.as_deref(), Purpose::Session);
        match attested::attest(&config.verifier, received.document(), &connection, config.clock.now()) {
            Ok(enclave) => {
                tracing::debug!(
                    function_id = received.function_id().as_str(),
                    module_id = enclave.document().module_id(),
                    "enclave attested"
                );
                Ok(Attested { ws, received, enclave, deadline })
            }
            Err(e) => {
                // Refused: say goodbye properly so the enclave logs a disconnect, and send nothing else.
                let _ = tokio::time::timeout(GOODBYE, ws.close(None)).await;
                Err(e)
            }
        }
    }

    /// Receives the document and binds it for a fetch; the connection is closed either way.
    pub(crate) async fn fetch(self, config: &Config) -> Result<AttestedDocument, Error> {
        let (mut ws, tls_spki, received) = self.receive(config).await?;
        let connection = connection(&received, tls_spki.as_deref(), Purpose::Fetch);
        let fetched = attested::attest_fetched(&config.verifier, received.document(), &connection, config.clock.now());
        let _ = tokio::time::timeout(GOODBYE, ws.close(None)).await;
        fetched
    }
}

fn connection<'a>(received: &'a DocumentReceived, tls_spki: Option<&'a [u8]>, purpose: Purpose) -> Connection<'a> {
    Connection { nonce: received.nonce().as_bytes(), function_id: received.function_id(), tls_spki, purpose }
}

impl Attested {
    /// Sets up the record keys to the attested key, with the transcript of this handshake as HPKE
    /// `info`, sends the key share, and starts the session.
    pub(crate) async fn open(self, config: Arc<Config>) -> Result<Session, Error> {
        let function_id = self.received.function_id().clone();
        let (document, key) = self.enclave.into_parts();
        let (key_share, sealer, opener) = self.received.complete(&key, &mut OsRng).map_err(SessionError::from)?;
        let (mut sink, stream) = self.ws.split();
        self.deadline.run(Wait::KeyShare, send_binary(&mut sink, key_share)).await?;
        Ok(Session::start(config, function_id, document, sink, stream, sealer, opener))
    }
}
