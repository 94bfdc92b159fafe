//! `enclave bench --quick --format json`: the command runs end to end against its own loopback
//! servers and reports every figure as a finite positive number. The figures' values are not asserted:
//! timing belongs in benchmarks, not in tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

const KEYS: [&str; 19] = [
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
];

#[test]
fn quick_json_reports_every_figure() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_enclave"))
        .args(["bench", "--quick", "--format", "json"])
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

#[test]
fn unknown_format_is_a_usage_error() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_enclave")).args(["bench", "--format", "xml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
}
