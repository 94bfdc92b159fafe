//! `mock-enclave measurements` prints what the library computes, so pinning its output pins the mock.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use enclave_sdk::checksum::directory_checksum;
use mock_enclave::functions::FunctionRegistry;
use mock_enclave::measurements::Measurements;
use sha2::{Digest, Sha256};

#[test]
fn json_output_matches_library_pcrs_root_and_function_checksums() {
    let state = tempfile::tempdir().unwrap();
    let functions = tempfile::tempdir().unwrap();
    let f = functions.path().join("shout");
    std::fs::create_dir(&f).unwrap();
    std::fs::write(f.join("main"), "#!/bin/sh\ntr a-z A-Z\n").unwrap();
    std::fs::set_permissions(f.join("main"), std::fs::Permissions::from_mode(0o755)).unwrap();

    let run = |debug: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mock-enclave"));
        cmd.args(["measurements", "--format", "json", "--state-dir"])
            .arg(state.path())
            .arg("--functions")
            .arg(functions.path());
        if debug {
            cmd.arg("--debug-mode");
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let v = run(false);
    // The image measures the function set: the built-ins and `shout`, as the library loads them.
    let mut registry = FunctionRegistry::builtins();
    registry.load_dir(functions.path()).unwrap();
    let expected = Measurements::for_mock(registry.manifest());
    for (i, pcr) in expected.pcrs() {
        assert_eq!(v["pcrs"][i.get().to_string()], pcr.to_string());
    }
    let builtins_only = Measurements::for_mock(FunctionRegistry::builtins().manifest());
    assert_ne!(v["pcrs"]["2"], builtins_only.pcrs()[&enclave_sdk::PcrIndex::APPLICATION].to_string());
    assert_eq!(v["pcrs"]["1"], builtins_only.pcrs()[&enclave_sdk::PcrIndex::KERNEL].to_string());
    let root_der = std::fs::read(state.path().join("root.der")).unwrap();
    assert_eq!(v["root"]["sha256"], hex::encode(Sha256::digest(&root_der)));
    let shout = v["functions"].as_array().unwrap().iter().find(|f| f["id"] == "shout").unwrap();
    assert_eq!(shout["checksum"], hex::encode(directory_checksum(&f).unwrap()));
    assert_eq!(shout["builtin"], false);

    // A second run reuses the state: the same root, so a pinned root survives restarts.
    let debug = run(true);
    assert_eq!(debug["root"]["sha256"], v["root"]["sha256"]);
    assert_eq!(debug["pcrs"]["0"], "00".repeat(48));
    assert_eq!(debug["debug_mode"], true);
}

#[test]
fn a_bad_functions_directory_fails_with_exit_1() {
    let functions = tempfile::tempdir().unwrap();
    std::fs::create_dir(functions.path().join("nomain")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_mock-enclave"))
        .args(["measurements", "--functions"])
        .arg(functions.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nomain"));
}
