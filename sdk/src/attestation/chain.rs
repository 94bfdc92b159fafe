//! `attestation::chain`: where the certificate path and the document signature are checked, and the
//! only place that grants [`SignatureChecked`].
//!
//! In: the leaf and `cabundle` certificates from a document (untrusted, parsed by `x509`), the pinned
//! [`TrustRoot`]s, the verification time and skew, and the path cache. Out: proof that the COSE
//! signature was made by a leaf key that chains to a pinned root, every certificate valid at one
//! instant within `now` +- skew. Does not look at any payload field other than the certificates;
//! `policy` does that afterwards.
//!
//! rustls-webpki decides whether the path is valid: signatures (ES384 only), BasicConstraints and
//! pathLenConstraint, names, extensions, and validity at one instant. This module adds only what
//! webpki does not know about Nitro:
//!
//! - The path is `leaf -> cabundle[n-1] -> ... -> cabundle[1] -> pinned root` (AWS sends
//!   `cabundle = [root, intermediates...]`). `cabundle[0]` must be byte-for-byte one of the pinned
//!   roots: a mismatch is the clearest diagnostic for "this document chains to another root" (a mock
//!   CA, a smuggled root). It is never the anchor; webpki's anchor is the pinned root.
//! - The order is cabundle's: names must chain in that order, and webpki may accept only that path
//!   (it would otherwise build any path through the bundle, in any order or through a subset).
//! - webpki reads only the anchor's subject and key; the pinned root's own validity, cA, pathLen and
//!   keyCertSign are checked here. webpki ignores KeyUsage; here every CA needs keyCertSign and the
//!   leaf digitalSignature (it signs the document).
//! - No certificate may carry an ExtendedKeyUsage (enforced through webpki's EKU hook).
//! - The clock-skew allowance (see [`instant`]), and the cache of webpki's verdict (`cache`).
//!
//! webpki reports a failed path without saying which certificate failed. On a failure only, the path
//! is re-validated by webpki with each CA in turn as the anchor, from the leaf's issuer upward; the
//! first run that fails added exactly one certificate and its link, and that is the one named. The
//! verdict is never taken from those runs, only the position.

#![warn(clippy::arithmetic_side_effects)]

use std::time::Duration;

use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime as PkiTime};
use sha2::{Digest, Sha256};
use webpki::{KeyPurposeIdIter, RequiredEkuNotFoundContext, VerifiedPath};

use super::cache::{self, PathCache, Window};
use super::cose::Envelope;
use super::error::{AttestationError, CertPosition, ChainError};
use super::root::TrustRoot;
use super::time::UnixTime;
use super::x509::{webpki_reason, Certificate};

/// Proof that a document's signature and certificate path were verified. Constructed only in this
/// module: grep for `SignatureChecked(())` to find every place trust is granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SignatureChecked(());

/// The one signature algorithm of the Nitro profile, for certificates as for documents.
static ES384: &[&dyn rustls_pki_types::SignatureVerificationAlgorithm] = &[webpki::aws_lc_rs::ECDSA_P384_SHA384];

/// Verifies the path from `leaf` through `cabundle` to a pinned root at `now` +- `skew`, then the
/// document's ES384 signature with the leaf key.
pub(crate) fn verify_document(
    envelope: &Envelope,
    leaf: &Certificate,
    cabundle: &[Certificate],
    roots: &[TrustRoot],
    now: UnixTime,
    skew: Duration,
    cache: &PathCache,
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
    cache: &PathCache,
) -> Result<(), ChainError> {
    let sent_root = cabundle
        .first()
        .ok_or_else(|| ChainError::UnknownRoot { found_sha256: None, pinned_sha256: pinned_list(roots) })?;
    let root = roots.iter().find(|r| r.der() == sent_root.der.as_slice()).ok_or_else(|| ChainError::UnknownRoot {
        found_sha256: Some(Sha256::digest(&sent_root.der).into()),
        pinned_sha256: pinned_list(roots),
    })?;
    let intermediates = cabundle.get(1..).unwrap_or_default();

    // Top-down: the pinned root (not cabundle[0]), the intermediates, then the leaf.
    let mut path: Vec<(CertPosition, &Certificate)> = Vec::with_capacity(cabundle.len().saturating_add(1));
    path.push((CertPosition::PinnedRoot, root.cert()));
    path.extend(intermediates.iter().enumerate().map(|(i, c)| (CertPosition::CaBundle(i.saturating_add(1)), c)));
    path.push((CertPosition::Leaf, leaf));

    // RFC 5280 section 6.1.3 (a)(4), in cabundle's order: the issuer name equals the issuer's subject,
    // byte for byte, as webpki compares them. Names first: a misordered or foreign certificate is best
    // described as "not a path".
    for pair in path.windows(2) {
        if let [(issuer_at, issuer), (at, cert)] = pair {
            if cert.issuer != issuer.subject {
                return Err(ChainError::NameMismatch { at: *at, issuer: *issuer_at });
            }
        }
    }
    let (at, window) = instant(&path, now, skew)?;
    pinned_root_constraints(root.cert(), intermediates.len())?;
    for &(at, cert) in path.iter().skip(1).take(intermediates.len()) {
        if !cert.key_usage.is_some_and(|(_, cert_sign)| cert_sign) {
            return Err(ChainError::KeyUsage { at, missing: "keyCertSign" });
        }
    }
    if !leaf.key_usage.is_some_and(|(signature, _)| signature) {
        return Err(ChainError::KeyUsage { at: CertPosition::Leaf, missing: "digitalSignature" });
    }

    let key = cache::key(path.iter().map(|(_, c)| c.der.as_slice()));
    if cache.holds(&key, at) {
        return Ok(());
    }
    if let Err(e) = webpki_path(root.anchor(), intermediates, leaf, at) {
        return Err(locate(e, intermediates, leaf, at));
    }
    cache.insert(key, window);
    Ok(())
}

/// The instant at which webpki validates the path, and the window of instants in which the path's
/// verdict stays the same.
///
/// Every certificate must be valid within the skew allowance: `notBefore - skew <= now <= notAfter +
/// skew` (RFC 5280 section 4.1.2.5, both ends included), exactly as before webpki took over. webpki
/// checks one instant against every certificate, so the instant given is `now` moved by at most the
/// skew into the intersection [latest notBefore, earliest notAfter] of the path's validity periods.
/// The intersection must not be empty: a path is valid only if all of it is valid at once, so a
/// certificate whose notBefore lies after its notAfter, or two that do not overlap, are refused even
/// when each lies within the skew allowance.
fn instant(
    path: &[(CertPosition, &Certificate)],
    now: UnixTime,
    skew: Duration,
) -> Result<(UnixTime, Window), ChainError> {
    let skew_s = skew.as_secs();
    for &(at, cert) in path {
        if now.saturating_add(skew) < cert.not_before {
            return Err(ChainError::NotYetValid { at, not_before: cert.not_before, now, skew_s });
        }
        if now.saturating_sub(skew) > cert.not_after {
            return Err(ChainError::Expired { at, not_after: cert.not_after, now, skew_s });
        }
    }
    for &(at, cert) in path {
        if cert.not_before > cert.not_after {
            return Err(ChainError::InvalidValidity { at, not_before: cert.not_before, not_after: cert.not_after });
        }
    }
    // The top-most certificate among equals, as the checks above report.
    let mut starts = (CertPosition::PinnedRoot, UnixTime::from_secs(0));
    let mut ends = (CertPosition::PinnedRoot, UnixTime::from_secs(u64::MAX));
    for &(at, cert) in path {
        if cert.not_before > starts.1 {
            starts = (at, cert.not_before);
        }
        if cert.not_after < ends.1 {
            ends = (at, cert.not_after);
        }
    }
    if starts.1 > ends.1 {
        return Err(ChainError::NoCommonValidity {
            starts: starts.0,
            not_before: starts.1,
            ends: ends.0,
            not_after: ends.1,
        });
    }
    Ok((now.clamp(starts.1, ends.1), Window { from: starts.1, until: ends.1 }))
}

/// webpki takes only the anchor's subject and key, so the pinned root's role as the top CA is checked
/// here: a CA (RFC 5280 section 4.2.1.9) with keyCertSign (section 4.2.1.3) whose pathLenConstraint
/// allows the intermediates below it (self-issued ones counted too: stricter, and Nitro has none).
fn pinned_root_constraints(root: &Certificate, intermediates: usize) -> Result<(), ChainError> {
    let at = CertPosition::PinnedRoot;
    match root.basic_constraints {
        Some((true, path_len)) => {
            if let Some(path_len) = path_len.filter(|&p| usize::from(p) < intermediates) {
                return Err(ChainError::PathLen { at, path_len: path_len.into(), below: intermediates as u64 });
            }
        }
        _ => return Err(ChainError::NotCa { at }),
    }
    if !root.key_usage.is_some_and(|(_, cert_sign)| cert_sign) {
        return Err(ChainError::KeyUsage { at, missing: "keyCertSign" });
    }
    Ok(())
}

/// rustls-webpki's verdict on exactly the path `leaf -> intermediates (last first) -> anchor` at `at`.
fn webpki_path(
    anchor: &TrustAnchor<'_>,
    intermediates: &[Certificate],
    leaf: &Certificate,
    at: UnixTime,
) -> Result<(), webpki::Error> {
    let ders: Vec<CertificateDer<'_>> = intermediates.iter().map(|c| CertificateDer::from(c.der.as_slice())).collect();
    let leaf_der = CertificateDer::from(leaf.der.as_slice());
    let end_entity = webpki::EndEntityCert::try_from(&leaf_der)?;
    // webpki builds any path it can find through the intermediates; only cabundle's counts.
    let cabundle_order = |path: &VerifiedPath<'_>| {
        let found = path.intermediate_certificates().map(|c| c.der());
        if found.eq(ders.iter().rev().cloned()) {
            Ok(())
        } else {
            Err(webpki::Error::UnknownIssuer)
        }
    };
    end_entity
        .verify_for_usage(
            ES384,
            std::slice::from_ref(anchor),
            &ders,
            PkiTime::since_unix_epoch(Duration::from_secs(at.as_secs())),
            NoExtendedKeyUsage,
            None,
            Some(&cabundle_order),
        )
        .map(|_| ())
}

/// Names the certificate at which webpki refused the path (see the module comment), and maps webpki's
/// reason to a variant.
fn locate(error: webpki::Error, intermediates: &[Certificate], leaf: &Certificate, at: UnixTime) -> ChainError {
    // `intermediates[k]` is cabundle[k + 1]. With it as the anchor, webpki checks everything below it;
    // going upward, the first failure is in intermediates[k + 1] (or the leaf) or its link to it.
    for k in (0..intermediates.len()).rev() {
        let (Some(issuer), Some(below)) = (intermediates.get(k), intermediates.get(k.saturating_add(1)..)) else {
            continue;
        };
        let issuer_der = CertificateDer::from(issuer.der.as_slice());
        let Ok(anchor) = webpki::anchor_from_trusted_cert(&issuer_der) else {
            continue;
        };
        if let Err(e) = webpki_path(&anchor, below, leaf, at) {
            let (position, cert) =
                below.first().map_or((CertPosition::Leaf, leaf), |c| (cabundle(k.saturating_add(2)), c));
            return describe(e, position, cabundle(k.saturating_add(1)), cert, below.len().saturating_sub(1));
        }
    }
    // Everything below cabundle[1] holds: cabundle[1] (or the leaf, with no intermediates) and its link
    // to the pinned root failed.
    let (position, cert) = intermediates.first().map_or((CertPosition::Leaf, leaf), |c| (cabundle(1), c));
    describe(error, position, CertPosition::PinnedRoot, cert, intermediates.len().saturating_sub(1))
}

fn cabundle(i: usize) -> CertPosition {
    CertPosition::CaBundle(i)
}

/// webpki's reason for refusing `cert` (at `at`, issued by `issuer`, with `below` intermediates under it).
fn describe(
    error: webpki::Error,
    at: CertPosition,
    issuer: CertPosition,
    cert: &Certificate,
    below: usize,
) -> ChainError {
    use webpki::Error as W;
    match error {
        W::InvalidSignatureForPublicKey => ChainError::BadSignature { at, issuer },
        W::UnknownIssuer => ChainError::NameMismatch { at, issuer },
        W::EndEntityUsedAsCa => ChainError::NotCa { at },
        W::CaUsedAsEndEntity => ChainError::LeafIsCa,
        W::PathLenConstraintViolated => ChainError::PathLen {
            at,
            path_len: cert.basic_constraints.and_then(|(_, p)| p).map_or(0, u64::from),
            below: below as u64,
        },
        W::EmptyEkuExtension | W::RequiredEkuNotFoundContext(_) => ChainError::ExtendedKeyUsage { at },
        other => ChainError::Refused { at, reason: webpki_reason(&other) },
    }
}

/// The Nitro profile's EKU rule, applied by webpki to every certificate of the path: no
/// ExtendedKeyUsage at all. A certificate that names its purposes names none that signs attestation
/// documents, and no AWS certificate carries the extension.
struct NoExtendedKeyUsage;

impl webpki::ExtendedKeyUsageValidator for NoExtendedKeyUsage {
    fn validate(&self, mut iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        match iter.next() {
            None => Ok(()),
            Some(_) => Err(webpki::Error::RequiredEkuNotFoundContext(RequiredEkuNotFoundContext {
                required: webpki::KeyUsage::required(&[]),
                present: Vec::new(),
            })),
        }
    }
}

fn pinned_list(roots: &[TrustRoot]) -> Vec<[u8; 32]> {
    roots.iter().map(TrustRoot::sha256).collect()
}
