//! OTLP protobuf, written and read by hand: `wire` has the primitives, `common` the messages
//! every signal shares, and one module per signal its request.

pub(crate) mod common;
pub(crate) mod logs;
pub(crate) mod metrics;
pub(crate) mod trace;
pub(crate) mod wire;
