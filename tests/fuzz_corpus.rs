//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`) through the same harnesses the
//! cargo-fuzz targets run, without libFuzzer, so every `cargo test` re-checks the seeds and any
//! crash input kept there as a regression.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../fuzz/harness.rs"]
#[allow(dead_code, unreachable_pub)]
mod harness;

use std::path::Path;

/// Runs `f` on every file under `fuzz/corpus/<target>`, returning how many there were.
fn replay(target: &str, f: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        f(&bytes);
        n += 1;
    }
    n
}

#[test]
fn document_corpus_replays() {
    assert!(replay("document", harness::document) >= 6, "the real fixtures are missing from the corpus");
}

/// The EIF target's seeds are the committed fixtures (eif/testdata, built by AWS's EifBuilder).
#[test]
fn eif_seeds_and_corpus_replay() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("eif/testdata");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "eif") {
            harness::eif(&std::fs::read(&path).unwrap());
            n += 1;
        }
    }
    assert!(n >= 8, "the EIF fixtures are missing");
}

#[test]
fn records_corpus_replays() {
    assert!(replay("records", harness::records) >= 13);
}

/// The harness is not vacuous: the real document it is seeded with parses, and verifies at the
/// harness's fixed time, so mutations of it reach the signature check.
#[test]
fn the_document_harness_reaches_verification() {
    use enclave_sdk::attestation::{TrustRoot, UnixTime, UnverifiedDocument};
    let raw =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/document/evervault-ga.cbor")).unwrap();
    let doc = UnverifiedDocument::parse(&raw).unwrap();
    let at = UnixTime::from_secs(harness::VERIFY_AT);
    doc.verify(&[TrustRoot::aws_nitro_root_g1()], at, std::time::Duration::from_secs(60)).unwrap();
}

/// Fuzzing finding (records target, fuzz/findings/records/close-with-nonzero-id): a `Close` whose
/// `id` was not 0 decoded, and re-encoded with id 0, although PROTOCOL.md section 5.2 says its id is 0.
#[test]
fn close_with_a_nonzero_id_is_refused() {
    use enclave_protocol::{ClientMessage, WireError};
    let raw = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/findings/records/close-with-nonzero-id"))
        .unwrap();
    assert_eq!(raw, [3, 0, 0, 0, 0, 0, 8, 0, 0]);
    assert_eq!(ClientMessage::decode(&raw), Err(WireError::CloseWithId(0x8_0000)));
}
