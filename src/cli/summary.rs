//! What was verified about an enclave, for people: the one rendering `enclave run --verbose` and
//! `enclave attest` both print.
//!
//! Input: a document the SDK verified against `policy` (so every line states a check that passed) and
//! the time it was checked. Output: text. Nothing here decides anything; text from the document (the
//! module id, certificate names) is escaped before it reaches a terminal.

use enclave_sdk::attestation::{AttestedDocument, Policy, UnixTime, UnverifiedDocument};
use enclave_sdk::FunctionId;

/// The summary: document age against its limit, debug mode, each certificate's validity (UTC), the
/// root, each pinned PCR, the function checksum and the nonce.
pub(crate) fn verified(doc: &AttestedDocument, policy: &Policy, function: &FunctionId, now: UnixTime) -> String {
    let mut out = String::from("verified before sending any input:\n");
    let mut line = |label: &str, text: &str| out.push_str(&format!("  {label:<13}{text}\n"));
    line("module", &doc.module_id().escape_debug().to_string());
    let issued = doc.timestamp_ms() / 1000;
    line(
        "document",
        &format!(
            "issued {}, {} s old (limit {} s, clock skew {} s)",
            UnixTime::from_secs(issued).to_rfc3339(),
            now.as_secs().saturating_sub(issued),
            policy.max_document_age().as_secs(),
            policy.clock_skew().as_secs()
        ),
    );
    line(
        "debug mode",
        match (doc.fields().is_debug_mode(), policy.allows_debug()) {
            (false, _) => "no (PCR0..2 are not all zero)",
            (true, _) => "YES: allowed by the policy (the host can read this enclave's memory)",
        },
    );
    // The same bytes the SDK verified, parsed again only to describe their certificates.
    if let Ok(parsed) = UnverifiedDocument::parse(doc.raw()) {
        for cert in parsed.dangerous_unverified_certificates() {
            line(
                "chain",
                &format!(
                    "{} {} valid {} to {}",
                    cert.position,
                    cert.subject.escape_debug(),
                    cert.not_before.to_rfc3339(),
                    cert.not_after.to_rfc3339()
                ),
            );
        }
    }
    let cabundle_root = doc.fields().cabundle().first().map(Vec::as_slice);
    if let Some(root) = policy.trust_roots().iter().find(|r| Some(r.der()) == cabundle_root) {
        line("root", &format!("{} sha256 {} (pinned)", root.subject().escape_debug(), hex::encode(root.sha256())));
    }
    let matched = policy
        .measurement_sets()
        .iter()
        .enumerate()
        .find(|(_, set)| set.iter().all(|(index, value)| doc.pcrs().get(&index) == Some(value)));
    match matched {
        Some((n, set)) => {
            for (index, value) in set.iter() {
                line(&index.to_string(), &format!("{value} (pinned, set {})", n + 1));
            }
        }
        None => line("PCRs", "NOT pinned (the policy accepts any enclave)"),
    }
    let pinned = policy.function_checksums().get(function).copied().or(policy.function_checksum());
    match (doc.claimed_checksum(), pinned) {
        (Some(sum), Some(_)) => line("function", &format!("{function} checksum {sum} (pinned)")),
        (Some(sum), None) => line("function", &format!("{function} checksum {sum} (claimed, NOT pinned)")),
        (None, _) => line("function", &format!("{function} (no checksum claimed)")),
    }
    if let Some(nonce) = doc.nonce() {
        line("nonce", &format!("{} (fresh, this client's)", hex::encode(nonce)));
    }
    out
}
