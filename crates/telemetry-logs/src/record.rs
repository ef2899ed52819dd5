//! The log record: what a logger emits and what exporters receive.

use std::sync::LazyLock;

use telemetry_context::{SpanContext, TraceFlags};
use telemetry_core::{
    InstrumentationScope, KeyValue, SpanId, StringValue, Timestamp, TraceId, Value,
};

use crate::attributes::LogAttributes;
use crate::severity::Severity;

/// The scope of a record that no logger has stamped yet; shared so that building a record
/// allocates nothing for it.
static UNSTAMPED_SCOPE: LazyLock<InstrumentationScope> =
    LazyLock::new(|| InstrumentationScope::builder("").build());

/// One log record, in the OpenTelemetry logs data model.
///
/// Build it with [`LogRecord::new`] and the `with_*` methods, then hand it to
/// [`Logger::emit`](crate::Logger::emit). The logger fills in what the caller does not
/// know: the observed time, the trace context, the scope, and the attribute limits.
/// Processors and exporters receive it with every field final.
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    /// When the event happened, by the source's clock (OTLP `time_unix_nano`); `None` when
    /// the source did not say. The bridges set it to the time of the `log`/`tracing` call.
    pub timestamp: Option<Timestamp>,
    /// When the SDK saw the record (OTLP `observed_time_unix_nano`). Left at
    /// [`Timestamp::UNIX_EPOCH`] by the caller, it is set to now at emit, so exported records
    /// always have it.
    pub observed_timestamp: Timestamp,
    /// The severity number, 0 (unspecified) to 24 (OTLP `severity_number`).
    pub severity: Severity,
    /// The severity as the source wrote it (`"WARN"`, `"warning"`, ...; OTLP
    /// `severity_text`); `None` when absent.
    pub severity_text: Option<StringValue>,
    /// The message: usually a string, but any value, maps included (OTLP `body`).
    /// [`Value::Empty`] means no body. Attribute limits do not apply to it.
    pub body: Value,
    /// Attributes, with unique keys and within the provider's [`LogLimits`](crate::LogLimits)
    /// once emitted (OTLP `attributes`). Up to
    /// [`INLINE_ATTRIBUTES`](crate::INLINE_ATTRIBUTES) are kept without allocating.
    pub attributes: LogAttributes,
    /// Attributes discarded by the count limit (OTLP `dropped_attributes_count`).
    pub dropped_attributes_count: u32,
    /// The trace of the span that was active when the record was emitted, or
    /// [`TraceId::INVALID`] outside any span (OTLP `trace_id`).
    pub trace_id: TraceId,
    /// The span that was active when the record was emitted, or [`SpanId::INVALID`]
    /// (OTLP `span_id`).
    pub span_id: SpanId,
    /// The W3C trace flags of that span (OTLP `flags`, low 8 bits); none outside a span.
    pub trace_flags: TraceFlags,
    /// The name of the event this record stands for, when it is one (OTLP `event_name`).
    pub event_name: Option<StringValue>,
    /// The instrumentation scope of the logger that emitted it. Before emit it is a shared
    /// empty scope; the logger replaces it.
    pub scope: InstrumentationScope,
}

impl Default for LogRecord {
    #[inline]
    fn default() -> Self {
        LogRecord::with_severity_fields(Severity::UNSPECIFIED, None)
    }
}

impl LogRecord {
    /// An empty record of `severity`, with the data model's short name as severity text.
    #[inline]
    pub fn new(severity: Severity) -> Self {
        let text = (!severity.is_unspecified()).then(|| StringValue::from_static(severity.name()));
        LogRecord::with_severity_fields(severity, text)
    }

    /// Every field written in one literal: struct-update syntax (`..Default::default()`)
    /// built the record elsewhere and copied it, attribute slots included.
    #[inline]
    fn with_severity_fields(severity: Severity, severity_text: Option<StringValue>) -> Self {
        LogRecord {
            timestamp: None,
            observed_timestamp: Timestamp::UNIX_EPOCH,
            severity,
            severity_text,
            body: Value::Empty,
            attributes: LogAttributes::new(),
            dropped_attributes_count: 0,
            trace_id: TraceId::INVALID,
            span_id: SpanId::INVALID,
            trace_flags: TraceFlags::NONE,
            event_name: None,
            scope: UNSTAMPED_SCOPE.clone(),
        }
    }

    /// With `body` as the message.
    #[inline]
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Value>) -> Self {
        self.body = body.into();
        self
    }

    /// With another severity text.
    #[inline]
    #[must_use]
    pub fn with_severity_text(mut self, text: impl Into<StringValue>) -> Self {
        self.severity_text = Some(text.into());
        self
    }

    /// With one more attribute.
    #[inline]
    #[must_use]
    pub fn with_attribute(mut self, key: impl Into<StringValue>, value: impl Into<Value>) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    /// With more attributes.
    #[inline]
    #[must_use]
    pub fn with_attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attributes.extend(attributes);
        self
    }

    /// With an event name.
    #[inline]
    #[must_use]
    pub fn with_event_name(mut self, name: impl Into<StringValue>) -> Self {
        self.event_name = Some(name.into());
        self
    }

    /// With the time the event happened.
    #[inline]
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// With the trace context of `span_context`, which [`Logger::emit`](crate::Logger::emit)
    /// keeps only when no span is active (use
    /// [`Logger::emit_with_context`](crate::Logger::emit_with_context) to choose the span).
    #[must_use]
    pub fn with_span_context(mut self, span_context: &SpanContext) -> Self {
        self.stamp(span_context);
        self
    }

    /// True when the record carries a trace context.
    pub fn has_trace_context(&self) -> bool {
        self.trace_id.is_valid() && self.span_id.is_valid()
    }

    pub(crate) fn stamp(&mut self, span_context: &SpanContext) {
        self.trace_id = span_context.trace_id();
        self.span_id = span_context.span_id();
        self.trace_flags = span_context.flags();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_context::TraceState;

    #[test]
    fn builders_set_their_fields() {
        let sc = SpanContext::new(
            TraceId::from_int(7),
            SpanId::from_int(9),
            TraceFlags::SAMPLED,
            false,
            TraceState::EMPTY,
        );
        let record = LogRecord::new(Severity::WARN2)
            .with_body("disk almost full")
            .with_attribute("disk.free", 3i64)
            .with_attributes([KeyValue::new("disk.name", "sda")])
            .with_event_name("disk.low")
            .with_timestamp(Timestamp::from_unix_nanos(5))
            .with_span_context(&sc);
        assert_eq!(record.severity_text.as_deref(), Some("WARN2"));
        assert_eq!(record.body, Value::from("disk almost full"));
        assert_eq!(record.attributes.len(), 2);
        assert_eq!(record.event_name.as_deref(), Some("disk.low"));
        assert_eq!(record.timestamp, Some(Timestamp::from_unix_nanos(5)));
        assert_eq!(
            (record.trace_id, record.span_id, record.trace_flags),
            (
                TraceId::from_int(7),
                SpanId::from_int(9),
                TraceFlags::SAMPLED
            )
        );
        assert!(record.has_trace_context());
        assert_eq!(record.observed_timestamp, Timestamp::UNIX_EPOCH);
        let plain = LogRecord::new(Severity::UNSPECIFIED).with_severity_text("custom");
        assert_eq!(plain.severity_text.as_deref(), Some("custom"));
        assert!(!LogRecord::default().has_trace_context());
        assert_eq!(LogRecord::default().scope.name(), "");
    }
}
