//! Builders shared by the store's API-level tests.
#![allow(dead_code)]

use std::sync::LazyLock;

use http::{Method, StatusCode};
use serde_json::Value as Json;
use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId};
use telemetry_dashboard::Store;
use telemetry_dashboard::backend::{ApiRequest, Backend, IngestSource, Transport};
use telemetry_logs::{LogRecord, Severity};
use telemetry_otlp::{LogsData, ResourceLogs, ResourceSpans, ScopeLogs, ScopeSpans, TracesData};
use telemetry_span::{SpanData, SpanKind, Status};

/// A fixed base time for data that only needs to be ordered.
pub(crate) const BASE: u64 = 1_700_000_000_000_000_000;

pub(crate) fn source() -> IngestSource {
    IngestSource {
        transport: Transport::HttpProtobuf,
        peer: None,
    }
}

pub(crate) fn now() -> u64 {
    Timestamp::now().as_unix_nanos()
}

/// One scope shared by every span, as the decoder shares one per `ScopeSpans`.
pub(crate) fn scope() -> InstrumentationScope {
    static SCOPE: LazyLock<InstrumentationScope> = LazyLock::new(|| {
        InstrumentationScope::builder("store-tests")
            .with_version("1.0")
            .build()
    });
    SCOPE.clone()
}

pub(crate) fn resource(service: &str) -> Resource {
    Resource::builder()
        .with_service_name(service.to_owned())
        .with_attribute(KeyValue::new("deployment.environment.name", "test"))
        .build()
}

/// A span of trace `trace`; `parent` 0 makes it a root.
pub(crate) fn span(
    trace: u128,
    id: u64,
    parent: u64,
    name: &str,
    start: u64,
    end: u64,
) -> SpanData {
    SpanData {
        span_context: SpanContext::new(
            TraceId::from_int(trace),
            SpanId::from_int(id),
            TraceFlags::SAMPLED,
            false,
            TraceState::EMPTY,
        ),
        parent_span_id: SpanId::from_int(parent),
        parent_is_remote: false,
        name: name.to_owned().into(),
        kind: if parent == 0 {
            SpanKind::Server
        } else {
            SpanKind::Internal
        },
        start_time: Timestamp::from_unix_nanos(start),
        end_time: Timestamp::from_unix_nanos(end),
        attributes: vec![KeyValue::new("span.index", id as i64)],
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Status::Unset,
        scope: scope(),
    }
}

pub(crate) fn failed(mut span: SpanData) -> SpanData {
    span.status = Status::error("boom");
    span
}

pub(crate) fn with_attribute(mut span: SpanData, attribute: KeyValue) -> SpanData {
    span.attributes.push(attribute);
    span
}

pub(crate) fn traces(service: &str, spans: Vec<SpanData>) -> TracesData {
    TracesData {
        resource_spans: vec![ResourceSpans {
            resource: resource(service),
            resource_dropped_attributes_count: 0,
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                scope_dropped_attributes_count: 0,
                spans,
            }],
        }],
    }
}

pub(crate) fn log(trace: u128, span: u64, severity: Severity, body: &str, time: u64) -> LogRecord {
    let mut record = LogRecord::new(severity).with_body(body.to_owned());
    record.timestamp = Some(Timestamp::from_unix_nanos(time));
    record.observed_timestamp = Timestamp::from_unix_nanos(time);
    record.trace_id = TraceId::from_int(trace);
    record.span_id = SpanId::from_int(span);
    record.scope = scope();
    record
}

pub(crate) fn logs(service: &str, records: Vec<LogRecord>) -> LogsData {
    LogsData {
        resource_logs: vec![ResourceLogs {
            resource: resource(service),
            resource_dropped_attributes_count: 0,
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                scope_dropped_attributes_count: 0,
                records,
            }],
        }],
    }
}

/// Calls the API and parses the JSON answer.
pub(crate) fn call(
    store: &Store,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> (StatusCode, Json) {
    let response = store.api(&ApiRequest {
        method,
        path,
        query,
        body,
    });
    let json = serde_json::from_slice(&response.body).unwrap_or(Json::Null);
    (response.status, json)
}

pub(crate) fn get(store: &Store, path: &str, query: &str) -> (StatusCode, Json) {
    call(
        store,
        &Method::GET,
        path,
        (!query.is_empty()).then_some(query),
        b"",
    )
}

/// `get` that must answer 200.
pub(crate) fn get_ok(store: &Store, path: &str, query: &str) -> Json {
    let (status, json) = get(store, path, query);
    assert_eq!(status, StatusCode::OK, "{path}?{query}: {json}");
    json
}
