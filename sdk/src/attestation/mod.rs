//! Decides whether an AWS Nitro attestation document may be believed.
