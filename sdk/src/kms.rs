//! AWS KMS key policies conditioned on the pinned measurements: generate one, check one.
