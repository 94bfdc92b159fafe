//! User functions: a directory whose executable `main` runs as a process per invocation (the layout
//! and the rules are in the [module docs](super)).
//!
//! Input: an invocation's input stream (untrusted bytes), fed to the process's stdin. Output: its
//! stdout as the function's output, under the time and output limits; a non-zero exit is an error.
//! The process gets an empty environment (but `PATH`) and its stderr is discarded (it could echo input).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use enclave_protocol::FunctionId;
use enclave_runtime::{FunctionError, FunctionInput, FunctionOutput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::limits::Limits;

/// The name of a user function's entry point inside its directory.
pub const ENTRY: &str = "main";

/// Runs `entry` in `dir` as function `id` on `input`.
pub(crate) async fn run(
    id: &FunctionId,
    limits: &Limits,
    dir: &Path,
    entry: &Path,
    mut input: FunctionInput,
    output: FunctionOutput,
) -> Result<(), FunctionError> {
    let process = |e: std::io::Error| FunctionError::Process { function: id.clone(), kind: e.kind() };
    let mut command = tokio::process::Command::new(entry);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = spawn_retrying_busy(&mut command).await.map_err(process)?;
    let (Some(mut stdin), Some(mut stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(FunctionError::Process { function: id.clone(), kind: std::io::ErrorKind::BrokenPipe });
    };
    // Feed stdin concurrently with reading stdout, so a function that writes before it has read
    // everything cannot deadlock on a full pipe. A function that exits without reading all of its
    // input (EPIPE) is not an error by itself; its exit status decides.
    let feed = async move {
        while let Some(chunk) = input.recv().await {
            if stdin.write_all(&chunk).await.is_err() {
                break;
            }
        }
        drop(stdin);
    };
    let limit = limits.max_output;
    let pump = async {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0usize;
        loop {
            let n = stdout.read(&mut buf).await.map_err(process)?;
            if n == 0 {
                return Ok(());
            }
            total = total.saturating_add(n);
            if total > limit {
                return Err(FunctionError::OutputTooLarge { function: id.clone(), limit });
            }
            let chunk = buf.get(..n).unwrap_or_default().to_vec();
            output.send(chunk).await.map_err(|_| FunctionError::OutputClosed { function: id.clone() })?;
        }
    };
    let run = async {
        // try_join: an output overflow stops feeding at once instead of draining the client's input.
        tokio::try_join!(
            async {
                feed.await;
                Ok(())
            },
            pump
        )?;
        child.wait().await.map_err(process)
    };
    let status = match tokio::time::timeout(limits.timeout, run).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            let _ = child.start_kill();
            return Err(e);
        }
        Err(_) => {
            let _ = child.start_kill();
            return Err(FunctionError::TimedOut { function: id.clone(), limit_ms: limits.timeout.as_millis() });
        }
    };
    if status.success() {
        Ok(())
    } else {
        Err(FunctionError::Exited { function: id.clone(), code: status.code() })
    }
}

/// Linux refuses to exec a file some process still holds open for writing (ETXTBSY). A freshly
/// written entry point can be briefly held by a child forked concurrently elsewhere in this process;
/// retry a few times rather than fail the invocation.
async fn spawn_retrying_busy(command: &mut tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    const ETXTBSY: i32 = 26;
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}

/// Whether `path` is a regular file (not a link) with an execute bit.
pub(crate) fn is_executable_file(path: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}
