//! `ExportTraceServiceRequest`: spans written straight from [`SpanData`] into a buffer, and
//! read back into [`TracesData`].

use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId, Value};
use telemetry_span::{Event, Link, SpanData, SpanKind, Status};

use super::common::{
    ScopeFields, Strings, build_resource, key_value_matches, push_key_value, read_resource,
    read_scope, same_scope, string_value, write_attributes, write_resource, write_scope,
};
use super::wire::{Field, I32, I64, LEN, Reader, VARINT, Writer, key};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::traces::{ResourceSpans, ScopeSpans, TracesData};

pub(crate) const REQUEST: &str = "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest";
pub(crate) const RESOURCE_SPANS: &str = "opentelemetry.proto.trace.v1.ResourceSpans";
pub(crate) const SCOPE_SPANS: &str = "opentelemetry.proto.trace.v1.ScopeSpans";
pub(crate) const SPAN: &str = "opentelemetry.proto.trace.v1.Span";
pub(crate) const EVENT: &str = "opentelemetry.proto.trace.v1.Span.Event";
pub(crate) const LINK: &str = "opentelemetry.proto.trace.v1.Span.Link";
pub(crate) const STATUS: &str = "opentelemetry.proto.trace.v1.Status";

// ExportTraceServiceRequest
const REQUEST_RESOURCE_SPANS: u32 = key(1, LEN);
// ResourceSpans
const RS_RESOURCE: u32 = key(1, LEN);
const RS_SCOPE_SPANS: u32 = key(2, LEN);
const RS_SCHEMA_URL: u32 = key(3, LEN);
// ScopeSpans
const SS_SCOPE: u32 = key(1, LEN);
const SS_SPANS: u32 = key(2, LEN);
const SS_SCHEMA_URL: u32 = key(3, LEN);
// Span
const SPAN_TRACE_ID: u32 = key(1, LEN);
const SPAN_SPAN_ID: u32 = key(2, LEN);
const SPAN_TRACE_STATE: u32 = key(3, LEN);
const SPAN_PARENT_SPAN_ID: u32 = key(4, LEN);
const SPAN_NAME: u32 = key(5, LEN);
const SPAN_KIND: u32 = key(6, VARINT);
const SPAN_START: u32 = key(7, I64);
const SPAN_END: u32 = key(8, I64);
const SPAN_ATTRIBUTES: u32 = key(9, LEN);
const SPAN_DROPPED_ATTRIBUTES: u32 = key(10, VARINT);
const SPAN_EVENTS: u32 = key(11, LEN);
const SPAN_DROPPED_EVENTS: u32 = key(12, VARINT);
const SPAN_LINKS: u32 = key(13, LEN);
const SPAN_DROPPED_LINKS: u32 = key(14, VARINT);
const SPAN_STATUS: u32 = key(15, LEN);
const SPAN_FLAGS: u32 = key(16, I32);
// Span.Event
const EVENT_TIME: u32 = key(1, I64);
const EVENT_NAME: u32 = key(2, LEN);
const EVENT_ATTRIBUTES: u32 = key(3, LEN);
const EVENT_DROPPED_ATTRIBUTES: u32 = key(4, VARINT);
// Span.Link
const LINK_TRACE_ID: u32 = key(1, LEN);
const LINK_SPAN_ID: u32 = key(2, LEN);
const LINK_TRACE_STATE: u32 = key(3, LEN);
const LINK_ATTRIBUTES: u32 = key(4, LEN);
const LINK_DROPPED_ATTRIBUTES: u32 = key(5, VARINT);
const LINK_FLAGS: u32 = key(6, I32);
// Status
const STATUS_MESSAGE: u32 = key(2, LEN);
const STATUS_CODE: u32 = key(3, VARINT);

/// `SpanFlags`: bits 0-7 are the W3C trace flags.
pub(crate) const FLAGS_TRACE_MASK: u32 = 0xff;
/// `SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK`: we always know whether the context is remote.
pub(crate) const FLAGS_HAS_IS_REMOTE: u32 = 0x100;
/// `SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK`.
pub(crate) const FLAGS_IS_REMOTE: u32 = 0x200;

/// The `flags` of a span (about its parent) or a link (about the linked context).
pub(crate) fn span_flags(trace_flags: TraceFlags, is_remote: bool) -> u32 {
    let remote = if is_remote { FLAGS_IS_REMOTE } else { 0 };
    u32::from(trace_flags.bits()) | FLAGS_HAS_IS_REMOTE | remote
}

/// Whether `flags` says the context is remote; unknown (bit 8 clear) counts as local.
pub(crate) fn flags_is_remote(flags: u32) -> bool {
    flags & (FLAGS_HAS_IS_REMOTE | FLAGS_IS_REMOTE) == FLAGS_HAS_IS_REMOTE | FLAGS_IS_REMOTE
}

/// The span kind for an OTLP enum value; `SPAN_KIND_UNSPECIFIED` reads as internal, the
/// spec's default.
pub(crate) fn span_kind(value: i64) -> Option<SpanKind> {
    Some(match value {
        0 | 1 => SpanKind::Internal,
        2 => SpanKind::Server,
        3 => SpanKind::Client,
        4 => SpanKind::Producer,
        5 => SpanKind::Consumer,
        _ => return None,
    })
}

/// The status for an OTLP code and message; the message is kept only for errors, as the
/// API keeps it.
pub(crate) fn status(code: i64, message: &str) -> Option<Status> {
    Some(match code {
        0 => Status::Unset,
        1 => Status::Ok,
        2 => Status::Error {
            description: string_value(message),
        },
        _ => return None,
    })
}

/// Appends an `ExportTraceServiceRequest` holding `spans`, grouped by scope in first-seen
/// order, under one resource. `scopes` lists the index of the first span of each scope.
pub(crate) fn write_request(
    out: &mut Vec<u8>,
    resource: &Resource,
    spans: &[SpanData],
    scopes: &[usize],
) {
    if spans.is_empty() {
        return;
    }
    let w = &mut Writer::new(out);
    let resource_spans = w.begin(REQUEST_RESOURCE_SPANS, 3);
    write_resource(w, RS_RESOURCE, resource, 0);
    for &first in scopes {
        let scope = &spans[first].scope;
        let group = spans[first..]
            .iter()
            .filter(|span| same_scope(&span.scope, scope));
        write_scope_spans(w, scope, 0, group);
    }
    w.bytes_field(
        RS_SCHEMA_URL,
        resource.schema_url().unwrap_or_default().as_bytes(),
    );
    w.end(resource_spans);
}

/// Appends an `ExportTraceServiceRequest` with exactly the envelopes of `data`.
pub(crate) fn write_traces_data(out: &mut Vec<u8>, data: &TracesData) {
    let w = &mut Writer::new(out);
    for resource_spans in &data.resource_spans {
        let nested = w.begin(REQUEST_RESOURCE_SPANS, 3);
        write_resource(
            w,
            RS_RESOURCE,
            &resource_spans.resource,
            resource_spans.resource_dropped_attributes_count,
        );
        for scope_spans in &resource_spans.scope_spans {
            write_scope_spans(
                w,
                &scope_spans.scope,
                scope_spans.scope_dropped_attributes_count,
                scope_spans.spans.iter(),
            );
        }
        let schema_url = resource_spans.resource.schema_url().unwrap_or_default();
        w.bytes_field(RS_SCHEMA_URL, schema_url.as_bytes());
        w.end(nested);
    }
}

fn write_scope_spans<'s>(
    w: &mut Writer<'_>,
    scope: &InstrumentationScope,
    dropped_attributes_count: u32,
    spans: impl Iterator<Item = &'s SpanData>,
) {
    let nested = w.begin(RS_SCOPE_SPANS, 3);
    write_scope(w, SS_SCOPE, scope, dropped_attributes_count);
    for span in spans {
        write_span(w, span);
    }
    w.bytes_field(
        SS_SCHEMA_URL,
        scope.schema_url().unwrap_or_default().as_bytes(),
    );
    w.end(nested);
}

fn write_span(w: &mut Writer<'_>, span: &SpanData) {
    let nested = w.begin(SS_SPANS, 2);
    let context = &span.span_context;
    w.bytes_always(SPAN_TRACE_ID, context.trace_id().as_bytes());
    w.bytes_always(SPAN_SPAN_ID, context.span_id().as_bytes());
    w.bytes_field(SPAN_TRACE_STATE, context.trace_state().header().as_bytes());
    if span.parent_span_id.is_valid() {
        w.bytes_always(SPAN_PARENT_SPAN_ID, span.parent_span_id.as_bytes());
    }
    w.bytes_field(SPAN_NAME, span.name.as_bytes());
    w.uint_field(SPAN_KIND, span.kind.otlp_value() as u64);
    w.fixed64_field(SPAN_START, span.start_time.as_unix_nanos());
    w.fixed64_field(SPAN_END, span.end_time.as_unix_nanos());
    write_span_tail(w, span);
    w.fixed32_field(
        SPAN_FLAGS,
        span_flags(context.flags(), span.parent_is_remote),
    );
    w.end(nested);
}

/// Writes a span's attributes, events, links, status and dropped counts: the fields after
/// its identity (ids, trace state, parent, name, kind, times) and before its flags.
fn write_span_tail(w: &mut Writer<'_>, span: &SpanData) {
    write_attributes(w, SPAN_ATTRIBUTES, &span.attributes);
    w.uint_field(
        SPAN_DROPPED_ATTRIBUTES,
        u64::from(span.dropped_attributes_count),
    );
    for event in &span.events {
        let nested = w.begin(SPAN_EVENTS, 1);
        w.fixed64_field(EVENT_TIME, event.timestamp.as_unix_nanos());
        w.bytes_field(EVENT_NAME, event.name.as_bytes());
        write_attributes(w, EVENT_ATTRIBUTES, &event.attributes);
        w.uint_field(
            EVENT_DROPPED_ATTRIBUTES,
            u64::from(event.dropped_attributes_count),
        );
        w.end(nested);
    }
    w.uint_field(SPAN_DROPPED_EVENTS, u64::from(span.dropped_events_count));
    for link in &span.links {
        let nested = w.begin(SPAN_LINKS, 1);
        let linked = &link.span_context;
        w.bytes_always(LINK_TRACE_ID, linked.trace_id().as_bytes());
        w.bytes_always(LINK_SPAN_ID, linked.span_id().as_bytes());
        w.bytes_field(LINK_TRACE_STATE, linked.trace_state().header().as_bytes());
        write_attributes(w, LINK_ATTRIBUTES, &link.attributes);
        w.uint_field(
            LINK_DROPPED_ATTRIBUTES,
            u64::from(link.dropped_attributes_count),
        );
        w.fixed32_field(LINK_FLAGS, span_flags(linked.flags(), linked.is_remote()));
        w.end(nested);
    }
    w.uint_field(SPAN_DROPPED_LINKS, u64::from(span.dropped_links_count));
    if span.status != Status::Unset {
        let nested = w.begin(SPAN_STATUS, 1);
        if let Status::Error { description } = &span.status {
            w.bytes_field(STATUS_MESSAGE, description.as_bytes());
        }
        w.uint_field(STATUS_CODE, span.status.otlp_code() as u64);
        w.end(nested);
    }
}

/// Appends the fields of a span's OTLP `Span` message other than its ids, parent, name,
/// kind, times and flags: its trace state, attributes, events, links, status and dropped
/// counts, as a `Span` message body without the identity fields.
pub(crate) fn write_span_detail(out: &mut Vec<u8>, span: &SpanData) {
    let w = &mut Writer::new(out);
    w.bytes_field(
        SPAN_TRACE_STATE,
        span.span_context.trace_state().header().as_bytes(),
    );
    write_span_tail(w, span);
}

/// Reads what [`write_span_detail`] wrote into `span`, replacing its trace state,
/// attributes, events, links, status and dropped counts; any other `Span` field is skipped.
pub(crate) fn read_span_detail(input: &[u8], span: &mut SpanData) -> Result<(), DecodeError> {
    let strings = &mut Strings::unshared();
    let mut state = TraceState::EMPTY;
    span.attributes.clear();
    span.events.clear();
    span.links.clear();
    span.status = Status::Unset;
    (
        span.dropped_attributes_count,
        span.dropped_events_count,
        span.dropped_links_count,
    ) = (0, 0, 0);
    Reader::new(input).fields(SPAN, |r, field| {
        read_span_detail_field(r, field, span, &mut state, strings)
    })?;
    let context = &span.span_context;
    span.span_context = SpanContext::new(
        context.trace_id(),
        context.span_id(),
        context.flags(),
        context.is_remote(),
        state,
    );
    Ok(())
}

/// Whether a span detail written by [`write_span_detail`] has an attribute named `key`
/// whose value satisfies `matches`, decoding no other attribute's value.
pub(crate) fn span_detail_attribute_matches(
    input: &[u8],
    key: &str,
    mut matches: impl FnMut(&Value) -> bool,
) -> Result<bool, DecodeError> {
    let mut found = false;
    Reader::new(input).fields(SPAN, |r, field| {
        if field.number == 9 && !found {
            found = key_value_matches(r.message_field(field)?, key, &mut matches)?;
            Ok(())
        } else {
            r.skip(field)
        }
    })?;
    Ok(found)
}

/// Reads one `Span` field outside its identity (see [`write_span_tail`]), or skips it.
fn read_span_detail_field<'a>(
    r: &mut Reader<'a>,
    field: Field,
    span: &mut SpanData,
    state: &mut TraceState,
    strings: &mut Strings<'a>,
) -> Result<(), DecodeError> {
    match field.number {
        3 => *state = trace_state(r, field)?,
        9 => push_key_value(r, field, &mut span.attributes, strings)?,
        10 => span.dropped_attributes_count = r.varint_field(field)? as u32,
        11 => span
            .events
            .push(read_event(r.message_field(field)?, strings)?),
        12 => span.dropped_events_count = r.varint_field(field)? as u32,
        13 => span
            .links
            .push(read_link(r.message_field(field)?, strings)?),
        14 => span.dropped_links_count = r.varint_field(field)? as u32,
        15 => span.status = read_status(r.message_field(field)?)?,
        _ => r.skip(field)?,
    }
    Ok(())
}

/// Reads an `ExportTraceServiceRequest` (or a `TracesData`: same fields, same numbers).
pub(crate) fn read_request(input: &[u8]) -> Result<TracesData, DecodeError> {
    let mut data = TracesData::default();
    let strings = &mut Strings::new();
    Reader::new(input).fields(REQUEST, |r, field| {
        match field.number {
            1 => data
                .resource_spans
                .push(read_resource_spans(r.message_field(field)?, strings)?),
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(data)
}

fn read_resource_spans<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<ResourceSpans, DecodeError> {
    let mut attributes = Vec::new();
    let mut dropped = 0;
    let mut schema_url = "";
    let mut scope_spans = Vec::new();
    r.fields(RESOURCE_SPANS, |r, field| {
        match field.number {
            1 => (attributes, dropped) = read_resource(r.message_field(field)?, strings)?,
            2 => scope_spans.push(read_scope_spans(r.message_field(field)?, strings)?),
            3 => schema_url = r.str_field(field)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(ResourceSpans {
        resource: build_resource(attributes, schema_url),
        resource_dropped_attributes_count: dropped,
        scope_spans,
    })
}

/// Reads a `ScopeSpans` in two passes: every span carries the scope, which may come after
/// the spans on the wire, so the first pass finds the scope and schema URL (skipping spans
/// by their length, which costs nothing) and the second decodes the spans.
fn read_scope_spans<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<ScopeSpans, DecodeError> {
    let mut fields = ScopeFields::default();
    let mut schema_url = "";
    let mut span_count = 0;
    r.fields(SCOPE_SPANS, |r, field| {
        match field.number {
            1 => fields = read_scope(r.message_field(field)?, strings)?,
            2 => {
                span_count += 1;
                r.skip(field)?;
            }
            3 => schema_url = r.str_field(field)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    let dropped = fields.dropped_attributes_count;
    let scope = fields.build(schema_url);
    // Every counted span was a complete length-delimited field of the input.
    let mut spans = Vec::with_capacity(span_count);
    r.fields(SCOPE_SPANS, |r, field| {
        match field.number {
            2 => spans.push(read_span(r.message_field(field)?, &scope, strings)?),
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(ScopeSpans {
        scope,
        scope_dropped_attributes_count: dropped,
        spans,
    })
}

/// A decoded id field and the offset of its key, kept until the message is complete.
#[derive(Clone, Copy, Default)]
pub(crate) struct RawId<'a> {
    pub(crate) bytes: &'a [u8],
    offset: Option<usize>,
}

impl<'a> RawId<'a> {
    pub(crate) fn read(r: &mut Reader<'a>, field: Field) -> Result<Self, DecodeError> {
        Ok(RawId {
            offset: Some(field.offset),
            bytes: r.bytes_field(field)?,
        })
    }

    fn array<const N: usize>(self, end: usize) -> Result<[u8; N], DecodeError> {
        let offset = self.offset.unwrap_or(end);
        let bytes: [u8; N] = self.bytes.try_into().map_err(|_| {
            DecodeError::new(
                DecodeErrorKind::InvalidIdLength {
                    expected: N,
                    found: self.bytes.len(),
                },
                offset,
            )
        })?;
        if bytes.iter().all(|&b| b == 0) {
            return Err(DecodeError::new(DecodeErrorKind::ZeroId, offset));
        }
        Ok(bytes)
    }

    pub(crate) fn trace_id(self, end: usize) -> Result<TraceId, DecodeError> {
        self.array::<16>(end).map(TraceId::from_bytes)
    }

    pub(crate) fn span_id(self, end: usize) -> Result<SpanId, DecodeError> {
        self.array::<8>(end).map(SpanId::from_bytes)
    }
}

fn trace_state(r: &mut Reader<'_>, field: Field) -> Result<TraceState, DecodeError> {
    let header = r.str_field(field)?;
    TraceState::parse(header)
        .map_err(|_| DecodeError::new(DecodeErrorKind::InvalidTraceState, field.offset))
}

pub(crate) fn enum_value(r: &mut Reader<'_>, field: Field) -> Result<i64, DecodeError> {
    // Enums are int32: a negative one is sign-extended to ten bytes, and a decoder keeps the
    // low 32 bits.
    Ok(i64::from(r.varint_field(field)? as i32))
}

fn read_span<'a>(
    r: Reader<'a>,
    scope: &InstrumentationScope,
    strings: &mut Strings<'a>,
) -> Result<SpanData, DecodeError> {
    let end_offset = r.offset() + r.remaining();
    let (mut trace_id, mut span_id, mut parent) = (RawId::default(), RawId::default(), None);
    let mut span = SpanData {
        span_context: SpanContext::INVALID,
        parent_span_id: SpanId::INVALID,
        parent_is_remote: false,
        name: string_value(""),
        kind: SpanKind::Internal,
        start_time: Timestamp::UNIX_EPOCH,
        end_time: Timestamp::UNIX_EPOCH,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Status::Unset,
        scope: scope.clone(),
    };
    let mut state = TraceState::EMPTY;
    let mut flags = 0;
    r.fields(SPAN, |r, field| {
        match field.number {
            1 => trace_id = RawId::read(r, field)?,
            2 => span_id = RawId::read(r, field)?,
            4 => parent = Some(RawId::read(r, field)?),
            5 => span.name = strings.get(r.str_field(field)?),
            6 => {
                let value = enum_value(r, field)?;
                span.kind = span_kind(value).ok_or_else(|| {
                    DecodeError::new(DecodeErrorKind::UnknownEnumValue(value), field.offset)
                })?;
            }
            7 => span.start_time = Timestamp::from_unix_nanos(r.fixed64_field(field)?),
            8 => span.end_time = Timestamp::from_unix_nanos(r.fixed64_field(field)?),
            16 => flags = r.fixed32_field(field)?,
            _ => read_span_detail_field(r, field, &mut span, &mut state, strings)?,
        }
        Ok(())
    })?;
    let trace_id = trace_id
        .trace_id(end_offset)
        .map_err(|e| e.within(SPAN, Some(1)))?;
    let span_id = span_id
        .span_id(end_offset)
        .map_err(|e| e.within(SPAN, Some(2)))?;
    // An empty or all-zero parent id means a root span; only other lengths are invalid.
    if let Some(parent) = parent.filter(|p| !p.bytes.is_empty() && p.bytes.iter().any(|&b| b != 0))
    {
        span.parent_span_id = parent
            .span_id(end_offset)
            .map_err(|e| e.within(SPAN, Some(4)))?;
    }
    span.parent_is_remote = flags_is_remote(flags);
    let trace_flags = TraceFlags::from_bits((flags & FLAGS_TRACE_MASK) as u8);
    span.span_context = SpanContext::new(trace_id, span_id, trace_flags, false, state);
    Ok(span)
}

fn read_event<'a>(r: Reader<'a>, strings: &mut Strings<'a>) -> Result<Event, DecodeError> {
    let mut event = Event {
        name: string_value(""),
        timestamp: Timestamp::UNIX_EPOCH,
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    };
    r.fields(EVENT, |r, field| {
        match field.number {
            1 => event.timestamp = Timestamp::from_unix_nanos(r.fixed64_field(field)?),
            2 => event.name = strings.get(r.str_field(field)?),
            3 => push_key_value(r, field, &mut event.attributes, strings)?,
            4 => event.dropped_attributes_count = r.varint_field(field)? as u32,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(event)
}

fn read_link<'a>(r: Reader<'a>, strings: &mut Strings<'a>) -> Result<Link, DecodeError> {
    let end_offset = r.offset() + r.remaining();
    let (mut trace_id, mut span_id) = (RawId::default(), RawId::default());
    let mut state = TraceState::EMPTY;
    let mut attributes: Vec<KeyValue> = Vec::new();
    let mut dropped = 0;
    let mut flags = 0;
    r.fields(LINK, |r, field| {
        match field.number {
            1 => trace_id = RawId::read(r, field)?,
            2 => span_id = RawId::read(r, field)?,
            3 => state = trace_state(r, field)?,
            4 => push_key_value(r, field, &mut attributes, strings)?,
            5 => dropped = r.varint_field(field)? as u32,
            6 => flags = r.fixed32_field(field)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    let trace_id = trace_id
        .trace_id(end_offset)
        .map_err(|e| e.within(LINK, Some(1)))?;
    let span_id = span_id
        .span_id(end_offset)
        .map_err(|e| e.within(LINK, Some(2)))?;
    let trace_flags = TraceFlags::from_bits((flags & FLAGS_TRACE_MASK) as u8);
    Ok(Link {
        span_context: SpanContext::new(
            trace_id,
            span_id,
            trace_flags,
            flags_is_remote(flags),
            state,
        ),
        attributes,
        dropped_attributes_count: dropped,
    })
}

fn read_status(r: Reader<'_>) -> Result<Status, DecodeError> {
    let mut message = "";
    let mut code = (0, None);
    r.fields(STATUS, |r, field| {
        match field.number {
            2 => message = r.str_field(field)?,
            3 => code = (enum_value(r, field)?, Some(field.offset)),
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    status(code.0, message).ok_or_else(|| {
        DecodeError::new(
            DecodeErrorKind::UnknownEnumValue(code.0),
            code.1.unwrap_or_default(),
        )
        .within(STATUS, Some(3))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::sample_data;

    fn encode(data: &TracesData) -> Vec<u8> {
        let mut out = Vec::new();
        write_traces_data(&mut out, data);
        out
    }

    #[test]
    fn every_field_round_trips() -> Result<(), DecodeError> {
        let data = sample_data();
        let bytes = encode(&data);
        assert_eq!(read_request(&bytes)?, data);
        Ok(())
    }

    #[test]
    fn a_span_detail_restores_every_field_the_identity_does_not_hold() -> Result<(), DecodeError> {
        let data = sample_data();
        let spans = data
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans);
        let mut seen = 0;
        for span in spans {
            let mut detail = Vec::new();
            write_span_detail(&mut detail, span);
            // What a store keeps beside the detail: the identity, and placeholders elsewhere.
            let mut restored = span.clone();
            restored.attributes = vec![KeyValue::new("stale", 1)];
            restored.events.clear();
            restored.links.clear();
            restored.status = Status::Ok;
            restored.dropped_attributes_count = 9;
            restored.span_context = SpanContext::new(
                span.span_context.trace_id(),
                span.span_context.span_id(),
                span.span_context.flags(),
                span.span_context.is_remote(),
                TraceState::EMPTY,
            );
            read_span_detail(&detail, &mut restored)?;
            assert_eq!(&restored, span);
            seen += 1;
        }
        assert!(seen > 0);
        Ok(())
    }

    #[test]
    fn a_span_detail_answers_attribute_lookups_without_other_values() -> Result<(), DecodeError> {
        let data = sample_data();
        let span = data
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .find(|span| !span.attributes.is_empty())
            .expect("sample data has a span with attributes");
        let mut detail = Vec::new();
        write_span_detail(&mut detail, span);
        for kv in &span.attributes {
            let expected = kv.value.clone();
            let mut calls = 0;
            let found = span_detail_attribute_matches(&detail, kv.key.as_str(), |value| {
                calls += 1;
                *value == expected
            })?;
            assert!(found, "{} not found", kv.key.as_str());
            assert!(calls >= 1);
            assert!(!span_detail_attribute_matches(
                &detail,
                kv.key.as_str(),
                |_| false
            )?);
        }
        let mut calls = 0;
        let absent = span_detail_attribute_matches(&detail, "no.such.key", |_| {
            calls += 1;
            true
        })?;
        assert!(!absent);
        assert_eq!(calls, 0, "values of other keys are not decoded");
        assert!(span_detail_attribute_matches(&detail[..detail.len() - 1], "x", |_| true).is_err());
        Ok(())
    }

    #[test]
    fn a_truncated_span_detail_is_an_error() {
        let data = sample_data();
        let Some(span) = data.resource_spans[0].scope_spans[0].spans.first() else {
            panic!("sample data has a span");
        };
        let mut detail = Vec::new();
        write_span_detail(&mut detail, span);
        assert!(!detail.is_empty());
        let mut target = span.clone();
        assert!(read_span_detail(&detail[..detail.len() - 1], &mut target).is_err());
    }

    #[test]
    fn truncation_at_every_byte_is_an_error_never_a_panic() {
        let bytes = encode(&sample_data());
        for len in 0..bytes.len() {
            let result = read_request(&bytes[..len]);
            // Cutting between two top-level fields leaves a valid (shorter) request; here
            // there is one top-level field, so only the empty prefix is valid.
            if len == 0 {
                assert_eq!(result, Ok(TracesData::default()));
            } else {
                assert!(result.is_err(), "prefix of {len} bytes decoded");
            }
        }
    }

    #[test]
    fn span_flags_carry_trace_flags_and_the_remote_bits() {
        assert_eq!(span_flags(TraceFlags::SAMPLED, false), 0x101);
        assert_eq!(span_flags(TraceFlags::from_bits(0x03), true), 0x303);
        assert!(flags_is_remote(0x300));
        // Without "has is_remote" the remote bit means nothing.
        assert!(!flags_is_remote(0x200));
        assert!(!flags_is_remote(0x100));
    }

    /// A request with one span whose body is `span`, under an empty resource and scope.
    fn request_with_span(span: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let w = &mut Writer::new(&mut out);
        let rs = w.begin(REQUEST_RESOURCE_SPANS, 1);
        let ss = w.begin(RS_SCOPE_SPANS, 1);
        w.bytes_always(SS_SPANS, span);
        w.end(ss);
        w.end(rs);
        out
    }

    fn ids(trace: &[u8], span: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let w = &mut Writer::new(&mut out);
        w.bytes_always(SPAN_TRACE_ID, trace);
        w.bytes_always(SPAN_SPAN_ID, span);
        out
    }

    #[test]
    fn invalid_span_fields_are_typed_errors() {
        let good_trace = [1u8; 16];
        let good_span = [2u8; 8];
        let mut bad_parent = ids(&good_trace, &good_span);
        bad_parent.extend([0x22, 0x03, 1, 2, 3]);
        let mut bad_kind = ids(&good_trace, &good_span);
        bad_kind.extend([0x30, 0x09]);
        let mut bad_state = ids(&good_trace, &good_span);
        bad_state.extend([0x1a, 0x03, b'A', b'=', b'1']);
        let mut bad_status = ids(&good_trace, &good_span);
        bad_status.extend([0x7a, 0x02, 0x18, 0x07]);
        let mut wrong_wire_type = ids(&good_trace, &good_span);
        wrong_wire_type.extend([0x38, 0x01]);
        let cases: Vec<(&str, Vec<u8>, DecodeErrorKind, &str, u32)> = vec![
            (
                "missing trace id",
                ids(&[], &good_span)[2..].to_vec(),
                DecodeErrorKind::InvalidIdLength {
                    expected: 16,
                    found: 0,
                },
                SPAN,
                1,
            ),
            (
                "short trace id",
                ids(&good_trace[..15], &good_span),
                DecodeErrorKind::InvalidIdLength {
                    expected: 16,
                    found: 15,
                },
                SPAN,
                1,
            ),
            (
                "zero span id",
                ids(&good_trace, &[0; 8]),
                DecodeErrorKind::ZeroId,
                SPAN,
                2,
            ),
            (
                "long span id",
                ids(&good_trace, &[1; 9]),
                DecodeErrorKind::InvalidIdLength {
                    expected: 8,
                    found: 9,
                },
                SPAN,
                2,
            ),
            (
                "short parent id",
                bad_parent,
                DecodeErrorKind::InvalidIdLength {
                    expected: 8,
                    found: 3,
                },
                SPAN,
                4,
            ),
            (
                "unknown kind",
                bad_kind,
                DecodeErrorKind::UnknownEnumValue(9),
                SPAN,
                6,
            ),
            (
                "invalid trace state",
                bad_state,
                DecodeErrorKind::InvalidTraceState,
                SPAN,
                3,
            ),
            (
                "unknown status code",
                bad_status,
                DecodeErrorKind::UnknownEnumValue(7),
                STATUS,
                3,
            ),
            (
                "start time as a varint",
                wrong_wire_type,
                DecodeErrorKind::WrongWireType { found: 0 },
                SPAN,
                7,
            ),
        ];
        for (name, span, kind, message, field) in cases {
            let error = read_request(&request_with_span(&span)).expect_err(name);
            assert_eq!(error.kind(), kind, "{name}");
            assert_eq!(error.message(), Some(message), "{name}");
            assert_eq!(error.field(), Some(field), "{name}");
            assert!(error.to_string().contains(message), "{name}: {error}");
        }
    }

    #[test]
    fn scope_after_spans_and_unknown_fields_are_handled() -> Result<(), DecodeError> {
        let mut span = ids(&[1; 16], &[2; 8]);
        span.extend([0x98, 0x06, 0x01]); // field 99, varint: unknown
        let mut out = Vec::new();
        let w = &mut Writer::new(&mut out);
        let rs = w.begin(REQUEST_RESOURCE_SPANS, 1);
        let ss = w.begin(RS_SCOPE_SPANS, 1);
        w.bytes_always(SS_SPANS, &span);
        let scope = w.begin(SS_SCOPE, 1);
        w.bytes_field(key(1, LEN), b"late");
        w.end(scope);
        w.end(ss);
        w.end(rs);
        let data = read_request(&out)?;
        let spans = &data.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans[0].scope.name(), "late");
        assert_eq!(spans[0].kind, SpanKind::Internal);
        assert_eq!(spans[0].parent_span_id, SpanId::INVALID);
        Ok(())
    }

    #[test]
    fn deep_values_stop_at_the_depth_limit() {
        // An attribute whose value is an array nested far past the limit.
        let mut value = Vec::new();
        for _ in 0..200 {
            let mut outer = Vec::new();
            let w = &mut Writer::new(&mut outer);
            let array = w.begin(key(5, LEN), 1);
            w.bytes_always(key(1, LEN), &value);
            w.end(array);
            value = outer;
        }
        let mut span = ids(&[1; 16], &[2; 8]);
        let w = &mut Writer::new(&mut span);
        let kv = w.begin(SPAN_ATTRIBUTES, 1);
        w.bytes_always(key(2, LEN), &value);
        w.end(kv);
        let error = read_request(&request_with_span(&span)).expect_err("too deep");
        assert_eq!(error.kind(), DecodeErrorKind::DepthLimit);
    }
}
