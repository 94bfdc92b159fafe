//! Untrusted frame and record-plaintext bytes through the session decoders.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)] // each target uses one of the harnesses
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::records(data));
