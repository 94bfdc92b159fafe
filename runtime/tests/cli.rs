//! The `enclave-runtime` binary as the deployment recipe runs it: `serve` with the Dockerfile's own
//! arguments, and `relay` forwarding bytes until a signal drains it.

// Test helpers outside #[test] functions may fail loudly: a broken fixture is a broken test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_enclave-runtime");

/// The arguments of the Dockerfile's ENTRYPOINT, after the binary's path.
fn entrypoint_args() -> Vec<String> {
    let dockerfile =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/Dockerfile")).unwrap();
    let line = dockerfile.lines().find(|l| l.starts_with("ENTRYPOINT ")).expect("an ENTRYPOINT line");
    let list: Vec<String> = serde_json::from_str(line.trim_start_matches("ENTRYPOINT ")).unwrap();
    assert_eq!(list.first().map(String::as_str), Some("/usr/local/bin/enclave-runtime"));
    list.into_iter().skip(1).collect()
}

/// The image's command parses, listens on the vsock port the README and the relay use, and seals the
/// recipe's functions directory; here, without an NSM, it then stops with a usage error naming the
/// attester, not with an argument error.
#[test]
fn the_dockerfiles_entrypoint_is_a_valid_serve_command() {
    let mut args = entrypoint_args();
    assert_eq!(args.get(..3).unwrap(), ["serve", "--listen", "vsock:5005"]);
    let at = args.iter().position(|a| a == "/app/functions").unwrap();
    args[at] = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/functions").display().to_string();
    let out = Command::new(BIN).args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if cfg!(feature = "nsm") {
        // Built for an enclave and run outside one: the device is missing.
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("/dev/nsm"), "{stderr}");
    } else {
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("enclave-runtime serve: this build has no NSM attester"), "{stderr}");
    }
    assert!(
        stderr.contains("function sealed") && stderr.contains("word-count"),
        "the functions loaded first: {stderr}"
    );
}

#[test]
fn serve_refuses_a_bad_functions_directory_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nomain")).unwrap();
    let out =
        Command::new(BIN).args(["serve", "--listen", "127.0.0.1:0", "--functions"]).arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nomain/main is missing"));
}

#[test]
fn relay_forwards_bytes_and_drains_on_sigterm() {
    let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut tcp in upstream.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 1024];
                while let Ok(n) = tcp.read(&mut buf) {
                    if n == 0 || tcp.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    let mut child = Command::new(BIN)
        .args(["relay", "--listen", "127.0.0.1:0", "--drain-timeout", "1", "--to"])
        .arg(to.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    // "relaying 127.0.0.1:PORT to tcp:127.0.0.1:PORT"
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!((words[0], words[2], words[3]), ("relaying", "to", format!("tcp:{to}").as_str()), "{line}");
    let mut tcp = TcpStream::connect(words[1]).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    tcp.write_all(b"through the relay").unwrap();
    let mut back = [0u8; 17];
    tcp.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"through the relay");

    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    // The open connection is cut once the drain time (1 s) has passed, and the relay exits 0.
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    assert!(child.wait().unwrap().success());
}
