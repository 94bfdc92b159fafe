//! The mock's TLS identity, kept in its state directory so a restarted mock presents the same
//! certificate: `tls-key.der` (PKCS#8, mode 0600) and `tls-cert.der`.
//!
//! Input: the state directory (trusted: written by this crate; read back with size bounds). Output:
//! the runtime's [`TlsIdentity`], whose key every native document binds.

use std::path::Path;

use enclave_runtime::TlsIdentity;

use crate::attester::state::{check_dir, read_file, read_key, write_file};
use crate::error::StartError;

/// Larger than any key or certificate written here.
const MAX_FILE_LEN: u64 = 16 * 1024;

/// The identity stored in `state_dir`, or a new one (stored there when there is a state directory).
pub(crate) fn load_or_create(state_dir: Option<&Path>) -> Result<TlsIdentity, StartError> {
    let Some(dir) = state_dir else { return Ok(TlsIdentity::generate()?) };
    check_dir(dir)?;
    let (key_path, cert_path) = (dir.join("tls-key.der"), dir.join("tls-cert.der"));
    let present = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    if present(&key_path) && present(&cert_path) {
        let key = zeroize::Zeroizing::new(read_key(&key_path, MAX_FILE_LEN)?);
        let certificate = read_file(&cert_path, MAX_FILE_LEN)?;
        return Ok(TlsIdentity::from_pkcs8_der(&key, certificate)?);
    }
    let (key, certificate) = TlsIdentity::self_signed_der()?;
    write_file(&key_path, &key, 0o600)?;
    write_file(&cert_path, &certificate, 0o644)?;
    Ok(TlsIdentity::from_pkcs8_der(&key, certificate)?)
}
