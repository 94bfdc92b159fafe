//! One module per `enclave` subcommand.

pub(crate) mod attest;
pub(crate) mod checksum;
pub(crate) mod in_place;
pub(crate) mod inspect;
pub(crate) mod kms_policy;
pub(crate) mod measure;
pub(crate) mod pins;
pub(crate) mod policy;
pub(crate) mod progress;
pub(crate) mod run;
pub(crate) mod summary;
pub(crate) mod verify;
