//! Issue 12 end to end: a rogue enclave (another image, the right checksums, the same PCR1, PCR3 and
//! PCR4 as the pinned deployment, chaining to the trusted root; `common::rogue`) gets no key share and
//! no input byte through any path: the builder, the environment, Cape mode, and every CLI command that
//! connects or verifies (`run`, `attest`, `verify` on a document from it). Each test asserts the exact
//! error: `ImageNotPinned` for a policy that pins only a checksum, PCR1, PCR3 or PCR4 (refused before
//! connecting), `PcrNotAllowed` naming PCR0 for a pinned policy, and `MeasurementsNotAllowed` for a
//! document that mixes two allowed sets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::process::Output;

use common::cli::enclave_with_stdin as enclave;
use common::cli::Scratch;
use common::rogue::{Rogue, CANARY, ROGUE_SIGNER};
use common::*;
use enclave_protocol::SetMismatch;
use enclave_sdk::attestation::{AttestationError, PolicyBuilder, PolicyError};
use enclave_sdk::error::ConfigError;
use enclave_sdk::{Client, Error, MeasurementSet, Pcr, PcrIndex, PcrValue};

fn idx(n: u8) -> PcrIndex {
    PcrIndex::new(n).unwrap()
}

fn pins(indices: &[u8]) -> Vec<PcrIndex> {
    indices.iter().map(|i| idx(*i)).collect()
}

/// The policies that pin less than the image, each with the exact refusal `build` gives it.
fn weak_policies(rogue: &Rogue) -> Vec<(&'static str, PolicyBuilder, PolicyError)> {
    let sum = rogue.checksum("echo");
    let not_pinned =
        |set, p: &[u8]| PolicyError::ImageNotPinned { set, pins: pins(p), zeroed: vec![], checksum_pinned: true };
    vec![
        ("checksum only", rogue.policy().function_checksum_for(fid("echo"), sum), not_pinned(None, &[])),
        (
            "PCR1 (kernel) only",
            rogue.policy().allow_measurements(rogue.image_set(&[1])).function_checksum_for(fid("echo"), sum),
            not_pinned(Some(1), &[1]),
        ),
        (
            "PCR3 (parent's role) only",
            rogue.policy().allow_measurements(rogue.image_set(&[3])).function_checksum_for(fid("echo"), sum),
            not_pinned(Some(1), &[3]),
        ),
        (
            "PCR4 (parent instance) only",
            rogue.policy().allow_measurements(rogue.image_set(&[4])).function_checksum_for(fid("echo"), sum),
            not_pinned(Some(1), &[4]),
        ),
        (
            "PCR1, PCR3 and PCR4 together",
            rogue.policy().allow_measurements(rogue.image_set(&[1, 3, 4])).function_checksum(sum),
            not_pinned(Some(1), &[1, 3, 4]),
        ),
    ]
}

/// The positive control: with the rule waived, the weak pins accept the rogue and it gets the input.
/// Without this, the refusals below could pass because the rogue is broken.
#[tokio::test]
async fn rogue_gets_the_input_when_the_rule_is_waived() {
    let rogue = Rogue::start().await;
    for (name, weak, _) in weak_policies(&rogue) {
        let client = rogue.client(weak.dangerous_accept_any_enclave().build().unwrap());
        let session = client.connect("echo").await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(session.invoke(CANARY).await.unwrap(), CANARY, "{name}");
    }
    let n = weak_policies(&rogue).len() as u64;
    assert_eq!((rogue.mock.stats().key_shares, rogue.mock.stats().invocations), (n, n));
}

#[tokio::test]
async fn builder_refuses_every_policy_that_does_not_pin_the_image() {
    let rogue = Rogue::start().await;
    for (name, weak, refusal) in weak_policies(&rogue) {
        assert_eq!(weak.build(), Err(refusal), "{name}");
    }
    rogue.assert_untouched();
}

#[tokio::test]
async fn a_pinned_policy_refuses_the_rogue_naming_pcr0() {
    let rogue = Rogue::start().await;
    let policy = rogue
        .policy()
        .allow_measurements(rogue.image_set(&[0, 1, 2, 3, 4]))
        .function_checksum_for(fid("echo"), rogue.checksum("echo"))
        .build()
        .unwrap();
    let err = rogue.client(policy).connect("echo").await.unwrap_err();
    assert_eq!(
        err,
        Error::Attestation(AttestationError::PcrNotAllowed {
            index: PcrIndex::IMAGE,
            found: rogue.rogue_pcr(PcrIndex::IMAGE),
            expected: rogue.image_pcr(PcrIndex::IMAGE),
        })
    );
    // PCR2 alone identifies the image too.
    let policy = rogue.policy().allow_measurements(rogue.image_set(&[2])).build().unwrap();
    let err = rogue.client(policy).connect("echo").await.unwrap_err();
    assert!(
        matches!(err, Error::Attestation(AttestationError::PcrNotAllowed { index: PcrIndex::APPLICATION, .. })),
        "{err:?}"
    );
    rogue.assert_got_no_key_share_and_no_input(2).await;
}

/// Release A (the rogue's image, signed by another certificate) and release B (another image, signed
/// by the rogue's certificate) are both allowed; the rogue has A's PCR0 and B's PCR8. Per-index
/// allow-lists would have accepted it.
#[tokio::test]
async fn a_mixture_of_two_allowed_sets_is_refused() {
    let rogue = Rogue::start().await;
    let signer_a = PcrValue::from([0x8a; 48]);
    let image_b = PcrValue::from([0x0b; 48]);
    let a = MeasurementSet::new([
        Pcr::new(PcrIndex::IMAGE, rogue.rogue_pcr(PcrIndex::IMAGE)),
        Pcr::new(PcrIndex::SIGNING_CERTIFICATE, signer_a.clone()),
    ])
    .unwrap();
    let b = MeasurementSet::new([
        Pcr::new(PcrIndex::IMAGE, image_b.clone()),
        Pcr::new(PcrIndex::SIGNING_CERTIFICATE, PcrValue::from(ROGUE_SIGNER)),
    ])
    .unwrap();
    let policy = rogue
        .policy()
        .allow_measurements(a)
        .allow_measurements(b)
        .function_checksum_for(fid("echo"), rogue.checksum("echo"))
        .build()
        .unwrap();
    let err = rogue.client(policy).connect("echo").await.unwrap_err();
    assert_eq!(
        err,
        Error::Attestation(AttestationError::MeasurementsNotAllowed {
            mismatches: vec![
                SetMismatch::Differs {
                    index: PcrIndex::SIGNING_CERTIFICATE,
                    found: PcrValue::from(ROGUE_SIGNER),
                    expected: signer_a,
                },
                SetMismatch::Differs {
                    index: PcrIndex::IMAGE,
                    found: rogue.rogue_pcr(PcrIndex::IMAGE),
                    expected: image_b,
                },
            ]
        })
    );
    rogue.assert_got_no_key_share_and_no_input(1).await;
}

#[tokio::test]
async fn cape_mode_refuses_the_rogue() {
    let rogue = Rogue::start().await;
    let policy = rogue
        .policy()
        .allow_measurements(rogue.image_set(&[0, 1, 2]))
        .function_checksum_for(fid("echo"), rogue.checksum("echo"))
        .build()
        .unwrap();
    let err = rogue.client(policy).connect_cape("alice/echo").await.map(|_| ()).unwrap_err();
    assert_eq!(
        err,
        Error::Attestation(AttestationError::PcrNotAllowed {
            index: PcrIndex::IMAGE,
            found: rogue.rogue_pcr(PcrIndex::IMAGE),
            expected: rogue.image_pcr(PcrIndex::IMAGE),
        })
    );
    rogue.assert_got_no_key_share_and_no_input(1).await;
    // And the positive control in Cape mode: with the rule waived, the checksum alone lets it in.
    let weak = rogue.policy().function_checksum_for(fid("echo"), rogue.checksum("echo"));
    let mut session =
        rogue.client(weak.dangerous_accept_any_enclave().build().unwrap()).connect_cape("echo").await.unwrap();
    assert_eq!(session.invoke(CANARY).await.unwrap(), CANARY);
}

fn vars<'a>(pairs: &'a [(&'a str, String)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
}

#[tokio::test]
async fn the_environment_refuses_weak_pins_and_a_pinned_environment_refuses_the_rogue() {
    let rogue = Rogue::start().await;
    let base = [
        ("ENCLAVE_URL", rogue.url.clone()),
        ("ENCLAVE_ROOT_PEM", rogue.root_path.clone()),
        ("ENCLAVE_FUNCTION_CHECKSUM", rogue.checksum("echo").to_string()),
    ];
    let with_pcrs = |pcrs: String| {
        let mut v = base.to_vec();
        v.push(("ENCLAVE_PCRS", pcrs));
        v
    };
    let refused = |set, p: &[u8]| {
        Err(Error::Config(ConfigError::EnvImageNotPinned {
            source: PolicyError::ImageNotPinned { set, pins: pins(p), zeroed: vec![], checksum_pinned: true },
        }))
    };
    // ENCLAVE_FUNCTION_CHECKSUM alone: the leak of issue 12.
    let err = Client::from_vars(vars(&base)).map(|_| ());
    assert_eq!(err, refused(None, &[]));
    assert_eq!(
        err.unwrap_err().to_string(),
        "configuration: the policy pins only a function checksum and no measurement: it must pin the enclave image \
         with PCR0, PCR2 or PCR8 (PCR1 is the same for every image of one nitro-cli version, PCR3 and PCR4 describe \
         the parent instance its operator chooses, and a function checksum is the enclave's own claim); set \
         ENCLAVE_PCRS to the enclave's measurements (IDX=HEX,... pinning PCR0, PCR2 or PCR8; several releases \
         separated by ;), or ENCLAVE_POLICY to a policy file"
    );
    for only in [&[1][..], &[3], &[4], &[1, 3, 4]] {
        assert_eq!(Client::from_vars(vars(&with_pcrs(rogue.image_text(only)))).map(|_| ()), refused(Some(1), only));
    }
    // Two releases, the second pinning only PCR3.
    let two = format!("{};{}", rogue.image_text(&[0, 1, 2]), rogue.image_text(&[3]));
    assert_eq!(Client::from_vars(vars(&with_pcrs(two))).map(|_| ()), refused(Some(2), &[3]));
    rogue.assert_untouched();

    let client = Client::from_vars(vars(&with_pcrs(rogue.image_text(&[0, 1, 2])))).unwrap();
    let err = client.connect("echo").await.unwrap_err();
    assert!(matches!(err, Error::Attestation(AttestationError::PcrNotAllowed { index: PcrIndex::IMAGE, .. })), "{err}");
    rogue.assert_got_no_key_share_and_no_input(1).await;
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

const CLI_HINT: &str = "; pin the image with --pcrs IDX=HEX,... (PCR0, PCR2 or PCR8; one --pcrs per allowed release), \
                        or pass --policy FILE, or --any-enclave to trust any enclave";

fn image_not_pinned(set: Option<usize>, p: &[u8], checksum_pinned: bool) -> String {
    format!("{}{CLI_HINT}", PolicyError::ImageNotPinned { set, pins: pins(p), zeroed: vec![], checksum_pinned })
}

/// The weak pin flags, each with what `build` says about them.
fn weak_flags(rogue: &Rogue) -> Vec<(Vec<String>, String)> {
    let sum = rogue.checksum("echo").to_string();
    let mut cases = vec![(vec!["--checksum".to_owned(), sum.clone()], image_not_pinned(None, &[], true))];
    for only in [&[1][..], &[3], &[4], &[1, 3, 4]] {
        cases.push((
            vec!["--pcrs".into(), rogue.image_text(only), "--checksum".into(), sum.clone()],
            image_not_pinned(Some(1), only, true),
        ));
    }
    cases
}

#[tokio::test]
async fn enclave_run_refuses_weak_pins_and_the_rogue() {
    let rogue = Rogue::start().await;
    let base = ["run", "echo", "--url", &rogue.url, "--root", &rogue.root_path];
    for (flags, message) in weak_flags(&rogue) {
        let args: Vec<&str> = base.iter().copied().chain(flags.iter().map(String::as_str)).collect();
        let out = enclave(&args, CANARY).await;
        assert_eq!((out.status.code(), stderr(&out)), (Some(2), format!("enclave run: {message}\n")), "{flags:?}");
        assert!(out.stdout.is_empty());
    }
    rogue.assert_untouched();

    let pinned = rogue.image_text(&[0, 1, 2]);
    let sum = rogue.checksum("echo").to_string();
    let args: Vec<&str> = base.iter().copied().chain(["--pcrs", &pinned, "--checksum", &sum]).collect();
    let out = enclave(&args, CANARY).await;
    let refusal = AttestationError::PcrNotAllowed {
        index: PcrIndex::IMAGE,
        found: rogue.rogue_pcr(PcrIndex::IMAGE),
        expected: rogue.image_pcr(PcrIndex::IMAGE),
    };
    assert_eq!((out.status.code(), stderr(&out)), (Some(1), format!("enclave run: attestation refused: {refusal}\n")));
    assert!(out.stdout.is_empty());
    rogue.assert_got_no_key_share_and_no_input(1).await;
}

#[tokio::test]
async fn enclave_attest_refuses_weak_pins_and_the_rogue() {
    let rogue = Rogue::start().await;
    let base = ["attest", "--url", &rogue.url, "--fn", "echo", "--root-pem", &rogue.root_path];
    // No pins at all is refused too: fetching an unpinned document takes --any-enclave.
    let mut cases = weak_flags(&rogue);
    cases.push((Vec::new(), image_not_pinned(None, &[], false)));
    for (flags, message) in cases {
        let args: Vec<&str> = base.iter().copied().chain(flags.iter().map(String::as_str)).collect();
        let out = enclave(&args, b"").await;
        assert_eq!((out.status.code(), stderr(&out)), (Some(2), format!("error: {message}\n")), "{flags:?}");
    }
    rogue.assert_untouched();

    let pinned = rogue.image_text(&[0, 1, 2]);
    let args: Vec<&str> = base.iter().copied().chain(["--pcrs", &pinned]).collect();
    let out = enclave(&args, b"").await;
    let refusal = AttestationError::PcrNotAllowed {
        index: PcrIndex::IMAGE,
        found: rogue.rogue_pcr(PcrIndex::IMAGE),
        expected: rogue.image_pcr(PcrIndex::IMAGE),
    };
    assert_eq!((out.status.code(), stderr(&out)), (Some(1), format!("error: attestation refused: {refusal}\n")));
    rogue.assert_got_no_key_share_and_no_input(1).await;
}

#[tokio::test]
async fn enclave_verify_refuses_a_document_from_the_rogue() {
    let rogue = Rogue::start().await;
    // A genuine document of the rogue, fetched over a fresh nonce (no input sent), then verified.
    let fetch = rogue.policy().dangerous_accept_any_enclave().build().unwrap();
    let raw = rogue.client(fetch).fetch_attestation("echo").await.unwrap();
    let d = Scratch::new();
    let doc = d.path("rogue.cbor");
    std::fs::write(&doc, raw.raw()).unwrap();
    let base = ["verify", &doc, "--root", &rogue.root_path];
    let sum = rogue.checksum("echo").to_string();
    let mut cases = vec![(vec!["--checksum".to_owned(), sum.clone()], image_not_pinned(None, &[], true))];
    for only in [&[1][..], &[3], &[4]] {
        cases.push((vec!["--pcrs".into(), rogue.image_text(only)], image_not_pinned(Some(1), only, false)));
    }
    for (flags, message) in cases {
        let args: Vec<&str> = base.iter().copied().chain(flags.iter().map(String::as_str)).collect();
        let out = enclave(&args, b"").await;
        assert_eq!((out.status.code(), stderr(&out)), (Some(2), format!("enclave verify: {message}\n")), "{flags:?}");
    }

    let pinned = rogue.image_text(&[0, 1, 2]);
    let args: Vec<&str> = base.iter().copied().chain(["--pcrs", &pinned, "--checksum", &sum]).collect();
    let out = enclave(&args, b"").await;
    let refusal = AttestationError::PcrNotAllowed {
        index: PcrIndex::IMAGE,
        found: rogue.rogue_pcr(PcrIndex::IMAGE),
        expected: rogue.image_pcr(PcrIndex::IMAGE),
    };
    assert_eq!((out.status.code(), stderr(&out)), (Some(1), format!("enclave verify: rejected: {refusal}\n")));

    // Two --pcrs, each one release; the rogue's document mixes them.
    let a = format!("0={},8={}", rogue.rogue_pcr(PcrIndex::IMAGE), "8a".repeat(48));
    let b = format!("0={},8={}", "0b".repeat(48), PcrValue::from(ROGUE_SIGNER));
    let args: Vec<&str> = base.iter().copied().chain(["--pcrs", &a, "--pcrs", &b]).collect();
    let out = enclave(&args, b"").await;
    let refusal = AttestationError::MeasurementsNotAllowed {
        mismatches: vec![
            SetMismatch::Differs {
                index: PcrIndex::SIGNING_CERTIFICATE,
                found: PcrValue::from(ROGUE_SIGNER),
                expected: PcrValue::from([0x8a; 48]),
            },
            SetMismatch::Differs {
                index: PcrIndex::IMAGE,
                found: rogue.rogue_pcr(PcrIndex::IMAGE),
                expected: PcrValue::from([0x0b; 48]),
            },
        ],
    };
    assert_eq!((out.status.code(), stderr(&out)), (Some(1), format!("enclave verify: rejected: {refusal}\n")));
}

/// A policy file is judged by the same builder: `run --policy` and `policy check` refuse a file that
/// pins only PCR3, naming the file and the way out.
#[tokio::test]
async fn a_policy_file_that_pins_only_the_parent_is_refused_everywhere() {
    let rogue = Rogue::start().await;
    let d = Scratch::new();
    let file = d.write(
        "weak.toml",
        &format!(
            "root_pem = {:?}\n[[pcrs]]\n3 = \"{}\"\n[functions]\necho = \"{}\"\n",
            rogue.root_path,
            rogue.image_pcr(PcrIndex::PARENT_ROLE),
            rogue.checksum("echo")
        ),
    );
    let why = format!(
        "{file}: {}; add a [[pcrs]] table pinning \"0\", \"2\" or \"8\" for each allowed release, or set \
         accept_any_enclave = true to trust any enclave",
        PolicyError::ImageNotPinned { set: Some(1), pins: pins(&[3]), zeroed: vec![], checksum_pinned: true }
    );
    let out = enclave(&["run", "echo", "--url", &rogue.url, "--policy", &file], CANARY).await;
    assert_eq!((out.status.code(), stderr(&out)), (Some(2), format!("enclave run: --policy: {why}\n")));
    let out = enclave(&["policy", "check", &file], b"").await;
    assert_eq!((out.status.code(), stderr(&out)), (Some(1), format!("error: {why}\n")));
    let out = enclave(&["kms-policy", "generate", "--policy", &file], b"").await;
    assert_eq!((out.status.code(), stderr(&out)), (Some(2), format!("error: {why}\n")));
    rogue.assert_untouched();
}
