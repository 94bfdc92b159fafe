//! `mock-enclave serve --functions DIR` with a relative `DIR`: the user functions run (they used to
//! fail with "entity not found", the entry point being resolved again inside its own directory), and
//! the served image measures them.

// Test helpers outside #[test] functions may fail loudly: a broken fixture is a broken test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};

use enclave_sdk::attestation::{Policy, TrustRoot};
use enclave_sdk::{Client, MeasurementSet, Pcr, PcrIndex};
use mock_enclave::functions::FunctionRegistry;
use mock_enclave::measurements::Measurements;

/// Kills the server when the test ends, however it ends.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relative_functions_directory_serves_and_measures_its_functions() {
    let work = tempfile::tempdir().unwrap();
    let shout = work.path().join("fns/shout");
    std::fs::create_dir_all(&shout).unwrap();
    std::fs::write(shout.join("main"), "#!/bin/sh\ntr a-z A-Z\n").unwrap();
    std::fs::set_permissions(shout.join("main"), std::fs::Permissions::from_mode(0o755)).unwrap();

    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-enclave"))
        .current_dir(work.path())
        .args(["serve", "--listen", "127.0.0.1:0", "--state-dir", "state", "--functions", "fns"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let serving = Serving(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("{line:?}")).to_owned();

    // Pin what the library measures for the same functions: the image carries `shout`.
    let mut registry = FunctionRegistry::builtins();
    registry.load_dir(&work.path().join("fns")).unwrap();
    let image = Measurements::for_mock(registry.manifest());
    let pins =
        [PcrIndex::IMAGE, PcrIndex::KERNEL, PcrIndex::APPLICATION].map(|i| Pcr::new(i, image.pcrs()[&i].clone()));
    let root = std::fs::read_to_string(work.path().join("state/root.pem")).unwrap();
    let policy = Policy::builder()
        .trust_root(TrustRoot::from_pem(&root).unwrap())
        .allow_measurements(MeasurementSet::new(pins).unwrap())
        .function_checksum_for("shout".parse().unwrap(), registry.get(&"shout".parse().unwrap()).unwrap().checksum())
        .build()
        .unwrap();
    let client = Client::builder().endpoint(url).policy(policy).build().unwrap();
    let session = client.connect("shout").await.unwrap();
    assert_eq!(session.invoke(b"relative works").await.unwrap(), b"RELATIVE WORKS");
    session.close().await.unwrap();
    drop(serving);
}
