//! The attested session: wire protocol, handshake transcript, sealed records, client I/O.
