//! `ExportTraceServiceRequest` read without copying: [`TracesView`] borrows every string and
//! byte string from the input.
//!
//! # One validating pass, then plain reads
//!
//! [`TracesView::decode`] walks the whole request once with the owned decoder's rules (same
//! reader, same field order, same limits, so it accepts exactly the inputs [`decode_traces`]
//! accepts and fails on the others with the same [`DecodeError`]) and records what it reads
//! in a few flat tables: envelopes, spans, events, links, key-value pairs and array
//! elements. Strings are checked for UTF-8 once, there, and kept as `&str`; ids, times,
//! enums, flags and counts are kept decoded. The views it hands out ([`SpanView`],
//! [`KeyValueView`], ...) are a reference to the table and a row of it, so reading a field
//! is a load: nothing is parsed or checked again, and iterating cannot fail.
//!
//! The alternative, a lazy view that re-walks the bytes on every iteration, would have to
//! check every string's UTF-8 again on each read (the crate forbids `unsafe`, so there is no
//! `from_utf8_unchecked`) or hand out fallible iterators. The tables cost seven `Vec`s per
//! request, reserved from the input's length so that a typical request grows each once or
//! twice at most, instead of prost's allocation per string and per repeated field.
//!
//! Rows of a repeated field are contiguous in their table. Spans, events and links are by
//! construction (a span is pushed after its events and links, and none nests in another of
//! its kind); key-value pairs and array elements nest (a map value holds pairs), so each
//! list is gathered on a stack while it is open and moved to the table when it closes.
//!
//! Memory is bounded by the input as for the owned decoder: every row stands for at least
//! two bytes of input (the largest, a span, for at least 26), and what is reserved up front
//! takes at most about as many bytes as the input.
//!
//! Measured with callgrind on the bench batch (`--bench otlp -- otlp/decode`, 512 spans of
//! 6 attributes and an event, 158 KB): 2.39 M instructions to decode, 0.18 M more to read
//! every field, against 7.11 M for prost's decode and 4.10 M for `decode_traces`. A fifth
//! of the decode is UTF-8 validation of the strings, which the fast path for scalar
//! attributes does with one call per pair (see `key_value_fast`).
//!
//! [`decode_traces`]: crate::decode_traces

use std::fmt;

use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, KeyValue, SpanId, Timestamp, TraceId, Value};
use telemetry_span::{Event, Link, SpanData, SpanKind, Status};

use super::common::{
    ANY_VALUE, ARRAY_VALUE, KEY_VALUE, KEY_VALUE_LIST, MAX_RESOURCE_ATTRIBUTES, RESOURCE, SCOPE,
    ScalarValue, ScopeFields, build_resource, scalar_key_value, string_value,
};
use super::trace::{
    EVENT, FLAGS_TRACE_MASK, LINK, REQUEST, RESOURCE_SPANS, RawId, SCOPE_SPANS, SPAN, STATUS,
    enum_value, flags_is_remote, span_kind,
};
use super::wire::{Field, Reader};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::traces::{ResourceSpans, ScopeSpans, TracesData};

/// A decoded `ExportTraceServiceRequest` (or `TracesData`) whose strings and byte strings
/// borrow from the input.
///
/// Decoding validates everything [`decode_traces`](crate::decode_traces) does (see the crate
/// docs on untrusted input); afterwards every accessor is infallible and returns what was
/// decoded, without parsing again. What it gives differs from the owned [`TracesData`] only
/// where that type normalizes: a resource's attributes are listed as sent, repeated keys
/// included ([`Resource`](telemetry_core::Resource) keeps the last value of a key), and
/// trace states are the header as sent, checked against the W3C grammar.
/// [`TracesView::to_traces_data`] gives exactly what `decode_traces` gives.
///
/// ```
/// use telemetry_core::Resource;
/// use telemetry_otlp::{TraceEncoder, TracesView};
/// use telemetry_span::{InMemorySpanExporter, TracerProvider};
///
/// let exporter = InMemorySpanExporter::new();
/// let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
/// provider.tracer("checkout").in_span("charge", |_| {});
/// let mut buf = Vec::new();
/// let resource = Resource::builder().with_service_name("shop").build();
/// TraceEncoder::new().encode(&resource, &exporter.finished_spans(), &mut buf);
///
/// let view = TracesView::decode(&buf)?;
/// let names: Vec<&str> = view
///     .resource_spans()
///     .flat_map(|rs| rs.scope_spans())
///     .flat_map(|ss| ss.spans())
///     .map(|span| span.name())
///     .collect();
/// assert_eq!(names, ["charge"]);
/// provider.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct TracesView<'a> {
    resource_spans: Vec<ResourceSpansRow<'a>>,
    scope_spans: Vec<ScopeSpansRow<'a>>,
    spans: Vec<SpanRow<'a>>,
    events: Vec<EventRow<'a>>,
    links: Vec<LinkRow<'a>>,
    key_values: Vec<KeyValueRow<'a>>,
    values: Vec<ValueRow<'a>>,
}

/// The rows `start..end` of one of a [`TracesView`]'s tables.
#[derive(Clone, Copy, Default, Debug)]
struct Rows {
    start: usize,
    end: usize,
}

impl Rows {
    fn of<T>(self, table: &[T]) -> &[T] {
        // Always in range: rows are recorded from the table's own length.
        table.get(self.start..self.end).unwrap_or_default()
    }
}

#[derive(Clone, Copy)]
struct ResourceSpansRow<'a> {
    attributes: Rows,
    dropped_attributes_count: u32,
    schema_url: &'a str,
    scope_spans: Rows,
}

#[derive(Clone, Copy)]
struct ScopeSpansRow<'a> {
    name: &'a str,
    version: &'a str,
    attributes: Rows,
    dropped_attributes_count: u32,
    schema_url: &'a str,
    spans: Rows,
}

#[derive(Clone, Copy)]
struct SpanRow<'a> {
    trace_id: TraceId,
    span_id: SpanId,
    parent_span_id: SpanId,
    flags: u32,
    trace_state: &'a str,
    name: &'a str,
    kind: SpanKind,
    start_time: Timestamp,
    end_time: Timestamp,
    attributes: Rows,
    dropped_attributes_count: u32,
    events: Rows,
    dropped_events_count: u32,
    links: Rows,
    dropped_links_count: u32,
    status: StatusView<'a>,
}

#[derive(Clone, Copy)]
struct EventRow<'a> {
    timestamp: Timestamp,
    name: &'a str,
    attributes: Rows,
    dropped_attributes_count: u32,
}

#[derive(Clone, Copy)]
struct LinkRow<'a> {
    trace_id: TraceId,
    span_id: SpanId,
    trace_state: &'a str,
    flags: u32,
    attributes: Rows,
    dropped_attributes_count: u32,
}

#[derive(Clone, Copy)]
struct KeyValueRow<'a> {
    key: &'a str,
    value: ValueRow<'a>,
}

#[derive(Clone, Copy)]
enum ValueRow<'a> {
    Empty,
    Bool(bool),
    I64(i64),
    F64(f64),
    String(&'a str),
    Bytes(&'a [u8]),
    Array(Rows),
    Map(Rows),
}

/// The status of a span, its description borrowed from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum StatusView<'a> {
    /// `STATUS_CODE_UNSET`.
    #[default]
    Unset,
    /// `STATUS_CODE_OK`; a message sent with it is dropped, as the API drops it.
    Ok,
    /// `STATUS_CODE_ERROR`.
    Error {
        /// The status message (may be empty).
        description: &'a str,
    },
}

impl StatusView<'_> {
    /// The owned [`Status`].
    pub fn to_status(self) -> Status {
        match self {
            StatusView::Unset => Status::Unset,
            StatusView::Ok => Status::Ok,
            StatusView::Error { description } => Status::Error {
                description: string_value(description),
            },
        }
    }
}

impl<'a> TracesView<'a> {
    /// Decodes a protobuf `ExportTraceServiceRequest` (or `TracesData`), validating all of it.
    ///
    /// Accepts and rejects exactly what [`decode_traces`](crate::decode_traces) does, with
    /// the same errors: unknown fields of every wire type are skipped; truncated or malformed
    /// input, ids of the wrong length or all zeroes, an invalid `trace_state`, invalid
    /// UTF-8, unknown enum values, more than 1024 attributes on a resource and nesting
    /// deeper than 256 messages are [`DecodeError`]s that say where they are.
    pub fn decode(input: &'a [u8]) -> Result<Self, DecodeError> {
        let mut decoder = Decoder::with_capacity(input.len());
        Reader::new(input).fields(REQUEST, |r, field| {
            match field.number {
                1 => decoder.resource_spans(r.message_field(field)?)?,
                _ => r.skip(field)?,
            }
            Ok(())
        })?;
        Ok(decoder.view)
    }

    /// The `ResourceSpans` envelopes, in input order.
    pub fn resource_spans(
        &self,
    ) -> impl ExactSizeIterator<Item = ResourceSpansView<'_, 'a>> + Clone {
        self.resource_spans
            .iter()
            .map(move |row| ResourceSpansView { view: self, row })
    }

    /// The number of spans in the request, over every envelope.
    pub fn span_count(&self) -> usize {
        self.spans.len()
    }

    /// The owned form, equal to what [`decode_traces`](crate::decode_traces) returns for the
    /// same input.
    pub fn to_traces_data(&self) -> TracesData {
        TracesData {
            resource_spans: self
                .resource_spans()
                .map(|rs| rs.to_resource_spans())
                .collect(),
        }
    }
}

impl fmt::Debug for TracesView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracesView")
            .field("resource_spans", &List(self.resource_spans()))
            .finish()
    }
}

/// Formats the items of a cloneable iterator as a list.
struct List<I>(I);

impl<I: Iterator<Item: fmt::Debug> + Clone> fmt::Debug for List<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.clone()).finish()
    }
}

/// One `ResourceSpans` of a [`TracesView`]: a resource and its spans grouped by scope.
#[derive(Clone, Copy)]
pub struct ResourceSpansView<'v, 'a> {
    view: &'v TracesView<'a>,
    row: &'v ResourceSpansRow<'a>,
}

impl<'v, 'a> ResourceSpansView<'v, 'a> {
    /// The resource's attributes as sent, repeated keys included.
    pub fn resource_attributes(&self) -> KeyValues<'v, 'a> {
        KeyValues::new(self.view, self.row.attributes)
    }

    /// Resource attributes the sender dropped (`Resource.dropped_attributes_count`).
    pub fn resource_dropped_attributes_count(&self) -> u32 {
        self.row.dropped_attributes_count
    }

    /// The envelope's schema URL, empty when none was sent.
    pub fn schema_url(&self) -> &'a str {
        self.row.schema_url
    }

    /// The `ScopeSpans` envelopes, in input order.
    pub fn scope_spans(
        &self,
    ) -> impl ExactSizeIterator<Item = ScopeSpansView<'v, 'a>> + Clone + use<'v, 'a> {
        let view = self.view;
        self.row
            .scope_spans
            .of(&view.scope_spans)
            .iter()
            .map(move |row| ScopeSpansView { view, row })
    }

    /// The owned form, as [`decode_traces`](crate::decode_traces) gives it.
    pub fn to_resource_spans(&self) -> ResourceSpans {
        let attributes = self.resource_attributes().map(|kv| kv.to_key_value());
        ResourceSpans {
            resource: build_resource(attributes.collect(), self.row.schema_url),
            resource_dropped_attributes_count: self.row.dropped_attributes_count,
            scope_spans: self.scope_spans().map(|ss| ss.to_scope_spans()).collect(),
        }
    }
}

impl fmt::Debug for ResourceSpansView<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceSpansView")
            .field("resource_attributes", &self.resource_attributes())
            .field(
                "resource_dropped_attributes_count",
                &self.row.dropped_attributes_count,
            )
            .field("schema_url", &self.row.schema_url)
            .field("scope_spans", &List(self.scope_spans()))
            .finish()
    }
}

/// One `ScopeSpans` of a [`TracesView`]: an instrumentation scope and its spans.
#[derive(Clone, Copy)]
pub struct ScopeSpansView<'v, 'a> {
    view: &'v TracesView<'a>,
    row: &'v ScopeSpansRow<'a>,
}

impl<'v, 'a> ScopeSpansView<'v, 'a> {
    /// The scope's name (empty when none was sent).
    pub fn scope_name(&self) -> &'a str {
        self.row.name
    }

    /// The scope's version; empty when none was sent, which proto3 cannot tell from an
    /// empty one.
    pub fn scope_version(&self) -> &'a str {
        self.row.version
    }

    /// The scope's attributes.
    pub fn scope_attributes(&self) -> KeyValues<'v, 'a> {
        KeyValues::new(self.view, self.row.attributes)
    }

    /// Scope attributes the sender dropped.
    pub fn scope_dropped_attributes_count(&self) -> u32 {
        self.row.dropped_attributes_count
    }

    /// The envelope's schema URL, empty when none was sent.
    pub fn schema_url(&self) -> &'a str {
        self.row.schema_url
    }

    /// The spans, in input order.
    pub fn spans(&self) -> impl ExactSizeIterator<Item = SpanView<'v, 'a>> + Clone + use<'v, 'a> {
        let view = self.view;
        self.row
            .spans
            .of(&view.spans)
            .iter()
            .map(move |row| SpanView { view, row })
    }

    /// The scope as [`decode_traces`](crate::decode_traces) builds it (with the envelope's
    /// schema URL).
    pub fn to_instrumentation_scope(&self) -> InstrumentationScope {
        ScopeFields {
            name: self.row.name,
            version: self.row.version,
            attributes: self
                .scope_attributes()
                .map(|kv| kv.to_key_value())
                .collect(),
            dropped_attributes_count: self.row.dropped_attributes_count,
        }
        .build(self.row.schema_url)
    }

    /// The owned form, as [`decode_traces`](crate::decode_traces) gives it.
    pub fn to_scope_spans(&self) -> ScopeSpans {
        let scope = self.to_instrumentation_scope();
        ScopeSpans {
            spans: self.spans().map(|span| span.to_span_data(&scope)).collect(),
            scope,
            scope_dropped_attributes_count: self.row.dropped_attributes_count,
        }
    }
}

impl fmt::Debug for ScopeSpansView<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeSpansView")
            .field("scope_name", &self.row.name)
            .field("scope_version", &self.row.version)
            .field("scope_attributes", &self.scope_attributes())
            .field(
                "scope_dropped_attributes_count",
                &self.row.dropped_attributes_count,
            )
            .field("schema_url", &self.row.schema_url)
            .field("spans", &List(self.spans()))
            .finish()
    }
}

/// One span of a [`TracesView`].
#[derive(Clone, Copy)]
pub struct SpanView<'v, 'a> {
    view: &'v TracesView<'a>,
    row: &'v SpanRow<'a>,
}

impl<'v, 'a> SpanView<'v, 'a> {
    /// The trace id (never all zeroes).
    pub fn trace_id(&self) -> TraceId {
        self.row.trace_id
    }

    /// The span id (never all zeroes).
    pub fn span_id(&self) -> SpanId {
        self.row.span_id
    }

    /// The span's OTLP `flags` as sent: W3C trace flags in bits 0-7, whether the parent is
    /// known to be remote in bits 8 and 9.
    pub fn flags(&self) -> u32 {
        self.row.flags
    }

    /// The W3C trace flags (bits 0-7 of the span's `flags`).
    pub fn trace_flags(&self) -> TraceFlags {
        TraceFlags::from_bits((self.row.flags & FLAGS_TRACE_MASK) as u8)
    }

    /// The `tracestate` header as sent (valid W3C; empty when there is none).
    pub fn trace_state(&self) -> &'a str {
        self.row.trace_state
    }

    /// The parent's span id; [`SpanId::INVALID`] for a root span (sent empty or all zeroes).
    pub fn parent_span_id(&self) -> SpanId {
        self.row.parent_span_id
    }

    /// Whether the parent is remote, from the span's `flags` (unknown counts as local).
    pub fn parent_is_remote(&self) -> bool {
        flags_is_remote(self.row.flags)
    }

    /// The span's name.
    pub fn name(&self) -> &'a str {
        self.row.name
    }

    /// The span kind; `SPAN_KIND_UNSPECIFIED` reads as internal.
    pub fn kind(&self) -> SpanKind {
        self.row.kind
    }

    /// When the span started.
    pub fn start_time(&self) -> Timestamp {
        self.row.start_time
    }

    /// When the span ended.
    pub fn end_time(&self) -> Timestamp {
        self.row.end_time
    }

    /// The span's attributes, in input order.
    pub fn attributes(&self) -> KeyValues<'v, 'a> {
        KeyValues::new(self.view, self.row.attributes)
    }

    /// Attributes the sender dropped.
    pub fn dropped_attributes_count(&self) -> u32 {
        self.row.dropped_attributes_count
    }

    /// The span's events, in input order.
    pub fn events(&self) -> impl ExactSizeIterator<Item = EventView<'v, 'a>> + Clone + use<'v, 'a> {
        let view = self.view;
        self.row
            .events
            .of(&view.events)
            .iter()
            .map(move |row| EventView { view, row })
    }

    /// Events the sender dropped.
    pub fn dropped_events_count(&self) -> u32 {
        self.row.dropped_events_count
    }

    /// The span's links, in input order.
    pub fn links(&self) -> impl ExactSizeIterator<Item = LinkView<'v, 'a>> + Clone + use<'v, 'a> {
        let view = self.view;
        self.row
            .links
            .of(&view.links)
            .iter()
            .map(move |row| LinkView { view, row })
    }

    /// Links the sender dropped.
    pub fn dropped_links_count(&self) -> u32 {
        self.row.dropped_links_count
    }

    /// The span's status.
    pub fn status(&self) -> StatusView<'a> {
        self.row.status
    }

    /// The owned span, in `scope`, as [`decode_traces`](crate::decode_traces) gives it.
    pub fn to_span_data(&self, scope: &InstrumentationScope) -> SpanData {
        let row = self.row;
        SpanData {
            span_context: SpanContext::new(
                row.trace_id,
                row.span_id,
                self.trace_flags(),
                false,
                owned_trace_state(row.trace_state),
            ),
            parent_span_id: row.parent_span_id,
            parent_is_remote: self.parent_is_remote(),
            name: string_value(row.name),
            kind: row.kind,
            start_time: row.start_time,
            end_time: row.end_time,
            attributes: self.attributes().map(|kv| kv.to_key_value()).collect(),
            dropped_attributes_count: row.dropped_attributes_count,
            events: self.events().map(|event| event.to_event()).collect(),
            dropped_events_count: row.dropped_events_count,
            links: self.links().map(|link| link.to_link()).collect(),
            dropped_links_count: row.dropped_links_count,
            status: row.status.to_status(),
            scope: scope.clone(),
        }
    }
}

/// The owned trace state of a header that decoding already checked.
fn owned_trace_state(header: &str) -> TraceState {
    TraceState::parse(header).unwrap_or_default()
}

impl fmt::Debug for SpanView<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = self.row;
        f.debug_struct("SpanView")
            .field("trace_id", &row.trace_id)
            .field("span_id", &row.span_id)
            .field("flags", &row.flags)
            .field("trace_state", &row.trace_state)
            .field("parent_span_id", &row.parent_span_id)
            .field("name", &row.name)
            .field("kind", &row.kind)
            .field("start_time", &row.start_time)
            .field("end_time", &row.end_time)
            .field("attributes", &self.attributes())
            .field("dropped_attributes_count", &row.dropped_attributes_count)
            .field("events", &List(self.events()))
            .field("dropped_events_count", &row.dropped_events_count)
            .field("links", &List(self.links()))
            .field("dropped_links_count", &row.dropped_links_count)
            .field("status", &row.status)
            .finish()
    }
}

/// One event of a [`SpanView`].
#[derive(Clone, Copy)]
pub struct EventView<'v, 'a> {
    view: &'v TracesView<'a>,
    row: &'v EventRow<'a>,
}

impl<'v, 'a> EventView<'v, 'a> {
    /// The event's name.
    pub fn name(&self) -> &'a str {
        self.row.name
    }

    /// When the event happened.
    pub fn timestamp(&self) -> Timestamp {
        self.row.timestamp
    }

    /// The event's attributes, in input order.
    pub fn attributes(&self) -> KeyValues<'v, 'a> {
        KeyValues::new(self.view, self.row.attributes)
    }

    /// Attributes the sender dropped.
    pub fn dropped_attributes_count(&self) -> u32 {
        self.row.dropped_attributes_count
    }

    /// The owned event.
    pub fn to_event(&self) -> Event {
        Event {
            name: string_value(self.row.name),
            timestamp: self.row.timestamp,
            attributes: self.attributes().map(|kv| kv.to_key_value()).collect(),
            dropped_attributes_count: self.row.dropped_attributes_count,
        }
    }
}

impl fmt::Debug for EventView<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventView")
            .field("name", &self.row.name)
            .field("timestamp", &self.row.timestamp)
            .field("attributes", &self.attributes())
            .field(
                "dropped_attributes_count",
                &self.row.dropped_attributes_count,
            )
            .finish()
    }
}

/// One link of a [`SpanView`].
#[derive(Clone, Copy)]
pub struct LinkView<'v, 'a> {
    view: &'v TracesView<'a>,
    row: &'v LinkRow<'a>,
}

impl<'v, 'a> LinkView<'v, 'a> {
    /// The linked trace id (never all zeroes).
    pub fn trace_id(&self) -> TraceId {
        self.row.trace_id
    }

    /// The linked span id (never all zeroes).
    pub fn span_id(&self) -> SpanId {
        self.row.span_id
    }

    /// The link's OTLP `flags` as sent (see [`SpanView::flags`]).
    pub fn flags(&self) -> u32 {
        self.row.flags
    }

    /// The linked context's W3C trace flags.
    pub fn trace_flags(&self) -> TraceFlags {
        TraceFlags::from_bits((self.row.flags & FLAGS_TRACE_MASK) as u8)
    }

    /// Whether the linked context is remote (unknown counts as local).
    pub fn is_remote(&self) -> bool {
        flags_is_remote(self.row.flags)
    }

    /// The linked context's `tracestate` header as sent (valid W3C; may be empty).
    pub fn trace_state(&self) -> &'a str {
        self.row.trace_state
    }

    /// The link's attributes, in input order.
    pub fn attributes(&self) -> KeyValues<'v, 'a> {
        KeyValues::new(self.view, self.row.attributes)
    }

    /// Attributes the sender dropped.
    pub fn dropped_attributes_count(&self) -> u32 {
        self.row.dropped_attributes_count
    }

    /// The owned link.
    pub fn to_link(&self) -> Link {
        let row = self.row;
        Link {
            span_context: SpanContext::new(
                row.trace_id,
                row.span_id,
                self.trace_flags(),
                self.is_remote(),
                owned_trace_state(row.trace_state),
            ),
            attributes: self.attributes().map(|kv| kv.to_key_value()).collect(),
            dropped_attributes_count: row.dropped_attributes_count,
        }
    }
}

impl fmt::Debug for LinkView<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkView")
            .field("trace_id", &self.row.trace_id)
            .field("span_id", &self.row.span_id)
            .field("flags", &self.row.flags)
            .field("trace_state", &self.row.trace_state)
            .field("attributes", &self.attributes())
            .field(
                "dropped_attributes_count",
                &self.row.dropped_attributes_count,
            )
            .finish()
    }
}

/// The key-value pairs of an attribute list or a map value, in input order.
#[derive(Clone, Copy)]
pub struct KeyValues<'v, 'a> {
    view: &'v TracesView<'a>,
    rows: &'v [KeyValueRow<'a>],
}

impl<'v, 'a> KeyValues<'v, 'a> {
    fn new(view: &'v TracesView<'a>, rows: Rows) -> Self {
        KeyValues {
            view,
            rows: rows.of(&view.key_values),
        }
    }
}

impl<'v, 'a> Iterator for KeyValues<'v, 'a> {
    type Item = KeyValueView<'v, 'a>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (row, rest) = self.rows.split_first()?;
        self.rows = rest;
        Some(KeyValueView {
            key: row.key,
            value: ValueView::new(self.view, row.value),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.rows.len(), Some(self.rows.len()))
    }
}

impl ExactSizeIterator for KeyValues<'_, '_> {}

impl fmt::Debug for KeyValues<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}

/// The elements of an array value, in input order.
#[derive(Clone, Copy)]
pub struct Values<'v, 'a> {
    view: &'v TracesView<'a>,
    rows: &'v [ValueRow<'a>],
}

impl<'v, 'a> Iterator for Values<'v, 'a> {
    type Item = ValueView<'v, 'a>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let (row, rest) = self.rows.split_first()?;
        self.rows = rest;
        Some(ValueView::new(self.view, *row))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.rows.len(), Some(self.rows.len()))
    }
}

impl ExactSizeIterator for Values<'_, '_> {}

impl fmt::Debug for Values<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(*self).finish()
    }
}

/// An attribute: a key and its value, both borrowed.
#[derive(Clone, Copy, Debug)]
pub struct KeyValueView<'v, 'a> {
    /// The key (may be empty if the sender sent none).
    pub key: &'a str,
    /// The value.
    pub value: ValueView<'v, 'a>,
}

impl KeyValueView<'_, '_> {
    /// The owned pair.
    pub fn to_key_value(&self) -> KeyValue {
        KeyValue {
            key: string_value(self.key),
            value: self.value.to_value(),
        }
    }
}

/// An `AnyValue`, strings and bytes borrowed from the input.
///
/// As for [`Value`], no member set is [`ValueView::Empty`], and so is a value holding only
/// members this decoder does not know.
#[derive(Clone, Copy, Debug)]
pub enum ValueView<'v, 'a> {
    /// No value.
    Empty,
    /// `bool_value`.
    Bool(bool),
    /// `int_value`.
    I64(i64),
    /// `double_value`.
    F64(f64),
    /// `string_value`.
    String(&'a str),
    /// `bytes_value`.
    Bytes(&'a [u8]),
    /// `array_value`: its elements.
    Array(Values<'v, 'a>),
    /// `kvlist_value`: its pairs.
    Map(KeyValues<'v, 'a>),
}

impl<'v, 'a> ValueView<'v, 'a> {
    #[inline]
    fn new(view: &'v TracesView<'a>, row: ValueRow<'a>) -> Self {
        match row {
            ValueRow::Empty => ValueView::Empty,
            ValueRow::Bool(v) => ValueView::Bool(v),
            ValueRow::I64(v) => ValueView::I64(v),
            ValueRow::F64(v) => ValueView::F64(v),
            ValueRow::String(s) => ValueView::String(s),
            ValueRow::Bytes(b) => ValueView::Bytes(b),
            ValueRow::Array(rows) => ValueView::Array(Values {
                view,
                rows: rows.of(&view.values),
            }),
            ValueRow::Map(rows) => ValueView::Map(KeyValues::new(view, rows)),
        }
    }

    /// The owned value.
    pub fn to_value(&self) -> Value {
        match *self {
            ValueView::Empty => Value::Empty,
            ValueView::Bool(v) => Value::Bool(v),
            ValueView::I64(v) => Value::I64(v),
            ValueView::F64(v) => Value::F64(v),
            ValueView::String(s) => Value::String(string_value(s)),
            ValueView::Bytes(b) => Value::Bytes(b.to_vec()),
            ValueView::Array(values) => Value::Array(values.map(|v| v.to_value()).collect()),
            ValueView::Map(pairs) => Value::Map(pairs.map(|kv| kv.to_key_value()).collect()),
        }
    }
}

/// The tables being filled, and the stacks that gather nested lists until they close.
#[derive(Default)]
struct Decoder<'a> {
    view: TracesView<'a>,
    open_key_values: Vec<KeyValueRow<'a>>,
    open_values: Vec<ValueRow<'a>>,
}

impl<'a> Decoder<'a> {
    /// Tables sized for a typical request of `input_len` bytes (spans of a few hundred bytes,
    /// attributes of a few dozen), so that decoding one grows them rarely instead of about
    /// a dozen times each. The rows reserved take at most about as many bytes as the input.
    fn with_capacity(input_len: usize) -> Self {
        let mut decoder = Decoder::default();
        decoder.view.spans.reserve(input_len / 512);
        decoder.view.events.reserve(input_len / 1024);
        decoder.view.key_values.reserve(input_len / 64);
        decoder
    }

    /// Moves the pairs gathered since `mark` to the table: a list's rows become contiguous.
    #[inline]
    fn close_key_values(&mut self, mark: usize) -> Rows {
        let table = &mut self.view.key_values;
        let start = table.len();
        table.extend(self.open_key_values.drain(mark..));
        Rows {
            start,
            end: table.len(),
        }
    }

    fn close_values(&mut self, mark: usize) -> Rows {
        let table = &mut self.view.values;
        let start = table.len();
        table.extend(self.open_values.drain(mark..));
        Rows {
            start,
            end: table.len(),
        }
    }

    fn resource_spans(&mut self, r: Reader<'a>) -> Result<(), DecodeError> {
        let mut attributes = Rows::default();
        let mut dropped = 0;
        let mut schema_url = "";
        let start = self.view.scope_spans.len();
        r.fields(RESOURCE_SPANS, |r, field| {
            match field.number {
                1 => (attributes, dropped) = self.resource(r.message_field(field)?)?,
                2 => self.scope_spans(r.message_field(field)?)?,
                3 => schema_url = r.str_field(field)?,
                _ => r.skip(field)?,
            }
            Ok(())
        })?;
        let scope_spans = Rows {
            start,
            end: self.view.scope_spans.len(),
        };
        self.view.resource_spans.push(ResourceSpansRow {
            attributes,
            dropped_attributes_count: dropped,
            schema_url,
            scope_spans,
        });
        Ok(())
    }

    fn resource(&mut self, r: Reader<'a>) -> Result<(Rows, u32), DecodeError> {
        let mark = self.open_key_values.len();
        let mut count = 0;
        let mut dropped = 0;
        r.fields(RESOURCE, |r, field| {
            match field.number {
                1 if count == MAX_RESOURCE_ATTRIBUTES => {
                    return Err(DecodeError::new(
                        DecodeErrorKind::TooManyAttributes,
                        field.offset,
                    ));
                }
                1 => {
                    count += 1;
                    self.key_value_field(r, field)?;
                }
                2 => dropped = r.varint_field(field)? as u32,
                _ => r.skip(field)?,
            }
            Ok(())
        })?;
        Ok((self.close_key_values(mark), dropped))
    }

    /// Reads a `ScopeSpans` in the owned decoder's two passes (scope and schema URL, then
    /// spans), so that an input with errors in both reports the same one.
    fn scope_spans(&mut self, r: Reader<'a>) -> Result<(), DecodeError> {
        let mut scope = ScopeRow::default();
        let mut schema_url = "";
        r.fields(SCOPE_SPANS, |r, field| {
            match field.number {
                1 => scope = self.scope(r.message_field(field)?)?,
                3 => schema_url = r.str_field(field)?,
                _ => r.skip(field)?,
            }
            Ok(())
        })?;
        let start = self.view.spans.len();
        r.fields(SCOPE_SPANS, |r, field| {
            match field.number {
                2 => self.span(r.message_field(field)?)?,
                _ => r.skip(field)?,
            }
            Ok(())
        })?;
        self.view.scope_spans.push(ScopeSpansRow {
            name: scope.name,
            version: scope.version,
            attributes: scope.attributes,
            dropped_attributes_count: scope.dropped_attributes_count,
            schema_url,
            spans: Rows {
                start,
                end: self.view.spans.len(),
            },
        });
        Ok(())
    }

    fn scope(&mut self, r: Reader<'a>) -> Result<ScopeRow<'a>, DecodeError> {
        let mark = self.open_key_values.len();
        let mut scope = ScopeRow::default();
        r.fields(SCOPE, |r, field| {
            match field.number {
                1 => scope.name = r.str_field(field)?,
                2 => scope.version = r.str_field(field)?,
                3 => self.key_value_field(r, field)?,
                4 => scope.dropped_attributes_count = r.varint_field(field)? as u32,
                _ => r.skip(field)?,
            }
            Ok(())
        })?;
        scope.attributes = self.close_key_values(mark);
        Ok(scope)
    }

    fn span(&mut self, r: Reader<'a>) -> Result<(), DecodeError> {
        let end_offset = r.offset() + r.remaining();
        let (mut trace_id, mut span_id, mut parent) = (RawId::default(), RawId::default(), None);
        let mark = self.open_key_values.len();
        let (events_start, links_start) = (self.view.events.len(), self.view.links.len());
        let mut row = SpanRow {
            trace_id: TraceId::INVALID,
            span_id: SpanId::INVALID,
            parent_span_id: SpanId::INVALID,
            flags: 0,
            trace_state: "",
            name: "",
            kind: SpanKind::Internal,
            start_time: Timestamp::UNIX_EPOCH,
            end_time: Timestamp::UNIX_EPOCH,
            attributes: Rows::default(),
            dropped_attributes_count: 0,
            events: Rows::default(),
            dropped_events_count: 0,
            links: Rows::default(),
            dropped_links_count: 0,
            status: StatusView::Unset,
        };
        r.fields(SPAN, |r, field| {
            match field.number {
                1 => trace_id = RawId::read(r, field)?,
                2 => span_id = RawId::read(r, field)?,
                3 => row.trace_state = trace_state(r, field)?,
                4 => parent = Some(RawId::read(r, field)?),
                5 => row.name = r.str_field(field)?,
                6 => {
                    let value = enum_value(r, field)?;
                    row.kind = span_kind(value).ok_or_else(|| {
                        DecodeError::new(DecodeErrorKind::UnknownEnumValue(value), field.offset)
                    })?;
                }
                7 => row.start_time = Timestamp::from_unix_nanos(r.fixed64_field(field)?),
                8 => row.end_time = Timestamp::from_unix_nanos(r.fixed64_field(field)?),
                9 => self.key_value_field(r, field)?,
                10 => row.dropped_attributes_count = r.varint_field(field)? as u32,
                11 => self.event(r.message_field(field)?)?,
                12 => row.dropped_events_count = r.varint_field(field)? as u32,
                13 => self.link(r.message_field(field)?)?,
                14 => row.dropped_links_count = r.varint_field(field)? as u32,
                15 => row.status = status(r.message_field(field)?)?,
                16 => row.flags = r.fixed32_field(field)?,
                _ => r.skip(field)?,
            }
            Ok(())
        })?;
        row.trace_id = trace_id
            .trace_id(end_offset)
            .map_err(|e| e.within(SPAN, Some(1)))?;
        row.span_id = span_id
            .span_id(end_offset)
            .map_err(|e| e.within(SPAN, Some(2)))?;
        // An empty or all-zero parent id means a root span; only other lengths are invalid.
        if let Some(parent) = parent.filter(|p| p.bytes.iter().any(|&b| b != 0)) {
            row.parent_span_id = parent
                .span_id(end_offset)
                .map_err(|e| e.within(SPAN, Some(4)))?;
        }
        row.attributes = self.close_key_values(mark);
        row.events = Rows {
            start: events_start,
            end: self.view.events.len(),
        };
        row.links = Rows {
            start: links_start,
            end: self.view.links.len(),
        };
        self.view.spans.push(row);
        Ok(())
    }

    fn event(&mut self, r: Reader<'a>) -> Result<(), DecodeError> {
        let mark = self.open_key_values.len();
        let mut row = EventRow {
            timestamp: Timestamp::UNIX_EPOCH,
            name: "",
            attributes: Rows::default(),
            dropped_attributes_count: 0,
        };
        r.fields(EVENT, |r, field| {
            match field.number {
                1 => row.timestamp = Timestamp::from_unix_nanos(r.fixed64_field(field)?),
                2 => row.name = r.str_field(field)?,
                3 => self.key_value_field(r, field)?,
                4 => row.dropped_attributes_count = r.varint_field(field)? as u32,
                _ => r.skip(field)?,
            }
            Ok(())
        })?;
        row.attributes = self.close_key_values(mark);
        self.view.events.push(row);
        Ok(())
    }

    fn link(&mut self, r: Reader<'a>) -> Result<(), DecodeError> {
        let end_offset = r.offset() + r.remaining();
        let (mut trace_id, mut span_id) = (RawId::default(), RawId::default());
        let mark = self.open_key_values.len();
        let mut trace_state_header = "";
        let mut dropped = 0;
        let mut flags = 0;
        r.fields(LINK, |r, field| {
            match field.number {
                1 => trace_id = RawId::read(r, field)?,
                2 => span_id = RawId::read(r, field)?,
                3 => trace_state_header = trace_state(r, field)?,
                4 => self.key_value_field(r, field)?,
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
        let attributes = self.close_key_values(mark);
        self.view.links.push(LinkRow {
            trace_id,
            span_id,
            trace_state: trace_state_header,
            flags,
            attributes,
            dropped_attributes_count: dropped,
        });
        Ok(())
    }

    /// Reads a repeated `KeyValue` field's next element onto the open list.
    #[inline]
    fn key_value_field(&mut self, r: &mut Reader<'a>, field: Field) -> Result<(), DecodeError> {
        let r = r.message_field(field)?;
        // The same fast path, under the same condition, as the owned decoder's.
        let row = match r.can_nest().then(|| key_value_fast(r.rest())).flatten() {
            Some(row) => row,
            None => self.key_value_fields(r)?,
        };
        self.open_key_values.push(row);
        Ok(())
    }

    fn key_value_fields(&mut self, r: Reader<'a>) -> Result<KeyValueRow<'a>, DecodeError> {
        let mut key = "";
        let mut value = ValueRow::Empty;
        r.fields(KEY_VALUE, |r, field| {
            match field.number {
                1 => key = r.str_field(field)?,
                2 => value = self.any_value(r.message_field(field)?)?,
                _ => r.skip(field)?,
            }
            Ok(())
        })?;
        Ok(KeyValueRow { key, value })
    }

    /// Reads an `AnyValue`: the last member present wins, unknown members are skipped.
    fn any_value(&mut self, r: Reader<'a>) -> Result<ValueRow<'a>, DecodeError> {
        let mut value = ValueRow::Empty;
        r.fields(ANY_VALUE, |r, field| {
            value = match field.number {
                1 => ValueRow::String(r.str_field(field)?),
                2 => ValueRow::Bool(r.varint_field(field)? != 0),
                // int64 on the wire is the two's complement as an unsigned varint.
                3 => ValueRow::I64(r.varint_field(field)? as i64),
                4 => ValueRow::F64(f64::from_bits(r.fixed64_field(field)?)),
                5 => {
                    let mark = self.open_values.len();
                    r.message_field(field)?.fields(ARRAY_VALUE, |r, field| {
                        match field.number {
                            1 => {
                                let element = self.any_value(r.message_field(field)?)?;
                                self.open_values.push(element);
                            }
                            _ => r.skip(field)?,
                        }
                        Ok(())
                    })?;
                    ValueRow::Array(self.close_values(mark))
                }
                6 => {
                    let mark = self.open_key_values.len();
                    r.message_field(field)?.fields(KEY_VALUE_LIST, |r, field| {
                        match field.number {
                            1 => self.key_value_field(r, field)?,
                            _ => r.skip(field)?,
                        }
                        Ok(())
                    })?;
                    ValueRow::Map(self.close_key_values(mark))
                }
                7 => ValueRow::Bytes(r.bytes_field(field)?),
                _ => {
                    r.skip(field)?;
                    return Ok(());
                }
            };
            Ok(())
        })?;
        Ok(value)
    }
}

/// An `InstrumentationScope` being read.
#[derive(Default)]
struct ScopeRow<'a> {
    name: &'a str,
    version: &'a str,
    attributes: Rows,
    dropped_attributes_count: u32,
}

/// A `trace_state` field, checked against the W3C grammar as the owned decoder checks it.
fn trace_state<'a>(r: &mut Reader<'a>, field: Field) -> Result<&'a str, DecodeError> {
    let header = r.str_field(field)?;
    if TraceState::parse(header).is_err() {
        return Err(DecodeError::new(
            DecodeErrorKind::InvalidTraceState,
            field.offset,
        ));
    }
    Ok(header)
}

/// A `Status`; unknown codes are errors, and the message is kept only for errors.
fn status<'a>(r: Reader<'a>) -> Result<StatusView<'a>, DecodeError> {
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
    Ok(match code.0 {
        0 => StatusView::Unset,
        1 => StatusView::Ok,
        2 => StatusView::Error {
            description: message,
        },
        other => {
            return Err(DecodeError::new(
                DecodeErrorKind::UnknownEnumValue(other),
                code.1.unwrap_or_default(),
            )
            .within(STATUS, Some(3)));
        }
    })
}

/// The owned decoder's fast path for a scalar `KeyValue` (`common::scalar_key_value`),
/// giving a borrowed row: `None` sends the pair to the field-by-field reader, which reports
/// errors.
#[inline]
fn key_value_fast(bytes: &[u8]) -> Option<KeyValueRow<'_>> {
    let (key, value) = scalar_key_value(bytes)?;
    let value = match value {
        ScalarValue::Empty => ValueRow::Empty,
        ScalarValue::String(s) => ValueRow::String(s),
        ScalarValue::Bool(b) => ValueRow::Bool(b),
        ScalarValue::I64(v) => ValueRow::I64(v),
        ScalarValue::F64(v) => ValueRow::F64(v),
    };
    Some(KeyValueRow { key, value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::trace::{read_request, write_traces_data};
    use crate::traces::sample_data;

    fn encode(data: &TracesData) -> Vec<u8> {
        let mut out = Vec::new();
        write_traces_data(&mut out, data);
        out
    }

    #[test]
    fn the_view_holds_every_field_of_the_sample() -> Result<(), DecodeError> {
        let data = sample_data();
        let bytes = encode(&data);
        let view = TracesView::decode(&bytes)?;
        assert_eq!(view.to_traces_data(), data);
        assert_eq!(view.span_count(), 2);

        let rs = view.resource_spans().next().expect("one resource");
        assert_eq!(rs.schema_url(), "https://opentelemetry.io/schemas/1.25.0");
        assert_eq!(rs.resource_dropped_attributes_count(), 7);
        let resource: Vec<_> = rs.resource_attributes().map(|kv| kv.key).collect();
        assert_eq!(resource, ["service.name"]);
        let ss = rs.scope_spans().next().expect("one scope");
        assert_eq!(
            (ss.scope_name(), ss.scope_version(), ss.schema_url()),
            ("lib", "1.0", "https://opentelemetry.io/schemas/1.26.0")
        );
        assert_eq!(ss.scope_dropped_attributes_count(), 2);
        assert!(matches!(
            ss.scope_attributes().next(),
            Some(KeyValueView {
                key: "scope.attr",
                value: ValueView::I64(1)
            })
        ));

        let span = ss.spans().next().expect("two spans");
        let expected = &data.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(span.trace_id(), expected.span_context.trace_id());
        assert_eq!(span.span_id(), expected.span_context.span_id());
        assert_eq!(span.trace_flags(), TraceFlags::SAMPLED);
        assert_eq!(span.trace_state(), "vendor=x,other=y");
        assert_eq!(span.parent_span_id(), expected.parent_span_id);
        assert!(span.parent_is_remote());
        assert_eq!(span.name(), "GET /users");
        assert_eq!(span.kind(), SpanKind::Server);
        assert_eq!(span.start_time(), expected.start_time);
        assert_eq!(span.end_time(), expected.end_time);
        assert_eq!(span.dropped_attributes_count(), 3);
        assert_eq!(span.dropped_events_count(), 4);
        assert_eq!(span.dropped_links_count(), 5);
        assert_eq!(
            span.status(),
            StatusView::Error {
                description: "boom"
            }
        );
        let keys: Vec<&str> = span.attributes().map(|kv| kv.key).collect();
        assert_eq!(
            keys,
            [
                "http.request.method",
                "http.response.status_code",
                "ratio",
                "ok",
                "raw",
                "nested"
            ]
        );
        let values: Vec<Value> = span.attributes().map(|kv| kv.value.to_value()).collect();
        let expected_values: Vec<Value> = expected
            .attributes
            .iter()
            .map(|kv| kv.value.clone())
            .collect();
        assert_eq!(values, expected_values);
        let Some(KeyValueView {
            value: ValueView::Map(mut nested),
            ..
        }) = span.attributes().last()
        else {
            panic!("the last attribute is a map");
        };
        let Some(KeyValueView {
            key: "list",
            value: ValueView::Array(list),
        }) = nested.next()
        else {
            panic!("the map holds a list");
        };
        assert!(matches!(
            list.collect::<Vec<_>>()[..],
            [ValueView::I64(-1), ValueView::Empty]
        ));

        let event = span.events().next().expect("one event");
        assert_eq!(
            (event.name(), event.dropped_attributes_count()),
            ("exception", 1)
        );
        assert_eq!(event.timestamp(), expected.events[0].timestamp);
        assert_eq!(event.attributes().len(), 1);
        let link = span.links().next().expect("one link");
        assert_eq!(link.span_id(), SpanId::from_int(0x3132_3334_3536_3738));
        assert_eq!(link.trace_id(), expected.span_context.trace_id());
        assert_eq!(link.trace_flags(), TraceFlags::from_bits(3));
        assert!(link.is_remote());
        assert_eq!(link.trace_state(), "vendor=x,other=y");
        assert_eq!(link.dropped_attributes_count(), 2);
        assert_eq!(link.attributes().next().map(|kv| kv.key), Some("link.kind"));
        Ok(())
    }

    #[test]
    fn truncation_at_every_byte_fails_as_the_owned_decoder_does() {
        let bytes = encode(&sample_data());
        for len in 0..bytes.len() {
            let owned = read_request(&bytes[..len]);
            let view = TracesView::decode(&bytes[..len]).map(|view| view.to_traces_data());
            assert_eq!(view, owned, "prefix of {len} bytes");
        }
    }

    #[test]
    fn nested_lists_stay_contiguous_when_fields_interleave() -> Result<(), DecodeError> {
        // Span attributes around an event and a map-valued attribute, written in an order no
        // encoder of ours uses: each list must still come back whole and in order.
        use super::super::wire::{LEN, Writer, key};
        let kv = |w: &mut Writer<'_>, field: u32, name: &str, int: u8| {
            let nested = w.begin(key(field, LEN), 1);
            w.bytes_field(key(1, LEN), name.as_bytes());
            w.bytes_always(key(2, LEN), &[0x18, int]);
            w.end(nested);
        };
        let mut span = Vec::new();
        let w = &mut Writer::new(&mut span);
        w.bytes_always(key(1, LEN), &[1; 16]);
        kv(w, 9, "a", 1);
        let event = w.begin(key(11, LEN), 1);
        kv(w, 3, "e1", 2);
        kv(w, 3, "e2", 3);
        w.end(event);
        let map_kv = w.begin(key(9, LEN), 1);
        w.bytes_field(key(1, LEN), b"m");
        let value = w.begin(key(2, LEN), 1);
        let list = w.begin(key(6, LEN), 1);
        kv(w, 1, "m1", 4);
        kv(w, 1, "m2", 5);
        w.end(list);
        w.end(value);
        w.end(map_kv);
        kv(w, 9, "b", 6);
        w.bytes_always(key(2, LEN), &[2; 8]);
        let mut request = Vec::new();
        let w = &mut Writer::new(&mut request);
        let rs = w.begin(key(1, LEN), 1);
        let ss = w.begin(key(2, LEN), 1);
        w.bytes_always(key(2, LEN), &span);
        w.end(ss);
        w.end(rs);

        let view = TracesView::decode(&request)?;
        assert_eq!(
            view.to_traces_data(),
            read_request(&request)?,
            "same as the owned decoder"
        );
        let span = view
            .resource_spans()
            .flat_map(|rs| rs.scope_spans())
            .flat_map(|ss| ss.spans())
            .next()
            .expect("one span");
        let keys: Vec<&str> = span.attributes().map(|kv| kv.key).collect();
        assert_eq!(keys, ["a", "m", "b"]);
        let event_keys: Vec<&str> = span
            .events()
            .flat_map(|event| event.attributes())
            .map(|kv| kv.key)
            .collect();
        assert_eq!(event_keys, ["e1", "e2"]);
        let Some(ValueView::Map(pairs)) = span.attributes().nth(1).map(|kv| kv.value) else {
            panic!("the second attribute is a map");
        };
        let pairs: Vec<(&str, Value)> = pairs.map(|kv| (kv.key, kv.value.to_value())).collect();
        assert_eq!(pairs, [("m1", Value::I64(4)), ("m2", Value::I64(5))]);
        Ok(())
    }

    #[test]
    fn invalid_input_gives_the_owned_decoders_errors() {
        let cases: &[(&str, &[u8])] = &[
            ("truncated varint", &[0x08]),
            ("wire type 7", &[0x0f]),
            ("span without ids", &[0x0a, 0x04, 0x12, 0x02, 0x12, 0x00]),
            ("invalid UTF-8 schema URL", &[0x0a, 0x03, 0x1a, 0x01, 0xff]),
            (
                "unknown status code",
                &[
                    0x0a, 0x24, 0x12, 0x22, 0x12, 0x20, 0x0a, 0x10, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                    1, 1, 1, 1, 1, 1, 0x12, 0x08, 2, 2, 2, 2, 2, 2, 2, 2, 0x7a, 0x02, 0x18, 0x07,
                ],
            ),
            (
                "invalid trace state",
                &[
                    0x0a, 0x09, 0x12, 0x07, 0x12, 0x05, 0x1a, 0x03, b'A', b'=', b'1',
                ],
            ),
            ("lone end group", &[0x0c]),
        ];
        for (name, bytes) in cases {
            let owned = read_request(bytes).expect_err(name);
            let view = TracesView::decode(bytes).expect_err(name);
            assert_eq!(view, owned, "{name}");
        }
    }

    /// A request of one span with valid ids followed by `fields`.
    fn request_with_span_fields(fields: &[u8]) -> Vec<u8> {
        use super::super::wire::{LEN, Writer, key};
        let mut span = Vec::new();
        let w = &mut Writer::new(&mut span);
        w.bytes_always(key(1, LEN), &[1; 16]);
        w.bytes_always(key(2, LEN), &[2; 8]);
        span.extend_from_slice(fields);
        let mut request = Vec::new();
        let w = &mut Writer::new(&mut request);
        let rs = w.begin(key(1, LEN), 1);
        let ss = w.begin(key(2, LEN), 1);
        w.bytes_always(key(2, LEN), &span);
        w.end(ss);
        w.end(rs);
        request
    }

    #[test]
    fn invalid_utf8_in_attributes_gives_the_owned_decoders_errors() {
        // Attribute 9 holding a KeyValue: each case takes the fast path's layout, so the
        // one UTF-8 check over key and value must still fail, at the same place.
        let cases: &[(&str, &[u8])] = &[
            (
                "key",
                &[0x4a, 0x08, 0x0a, 0x01, 0xff, 0x12, 0x03, 0x0a, 0x01, b'v'],
            ),
            (
                "string value",
                &[0x4a, 0x08, 0x0a, 0x01, b'k', 0x12, 0x03, 0x0a, 0x01, 0xff],
            ),
            (
                "split sequence",
                &[
                    0x4a, 0x09, 0x0a, 0x01, 0xc3, 0x12, 0x04, 0x0a, 0x02, 0xa9, b'v',
                ],
            ),
            (
                "continuation opening the value",
                &[
                    0x4a, 0x09, 0x0a, 0x02, 0xc3, 0xa9, 0x12, 0x03, 0x0a, 0x01, 0xa9,
                ],
            ),
        ];
        for (name, fields) in cases {
            let request = request_with_span_fields(fields);
            let owned = read_request(&request).expect_err(name);
            assert_eq!(owned.kind(), DecodeErrorKind::InvalidUtf8, "{name}");
            assert_eq!(
                TracesView::decode(&request).expect_err(name),
                owned,
                "{name}"
            );
        }
        // Multi-byte characters on both sides of the framing bytes are fine.
        let fields = [
            0x4a, 0x0b, 0x0a, 0x02, 0xc3, 0xa9, 0x12, 0x05, 0x0a, 0x03, 0xe2, 0x82, 0xac,
        ];
        let request = request_with_span_fields(&fields);
        let view = TracesView::decode(&request).map(|view| view.to_traces_data());
        assert_eq!(view, read_request(&request));
        let attributes = view.map(|data| {
            data.resource_spans[0].scope_spans[0].spans[0]
                .attributes
                .clone()
        });
        assert_eq!(attributes, Ok(vec![KeyValue::new("é", "€")]));
    }

    #[test]
    fn too_many_resource_attributes_is_an_error() {
        use super::super::wire::{LEN, Writer, key};
        let mut request = Vec::new();
        let w = &mut Writer::new(&mut request);
        let rs = w.begin(key(1, LEN), 3);
        let resource = w.begin(key(1, LEN), 3);
        for _ in 0..=MAX_RESOURCE_ATTRIBUTES {
            w.bytes_always(key(1, LEN), &[]);
        }
        w.end(resource);
        w.end(rs);
        let error = TracesView::decode(&request).expect_err("too many");
        assert_eq!(error.kind(), DecodeErrorKind::TooManyAttributes);
        assert_eq!(Err(error), read_request(&request));
    }

    #[test]
    fn debug_shows_the_content() -> Result<(), DecodeError> {
        let bytes = encode(&sample_data());
        let view = TracesView::decode(&bytes)?;
        let text = format!("{view:?}");
        assert!(text.contains("GET /users"), "{text}");
        assert!(text.contains("exception.message"), "{text}");
        Ok(())
    }
}
