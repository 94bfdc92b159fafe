//! `NitroNsm`: attestation from the real Nitro Secure Module (`/dev/nsm`), behind the `nsm` feature.
//!
//! Input: the same [`AttestationRequest`] the software NSM takes. Output: the document exactly as the
//! NSM returns it; this module neither parses nor checks it (the client verifies). It decides nothing
//! about measurements: inside a real enclave the hypervisor sets the PCRs.
//!
//! The NSM is reached through `aws-nitro-enclaves-nsm-api`, so this crate needs no `unsafe`. It runs
//! only inside an enclave; elsewhere [`NitroNsm::open`] fails with [`AttesterError::Backend`].

use std::fmt;

use aws_nitro_enclaves_nsm_api::api::{Request, Response};
use aws_nitro_enclaves_nsm_api::driver::{nsm_exit, nsm_init, nsm_process_request};

use super::{AttestationRequest, Attester, AttesterError};

/// The Nitro Secure Module device, opened once and closed on drop.
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
    /// [`AttesterError::Backend`] when the device cannot be opened (not inside a Nitro enclave).
    pub fn open() -> Result<Self, AttesterError> {
        let fd = nsm_init();
        if fd < 0 {
            return Err(AttesterError::Backend("cannot open /dev/nsm: not running inside a Nitro enclave?".into()));
        }
        Ok(Self { fd })
    }
}

impl Attester for NitroNsm {
    fn attest(&self, request: &AttestationRequest) -> Result<Vec<u8>, AttesterError> {
        // The NSM enforces the same limits; checking first gives the same typed error as the software NSM.
        request.check_limits()?;
        let nsm_request = Request::Attestation {
            user_data: request.user_data.clone().map(Into::into),
            nonce: request.nonce.clone().map(Into::into),
            public_key: request.public_key.clone().map(Into::into),
        };
        match nsm_process_request(self.fd, nsm_request) {
            Response::Attestation { document } => Ok(document),
            Response::Error(code) => {
                Err(AttesterError::Backend(format!("NSM refused the attestation request: {code:?}")))
            }
            _ => Err(AttesterError::Backend("NSM answered an attestation request with another response type".into())),
        }
    }
}

impl Drop for NitroNsm {
    fn drop(&mut self) {
        nsm_exit(self.fd);
    }
}
