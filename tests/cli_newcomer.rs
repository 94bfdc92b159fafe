//! Issue 17, a newcomer's first hour: each error the issue names, with its exact message and exit code,
//! found before anything is sent; what `run -v` and `attest` show; a closed stdout; the one flag
//! vocabulary's old spellings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Output, Stdio};

use common::cli::enclave_with_stdin as enclave;
use common::cli::Scratch;
use common::*;
use enclave_sdk::attestation::TrustRoot;
use mock_enclave::MockEnclave;

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// The mock's root in a scratch directory, and the pins of `function` as flags.
fn pin_flags(mock: &MockEnclave, d: &Scratch, function: &str) -> Vec<String> {
    let root = d.write("root.pem", &mock.root_pem());
    vec![
        "--url".into(),
        mock.url(),
        "--root-pem".into(),
        root,
        "--pcrs".into(),
        pcrs_text(mock, &[0, 1, 2]),
        "--checksum".into(),
        checksum(mock, function).to_string(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Before: "local i/o during streaming: NotFound", exit 1, after connecting. After: the flag, the path
/// and the reason, exit 2, and the enclave never hears of it.
#[tokio::test]
async fn a_missing_input_file_is_named_before_connecting() {
    let mock = mock().await;
    let d = Scratch::new();
    let mut args = vec!["run".to_owned(), "echo".into()];
    args.extend(pin_flags(&mock, &d, "echo"));
    let missing = d.path("missing.bin");
    args.extend(["--input".into(), missing.clone()]);
    let out = enclave(&strs(&args), b"").await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!("enclave run: --input {missing}: cannot open: No such file or directory (os error 2)\n")
    );
    assert_eq!(mock.stats().sessions, 0);
}

/// Before: found only after the input was sent. After: before connecting, exit 2; and a refused enclave
/// leaves an existing output file as it was.
#[tokio::test]
async fn a_bad_output_path_is_named_before_connecting() {
    let mock = mock().await;
    let d = Scratch::new();
    let mut args = vec!["run".to_owned(), "echo".into()];
    args.extend(pin_flags(&mock, &d, "echo"));
    let bad = format!("{}/no-such-dir/out.bin", d.root.display());
    let mut with_bad = args.clone();
    with_bad.extend(["--output".into(), bad.clone()]);
    let out = enclave(&strs(&with_bad), b"secret").await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!("enclave run: --output {bad}: cannot create: No such file or directory (os error 2)\n")
    );
    assert_eq!(mock.stats().sessions, 0);

    // attest too: exit 2 before connecting (nothing listens on port 1; a connection attempt would be exit 1).
    let bad_doc = format!("{}/no-such-dir/doc.cbor", d.root.display());
    let out =
        enclave(&["attest", "echo", "--url", "ws://127.0.0.1:1", "--any-enclave", "--output", &bad_doc], b"").await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!("error: --output {bad_doc}: {}/no-such-dir is not a directory\n", d.root.display())
    );

    let kept = d.write("kept.bin", "earlier output");
    let mut refused = args.clone();
    let n = refused.len();
    refused[n - 1] = "00".repeat(32); // a checksum no function has
    refused.extend(["--output".into(), kept.clone()]);
    let out = enclave(&strs(&refused), b"secret").await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "earlier output");
}

/// `--output /dev/null` discards the output (was "local i/o during streaming: InvalidInput", exit 1,
/// after the attestation and before any input was sent: /dev/null cannot be truncated); a longer
/// existing file is replaced by the output, not overwritten in part.
#[tokio::test]
async fn output_to_dev_null_or_over_a_longer_file_works() {
    let mock = mock().await;
    let d = Scratch::new();
    let mut args = vec!["run".to_owned(), "echo".into()];
    args.extend(pin_flags(&mock, &d, "echo"));
    let mut discarded = args.clone();
    discarded.extend(["--output".into(), "/dev/null".into()]);
    let out = enclave(&strs(&discarded), b"secret").await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(mock.stats().invocations, 1);

    let longer = d.write("longer.bin", "an earlier output, longer than this one");
    args.extend(["--output".into(), longer.clone()]);
    let out = enclave(&strs(&args), b"secret").await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&longer).unwrap(), "secret");
}

/// `enclave checksum` of a directory that is not there: a usage error naming the path (was exit 1).
#[tokio::test]
async fn a_missing_function_directory_is_a_usage_error() {
    let d = Scratch::new();
    let missing = d.path("functions/missing");
    let out = enclave(&["checksum", &missing], b"").await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        format!("enclave checksum: {missing}: cannot open: No such file or directory (os error 2)\n")
    );
}

/// Before: `endpoint "ws://…/v1/run/echo" is not a ws:// or wss:// URL of a host (and port)`. After: it
/// says which part is wrong and what to give; exit 2.
#[tokio::test]
async fn a_url_with_a_path_says_to_give_the_base_url() {
    let out = enclave(&["run", "echo", "--url", "ws://127.0.0.1:8443/v1/run/echo", "--any-enclave"], b"").await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "enclave run: --url: configuration: endpoint \"ws://127.0.0.1:8443/v1/run/echo\" has a path, query or \
         fragment; give only the base URL ws://host:port (the SDK appends /v1/run/FN_ID itself)\n"
    );
}

/// Before: `--nonce "abc": not hex (Odd number of digits)`. After: how many digits, and why not.
#[tokio::test]
async fn odd_length_hex_is_called_odd_length() {
    let out = enclave(&["verify", "-", "--any-enclave", "--nonce", "abc"], b"").await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out),
        "enclave verify: --nonce \"abc\": 3 hex digits; hex needs an even number (two per byte)\n"
    );
    let out = enclave(&["verify", "-", "--any-enclave", "--nonce", "zz"], b"").await;
    assert_eq!(stderr(&out), "enclave verify: --nonce \"zz\": 'z' at offset 0 is not a hex digit\n");
}

/// Before: a hash-versus-hash refusal. After: the same refusal, then that the pinned root is AWS's
/// built-in one and the flag that pins the mock's; exit 1 and no input reaches the enclave.
#[tokio::test]
async fn leaving_out_the_root_against_the_mock_suggests_root_pem() {
    let mock = mock().await;
    let pcrs = pcrs_text(&mock, &[0, 1, 2]);
    let out = enclave(&["run", "echo", "--url", &mock.url(), "--pcrs", &pcrs], b"secret").await;
    assert_eq!(out.status.code(), Some(1));
    let mock_root = hex::encode(TrustRoot::from_pem(&mock.root_pem()).unwrap().sha256());
    let aws = hex::encode(TrustRoot::AWS_NITRO_ROOT_G1_SHA256);
    assert_eq!(
        stderr(&out),
        format!(
            "enclave run: attestation refused: certificate chain: cabundle[0] has SHA-256 {mock_root}; the pinned \
             root(s) are [{aws}]; the pinned root is the built-in AWS Nitro Enclaves Root-G1 (no --root-pem \
             given); for the mock enclave pass --root-pem <state-dir>/root.pem\n"
        )
    );
    assert_eq!(mock.stats().invocations, 0);
}

/// A function's error message is the enclave's text: shown escaped, never raw.
#[tokio::test]
async fn a_function_error_is_shown_escaped() {
    let mock = mock().await;
    let d = Scratch::new();
    let mut args = vec!["run".to_owned(), "fail".into()];
    args.extend(pin_flags(&mock, &d, "fail"));
    let out = enclave(&strs(&args), b"x").await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out),
        "enclave run: function fail failed with code 1: function fail failed: the fail function always fails\n"
    );
}

/// `-v` prints what was verified on stderr (stdout stays the output), and `attest` prints the same lines.
#[tokio::test]
async fn run_verbose_and_attest_show_the_same_summary() {
    let mock = mock().await;
    let d = Scratch::new();
    let mut args = vec!["run".to_owned(), "uppercase".into(), "-v".into()];
    args.extend(pin_flags(&mock, &d, "uppercase"));
    let out = enclave(&strs(&args), b"hi").await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"HI");
    let summary = stderr(&out);
    assert!(summary.starts_with("verified before sending any input:\n"), "{summary}");
    let pcrs = mock.measurements().pcrs();
    for i in 0..3u8 {
        let index = enclave_sdk::PcrIndex::new(i).unwrap();
        let want = format!("\n  {:<13}{} (pinned, set 1)\n", index.to_string(), pcrs[&index]);
        assert!(summary.contains(&want), "{summary} lacks {want}");
    }
    assert!(summary.contains("\n  debug mode   no (PCR0..2 are not all zero)\n"), "{summary}");
    assert!(summary.contains(" s old (limit 300 s, clock skew 60 s)\n"), "{summary}");
    assert!(
        summary.contains(&format!("\n  function     uppercase checksum {} (pinned)\n", checksum(&mock, "uppercase")))
    );
    assert!(summary.contains("\n  chain        leaf certificate "), "{summary}");
    assert!(summary.contains("Z to 20"), "readable UTC validity: {summary}");

    let mut attest = vec!["attest".to_owned(), "uppercase".into()];
    attest.extend(pin_flags(&mock, &d, "uppercase"));
    let out = enclave(&strs(&attest), b"").await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = String::from_utf8(out.stdout).unwrap();
    // Every line but the document's age and nonce (this is another connection) is the same.
    let stable = |s: &str| -> Vec<String> {
        s.lines()
            .skip_while(|l| !l.starts_with("verified before"))
            .take_while(|l| l.starts_with("verified before") || l.starts_with("  "))
            .filter(|l| {
                !l.starts_with("  document") && !l.starts_with("  nonce") && !l.starts_with("  chain        leaf")
            })
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(stable(&text), stable(&summary));
    assert!(stable(&summary).len() >= 8, "{summary}");
}

/// `enclave ... | head`: the reader closed stdout; every command ends quietly with 0, no panic message.
#[test]
fn a_closed_stdout_ends_every_command_quietly() {
    let d = Scratch::new();
    let eif = format!("{}/eif/testdata/signed-p384-a.eif", env!("CARGO_MANIFEST_DIR"));
    let policy = d.write("policy.toml", &format!("[[pcrs]]\n0 = \"{}\"\n", "ab".repeat(48)));
    for args in [
        vec!["measure", eif.as_str()],
        vec!["kms-policy", "generate", "--policy", &policy, "--principal", "arn:aws:iam::111122223333:role/host"],
    ] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_enclave"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // as `head` does once it has its lines
        let out = child.wait_with_output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

/// The one vocabulary's old spellings still work, hidden: `--root` (run, verify), `--fn` and `--out`
/// (attest, policy init); the new ones are `--root-pem`, a positional FN_ID and `--output` everywhere.
#[tokio::test]
async fn old_spellings_are_hidden_aliases() {
    let mock = mock().await;
    let d = Scratch::new();
    let root = d.write("root.pem", &mock.root_pem());
    let doc = d.path("doc.cbor");
    let out = enclave(
        &["attest", "--fn", "echo", "--url", &mock.url(), "--root", &root, "--any-enclave", "--out", &doc],
        b"",
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(std::fs::metadata(&doc).unwrap().len() > 1000);
    let out =
        enclave(&["attest", "echo", "--url", &mock.url(), "--root-pem", &root, "--any-enclave", "--output", &doc], b"")
            .await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), format!("error: --output {doc} exists; pass --force to replace it\n"));
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_enclave")).args(["attest", "--help"]).output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("--root-pem") && help.contains("--output") && help.contains("[FN_ID]"), "{help}");
    assert!(!help.contains("--fn ") && !help.contains("--out "), "{help}");
}

/// A policy file pins its root by SHA-256 as well as by path: a root file replaced since is refused
/// (exit 2 from `run`, before connecting; exit 1 from `policy check`), with both digests.
#[tokio::test]
async fn a_policy_whose_root_file_was_replaced_is_refused() {
    let (mock, other) = (common::mock().await, common::mock().await);
    let d = Scratch::new();
    let doc = d.path("doc.cbor");
    let root = d.write("root.pem", &mock.root_pem());
    let out =
        enclave(&["attest", "echo", "--url", &mock.url(), "--root-pem", &root, "--any-enclave", "--output", &doc], b"")
            .await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let policy = d.path("policy.toml");
    let out =
        enclave(&["policy", "init", "--from-document", &doc, "--root-pem", &root, "--output", &policy], b"").await;
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let pinned = hex::encode(TrustRoot::from_pem(&mock.root_pem()).unwrap().sha256());
    assert!(std::fs::read_to_string(&policy).unwrap().contains(&format!("root_sha256 = \"{pinned}\"")));

    std::fs::write(&root, other.root_pem()).unwrap();
    let found = hex::encode(TrustRoot::from_pem(&other.root_pem()).unwrap().sha256());
    let message = |root_path: &str| {
        format!(
            "root_sha256 pins a root with SHA-256 {pinned}, but {root_path} has SHA-256 {found}; restore that root \
             file, or re-pin it (enclave policy init / mock-enclave policy) if the change was yours"
        )
    };
    let out = enclave(&["policy", "check", &policy], b"").await;
    assert_eq!(out.status.code(), Some(1));
    let written_root = std::fs::canonicalize(&root).unwrap().display().to_string();
    assert_eq!(stderr(&out), format!("error: {policy}: {}\n", message(&written_root)));
    let out = enclave(&["run", "echo", "--url", &other.url(), "--policy", &policy], b"secret").await;
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr(&out), format!("enclave run: --policy: {policy}: {}\n", message(&written_root)));
    assert_eq!(other.stats().sessions, 0);
}
