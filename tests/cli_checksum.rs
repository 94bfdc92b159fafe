//! `enclave checksum` prints what the mock enclave reports for the same function directory.

// The helper outside #[test] may fail loudly: a missing binary is a broken test.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use mock_enclave::functions::FunctionRegistry;

fn enclave_checksum(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_enclave")).arg("checksum").args(args).output().unwrap()
}

#[test]
fn cli_checksum_equals_the_mock_enclaves_and_follows_edits() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("greet");
    std::fs::create_dir(&f).unwrap();
    std::fs::write(f.join("main"), "#!/bin/sh\nprintf 'hello, '; cat\n").unwrap();
    std::fs::set_permissions(f.join("main"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(f.join("greeting.txt"), "hello").unwrap();

    let mock_reports = || {
        let mut reg = FunctionRegistry::builtins();
        reg.load_dir(dir.path()).unwrap();
        reg.get(&"greet".parse().unwrap()).unwrap().checksum().to_string()
    };
    let cli = || {
        let out = enclave_checksum(&[f.as_os_str()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let base = cli();
    assert_eq!(base, mock_reports());

    let json = enclave_checksum(&[f.as_os_str(), "--format".as_ref(), "json".as_ref()]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v["checksum"], base.as_str());

    // One byte of one file.
    std::fs::write(f.join("greeting.txt"), "hellO").unwrap();
    let edited = cli();
    assert_ne!(edited, base);
    assert_eq!(edited, mock_reports());
    std::fs::write(f.join("greeting.txt"), "hello").unwrap();
    assert_eq!(cli(), base);

    // A file name.
    std::fs::rename(f.join("greeting.txt"), f.join("greeting.md")).unwrap();
    assert_ne!(cli(), base);
    assert_eq!(cli(), mock_reports());
    std::fs::rename(f.join("greeting.md"), f.join("greeting.txt")).unwrap();

    // The executable bit.
    std::fs::set_permissions(f.join("greeting.txt"), std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_ne!(cli(), base);
    assert_eq!(cli(), mock_reports());
}

#[test]
fn cli_checksum_fails_with_exit_1_on_a_symlink() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link")).unwrap();
    let out = enclave_checksum(&[dir.path().as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("symbolic links are refused"));
}
