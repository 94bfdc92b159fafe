//! What runs is what was measured, and a function reaches nothing but its own files: user functions
//! are sealed at load and confined when they run (the runtime's `DirectoryFunction`, as the mock and
//! a real enclave serve it).

// Test helpers outside #[test] functions may fail loudly: a broken fixture is a broken test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use enclave_runtime::{Function as _, FunctionError};
use enclave_sdk::checksum::directory_checksum;
use enclave_sdk::FunctionId;
use mock_enclave::attester::{SoftwareNsm, StateError};
use mock_enclave::functions::FunctionRegistry;
use mock_enclave::measurements::Measurements;
use mock_enclave::{MockEnclave, StartError};

fn write_exec(path: &Path, body: &str) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn fid(id: &str) -> FunctionId {
    id.parse().unwrap()
}

/// `DIR/<id>/main` with `body`.
fn function(dir: &Path, id: &str, body: &str) {
    std::fs::create_dir_all(dir.join(id)).unwrap();
    write_exec(&dir.join(id).join("main"), body);
}

async fn run(reg: &FunctionRegistry, id: &str, input: &[u8]) -> Result<Vec<u8>, FunctionError> {
    reg.get(&fid(id)).unwrap().invoke_bytes(input.to_vec()).await
}

/// The swap: `main` replaced on disk after start. Before sealing, the next call ran the new file
/// under the old checksum; now it runs the measured bytes, and the document's checksum (and PCR2)
/// still describe what runs.
#[tokio::test]
async fn a_file_swapped_after_start_does_not_run() {
    let dir = tempfile::tempdir().unwrap();
    function(dir.path(), "greet", "#!/bin/sh\nprintf measured\n");
    std::fs::write(dir.path().join("greet/data.txt"), "measured data\n").unwrap();
    let measured = directory_checksum(&dir.path().join("greet")).unwrap();
    let mut reg = FunctionRegistry::builtins();
    reg.load_dir(dir.path()).unwrap();
    let image = Measurements::for_mock(reg.manifest());
    assert_eq!(run(&reg, "greet", b"").await.unwrap(), b"measured");

    // Replaced in place, then replaced by rename (the way an editor or a deploy swaps a file).
    write_exec(&dir.path().join("greet/main"), "#!/bin/sh\nprintf swapped\n");
    assert_eq!(run(&reg, "greet", b"").await.unwrap(), b"measured");
    let swapped = dir.path().join("swapped");
    write_exec(&swapped, "#!/bin/sh\ncat data.txt\n");
    std::fs::rename(&swapped, dir.path().join("greet/main")).unwrap();
    std::fs::write(dir.path().join("greet/data.txt"), "swapped data\n").unwrap();
    assert_eq!(run(&reg, "greet", b"").await.unwrap(), b"measured");

    let swapped = directory_checksum(&dir.path().join("greet")).unwrap();
    assert_ne!(swapped, measured, "the swap changed the original");
    assert_eq!(reg.get(&fid("greet")).unwrap().checksum(), measured, "the attested checksum is the sealed copy's");
    assert_eq!(Measurements::for_mock(reg.manifest()), image);

    // Removing the original entirely changes nothing either: the copy is the runtime's own.
    std::fs::remove_dir_all(dir.path().join("greet")).unwrap();
    assert_eq!(run(&reg, "greet", b"").await.unwrap(), b"measured");
    // A restart (a new load) measures what is there now.
    function(dir.path(), "greet", "#!/bin/sh\nprintf swapped\n");
    let mut again = FunctionRegistry::builtins();
    again.load_dir(dir.path()).unwrap();
    assert_eq!(run(&again, "greet", b"").await.unwrap(), b"swapped");
    assert_ne!(Measurements::for_mock(again.manifest()), image);
}

/// A function reading the attester's CA keys from the state directory would mint documents for any
/// function; confined, it cannot even list the directory. The same function reading its own data
/// file shows the script works.
#[tokio::test]
async fn a_function_cannot_read_the_state_directory() {
    let state = tempfile::tempdir().unwrap();
    let state = state.path().join("state");
    let nsm = SoftwareNsm::load_or_create(&state, Measurements::for_mock([])).unwrap();
    assert!(!nsm.root_der().is_empty());
    let key = state.join("root.key");
    assert!(std::fs::metadata(&key).unwrap().len() > 0);

    let dir = tempfile::tempdir().unwrap();
    let steal = format!("#!/bin/sh\ncat '{}'\n", key.display());
    function(dir.path(), "steal", &steal);
    function(dir.path(), "list", &format!("#!/bin/sh\nls '{}'\n", state.display()));
    function(dir.path(), "own", "#!/bin/sh\ncat data.txt\n");
    std::fs::write(dir.path().join("own/data.txt"), "mine\n").unwrap();
    let mut reg = FunctionRegistry::builtins();
    reg.load_dir(dir.path()).unwrap();

    assert_eq!(run(&reg, "own", b"").await.unwrap(), b"mine\n");
    // cat and ls exit 1 on a denied open; nothing of the key reaches the output.
    assert_eq!(run(&reg, "steal", b"").await, Err(FunctionError::Exited { function: fid("steal"), code: Some(1) }));
    assert!(matches!(run(&reg, "list", b"").await, Err(FunctionError::Exited { code: Some(1 | 2), .. })));
}

/// The confinement lets functions read the system directories, so a state directory beneath one
/// would hand the CA keys to every function: the mock refuses to start with it, before anything is
/// created there, whether the path names the system directory, reaches it through a link, or
/// cannot be resolved. The same functions beside a state directory elsewhere start.
#[tokio::test]
async fn a_state_directory_the_functions_could_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    function(
        dir.path(),
        "etc",
        "#!/bin/sh
cat /etc/passwd
",
    );
    let registry = || {
        let mut reg = FunctionRegistry::builtins();
        reg.load_dir(dir.path()).unwrap();
        reg
    };
    // Why: what lies beneath /etc is readable by a confined function.
    assert!(!run(&registry(), "etc", b"").await.unwrap().is_empty());

    let scratch = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/etc", scratch.path().join("link")).unwrap();
    let tag = format!("enclave-sdk-test-{}", std::process::id());
    for state in [
        PathBuf::from("/etc").join(&tag).join("state"),
        scratch.path().join("link").join(&tag),
        scratch.path().join("missing/../../etc").join(&tag),
    ] {
        let err = MockEnclave::builder().functions(registry()).state_dir(&state).spawn().await.unwrap_err();
        assert!(
            matches!(&err, StartError::State(StateError::ReadableByFunctions { path }) if *path == state),
            "{state:?}: {err}"
        );
    }
    assert!(!Path::new("/etc").join(&tag).exists(), "nothing was created");
    assert!(!scratch.path().join("missing").exists(), "nothing was created");

    let elsewhere = scratch.path().join("state");
    let mock = MockEnclave::builder().functions(registry()).state_dir(&elsewhere).spawn().await.unwrap();
    assert!(elsewhere.join("root.key").exists());
    mock.shutdown().await;
}

/// Neither another function's copy nor its own: a function reads only its own copy, and writes none.
#[tokio::test]
async fn a_function_cannot_touch_another_function_or_rewrite_itself() {
    let dir = tempfile::tempdir().unwrap();
    function(dir.path(), "secret", "#!/bin/sh\nprintf 'the secret is here'\n");
    function(dir.path(), "peek", "#!/bin/sh\ncat ../secret/main\n");
    function(
        dir.path(),
        "rewrite",
        "#!/bin/sh\nchmod u+w main 2>/dev/null; printf '#!/bin/sh\\nprintf rewritten\\n' > main && exit 0; printf original\n",
    );
    function(dir.path(), "where", "#!/bin/sh\npwd\n");
    let mut reg = FunctionRegistry::builtins();
    reg.load_dir(dir.path()).unwrap();

    assert_eq!(run(&reg, "peek", b"").await, Err(FunctionError::Exited { function: fid("peek"), code: Some(1) }));
    assert_eq!(run(&reg, "rewrite", b"").await.unwrap(), b"original");
    assert_eq!(run(&reg, "rewrite", b"").await.unwrap(), b"original");
    // Its own working directory: the sealed copy, not the original and not the runtime's.
    let cwd = String::from_utf8(run(&reg, "where", b"").await.unwrap()).unwrap();
    assert!(cwd.trim_end().ends_with("/where"), "{cwd}");
    assert!(!cwd.starts_with(&dir.path().display().to_string()), "{cwd}");
    assert_ne!(Path::new(cwd.trim_end()), std::env::current_dir().unwrap());
}

/// An empty environment: nothing of the runtime's (tokens, credentials) reaches a function, only a
/// fixed `PATH`.
#[tokio::test]
async fn a_function_sees_only_a_fixed_path_in_its_environment() {
    std::env::set_var("MOCK_ENCLAVE_TOKEN", "a bearer token the function must not see");
    let dir = tempfile::tempdir().unwrap();
    function(dir.path(), "env", "#!/bin/sh\n/usr/bin/env\n");
    let mut reg = FunctionRegistry::builtins();
    reg.load_dir(dir.path()).unwrap();
    let env = String::from_utf8(run(&reg, "env", b"").await.unwrap()).unwrap();
    let vars: Vec<&str> = env.lines().filter(|l| !l.starts_with("PWD=") && !l.starts_with("SHLVL=")).collect();
    // The shell adds PWD and SHLVL itself; everything else came from the runtime.
    assert_eq!(vars, ["PATH=/usr/local/bin:/usr/bin:/bin"], "{env}");
}
