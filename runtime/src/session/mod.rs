//! The sessions: what happens on one upgraded connection, for each protocol the server speaks.
//!
//! | part | module | what it holds |
//! |---|---|---|
//! | the session's inputs | `context` | `SessionContext`: the function, the attester, limits, counters, shutdown |
//! | why a session ended | `end` | `SessionEnd` and the typed violations under it |
//! | reading a message | `message` | the one place WebSocket failures are classified |
//! | `enclave-session.v3` | `native` | handshake states, then decoding, the invocation table, the loop, the writer |
//! | `cape.runtime` | `cape` | Cape's nonce, document and sequential invocations |
//!
//! Native and Cape sessions stand beside each other and share only the parts above them in this table.
//! Neither knows the server: it hands each session a `SessionContext`.

pub(crate) mod cape;
pub(crate) mod context;
pub(crate) mod end;
pub(crate) mod message;
pub(crate) mod native;
