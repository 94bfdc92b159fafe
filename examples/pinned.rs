//! Pinned measurements against a separately started `mock-enclave serve`, configured like a
//! deployed application: from the environment (see `enclave_sdk::Client::from_env`).
//!
//! ```sh
//! cargo run -p mock-enclave -- serve --state-dir /tmp/mock-state &   # prints: listening on ws://127.0.0.1:8443
//! cargo run -p mock-enclave -- measurements --state-dir /tmp/mock-state   # PCRs and checksums to pin
//! ENCLAVE_URL=ws://127.0.0.1:8443 ENCLAVE_ROOT_PEM=/tmp/mock-state/root.pem \
//! ENCLAVE_PCRS=0=<PCR0 hex>,1=<PCR1 hex>,2=<PCR2 hex> ENCLAVE_FUNCTION_CHECKSUM=<echo checksum> \
//!   cargo run --example pinned -- echo "hello"
//! ```

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let function = args.next().unwrap_or_else(|| "echo".to_owned());
    let input = args.next().unwrap_or_else(|| "hello from a pinned client".to_owned());
    if std::env::var_os("ENCLAVE_URL").is_none() {
        eprintln!("set ENCLAVE_URL and the pins first; see the header of examples/pinned.rs");
        return std::process::ExitCode::from(2);
    }
    match enclave_sdk::connect_and_invoke(&function, input.as_bytes()).await {
        Ok(output) => {
            println!("{}", String::from_utf8_lossy(&output));
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("refused: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
