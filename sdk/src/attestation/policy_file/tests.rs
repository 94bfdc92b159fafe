//! Policy file parsing: the happy path, the round trip, and one test per refusal naming line and key.

use super::*;

fn pcr(byte: u8) -> String {
    hex::encode([byte; 48])
}

fn err(text: &str) -> PolicyFileError {
    PolicyFile::parse(text, None).unwrap_err()
}

/// Asserts an `Invalid` error at `line` for `key`, whose message contains `needle`.
#[track_caller]
fn assert_invalid(e: PolicyFileError, want_line: usize, want_key: Option<&str>, needle: &str) {
    match e {
        PolicyFileError::Invalid { line, key, message, .. } => {
            assert_eq!(line, want_line, "{message}");
            assert_eq!(key.as_deref(), want_key, "{message}");
            assert!(message.contains(needle), "{message:?} lacks {needle:?}");
        }
        other => panic!("expected Invalid, got {other:?}"),
    }
}

fn full() -> String {
    format!(
        "max_document_age_secs = 120\nclock_skew_secs = 5\nallow_debug = false\nfunction_checksum = \"{}\"\n\n[pcrs]\n0 = [\"{}\", \"{}\"]\n2 = \"{}\"\n\n[functions]\n\"hello world\" = \"{}\"\n",
        "cc".repeat(32),
        pcr(0xaa),
        pcr(0xAB).to_uppercase(),
        pcr(0x22),
        "dd".repeat(32)
    )
}

#[test]
fn parses_every_key() {
    let file = PolicyFile::parse(&full(), None).unwrap();
    assert_eq!(file.trust_root, RootSource::AwsNitroRootG1);
    assert_eq!(file.pcrs.len(), 2);
    assert_eq!(file.pcrs[&0], vec![vec![0xaa; 48], vec![0xab; 48]]);
    assert_eq!(file.pcrs[&2], vec![vec![0x22; 48]]);
    assert_eq!(file.functions["hello world"], [0xdd; 32]);
    assert_eq!(file.function_checksum, Some([0xcc; 32]));
    assert_eq!(file.max_document_age, Some(Duration::from_secs(120)));
    assert_eq!(file.clock_skew, Some(Duration::from_secs(5)));
    assert!(!file.allow_debug && !file.accept_any_enclave);
    let pins = file.pinned_measurements();
    assert_eq!(pins.pcrs(), &file.pcrs);
}

#[test]
fn written_files_parse_back_identically() {
    let file = PolicyFile::parse(&full(), None).unwrap();
    let text = file.to_toml_string().unwrap();
    assert_eq!(PolicyFile::parse(&text, None).unwrap(), file, "{text}");
}

#[test]
fn pinning_nothing_is_refused_unless_said_so() {
    assert_eq!(err(""), PolicyFileError::PinsNothing { file: None });
    // A checksum alone is the enclave's own claim: it does not pin the enclave.
    assert_eq!(
        err(&format!("function_checksum = \"{}\"\n", "cc".repeat(32))),
        PolicyFileError::PinsNothing { file: None }
    );
    let any = PolicyFile::parse("accept_any_enclave = true\n", None).unwrap();
    assert!(any.accept_any_enclave);
    assert_invalid(
        err(&format!("accept_any_enclave = true\n[pcrs]\n0 = [\"{}\"]\n", pcr(1))),
        1,
        Some("accept_any_enclave"),
        "contradicts",
    );
    assert_eq!(PolicyFile::default().to_toml_string(), Err(PolicyFileError::PinsNothing { file: None }));
}

#[test]
fn errors_name_line_and_key() {
    let p = pcr(1);
    // Wrong length, on line 3.
    assert_invalid(
        err(&format!("allow_debug = false\n[pcrs]\n1 = [\"{p}\", \"abcd\"]\n")),
        3,
        Some("pcrs.1"),
        "value 1: expected 96 hex digits",
    );
    // Not hex.
    assert_invalid(err(&format!("[pcrs]\n0 = [\"{}\"]\n", "zz".repeat(48))), 2, Some("pcrs.0"), "not hex");
    // Index out of range, and a non-canonical index.
    assert_invalid(err(&format!("[pcrs]\n32 = [\"{p}\"]\n")), 2, Some("pcrs.32"), "0 to 31");
    assert_invalid(err(&format!("[pcrs]\n01 = [\"{p}\"]\n")), 2, Some("pcrs.01"), "0 to 31");
    // Empty allow-list.
    assert_invalid(err("[pcrs]\n4 = []\n"), 2, Some("pcrs.4"), "empty allow-list");
    // Wrong types.
    assert_invalid(
        err(&format!("[pcrs]\n0 = [\"{p}\"]\n\nmax_document_age_secs = 1\n")),
        4,
        Some("pcrs.max_document_age_secs"),
        "0 to 31",
    );
    assert_invalid(
        err(&format!("max_document_age_secs = \"5m\"\n[pcrs]\n0 = \"{p}\"\n")),
        1,
        Some("max_document_age_secs"),
        "whole number",
    );
    assert_invalid(
        err(&format!("max_document_age_secs = 0\n[pcrs]\n0 = \"{p}\"\n")),
        1,
        Some("max_document_age_secs"),
        "0 is outside 1..=",
    );
    assert_invalid(
        err(&format!("clock_skew_secs = -1\n[pcrs]\n0 = \"{p}\"\n")),
        1,
        Some("clock_skew_secs"),
        "-1 is outside",
    );
    assert_invalid(
        err(&format!("\nallow_debug = \"no\"\n[pcrs]\n0 = \"{p}\"\n")),
        2,
        Some("allow_debug"),
        "true or false",
    );
    assert_invalid(err("[pcrs]\n0 = 7\n"), 2, Some("pcrs.0"), "found integer");
    assert_invalid(
        err(&format!("[pcrs]\n0 = [\"{p}\"]\n[functions]\nf = \"abc\"\n")),
        4,
        Some("functions.f"),
        "expected 64 hex digits",
    );
    assert_invalid(
        err(&format!("[pcrs]\n0 = [\"{p}\"]\n[functions]\n\"\" = \"{}\"\n", "00".repeat(32))),
        4,
        Some("functions."),
        "1 to 128 bytes",
    );
    // Unknown keys: a misspelling must not fall back to a default.
    assert_invalid(
        err(&format!("max_document_age = 5\n[pcrs]\n0 = \"{p}\"\n")),
        1,
        Some("max_document_age"),
        "unknown field `max_document_age`",
    );
    // A table where a value belongs.
    assert_invalid(err("pcrs = 5\n"), 1, Some("pcrs"), "invalid type");
    // Syntax errors and duplicate keys come from TOML, still with a line.
    assert_invalid(err("allow_debug = false\nallow_debug = true\n"), 2, Some("allow_debug"), "duplicate key");
    assert_invalid(err("[pcrs\n"), 1, None, "");
}

#[test]
fn error_display_is_one_line_with_file_line_and_key() {
    let dir = tempdir();
    let path = dir.join("policy.toml");
    std::fs::write(&path, "\n\nclock_skew_secs = true\n").unwrap();
    let e = PolicyFile::from_file(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: line 3, column 19, key `clock_skew_secs`: expected a whole number of seconds, found boolean",
            path.display()
        )
    );
    std::fs::write(&path, "").unwrap();
    assert_eq!(PolicyFile::from_file(&path).unwrap_err(), PolicyFileError::PinsNothing { file: Some(path.clone()) });
}

#[test]
fn root_pem_is_read_relative_to_the_policy_file() {
    let dir = tempdir();
    std::fs::create_dir_all(dir.join("roots")).unwrap();
    let pem = aws_root_pem();
    let pem = pem.as_str();
    std::fs::write(dir.join("roots/mock.pem"), pem).unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(&path, format!("root_pem = \"roots/mock.pem\"\n[pcrs]\n0 = [\"{}\"]\n", pcr(3))).unwrap();
    let file = PolicyFile::from_file(&path).unwrap();
    assert_eq!(file.trust_root, RootSource::Pem { path: "roots/mock.pem".into(), pem: pem.into() });
    // And it survives the round trip as the same relative path.
    assert!(file.to_toml_string().unwrap().contains("root_pem = \"roots/mock.pem\""));

    std::fs::write(&path, format!("root_pem = \"missing.pem\"\n[pcrs]\n0 = [\"{}\"]\n", pcr(3))).unwrap();
    assert!(
        matches!(PolicyFile::from_file(&path), Err(PolicyFileError::Read { path: p, .. }) if p == dir.join("missing.pem"))
    );

    std::fs::write(dir.join("roots/not.pem"), "hello").unwrap();
    std::fs::write(&path, format!("\nroot_pem = \"roots/not.pem\"\n[pcrs]\n0 = [\"{}\"]\n", pcr(3))).unwrap();
    assert_invalid(PolicyFile::from_file(&path).unwrap_err(), 2, Some("root_pem"), "holds no PEM certificate");
}

#[test]
fn oversized_files_are_refused_before_parsing() {
    let dir = tempdir();
    let path = dir.join("big.toml");
    std::fs::write(&path, vec![b'#'; MAX_POLICY_FILE_LEN + 1]).unwrap();
    assert_eq!(
        PolicyFile::from_file(&path),
        Err(PolicyFileError::TooLarge {
            path: path.clone(),
            len: (MAX_POLICY_FILE_LEN + 1) as u64,
            max: MAX_POLICY_FILE_LEN
        })
    );
}

/// A fresh directory under the target dir (the sdk has no tempfile dev-dependency).
fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "enclave-sdk-policy-file-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn aws_root_pem() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/AWS_NitroEnclaves_Root-G1.pem"))
        .unwrap()
}

const CAPE_PCR0: &str =
    "bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe";

fn cape() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/nitro/cape-cli-key.cbor")).unwrap()
}

#[test]
fn to_policy_carries_every_setting_to_the_builder() {
    let file = PolicyFile::parse(&full(), None).unwrap();
    let policy = file.to_policy().unwrap();
    assert_eq!(policy.pcr_allow_list(), &file.pcrs);
    assert_eq!(policy.function_checksum(), Some([0xcc; 32]));
    assert_eq!(policy.function_checksums()["hello world"], [0xdd; 32]);
    assert_eq!(policy.max_document_age(), Duration::from_secs(120));
    assert_eq!(policy.clock_skew(), Duration::from_secs(5));
    assert_eq!(policy.debug_enclaves(), crate::attestation::DebugEnclaves::Reject);
    assert_eq!(policy.trust_roots(), &[TrustRoot::aws_nitro_root_g1()]);
    assert!(!policy.accepts_any_enclave());

    let any = Policy::from_toml_str("accept_any_enclave = true\nallow_debug = true\n").unwrap();
    assert!(any.accepts_any_enclave());
    assert_eq!(any.debug_enclaves(), crate::attestation::DebugEnclaves::Allow);
    assert_eq!(Policy::from_toml_str("").unwrap_err(), PolicyFileError::PinsNothing { file: None });
}

/// A loaded policy decides like a built one: the real Cape document passes with its PCR0 pinned and
/// fails, naming PCR0, with another value pinned.
#[test]
fn a_loaded_policy_verifies_a_real_document() {
    use crate::attestation::{AttestationError, Expected, UnixTime, Verifier};
    let dir = tempdir();
    std::fs::write(dir.join("aws.pem"), aws_root_pem()).unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(
        &path,
        format!("root_pem = \"aws.pem\"\nmax_document_age_secs = 60\n[pcrs]\n0 = [\"{CAPE_PCR0}\"]\n"),
    )
    .unwrap();
    let now = UnixTime::from_secs(1_676_033_041);
    let doc = Verifier::new(Policy::from_file(&path).unwrap()).verify(&cape(), &Expected::default(), now).unwrap();
    assert_eq!(hex::encode(&doc.pcrs()[&0]), CAPE_PCR0);

    std::fs::write(&path, format!("[pcrs]\n0 = [\"{}\"]\n", pcr(7))).unwrap();
    match Verifier::new(Policy::from_file(&path).unwrap()).verify(&cape(), &Expected::default(), now) {
        Err(AttestationError::PcrNotAllowed { index: 0, .. }) => {}
        other => panic!("expected PcrNotAllowed for PCR0, got {other:?}"),
    }
}

#[test]
fn from_env_reads_enclave_policy() {
    // The only test touching ENCLAVE_POLICY, so no other test observes these changes.
    let dir = tempdir();
    let path = dir.join("policy.toml");
    std::fs::write(&path, format!("[pcrs]\n3 = [\"{}\"]\n", pcr(3))).unwrap();
    std::env::set_var(POLICY_ENV_VAR, &path);
    let policy = Policy::from_env().unwrap().unwrap();
    assert_eq!(policy.pcr_allow_list()[&3], vec![vec![3; 48]]);
    std::env::set_var(POLICY_ENV_VAR, dir.join("missing.toml"));
    assert!(matches!(Policy::from_env(), Err(PolicyFileError::Read { .. })));
    std::env::set_var(POLICY_ENV_VAR, "");
    assert!(Policy::from_env().unwrap().is_none());
    std::env::remove_var(POLICY_ENV_VAR);
    assert!(Policy::from_env().unwrap().is_none());
}
