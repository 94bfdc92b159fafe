//! One module per `mock-enclave` subcommand.

pub(crate) mod measurements;
pub(crate) mod policy;
pub(crate) mod serve;
