//! What a decoded `ExportTraceServiceRequest` holds, in this workspace's own types.
//!
//! The shape follows OTLP's envelope (resource, then scope, then spans) because a receiver
//! such as the dashboard indexes by service first, and because re-encoding a decoded request
//! must give the same envelope back. Spans are [`SpanData`], the type exporters receive, so a
//! receiver can feed decoded spans to the same stores and exporters as local ones.

use telemetry_core::{InstrumentationScope, Resource};
use telemetry_span::SpanData;

/// The content of one `ExportTraceServiceRequest` (or OTLP `TracesData`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TracesData {
    /// One entry per resource, in input order.
    pub resource_spans: Vec<ResourceSpans>,
}

/// The spans of one resource.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceSpans {
    /// The resource; its schema URL is the envelope's `schema_url`.
    pub resource: Resource,
    /// Resource attributes the sender dropped (OTLP `Resource.dropped_attributes_count`),
    /// which [`Resource`] itself does not carry.
    pub resource_dropped_attributes_count: u32,
    /// One entry per instrumentation scope, in input order.
    pub scope_spans: Vec<ScopeSpans>,
}

/// The spans of one instrumentation scope.
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeSpans {
    /// The scope; its schema URL is the envelope's `schema_url`. Every span below carries a
    /// clone of it (a reference count) as [`SpanData::scope`].
    pub scope: InstrumentationScope,
    /// Scope attributes the sender dropped (OTLP
    /// `InstrumentationScope.dropped_attributes_count`).
    pub scope_dropped_attributes_count: u32,
    /// The spans, in input order.
    pub spans: Vec<SpanData>,
}

#[cfg(test)]
pub(crate) use sample::sample_data;

/// One request exercising every field, for the codecs' tests.
#[cfg(test)]
mod sample {
    use telemetry_context::{SpanContext, TraceFlags, TraceState};
    use telemetry_core::{
        InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId, Value,
    };
    use telemetry_span::{Event, Link, SpanData, SpanKind, Status};

    use super::{ResourceSpans, ScopeSpans, TracesData};

    fn sample_span(scope: &InstrumentationScope) -> SpanData {
        let trace_id = TraceId::from_int(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
        let state = TraceState::parse("vendor=x,other=y").unwrap_or_default();
        SpanData {
            span_context: SpanContext::new(
                trace_id,
                SpanId::from_int(0x1112_1314_1516_1718),
                TraceFlags::SAMPLED,
                false,
                state.clone(),
            ),
            parent_span_id: SpanId::from_int(0x2122_2324_2526_2728),
            parent_is_remote: true,
            name: "GET /users".into(),
            kind: SpanKind::Server,
            start_time: Timestamp::from_unix_nanos(1_700_000_000_000_000_000),
            end_time: Timestamp::from_unix_nanos(1_700_000_000_500_000_000),
            attributes: vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.response.status_code", 200i64),
                KeyValue::new("ratio", 0.25),
                KeyValue::new("ok", true),
                KeyValue::new("raw", vec![0u8, 255]),
                KeyValue::new(
                    "nested",
                    Value::Map(vec![KeyValue::new(
                        "list",
                        vec![Value::from(-1i64), Value::Empty],
                    )]),
                ),
            ],
            dropped_attributes_count: 3,
            events: vec![Event {
                name: "exception".into(),
                timestamp: Timestamp::from_unix_nanos(1_700_000_000_100_000_000),
                attributes: vec![KeyValue::new("exception.message", "boom")],
                dropped_attributes_count: 1,
            }],
            dropped_events_count: 4,
            links: vec![Link {
                span_context: SpanContext::new(
                    trace_id,
                    SpanId::from_int(0x3132_3334_3536_3738),
                    TraceFlags::from_bits(0x03),
                    true,
                    state,
                ),
                attributes: vec![KeyValue::new("link.kind", "follows")],
                dropped_attributes_count: 2,
            }],
            dropped_links_count: 5,
            status: Status::error("boom"),
            scope: scope.clone(),
        }
    }

    pub(crate) fn sample_data() -> TracesData {
        let scope = InstrumentationScope::builder("lib")
            .with_version("1.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
            .with_attributes([KeyValue::new("scope.attr", 1i64)])
            .build();
        let resource = Resource::builder()
            .with_service_name("checkout")
            .with_schema_url("https://opentelemetry.io/schemas/1.25.0")
            .build();
        let mut root = sample_span(&scope);
        root.parent_span_id = SpanId::INVALID;
        root.parent_is_remote = false;
        root.status = Status::Ok;
        root.kind = SpanKind::Internal;
        TracesData {
            resource_spans: vec![ResourceSpans {
                resource,
                resource_dropped_attributes_count: 7,
                scope_spans: vec![ScopeSpans {
                    scope: scope.clone(),
                    scope_dropped_attributes_count: 2,
                    spans: vec![sample_span(&scope), root],
                }],
            }],
        }
    }
}
