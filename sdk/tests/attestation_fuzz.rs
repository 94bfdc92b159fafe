//! Property tests: arbitrary bytes and random mutations of real documents never panic, and no mutation
//! of a signed document is ever accepted. Seeded, so every run checks the same cases.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod support;

use std::sync::OnceLock;

use enclave_sdk::attestation::{EnclaveUserData, Expected, Policy, UnixTime, UnverifiedDocument, Verifier};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use support::Fixture;

fn fixtures() -> &'static [Fixture] {
    static F: OnceLock<Vec<Fixture>> = OnceLock::new();
    F.get_or_init(support::fixtures)
}

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| {
        Verifier::new(Policy::builder().dangerous_accept_any_enclave().dangerous_allow_debug().build().unwrap())
    })
}

fn config(cases: u32) -> Config {
    Config { cases, rng_seed: RngSeed::Fixed(0x5eed_a77e), failure_persistence: None, ..Config::default() }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, mask: u8 },
    Set { at: usize, value: u8 },
    Insert { at: usize, value: u8 },
    Delete { at: usize, len: usize },
    Truncate { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, mask)| Mutation::Flip { at, mask }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Set { at, value }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Insert { at, value }),
        (any::<usize>(), 1..64usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    let n = bytes.len();
    match *m {
        Mutation::Flip { at, mask } => bytes[at % n] ^= mask,
        Mutation::Set { at, value } => bytes[at % n] = value,
        Mutation::Insert { at, value } => bytes.insert(at % (n + 1), value),
        Mutation::Delete { at, len } => {
            let start = at % n;
            bytes.drain(start..(start + len).min(n));
        }
        Mutation::Truncate { at } => bytes.truncate(at % n),
    }
}

/// Everything a caller can reach with untrusted bytes.
fn exercise(bytes: &[u8], at: u64) -> bool {
    let _ = EnclaveUserData::decode(bytes);
    if let Ok(doc) = UnverifiedDocument::parse(bytes) {
        let _ = doc.dangerous_unverified_certificates();
        let _ = format!("{:?}", doc.dangerous_unverified_fields());
    }
    match verifier().verify(bytes, &Expected::default().requiring_x25519_key(), UnixTime::from_secs(at)) {
        Ok(_) => true,
        Err(e) => {
            let _ = e.to_string();
            false
        }
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        prop_assert!(!exercise(&bytes, 1_700_000_000));
    }

    #[test]
    fn cbor_shaped_prefixes_never_panic(head in prop_oneof![Just(vec![0x84u8]), Just(vec![0xd2, 0x84]), Just(vec![0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0])],
                                        tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let bytes = [head, tail].concat();
        prop_assert!(!exercise(&bytes, 1_700_000_000));
    }
}

proptest! {
    #![proptest_config(config(1500))]

    #[test]
    fn mutated_real_documents_never_panic_and_are_never_accepted(
        which in 0..6usize,
        mutations in proptest::collection::vec(mutation(), 1..4),
    ) {
        let fx = &fixtures()[which];
        let mut bytes = fx.bytes.clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        let accepted = exercise(&bytes, fx.verify_at);
        // Prefixing tag 18 (0xd2) is the one byte-level edit that is still the same signed document.
        let same = bytes == fx.bytes || bytes == [&[0xd2][..], &fx.bytes].concat();
        prop_assert!(!accepted || same, "mutations {:?} were accepted", mutations);
    }
}
