//! One module per `enclave` subcommand.

pub(crate) mod checksum;
pub(crate) mod run;
pub(crate) mod verify;
