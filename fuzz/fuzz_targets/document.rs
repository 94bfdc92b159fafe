//! Untrusted document bytes through parsing and full chain/signature verification at a fixed time.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)] // each target uses one of the harnesses
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::document(data));
