//! `ExportLogsServiceRequest`: log records written straight from [`LogRecord`] into a
//! buffer, and read back into [`LogsData`].

use telemetry_context::TraceFlags;
use telemetry_core::{InstrumentationScope, Resource, SpanId, Timestamp, TraceId, Value};
use telemetry_logs::{LogRecord, Severity};

use super::common::{
    ScopeFields, Strings, build_resource, read_any_value, read_key_value, read_resource,
    read_scope, same_scope, write_any_value, write_attributes, write_resource, write_scope,
};
use super::wire::{Field, I32, I64, LEN, Reader, VARINT, Writer, key};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::logs::{LogsData, ResourceLogs, ScopeLogs};

const REQUEST: &str = "opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest";
const RESOURCE_LOGS: &str = "opentelemetry.proto.logs.v1.ResourceLogs";
const SCOPE_LOGS: &str = "opentelemetry.proto.logs.v1.ScopeLogs";
const LOG_RECORD: &str = "opentelemetry.proto.logs.v1.LogRecord";

// ExportLogsServiceRequest
const REQUEST_RESOURCE_LOGS: u32 = key(1, LEN);
// ResourceLogs
const RL_RESOURCE: u32 = key(1, LEN);
const RL_SCOPE_LOGS: u32 = key(2, LEN);
const RL_SCHEMA_URL: u32 = key(3, LEN);
// ScopeLogs
const SL_SCOPE: u32 = key(1, LEN);
const SL_LOG_RECORDS: u32 = key(2, LEN);
const SL_SCHEMA_URL: u32 = key(3, LEN);
// LogRecord
const LR_TIME: u32 = key(1, I64);
const LR_SEVERITY_NUMBER: u32 = key(2, VARINT);
const LR_SEVERITY_TEXT: u32 = key(3, LEN);
const LR_BODY: u32 = key(5, LEN);
const LR_ATTRIBUTES: u32 = key(6, LEN);
const LR_DROPPED_ATTRIBUTES: u32 = key(7, VARINT);
const LR_FLAGS: u32 = key(8, I32);
const LR_TRACE_ID: u32 = key(9, LEN);
const LR_SPAN_ID: u32 = key(10, LEN);
const LR_OBSERVED_TIME: u32 = key(11, I64);
const LR_EVENT_NAME: u32 = key(12, LEN);

/// `LogRecordFlags`: bits 0-7 are the W3C trace flags; the rest are reserved.
pub(crate) const FLAGS_TRACE_MASK: u32 = 0xff;

/// Appends an `ExportLogsServiceRequest` holding `records`, grouped by scope in first-seen
/// order, under one resource. `scopes` lists the index of the first record of each scope.
pub(crate) fn write_request(
    out: &mut Vec<u8>,
    resource: &Resource,
    records: &[LogRecord],
    scopes: &[usize],
) {
    if records.is_empty() {
        return;
    }
    let w = &mut Writer::new(out);
    let resource_logs = w.begin(REQUEST_RESOURCE_LOGS, 3);
    write_resource(w, RL_RESOURCE, resource, 0);
    for &first in scopes {
        let scope = &records[first].scope;
        let group = records[first..]
            .iter()
            .filter(|r| same_scope(&r.scope, scope));
        write_scope_logs(w, scope, 0, group);
    }
    w.bytes_field(
        RL_SCHEMA_URL,
        resource.schema_url().unwrap_or_default().as_bytes(),
    );
    w.end(resource_logs);
}

/// Appends an `ExportLogsServiceRequest` with exactly the envelopes of `data`.
pub(crate) fn write_logs_data(out: &mut Vec<u8>, data: &LogsData) {
    let w = &mut Writer::new(out);
    for resource_logs in &data.resource_logs {
        let nested = w.begin(REQUEST_RESOURCE_LOGS, 3);
        write_resource(
            w,
            RL_RESOURCE,
            &resource_logs.resource,
            resource_logs.resource_dropped_attributes_count,
        );
        for scope_logs in &resource_logs.scope_logs {
            write_scope_logs(
                w,
                &scope_logs.scope,
                scope_logs.scope_dropped_attributes_count,
                scope_logs.records.iter(),
            );
        }
        let schema_url = resource_logs.resource.schema_url().unwrap_or_default();
        w.bytes_field(RL_SCHEMA_URL, schema_url.as_bytes());
        w.end(nested);
    }
}

fn write_scope_logs<'r>(
    w: &mut Writer<'_>,
    scope: &InstrumentationScope,
    dropped_attributes_count: u32,
    records: impl Iterator<Item = &'r LogRecord>,
) {
    let nested = w.begin(RL_SCOPE_LOGS, 3);
    write_scope(w, SL_SCOPE, scope, dropped_attributes_count);
    for record in records {
        write_record(w, record);
    }
    w.bytes_field(
        SL_SCHEMA_URL,
        scope.schema_url().unwrap_or_default().as_bytes(),
    );
    w.end(nested);
}

fn write_record(w: &mut Writer<'_>, record: &LogRecord) {
    // A typical record (a message and a handful of attributes) is 128 bytes to 16 KiB.
    let nested = w.begin(SL_LOG_RECORDS, 2);
    w.fixed64_field(
        LR_TIME,
        record.timestamp.map_or(0, Timestamp::as_unix_nanos),
    );
    w.uint_field(LR_SEVERITY_NUMBER, u64::from(record.severity.number()));
    if let Some(text) = &record.severity_text {
        w.bytes_field(LR_SEVERITY_TEXT, text.as_bytes());
    }
    // No body is no field: `Value::Empty` is how our records say "no body".
    if record.body != Value::Empty {
        write_any_value(w, LR_BODY, &record.body);
    }
    write_attributes(w, LR_ATTRIBUTES, &record.attributes);
    w.uint_field(
        LR_DROPPED_ATTRIBUTES,
        u64::from(record.dropped_attributes_count),
    );
    w.fixed32_field(LR_FLAGS, u32::from(record.trace_flags.bits()));
    if record.trace_id.is_valid() {
        w.bytes_always(LR_TRACE_ID, record.trace_id.as_bytes());
    }
    if record.span_id.is_valid() {
        w.bytes_always(LR_SPAN_ID, record.span_id.as_bytes());
    }
    w.fixed64_field(LR_OBSERVED_TIME, record.observed_timestamp.as_unix_nanos());
    if let Some(name) = &record.event_name {
        w.bytes_field(LR_EVENT_NAME, name.as_bytes());
    }
    w.end(nested);
}

/// Reads an `ExportLogsServiceRequest` (or a `LogsData`: same fields, same numbers).
pub(crate) fn read_request(input: &[u8]) -> Result<LogsData, DecodeError> {
    let mut data = LogsData::default();
    let strings = &mut Strings::new();
    Reader::new(input).fields(REQUEST, |r, field| {
        match field.number {
            1 => data
                .resource_logs
                .push(read_resource_logs(r.message_field(field)?, strings)?),
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(data)
}

fn read_resource_logs<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<ResourceLogs, DecodeError> {
    let mut attributes = Vec::new();
    let mut dropped = 0;
    let mut schema_url = "";
    let mut scope_logs = Vec::new();
    r.fields(RESOURCE_LOGS, |r, field| {
        match field.number {
            1 => (attributes, dropped) = read_resource(r.message_field(field)?, strings)?,
            2 => scope_logs.push(read_scope_logs(r.message_field(field)?, strings)?),
            3 => schema_url = r.str_field(field)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(ResourceLogs {
        resource: build_resource(attributes, schema_url),
        resource_dropped_attributes_count: dropped,
        scope_logs,
    })
}

/// Reads a `ScopeLogs` in two passes, as `ScopeSpans`: every record carries the scope, which
/// may come after the records on the wire.
fn read_scope_logs<'a>(r: Reader<'a>, strings: &mut Strings<'a>) -> Result<ScopeLogs, DecodeError> {
    let mut fields = ScopeFields::default();
    let mut schema_url = "";
    let mut record_count = 0;
    r.fields(SCOPE_LOGS, |r, field| {
        match field.number {
            1 => fields = read_scope(r.message_field(field)?, strings)?,
            2 => {
                record_count += 1;
                r.skip(field)?;
            }
            3 => schema_url = r.str_field(field)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    let dropped = fields.dropped_attributes_count;
    let scope = fields.build(schema_url);
    // Every counted record was a complete length-delimited field of the input.
    let mut records = Vec::with_capacity(record_count);
    r.fields(SCOPE_LOGS, |r, field| {
        match field.number {
            2 => records.push(read_record(r.message_field(field)?, &scope, strings)?),
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(ScopeLogs {
        scope,
        scope_dropped_attributes_count: dropped,
        records,
    })
}

/// A record's trace or span id: absent (empty or all zeroes: the record is outside any
/// span, which OTLP allows for logs) or exactly `N` bytes.
fn record_id<const N: usize>(r: &mut Reader<'_>, field: Field) -> Result<[u8; N], DecodeError> {
    let bytes = r.bytes_field(field)?;
    if bytes.is_empty() {
        return Ok([0; N]);
    }
    bytes.try_into().map_err(|_| {
        DecodeError::new(
            DecodeErrorKind::InvalidIdLength {
                expected: N,
                found: bytes.len(),
            },
            field.offset,
        )
    })
}

fn read_record<'a>(
    r: Reader<'a>,
    scope: &InstrumentationScope,
    strings: &mut Strings<'a>,
) -> Result<LogRecord, DecodeError> {
    let mut record = LogRecord {
        scope: scope.clone(),
        ..LogRecord::default()
    };
    r.fields(LOG_RECORD, |r, field| {
        match field.number {
            1 => {
                // Zero is the proto3 default: the source gave no time.
                let nanos = r.fixed64_field(field)?;
                record.timestamp = (nanos != 0).then(|| Timestamp::from_unix_nanos(nanos));
            }
            2 => {
                // An int32 enum: a decoder keeps the low 32 bits of the varint.
                let value = i64::from(r.varint_field(field)? as i32);
                record.severity = u8::try_from(value)
                    .ok()
                    .and_then(Severity::from_number)
                    .ok_or_else(|| {
                        DecodeError::new(DecodeErrorKind::UnknownEnumValue(value), field.offset)
                    })?;
            }
            3 => {
                // proto3 cannot tell an empty text from none; our records say none.
                let text = r.str_field(field)?;
                record.severity_text = (!text.is_empty()).then(|| strings.get(text));
            }
            5 => record.body = read_any_value(r.message_field(field)?, strings)?,
            6 => record
                .attributes
                .push(read_key_value(r.message_field(field)?, strings)?),
            7 => record.dropped_attributes_count = r.varint_field(field)? as u32,
            8 => {
                let flags = r.fixed32_field(field)?;
                record.trace_flags = TraceFlags::from_bits((flags & FLAGS_TRACE_MASK) as u8);
            }
            9 => record.trace_id = TraceId::from_bytes(record_id(r, field)?),
            10 => record.span_id = SpanId::from_bytes(record_id(r, field)?),
            11 => record.observed_timestamp = Timestamp::from_unix_nanos(r.fixed64_field(field)?),
            12 => {
                let name = r.str_field(field)?;
                record.event_name = (!name.is_empty()).then(|| strings.get(name));
            }
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(record)
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
    fn every_field_round_trips() -> Result<(), DecodeError> {
        let data = sample_data();
        assert_eq!(read_request(&encode(&data))?, data);
        Ok(())
    }

    #[test]
    fn truncation_at_every_byte_is_an_error_never_a_panic() {
        let bytes = encode(&sample_data());
        for len in 1..bytes.len() {
            assert!(
                read_request(&bytes[..len]).is_err(),
                "prefix of {len} bytes decoded"
            );
        }
        assert_eq!(read_request(&[]), Ok(LogsData::default()));
    }

    /// A request with one record whose body is `record`, under an empty resource and scope.
    fn request_with_record(record: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let w = &mut Writer::new(&mut out);
        let rl = w.begin(REQUEST_RESOURCE_LOGS, 1);
        let sl = w.begin(RL_SCOPE_LOGS, 1);
        w.bytes_always(SL_LOG_RECORDS, record);
        w.end(sl);
        w.end(rl);
        out
    }

    #[test]
    fn invalid_record_fields_are_typed_errors() {
        let cases: Vec<(&str, Vec<u8>, DecodeErrorKind, u32)> = vec![
            (
                "severity above 24",
                vec![0x10, 25],
                DecodeErrorKind::UnknownEnumValue(25),
                2,
            ),
            (
                "negative severity",
                vec![0x10, 0xff, 0xff, 0xff, 0xff, 0x0f],
                DecodeErrorKind::UnknownEnumValue(-1),
                2,
            ),
            (
                "short trace id",
                vec![0x4a, 0x02, 1, 2],
                DecodeErrorKind::InvalidIdLength {
                    expected: 16,
                    found: 2,
                },
                9,
            ),
            (
                "long span id",
                vec![0x52, 0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9],
                DecodeErrorKind::InvalidIdLength {
                    expected: 8,
                    found: 9,
                },
                10,
            ),
            (
                "severity text not UTF-8",
                vec![0x1a, 0x01, 0xff],
                DecodeErrorKind::InvalidUtf8,
                3,
            ),
        ];
        for (name, record, kind, field) in cases {
            let error = read_request(&request_with_record(&record)).expect_err(name);
            assert_eq!(error.kind(), kind, "{name}");
            assert_eq!(error.message(), Some(LOG_RECORD), "{name}");
            assert_eq!(error.field(), Some(field), "{name}");
        }
    }

    #[test]
    fn scope_after_records_and_absent_fields_read_as_defaults() -> Result<(), DecodeError> {
        let mut out = Vec::new();
        let w = &mut Writer::new(&mut out);
        let rl = w.begin(REQUEST_RESOURCE_LOGS, 1);
        let sl = w.begin(RL_SCOPE_LOGS, 1);
        // Empty ids, empty texts and an unknown field (99, varint).
        w.bytes_always(
            SL_LOG_RECORDS,
            &[
                0x4a, 0x00, 0x52, 0x00, 0x1a, 0x00, 0x62, 0x00, 0x98, 0x06, 0x01,
            ],
        );
        let scope = w.begin(SL_SCOPE, 1);
        w.bytes_field(key(1, LEN), b"late");
        w.end(scope);
        w.end(sl);
        w.end(rl);
        let data = read_request(&out)?;
        let record = &data.resource_logs[0].scope_logs[0].records[0];
        assert_eq!(record.scope.name(), "late");
        let expected = LogRecord {
            scope: record.scope.clone(),
            ..LogRecord::default()
        };
        assert_eq!(record, &expected);
        Ok(())
    }
}
