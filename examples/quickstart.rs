//! Start a mock enclave in-process, pin its root, PCRs and function checksum, attest it, invoke a
//! function, and print what was verified and the result.
//!
//! `cargo run --example quickstart`

use enclave_sdk::attestation::{Policy, TrustRoot};
use enclave_sdk::{Client, FunctionId, MeasurementSet, Pcr, PcrIndex};
use mock_enclave::MockEnclave;
use sha2::{Digest, Sha256};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. An enclave to talk to: the mock, with a software NSM whose root is new on every run.
    let mock = MockEnclave::builder().spawn().await?;
    println!("mock enclave listening on {}", mock.url());

    // 2. What we trust. In production: AWS's root (the default), your image's PCRs from
    //    `nitro-cli build-enclave` as one measurement set (the build refuses a set without PCR0, PCR2
    //    or PCR8), and your function's checksum from `enclave checksum`.
    let function: FunctionId = "word-count".parse()?;
    let image = [PcrIndex::IMAGE, PcrIndex::KERNEL, PcrIndex::APPLICATION];
    let release = MeasurementSet::new(image.iter().map(|i| Pcr::new(*i, mock.measurements().pcrs()[i].clone())))?;
    let checksum = mock.function_checksum(&function).ok_or("no such function")?;
    let policy = Policy::builder()
        .trust_root(TrustRoot::from_pem(&mock.root_pem())?)
        .allow_measurements(release)
        .function_checksum_for(function.clone(), checksum)
        .build()?;

    // 3. Connect: the SDK sends a fresh nonce, verifies the document, and only then opens the session.
    let client = Client::builder().endpoint(mock.url()).policy(policy).build()?;
    let session = client.connect(&function).await?;

    let doc = session.attestation();
    println!("verified before sending any input:");
    println!("  signature     COSE_Sign1 ES384 by the leaf certificate");
    println!("  chain         leaf -> ... -> root sha256 {}", hex::encode(Sha256::digest(mock.root_der())));
    println!("  module        {} (document timestamp {} ms)", doc.module_id(), doc.timestamp_ms());
    for index in image {
        if let Some(v) = doc.pcrs().get(&index) {
            println!("  {index}          {v} (pinned)");
        }
    }
    if let Some(claim) = doc.claimed_function() {
        println!("  function      {} checksum {} (pinned)", claim.function_id(), claim.function_checksum());
    }
    println!("  nonce         {} (fresh, ours)", hex::encode(doc.nonce().unwrap_or_default()));
    println!(
        "  enclave key   X25519 {} (HPKE recipient for this connection)",
        hex::encode(doc.public_key().unwrap_or_default())
    );

    // 4. Invoke: input and output travel sealed with keys only that enclave holds.
    let input = b"the quick brown fox jumps over the lazy dog";
    let output = session.invoke(input).await?;
    println!("{function}({:?}) = {}", String::from_utf8_lossy(input), String::from_utf8_lossy(&output));
    session.close().await?;
    Ok(())
}
