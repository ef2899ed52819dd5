//! What a finished span hands to processors and exporters.

use telemetry_context::SpanContext;
use telemetry_core::{InstrumentationScope, KeyValue, SpanId, StringValue, Timestamp};

/// The role of a span in a trace (OTLP `Span.SpanKind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// An operation inside the application (the default).
    #[default]
    Internal,
    /// The server side of a synchronous remote call.
    Server,
    /// The client side of a synchronous remote call.
    Client,
    /// The sender of an asynchronous message.
    Producer,
    /// The receiver of an asynchronous message.
    Consumer,
}

impl SpanKind {
    /// The OTLP enum value (`SPAN_KIND_INTERNAL` = 1 … `SPAN_KIND_CONSUMER` = 5).
    pub const fn otlp_value(self) -> i32 {
        match self {
            SpanKind::Internal => 1,
            SpanKind::Server => 2,
            SpanKind::Client => 3,
            SpanKind::Producer => 4,
            SpanKind::Consumer => 5,
        }
    }
}

/// The outcome of a span's operation.
///
/// `Unset` < `Error` < `Ok`: setting `Ok` is final, setting `Unset` never changes anything,
/// and a description is kept only for `Error`.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Status {
    /// No status was set (the default).
    #[default]
    Unset,
    /// The operation failed.
    Error {
        /// What went wrong; empty when not given.
        description: StringValue,
    },
    /// The operation was explicitly marked successful.
    Ok,
}

impl Status {
    /// An error status with a description.
    pub fn error(description: impl Into<StringValue>) -> Self {
        Status::Error {
            description: description.into(),
        }
    }

    /// The OTLP enum value (`STATUS_CODE_UNSET` = 0, `OK` = 1, `ERROR` = 2).
    pub const fn otlp_code(&self) -> i32 {
        match self {
            Status::Unset => 0,
            Status::Ok => 1,
            Status::Error { .. } => 2,
        }
    }
}

/// A timestamped annotation on a span.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The event's name (`exception` for recorded errors).
    pub name: StringValue,
    /// When it happened.
    pub timestamp: Timestamp,
    /// Its attributes, within the per-event limit.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the per-event limit.
    pub dropped_attributes_count: u32,
}

/// A reference from a span to another span, of this trace or another.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// The linked span.
    pub span_context: SpanContext,
    /// The link's attributes, within the per-link limit.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the per-link limit.
    pub dropped_attributes_count: u32,
}

impl Link {
    /// A link to `span_context` with `attributes` (limits apply when the link is added to a
    /// span).
    pub fn new(span_context: SpanContext, attributes: Vec<KeyValue>) -> Self {
        Link {
            span_context,
            attributes,
            dropped_attributes_count: 0,
        }
    }
}

/// Everything recorded about a span: what processors see at start and exporters receive
/// at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanData {
    /// The span's own context (trace id, span id, flags, trace state).
    pub span_context: SpanContext,
    /// The parent's span id, [`SpanId::INVALID`] for a root span.
    pub parent_span_id: SpanId,
    /// True when the parent came from another process.
    pub parent_is_remote: bool,
    /// The span's name.
    pub name: StringValue,
    /// The span's kind.
    pub kind: SpanKind,
    /// When it started.
    pub start_time: Timestamp,
    /// When it ended ([`Timestamp::UNIX_EPOCH`] while still running).
    pub end_time: Timestamp,
    /// Attributes, unique by key, within the limit.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the limit.
    pub dropped_attributes_count: u32,
    /// Events in the order they were added, within the limit.
    pub events: Vec<Event>,
    /// Events dropped by the limit.
    pub dropped_events_count: u32,
    /// Links in the order they were added, within the limit.
    pub links: Vec<Link>,
    /// Links dropped by the limit.
    pub dropped_links_count: u32,
    /// The status.
    pub status: Status,
    /// The library that created the span.
    pub scope: InstrumentationScope,
}
