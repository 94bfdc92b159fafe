//! The canary: a marker in the input never appears in any error's `Display` or in any log line, on
//! either side, whether the invocation succeeds, fails in the function, or is refused.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use enclave_sdk::attestation::Policy;

const CANARY: &str = "CANARY-7f3a9c-do-not-log";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn canary_never_reaches_logs_or_errors() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mock = mock().await;
    let input = format!("[{CANARY}]");
    let mut displayed = Vec::new();

    // Success, a function error, and a refused enclave.
    let echo = pinned_client(&mock, "echo").connect("echo").await.unwrap();
    assert_eq!(echo.invoke(input.as_bytes()).await.unwrap(), input.as_bytes());
    echo.close().await.unwrap();
    let mean = pinned_client(&mock, "mean").connect("mean").await.unwrap();
    let err = mean.invoke(input.as_bytes()).await.unwrap_err();
    displayed.push(err.to_string());
    displayed.push(format!("{err:?}"));
    let refused = client(&mock, Policy::builder().allow_measurements(every_pcr(&mock)).build().unwrap());
    displayed.push(refused.connect("echo").await.unwrap_err().to_string());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("session started"), "no logs captured: the test would prove nothing");
    assert!(!logs.contains(CANARY), "a log line carries the input:\n{logs}");
    for d in displayed {
        assert!(!d.contains(CANARY), "{d}");
    }
}
