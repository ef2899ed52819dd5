//! `ExportLogsServiceRequest` in OTLP/JSON.

use telemetry_context::TraceFlags;
use telemetry_core::{InstrumentationScope, Resource, SpanId, Timestamp, TraceId, Value};
use telemetry_logs::{LogRecord, Severity};

use super::common::{
    object_or_empty, read_any_value, read_attributes, read_resource, read_scope, write_any_value,
    write_attributes, write_count, write_resource, write_scope, write_string,
};
use super::parse::{Json, Map, get, parse};
use super::read::{enumeration, error, field, hex_id, list, string, uint32, uint64};
use super::write::JsonWriter;
use crate::error::{JsonError, JsonErrorKind};
use crate::logs::{LogsData, ResourceLogs, ScopeLogs};
use crate::proto::common::string_value;
use crate::proto::logs::FLAGS_TRACE_MASK;

/// Appends `{"resourceLogs":[…]}` with `records` grouped by scope (see `LogsEncoder`).
pub(crate) fn write_request(
    out: &mut Vec<u8>,
    resource: &Resource,
    records: &[LogRecord],
    scopes: &[usize],
) {
    let w = &mut JsonWriter::new(out);
    w.begin_object();
    if !records.is_empty() {
        w.key("resourceLogs");
        w.begin_array();
        w.begin_object();
        write_resource(w, resource, 0);
        w.key("scopeLogs");
        w.begin_array();
        for &first in scopes {
            let scope = &records[first].scope;
            let group = records[first..]
                .iter()
                .filter(|r| crate::proto::common::same_scope(&r.scope, scope));
            write_scope_logs(w, scope, 0, group);
        }
        w.end_array();
        write_string(w, "schemaUrl", resource.schema_url().unwrap_or_default());
        w.end_object();
        w.end_array();
    }
    w.end_object();
}

/// Appends `{"resourceLogs":[…]}` with exactly the envelopes of `data`.
pub(crate) fn write_logs_data(out: &mut Vec<u8>, data: &LogsData) {
    let w = &mut JsonWriter::new(out);
    w.begin_object();
    if !data.resource_logs.is_empty() {
        w.key("resourceLogs");
        w.begin_array();
        for resource_logs in &data.resource_logs {
            w.begin_object();
            let resource = &resource_logs.resource;
            write_resource(w, resource, resource_logs.resource_dropped_attributes_count);
            if !resource_logs.scope_logs.is_empty() {
                w.key("scopeLogs");
                w.begin_array();
                for scope_logs in &resource_logs.scope_logs {
                    write_scope_logs(
                        w,
                        &scope_logs.scope,
                        scope_logs.scope_dropped_attributes_count,
                        scope_logs.records.iter(),
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

fn write_scope_logs<'r>(
    w: &mut JsonWriter<'_>,
    scope: &InstrumentationScope,
    dropped: u32,
    records: impl Iterator<Item = &'r LogRecord>,
) {
    w.begin_object();
    write_scope(w, scope, dropped);
    let mut records = records.peekable();
    if records.peek().is_some() {
        w.key("logRecords");
        w.begin_array();
        for record in records {
            write_record(w, record);
        }
        w.end_array();
    }
    write_string(w, "schemaUrl", scope.schema_url().unwrap_or_default());
    w.end_object();
}

fn write_time(w: &mut JsonWriter<'_>, key: &str, nanos: u64) {
    if nanos != 0 {
        w.key(key);
        w.u64_string(nanos);
    }
}

fn write_record(w: &mut JsonWriter<'_>, record: &LogRecord) {
    w.begin_object();
    write_time(
        w,
        "timeUnixNano",
        record.timestamp.map_or(0, Timestamp::as_unix_nanos),
    );
    write_time(
        w,
        "observedTimeUnixNano",
        record.observed_timestamp.as_unix_nanos(),
    );
    if !record.severity.is_unspecified() {
        w.key("severityNumber");
        w.number(u64::from(record.severity.number()));
    }
    if let Some(text) = &record.severity_text {
        write_string(w, "severityText", text);
    }
    if record.body != Value::Empty {
        w.key("body");
        write_any_value(w, &record.body);
    }
    write_attributes(w, "attributes", &record.attributes);
    write_count(w, "droppedAttributesCount", record.dropped_attributes_count);
    if record.trace_flags.bits() != 0 {
        w.key("flags");
        w.number(u64::from(record.trace_flags.bits()));
    }
    if record.trace_id.is_valid() {
        w.key("traceId");
        w.ascii_string(&record.trace_id.to_hex_array());
    }
    if record.span_id.is_valid() {
        w.key("spanId");
        w.ascii_string(&record.span_id.to_hex_array());
    }
    if let Some(name) = &record.event_name {
        write_string(w, "eventName", name);
    }
    w.end_object();
}

/// Parses an `ExportLogsServiceRequest` (or `LogsData`) in OTLP/JSON.
pub(crate) fn read_request(input: &[u8]) -> Result<LogsData, JsonError> {
    let json = parse(input)?;
    let map = object_or_empty(&json)?;
    Ok(LogsData {
        resource_logs: list(map, "resourceLogs", read_resource_logs)?,
    })
}

fn read_resource_logs(value: &Json<'_>) -> Result<ResourceLogs, JsonError> {
    let map = object_or_empty(value)?;
    let schema_url = field(map, "schemaUrl", string)?.unwrap_or_default();
    let (resource, dropped) =
        read_resource(get(map, "resource").unwrap_or(&Json::Null), schema_url)
            .map_err(|e| e.under("resource"))?;
    Ok(ResourceLogs {
        resource,
        resource_dropped_attributes_count: dropped,
        scope_logs: list(map, "scopeLogs", read_scope_logs)?,
    })
}

fn read_scope_logs(value: &Json<'_>) -> Result<ScopeLogs, JsonError> {
    let map = object_or_empty(value)?;
    let schema_url = field(map, "schemaUrl", string)?.unwrap_or_default();
    let (scope, dropped) = read_scope(get(map, "scope").unwrap_or(&Json::Null), schema_url)
        .map_err(|e| e.under("scope"))?;
    let records = list(map, "logRecords", |record| read_record(record, &scope))?;
    Ok(ScopeLogs {
        scope,
        scope_dropped_attributes_count: dropped,
        records,
    })
}

/// A record's trace or span id: absent, empty or all zeroes for none, else hex of `N` bytes.
fn record_id<const N: usize>(map: &Map<'_>, key: &str) -> Result<[u8; N], JsonError> {
    if matches!(field(map, key, string)?, None | Some("")) {
        return Ok([0; N]);
    }
    Ok(field(map, key, hex_id::<N>)?.unwrap_or([0; N]))
}

/// An optional string: empty is none, as proto3 cannot tell them apart.
fn optional_text(
    map: &Map<'_>,
    key: &str,
) -> Result<Option<telemetry_core::StringValue>, JsonError> {
    Ok(field(map, key, string)?
        .filter(|s| !s.is_empty())
        .map(string_value))
}

fn read_record(value: &Json<'_>, scope: &InstrumentationScope) -> Result<LogRecord, JsonError> {
    let map = object_or_empty(value)?;
    let severity_value = field(map, "severityNumber", enumeration)?.unwrap_or_default();
    let severity = u8::try_from(severity_value)
        .ok()
        .and_then(Severity::from_number)
        .ok_or_else(|| error(JsonErrorKind::UnknownEnumValue).under("severityNumber"))?;
    let flags = field(map, "flags", uint32)?.unwrap_or_default();
    let timestamp = field(map, "timeUnixNano", uint64)?.unwrap_or_default();
    Ok(LogRecord {
        timestamp: (timestamp != 0).then(|| Timestamp::from_unix_nanos(timestamp)),
        observed_timestamp: Timestamp::from_unix_nanos(
            field(map, "observedTimeUnixNano", uint64)?.unwrap_or_default(),
        ),
        severity,
        severity_text: optional_text(map, "severityText")?,
        body: field(map, "body", read_any_value)?.unwrap_or_default(),
        attributes: read_attributes(map, "attributes")?.into(),
        dropped_attributes_count: field(map, "droppedAttributesCount", uint32)?.unwrap_or_default(),
        trace_id: TraceId::from_bytes(record_id::<16>(map, "traceId")?),
        span_id: SpanId::from_bytes(record_id::<8>(map, "spanId")?),
        trace_flags: TraceFlags::from_bits((flags & FLAGS_TRACE_MASK) as u8),
        event_name: optional_text(map, "eventName")?,
        scope: scope.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::sample_data;

    fn encode(data: &LogsData) -> Vec<u8> {
        let mut out = Vec::new();
        write_logs_data(&mut out, data);
        out
    }

    #[test]
    fn every_field_round_trips() -> Result<(), JsonError> {
        let data = sample_data();
        assert_eq!(read_request(&encode(&data))?, data);
        Ok(())
    }

    #[test]
    fn the_encoding_follows_otlp_json() {
        let json = String::from_utf8(encode(&sample_data())).unwrap_or_default();
        for expected in [
            r#""timeUnixNano":"1700000000000000000""#,
            r#""severityNumber":14"#,
            r#""severityText":"warning""#,
            r#""body":{"kvlistValue":"#,
            r#""flags":1"#,
            r#""traceId":"0102030405060708090a0b0c0d0e0f10""#,
            r#""spanId":"1112131415161718""#,
            r#""eventName":"disk.low""#,
            r#""bytesValue":"AP8=""#,
        ] {
            assert!(json.contains(expected), "{expected} missing from {json}");
        }
    }

    #[test]
    fn errors_name_their_path() {
        let cases: &[(&str, JsonErrorKind, &str)] = &[
            (
                r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":25}]}]}]}"#,
                JsonErrorKind::UnknownEnumValue,
                "resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber",
            ),
            (
                r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{"spanId":"xyz"}]}]}]}"#,
                JsonErrorKind::InvalidId,
                "resourceLogs[0].scopeLogs[0].logRecords[1].spanId",
            ),
            (
                r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_WARN"}]}]}]}"#,
                JsonErrorKind::UnknownEnumValue,
                "resourceLogs[0].scopeLogs[0].logRecords[0].severityNumber",
            ),
        ];
        for (input, kind, path) in cases {
            let error = read_request(input.as_bytes()).expect_err(input);
            assert_eq!(error.kind(), *kind, "{input}");
            assert_eq!(error.path(), *path, "{input}");
        }
    }
}
