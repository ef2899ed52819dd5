//! OTLP protobuf, written and read by hand: `wire` has the primitives, `common` the messages
//! every signal shares, and one module per signal its request
//! (`trace_view` reads a trace request without copying).

pub(crate) mod common;
pub(crate) mod logs;
pub(crate) mod metrics;
pub(crate) mod trace;
pub(crate) mod trace_view;
pub(crate) mod wire;
