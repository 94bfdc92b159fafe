//! `connect_and_invoke` configured from the process environment against the rogue enclave of
//! `common::rogue`: a checksum alone (the leak of issue 12), or pins of PCR1, PCR3 or PCR4 only, are
//! refused before any connection; pinned measurements refuse the rogue, which gets no key share and no
//! input. One test function only: it sets process environment variables, which no other test in this
//! binary may race with.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::rogue::{Rogue, CANARY};
use enclave_sdk::attestation::{AttestationError, PolicyError};
use enclave_sdk::error::ConfigError;
use enclave_sdk::{Error, PcrIndex};

#[tokio::test]
async fn connect_and_invoke_gives_the_rogue_nothing() {
    let rogue = Rogue::start().await;
    for name in ["ENCLAVE_PCRS", "ENCLAVE_ALLOW_DEBUG", "ENCLAVE_TOKEN", "ENCLAVE_POLICY"] {
        std::env::remove_var(name);
    }
    std::env::set_var("ENCLAVE_URL", &rogue.url);
    std::env::set_var("ENCLAVE_ROOT_PEM", &rogue.root_path);
    std::env::set_var("ENCLAVE_FUNCTION_CHECKSUM", rogue.checksum("echo").to_string());

    let pins = |indices: &[u8]| indices.iter().map(|i| PcrIndex::new(*i).unwrap()).collect::<Vec<_>>();
    let refused = |set, indices: &[u8]| {
        Error::Config(ConfigError::EnvImageNotPinned {
            source: PolicyError::ImageNotPinned { set, pins: pins(indices), zeroed: vec![], checksum_pinned: true },
        })
    };
    assert_eq!(enclave_sdk::connect_and_invoke("echo", CANARY).await.unwrap_err(), refused(None, &[]));
    for only in [&[1][..], &[3], &[4], &[1, 3, 4]] {
        std::env::set_var("ENCLAVE_PCRS", rogue.image_text(only));
        assert_eq!(enclave_sdk::connect_and_invoke("echo", CANARY).await.unwrap_err(), refused(Some(1), only));
    }
    rogue.assert_untouched();

    std::env::set_var("ENCLAVE_PCRS", rogue.image_text(&[0, 1, 2]));
    assert_eq!(
        enclave_sdk::connect_and_invoke("echo", CANARY).await.unwrap_err(),
        Error::Attestation(AttestationError::PcrNotAllowed {
            index: PcrIndex::IMAGE,
            found: rogue.rogue_pcr(PcrIndex::IMAGE),
            expected: rogue.image_pcr(PcrIndex::IMAGE),
        })
    );
    rogue.assert_got_no_key_share_and_no_input(1).await;
}
