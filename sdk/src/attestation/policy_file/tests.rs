//! Policy file parsing: the happy path, the round trip, and one test per refusal naming line and key.

use super::*;

fn pcr(byte: u8) -> String {
    hex::encode([byte; 48])
}

fn set(pcrs: &[(u8, u8)]) -> MeasurementSet {
    MeasurementSet::new(pcrs.iter().map(|(i, b)| Pcr::new(PcrIndex::new(*i).unwrap(), PcrValue::from([*b; 48]))))
        .unwrap()
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

/// Asserts the builder's refusal for an image that is not pinned.
#[track_caller]
fn assert_image_not_pinned(e: PolicyFileError, set: Option<usize>, pins: &[u8], checksum_pinned: bool) {
    let pins = pins.iter().map(|i| PcrIndex::new(*i).unwrap()).collect();
    assert_eq!(
        e,
        PolicyFileError::Policy {
            file: None,
            source: PolicyError::ImageNotPinned { set, pins, zeroed: vec![], checksum_pinned }
        }
    );
}

fn full() -> String {
    format!(
        "max_document_age_secs = 120\nclock_skew_secs = 5\nallow_debug = false\nfunction_checksum = \"{}\"\n\n\
         [[pcrs]]\n0 = \"{}\"\n2 = \"{}\"\n\n[[pcrs]]\n0 = \"{}\"\n2 = \"{}\"\n\n[functions]\n\"hello.world\" = \"{}\"\n",
        "cc".repeat(32),
        pcr(0xaa),
        pcr(0x22),
        pcr(0xAB).to_uppercase(),
        pcr(0x23),
        "dd".repeat(32)
    )
}

#[test]
fn parses_every_key() {
    let file = PolicyFile::parse(&full(), None).unwrap();
    assert_eq!(file.trust_root(), &RootSource::AwsNitroRootG1);
    assert_eq!(file.measurement_sets(), [set(&[(0, 0xaa), (2, 0x22)]), set(&[(0, 0xab), (2, 0x23)])]);
    assert_eq!(file.function_checksums()["hello.world"], FunctionChecksum::from_bytes([0xdd; 32]));
    assert_eq!(file.function_checksum(), Some(FunctionChecksum::from_bytes([0xcc; 32])));
    assert_eq!(file.max_document_age(), Some(Duration::from_secs(120)));
    assert_eq!(file.clock_skew(), Some(Duration::from_secs(5)));
    assert!(!file.allows_debug() && !file.accepts_any_enclave());
}

#[test]
fn written_files_parse_back_identically() {
    let file = PolicyFile::parse(&full(), None).unwrap();
    let text = file.to_toml_string();
    assert_eq!(text.matches("[[pcrs]]").count(), 2, "{text}");
    assert_eq!(PolicyFile::parse(&text, None).unwrap(), file, "{text}");
}

#[test]
fn the_image_rule_is_the_builders() {
    assert_image_not_pinned(err(""), None, &[], false);
    // A checksum alone is the enclave's own claim: it does not pin the enclave.
    assert_image_not_pinned(err(&format!("function_checksum = \"{}\"\n", "cc".repeat(32))), None, &[], true);
    // PCR3 (the parent's IAM role), PCR4 (the parent instance), PCR1 (the kernel): none is the image.
    for index in [3, 4, 1] {
        assert_image_not_pinned(err(&format!("[[pcrs]]\n{index} = \"{}\"\n", pcr(1))), Some(1), &[index], false);
    }
    // Every set must pin the image, not only the first.
    assert_image_not_pinned(
        err(&format!("[[pcrs]]\n0 = \"{}\"\n[[pcrs]]\n1 = \"{}\"\n4 = \"{}\"\n", pcr(1), pcr(2), pcr(3))),
        Some(2),
        &[1, 4],
        false,
    );
    let any = PolicyFile::parse("accept_any_enclave = true\n", None).unwrap();
    assert!(any.accepts_any_enclave());
    // accept_any_enclave waives the rule; pins given beside it still apply.
    let waived =
        PolicyFile::parse(&format!("accept_any_enclave = true\n[[pcrs]]\n3 = \"{}\"\n", pcr(3)), None).unwrap();
    assert_eq!(waived.to_policy().unwrap().measurement_sets(), &[set(&[(3, 3)])]);
    // A file made in code to be written out holds to the same rule: one that pins nothing, or only the
    // parent instance, cannot be made (review 12, finding 5).
    assert!(matches!(
        PolicyFile::pinning([]),
        Err(PolicyFileError::Policy { source: PolicyError::ImageNotPinned { set: None, .. }, .. })
    ));
    assert!(matches!(
        PolicyFile::pinning([set(&[(0, 1)]), set(&[(3, 3)])]),
        Err(PolicyFileError::Policy { source: PolicyError::ImageNotPinned { set: Some(2), .. }, .. })
    ));
    let made = PolicyFile::pinning([set(&[(8, 8)])])
        .unwrap()
        .with_function_checksum(FunctionChecksum::from_bytes([1; 32]))
        .with_function_checksum_for("f".parse().unwrap(), FunctionChecksum::from_bytes([2; 32]));
    assert_eq!(PolicyFile::parse(&made.to_toml_string(), None).unwrap(), made);
    let message = err(&format!("[[pcrs]]\n3 = \"{}\"\n", pcr(1))).to_string();
    assert!(message.ends_with("add a [[pcrs]] table pinning \"0\", \"2\" or \"8\" for each allowed release, or set accept_any_enclave = true to trust any enclave"), "{message}");
}

#[test]
fn the_old_allow_list_format_is_refused_with_the_way_out() {
    let p = pcr(1);
    // A [pcrs] table of per-index allow-lists.
    assert_invalid(
        err(&format!("allow_debug = false\n[pcrs]\n0 = [\"{p}\", \"{p}\"]\n")),
        2,
        Some("pcrs"),
        "write each allowed release as its own [[pcrs]] table",
    );
    // A list as one PCR's value inside a set.
    assert_invalid(
        err(&format!("[[pcrs]]\n0 = [\"{p}\"]\n")),
        2,
        Some("pcrs[1].0"),
        "to allow another release, write another [[pcrs]] table",
    );
    assert_invalid(err("pcrs = 5\n"), 1, Some("pcrs"), "[[pcrs]] tables");
}

#[test]
fn errors_name_line_and_key() {
    let p = pcr(1);
    // Wrong length, on line 4, naming both numbers.
    assert_invalid(
        err(&format!("allow_debug = false\n[[pcrs]]\n0 = \"{p}\"\n1 = \"{}\"\n", "ab".repeat(47))),
        4,
        Some("pcrs[1].1"),
        "PCR values are 48 bytes (96 hex digits; 32 or 64 for other banks); this is 47 bytes",
    );
    // An odd number of digits is not "not hex".
    assert_invalid(
        err(&format!("[[pcrs]]\n0 = \"{}a\"\n", "ab".repeat(47))),
        2,
        Some("pcrs[1].0"),
        "95 hex digits is an odd number",
    );
    // Not hex, with the character and its position.
    assert_invalid(
        err(&format!("[[pcrs]]\n0 = \"{}\"\n", "zz".repeat(48))),
        2,
        Some("pcrs[1].0"),
        "character 'z' at position 1 is not a hex digit",
    );
    // Index out of range, and a non-canonical index; the second table is named as such.
    assert_invalid(
        err(&format!("[[pcrs]]\n0 = \"{p}\"\n[[pcrs]]\n32 = \"{p}\"\n")),
        4,
        Some("pcrs[2].32"),
        "PCR index \"32\" is not a number from 0 to 31",
    );
    assert_invalid(err(&format!("[[pcrs]]\n01 = \"{p}\"\n")), 2, Some("pcrs[1].01"), "0 to 31");
    // An empty set.
    assert_invalid(err(&format!("[[pcrs]]\n[[pcrs]]\n0 = \"{p}\"\n")), 1, Some("pcrs[1]"), "empty [[pcrs]] table");
    // Wrong types.
    assert_invalid(
        err(&format!("max_document_age_secs = \"5m\"\n[[pcrs]]\n0 = \"{p}\"\n")),
        1,
        Some("max_document_age_secs"),
        "whole number",
    );
    assert_invalid(
        err(&format!("max_document_age_secs = 0\n[[pcrs]]\n0 = \"{p}\"\n")),
        1,
        Some("max_document_age_secs"),
        "0 is outside 1..=",
    );
    assert_invalid(
        err(&format!("clock_skew_secs = -1\n[[pcrs]]\n0 = \"{p}\"\n")),
        1,
        Some("clock_skew_secs"),
        "-1 is outside",
    );
    assert_invalid(
        err(&format!("\nallow_debug = \"no\"\n[[pcrs]]\n0 = \"{p}\"\n")),
        2,
        Some("allow_debug"),
        "true or false",
    );
    assert_invalid(err("[[pcrs]]\n0 = 7\n"), 2, Some("pcrs[1].0"), "found integer");
    assert_invalid(
        err(&format!("[[pcrs]]\n0 = \"{p}\"\n[functions]\nf = \"abc\"\n")),
        4,
        Some("functions.f"),
        "function checksum: 3 hex digits is an odd number",
    );
    assert_invalid(
        err(&format!("[[pcrs]]\n0 = \"{p}\"\n[functions]\nf = \"{}\"\n", "ab".repeat(31))),
        4,
        Some("functions.f"),
        "a function checksum is 32 bytes (64 hex digits, SHA-256); this is 31 bytes",
    );
    // The one function id rule: length, charset, leading dot.
    for (id, needle) in [
        ("\"\"", "1 to 128 bytes; this is 0 bytes"),
        ("\"hello world\"", "character ' ' at position 6"),
        ("\".hidden\"", "does not start with '.'"),
    ] {
        assert_invalid(
            err(&format!("[[pcrs]]\n0 = \"{p}\"\n[functions]\n{id} = \"{}\"\n", "00".repeat(32))),
            4,
            Some(&format!("functions.{}", id.trim_matches('"'))),
            needle,
        );
    }
    // Unknown keys: a misspelling must not fall back to a default.
    assert_invalid(
        err(&format!("max_document_age = 5\n[[pcrs]]\n0 = \"{p}\"\n")),
        1,
        Some("max_document_age"),
        "unknown field `max_document_age`",
    );
    // Syntax errors and duplicate keys come from TOML, still with a line.
    assert_invalid(err("allow_debug = false\nallow_debug = true\n"), 2, Some("allow_debug"), "duplicate key");
    assert_invalid(err(&format!("[[pcrs]]\n0 = \"{p}\"\n0 = \"{p}\"\n")), 3, Some("0"), "duplicate key");
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
    assert_eq!(
        PolicyFile::from_file(&path).unwrap_err(),
        PolicyFileError::Policy {
            file: Some(path.clone()),
            source: PolicyError::ImageNotPinned { set: None, pins: vec![], zeroed: vec![], checksum_pinned: false }
        }
    );
}

#[test]
fn root_pem_is_read_relative_to_the_policy_file() {
    let dir = tempdir();
    std::fs::create_dir_all(dir.join("roots")).unwrap();
    let pem = aws_root_pem();
    let pem = pem.as_str();
    std::fs::write(dir.join("roots/mock.pem"), pem).unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(&path, format!("root_pem = \"roots/mock.pem\"\n[[pcrs]]\n0 = \"{}\"\n", pcr(3))).unwrap();
    let file = PolicyFile::from_file(&path).unwrap();
    assert_eq!(file.trust_root(), &RootSource::Pem { path: "roots/mock.pem".into(), pem: pem.into() });
    // And it survives the round trip as the same relative path.
    assert!(file.to_toml_string().contains("root_pem = \"roots/mock.pem\""));
    // A file made in code takes a root only once it parses as a certificate.
    let made = PolicyFile::pinning([set(&[(0, 3)])]).unwrap();
    assert!(matches!(
        made.clone().with_root_pem("x.pem", "no certificate"),
        Err(PolicyFileError::Root { file: None, .. })
    ));
    let with_root = made.with_root_pem("roots/mock.pem", pem).unwrap();
    assert_eq!(with_root.trust_root(), file.trust_root());

    std::fs::write(&path, format!("root_pem = \"missing.pem\"\n[[pcrs]]\n0 = \"{}\"\n", pcr(3))).unwrap();
    assert!(
        matches!(PolicyFile::from_file(&path), Err(PolicyFileError::Read { path: p, .. }) if p == dir.join("missing.pem"))
    );

    std::fs::write(dir.join("roots/not.pem"), "hello").unwrap();
    std::fs::write(&path, format!("\nroot_pem = \"roots/not.pem\"\n[[pcrs]]\n0 = \"{}\"\n", pcr(3))).unwrap();
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
    assert_eq!(policy.measurement_sets(), file.measurement_sets());
    assert_eq!(policy.function_checksum(), Some(FunctionChecksum::from_bytes([0xcc; 32])));
    assert_eq!(policy.function_checksums()["hello.world"], FunctionChecksum::from_bytes([0xdd; 32]));
    assert_eq!(policy.max_document_age(), Duration::from_secs(120));
    assert_eq!(policy.clock_skew(), Duration::from_secs(5));
    assert!(!policy.allows_debug());
    assert_eq!(policy.trust_roots(), &[TrustRoot::aws_nitro_root_g1()]);
    assert!(!policy.accepts_any_enclave());

    let any = Policy::from_toml_str("accept_any_enclave = true\nallow_debug = true\n").unwrap();
    assert!(any.accepts_any_enclave());
    assert!(any.allows_debug());
    assert!(matches!(Policy::from_toml_str("").unwrap_err(), PolicyFileError::Policy { .. }));
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
        format!("root_pem = \"aws.pem\"\nmax_document_age_secs = 60\n[[pcrs]]\n0 = \"{CAPE_PCR0}\"\n"),
    )
    .unwrap();
    let now = UnixTime::from_secs(1_676_033_041);
    let doc = Verifier::new(Policy::from_file(&path).unwrap()).verify(&cape(), &Expected::default(), now).unwrap();
    assert_eq!(doc.pcrs()[&PcrIndex::IMAGE].to_string(), CAPE_PCR0);

    std::fs::write(&path, format!("[[pcrs]]\n0 = \"{}\"\n", pcr(7))).unwrap();
    match Verifier::new(Policy::from_file(&path).unwrap()).verify(&cape(), &Expected::default(), now) {
        Err(AttestationError::PcrNotAllowed { index: PcrIndex::IMAGE, .. }) => {}
        other => panic!("expected PcrNotAllowed for PCR0, got {other:?}"),
    }
}

#[test]
fn from_env_reads_enclave_policy() {
    // The only test touching ENCLAVE_POLICY, so no other test observes these changes.
    let dir = tempdir();
    let path = dir.join("policy.toml");
    std::fs::write(&path, format!("[[pcrs]]\n8 = \"{}\"\n", pcr(3))).unwrap();
    std::env::set_var(PolicyFile::ENV_VAR, &path);
    let policy = Policy::from_env().unwrap().unwrap();
    assert_eq!(policy.measurement_sets(), &[set(&[(8, 3)])]);
    std::env::set_var(PolicyFile::ENV_VAR, dir.join("missing.toml"));
    assert!(matches!(Policy::from_env(), Err(PolicyFileError::Read { .. })));
    std::env::set_var(PolicyFile::ENV_VAR, "");
    assert!(Policy::from_env().unwrap().is_none());
    std::env::remove_var(PolicyFile::ENV_VAR);
    assert!(Policy::from_env().unwrap().is_none());
}

/// `root_sha256` pins the root itself, not just its path: a policy file whose root file was replaced is
/// refused with both digests, and files written by `to_toml_string` carry the digest.
#[test]
fn root_sha256_refuses_a_replaced_root_file() {
    let dir = tempdir();
    std::fs::write(dir.join("root.pem"), aws_root_pem()).unwrap();
    let path = dir.join("policy.toml");
    let aws = hex::encode(TrustRoot::AWS_NITRO_ROOT_G1_SHA256);
    let pinned_other = "ab".repeat(32);
    let with_digest =
        |digest: &str| format!("root_pem = \"root.pem\"\nroot_sha256 = \"{digest}\"\n[[pcrs]]\n0 = \"{}\"\n", pcr(3));

    std::fs::write(&path, with_digest(&aws)).unwrap();
    let file = PolicyFile::from_file(&path).unwrap();
    assert!(file.to_toml_string().contains(&format!("root_sha256 = \"{aws}\"\n")));

    // The root file is not the root the policy pinned.
    std::fs::write(&path, with_digest(&pinned_other)).unwrap();
    let replaced = PolicyFile::from_file(&path).unwrap_err();
    assert_eq!(
        replaced,
        PolicyFileError::RootDigest {
            file: Some(path.clone()),
            root_pem: Some(dir.join("root.pem")),
            pinned: [0xab; 32],
            found: TrustRoot::AWS_NITRO_ROOT_G1_SHA256,
        }
    );
    assert_eq!(
        replaced.to_string(),
        format!(
            "{}: root_sha256 pins a root with SHA-256 {pinned_other}, but {} has SHA-256 {aws}; restore that root \
             file, or re-pin it (enclave policy init / mock-enclave policy) if the change was yours",
            path.display(),
            dir.join("root.pem").display()
        )
    );
    assert!(matches!(Policy::from_file(&path), Err(PolicyFileError::RootDigest { .. })));

    // Without root_pem the digest pins the built-in root.
    let builtin = |digest: &str| format!("root_sha256 = \"{digest}\"\n[[pcrs]]\n0 = \"{}\"\n", pcr(3));
    assert!(PolicyFile::parse(&builtin(&aws), None).is_ok());
    assert!(matches!(err(&builtin(&pinned_other)), PolicyFileError::RootDigest { root_pem: None, .. }));
    assert_invalid(err(&builtin("abc")), 1, Some("root_sha256"), "64 hex digits; this is 3 characters");
}
