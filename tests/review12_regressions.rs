//! Regressions from an outside security review of the trust core (review 12), end to end through the
//! CLI: a zero PCR8 pin sends nothing, `attest` does not call a waived policy pinned, `inspect` shows a
//! document's text escaped, and a key policy cannot be made from pins that do not identify the image.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use ciborium::Value;
use common::cli::enclave_with_stdin as enclave;
use common::cli::Scratch;
use mock_enclave::measurements::MOCK_IMAGE_NAME;
use mock_enclave::MockEnclave;

const SECRET: &[u8] = b"review12: an unpinned enclave must never see this";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An enclave running some other, unsigned image (PCR8 is then all zero, as on real hardware), whose
/// chain ends at the root the user trusts; its root is written to `d` as `root.pem`.
async fn unsigned_rogue(d: &Scratch) -> (MockEnclave, String) {
    let mock =
        MockEnclave::builder().image(MOCK_IMAGE_NAME, "review12: another image, unsigned").spawn().await.unwrap();
    let root = d.write("root.pem", &mock.root_pem());
    (mock, root)
}

/// Finding 1, end to end: `--pcrs 8=00..00` is accepted as pinning the image, and an enclave running
/// any unsigned image receives the input.
#[tokio::test]
async fn enclave_run_with_an_all_zero_pcr8_sends_nothing() {
    let d = Scratch::new();
    let (rogue, root) = unsigned_rogue(&d).await;
    let zero8 = format!("8={}", "00".repeat(48));
    let out = enclave(&["run", "echo", "--url", &rogue.url(), "--root", &root, "--pcrs", &zero8], SECRET).await;
    let st = rogue.stats();
    assert_eq!((st.documents, st.key_shares, st.invocations), (0, 0, 0), "the enclave was contacted");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "enclave run: measurement set 1 pins PCR8, but its PCR8 value is all zeros, which every unsigned image (PCR8) \
         and every debug-mode enclave (PCR0..2) reports, so it does not identify the enclave image: pin a non-zero \
         PCR0, PCR2 or PCR8; pin the image with --pcrs IDX=HEX,... (PCR0, PCR2 or PCR8; one --pcrs per allowed \
         release), or pass --policy FILE, or --any-enclave to trust any enclave\n"
    );
}

/// Finding 2: `enclave attest --policy FILE` reports "verified against the pins" and `"pinned": true`
/// when the file says `accept_any_enclave = true` and pins nothing, i.e. when only the signature, the
/// chain and the nonce were checked (exactly what `--any-enclave` reports as NOT checked against pins).
#[tokio::test]
async fn enclave_attest_does_not_call_an_unpinned_policy_file_pinned() {
    let d = Scratch::new();
    let (mock, root) = unsigned_rogue(&d).await;
    let file = d.write("any.toml", &format!("root_pem = {root:?}\naccept_any_enclave = true\n"));
    let out =
        enclave(&["attest", "--url", &mock.url(), "--fn", "echo", "--policy", &file, "--format", "json"], b"").await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&report["pinned"], &report["verdict"]),
        (
            &serde_json::json!(false),
            &serde_json::json!("signature, chain and nonce checked; NOT checked against any pins")
        ),
        "{report}"
    );
}

/// A genuine document whose `module_id` (attacker-chosen text: `inspect` reads documents it does not
/// verify) holds terminal control sequences: erase the line, move up, and print a fake verdict.
fn document_with_module_id(module_id: &str) -> Vec<u8> {
    let raw = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/sdk/testdata/nitro/cape-cli-key.cbor")).unwrap();
    let Value::Array(mut envelope) = ciborium::from_reader::<Value, _>(raw.as_slice()).unwrap() else { panic!() };
    let Value::Bytes(payload) = &envelope[2] else { panic!() };
    let Value::Map(mut fields) = ciborium::from_reader::<Value, _>(payload.as_slice()).unwrap() else { panic!() };
    for (k, v) in &mut fields {
        if k.as_text() == Some("module_id") {
            *v = Value::Text(module_id.to_owned());
        }
    }
    let mut payload = Vec::new();
    ciborium::into_writer(&Value::Map(fields), &mut payload).unwrap();
    envelope[2] = Value::Bytes(payload);
    let mut out = Vec::new();
    ciborium::into_writer(&Value::Array(envelope), &mut out).unwrap();
    out
}

/// Finding 3: `enclave inspect` prints the unverified document's `module_id` raw, so the document can
/// rewrite the terminal, e.g. erase the "UNVERIFIED" banner above it.
#[test]
fn enclave_inspect_escapes_the_module_id() {
    let d = Scratch::new();
    let doc = d.path("doc.cbor");
    std::fs::write(
        &doc,
        document_with_module_id("i-0\u{1b}[2K\u{1b}[1A\u{1b}[2K\rverified: AWS Nitro attestation document"),
    )
    .unwrap();
    let out = common::cli::enclave(&["inspect", &doc]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown = text(&out.stdout);
    assert!(!shown.contains('\u{1b}'), "raw control sequences reach the terminal: {shown:?}");
    assert!(
        shown.contains("module_id   i-0\\u{1b}[2K\\u{1b}[1A\\u{1b}[2K\\rverified: AWS Nitro attestation document\n"),
        "{shown}"
    );
}

/// Finding 4: `kms-policy generate` turns a policy file whose only set pins PCR3 (the parent's IAM
/// role, which the operator chooses) into a key policy, because the file waived the image rule with
/// `accept_any_enclave = true`, and its account of the policy says "a call ... with another image's
/// [document] is denied". Any enclave the operator starts on that role gets the key's plaintexts.
#[test]
fn kms_policy_generate_refuses_pins_that_do_not_identify_the_image() {
    let d = Scratch::new();
    let file = d.write("pcr3.toml", &format!("accept_any_enclave = true\n[[pcrs]]\n3 = \"{}\"\n", "33".repeat(48)));
    let out = common::cli::enclave(&[
        "kms-policy",
        "generate",
        "--policy",
        &file,
        "--principal",
        "arn:aws:iam::111122223333:role/enclave",
        "--key-admin",
        "arn:aws:iam::111122223333:role/admin",
    ]);
    assert_eq!(out.status.code(), Some(2), "stdout {}\nstderr {}", text(&out.stdout), text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "error: a KMS key policy must condition the key on the enclave image: measurement set 1 pins PCR3 but none \
         of PCR0, PCR2 and PCR8, so it does not identify the enclave image (PCR1 is the same for every image of one \
         nitro-cli version, PCR3 and PCR4 describe the parent instance its operator chooses, and a function checksum \
         is the enclave's own claim)\n"
    );
}
