//! Several invocations on one attested session, pipelined from concurrent tasks.
//!
//! `cargo run --example pipelined`

use std::sync::Arc;

use enclave_sdk::attestation::{Policy, TrustRoot};
use enclave_sdk::Client;
use mock_enclave::MockEnclave;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockEnclave::builder().spawn().await?;
    let mut policy = Policy::builder().trust_root(TrustRoot::from_pem(&mock.root_pem())?);
    // One allowed release: every PCR the mock reports.
    policy = policy.allow_measurements(enclave_sdk::MeasurementSet::new(
        mock.measurements().pcrs().iter().map(|(i, v)| enclave_sdk::Pcr::new(*i, v.clone())),
    )?);
    let sha256: enclave_sdk::FunctionId = "sha256".parse()?;
    let sum = mock.function_checksum(&sha256).ok_or("sha256")?;
    let policy = policy.function_checksum_for(sha256, sum).build()?;
    let client = Client::builder().endpoint(mock.url()).policy(policy).build()?;

    // One handshake and one attestation, then many invocations over the same connection.
    let session = Arc::new(client.connect("sha256").await?);
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let session = session.clone();
            tokio::spawn(async move { (i, session.invoke(format!("record {i}").as_bytes()).await) })
        })
        .collect();
    for task in tasks {
        let (i, digest) = task.await?;
        println!("sha256(\"record {i}\") = {}", String::from_utf8_lossy(&digest?));
    }
    println!(
        "{} invocations on one session; the enclave saw {} session(s)",
        session.invocations(),
        mock.stats().sessions
    );
    Ok(())
}
