//! The confinement of a directory function's process, with Landlock (the `landlock` crate: safe
//! wrappers over the system calls, so this crate keeps `forbid(unsafe_code)`).
//!
//! Input: a prepared command and the function's sealed copy. Output: the running child, confined.
//! This is the one place that decides what a function's process may touch (module docs of
//! `directory` list it).
//!
//! Landlock restricts the calling thread and what it starts afterwards, never its parent or its
//! siblings. So each spawn happens on a thread of its own, made for it: the thread restricts itself
//! to this function's rules, starts the process (which inherits them), and ends. The runtime's own
//! threads are never restricted. A pool thread (`spawn_blocking`) must not be used: it would stay
//! restricted for whatever runs on it next.

use std::io;
use std::path::Path;
use std::time::Duration;

use landlock::{
    path_beneath_rules, Access, AccessFs, AccessNet, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, Scope, ABI,
};
use tokio::process::{Child, Command};

/// The newest ABI whose rights are named here; older kernels enforce what they know (best effort),
/// newer ones no more than this.
const ABI_NAMED: ABI = ABI::V6;

/// What every function may read and execute: the system's programs and libraries.
const SYSTEM: [&str; 7] = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc"];

/// Devices a function may use (`/dev/null` also for writing).
const DEVICES: [&str; 4] = ["/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"];

/// Whether a confined function may read `path` (absolute, symbolic links resolved): beneath a
/// system directory or one of the devices. The roots are compared as written and resolved, since on
/// a merged-/usr system `/bin` and `/lib` are links and the rule holds for their targets.
pub(super) fn readable(path: &Path) -> bool {
    SYSTEM
        .iter()
        .chain(DEVICES.iter())
        .map(Path::new)
        .any(|root| path.starts_with(root) || root.canonicalize().is_ok_and(|resolved| path.starts_with(resolved)))
}

/// Whether this kernel enforces Landlock's file-system rules at all (ABI 1).
pub(super) fn probe() -> Result<(), String> {
    Ruleset::default()
        .set_compatibility(CompatLevel::HardRequirement)
        .handle_access(AccessFs::from_all(ABI::V1))
        .and_then(Ruleset::create)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Starts `command` confined to `sealed` (its own copy) and the system directories.
pub(super) async fn spawn_confined(command: Command, sealed: &Path) -> io::Result<Child> {
    let handle = tokio::runtime::Handle::current();
    let sealed = sealed.to_path_buf();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name("function-spawn".into()).spawn(move || {
        // The child's pipes register with the runtime's reactor, as they would on a runtime thread.
        let _runtime = handle.enter();
        let _ = tx.send(restrict(&sealed).and_then(|()| spawn_retrying_busy(command)));
    })?;
    rx.await.map_err(|_| io::Error::other("the spawning thread ended without an answer"))?
}

/// Starts `command` unconfined ([`super::Confinement::DangerousNone`]).
pub(super) async fn spawn_unconfined(mut command: Command) -> io::Result<Child> {
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && attempt < 5 => {
                attempt += 1;
                tokio::time::sleep(BUSY_RETRY).await;
            }
            other => return other,
        }
    }
}

fn restrict(sealed: &Path) -> io::Result<()> {
    let denied = |e: landlock::RulesetError| io::Error::new(io::ErrorKind::PermissionDenied, e);
    let read = AccessFs::from_read(ABI_NAMED);
    let status = Ruleset::default()
        .handle_access(AccessFs::from_all(ABI_NAMED))
        .and_then(|r| r.handle_access(AccessNet::from_all(ABI_NAMED)))
        .and_then(|r| r.scope(Scope::from_all(ABI_NAMED)))
        .and_then(Ruleset::create)
        .and_then(|r| r.add_rules(path_beneath_rules(SYSTEM, read)))
        .and_then(|r| r.add_rules(path_beneath_rules([sealed], read)))
        .and_then(|r| r.add_rules(path_beneath_rules(DEVICES, read | AccessFs::WriteFile)))
        .and_then(|r| r.restrict_self())
        .map_err(denied)?;
    // Partially enforced: an older kernel without the newest rights; reads are confined all the same.
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(io::Error::new(io::ErrorKind::PermissionDenied, "Landlock is not enforced on this kernel"));
    }
    Ok(())
}

/// Linux refuses to exec a file some process still holds open for writing (ETXTBSY): a child forked
/// elsewhere in this process while a copy was being written may hold it briefly.
const ETXTBSY: i32 = 26;
const BUSY_RETRY: Duration = Duration::from_millis(20);

/// Retries a busy spawn a few times rather than fail the invocation (on the spawning thread, which
/// has nothing else to do).
fn spawn_retrying_busy(mut command: Command) -> io::Result<Child> {
    let mut attempt = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && attempt < 5 => {
                attempt += 1;
                std::thread::sleep(BUSY_RETRY);
            }
            other => return other,
        }
    }
}
