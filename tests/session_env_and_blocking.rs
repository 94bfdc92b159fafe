//! `connect_and_invoke` configured from the environment, and the blocking wrapper. One test function
//! only: it sets process environment variables, which no other test in this binary may race with.

#![allow(clippy::unwrap_used)]

use std::sync::mpsc;

use mock_enclave::MockEnclave;

#[test]
fn environment_configuration_and_blocking_api() {
    // The mock runs on its own runtime thread; the code under test is a plain synchronous program.
    let (tx, rx) = mpsc::channel();
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    // Asks the mock, on its thread, for the documents it has issued so far.
    let (ask_tx, mut ask_rx) = tokio::sync::mpsc::unbounded_channel::<mpsc::Sender<u64>>();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let mock = MockEnclave::builder().spawn().await.unwrap();
            let image = [0, 1, 2].map(|i| enclave_sdk::PcrIndex::new(i).unwrap());
            let pcrs = enclave_sdk::MeasurementSet::new(
                image.iter().map(|i| enclave_sdk::Pcr::new(*i, mock.measurements().pcrs()[i].clone())),
            )
            .unwrap();
            tx.send((
                mock.url(),
                mock.root_pem(),
                pcrs.to_string(),
                mock.function_checksum(&"uppercase".parse().unwrap()).unwrap().to_string(),
            ))
            .unwrap();
            loop {
                tokio::select! {
                    _ = &mut stop_rx => break,
                    Some(reply) = ask_rx.recv() => {
                        let _ = reply.send(mock.stats().documents);
                    }
                }
            }
            mock.shutdown().await;
        });
    });
    let (url, root_pem, pcrs, checksum) = rx.recv().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.pem");
    std::fs::write(&root, root_pem).unwrap();

    std::env::set_var("ENCLAVE_URL", &url);
    std::env::set_var("ENCLAVE_ROOT_PEM", &root);
    std::env::set_var("ENCLAVE_PCRS", &pcrs);
    std::env::set_var("ENCLAVE_FUNCTION_CHECKSUM", &checksum);

    let documents = || {
        let (reply, answer) = mpsc::channel();
        ask_tx.send(reply).unwrap();
        answer.recv().unwrap()
    };

    // The one-call API, through the blocking wrapper: a second call with the same environment reuses
    // the first one's attested session.
    assert_eq!(enclave_sdk::blocking::connect_and_invoke("uppercase", b"from env").unwrap(), b"FROM ENV");
    assert_eq!(enclave_sdk::blocking::connect_and_invoke("uppercase", b"again").unwrap(), b"AGAIN");
    assert_eq!(documents(), 1);
    // So does a blocking client's Session-less call.
    let client = enclave_sdk::blocking::Client::from_env().unwrap();
    assert_eq!(client.invoke("uppercase", b"a").unwrap(), b"A");
    assert_eq!(client.invoke("uppercase", b"b").unwrap(), b"B");
    assert_eq!(documents(), 2);

    // A blocking session with several invocations.
    let client = enclave_sdk::blocking::Client::from_env().unwrap();
    let session = client.connect("uppercase").unwrap();
    assert_eq!(session.invoke(b"one").unwrap(), b"ONE");
    assert_eq!(session.invoke(b"two").unwrap(), b"TWO");
    session.close().unwrap();

    // A wrong pin in the environment is refused before any input: the changed configuration is a new
    // client, which never reuses the session the earlier pins accepted.
    std::env::set_var("ENCLAVE_FUNCTION_CHECKSUM", "00".repeat(32));
    let err = enclave_sdk::blocking::connect_and_invoke("uppercase", b"secret").unwrap_err();
    assert!(matches!(err, enclave_sdk::Error::Attestation(_)), "{err:?}");
    assert_eq!(documents(), 4);

    // The same pins from a policy file named by ENCLAVE_POLICY, with the pin variables cleared.
    for name in ["ENCLAVE_ROOT_PEM", "ENCLAVE_PCRS", "ENCLAVE_FUNCTION_CHECKSUM"] {
        std::env::remove_var(name);
    }
    let policy = dir.path().join("policy.toml");
    let pcr_lines: String = pcrs
        .split(',')
        .map(|pin| pin.split_once('=').unwrap())
        .map(|(index, value)| format!("{index} = \"{value}\"\n"))
        .collect();
    let write_policy = |sum: &str| {
        let toml = format!("root_pem = \"root.pem\"\n[[pcrs]]\n{pcr_lines}[functions]\n\"uppercase\" = \"{sum}\"\n");
        std::env::set_var("ENCLAVE_POLICY", &policy);
        std::fs::write(&policy, toml).unwrap();
    };
    write_policy(&checksum);
    assert_eq!(enclave_sdk::blocking::connect_and_invoke("uppercase", b"from file").unwrap(), b"FROM FILE");
    write_policy(&"00".repeat(32));
    let err = enclave_sdk::blocking::connect_and_invoke("uppercase", b"secret").unwrap_err();
    assert!(matches!(err, enclave_sdk::Error::Attestation(_)), "{err:?}");
    // A policy file and a pin variable together are refused, not merged.
    std::env::set_var("ENCLAVE_PCRS", &pcrs);
    let err = enclave_sdk::blocking::connect_and_invoke("uppercase", b"secret").unwrap_err();
    assert!(err.to_string().contains("ENCLAVE_POLICY"), "{err}");

    stop_tx.send(()).unwrap();
    server.join().unwrap();
}
