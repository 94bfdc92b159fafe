#!/usr/bin/env python3
"""Independent check of the mock enclave's attestation documents.

A second implementation, sharing no code with the Rust encoder or verifier (cbor2 for CBOR,
`cryptography` (OpenSSL) for ECDSA and X.509), so a mistake both Rust sides share cannot hide.

For each document it checks: the untagged COSE_Sign1 shape NSM emits (protected header exactly
{1: -35}, empty unprotected map, 96-byte r||s signature); the ES384 signature over the RFC 9052
Sig_structure with the leaf certificate's key; the payload keys in NSM order with their CDDL bounds;
and the chain leaf -> cabundle[n..1] -> the exported root, each link's signature, validity at the
document's timestamp, BasicConstraints and pathLen, KeyUsage, and no EKU.

The chain must have AWS's five levels, each certificate with AWS's exact profile (pathLen and
KeyUsage per level): run on the real AWS documents in sdk/testdata/nitro (CI does), the same
script shows that the mock's chain and AWS's agree.

Then it proves it can fail: for each document, a flipped signature byte, a flipped payload byte,
and the pinned root swapped for another root must each be refused.

Usage: verify_independent.py ROOT_PEM OTHER_ROOT_PEM DOC.cbor [DOC.cbor ...]
Exit status 0 when every check behaves, 1 otherwise.
"""

import datetime
import sys

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

# The certificate profile of real AWS chains, by depth (0 = root .. 4 = leaf): BasicConstraints
# (always critical): None = not a CA, else the pathLen (-1 = absent); KeyUsage bits and criticality.
AWS_PROFILE = [
    (-1, {"digital_signature", "key_cert_sign", "crl_sign"}, True),
    (2, {"digital_signature", "key_cert_sign", "crl_sign"}, True),
    (1, {"digital_signature", "key_cert_sign", "crl_sign"}, True),
    (0, {"key_cert_sign"}, True),
    (None, {"digital_signature", "content_commitment"}, False),
]
KU_BITS = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
           "key_agreement", "key_cert_sign", "crl_sign"]

NSM_KEYS = ["module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle",
            "public_key", "user_data", "nonce"]


class Refused(Exception):
    """The document failed a check; the message names it."""


def check(cond, what):
    if not cond:
        raise Refused(what)


def verify(raw: bytes, root: x509.Certificate) -> dict:
    envelope = cbor2.loads(raw)
    check(isinstance(envelope, list) and len(envelope) == 4, "COSE_Sign1 is an untagged 4-array")
    protected, unprotected, payload, signature = envelope
    check(isinstance(protected, bytes) and cbor2.loads(protected) == {1: -35}, "protected header is {1: -35}")
    check(unprotected == {}, "unprotected header is empty")
    check(isinstance(payload, bytes) and 1 <= len(payload) <= 16384, "payload is 1..16384 bytes")
    check(isinstance(signature, bytes) and len(signature) == 96, "signature is 96 bytes")

    doc = cbor2.loads(payload)
    check(isinstance(doc, dict) and list(doc.keys()) == NSM_KEYS, "payload keys in NSM order")
    check(isinstance(doc["module_id"], str) and doc["module_id"], "module_id")
    check(doc["digest"] == "SHA384", "digest is SHA384")
    check(isinstance(doc["timestamp"], int) and doc["timestamp"] > 0, "timestamp")
    pcrs = doc["pcrs"]
    check(isinstance(pcrs, dict) and 1 <= len(pcrs) <= 32, "pcrs has 1..32 entries")
    for index, value in pcrs.items():
        check(isinstance(index, int) and 0 <= index < 32, "pcr index 0..31")
        check(isinstance(value, bytes) and len(value) == 48, "pcr value is 48 bytes")
    for field in ("public_key", "user_data", "nonce"):
        value = doc[field]
        check(value is None or (isinstance(value, bytes) and len(value) <= 1024), f"{field} null or <=1024 bytes")
    bundle = doc["cabundle"]
    check(isinstance(bundle, list) and len(bundle) >= 1, "cabundle non-empty")
    for der in [doc["certificate"], *bundle]:
        check(isinstance(der, bytes) and 1 <= len(der) <= 1024, "certificate 1..1024 bytes")

    # RFC 9052 section 4.4: Sig_structure = ["Signature1", protected, external_aad, payload].
    leaf = x509.load_der_x509_certificate(doc["certificate"])
    to_be_signed = cbor2.dumps(["Signature1", protected, b"", payload])
    r, s = int.from_bytes(signature[:48], "big"), int.from_bytes(signature[48:], "big")
    try:
        leaf.public_key().verify(encode_dss_signature(r, s), to_be_signed, ec.ECDSA(hashes.SHA384()))
    except InvalidSignature:
        raise Refused("COSE signature by the leaf key")

    # The chain: cabundle[0] must be the pinned root itself (never trusted because it is in the
    # bundle); then each certificate is issued by the one above it.
    check(bundle[0] == root.public_bytes(serialization_der()), "cabundle[0] is the pinned root")
    chain = [root] + [x509.load_der_x509_certificate(d) for d in bundle[1:]] + [leaf]
    check(len(chain) == len(AWS_PROFILE), f"chain has {len(chain)} certificates; AWS's has {len(AWS_PROFILE)}")
    at = datetime.datetime.fromtimestamp(doc["timestamp"] / 1000, tz=datetime.timezone.utc)
    for depth, cert in enumerate(chain):
        check(cert.signature_hash_algorithm.name == "sha384", f"depth {depth}: ecdsa-with-SHA384")
        check(isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
              and cert.public_key().curve.name == "secp384r1", f"depth {depth}: P-384 key")
        check(cert.not_valid_before_utc <= at <= cert.not_valid_after_utc, f"depth {depth}: valid at timestamp")
        try:
            cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
            raise Refused(f"depth {depth}: has an EKU")
        except x509.ExtensionNotFound:
            pass
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        ku_ext = cert.extensions.get_extension_for_class(x509.KeyUsage)
        ku = ku_ext.value
        path_len, usages, ku_critical = AWS_PROFILE[depth]
        found_path_len = None if not bc.value.ca else (-1 if bc.value.path_length is None else bc.value.path_length)
        check(found_path_len == path_len, f"depth {depth}: pathLen {found_path_len}, AWS profile {path_len}")
        found_usages = {bit for bit in KU_BITS if getattr(ku, bit)}
        check(found_usages == usages and ku_ext.critical == ku_critical,
              f"depth {depth}: KeyUsage {sorted(found_usages)} critical={ku_ext.critical}, AWS profile {sorted(usages)}")
        is_leaf = depth == len(chain) - 1
        check(bc.critical, f"depth {depth}: BasicConstraints critical")
        if is_leaf:
            check(not bc.value.ca and ku.digital_signature, "leaf: not a CA, digitalSignature")
        else:
            check(bc.value.ca and ku.key_cert_sign, f"depth {depth}: CA with keyCertSign")
            below = len(chain) - 2 - depth  # CA certificates under this one
            check(bc.value.path_length is None or bc.value.path_length >= below, f"depth {depth}: pathLen")
        if depth > 0:
            issuer = chain[depth - 1]
            check(cert.issuer == issuer.subject, f"depth {depth}: issuer name")
            try:
                cert.verify_directly_issued_by(issuer)
            except (InvalidSignature, ValueError, TypeError):
                raise Refused(f"depth {depth}: signature by its issuer")
    return doc


def serialization_der():
    from cryptography.hazmat.primitives.serialization import Encoding
    return Encoding.DER


def flip(raw: bytes, at: int) -> bytes:
    b = bytearray(raw)
    b[at] ^= 0x01
    return bytes(b)


def refused(raw: bytes, root) -> bool:
    try:
        verify(raw, root)
    except (Refused, ValueError, cbor2.CBORDecodeError):
        return True
    return False


def main(argv) -> int:
    if len(argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    root = x509.load_pem_x509_certificate(open(argv[1], "rb").read())
    other_root = x509.load_pem_x509_certificate(open(argv[2], "rb").read())
    failures = 0
    for path in argv[3:]:
        raw = open(path, "rb").read()
        try:
            doc = verify(raw, root)
        except Refused as e:
            print(f"FAIL {path}: {e}")
            failures += 1
            continue
        print(f"ok   {path}: {len(raw)} bytes, module {doc['module_id']}, chain of {len(doc['cabundle']) + 1}")
        # The checks must be able to fail: one edit each, every one refused.
        envelope = cbor2.loads(raw)
        sig_at = len(raw) - 1                      # last byte of the signature
        payload_at = raw.index(envelope[2]) + 20   # a byte inside the payload (module_id)
        for name, tampered, pinned in [
            ("signature byte flipped", flip(raw, sig_at), root),
            ("payload byte flipped", flip(raw, payload_at), root),
            ("another root pinned", raw, other_root),
        ]:
            if refused(tampered, pinned):
                print(f"ok   {path}: refused with {name}")
            else:
                print(f"FAIL {path}: accepted with {name}")
                failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
