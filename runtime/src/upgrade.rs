//! The WebSocket upgrade's checks: bearer token, path, function, subprotocol, the native protocol's
//! nonce, then a session slot from the admission policy, in that order, and which protocol the
//! connection will speak.
//!
//! Input: the client's HTTP upgrade request (untrusted), the server's token and functions. Output:
//! the response that accepts the upgrade with the chosen subprotocol, or the HTTP refusal; on
//! acceptance, the function and the protocol chosen, with the nonce the native document must echo
//! (parsed by the protocol core's one strict parser). The one place that decides who gets a session.

use enclave_protocol::{FunctionId, Nonce, NONCE_HEADER, PROTOCOL_LABEL};
use subtle::ConstantTimeEq;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use zeroize::Zeroizing;

use crate::admission::Refusal;
use crate::function::Functions;
use crate::session::cape::CAPE_SUBPROTOCOL;

/// Which protocol a connection speaks, chosen from the offered subprotocols (native preferred).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// `enclave-session.v3`.
    Native,
    /// Cape's `cape.runtime`.
    Cape,
}

/// An accepted upgrade: what the session starts from.
#[derive(Debug)]
pub(crate) enum Accepted {
    /// `enclave-session.v3`, with the nonce from the request's `Enclave-Nonce` header: the session's
    /// first message is the document over it.
    Native(Nonce),
    /// Cape's `cape.runtime`, whose nonce comes in its first message.
    Cape,
}

impl Accepted {
    /// Which protocol this is.
    pub(crate) fn wire(&self) -> Wire {
        match self {
            Self::Native(_) => Wire::Native,
            Self::Cape => Wire::Cape,
        }
    }

    /// The protocol's name, for logs.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Native(_) => PROTOCOL_LABEL,
            Self::Cape => CAPE_SUBPROTOCOL,
        }
    }
}

/// What the checks compare the request with.
pub(crate) struct Gate<'a> {
    pub(crate) functions: &'a Functions,
    pub(crate) token: Option<&'a Zeroizing<String>>,
    /// Takes a session slot (the admission policy's decision), called only once every other check
    /// passed, so that a request that would be refused anyway never evicts anyone.
    pub(crate) admit: &'a mut dyn FnMut() -> Result<(), Refusal>,
}

fn refuse(status: StatusCode, why: &str) -> ErrorResponse {
    let mut r = ErrorResponse::new(Some(why.to_owned()));
    *r.status_mut() = status;
    r
}

/// The checks, in an order that reveals nothing to an unauthenticated caller: token first. A refusal
/// is the HTTP response the client gets.
// The error is tungstenite's callback contract (an HTTP response); its size is not ours to choose.
#[allow(clippy::result_large_err)]
pub(crate) fn check(
    req: &Request,
    mut resp: Response,
    gate: &mut Gate<'_>,
) -> Result<(Response, FunctionId, Accepted), ErrorResponse> {
    let offered: Vec<&str> = req
        .headers()
        .get_all("Sec-WebSocket-Protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let wire = if offered.contains(&PROTOCOL_LABEL) {
        Some(Wire::Native)
    } else if offered.contains(&CAPE_SUBPROTOCOL) {
        Some(Wire::Cape)
    } else {
        None
    };
    if let Some(token) = gate.token {
        let given = req.headers().get("Authorization").map(|v| v.as_bytes()).unwrap_or_default();
        let expected = Zeroizing::new(format!("Bearer {}", token.as_str()));
        let mut ok = given.ct_eq(expected.as_bytes());
        // Cape clients carry their token as the second subprotocol entry, not in a header.
        if wire == Some(Wire::Cape) {
            for entry in &offered {
                ok |= entry.as_bytes().ct_eq(token.as_bytes());
            }
        }
        if !bool::from(ok) {
            return Err(refuse(StatusCode::UNAUTHORIZED, "bearer token missing or wrong"));
        }
    }
    let Some(path) = req.uri().path().strip_prefix("/v1/run/") else {
        return Err(refuse(StatusCode::NOT_FOUND, "path must be /v1/run/{function_id}"));
    };
    // Cape also addresses a function as `{user}/{name}`; the server has one namespace, so the name is the id.
    let function_id = match (wire, path.split_once('/')) {
        (Some(Wire::Cape), Some((user, name))) if !user.is_empty() => name,
        _ => path,
    };
    // Text that is not a function id cannot name a served function.
    let Some(function_id) = FunctionId::new(function_id).ok().filter(|id| gate.functions.contains(id)) else {
        return Err(refuse(StatusCode::NOT_FOUND, "no such function"));
    };
    let Some(wire) = wire else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            &format!("subprotocol {PROTOCOL_LABEL} or {CAPE_SUBPROTOCOL} required"),
        ));
    };
    let accepted = match wire {
        Wire::Native => {
            let values = req.headers().get_all(NONCE_HEADER).iter().map(|v| v.as_bytes());
            // The refusal names the rule and lengths only, never the client's bytes.
            Accepted::Native(
                Nonce::from_header_values(values).map_err(|e| refuse(StatusCode::BAD_REQUEST, &e.to_string()))?,
            )
        }
        Wire::Cape => Accepted::Cape,
    };
    match (gate.admit)() {
        Ok(()) => {}
        Err(Refusal::Full) => return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, "session limit reached")),
        Err(Refusal::AttestationRate) => {
            return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, "attestation rate limit reached"))
        }
    }
    resp.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static(accepted.name()));
    Ok((resp, function_id, accepted))
}
