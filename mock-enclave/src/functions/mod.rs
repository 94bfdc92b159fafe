//! The functions a mock enclave serves, by id, each with the checksum it reports: the built-ins and
//! user function directories, as implementations of the runtime's [`enclave_runtime::Function`].
//!
//! Input: function invocations with input bytes that came from a client (untrusted content, but the
//! runtime's session has already decrypted and bounded each chunk), and the function directory the
//! operator configures (trusted). Output: the function's output chunks, or a [`FunctionError`] that the
//! session sends back encrypted. This module does not decide who may call a function, and it never
//! logs or displays input or output bytes.
//!
//! | part | module | public items |
//! |---|---|---|
//! | the table, and loading a directory | `registry` | [`FunctionRegistry`], [`MockFunction`] |
//! | the built-ins | `builtin` | [`BUILTINS`], [`MOCK_VERSION`] |
//!
//! User function directories, their sealing and confinement, and the [`Limits`] both kinds run under
//! are the runtime's ([`enclave_runtime::DirectoryFunction`], [`LoadError`], [`ENTRY`]): the mock
//! serves them exactly as a real enclave does.
//!
//! # Built-ins
//!
//! | id           | output                                                      | streams? |
//! |--------------|-------------------------------------------------------------|----------|
//! | `echo`       | the input                                                   | yes      |
//! | `sha256`     | lowercase hex SHA-256 of the input                          | input    |
//! | `uppercase`  | the input with ASCII letters upper-cased (other bytes kept) | yes      |
//! | `word-count` | decimal count of whitespace-separated words                 | input    |
//! | `mean`       | mean of a JSON array of numbers, as a JSON number           | buffers  |
//! | `sleep-ms`   | sleeps N ms (N: decimal input, at most the time limit), outputs nothing | buffers |
//! | `fail`       | always [`FunctionError::Failed`]                            | -        |
//!
//! A built-in's checksum is [`builtin_checksum`](enclave_sdk::checksum::builtin_checksum)`(id, mock-enclave version)`. Functions that buffer
//! refuse input past [`Limits::max_buffered_input`] with [`FunctionError::InputTooLarge`].
//!
//! # User functions
//!
//! [`FunctionRegistry::load_dir`] makes each *subdirectory* `DIR/<id>/` a function named `<id>`
//! (a [`FunctionId`](enclave_protocol::FunctionId): letters, digits, `.`, `_`, `-`; 1..=128 bytes; not
//! starting with `.`; the rule the client and the policy file apply). Its entry point is the
//! executable file `DIR/<id>/main`; other files in the subdirectory are its data, and all of them
//! count in its checksum ([`directory_checksum`](enclave_sdk::checksum::directory_checksum) of the
//! subdirectory, what `enclave checksum` prints). Entries of `DIR` that are not directories, or whose
//! names start with `.`, are skipped. A directory, rather than a lone executable, so that a
//! function's data files and the program that reads them are measured together.
//!
//! Each function is copied at load into a private read-only directory and measured there, and that
//! copy is what runs: a file replaced in `DIR` later changes nothing until a restart. The entry runs
//! in its copy, with the input on stdin and its stdout as the output, an empty environment but
//! `PATH=/usr/local/bin:/usr/bin:/bin`, stderr discarded (it could echo input), and confined with
//! Landlock to the system directories and its own copy: it cannot read the software NSM's keys in
//! the state directory, nor another function's files. It is killed when it exceeds
//! [`Limits::timeout`] (wall time) or writes more than [`Limits::max_output`] bytes, and a non-zero
//! exit is an error.

mod builtin;
mod registry;

pub use builtin::{BUILTINS, MOCK_VERSION};
pub use enclave_runtime::{FunctionError, FunctionLimits as Limits, LoadError, ENTRY};
pub use registry::{FunctionRegistry, MockFunction};
