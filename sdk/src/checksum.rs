//! Function checksums: the SHA-256 an enclave reports for the function it runs.
