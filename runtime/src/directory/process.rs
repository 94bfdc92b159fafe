//! One invocation of a directory function as a process: input on stdin, output from stdout, under
//! the time and output limits; a non-zero exit is an error.
//!
//! Input: the invocation's input stream (the client's bytes: untrusted). Output: the process's stdout
//! as the function's output. The process starts in its sealed copy with an empty environment but a
//! fixed `PATH`, confined (`sandbox`), its stderr discarded (it could echo input).

use std::path::Path;
use std::process::Stdio;

use enclave_protocol::FunctionId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::sandbox::{spawn_confined, spawn_unconfined};
use super::{Confinement, ENTRY};
use crate::function::{FunctionError, FunctionInput, FunctionOutput};
use crate::function_limits::FunctionLimits;

/// The one variable a function's process gets: where the system's programs are.
const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Runs `<sealed>/main` as function `id` on `input`.
pub(super) async fn run(
    id: &FunctionId,
    limits: &FunctionLimits,
    sealed: &Path,
    confinement: Confinement,
    mut input: FunctionInput,
    output: FunctionOutput,
) -> Result<(), FunctionError> {
    let process = |e: std::io::Error| FunctionError::Process { function: id.clone(), kind: e.kind() };
    let mut command = tokio::process::Command::new(sealed.join(ENTRY));
    command
        .current_dir(sealed)
        .env_clear()
        .env("PATH", PATH)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let child = match confinement {
        Confinement::Landlock => spawn_confined(command, sealed).await,
        Confinement::DangerousNone => spawn_unconfined(command).await,
    };
    let mut child = child.map_err(process)?;
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
