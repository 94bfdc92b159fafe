//! `attestation::chain`: where the certificate path and the document signature are checked, and the
//! only place that grants [`SignatureChecked`].
//!
//! In: the leaf and `cabundle` certificates from a document (untrusted, parsed by `x509`), the pinned
//! [`TrustRoot`]s, the verification time and skew, and the link cache. Out: proof that the COSE
//! signature was made by a leaf key that chains to a pinned root, every certificate valid at `now`.
//! Does not look at any payload field other than the certificates; `policy` does that afterwards.
//!
//! The path is `leaf -> cabundle[n-1] -> ... -> cabundle[1] -> pinned root` (AWS sends
//! `cabundle = [root, intermediates...]`). `cabundle[0]` must be byte-for-byte one of the pinned roots;
//! we decided to require that rather than ignore it, because a mismatch is the clearest possible
//! diagnostic for "this document chains to another root" (a mock CA, a smuggled root). Even so it is
//! never used as the anchor: the signature of `cabundle[1]` is checked with the pinned root's key.
//!
//! Why this check is ours and not rustls-webpki's: webpki validates a whole path per call and keeps no
//! state, so it cannot remember that a CA link verified before (the cache that makes a warm verification
//! cost two signature checks instead of five), and its errors do not say which certificate in the path
//! failed (`CertExpired` without a position). The Nitro profile is also small enough to check exactly
//! (P-384, ecdsa-with-SHA384, two extensions). webpki stays as an independent oracle in the tests: every
//! fixture chain must validate under it too.

#![warn(clippy::arithmetic_side_effects)]

use std::time::Duration;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_ASN1};
use sha2::{Digest, Sha256};

use super::cache::LinkCache;
use super::cose::Envelope;
use super::error::{AttestationError, CertPosition, ChainError, Hex, HexList};
use super::root::TrustRoot;
use super::time::UnixTime;
use super::x509::{Certificate, KU_DIGITAL_SIGNATURE, KU_KEY_CERT_SIGN};

/// Proof that a document's signature and certificate path were verified. Constructed only in this
/// module: grep for `SignatureChecked(())` to find every place trust is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignatureChecked(());

/// Verifies the path from `leaf` through `cabundle` to a pinned root at `now` +- `skew`, then the
/// document's ES384 signature with the leaf key.
pub(crate) fn verify_document(
    envelope: &Envelope<'_>,
    leaf: &Certificate,
    cabundle: &[Certificate],
    roots: &[TrustRoot],
    now: UnixTime,
    skew: Duration,
    cache: &LinkCache,
) -> Result<SignatureChecked, AttestationError> {
    verify_path(leaf, cabundle, roots, now, skew, cache)?;
    envelope.verify(&leaf.public_key)?;
    Ok(SignatureChecked(()))
}

fn verify_path(
    leaf: &Certificate,
    cabundle: &[Certificate],
    roots: &[TrustRoot],
    now: UnixTime,
    skew: Duration,
    cache: &LinkCache,
) -> Result<(), ChainError> {
    let sent_root = cabundle
        .first()
        .ok_or(ChainError::UnknownRoot { found_sha256: Hex(Vec::new()), pinned_sha256: pinned_list(roots) })?;
    let root = roots.iter().find(|r| r.der() == sent_root.der.as_slice()).ok_or_else(|| ChainError::UnknownRoot {
        found_sha256: Hex(Sha256::digest(&sent_root.der).to_vec()),
        pinned_sha256: pinned_list(roots),
    })?;

    // Top-down: the pinned root (not cabundle[0]), the intermediates, then the leaf.
    let mut path: Vec<(CertPosition, &Certificate)> = Vec::with_capacity(cabundle.len().saturating_add(1));
    path.push((CertPosition::PinnedRoot, root.cert()));
    for (i, c) in cabundle.iter().enumerate().skip(1) {
        path.push((CertPosition::CaBundle(i), c));
    }
    path.push((CertPosition::Leaf, leaf));

    // Cheap checks over the whole path first, so a bad path costs no signature verification. Names
    // first: a misordered or foreign certificate is best described as "not a path".
    // RFC 5280 section 6.1.3 (a)(4): the issuer name equals the issuer's subject. Byte comparison,
    // as every AWS and mock chain encodes the names identically.
    for pair in path.windows(2) {
        if let [(issuer_at, issuer), (at, cert)] = pair {
            if cert.issuer != issuer.subject {
                return Err(ChainError::NameMismatch { at: *at, issuer: *issuer_at });
            }
        }
    }
    for &(at, cert) in &path {
        if let Some(oid) = cert.unknown_critical.first() {
            return Err(ChainError::UnknownCriticalExtension { at, oid: oid.clone() });
        }
        check_validity(at, cert, now, skew)?;
    }
    // Every certificate above the leaf issues one below it.
    let cas = path.len().saturating_sub(1);
    for (depth, &(at, cert)) in path.iter().take(cas).enumerate() {
        // RFC 5280 section 4.2.1.9: an issuer must assert cA; pathLenConstraint bounds the number of
        // non-self-issued intermediate CAs that may follow it (the leaf does not count). We count
        // self-issued ones too: stricter, and no Nitro chain has any.
        match cert.basic_constraints {
            Some((true, path_len)) => {
                let below = cas.saturating_sub(depth).saturating_sub(1) as u64;
                if let Some(path_len) = path_len.filter(|&p| p < below) {
                    return Err(ChainError::PathLen { at, path_len, below });
                }
            }
            _ => return Err(ChainError::NotCa { at }),
        }
        // RFC 5280 section 4.2.1.3: a key that signs certificates needs keyCertSign.
        if cert.key_usage.is_none_or(|ku| ku & KU_KEY_CERT_SIGN == 0) {
            return Err(ChainError::KeyUsage { at, missing: "keyCertSign" });
        }
    }
    if matches!(leaf.basic_constraints, Some((true, _))) {
        return Err(ChainError::LeafIsCa);
    }
    // The leaf key signs the document, which is a digital signature.
    if leaf.key_usage.is_none_or(|ku| ku & KU_DIGITAL_SIGNATURE == 0) {
        return Err(ChainError::KeyUsage { at: CertPosition::Leaf, missing: "digitalSignature" });
    }
    // Signatures last, top-down. CA links are cached by exact DER; the leaf link always costs one check.
    for pair in path.windows(2) {
        if let [(issuer_at, issuer), (at, cert)] = pair {
            let is_ca_link = *at != CertPosition::Leaf;
            if is_ca_link && cache.contains(&issuer.der, &cert.der) {
                continue;
            }
            UnparsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, &issuer.public_key)
                .verify(&cert.tbs, &cert.signature)
                .map_err(|_| ChainError::BadSignature { at: *at, issuer: *issuer_at })?;
            if is_ca_link {
                cache.insert(&issuer.der, &cert.der);
            }
        }
    }
    Ok(())
}

/// RFC 5280 section 4.1.2.5: valid from notBefore to notAfter inclusive, widened by the skew allowance.
fn check_validity(at: CertPosition, cert: &Certificate, now: UnixTime, skew: Duration) -> Result<(), ChainError> {
    if now.saturating_add(skew) < cert.not_before {
        return Err(ChainError::NotYetValid { at, not_before: cert.not_before, now, skew_s: skew.as_secs() });
    }
    if now.saturating_sub(skew) > cert.not_after {
        return Err(ChainError::Expired { at, not_after: cert.not_after, now, skew_s: skew.as_secs() });
    }
    Ok(())
}

fn pinned_list(roots: &[TrustRoot]) -> HexList {
    HexList(roots.iter().map(|r| Hex(r.sha256().to_vec())).collect())
}
