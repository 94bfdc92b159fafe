//! Decides whether an AWS Nitro attestation document may be believed.

mod policy_file;
