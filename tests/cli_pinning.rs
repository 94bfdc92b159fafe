//! The pinning workflow through the `enclave` binary: `policy init`, `policy check`, `inspect`,
//! `attest`, with their exit codes and JSON output.

// A test crate: its helpers are test code, which clippy.toml already lets unwrap.
#![allow(clippy::unwrap_used)]

mod common;

use common::cli::*;
use common::fid;

use serde_json::{json, Value};

#[test]
fn policy_check_accepts_a_valid_file_and_names_line_and_key_otherwise() {
    let d = Scratch::new();
    let pcr0 = "ab".repeat(48);
    let good = d.write("good.toml", &format!("allow_debug = false\n[[pcrs]]\n0 = \"{pcr0}\"\n"));
    let out = enclave(&["policy", "check", &good]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("PCR0: {pcr0}")), "{}", stdout(&out));

    let out = enclave(&["policy", "check", &good, "--format", "json"]);
    assert_eq!(code(&out), 0);
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["pcrs"], json!([{ "0": pcr0 }]));
    assert_eq!(summary["trust_root"], json!("AWS Nitro Enclaves Root-G1"));

    let bad = d.write("bad.toml", &format!("[[pcrs]]\n0 = \"{pcr0}\"\n\n[functions]\nhello = \"xyz\"\n"));
    let out = enclave(&["policy", "check", &bad, "--format", "json"]);
    assert_eq!(code(&out), 1);
    let err: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let message = err["error"]["message"].as_str().unwrap();
    assert!(message.contains("line 5, column 9, key `functions.hello`"), "{message}");
    assert!(stderr(&out).contains("key `functions.hello`"));

    let empty = d.write("empty.toml", "# nothing\n");
    let out = enclave(&["policy", "check", &empty]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out),
        format!(
            "error: {empty}: the policy pins no measurement: it must pin the enclave image with PCR0, PCR2 or PCR8; \
             add a [[pcrs]] table pinning \"0\", \"2\" or \"8\" for each allowed release, or set accept_any_enclave \
             = true to trust any enclave\n"
        )
    );

    // The allow-list format of earlier versions is refused with the way out.
    let old = d.write("old.toml", &format!("[pcrs]\n0 = [\"{pcr0}\", \"{pcr0}\"]\n"));
    let out = enclave(&["policy", "check", &old]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out),
        format!(
            "error: {old}: line 1, column 1, key `pcrs`: write each allowed release as its own [[pcrs]] table with one \
             value per PCR (a [pcrs] table of allow-lists would let a document mix PCRs of two releases)\n"
        )
    );

    let out = enclave(&["policy", "check", &d.path("missing.toml")]);
    assert_eq!(code(&out), 1);
}

fn nitro(name: &str) -> String {
    format!("{}/sdk/testdata/nitro/{name}", env!("CARGO_MANIFEST_DIR"))
}

const CAPE_AT: &str = "1676033041";
const CAPE_PCR0: &str =
    "bda74673e83a409678cbc51eebc86acfabe144c7398e180e6d4caec7c7c62d6fe6a9faa1ef6a8a8a7b88158bc40b70fe";

#[test]
fn inspect_marks_everything_unverified_and_shows_the_chain() {
    let out = enclave(&["inspect", &nitro("cape-cli-key.cbor")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("UNVERIFIED: "), "{text}");
    assert!(text.trim_end().ends_with("anyone can write these values."), "{text}");
    assert!(text.contains(&format!("PCR0        {CAPE_PCR0}")));
    assert!(text.contains("subject  C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves"));
    assert!(text.contains("valid    1572269285 (2019-10-28T13:28:05Z) .. 2519044085 (2049-10-28T14:28:05Z)"));
    assert!(text.contains("user_data   746 bytes, no function claim"), "{text}");

    let out = enclave(&["inspect", &nitro("evervault-ga.cbor"), "--format", "json"]);
    assert_eq!(code(&out), 0);
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["verified"], json!(false));
    assert_eq!(doc["debug_mode"], json!(true));
    assert_eq!(doc["module_id"], json!("i-0918f6c55e3b61d89-enc018aa8b8e2285d13"));
    let certs = doc["certificates"].as_array().unwrap();
    assert_eq!(certs[0]["position"], json!("leaf certificate"));
    assert!(certs.len() >= 2);

    // A truncated document does not decode: exit 1. A missing file: exit 2.
    let d = Scratch::new();
    let raw = std::fs::read(nitro("cape-cli-key.cbor")).unwrap();
    let cut = d.path("cut.cbor");
    std::fs::write(&cut, &raw[..raw.len() / 2]).unwrap();
    assert_eq!(code(&enclave(&["inspect", &cut])), 1);
    assert_eq!(code(&enclave(&["inspect", &d.path("none.cbor")])), 2);
}

#[test]
fn policy_init_from_a_real_document_pins_what_it_verified() {
    use enclave_sdk::attestation::{Expected, Policy, PolicyFile, UnixTime, Verifier};
    let d = Scratch::new();
    let out_path = d.path("policy.toml");
    let out = enclave(&[
        "policy",
        "init",
        "--from-document",
        &nitro("cape-cli-key.cbor"),
        "--at",
        CAPE_AT,
        "--out",
        &out_path,
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("note: no function checksum pinned"), "{}", stderr(&out));
    let file = PolicyFile::from_file(&out_path).unwrap();
    assert_eq!(file.measurement_sets().len(), 1, "one allowed release");
    assert_eq!(file.measurement_sets()[0].indices().map(|i| i.get()).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 8]);
    assert_eq!(file.measurement_sets()[0].get(enclave_sdk::PcrIndex::IMAGE).unwrap().to_string(), CAPE_PCR0);
    // The written policy accepts the very document it came from.
    let verifier = Verifier::new(Policy::from_file(&out_path).unwrap());
    let raw = std::fs::read(nitro("cape-cli-key.cbor")).unwrap();
    verifier.verify(&raw, &Expected::default(), UnixTime::from_secs(CAPE_AT.parse().unwrap())).unwrap();

    // Without --force an existing file is kept: usage error.
    let again = enclave(&[
        "policy",
        "init",
        "--from-document",
        &nitro("cape-cli-key.cbor"),
        "--at",
        CAPE_AT,
        "--out",
        &out_path,
    ]);
    assert_eq!(code(&again), 2);
    assert!(stderr(&again).contains("pass --force"), "{}", stderr(&again));

    // PCR3 is zero in this document: not pinned; PCR4 is set: pinned.
    let out = enclave(&[
        "policy",
        "init",
        "--from-document",
        &nitro("blocky-nitrite-1024.cbor"),
        "--at",
        "1725719889",
        "--format",
        "json",
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let pcrs: Vec<&String> = summary["pcrs"][0].as_object().unwrap().keys().collect();
    assert_eq!(pcrs, ["0", "1", "2", "4"]);
    assert!(summary["policy_toml"].as_str().unwrap().contains("[[pcrs]]"));

    // Verified now, the 2023 chain has expired: the document is refused, exit 1.
    let out = enclave(&["policy", "init", "--from-document", &nitro("cape-cli-key.cbor")]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));

    // A debug-mode enclave is never pinned.
    let out = enclave(&["policy", "init", "--from-document", &nitro("evervault-ga.cbor"), "--at", "1695049440"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("debug-mode"), "{}", stderr(&out));

    // A document signed by another root than the one given: refused.
    let out = enclave(&[
        "policy",
        "init",
        "--from-document",
        &nitro("cape-cli-key.cbor"),
        "--at",
        CAPE_AT,
        "--root-pem",
        &d.write("x.pem", "nope"),
    ]);
    assert_eq!(code(&out), 2);

    // Exactly one source.
    assert_eq!(code(&enclave(&["policy", "init"])), 2);
    assert_eq!(code(&enclave(&["policy", "init", "--from-eif", "x", "--from-document", "y"])), 2);
    // The mock's policy is the mock's command now (`mock-enclave policy`): the user CLI does not link it.
    assert_eq!(code(&enclave(&["policy", "init", "--from-mock"])), 2);
}

mod live {
    //! Against an in-process mock enclave: pin it, attest it, use the pins.
    use super::*;
    use enclave_sdk::attestation::{Policy, PolicyFile};
    use enclave_sdk::Client;
    use mock_enclave::measurements::Measurements;
    use mock_enclave::MockEnclave;

    async fn run(args: Vec<String>, env: Option<(&str, &str)>) -> std::process::Output {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_enclave"));
        cmd.args(&args).env_remove("ENCLAVE_POLICY");
        if let Some((k, v)) = env {
            cmd.env(k, v);
        }
        cmd.output().await.unwrap()
    }

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    /// The mock's policy (what `mock-enclave policy --state-dir` writes) → a served mock with that state
    /// dir → the policy admits it, end to end.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn from_mock_to_attest_to_document_pins_and_a_session() {
        let d = Scratch::new();
        let state = d.path("state");
        let policy_path = d.path("policy.toml");
        let registry = mock_enclave::functions::FunctionRegistry::builtins();
        let file = mock_enclave::pinning::policy_file(
            &Measurements::for_mock(registry.manifest()),
            &registry,
            Some(std::path::Path::new(&state)),
        )
        .unwrap();
        std::fs::write(&policy_path, file.to_toml_string()).unwrap();

        // The mock serves the measurements `mock-enclave measurements` prints, from the same state dir.
        let mock = MockEnclave::builder().state_dir(&state).spawn().await.unwrap();
        let url = mock.url();

        // The policy file admits the mock: a session runs.
        let client =
            Client::builder().endpoint(url.clone()).policy(Policy::from_file(&policy_path).unwrap()).build().unwrap();
        let session = client.connect("echo").await.unwrap();
        assert_eq!(session.invoke(b"pinned").await.unwrap(), b"pinned");
        drop(session);

        // `enclave attest` with the policy (via ENCLAVE_POLICY) saves a verified document.
        let doc = d.path("doc.cbor");
        let out = run(
            args(&["attest", "--url", &url, "--fn", "echo", "--out", &doc]),
            Some(("ENCLAVE_POLICY", &policy_path)),
        )
        .await;
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        assert!(stdout(&out).contains("verified against the pins"), "{}", stdout(&out));

        // Pinning that document gives the same PCRs, the mock's root, and the echo checksum it claimed.
        let from_doc = d.path("from-doc.toml");
        let root = format!("{state}/root.pem");
        let out =
            run(args(&["policy", "init", "--from-document", &doc, "--root-pem", &root, "--out", &from_doc]), None)
                .await;
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let (a, b) = (PolicyFile::from_file(&policy_path).unwrap(), PolicyFile::from_file(&from_doc).unwrap());
        assert_eq!(a.measurement_sets(), b.measurement_sets());
        assert_eq!(a.trust_root(), b.trust_root());
        assert_eq!(b.function_checksums().keys().collect::<Vec<_>>(), ["echo"]);
        assert_eq!(b.function_checksums()["echo"], mock.function_checksum(&fid("echo")).unwrap());

        // Unpinned: still needs the right root; the output says it is unpinned.
        let out = run(
            args(&["attest", "--url", &url, "--fn", "echo", "--root-pem", &root, "--any-enclave", "--format", "json"]),
            None,
        )
        .await;
        assert_eq!(code(&out), 0, "{}", stderr(&out));
        let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert_eq!(report["pinned"], json!(false));
        assert!(report["document_base64"].as_str().unwrap().len() > 1000);
        let out = run(args(&["attest", "--url", &url, "--fn", "echo", "--any-enclave"]), None).await;
        assert_eq!(code(&out), 1, "AWS Root-G1 must not accept the mock's chain");

        // A policy pinning another PCR0 refuses the mock: exit 1, and nothing but the document was exchanged.
        let wrong =
            d.write("wrong.toml", &format!("root_pem = \"state/root.pem\"\n[[pcrs]]\n0 = \"{}\"\n", "ab".repeat(48)));
        let before = mock.stats();
        let out = run(args(&["attest", "--url", &url, "--fn", "echo", "--policy", &wrong]), None).await;
        assert_eq!(code(&out), 1);
        assert_eq!(
            stderr(&out),
            format!(
                "error: attestation refused: PCR0 is {}; the policy allows {}\n",
                mock.measurements().pcrs()[&enclave_sdk::PcrIndex::IMAGE],
                "ab".repeat(48)
            )
        );
        let after = mock.stats();
        assert_eq!((after.key_shares, after.invocations), (before.key_shares, before.invocations));

        // An existing --out without --force is refused before connecting.
        let documents = mock.stats().documents;
        let out =
            run(args(&["attest", "--url", &url, "--fn", "echo", "--policy", &policy_path, "--out", &doc]), None).await;
        assert_eq!(code(&out), 2);
        assert_eq!(mock.stats().documents, documents);

        mock.shutdown().await;
    }
}

#[test]
fn every_pinning_command_documents_exit_codes_and_examples() {
    for cmd in [
        &["policy", "init"][..],
        &["policy", "check"],
        &["inspect"],
        &["attest"],
        &["kms-policy", "generate"],
        &["kms-policy", "check"],
    ] {
        let mut args = cmd.to_vec();
        args.push("--help");
        let out = enclave(&args);
        assert_eq!(code(&out), 0, "{cmd:?}");
        let help = stdout(&out);
        assert!(
            help.contains("Exit codes:") && help.contains("Examples:") && help.contains("--format"),
            "{cmd:?}: {help}"
        );
    }
}
