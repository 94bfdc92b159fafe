//! The software NSM's documents have NSM's exact shape, its chain rotates with the injected clock,
//! and its state persists.

// Helpers outside #[test] functions may fail loudly: a document we cannot decode is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ciborium::Value;
use enclave_runtime::{AttestationRequest, Attester, AttesterError, MAX_FIELD_LEN};
use mock_enclave::attester::software::{LEAF_LIFETIME_S, LEAF_REFRESH_MARGIN_S, ROOT_NOT_AFTER_S};
use mock_enclave::attester::{SoftwareNsm, StateError};
use mock_enclave::functions::FunctionRegistry;
use mock_enclave::measurements::Measurements;

/// 2026-01-01T00:00:00Z in ms.
const T0_MS: u64 = 1_767_225_600_000;

fn measurements() -> Measurements {
    Measurements::for_image("test", "1", FunctionRegistry::builtins().manifest())
}

fn clocked() -> (SoftwareNsm, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(T0_MS));
    let c = now.clone();
    let nsm = SoftwareNsm::ephemeral(measurements()).unwrap().with_clock(Arc::new(move || c.load(Ordering::SeqCst)));
    (nsm, now)
}

struct Decoded {
    envelope: Vec<Value>,
    payload: Vec<(Value, Value)>,
}

fn decode(raw: &[u8]) -> Decoded {
    let Value::Array(envelope) = ciborium::from_reader::<Value, _>(raw).unwrap() else {
        panic!("not an untagged array")
    };
    let Value::Bytes(payload) = &envelope[2] else { panic!("payload not bstr") };
    let Value::Map(payload) = ciborium::from_reader::<Value, _>(payload.as_slice()).unwrap() else {
        panic!("payload not a map")
    };
    Decoded { envelope, payload }
}

fn field<'a>(d: &'a Decoded, key: &str) -> &'a Value {
    &d.payload.iter().find(|(k, _)| k.as_text() == Some(key)).unwrap().1
}

fn bytes(v: &Value) -> &[u8] {
    v.as_bytes().unwrap()
}

fn leaf(raw: &[u8]) -> Vec<u8> {
    bytes(field(&decode(raw), "certificate")).to_vec()
}

fn bundle(raw: &[u8]) -> Vec<Vec<u8>> {
    field(&decode(raw), "cabundle").as_array().unwrap().iter().map(|v| bytes(v).to_vec()).collect()
}

#[test]
fn document_has_nsm_shape_and_key_order() {
    let (nsm, _) = clocked();
    let raw = nsm.attest(&AttestationRequest::new(Some(vec![1; 32]), Some(vec![2; 32]), Some(vec![3; 5]))).unwrap();
    // Untagged COSE_Sign1 (major type 4, length 4), then a 4-byte bstr holding {1: -35}.
    assert_eq!(&raw[..6], &[0x84, 0x44, 0xa1, 0x01, 0x38, 0x22]);
    let d = decode(&raw);
    assert_eq!(d.envelope.len(), 4);
    assert_eq!(d.envelope[1], Value::Map(vec![]));
    assert_eq!(bytes(&d.envelope[3]).len(), 96);

    let keys: Vec<&str> = d.payload.iter().map(|(k, _)| k.as_text().unwrap()).collect();
    assert_eq!(
        keys,
        ["module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle", "public_key", "user_data", "nonce"]
    );
    assert_eq!(field(&d, "module_id").as_text(), Some(nsm.module_id()));
    assert_eq!(field(&d, "digest").as_text(), Some("SHA384"));
    assert_eq!(field(&d, "timestamp").as_integer(), Some(T0_MS.into()));
    let pcrs = field(&d, "pcrs").as_map().unwrap();
    assert_eq!(pcrs.len(), 16);
    for (i, (k, v)) in pcrs.iter().enumerate() {
        assert_eq!(k.as_integer(), Some(i.into()));
        let index = enclave_sdk::PcrIndex::new(u8::try_from(i).unwrap()).unwrap();
        assert_eq!(bytes(v), measurements().pcrs()[&index].as_bytes());
    }
    assert_eq!(bytes(field(&d, "nonce")), [1; 32]);
    assert_eq!(bytes(field(&d, "public_key")), [2; 32]);
    assert_eq!(bytes(field(&d, "user_data")), [3; 5]);
    let cabundle = bundle(&raw);
    assert_eq!(cabundle.len(), 4, "root, regional, zonal, instance");
    assert_eq!(cabundle[0], nsm.root_der());
    for cert in cabundle.iter().chain(std::iter::once(&leaf(&raw))) {
        assert!((1..=1024).contains(&cert.len()));
    }
}

#[test]
fn absent_fields_are_null() {
    let (nsm, _) = clocked();
    let d = decode(&nsm.attest(&AttestationRequest::default()).unwrap());
    for key in ["public_key", "user_data", "nonce"] {
        assert_eq!(field(&d, key), &Value::Null, "{key}");
    }
}

#[test]
fn fields_up_to_1024_bytes_are_accepted_and_1025_refused() {
    let (nsm, _) = clocked();
    let max = vec![0u8; MAX_FIELD_LEN];
    nsm.attest(&AttestationRequest::new(Some(max.clone()), Some(max.clone()), Some(max.clone()))).unwrap();
    let over = vec![0u8; MAX_FIELD_LEN + 1];
    for (i, field) in ["nonce", "public_key", "user_data"].into_iter().enumerate() {
        let mut fields = [None, None, None];
        fields[i] = Some(over.clone());
        let [n, p, u] = fields;
        assert_eq!(
            nsm.attest(&AttestationRequest::new(n, p, u)),
            Err(AttesterError::FieldTooLong { field, len: 1025, max: 1024 })
        );
    }
}

#[test]
fn debug_mode_reports_zero_pcr0_to_2() {
    let nsm = SoftwareNsm::ephemeral(measurements().debug_mode(true)).unwrap();
    let d = decode(&nsm.attest(&AttestationRequest::default()).unwrap());
    let pcrs = field(&d, "pcrs").as_map().unwrap();
    for (_, v) in pcrs.iter().take(3) {
        assert_eq!(bytes(v), [0u8; 48]);
    }
}

#[test]
fn leaf_is_reused_then_rotated_before_it_expires() {
    let (nsm, now) = clocked();
    let attest = || nsm.attest(&AttestationRequest::default()).unwrap();
    let first = attest();
    now.store(T0_MS + 3_600_000, Ordering::SeqCst);
    assert_eq!(leaf(&attest()), leaf(&first), "a real NSM reuses its leaf for hours");

    // Inside the refresh margin: a new leaf, same CAs.
    now.store(T0_MS + (LEAF_LIFETIME_S - LEAF_REFRESH_MARGIN_S) * 1000, Ordering::SeqCst);
    let rotated = attest();
    assert_ne!(leaf(&rotated), leaf(&first));
    assert_eq!(bundle(&rotated), bundle(&first));

    // Two days on: the 1-day instance CA was re-issued too, the root never.
    now.store(T0_MS + 2 * 86_400_000, Ordering::SeqCst);
    let later = attest();
    assert_ne!(bundle(&later)[3], bundle(&first)[3]);
    assert_eq!(bundle(&later)[0], nsm.root_der());

    // Time moving backwards before the current certificates' start re-issues them.
    now.store(T0_MS - 86_400_000, Ordering::SeqCst);
    let earlier = attest();
    assert_ne!(leaf(&earlier), leaf(&later));
}

#[test]
fn clock_outside_the_root_is_refused() {
    let (nsm, now) = clocked();
    now.store(ROOT_NOT_AFTER_S * 1000, Ordering::SeqCst);
    assert!(matches!(nsm.attest(&AttestationRequest::default()), Err(AttesterError::OutsideRootValidity { .. })));
    now.store(1_000, Ordering::SeqCst);
    assert_eq!(
        nsm.attest(&AttestationRequest::default()),
        Err(AttesterError::OutsideRootValidity {
            now_s: 1,
            not_before_s: 1_577_836_800,
            not_after_s: ROOT_NOT_AFTER_S
        })
    );
}

#[test]
fn state_directory_keeps_the_root_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let a = SoftwareNsm::load_or_create(&state, measurements()).unwrap();
    let b = SoftwareNsm::load_or_create(&state, measurements()).unwrap();
    assert_eq!(a.root_der(), b.root_der());
    assert_eq!(a.module_id(), b.module_id());
    assert_eq!(std::fs::read_to_string(state.join("root.pem")).unwrap(), a.root_pem());
    for key in ["root.key", "regional.key", "zonal.key", "instance.key"] {
        let mode = std::fs::metadata(state.join(key)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{key}");
    }
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700);
    // The reloaded instance signs with the same CA keys: its chain still starts at the pinned root.
    let raw = b.attest(&AttestationRequest::default()).unwrap();
    assert_eq!(bundle(&raw)[0], a.root_der());
}

#[test]
fn damaged_state_is_refused_not_regenerated() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    SoftwareNsm::load_or_create(&state, measurements()).unwrap();

    std::fs::remove_file(state.join("zonal.key")).unwrap();
    assert_eq!(
        SoftwareNsm::load_or_create(&state, measurements()).unwrap_err(),
        StateError::Io { path: state.join("zonal.key"), kind: std::io::ErrorKind::NotFound }
    );

    let other = dir.path().join("o");
    SoftwareNsm::load_or_create(&other, measurements()).unwrap();
    std::fs::copy(other.join("zonal.key"), state.join("zonal.key")).unwrap();
    // A root key from another state directory does not match root.der.
    std::fs::copy(other.join("root.key"), state.join("root.key")).unwrap();
    assert_eq!(
        SoftwareNsm::load_or_create(&state, measurements()).unwrap_err(),
        StateError::Corrupt { path: state.join("root.der"), problem: "does not hold root.key's public key" }
    );

    std::fs::write(state.join("root.key"), b"garbage").unwrap();
    assert_eq!(
        SoftwareNsm::load_or_create(&state, measurements()).unwrap_err(),
        StateError::Corrupt { path: state.join("root.key"), problem: "not a PKCS#8 P-384 key" }
    );

    // A missing root key next to the rest of the state is not a first start.
    std::fs::remove_file(state.join("root.key")).unwrap();
    assert_eq!(
        SoftwareNsm::load_or_create(&state, measurements()).unwrap_err(),
        StateError::Corrupt { path: state.join("root.key"), problem: "missing while other state files exist" }
    );
    std::fs::write(state.join("root.key"), b"garbage").unwrap();
    // Written with the default umask, the new file is not 0600: refused for that before it is parsed.
    assert!(matches!(
        SoftwareNsm::load_or_create(&state, measurements()).unwrap_err(),
        StateError::KeyMode { path, mode: 0o644 | 0o664 } if path == state.join("root.key")
    ));
    set_mode(&state.join("root.key"), 0o600);
    assert_eq!(
        SoftwareNsm::load_or_create(&state, measurements()).unwrap_err(),
        StateError::Corrupt { path: state.join("root.key"), problem: "not a PKCS#8 P-384 key" }
    );
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A state directory others could have written is refused, whatever it holds: a key there may be
/// anyone's, and with it anyone can mint documents the pinned root vouches for.
#[test]
fn a_group_or_world_writable_state_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    SoftwareNsm::load_or_create(&state, measurements()).unwrap();
    for mode in [0o770, 0o707, 0o777] {
        set_mode(&state, mode);
        assert_eq!(
            SoftwareNsm::load_or_create(&state, measurements()).unwrap_err(),
            StateError::Writable { path: state.clone(), mode }
        );
    }
    // Before first use too: an empty directory anyone may write is not a place to create keys in.
    let fresh = dir.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    set_mode(&fresh, 0o777);
    assert_eq!(
        SoftwareNsm::load_or_create(&fresh, measurements()).unwrap_err(),
        StateError::Writable { path: fresh.clone(), mode: 0o777 }
    );
    assert!(std::fs::read_dir(&fresh).unwrap().next().is_none(), "nothing was created in it");
    // Readable by others but writable only by its owner: accepted.
    set_mode(&state, 0o755);
    SoftwareNsm::load_or_create(&state, measurements()).unwrap();
}

#[test]
fn a_key_file_not_0600_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    let nsm = SoftwareNsm::load_or_create(&state, measurements()).unwrap();
    for name in ["root.key", "regional.key", "zonal.key", "instance.key"] {
        for mode in [0o640, 0o604, 0o400, 0o700] {
            set_mode(&state.join(name), mode);
            assert_eq!(
                SoftwareNsm::load_or_create(&state, measurements()).unwrap_err(),
                StateError::KeyMode { path: state.join(name), mode },
                "{name} at {mode:o}"
            );
        }
        set_mode(&state.join(name), 0o600);
    }
    // A world-writable certificate is refused as well: someone could have put another root there.
    set_mode(&state.join("root.der"), 0o666);
    assert_eq!(
        SoftwareNsm::load_or_create(&state, measurements()).unwrap_err(),
        StateError::Writable { path: state.join("root.der"), mode: 0o666 }
    );
    set_mode(&state.join("root.der"), 0o644);
    assert_eq!(SoftwareNsm::load_or_create(&state, measurements()).unwrap().root_der(), nsm.root_der());
}

#[test]
fn a_key_path_that_is_a_symlink_is_refused_never_followed() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("s");
    SoftwareNsm::load_or_create(&state, measurements()).unwrap();
    // The link points at a genuine 0600 key (the same bytes): refused because it is a link.
    let elsewhere = dir.path().join("zonal.key");
    std::fs::rename(state.join("zonal.key"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, state.join("zonal.key")).unwrap();
    assert_eq!(
        SoftwareNsm::load_or_create(&state, measurements()).unwrap_err(),
        StateError::Symlink { path: state.join("zonal.key") }
    );
    // A dangling link where root.key belongs is not "no state yet": nothing is created through it.
    let fresh = dir.path().join("fresh");
    std::fs::create_dir(&fresh).unwrap();
    std::os::unix::fs::symlink(dir.path().join("nowhere.key"), fresh.join("root.key")).unwrap();
    assert_eq!(
        SoftwareNsm::load_or_create(&fresh, measurements()).unwrap_err(),
        StateError::Symlink { path: fresh.join("root.key") }
    );
    assert!(!dir.path().join("nowhere.key").exists());
    // The state directory itself as a link.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&state, &link).unwrap();
    assert_eq!(
        SoftwareNsm::load_or_create(&link, measurements()).unwrap_err(),
        StateError::Symlink { path: link.clone() }
    );
}

#[test]
fn debug_output_shows_no_key_material() {
    let (nsm, _) = clocked();
    let shown = format!("{nsm:?}");
    assert!(shown.contains(nsm.module_id()));
    assert!(!shown.contains("key:") && !shown.contains("PRIVATE"));
}
