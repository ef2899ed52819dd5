//! OTLP/JSON, as the OTLP specification maps protobuf to JSON: hex ids, integer enums,
//! lowerCamelCase keys, 64-bit integers as decimal strings.
//!
//! Encoding writes tokens straight into the caller's buffer (`write`), like the protobuf
//! encoder. Decoding parses into a small tree that borrows from the input (`parse`) and then
//! walks it (`read`), which keeps unknown keys trivially ignorable and errors easy to place
//! by path. The first version parsed with `serde_json` into a `serde_json::Value`; building
//! and dropping its `BTreeMap`s and `String`s was most of the time: 4.5 ms for the bench's
//! 512 spans (`cargo bench -p telemetry-benches --bench otlp -- otlp/json_decode`), against
//! 1.9 ms for serde_json straight into opentelemetry-proto's structs. Borrowed strings, pair
//! vectors and numbers kept as text remove nearly all of those allocations (1.9 ms, on par)
//! and make 64-bit integers exact without any float detour. The tree costs a small constant
//! factor of the input in memory, and nesting is limited to 256 levels.

mod base64;
mod common;
pub(crate) mod logs;
pub(crate) mod metrics;
pub(crate) mod parse;
mod read;
pub(crate) mod trace;
mod write;
