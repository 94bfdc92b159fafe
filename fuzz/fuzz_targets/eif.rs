//! Untrusted EIF bytes through the whole measurement: header, table, sections, CRC, signature section.
#![no_main]

#[path = "../harness.rs"]
#[allow(dead_code)] // each target uses one of the harnesses
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::eif(data));
