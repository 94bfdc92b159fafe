//! `enclave-bench --quick --format json`: the command runs end to end against its own loopback
//! servers and reports every figure as a finite positive number. `enclave-bench peer` runs against an
//! in-process TLS mock in both protocols, verifying for real: a wrong pin fails the run. The figures'
//! values are not asserted: timing belongs in benchmarks, not in tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mock_enclave::MockEnclave;

const KEYS: [&str; 27] = [
    "p384_verify_us",
    "p384_sign_us",
    "x25519_us",
    "verify_cold_us",
    "verify_warm_us",
    "verify_cold_ratio",
    "verify_warm_ratio",
    "ws_connect_echo_us",
    "handshake_us",
    "handshake_ratio",
    "ws_echo_msgs_per_s",
    "invocations_per_s",
    "invocation_ratio",
    "ws_bulk_mb_per_s",
    "bulk_mb_per_s",
    "bulk_ratio",
    "aead_mb_per_s",
    "stream_peak_rss_mb",
    "idle_session_bytes",
    "eif_sha384_mb_per_s",
    "eif_measure_mb_per_s",
    "eif_measure_ratio",
    "eif_measure_peak_rss_mb",
    "relay_rtt_ms",
    "fresh_call_rtts_ws",
    "fresh_call_rtts_wss",
    "reused_call_rtts",
];

#[test]
fn quick_json_reports_every_figure() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_enclave-bench"))
        .args(["--quick", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = report.as_object().expect("one JSON object");
    assert_eq!(report.get("mode").and_then(|m| m.as_str()), Some("quick"));
    for key in KEYS {
        let value = report.get(key).unwrap_or_else(|| panic!("{key} missing"));
        let n = value.as_f64().unwrap_or_else(|| panic!("{key} is not a number: {value}"));
        assert!(n.is_finite() && n > 0.0, "{key} = {n}");
    }
}

/// `enclave-bench relay` forwards bytes both ways to its upstream, each no sooner than its delay.
#[test]
fn relay_delays_both_directions() {
    use std::io::{BufRead as _, Read as _, Write as _};
    let echo = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream = echo.local_addr().unwrap();
    std::thread::spawn(move || {
        let (mut s, _) = echo.accept().unwrap();
        let mut b = [0u8; 5];
        s.read_exact(&mut b).unwrap();
        s.write_all(&b).unwrap();
    });
    let mut relay = std::process::Command::new(env!("CARGO_BIN_EXE_enclave-bench"))
        .args(["relay", "--upstream", &upstream.to_string(), "--one-way-ms", "50"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(relay.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let addr = line.trim().strip_prefix("relaying ").expect("relaying ADDR");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let t = std::time::Instant::now();
    s.write_all(b"hello").unwrap();
    let mut b = [0u8; 5];
    s.read_exact(&mut b).unwrap();
    let took = t.elapsed();
    relay.kill().unwrap();
    let _ = relay.wait();
    assert_eq!(&b, b"hello");
    // A lower bound only: the relay holds each direction at least its delay.
    assert!(took >= std::time::Duration::from_millis(100), "{took:?}");
}

#[test]
fn unknown_format_is_a_usage_error() {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_enclave-bench")).args(["--format", "xml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}

/// Files and flags pinning `mock` (root, every PCR, `echo`'s checksum) for `enclave-bench peer`.
struct PeerFlags {
    _dir: tempfile::TempDir,
    args: Vec<String>,
    tls_root: String,
}

fn peer_flags(mock: &MockEnclave, checksum: enclave_sdk::FunctionChecksum) -> PeerFlags {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(path("root.pem"), mock.root_pem()).unwrap();
    std::fs::write(path("tls.der"), mock.tls_certificate_der().unwrap()).unwrap();
    std::fs::write(path("input"), [7u8; 1024]).unwrap();
    let mut args = vec!["peer".into(), "--url".into(), mock.url(), "--root".into(), path("root.pem")];
    let every_pcr = enclave_sdk::MeasurementSet::new(
        mock.measurements().pcrs().iter().map(|(i, v)| enclave_sdk::Pcr::new(*i, v.clone())),
    )
    .unwrap();
    args.extend(["--pcrs".into(), every_pcr.to_string()]);
    args.extend(["--checksum".into(), checksum.to_string(), "--input".into(), path("input")]);
    args.extend(["--expect".into(), path("input"), "--iterations".into(), "2".into()]);
    PeerFlags { tls_root: path("tls.der"), args, _dir: dir }
}

async fn enclave(args: &[String]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_enclave-bench")).args(args).output().await.unwrap()
}

#[tokio::test]
async fn peer_reports_warm_and_cold_samples_in_both_protocols() {
    let mock = MockEnclave::builder().tls(true).spawn().await.unwrap();
    let flags = peer_flags(&mock, mock.function_checksum(&"echo".parse().unwrap()).unwrap());
    for (mode, function) in [("cape", "alice/echo"), ("native", "echo")] {
        let mut args = flags.args.clone();
        args.extend(
            ["--tls-root", &flags.tls_root, "--function", function, "--mode", mode, "--cold", "--format", "json"]
                .map(String::from),
        );
        let out = enclave(&args).await;
        assert!(out.status.success(), "{mode}: {}", String::from_utf8_lossy(&out.stderr));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["mode"], mode);
        assert_eq!(report["function"], function);
        assert_eq!(report["iterations"], 2);
        assert_eq!(report["input_bytes"], 1024);
        assert_eq!(report["tls_webpki"], true);
        for cache in ["warm", "cold"] {
            for figure in ["median_us", "p90_us"] {
                let n =
                    report[format!("{cache}_{figure}")].as_f64().unwrap_or_else(|| panic!("{mode} {cache}_{figure}"));
                assert!(n.is_finite() && n > 0.0, "{mode} {cache}_{figure} = {n}");
            }
            assert_eq!(report[format!("{cache}_samples_us")].as_array().map(Vec::len), Some(2), "{mode} {cache}");
        }
    }
    // Warm-up, two warm and two cold samples per protocol, all verified.
    assert_eq!(mock.stats().documents, 10);
}

#[tokio::test]
async fn peer_fails_on_a_wrong_checksum_pin() {
    let mock = MockEnclave::builder().tls(true).spawn().await.unwrap();
    let flags = peer_flags(&mock, mock.function_checksum(&"uppercase".parse().unwrap()).unwrap());
    for (mode, function) in [("cape", "alice/echo"), ("native", "echo")] {
        let mut args = flags.args.clone();
        args.extend(["--tls-root", &flags.tls_root, "--function", function, "--mode", mode].map(String::from));
        let out = enclave(&args).await;
        assert_eq!(out.status.code(), Some(1), "{mode}");
        assert!(out.stdout.is_empty(), "{mode}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains("checksum")
                && stderr.contains(&hex::encode(mock.function_checksum(&"echo".parse().unwrap()).unwrap())),
            "{mode}: {stderr}"
        );
    }
}

#[tokio::test]
async fn peer_cape_over_wss_needs_a_webpki_root() {
    let mock = MockEnclave::builder().tls(true).spawn().await.unwrap();
    let flags = peer_flags(&mock, mock.function_checksum(&"echo".parse().unwrap()).unwrap());
    let mut args = flags.args.clone();
    args.extend(["--function", "echo", "--mode", "cape"].map(String::from));
    let out = enclave(&args).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8(out.stderr).unwrap().contains("needs a WebPKI root"));
    assert_eq!(mock.stats().documents, 0);
}

#[test]
fn peer_without_pins_is_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_enclave-bench"))
        .args(["peer", "--url", "wss://localhost:1", "--root", "r.pem", "--checksum", "00", "--function", "echo"])
        .args(["--input", "in", "--mode", "native"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("--pcr"));
}
