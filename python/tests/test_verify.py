"""`verify` on the six real AWS documents in sdk/testdata/nitro, each at its `verify_at`."""

import datetime

import pytest

from conftest import NITRO


def documents(manifest):
    return [(d, (NITRO / d["file"]).read_bytes()) for d in manifest["documents"]]


def test_six_real_documents_verify_at_their_time(es, nitro_manifest):
    docs = documents(nitro_manifest)
    assert len(docs) == 6
    for d, raw in docs:
        if d["debug_mode"]:
            # Their PCR0..2 are zeros, which identify no image: only both waivers reach them.
            policy = es.Policy(accept_any_enclave=True, allow_debug=True)
        else:
            policy = es.Policy(measurements=[{0: d["pcr0"], 1: d["pcr1"], 2: d["pcr2"]}])
        v = es.verify(raw, policy, at=d["verify_at"])
        assert (v.module_id, v.timestamp_ms, len(v.pcrs)) == (d["module_id"], d["timestamp_ms"], d["pcr_count"])
        assert v.pcrs[0].hex() == d["pcr0"]
        assert (v.nonce.hex() if v.nonce is not None else None) == d["nonce_hex"]
        assert (len(v.public_key) if v.public_key is not None else None) == d["public_key_len"]
        assert (len(v.user_data) if v.user_data is not None else None) == d["user_data_len"]
        assert v.raw == raw


def cape_doc(manifest):
    return next((d, raw) for d, raw in documents(manifest) if d["file"] == "cape-cli-key.cbor")


def test_at_takes_a_datetime(es, nitro_manifest):
    d, raw = cape_doc(nitro_manifest)
    at = datetime.datetime.fromtimestamp(d["verify_at"], tz=datetime.timezone.utc)
    assert es.verify(raw, es.Policy(measurements=[{0: d["pcr0"]}]), at=at).module_id == d["module_id"]


def test_refusals_of_a_real_document(es, nitro_manifest):
    d, raw = cape_doc(nitro_manifest)
    policy = es.Policy(measurements=[{0: d["pcr0"]}])
    with pytest.raises(es.AttestationError) as info:
        es.verify(raw, policy)  # now: the leaf certificate expired years ago
    assert (info.value.check, info.value.detail) == ("chain", "expired")
    with pytest.raises(es.AttestationError) as info:
        es.verify(raw, policy, at=d["verify_at"], nonce=b"\x07" * 32)
    assert info.value.check in ("nonce_missing", "nonce_mismatch")
    with pytest.raises(es.AttestationError) as info:
        es.verify(raw, es.Policy(measurements=[{0: "ab" * 48}]), at=d["verify_at"])
    assert (info.value.check, info.value.found) == ("pcr_not_allowed", d["pcr0"])
    with pytest.raises(es.AttestationError) as info:
        es.verify(raw, es.Policy(measurements=[{0: d["pcr0"]}], max_document_age=5), at=d["verify_at"] + 60)
    assert (info.value.check, info.value.max_s) == ("stale", 5)
    flipped = bytearray(raw)
    flipped[-10] ^= 1
    with pytest.raises(es.AttestationError) as info:
        es.verify(bytes(flipped), policy, at=d["verify_at"])
    assert info.value.check == "cose"
    with pytest.raises(es.AttestationError) as info:
        es.verify(b"\x84", policy, at=d["verify_at"])
    assert info.value.check == "cose"


def test_debug_documents_are_refused_without_allow_debug(es, nitro_manifest):
    for d, raw in documents(nitro_manifest):
        if d["debug_mode"]:
            with pytest.raises(es.AttestationError) as info:
                es.verify(raw, es.Policy(accept_any_enclave=True), at=d["verify_at"])
            assert info.value.check == "debug_mode"


def test_untrusted_bytes_never_panic(es, nitro_manifest):
    d, raw = cape_doc(nitro_manifest)
    policy = es.Policy(measurements=[{0: d["pcr0"]}])
    for n in range(0, len(raw), max(1, len(raw) // 64)):
        with pytest.raises(es.AttestationError):
            es.verify(raw[:n], policy, at=d["verify_at"])
    with pytest.raises(es.AttestationError) as info:
        es.verify(b"\x00" * 200_000, policy, at=d["verify_at"])
    assert info.value.check == "document_too_large"
