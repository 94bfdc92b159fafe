//! The client's idle deadline is the one its message names (issue 17: a frozen enclave held a caller for
//! two periods while the error said one). On tokio's paused clock, so the test waits for nothing.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use enclave_sdk::error::LimitError;
use enclave_sdk::Error;

#[tokio::test(start_paused = true)]
async fn an_enclave_that_stops_answering_times_out_one_idle_period_after_the_last_send() {
    let mock = mock().await;
    let idle = Duration::from_secs(5);
    let policy = pinned(&mock, "sleep-ms").build().unwrap();
    let client = enclave_sdk::Client::builder().endpoint(mock.url()).policy(policy).idle_timeout(idle).build().unwrap();
    let session = client.connect("sleep-ms").await.unwrap();
    // The last record from the enclave (its handshake) is 3 s old when the input goes out, so the
    // timer's first check, at 5 s, finds the send 2 s old: the deadline is then 5 s after the send,
    // not 5 s after that check.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The enclave goes quiet for 20 s: the client must give up 5 s after its input went out.
    let sent = tokio::time::Instant::now();
    let err = session.invoke(b"20000").await.unwrap_err();
    let waited = sent.elapsed();
    assert_eq!(err, Error::Limit(LimitError::IdleTimeout(idle)));
    assert!(
        waited >= idle && waited < idle + Duration::from_secs(1),
        "gave up after {waited:?}, the message says {idle:?}"
    );
}
