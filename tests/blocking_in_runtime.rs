//! The blocking API called where it cannot block (issue 17): a typed error, never tokio's panic.

#![allow(clippy::unwrap_used)]

/// Inside an async runtime the blocking API cannot block: it says to use the async API instead of
/// panicking ("Cannot start a runtime from within a runtime").
#[tokio::test]
async fn the_blocking_api_inside_a_runtime_says_to_use_the_async_one() {
    use enclave_sdk::error::ConfigError;
    use enclave_sdk::Error;
    let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build().unwrap();
    let client = enclave_sdk::Client::builder().endpoint("ws://127.0.0.1:1").policy(policy).build().unwrap();
    let err = enclave_sdk::blocking::Client::new(client).unwrap_err();
    assert_eq!(err, Error::Config(ConfigError::BlockingInRuntime));
    assert_eq!(
        err.to_string(),
        "configuration: enclave_sdk::blocking was called inside an async runtime, where it cannot block; use the \
         async API (enclave_sdk::Client, enclave_sdk::connect_and_invoke) there"
    );
    assert_eq!(
        enclave_sdk::blocking::connect_and_invoke("echo", b"input").unwrap_err(),
        Error::Config(ConfigError::BlockingInRuntime)
    );
}

/// A blocking client made outside any runtime and then used inside one is refused the same way.
#[test]
fn a_blocking_client_carried_into_a_runtime_is_refused_there() {
    use enclave_sdk::error::ConfigError;
    let policy = enclave_sdk::attestation::Policy::builder().dangerous_accept_any_enclave().build().unwrap();
    let client = enclave_sdk::Client::builder().endpoint("ws://127.0.0.1:1").policy(policy).build().unwrap();
    let blocking = enclave_sdk::blocking::Client::new(client).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let err = runtime.block_on(async { blocking.connect("echo").unwrap_err() });
    assert_eq!(err, enclave_sdk::Error::Config(ConfigError::BlockingInRuntime));
    drop(runtime);
    // Outside it, the same client works as a blocking client (here: nothing listens on port 1).
    assert!(matches!(blocking.connect("echo"), Err(enclave_sdk::Error::Connect(_))));
}
