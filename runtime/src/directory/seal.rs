//! The runtime's private copy of its function directories: a fresh directory (mode 0700) under the
//! system's temporary directory, one read-only copy per function inside it, removed when the last
//! function loaded with it is dropped.
//!
//! Input: function directories of the operator's (trusted content, read once). Output: the copies'
//! absolute paths. Only regular files and directories are copied; a symbolic link or special file is
//! an error, never followed (the checksum refuses them as well). Nothing here decides what is trusted:
//! the caller measures the copy.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};

/// Same bounds as the checksum's, so a mistaken path (`/`) fails before it fills the disk.
const MAX_ENTRIES: usize = 100_000;
const MAX_DEPTH: usize = 64;

type SealFailure = (PathBuf, ErrorKind);

/// The private directory holding every sealed copy.
#[derive(Debug)]
pub(super) struct SealRoot {
    path: PathBuf,
}

impl SealRoot {
    /// Creates `enclave-functions-<random>` (mode 0700; never an existing directory).
    pub(super) fn create() -> Result<Self, SealFailure> {
        let mut tag = [0u8; 12];
        OsRng.fill_bytes(&mut tag);
        let name: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        let path = std::env::temp_dir().join(format!("enclave-functions-{name}"));
        create_dir(&path, 0o700).map_err(|kind| (path.clone(), kind))?;
        // Absolute whatever TMPDIR says, so a function's working directory resolves the same from
        // anywhere (a relative path would be re-read relative to the process's new directory).
        let path = path.canonicalize().map_err(|e| (path.clone(), e.kind()))?;
        Ok(Self { path })
    }

    /// Copies `source` to `<root>/<name>`, then makes every file and directory of the copy read-only.
    pub(super) fn seal(&self, name: &str, source: &Path) -> Result<PathBuf, SealFailure> {
        let target = self.path.join(name);
        let mut entries = 0;
        copy_tree(source, &target, 0, &mut entries)?;
        Ok(target)
    }
}

impl Drop for SealRoot {
    fn drop(&mut self) {
        // Read-only directories cannot be emptied by an unprivileged owner: give write back first.
        make_writable(&self.path);
        let _ = fs::remove_dir_all(&self.path);
    }
}

fn copy_tree(source: &Path, target: &Path, depth: usize, entries: &mut usize) -> Result<(), SealFailure> {
    if depth > MAX_DEPTH {
        return Err((source.to_path_buf(), ErrorKind::InvalidInput));
    }
    create_dir(target, 0o700).map_err(|kind| (target.to_path_buf(), kind))?;
    for item in fs::read_dir(source).map_err(fail(source))? {
        let item = item.map_err(fail(source))?;
        let from = item.path();
        let to = target.join(item.file_name());
        *entries += 1;
        if *entries > MAX_ENTRIES {
            return Err((from, ErrorKind::InvalidInput));
        }
        let meta = fs::symlink_metadata(&from).map_err(fail(&from))?;
        if meta.is_dir() {
            copy_tree(&from, &to, depth + 1, entries)?;
        } else if meta.is_file() {
            copy_file(&from, &to, is_executable(&meta))?;
        } else {
            return Err((from, ErrorKind::InvalidInput));
        }
    }
    set_mode(target, 0o500).map_err(fail(target))
}

/// Copies one file into a new file (never an existing one) created with its final, read-only mode.
fn copy_file(from: &Path, to: &Path, executable: bool) -> Result<(), SealFailure> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if executable { 0o500 } else { 0o400 });
    }
    let mut source = fs::File::open(from).map_err(|e| (from.to_path_buf(), e.kind()))?;
    let mut target = options.open(to).map_err(|e| (to.to_path_buf(), e.kind()))?;
    std::io::copy(&mut source, &mut target).map_err(|e| (to.to_path_buf(), e.kind()))?;
    // Closed before any exec: Linux refuses to run a file still open for writing (ETXTBSY).
    target.sync_all().map_err(|e| (to.to_path_buf(), e.kind()))
}

fn fail(path: &Path) -> impl Fn(std::io::Error) -> SealFailure + '_ {
    move |e| (path.to_path_buf(), e.kind())
}

fn create_dir(path: &Path, mode: u32) -> Result<(), ErrorKind> {
    let mut builder = fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    builder.create(path).map_err(|e| e.kind())
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, mode);
        Ok(())
    }
}

fn make_writable(dir: &Path) {
    let _ = set_mode(dir, 0o700);
    let Ok(items) = fs::read_dir(dir) else { return };
    for item in items.flatten() {
        if item.file_type().is_ok_and(|t| t.is_dir()) {
            make_writable(&item.path());
        }
    }
}

#[cfg(unix)]
fn is_executable(meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn is_executable(_meta: &fs::Metadata) -> bool {
    false
}
