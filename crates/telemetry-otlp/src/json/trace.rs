//! `ExportTraceServiceRequest` in OTLP/JSON.

use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, Resource, SpanId, Timestamp, TraceId};
use telemetry_span::{Event, Link, SpanData, Status};

use super::common::{
    object_or_empty, read_attributes, read_resource, read_scope, write_attributes, write_count,
    write_resource, write_scope, write_string,
};
use super::parse::{Json, Map, get, parse};
use super::read::{enumeration, error, field, hex_id, list, string, uint32, uint64};
use super::write::JsonWriter;
use crate::error::{JsonError, JsonErrorKind};
use crate::proto::common::string_value;
use crate::proto::trace::{FLAGS_TRACE_MASK, flags_is_remote, span_flags, span_kind, status};
use crate::traces::{ResourceSpans, ScopeSpans, TracesData};

/// Appends `{"resourceSpans":[…]}` with `spans` grouped by scope (see `TraceEncoder`).
pub(crate) fn write_request(
    out: &mut Vec<u8>,
    resource: &Resource,
    spans: &[SpanData],
    scopes: &[usize],
) {
    let w = &mut JsonWriter::new(out);
    w.begin_object();
    if !spans.is_empty() {
        w.key("resourceSpans");
        w.begin_array();
        w.begin_object();
        write_resource(w, resource, 0);
        w.key("scopeSpans");
        w.begin_array();
        for &first in scopes {
            let scope = &spans[first].scope;
            let group = spans[first..]
                .iter()
                .filter(|span| crate::proto::common::same_scope(&span.scope, scope));
            write_scope_spans(w, scope, 0, group);
        }
        w.end_array();
        write_string(w, "schemaUrl", resource.schema_url().unwrap_or_default());
        w.end_object();
        w.end_array();
    }
    w.end_object();
}

/// Appends `{"resourceSpans":[…]}` with exactly the envelopes of `data`.
pub(crate) fn write_traces_data(out: &mut Vec<u8>, data: &TracesData) {
    let w = &mut JsonWriter::new(out);
    w.begin_object();
    if !data.resource_spans.is_empty() {
        w.key("resourceSpans");
        w.begin_array();
        for resource_spans in &data.resource_spans {
            w.begin_object();
            let resource = &resource_spans.resource;
            write_resource(
                w,
                resource,
                resource_spans.resource_dropped_attributes_count,
            );
            if !resource_spans.scope_spans.is_empty() {
                w.key("scopeSpans");
                w.begin_array();
                for scope_spans in &resource_spans.scope_spans {
                    write_scope_spans(
                        w,
                        &scope_spans.scope,
                        scope_spans.scope_dropped_attributes_count,
                        scope_spans.spans.iter(),
                    );
                }
                w.end_array();
            }
            write_string(w, "schemaUrl", resource.schema_url().unwrap_or_default());
            w.end_object();
        }
        w.end_array();
    }
    w.end_object();
}

fn write_scope_spans<'s>(
    w: &mut JsonWriter<'_>,
    scope: &InstrumentationScope,
    dropped: u32,
    spans: impl Iterator<Item = &'s SpanData>,
) {
    w.begin_object();
    write_scope(w, scope, dropped);
    let mut spans = spans.peekable();
    if spans.peek().is_some() {
        w.key("spans");
        w.begin_array();
        for span in spans {
            write_span(w, span);
        }
        w.end_array();
    }
    write_string(w, "schemaUrl", scope.schema_url().unwrap_or_default());
    w.end_object();
}

fn write_context(w: &mut JsonWriter<'_>, context: &SpanContext) {
    w.key("traceId");
    w.ascii_string(&context.trace_id().to_hex_array());
    w.key("spanId");
    w.ascii_string(&context.span_id().to_hex_array());
    write_string(w, "traceState", context.trace_state().header());
}

fn write_time(w: &mut JsonWriter<'_>, key: &str, time: Timestamp) {
    if time != Timestamp::UNIX_EPOCH {
        w.key(key);
        w.u64_string(time.as_unix_nanos());
    }
}

fn write_span(w: &mut JsonWriter<'_>, span: &SpanData) {
    w.begin_object();
    write_context(w, &span.span_context);
    if span.parent_span_id.is_valid() {
        w.key("parentSpanId");
        w.ascii_string(&span.parent_span_id.to_hex_array());
    }
    w.key("flags");
    w.number(u64::from(span_flags(
        span.span_context.flags(),
        span.parent_is_remote,
    )));
    write_string(w, "name", &span.name);
    w.key("kind");
    w.number(span.kind.otlp_value() as u64);
    write_time(w, "startTimeUnixNano", span.start_time);
    write_time(w, "endTimeUnixNano", span.end_time);
    write_attributes(w, "attributes", &span.attributes);
    write_count(w, "droppedAttributesCount", span.dropped_attributes_count);
    if !span.events.is_empty() {
        w.key("events");
        w.begin_array();
        for event in &span.events {
            w.begin_object();
            write_time(w, "timeUnixNano", event.timestamp);
            write_string(w, "name", &event.name);
            write_attributes(w, "attributes", &event.attributes);
            write_count(w, "droppedAttributesCount", event.dropped_attributes_count);
            w.end_object();
        }
        w.end_array();
    }
    write_count(w, "droppedEventsCount", span.dropped_events_count);
    if !span.links.is_empty() {
        w.key("links");
        w.begin_array();
        for link in &span.links {
            let linked = &link.span_context;
            w.begin_object();
            write_context(w, linked);
            write_attributes(w, "attributes", &link.attributes);
            write_count(w, "droppedAttributesCount", link.dropped_attributes_count);
            w.key("flags");
            w.number(u64::from(span_flags(linked.flags(), linked.is_remote())));
            w.end_object();
        }
        w.end_array();
    }
    write_count(w, "droppedLinksCount", span.dropped_links_count);
    if span.status != Status::Unset {
        w.key("status");
        w.begin_object();
        if let Status::Error { description } = &span.status {
            write_string(w, "message", description);
        }
        w.key("code");
        w.number(span.status.otlp_code() as u64);
        w.end_object();
    }
    w.end_object();
}

/// Parses an `ExportTraceServiceRequest` (or `TracesData`) in OTLP/JSON.
pub(crate) fn read_request(input: &[u8]) -> Result<TracesData, JsonError> {
    let json = parse(input)?;
    let map = object_or_empty(&json)?;
    Ok(TracesData {
        resource_spans: list(map, "resourceSpans", read_resource_spans)?,
    })
}

fn read_resource_spans(value: &Json<'_>) -> Result<ResourceSpans, JsonError> {
    let map = object_or_empty(value)?;
    let schema_url = field(map, "schemaUrl", string)?.unwrap_or_default();
    let (resource, dropped) = match get(map, "resource") {
        Some(resource) => read_resource(resource, schema_url),
        None => read_resource(&Json::Null, schema_url),
    }
    .map_err(|e| e.under("resource"))?;
    Ok(ResourceSpans {
        resource,
        resource_dropped_attributes_count: dropped,
        scope_spans: list(map, "scopeSpans", read_scope_spans)?,
    })
}

fn read_scope_spans(value: &Json<'_>) -> Result<ScopeSpans, JsonError> {
    let map = object_or_empty(value)?;
    let schema_url = field(map, "schemaUrl", string)?.unwrap_or_default();
    let (scope, dropped) = match get(map, "scope") {
        Some(scope) => read_scope(scope, schema_url),
        None => read_scope(&Json::Null, schema_url),
    }
    .map_err(|e| e.under("scope"))?;
    let spans = list(map, "spans", |span| read_span(span, &scope))?;
    Ok(ScopeSpans {
        scope,
        scope_dropped_attributes_count: dropped,
        spans,
    })
}

fn required_id<const N: usize>(map: &Map<'_>, key: &str) -> Result<[u8; N], JsonError> {
    let id =
        field(map, key, hex_id::<N>)?.ok_or_else(|| error(JsonErrorKind::InvalidId).under(key))?;
    if id.iter().all(|&b| b == 0) {
        return Err(error(JsonErrorKind::ZeroId).under(key));
    }
    Ok(id)
}

fn read_trace_state(map: &Map<'_>) -> Result<TraceState, JsonError> {
    let header = field(map, "traceState", string)?.unwrap_or_default();
    TraceState::parse(header)
        .map_err(|_| error(JsonErrorKind::InvalidTraceState).under("traceState"))
}

fn time(map: &Map<'_>, key: &str) -> Result<Timestamp, JsonError> {
    Ok(Timestamp::from_unix_nanos(
        field(map, key, uint64)?.unwrap_or_default(),
    ))
}

fn count(map: &Map<'_>, key: &str) -> Result<u32, JsonError> {
    Ok(field(map, key, uint32)?.unwrap_or_default())
}

fn read_span(value: &Json<'_>, scope: &InstrumentationScope) -> Result<SpanData, JsonError> {
    let map = object_or_empty(value)?;
    let trace_id = TraceId::from_bytes(required_id::<16>(map, "traceId")?);
    let span_id = SpanId::from_bytes(required_id::<8>(map, "spanId")?);
    // An empty or all-zero parent id means a root span.
    let parent_span_id = match field(map, "parentSpanId", string)? {
        None | Some("") => SpanId::INVALID,
        Some(_) => field(map, "parentSpanId", hex_id::<8>)?
            .map(SpanId::from_bytes)
            .unwrap_or_default(),
    };
    let flags = count(map, "flags")?;
    let kind_value = field(map, "kind", enumeration)?.unwrap_or_default();
    let kind = span_kind(kind_value)
        .ok_or_else(|| error(JsonErrorKind::UnknownEnumValue).under("kind"))?;
    let status = match field(map, "status", |s| object_or_empty(s).map(Some))?.flatten() {
        None => Status::Unset,
        Some(status_map) => {
            let message = field(status_map, "message", string)?.unwrap_or_default();
            let code = field(status_map, "code", enumeration)?.unwrap_or_default();
            status(code, message).ok_or_else(|| {
                error(JsonErrorKind::UnknownEnumValue)
                    .under("code")
                    .under("status")
            })?
        }
    };
    Ok(SpanData {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::from_bits((flags & FLAGS_TRACE_MASK) as u8),
            false,
            read_trace_state(map)?,
        ),
        parent_span_id,
        parent_is_remote: flags_is_remote(flags),
        name: string_value(field(map, "name", string)?.unwrap_or_default()),
        kind,
        start_time: time(map, "startTimeUnixNano")?,
        end_time: time(map, "endTimeUnixNano")?,
        attributes: read_attributes(map, "attributes")?,
        dropped_attributes_count: count(map, "droppedAttributesCount")?,
        events: list(map, "events", read_event)?,
        dropped_events_count: count(map, "droppedEventsCount")?,
        links: list(map, "links", read_link)?,
        dropped_links_count: count(map, "droppedLinksCount")?,
        status,
        scope: scope.clone(),
    })
}

fn read_event(value: &Json<'_>) -> Result<Event, JsonError> {
    let map = object_or_empty(value)?;
    Ok(Event {
        name: string_value(field(map, "name", string)?.unwrap_or_default()),
        timestamp: time(map, "timeUnixNano")?,
        attributes: read_attributes(map, "attributes")?,
        dropped_attributes_count: count(map, "droppedAttributesCount")?,
    })
}

fn read_link(value: &Json<'_>) -> Result<Link, JsonError> {
    let map = object_or_empty(value)?;
    let trace_id = TraceId::from_bytes(required_id::<16>(map, "traceId")?);
    let span_id = SpanId::from_bytes(required_id::<8>(map, "spanId")?);
    let flags = count(map, "flags")?;
    Ok(Link {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::from_bits((flags & FLAGS_TRACE_MASK) as u8),
            flags_is_remote(flags),
            read_trace_state(map)?,
        ),
        attributes: read_attributes(map, "attributes")?,
        dropped_attributes_count: count(map, "droppedAttributesCount")?,
    })
}

#[cfg(test)]
mod tests {
    use telemetry_core::{KeyValue, Value};
    use telemetry_span::SpanKind;

    use super::*;
    use crate::traces::sample_data;

    fn encode(data: &TracesData) -> String {
        let mut out = Vec::new();
        write_traces_data(&mut out, data);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn every_field_round_trips() -> Result<(), JsonError> {
        let data = sample_data();
        let text = encode(&data);
        assert_eq!(read_request(text.as_bytes())?, data);
        for expected in [
            r#""traceId":"0102030405060708090a0b0c0d0e0f10""#,
            r#""parentSpanId":"2122232425262728""#,
            r#""flags":769"#,
            r#""kind":2"#,
            r#""startTimeUnixNano":"1700000000000000000""#,
            r#""droppedAttributesCount":3"#,
            r#""status":{"message":"boom","code":2}"#,
            r#""traceState":"vendor=x,other=y""#,
            r#""schemaUrl":"https://opentelemetry.io/schemas/1.26.0""#,
        ] {
            assert!(text.contains(expected), "{expected} missing from {text}");
        }
        Ok(())
    }

    #[test]
    fn accepts_pretty_printed_input_with_the_lenient_forms() -> Result<(), JsonError> {
        let input = r#"
        {
          "resourceSpans": [
            {
              "resource": {
                "attributes": [
                  { "key": "service.name", "value": { "stringValue": "my.service" } }
                ],
                "futureField": {"anything": [1, 2]}
              },
              "scopeSpans": [
                {
                  "scope": { "name": "my.library", "version": "1.0.0" },
                  "spans": [
                    {
                      "traceId": "5B8EFFF798038103D269B633813FC60C",
                      "spanId": "EEE19B7EC3C1B174",
                      "parentSpanId": "",
                      "name": "I'm a server span",
                      "start_time_unix_nano": "1",
                      "startTimeUnixNano": 1544712660000000000,
                      "endTimeUnixNano": "1544712661000000000",
                      "kind": 2,
                      "flags": 1,
                      "attributes": [
                        { "key": "my.span.attr", "value": { "intValue": 5 } },
                        { "key": "d", "value": { "doubleValue": "NaN" } },
                        { "key": "e", "value": null }
                      ],
                      "status": null
                    }
                  ]
                }
              ]
            }
          ]
        }"#;
        let data = read_request(input.as_bytes())?;
        let span = &data.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            data.resource_spans[0].resource.service_name(),
            Some("my.service")
        );
        assert_eq!(
            span.span_context.trace_id().to_string(),
            "5b8efff798038103d269b633813fc60c"
        );
        assert!(span.span_context.is_sampled());
        assert!(!span.parent_is_remote);
        assert_eq!(span.parent_span_id, SpanId::INVALID);
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(span.start_time.as_unix_nanos(), 1_544_712_660_000_000_000);
        assert_eq!(span.end_time.as_unix_nanos(), 1_544_712_661_000_000_000);
        assert_eq!(span.attributes[0], KeyValue::new("my.span.attr", 5i64));
        assert!(span.attributes[1].value.as_f64().is_some_and(f64::is_nan));
        assert_eq!(span.attributes[2].value, Value::Empty);
        assert_eq!(span.scope.version(), Some("1.0.0"));
        assert_eq!(span.status, Status::Unset);
        Ok(())
    }

    #[test]
    fn errors_name_the_path() {
        let span = |fields: &str| {
            format!(
                r#"{{"resourceSpans":[{{"scopeSpans":[{{}},{{"spans":[{{"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"{fields}}}]}}]}}]}}"#
            )
        };
        let prefix = "resourceSpans[0].scopeSpans[1].spans[0]";
        let cases = [
            (
                span(r#","kind":"SPAN_KIND_SERVER""#),
                JsonErrorKind::UnknownEnumValue,
                "kind",
            ),
            (
                span(r#","kind":6"#),
                JsonErrorKind::UnknownEnumValue,
                "kind",
            ),
            (
                span(r#","parentSpanId":"00f0""#),
                JsonErrorKind::InvalidId,
                "parentSpanId",
            ),
            (
                span(r#","traceState":"A=1""#),
                JsonErrorKind::InvalidTraceState,
                "traceState",
            ),
            (
                span(r#","endTimeUnixNano":"-1""#),
                JsonErrorKind::InvalidNumber,
                "endTimeUnixNano",
            ),
            (
                span(r#","flags":"x""#),
                JsonErrorKind::InvalidNumber,
                "flags",
            ),
            (span(r#","name":7"#), JsonErrorKind::WrongType, "name"),
            (
                span(r#","status":{"code":3}"#),
                JsonErrorKind::UnknownEnumValue,
                "status.code",
            ),
            (
                span(
                    r#","links":[{"traceId":"00000000000000000000000000000000","spanId":"eee19b7ec3c1b174"}]"#,
                ),
                JsonErrorKind::ZeroId,
                "links[0].traceId",
            ),
            (
                span(r#","events":[{"attributes":[{"key":"b","value":{"bytesValue":"*"}}]}]"#),
                JsonErrorKind::InvalidBase64,
                "events[0].attributes[0].value.bytesValue",
            ),
        ];
        for (input, kind, suffix) in cases {
            let error = read_request(input.as_bytes()).expect_err(&input);
            assert_eq!(error.kind(), kind, "{input}");
            assert_eq!(error.path(), format!("{prefix}.{suffix}"), "{input}");
        }
        let missing =
            r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"spanId":"eee19b7ec3c1b174"}]}]}]}"#;
        let error = read_request(missing.as_bytes()).expect_err("no trace id");
        assert_eq!(error.kind(), JsonErrorKind::InvalidId);
        assert_eq!(
            error.path(),
            "resourceSpans[0].scopeSpans[0].spans[0].traceId"
        );
        let error = read_request(b"{\"resourceSpans\": [").expect_err("truncated");
        assert_eq!(error.kind(), JsonErrorKind::Syntax);
        assert!(error.to_string().contains("line 1"), "{error}");
        let error = read_request(b"[]").expect_err("not an object");
        assert_eq!(error.kind(), JsonErrorKind::WrongType);
    }

    #[test]
    fn empty_batches_write_an_empty_request() -> Result<(), JsonError> {
        let mut out = Vec::new();
        write_request(&mut out, &Resource::empty(), &[], &[]);
        assert_eq!(out, b"{}");
        assert_eq!(read_request(&out)?, TracesData::default());
        Ok(())
    }
}
