//! The fuzzing harnesses, shared by the cargo-fuzz targets (`fuzz_targets/`) and the workspace test
//! that replays the committed corpus without libFuzzer (`tests/fuzz_corpus.rs`).
//!
//! Input: arbitrary, untrusted bytes. Output: nothing; a harness panics only when a property of the
//! SDK's decoders fails (a decoded value that does not re-encode to its bytes). The decoders themselves
//! must never panic, whatever the bytes.

use enclave_protocol::{ClientMessage, Frame, FrameLimits, ServerMessage};
use enclave_sdk::attestation::{TrustRoot, UnixTime, UnverifiedDocument};

/// Inside the validity window of every real fixture's chain (evervault-ga.cbor's `verify_at`), so a
/// mutated real document reaches the signature check instead of stopping at an expired certificate.
pub const VERIFY_AT: u64 = 1_695_049_440;

/// Parses `data` as an attestation document and, if it parses, verifies chain and signature against
/// the AWS Nitro root at [`VERIFY_AT`].
pub fn document(data: &[u8]) {
    if let Ok(doc) = UnverifiedDocument::parse(data) {
        let _ = doc.dangerous_unverified_certificates();
        let _ = doc.verify(
            &[TrustRoot::aws_nitro_root_g1()],
            UnixTime::from_secs(VERIFY_AT),
            std::time::Duration::from_secs(60),
        );
    }
}

/// Measures `data` as an EIF image, streaming and with its length known up front: neither may panic,
/// both must reach the same verdict (the same PCRs, or both a refusal), and an image compared with
/// itself has no difference.
pub fn eif(data: &[u8]) {
    use enclave_eif::{Diff, Measure};
    let streamed = Measure::new().section_digests(true).reader(data);
    let sized = Measure::new().expect_len(data.len() as u64).reader(data);
    assert_eq!(streamed.is_ok(), sized.is_ok(), "streamed and sized readings disagree");
    if let (Ok(a), Ok(b)) = (&streamed, &sized) {
        assert_eq!(a.measurements(), b.measurements(), "streamed and sized measurements differ");
        assert!(Diff::between(a, a).is_empty(), "an image differs from itself");
    }
}

/// Decodes `data` as a frame, a client message and an enclave message; whatever decodes must
/// re-encode to exactly `data` (the wire format has one encoding per value).
pub fn records(data: &[u8]) {
    if let Ok(f) = Frame::decode(data, &FrameLimits::default()) {
        assert_eq!(f.encode(), data, "frame re-encodes differently");
    }
    if let Ok(m) = ClientMessage::decode(data) {
        assert_eq!(m.encode(), data, "client message re-encodes differently");
    }
    if let Ok(m) = ServerMessage::decode(data) {
        assert_eq!(m.encode(), data, "enclave message re-encodes differently");
    }
}
