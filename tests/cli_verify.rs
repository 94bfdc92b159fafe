//! `enclave verify` end to end: the real binary on the real AWS documents. Exit 0 accepted, 1 rejected
//! with one stderr line naming the check, 2 usage; never a panic.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use base64::Engine as _;

const NITRO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/testdata/nitro");
const CAPE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/testdata/nitro/cape-cli-key.cbor");
const CAPE_AT: &str = "1676033041";
const CAPE_PCR0: &str =
    "bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe";
const CAPE_NONCE: &str = "caa411cb10d3e96f46ff750b0c5f9568";

fn enclave(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_enclave"))
        .arg("verify")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = stdin.unwrap_or_default().to_vec();
    let mut pipe = child.stdin.take().unwrap();
    std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    child.wait_with_output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Exit 1 with exactly one stderr line, containing every `needle`.
fn assert_rejected(o: &Output, needles: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    for n in needles {
        assert!(err.contains(n), "{n:?} not in {err}");
    }
    assert!(stdout(o).is_empty());
}

fn assert_usage(o: &Output) {
    assert_eq!(o.status.code(), Some(2), "stderr: {}", stderr(o));
    assert!(!stderr(o).contains("panicked"));
}

fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(bytes).unwrap();
    f
}

#[test]
fn accepts_a_real_document_and_prints_every_field() {
    let o = enclave(&[CAPE, "--at", CAPE_AT, "--pcrs", &format!("0={CAPE_PCR0}"), "--nonce", CAPE_NONCE], None);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("module_id: i-08dd44ce4cc5ced0b-enc01863b583eb9dfbf"), "{out}");
    assert!(out.contains("timestamp: 1676033011418 ms"), "{out}");
    assert!(out.contains("digest: SHA384"));
    assert!(out.contains(&format!("pcr0: {CAPE_PCR0}")));
    assert_eq!(out.lines().filter(|l| l.starts_with("pcr")).count(), 16);
    assert!(out.contains(&format!("nonce: {CAPE_NONCE}")));
    assert!(out.lines().any(|l| l.starts_with("public_key: ") && l.len() == "public_key: ".len() + 64));
    assert!(out.contains("user_data: 7b22"));
}

#[test]
fn json_output_has_the_documented_keys() {
    let f = format!("{NITRO}/fastcrypto-fixed.cbor");
    let o = enclave(&[&f, "--at", "1731628019", "--any-enclave", "--allow-debug", "--format", "json"], None);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["module_id"], "i-0f73a4b4cb74cc9f2-enc0192e4188fef781d");
    assert_eq!(v["timestamp"], 1_731_627_989_450u64);
    assert_eq!(v["digest"], "SHA384");
    assert_eq!(v["pcrs"].as_object().unwrap().len(), 16);
    assert_eq!(v["pcrs"]["0"], "0".repeat(96));
    assert!(v["public_key"].is_null());
    assert!(v["nonce"].is_null());
    assert_eq!(v["user_data"].as_str().unwrap().len(), 64);
}

#[test]
fn base64_hex_and_stdin_inputs() {
    let raw = std::fs::read(CAPE).unwrap();
    let b64 = temp_file(base64::engine::general_purpose::STANDARD.encode(&raw).as_bytes());
    let hexf = temp_file(format!("{}\n", hex::encode(&raw)).as_bytes());
    for path in [b64.path().to_str().unwrap(), hexf.path().to_str().unwrap()] {
        let o = enclave(&[path, "--at", CAPE_AT, "--any-enclave"], None);
        assert_eq!(o.status.code(), Some(0), "{path}: {}", stderr(&o));
    }
    let o = enclave(&["-", "--at", CAPE_AT, "--any-enclave"], Some(&raw));
    assert_eq!(o.status.code(), Some(0), "stdin: {}", stderr(&o));
    let o = enclave(&["-", "--at", CAPE_AT, "--any-enclave"], Some(hex::encode(&raw).as_bytes()));
    assert_eq!(o.status.code(), Some(0), "stdin hex: {}", stderr(&o));
}

#[test]
fn rejections_name_the_check_and_the_values() {
    // Another PCR0: names the index, the document's value and the allowed one.
    let wrong = format!("{}00", &CAPE_PCR0[..94]);
    let o = enclave(&[CAPE, "--at", CAPE_AT, "--pcrs", &format!("0={wrong}")], None);
    assert_eq!(stderr(&o), format!("enclave verify: rejected: PCR0 is {CAPE_PCR0}; the policy allows {wrong}\n"));
    assert_rejected(&o, &[]);
    // Two allowed releases, the right one second.
    let o =
        enclave(&[CAPE, "--at", CAPE_AT, "--pcrs", &format!("0={wrong}"), "--pcrs", &format!("0={CAPE_PCR0}")], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Expired.
    let o = enclave(&[CAPE, "--at", "1676043872", "--any-enclave"], None);
    assert_rejected(&o, &["expired", "leaf certificate", "1676043811"]);
    // Another nonce.
    let o = enclave(&[CAPE, "--at", CAPE_AT, "--any-enclave", "--nonce", "00"], None);
    assert_rejected(&o, &["nonce", CAPE_NONCE, "00"]);
    // Debug enclave without --allow-debug.
    let f = format!("{NITRO}/evervault-ga.cbor");
    let o = enclave(&[&f, "--at", "1695049440", "--any-enclave"], None);
    assert_rejected(&o, &["debug"]);
    // Too old for --max-age (the document is 30 s old at verify_at).
    let o = enclave(&[CAPE, "--at", CAPE_AT, "--any-enclave", "--max-age", "10"], None);
    assert_rejected(&o, &["30 s old", "10 s"]);
    // A checksum pin, but this document's user data is not a function claim.
    let o =
        enclave(&[CAPE, "--at", CAPE_AT, "--pcrs", &format!("0={CAPE_PCR0}"), "--checksum", &"11".repeat(32)], None);
    assert_eq!(stderr(&o), "enclave verify: rejected: user_data: not a CBOR function claim\n");
    // Another pinned root: an AWS intermediate is a valid P-384 CA but not this document's root.
    let other = other_root_pem();
    let o = enclave(&[CAPE, "--at", CAPE_AT, "--any-enclave", "--root", other.path().to_str().unwrap()], None);
    assert_rejected(&o, &["cabundle[0]", "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"]);
    // The real root via --root is accepted.
    let g1 = format!("{NITRO}/AWS_NitroEnclaves_Root-G1.pem");
    let o = enclave(&[CAPE, "--at", CAPE_AT, "--any-enclave", "--root", &g1], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

fn other_root_pem() -> tempfile::NamedTempFile {
    let raw = std::fs::read(CAPE).unwrap();
    let doc = enclave_sdk::attestation::UnverifiedDocument::parse(&raw).unwrap();
    let der = doc.dangerous_unverified_fields().cabundle()[1].clone();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    );
    temp_file(pem.as_bytes())
}

#[test]
fn hostile_or_broken_input_is_rejected_without_panic() {
    let raw = std::fs::read(CAPE).unwrap();
    let mut flipped = raw.clone();
    let n = flipped.len();
    flipped[n - 1] ^= 1;
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (flipped, "ES384 signature does not verify"),
        (raw[..raw.len() / 2].to_vec(), "CBOR"),
        (vec![], "CBOR"),
        (b"hello, world".to_vec(), "CBOR"),
        (vec![0xff; 100], "CBOR"),
        (vec![0x84; 60_000], "more than"),
        ([vec![0xd8, 0x62], raw.clone()].concat(), "tag 98"),
    ];
    for (bytes, needle) in cases {
        let f = temp_file(&bytes);
        let o = enclave(&[f.path().to_str().unwrap(), "--at", CAPE_AT, "--any-enclave"], None);
        assert_rejected(&o, &[needle]);
    }
}

#[test]
fn usage_errors_exit_2() {
    assert_usage(&enclave(&[CAPE, "--at", CAPE_AT], None)); // pins nothing
    assert!(stderr(&enclave(&[CAPE], None)).contains("--any-enclave"));
    // Each malformed pin names what is wrong with it, in one line.
    for (pin, message) in [
        ("0", r#""0" is not IDX=HEX (for example 0=<96 hex digits>)"#.to_owned()),
        ("x=00", r#"PCR index "x" is not a number from 0 to 31"#.to_owned()),
        ("0=zz", "PCR0: PCR value: character 'z' at position 1 is not a hex digit".to_owned()),
        ("40=00", r#"PCR index "40" is not a number from 0 to 31"#.to_owned()),
        (
            &format!("0={}", "00".repeat(47)),
            "PCR0: PCR values are 48 bytes (96 hex digits; 32 or 64 for other banks); this is 47 bytes".to_owned(),
        ),
        (
            &format!("0={}0", "00".repeat(47)),
            "PCR0: PCR value: 95 hex digits is an odd number; two digits make one byte".to_owned(),
        ),
        (
            &format!("0={p},0={p}", p = "00".repeat(48)),
            "PCR0 is pinned twice in one set; a set has one value per PCR (allow another release with another set)"
                .to_owned(),
        ),
    ] {
        let o = enclave(&[CAPE, "--pcrs", pin], None);
        assert_usage(&o);
        assert_eq!(stderr(&o), format!("enclave verify: --pcrs: {message}\n"), "{pin}");
    }
    let o = enclave(&[CAPE, "--pcrs", &format!("0={CAPE_PCR0}"), "--checksum", "00"], None);
    assert_usage(&o);
    assert_eq!(
        stderr(&o),
        "enclave verify: --checksum: a function checksum is 32 bytes (64 hex digits, SHA-256); this is 1 bytes\n"
    );
    assert_usage(&enclave(&[CAPE, "--any-enclave", "--nonce", "xyz"], None));
    assert_usage(&enclave(&[CAPE, "--any-enclave", "--format", "xml"], None));
    assert_usage(&enclave(&[CAPE, "--any-enclave", "--at", "yesterday"], None));
    assert_usage(&enclave(&["/nonexistent/doc.cbor", "--any-enclave"], None));
    assert_usage(&enclave(&[CAPE, "--any-enclave", "--root", CAPE], None));
    assert_usage(&enclave(&[], None));
}

#[test]
fn policy_file_supplies_the_pins_and_excludes_the_pin_flags() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, format!("max_document_age_secs = 300\n[[pcrs]]\n0 = \"{CAPE_PCR0}\"\n")).unwrap();
    let policy = policy.to_str().unwrap();
    let ok = enclave(&[CAPE, "--at", CAPE_AT, "--policy", policy], None);
    assert_eq!(ok.status.code(), Some(0), "stderr: {}", stderr(&ok));

    let mut wrong = CAPE_PCR0.to_owned();
    wrong.replace_range(0..2, "00");
    let other = dir.path().join("other.toml");
    std::fs::write(&other, format!("[[pcrs]]\n0 = \"{wrong}\"\n")).unwrap();
    assert_rejected(&enclave(&[CAPE, "--at", CAPE_AT, "--policy", other.to_str().unwrap()], None), &["PCR0", &wrong]);

    // A file and a pin flag together would leave it unclear which pins apply: usage error.
    let both = enclave(&[CAPE, "--at", CAPE_AT, "--policy", policy, "--pcrs", &format!("0={CAPE_PCR0}")], None);
    assert_eq!(both.status.code(), Some(2), "stderr: {}", stderr(&both));
    // A broken file is a usage error naming the file's problem, never an acceptance.
    std::fs::write(dir.path().join("bad.toml"), "[[pcrs]]\n0 = \"zz\"\n").unwrap();
    let bad = enclave(&[CAPE, "--at", CAPE_AT, "--policy", dir.path().join("bad.toml").to_str().unwrap()], None);
    assert_eq!(bad.status.code(), Some(2), "stderr: {}", stderr(&bad));
    assert!(
        stderr(&bad).contains("key `pcrs[1].0`: PCR value: character 'z' at position 1 is not a hex digit"),
        "stderr: {}",
        stderr(&bad)
    );
}
