//! What a decoded `ExportLogsServiceRequest` holds, in this workspace's own types.
//!
//! The shape follows OTLP's envelope (resource, then scope, then records), as
//! [`TracesData`](crate::TracesData) does, and records are [`LogRecord`]s, the type log
//! exporters receive, each carrying its scope as [`LogRecord::scope`].

use telemetry_core::{InstrumentationScope, Resource};
use telemetry_logs::LogRecord;

/// The content of one `ExportLogsServiceRequest` (or OTLP `LogsData`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LogsData {
    /// One entry per resource, in input order.
    pub resource_logs: Vec<ResourceLogs>,
}

/// The log records of one resource.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceLogs {
    /// The resource; its schema URL is the envelope's `schema_url`.
    pub resource: Resource,
    /// Resource attributes the sender dropped (OTLP `Resource.dropped_attributes_count`),
    /// which [`Resource`] itself does not carry.
    pub resource_dropped_attributes_count: u32,
    /// One entry per instrumentation scope, in input order.
    pub scope_logs: Vec<ScopeLogs>,
}

/// The log records of one instrumentation scope.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeLogs {
    /// The scope; its schema URL is the envelope's `schema_url`. Every record below carries
    /// a clone of it (a reference count) as [`LogRecord::scope`].
    pub scope: InstrumentationScope,
    /// Scope attributes the sender dropped (OTLP
    /// `InstrumentationScope.dropped_attributes_count`).
    pub scope_dropped_attributes_count: u32,
    /// The records, in input order.
    pub records: Vec<LogRecord>,
}

#[cfg(test)]
pub(crate) use sample::sample_data;

/// One request exercising every field, for the codecs' tests.
#[cfg(test)]
mod sample {
    use telemetry_context::TraceFlags;
    use telemetry_core::{
        InstrumentationScope, KeyValue, Resource, SpanId, StringValue, Timestamp, TraceId, Value,
    };
    use telemetry_logs::{LogRecord, Severity};

    use super::{LogsData, ResourceLogs, ScopeLogs};

    pub(crate) fn sample_data() -> LogsData {
        let scope = InstrumentationScope::builder("logger")
            .with_version("3.1")
            .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
            .with_attributes([KeyValue::new("scope.attr", 1i64)])
            .build();
        let full = LogRecord {
            timestamp: Some(Timestamp::from_unix_nanos(1_700_000_000_000_000_000)),
            observed_timestamp: Timestamp::from_unix_nanos(1_700_000_000_000_000_500),
            severity: Severity::WARN2,
            severity_text: Some(StringValue::from("warning")),
            body: Value::Map(vec![KeyValue::new("msg", "disk almost full")]),
            attributes: vec![
                KeyValue::new("disk.free", 3i64),
                KeyValue::new("raw", vec![0u8, 255]),
            ]
            .into(),
            dropped_attributes_count: 2,
            trace_id: TraceId::from_int(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10),
            span_id: SpanId::from_int(0x1112_1314_1516_1718),
            trace_flags: TraceFlags::SAMPLED,
            event_name: Some(StringValue::from("disk.low")),
            scope: scope.clone(),
        };
        let bare = LogRecord {
            observed_timestamp: Timestamp::from_unix_nanos(5),
            body: Value::from("plain"),
            scope: scope.clone(),
            ..LogRecord::default()
        };
        LogsData {
            resource_logs: vec![ResourceLogs {
                resource: Resource::builder()
                    .with_service_name("checkout")
                    .with_schema_url("https://opentelemetry.io/schemas/1.25.0")
                    .build(),
                resource_dropped_attributes_count: 7,
                scope_logs: vec![ScopeLogs {
                    scope,
                    scope_dropped_attributes_count: 2,
                    records: vec![full, bare],
                }],
            }],
        }
    }
}
