//! `NitroNsm`: attestation from the real Nitro Secure Module (`/dev/nsm`), behind the `nsm` feature.
//!
//! Input: the same [`AttestationRequest`] every attester takes. Output: the document exactly as the
//! NSM returns it; this module neither parses nor checks it (the client verifies). It decides nothing
//! about measurements: inside a real enclave the hypervisor sets the PCRs.
//!
//! The NSM is reached through `aws-nitro-enclaves-nsm-api`, so this crate needs no `unsafe`. It runs
//! only inside an enclave; elsewhere [`NitroNsm::open`] fails with
//! [`AttesterError::DeviceUnavailable`].

use std::fmt;

use aws_nitro_enclaves_nsm_api::api::{ErrorCode, Request, Response};
use aws_nitro_enclaves_nsm_api::driver::{nsm_exit, nsm_init, nsm_process_request};

use crate::attester::{AttestationRequest, Attester, AttesterError};

/// The device the NSM driver opens.
const DEVICE: &str = "/dev/nsm";

/// The Nitro Secure Module device, opened once and closed on drop.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use enclave_runtime::{Functions, NitroNsm, Server};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let nsm = Arc::new(NitroNsm::open()?); // fails outside a Nitro enclave
/// let server = Server::builder(nsm).functions(Functions::new()).spawn().await?;
/// # server.shutdown().await;
/// # Ok(())
/// # }
/// ```
pub struct NitroNsm {
    fd: i32,
}

impl fmt::Debug for NitroNsm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NitroNsm").field("fd", &self.fd).finish()
    }
}

impl NitroNsm {
    /// Opens `/dev/nsm`.
    ///
    /// # Errors
    /// [`AttesterError::DeviceUnavailable`] when the device cannot be opened (not inside a Nitro enclave).
    pub fn open() -> Result<Self, AttesterError> {
        let fd = nsm_init();
        if fd < 0 {
            return Err(AttesterError::DeviceUnavailable { device: DEVICE });
        }
        Ok(Self { fd })
    }
}

impl Attester for NitroNsm {
    fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError> {
        // The NSM enforces the same limits; checking first gives every backend's typed error.
        request.check_limits()?;
        let nsm_request = Request::Attestation {
            user_data: request.user_data().map(|b| b.to_vec().into()),
            nonce: request.nonce().map(|b| b.to_vec().into()),
            public_key: request.public_key().map(|b| b.to_vec().into()),
        };
        match nsm_process_request(self.fd, nsm_request) {
            Response::Attestation { document } => Ok(document),
            Response::Error(code) => Err(AttesterError::DeviceRefused { status: status_name(&code) }),
            _ => Err(AttesterError::UnexpectedResponse),
        }
    }

    /// An ioctl on the NSM's device, which serves one request at a time.
    fn blocks(&self) -> bool {
        true
    }
}

/// The NSM API's name for an error code.
fn status_name(code: &ErrorCode) -> &'static str {
    match code {
        ErrorCode::Success => "Success",
        ErrorCode::InvalidArgument => "InvalidArgument",
        ErrorCode::InvalidIndex => "InvalidIndex",
        ErrorCode::InvalidResponse => "InvalidResponse",
        ErrorCode::ReadOnlyIndex => "ReadOnlyIndex",
        ErrorCode::InvalidOperation => "InvalidOperation",
        ErrorCode::BufferTooSmall => "BufferTooSmall",
        ErrorCode::InputTooLarge => "InputTooLarge",
        ErrorCode::InternalError => "InternalError",
    }
}

impl Drop for NitroNsm {
    fn drop(&mut self) {
        nsm_exit(self.fd);
    }
}
