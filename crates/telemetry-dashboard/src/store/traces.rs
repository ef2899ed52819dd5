//! Spans grouped into traces, with the indexes the trace search uses.
//!
//! Spans may arrive in any order and in several batches: a trace's start, end, root, service
//! list and error count are updated span by span. Indexes: trace id (hash map); trace start
//! time (ordered set, which gives newest-first listing and stable cursors), and the same per
//! service and for traces with errors, so a search by service or status walks only those;
//! per-service and per-(service, span name) counts of stored spans (the service list and its
//! operations); per-trace summaries (services, error count, duration) that the search
//! checks before it looks at spans; and, for attribute values and span names, a 64-bit
//! signature per span (a one-word Bloom filter of its name and its attributes' keys and
//! rendered values) and per trace (the union of its spans' and their resources'), so a
//! filter skips most traces, and nearly every span that lacks the pair, with one AND each;
//! only the rest are compared exactly. Eviction is by trace, oldest first by the arrival of
//! the trace's first span.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::mem::size_of;
use std::sync::Arc;

use memchr::memmem::Finder;

use serde_json::{Value as Json, json};
use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, Resource, SpanId, StringValue, Timestamp, TraceId};
use telemetry_otlp::{
    ResourceSpans, ScopeSpans, TracesData, decode_span_detail, encode_span_detail,
    span_detail_attribute_matches,
};
use telemetry_span::{SpanData, SpanKind, Status};

use super::hash::IdHash;
use super::json as j;
use super::signature::{NAME_KEY, attribute_bits, attribute_signature};

/// The most traces one search looks at.
pub(crate) const MAX_SCAN: usize = 200_000;
/// The largest number of trace-change entries the live journal keeps.
const JOURNAL_CAP: usize = 8192;
/// Bytes charged for a trace beyond its spans: the map entry, its arrival and journal
/// entries, and its keys in the time, service and error indexes (with B-tree node slack).
pub(crate) const TRACE_OVERHEAD: usize =
    size_of::<Trace>() + size_of::<TraceId>() + 6 * size_of::<(u64, TraceId)>() + 16;

/// What the spans of one resource share: the resource and its service name.
#[derive(Debug)]
pub(crate) struct SpanSource {
    resource: Resource,
    /// `service.name` of the resource, or `unknown_service`.
    service: StringValue,
    /// The [`attribute_signature`] of the resource's attributes.
    attribute_bits: u64,
}

impl SpanSource {
    pub(crate) fn new(resource: Resource, service: StringValue) -> SpanSource {
        let attribute_bits = attribute_signature(resource.attributes(), &mut Vec::new());
        SpanSource {
            resource,
            service,
            attribute_bits,
        }
    }

    /// Bytes a source costs, to be spread over the spans that share it.
    pub(crate) fn bytes(&self) -> usize {
        // The `Arc`'s two counts, the source inline, and what the resource holds.
        2 * size_of::<usize>() + size_of::<SpanSource>() + super::size::resource(&self.resource)
    }
}

/// One stored span, compact: what the indexes and listings read is kept as fields, the rest
/// (attributes, events, links, status description, trace state) as the protobuf bytes of
/// the OTLP `Span` fields that hold them (`telemetry_otlp::encode_span_detail`), decoded
/// when a query reads the span.
///
/// This is what keeps a stored span near its size on the wire: the decoded form holds
/// every attribute as a 56-byte `KeyValue` with its strings on the heap, three times the
/// protobuf bytes of a typical span (docs/performance.md, *Memory*).
#[derive(Debug)]
pub(crate) struct StoredSpan {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    parent_span_id: SpanId,
    start_time: u64,
    end_time: u64,
    pub(crate) name: StringValue,
    scope: InstrumentationScope,
    source: Arc<SpanSource>,
    detail: Box<[u8]>,
    /// The [`attribute_signature`] of its attributes, with its name's bits (under
    /// [`NAME_KEY`]) added.
    attribute_bits: u64,
    /// Its estimated size (inline and heap), which the batch limit counts; the trace charges
    /// the inline part through its vector's capacity.
    pub(crate) bytes: usize,
    kind: SpanKind,
    error: bool,
    flags: TraceFlags,
    parent_is_remote: bool,
}

impl StoredSpan {
    /// Stores a decoded span from `source`; `source_share` is this span's part of the
    /// source's size. `scratch` is a buffer reused between spans.
    pub(crate) fn new(
        data: SpanData,
        source: Arc<SpanSource>,
        source_share: usize,
        scratch: &mut Vec<u8>,
    ) -> StoredSpan {
        let attribute_bits = attribute_signature(&data.attributes, scratch)
            | attribute_bits(NAME_KEY, data.name.as_str().as_bytes());
        scratch.clear();
        encode_span_detail(&data, scratch);
        let detail: Box<[u8]> = Box::from(scratch.as_slice());
        let bytes =
            size_of::<StoredSpan>() + detail.len() + super::size::string(&data.name) + source_share;
        let context = &data.span_context;
        StoredSpan {
            trace_id: context.trace_id(),
            span_id: context.span_id(),
            parent_span_id: data.parent_span_id,
            start_time: data.start_time.as_unix_nanos(),
            end_time: data.end_time.as_unix_nanos(),
            name: data.name,
            scope: data.scope,
            source,
            detail,
            attribute_bits,
            bytes,
            kind: data.kind,
            error: matches!(data.status, Status::Error { .. }),
            flags: context.flags(),
            parent_is_remote: data.parent_is_remote,
        }
    }

    /// The span as it was decoded.
    ///
    /// The detail is bytes this store encoded itself, so reading it back cannot fail unless
    /// the encoder and decoder disagree, which the codec's tests rule out; should it happen
    /// anyway, the span keeps its identity, times and name and loses the detail, which is
    /// better for a viewer than losing the span.
    pub(crate) fn data(&self) -> SpanData {
        let mut data = SpanData {
            span_context: SpanContext::new(
                self.trace_id,
                self.span_id,
                self.flags,
                false,
                TraceState::EMPTY,
            ),
            parent_span_id: self.parent_span_id,
            parent_is_remote: self.parent_is_remote,
            name: self.name.clone(),
            kind: self.kind,
            start_time: Timestamp::from_unix_nanos(self.start_time),
            end_time: Timestamp::from_unix_nanos(self.end_time),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: Status::Unset,
            scope: self.scope.clone(),
        };
        let decoded = decode_span_detail(&self.detail, &mut data);
        debug_assert!(
            decoded.is_ok(),
            "a stored span detail fails to decode: {decoded:?}"
        );
        data
    }

    /// Whether the span has the attribute `filter` asks for.
    ///
    /// A span whose detail lacks the key's bytes cannot have it, nor a value that renders as
    /// the expected text without the bytes [`value_needles`] lists: those checks are SIMD
    /// substring searches, far cheaper than walking the detail field by field.
    fn has_attribute(&self, filter: &AttributeFilter<'_>) -> bool {
        if self.attribute_bits & filter.bits != filter.bits
            || filter.key_bytes.find(&self.detail).is_none()
            || filter.value_bytes.as_ref().is_some_and(|needles| {
                !needles
                    .iter()
                    .any(|needle| needle.find(&self.detail).is_some())
            })
        {
            return false;
        }
        span_detail_attribute_matches(&self.detail, filter.key, |value| {
            j::value_equals(value, filter.expected)
        })
        .unwrap_or(false)
    }

    pub(crate) fn service(&self) -> &StringValue {
        &self.source.service
    }

    pub(crate) fn resource(&self) -> &Resource {
        &self.source.resource
    }

    fn start(&self) -> u64 {
        self.start_time
    }

    fn end(&self) -> u64 {
        self.end_time.max(self.start())
    }

    fn is_error(&self) -> bool {
        self.error
    }

    fn is_root(&self) -> bool {
        !self.parent_span_id.is_valid()
    }
}

/// One attribute equality of a search, with its substring searchers built once.
pub(crate) struct AttributeFilter<'q> {
    key: &'q str,
    expected: &'q str,
    /// The pair's [`attribute_bits`].
    bits: u64,
    key_bytes: Finder<'q>,
    /// Byte strings of which a span's detail holds at least one when one of its values
    /// renders as `expected`; `None` when that cannot be told from bytes.
    value_bytes: Option<Vec<Finder<'static>>>,
}

impl<'q> AttributeFilter<'q> {
    pub(crate) fn new(key: &'q str, expected: &'q str) -> Self {
        AttributeFilter {
            key,
            expected,
            bits: attribute_bits(key, expected.as_bytes()),
            key_bytes: Finder::new(key),
            value_bytes: value_needles(expected).map(|needles| {
                needles
                    .iter()
                    .map(|needle| Finder::new(needle).into_owned())
                    .collect()
            }),
        }
    }
}

/// What the protobuf of an `AnyValue` that renders as `text` (see `Value`'s `Display`)
/// must contain: the string's bytes; for a number, the tag and varint of an `int_value` or
/// the tag and eight bytes of a `double_value`; for `true`/`false`, the tag and byte of a
/// `bool_value`; for even-length hex, the bytes of a `bytes_value`. `None` when the text
/// could also be an empty value, an array, a map or a NaN, whose bytes it does not fix.
fn value_needles(text: &str) -> Option<Vec<Vec<u8>>> {
    if text.is_empty() || text.starts_with('[') || text.starts_with('{') {
        return None;
    }
    let mut needles = vec![text.as_bytes().to_vec()];
    if let Ok(int) = text.parse::<i64>() {
        let mut needle = vec![0x18];
        let mut rest = int as u64;
        while rest >= 0x80 {
            needle.push((rest as u8) | 0x80);
            rest >>= 7;
        }
        needle.push(rest as u8);
        needles.push(needle);
    }
    if let Ok(double) = text.parse::<f64>() {
        if double.is_nan() {
            return None;
        }
        let mut needle = vec![0x21];
        needle.extend_from_slice(&double.to_bits().to_le_bytes());
        needles.push(needle);
    }
    match text {
        "true" => needles.push(vec![0x10, 0x01]),
        "false" => needles.push(vec![0x10, 0x00]),
        _ => {}
    }
    if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes = (0..text.len())
            .step_by(2)
            .filter_map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect();
        needles.push(bytes);
    }
    Some(needles)
}

/// A trace: its spans in arrival order and a summary kept up to date on every insert.
#[derive(Debug)]
pub(crate) struct Trace {
    pub(crate) id: TraceId,
    pub(crate) spans: Vec<StoredSpan>,
    /// Arrival sequence of the first span, the eviction order.
    arrival: u64,
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// Index of the root span (no parent) in `spans`, once it has arrived.
    pub(crate) root: Option<usize>,
    pub(crate) services: Vec<StringValue>,
    /// Spans per service, in the order of `services`.
    service_spans: Vec<u32>,
    pub(crate) errors: u32,
    pub(crate) bytes: usize,
    /// The union of its spans' and their resources' signatures: a filter pair missing a bit
    /// here is on none of its spans, which the search then skips without reading them.
    attribute_bits: u64,
}

impl Trace {
    pub(crate) fn duration(&self) -> u64 {
        self.end - self.start
    }

    /// The span named in listings: the root, or else the earliest span so far.
    fn head(&self) -> Option<&StoredSpan> {
        match self.root {
            Some(root) => self.spans.get(root),
            None => self.spans.iter().min_by_key(|span| span.start()),
        }
    }

    pub(crate) fn summary(&self) -> Json {
        let head = self.head();
        json!({
            "traceId": self.id.to_string(),
            "rootService": head.map(|span| span.service().as_str()),
            "rootName": head.map(|span| span.name.as_str()),
            "hasRoot": self.root.is_some(),
            "startTimeUnixNano": j::nanos(self.start),
            "startMs": j::millis(self.start),
            "durationNanos": j::nanos(self.duration()),
            "durationMs": j::millis(self.duration()),
            "spanCount": self.spans.len(),
            "errorCount": self.errors,
            "services": self.services.iter().map(StringValue::as_str).collect::<Vec<_>>(),
            "spansByService": self
                .services
                .iter()
                .zip(&self.service_spans)
                .map(|(service, &spans)| (service.as_str().to_owned(), json!(spans)))
                .collect::<serde_json::Map<String, Json>>(),
        })
    }

    /// The whole trace: summary and every span with events, links, resource and scope.
    pub(crate) fn detail(&self) -> Json {
        let mut spans: Vec<&StoredSpan> = self.spans.iter().collect();
        spans.sort_by_key(|span| (span.start(), span.span_id));
        let mut out = self.summary();
        out["spans"] = Json::Array(spans.into_iter().map(span_json).collect());
        out
    }

    /// Adds a span; returns the bytes it costs, counting the growth of the span vector's
    /// capacity rather than the span's inline size, so the charge follows the allocation.
    fn add(&mut self, span: StoredSpan) -> usize {
        if self.spans.is_empty() {
            self.start = span.start();
            self.end = span.end();
        } else {
            self.start = self.start.min(span.start());
            self.end = self.end.max(span.end());
        }
        match self.services.iter().position(|s| s == span.service()) {
            Some(i) => {
                if let Some(spans) = self.service_spans.get_mut(i) {
                    *spans = spans.saturating_add(1);
                }
            }
            None => {
                self.services.push(span.service().clone());
                self.service_spans.push(1);
            }
        }
        self.errors += u32::from(span.is_error());
        self.attribute_bits |= span.attribute_bits | span.source.attribute_bits;
        if span.is_root() {
            let earlier = self
                .root
                .and_then(|root| self.spans.get(root))
                .is_some_and(|root| root.start() <= span.start());
            if !earlier {
                self.root = Some(self.spans.len());
            }
        }
        let capacity = self.spans.capacity();
        if capacity == 0 {
            // Most traces are small: start at one span, not the default four.
            self.spans.reserve_exact(1);
        }
        let heap = span.bytes.saturating_sub(size_of::<StoredSpan>());
        self.spans.push(span);
        let charged = heap + (self.spans.capacity() - capacity) * size_of::<StoredSpan>();
        self.bytes += charged;
        charged
    }
}

fn kind_name(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}

fn span_json(span: &StoredSpan) -> Json {
    let data = &span.data();
    let parent = data.parent_span_id;
    let (code, message) = match &data.status {
        Status::Unset => ("unset", ""),
        Status::Ok => ("ok", ""),
        Status::Error { description } => ("error", description.as_str()),
    };
    json!({
        "traceId": data.span_context.trace_id().to_string(),
        "spanId": data.span_context.span_id().to_string(),
        "parentSpanId": parent.is_valid().then(|| parent.to_string()),
        "parentIsRemote": data.parent_is_remote,
        "name": data.name.as_str(),
        "kind": kind_name(data.kind),
        "service": span.service().as_str(),
        "startTimeUnixNano": j::nanos(span.start()),
        "endTimeUnixNano": j::nanos(span.end()),
        "startMs": j::millis(span.start()),
        "durationMs": j::millis(span.end() - span.start()),
        "status": {"code": code, "message": message},
        "attributes": j::attributes(&data.attributes),
        "droppedAttributesCount": data.dropped_attributes_count,
        "events": data.events.iter().map(|event| json!({
            "name": event.name.as_str(),
            "timeUnixNano": j::nanos(event.timestamp.as_unix_nanos()),
            "attributes": j::attributes(&event.attributes),
        })).collect::<Vec<_>>(),
        "droppedEventsCount": data.dropped_events_count,
        "links": data.links.iter().map(|link| json!({
            "traceId": link.span_context.trace_id().to_string(),
            "spanId": link.span_context.span_id().to_string(),
            "attributes": j::attributes(&link.attributes),
        })).collect::<Vec<_>>(),
        "droppedLinksCount": data.dropped_links_count,
        "resource": j::resource(span.resource()),
        "scope": j::scope(&data.scope),
    })
}

/// Which traces a search wants.
#[derive(Debug, Default)]
pub(crate) struct TraceQuery {
    pub(crate) service: Option<String>,
    pub(crate) span_name: Option<String>,
    pub(crate) min_duration: Option<u64>,
    pub(crate) max_duration: Option<u64>,
    /// `Some(true)`: traces with an error span; `Some(false)`: traces without.
    pub(crate) error: Option<bool>,
    /// Equality on span or resource attributes, rendered as strings.
    pub(crate) attributes: Vec<(String, String)>,
    /// Trace start time bounds, unix nanoseconds, inclusive.
    pub(crate) start: Option<u64>,
    pub(crate) end: Option<u64>,
    pub(crate) limit: usize,
    /// Only traces ordered after this key (start time, trace id), newest first.
    pub(crate) cursor: Option<(u64, TraceId)>,
}

impl TraceQuery {
    /// Whether `trace` matches; `attributes` are this query's attribute filters, built once
    /// per search.
    /// `name_bits` are the signature bits of `span_name` (zero without one).
    fn matches(&self, trace: &Trace, attributes: &[AttributeFilter<'_>], name_bits: u64) -> bool {
        if let Some(service) = &self.service
            && !trace.services.iter().any(|s| s.as_str() == service)
        {
            return false;
        }
        if self.min_duration.is_some_and(|min| trace.duration() < min)
            || self.max_duration.is_some_and(|max| trace.duration() > max)
            || self.error.is_some_and(|error| error != (trace.errors > 0))
        {
            return false;
        }
        // One AND per filter rules out most traces before their spans are read.
        if trace.attribute_bits & name_bits != name_bits
            || attributes
                .iter()
                .any(|filter| trace.attribute_bits & filter.bits != filter.bits)
        {
            return false;
        }
        if let Some(name) = &self.span_name
            && !trace.spans.iter().any(|span| {
                span.attribute_bits & name_bits == name_bits
                    && span.name.as_str() == name
                    && self
                        .service
                        .as_ref()
                        .is_none_or(|s| span.service().as_str() == s)
            })
        {
            return false;
        }
        attributes.iter().all(|filter| {
            trace.spans.iter().any(|span| {
                span.has_attribute(filter)
                    || (span.source.attribute_bits & filter.bits == filter.bits
                        && j::attribute_matches(
                            span.resource().attributes(),
                            filter.key,
                            filter.expected,
                        ))
            })
        })
    }
}

/// Stored spans of one service, and per span name.
#[derive(Debug, Default)]
pub(crate) struct ServiceStats {
    pub(crate) spans: u64,
    pub(crate) operations: HashMap<StringValue, u64>,
}

/// The traces of the store.
#[derive(Debug)]
pub(crate) struct TraceStore {
    /// Keyed by trace id with [`IdHash`], whose docs say why that is safe for network ids.
    pub(crate) traces: HashMap<TraceId, Trace, IdHash>,
    by_time: BTreeSet<(u64, TraceId)>,
    /// The keys of `by_time` per service of the trace.
    by_service: HashMap<StringValue, BTreeSet<(u64, TraceId)>>,
    /// The keys of `by_time` of the traces with an error span.
    errors: BTreeSet<(u64, TraceId)>,
    arrival: VecDeque<(u64, TraceId)>,
    next_arrival: u64,
    pub(crate) services: HashMap<StringValue, ServiceStats>,
    journal: VecDeque<(u64, TraceId)>,
    journal_trimmed: u64,
    pub(crate) budget: usize,
    pub(crate) used: usize,
    /// Bytes of the traces' share taken by what is derived from spans (the live RED
    /// windows): traces are evicted to keep `used` within `budget - reserved`.
    pub(crate) reserved: usize,
    pub(crate) spans: u64,
    pub(crate) evicted_traces: u64,
    pub(crate) evicted_spans: u64,
    pub(crate) dropped_spans: u64,
    max_spans_per_trace: usize,
}

impl TraceStore {
    pub(crate) fn new(budget: usize, max_spans_per_trace: usize) -> TraceStore {
        TraceStore {
            traces: HashMap::with_hasher(IdHash::new()),
            by_time: BTreeSet::new(),
            by_service: HashMap::new(),
            errors: BTreeSet::new(),
            arrival: VecDeque::new(),
            next_arrival: 0,
            services: HashMap::new(),
            journal: VecDeque::new(),
            journal_trimmed: 0,
            budget,
            used: 0,
            reserved: 0,
            spans: 0,
            evicted_traces: 0,
            evicted_spans: 0,
            dropped_spans: 0,
            max_spans_per_trace,
        }
    }

    /// Stores spans at live `position`, then evicts the oldest traces until usage is within
    /// the budget. Returns how many spans were refused (trace span cap).
    pub(crate) fn insert(&mut self, spans: Vec<StoredSpan>, position: u64) -> u64 {
        let mut refused = 0;
        let mut touched: HashSet<TraceId, IdHash> =
            HashSet::with_hasher(self.traces.hasher().clone());
        for span in spans {
            let id = span.trace_id;
            // One hash and probe per span: the entry serves both the lookup and the insert.
            let trace = match self.traces.entry(id) {
                Entry::Occupied(entry) => {
                    if entry.get().spans.len() >= self.max_spans_per_trace {
                        refused += 1;
                        continue;
                    }
                    entry.into_mut()
                }
                Entry::Vacant(entry) => {
                    self.arrival.push_back((self.next_arrival, id));
                    self.used += TRACE_OVERHEAD;
                    let trace = Trace {
                        id,
                        spans: Vec::new(),
                        arrival: self.next_arrival,
                        start: 0,
                        end: 0,
                        root: None,
                        services: Vec::new(),
                        service_spans: Vec::new(),
                        errors: 0,
                        bytes: TRACE_OVERHEAD,
                        attribute_bits: 0,
                    };
                    self.next_arrival += 1;
                    entry.insert(trace)
                }
            };
            let old_key = (!trace.spans.is_empty()).then_some((trace.start, id));
            let (old_services, old_errors) = (trace.services.len(), trace.errors);
            count_span(&mut self.services, &span);
            self.spans += 1;
            self.used += trace.add(span);
            let key = (trace.start, id);
            if old_key == Some(key) {
                // Same start: only a new service or a first error adds index entries.
                for service in &trace.services[old_services..] {
                    index_insert(&mut self.by_service, service, key);
                }
                if old_errors == 0 && trace.errors > 0 {
                    self.errors.insert(key);
                }
            } else {
                if let Some(old_key) = old_key {
                    self.by_time.remove(&old_key);
                    for service in &trace.services[..old_services] {
                        if let Some(set) = self.by_service.get_mut(service) {
                            set.remove(&old_key);
                        }
                    }
                    self.errors.remove(&old_key);
                }
                self.by_time.insert(key);
                for service in &trace.services {
                    index_insert(&mut self.by_service, service, key);
                }
                if trace.errors > 0 {
                    self.errors.insert(key);
                }
            }
            if touched.insert(id) {
                self.journal.push_back((position, id));
            }
        }
        while self.journal.len() > JOURNAL_CAP {
            if let Some((dropped, _)) = self.journal.pop_front() {
                self.journal_trimmed = self.journal_trimmed.max(dropped);
            }
        }
        self.dropped_spans += refused;
        self.evict();
        refused
    }

    fn evict(&mut self) {
        while self.used > self.budget.saturating_sub(self.reserved) {
            let Some((arrival, id)) = self.arrival.pop_front() else {
                break;
            };
            let Some(trace) = self.traces.get(&id) else {
                continue;
            };
            if trace.arrival != arrival {
                continue;
            }
            if let Some(trace) = self.traces.remove(&id) {
                let key = (trace.start, id);
                self.by_time.remove(&key);
                self.errors.remove(&key);
                for service in &trace.services {
                    if let Some(set) = self.by_service.get_mut(service) {
                        set.remove(&key);
                        if set.is_empty() {
                            self.by_service.remove(service);
                        }
                    }
                }
                self.used = self.used.saturating_sub(trace.bytes);
                self.spans -= trace.spans.len() as u64;
                self.evicted_traces += 1;
                self.evicted_spans += trace.spans.len() as u64;
                for span in &trace.spans {
                    self.forget_span_stats(span);
                }
            }
        }
    }

    fn forget_span_stats(&mut self, span: &StoredSpan) {
        let Some(stats) = self.services.get_mut(span.service()) else {
            return;
        };
        stats.spans = stats.spans.saturating_sub(1);
        if let Some(count) = stats.operations.get_mut(&span.name) {
            *count -= 1;
            if *count == 0 {
                stats.operations.remove(&span.name);
            }
        }
        if stats.spans == 0 {
            self.services.remove(span.service());
        }
    }

    /// Traces matching `query`, newest start first, and the cursor of the next page. A search
    /// looks at most [`MAX_SCAN`] traces, so the lock is held for a bounded time; when it
    /// stops there, the cursor continues after the last trace it looked at.
    pub(crate) fn search(&self, query: &TraceQuery) -> (Vec<Json>, Option<(u64, TraceId)>) {
        let low = (query.start.unwrap_or(0), TraceId::INVALID);
        let mut high = (query.end.unwrap_or(u64::MAX), TraceId::from_int(u128::MAX));
        if let Some(cursor) = query.cursor {
            if cursor <= low {
                return (Vec::new(), None);
            }
            high = high.min(cursor);
        }
        if high < low {
            return (Vec::new(), None);
        }
        // Walk the smallest index that the query narrows to; `matches` checks the rest.
        let index = if query.error == Some(true) {
            &self.errors
        } else if let Some(service) = &query.service {
            match self.by_service.get(service.as_str()) {
                Some(index) => index,
                None => return (Vec::new(), None),
            }
        } else {
            &self.by_time
        };
        let attributes: Vec<AttributeFilter<'_>> = query
            .attributes
            .iter()
            .map(|(key, value)| AttributeFilter::new(key, value))
            .collect();
        let name_bits = query
            .span_name
            .as_ref()
            .map_or(0, |name| attribute_bits(NAME_KEY, name.as_bytes()));
        let mut found = Vec::new();
        for (scanned, key) in index.range(low..=high).rev().enumerate() {
            if Some(*key) == query.cursor {
                continue;
            }
            if scanned >= MAX_SCAN {
                return (found, Some(*key));
            }
            let Some(trace) = self.traces.get(&key.1) else {
                continue;
            };
            if query.matches(trace, &attributes, name_bits) {
                found.push(trace.summary());
                if found.len() >= query.limit {
                    return (found, Some(*key));
                }
            }
        }
        (found, None)
    }

    /// Summaries of the traces changed after live position `since`, newest change first, at
    /// most `cap`; and whether some were left out.
    pub(crate) fn changed_since(&self, since: u64, upto: u64, cap: usize) -> (Vec<Json>, bool) {
        let mut truncated = self.journal_trimmed > since;
        let mut seen = HashSet::with_hasher(self.traces.hasher().clone());
        let mut out = Vec::new();
        for (position, id) in self.journal.iter().rev() {
            if *position <= since {
                break;
            }
            if *position > upto || !seen.insert(*id) {
                continue;
            }
            let Some(trace) = self.traces.get(id) else {
                continue;
            };
            if out.len() >= cap {
                truncated = true;
                break;
            }
            out.push(trace.summary());
        }
        (out, truncated)
    }

    /// The spans of the traces whose start is in `[start, end]`, for export.
    pub(crate) fn spans_between(&self, start: u64, end: u64) -> Vec<&StoredSpan> {
        if end < start {
            return Vec::new();
        }
        self.by_time
            .range((start, TraceId::INVALID)..=(end, TraceId::from_int(u128::MAX)))
            .filter_map(|(_, id)| self.traces.get(id))
            .flat_map(|trace| trace.spans.iter())
            .collect()
    }
}

/// Adds `key` to the index of `service`, cloning the name only for a new service.
fn index_insert(
    index: &mut HashMap<StringValue, BTreeSet<(u64, TraceId)>>,
    service: &StringValue,
    key: (u64, TraceId),
) {
    match index.get_mut(service) {
        Some(set) => {
            set.insert(key);
        }
        None => {
            index.insert(service.clone(), BTreeSet::from([key]));
        }
    }
}

/// Counts a span in its service's figures; looks up before inserting so the common case
/// clones no name.
fn count_span(services: &mut HashMap<StringValue, ServiceStats>, span: &StoredSpan) {
    let stats = match services.get_mut(span.service()) {
        Some(stats) => stats,
        None => services.entry(span.service().clone()).or_default(),
    };
    stats.spans += 1;
    match stats.operations.get_mut(&span.name) {
        Some(count) => *count += 1,
        None => {
            stats.operations.insert(span.name.clone(), 1);
        }
    }
}

/// Groups spans by resource and scope into OTLP `TracesData`, keeping their order.
pub(crate) fn to_traces_data<'a>(spans: impl IntoIterator<Item = &'a StoredSpan>) -> TracesData {
    let mut data = TracesData::default();
    for span in spans {
        let position = data
            .resource_spans
            .iter()
            .rposition(|group| group.resource == *span.resource());
        let group = match position {
            Some(index) => &mut data.resource_spans[index],
            None => {
                data.resource_spans.push(ResourceSpans {
                    resource: span.resource().clone(),
                    resource_dropped_attributes_count: 0,
                    scope_spans: Vec::new(),
                });
                let last = data.resource_spans.len() - 1;
                &mut data.resource_spans[last]
            }
        };
        let position = group
            .scope_spans
            .iter()
            .rposition(|scope| scope.scope == span.scope);
        let scope = match position {
            Some(index) => &mut group.scope_spans[index],
            None => {
                group.scope_spans.push(ScopeSpans {
                    scope: span.scope.clone(),
                    scope_dropped_attributes_count: 0,
                    spans: Vec::new(),
                });
                let last = group.scope_spans.len() - 1;
                &mut group.scope_spans[last]
            }
        };
        scope.spans.push(span.data());
    }
    data
}

/// Parses a cursor made by [`cursor_string`].
pub(crate) fn parse_cursor(text: &str) -> Option<(u64, TraceId)> {
    let (start, id) = text.split_once('-')?;
    if start.is_empty() || start.len() > 20 || !start.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((start.parse().ok()?, TraceId::from_hex(id).ok()?))
}

/// The opaque cursor of a search page: the last trace's start and id.
pub(crate) fn cursor_string(key: (u64, TraceId)) -> String {
    format!("{}-{}", key.0, key.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::signature::attribute_signature;
    use telemetry_core::Value;

    fn span_data(trace: u128, id: u64, parent: u64, start: u64, end: u64) -> SpanData {
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
            name: "op".into(),
            kind: SpanKind::Internal,
            start_time: Timestamp::from_unix_nanos(start),
            end_time: Timestamp::from_unix_nanos(end),
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            events: Vec::new(),
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: Status::Unset,
            scope: InstrumentationScope::builder("t").build(),
        }
    }

    fn source(service: &str) -> Arc<SpanSource> {
        Arc::new(SpanSource::new(
            Resource::empty(),
            StringValue::from(service.to_owned()),
        ))
    }

    fn store_span(data: SpanData, service: &str) -> StoredSpan {
        StoredSpan::new(data, source(service), 0, &mut Vec::new())
    }

    fn stored(trace: u128, id: u64, parent: u64, start: u64, end: u64) -> StoredSpan {
        store_span(span_data(trace, id, parent, start, end), "svc")
    }

    #[test]
    fn the_attribute_signature_never_rules_out_a_span_that_matches() {
        use telemetry_core::KeyValue;

        let values = |i: i64| {
            vec![
                Value::from(format!("value {i}")),
                Value::I64(i * 7919),
                Value::F64(i as f64 / 8.0),
                Value::Bool(i % 2 == 0),
                Value::Bytes(vec![i as u8, 0xab]),
                Value::Array(vec![Value::I64(i), Value::from("x")]),
                Value::Map(vec![KeyValue::new("inner", i)]),
                Value::Empty,
            ]
        };
        let mut scratch = Vec::new();
        for i in 0..200 {
            let attributes: Vec<KeyValue> = values(i)
                .into_iter()
                .enumerate()
                .map(|(n, value)| KeyValue::new(format!("key.{n}"), value))
                .collect();
            let signature = attribute_signature(&attributes, &mut scratch);
            let mut data = span_data(1, 1, 0, 0, 1);
            data.attributes = attributes.clone();
            data.name = format!("operation {i}").into();
            let span = store_span(data, "svc");
            let name_bits = attribute_bits(NAME_KEY, format!("operation {i}").as_bytes());
            assert_eq!(
                span.attribute_bits & name_bits,
                name_bits,
                "the name's bits"
            );
            for kv in &attributes {
                let expected = match &kv.value {
                    Value::String(s) => s.as_str().to_owned(),
                    other => other.to_string(),
                };
                let filter = AttributeFilter::new(kv.key.as_str(), &expected);
                assert_eq!(signature & filter.bits, filter.bits, "{kv:?}");
                assert!(span.has_attribute(&filter), "{kv:?} as {expected:?}");
            }
        }
    }

    #[test]
    fn the_attribute_signature_rules_out_most_spans_that_lack_the_pair() {
        use telemetry_core::KeyValue;

        let mut scratch = Vec::new();
        let mut passed = 0;
        for i in 0..1000 {
            let attributes = vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("http.route", format!("/items/{i}")),
                KeyValue::new("http.response.status_code", 200 + i % 5),
                KeyValue::new("server.address", "shop.internal"),
                KeyValue::new("user.id", i * 31),
                KeyValue::new("retry", false),
            ];
            let signature = attribute_signature(&attributes, &mut scratch);
            let absent = AttributeFilter::new("http.route", "/checkout");
            if signature & absent.bits == absent.bits {
                passed += 1;
            }
        }
        // Six attributes set at most 12 of 64 bits: about 3.5% of spans pass a pair's two.
        assert!(
            passed < 100,
            "{passed} of 1000 spans passed a pair none has"
        );
    }

    #[test]
    fn a_stored_span_gives_back_the_span_it_was_made_from() {
        use telemetry_core::KeyValue;
        use telemetry_span::{Event, Link};

        let mut data = span_data(7, 2, 1, 10, 20);
        data.span_context = SpanContext::new(
            TraceId::from_int(7),
            SpanId::from_int(2),
            TraceFlags::SAMPLED,
            false,
            TraceState::parse("vendor=value").expect("a valid tracestate"),
        );
        data.parent_is_remote = true;
        data.kind = SpanKind::Client;
        data.name = StringValue::from(String::from("GET /items"));
        data.attributes = vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("http.response.status_code", 503i64),
        ];
        data.dropped_attributes_count = 2;
        data.events.push(Event {
            name: "retry".into(),
            timestamp: Timestamp::from_unix_nanos(15),
            attributes: vec![KeyValue::new("attempt", 2i64)],
            dropped_attributes_count: 1,
        });
        data.links.push(Link::new(
            SpanContext::new(
                TraceId::from_int(9),
                SpanId::from_int(9),
                TraceFlags::SAMPLED,
                true,
                TraceState::EMPTY,
            ),
            vec![KeyValue::new("link.kind", "follows")],
        ));
        data.dropped_events_count = 3;
        data.dropped_links_count = 4;
        data.status = Status::error("upstream unavailable");
        let span = store_span(data.clone(), "svc");
        assert_eq!(span.data(), data);
        assert!(span.is_error() && !span.is_root());
        assert!(span.has_attribute(&AttributeFilter::new("http.response.status_code", "503")));
        assert!(span.has_attribute(&AttributeFilter::new("http.request.method", "GET")));
        assert!(!span.has_attribute(&AttributeFilter::new("http.request.method", "POST")));
        assert!(
            !span.has_attribute(&AttributeFilter::new("attempt", "2")),
            "event attributes are not span attributes"
        );
        assert!(!span.has_attribute(&AttributeFilter::new("no.such.key", "GET")));
        assert!(!span.has_attribute(&AttributeFilter::new("http.request.method", "/nowhere")));
        // The charge is the compact form: inline size, detail bytes and the owned name.
        assert_eq!(
            span.bytes,
            size_of::<StoredSpan>() + span.detail.len() + "GET /items".len()
        );
    }

    #[test]
    fn every_value_is_found_by_the_text_it_renders_as() {
        use telemetry_core::{KeyValue, Value};

        let values = [
            Value::Empty,
            Value::Bool(true),
            Value::Bool(false),
            Value::I64(-503),
            Value::I64(404),
            Value::I64(i64::MIN),
            Value::F64(1.5),
            Value::F64(404.0),
            Value::F64(-0.0),
            Value::F64(0.1 + 0.2),
            Value::F64(f64::NAN),
            Value::F64(f64::NEG_INFINITY),
            Value::F64(1e300),
            Value::String("/api/orders/7".into()),
            Value::String("404".into()),
            Value::Bytes(vec![0xab, 0x01]),
            Value::Array(vec![Value::I64(1), Value::String("x".into())]),
            Value::Map(vec![KeyValue::new("k", "v")]),
        ];
        for value in values {
            let text = value.to_string();
            let mut data = span_data(1, 1, 0, 1, 2);
            data.attributes = vec![
                KeyValue::new("other", "noise"),
                KeyValue::new("k", value.clone()),
            ];
            let span = store_span(data, "svc");
            assert!(
                span.has_attribute(&AttributeFilter::new("k", &text)),
                "{value:?} renders as {text:?}"
            );
        }
        let mut data = span_data(1, 1, 0, 1, 2);
        data.attributes = vec![KeyValue::new("code", 200i64)];
        let span = store_span(data, "svc");
        for absent in ["404", "2000", "true", "ab01", "/x"] {
            let filter = AttributeFilter::new("code", absent);
            assert!(!span.has_attribute(&filter), "{absent}");
        }
        assert!(value_needles("").is_none() && value_needles("[1]").is_none());
        assert!(value_needles("NaN").is_none());
    }

    #[test]
    fn the_time_index_follows_a_trace_whose_start_moves_earlier() {
        let mut store = TraceStore::new(usize::MAX, 100);
        store.insert(vec![stored(1, 2, 1, 50, 60)], 1);
        store.insert(vec![stored(1, 1, 0, 10, 70)], 2);
        let keys: Vec<_> = store.by_time.iter().copied().collect();
        assert_eq!(keys, [(10, TraceId::from_int(1))]);
        let key = (10, TraceId::from_int(1));
        // A late span from another service, with an error and the same start.
        let mut late = span_data(1, 3, 1, 10, 20);
        late.status = Status::error("late");
        store.insert(vec![store_span(late, "other")], 3);
        assert_eq!(store.errors.iter().copied().collect::<Vec<_>>(), [key]);
        for service in ["svc", "other"] {
            let index: Vec<_> = store.by_service[service].iter().copied().collect();
            assert_eq!(index, [key], "{service}");
        }
        // An earlier start moves every index entry.
        store.insert(vec![stored(1, 4, 1, 5, 20)], 4);
        let key = (5, TraceId::from_int(1));
        assert_eq!(store.errors.iter().copied().collect::<Vec<_>>(), [key]);
        for service in ["svc", "other"] {
            let index: Vec<_> = store.by_service[service].iter().copied().collect();
            assert_eq!(index, [key], "{service}");
        }
        let query = TraceQuery {
            service: Some("other".into()),
            error: Some(true),
            limit: 10,
            ..TraceQuery::default()
        };
        assert_eq!(store.search(&query).0.len(), 1);
        let trace = &store.traces[&TraceId::from_int(1)];
        assert_eq!((trace.start, trace.end, trace.root), (5, 70, Some(1)));
    }

    #[test]
    fn the_earliest_parentless_span_is_the_root() {
        let mut store = TraceStore::new(usize::MAX, 100);
        store.insert(vec![stored(1, 5, 0, 30, 40), stored(1, 6, 0, 20, 40)], 1);
        let trace = &store.traces[&TraceId::from_int(1)];
        assert_eq!(
            trace.spans[trace.root.unwrap()].span_id,
            SpanId::from_int(6)
        );
    }

    #[test]
    fn usage_returns_to_zero_when_everything_is_evicted() {
        let mut store = TraceStore::new(0, 100);
        let failed = {
            let mut span = span_data(2, 1, 0, 1, 2);
            span.status = Status::error("x");
            store_span(span, "svc")
        };
        store.insert(vec![stored(1, 1, 0, 1, 2), failed], 1);
        assert_eq!((store.used, store.spans, store.evicted_spans), (0, 0, 2));
        assert!(store.traces.is_empty() && store.by_time.is_empty() && store.services.is_empty());
        assert!(store.by_service.is_empty() && store.errors.is_empty());
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let key = (123, TraceId::from_int(0xabc));
        assert_eq!(parse_cursor(&cursor_string(key)), Some(key));
        for bad in [
            "",
            "-",
            "12",
            "x-0000000000000000000000000000abc",
            "+1-00000000000000000000000000000abc",
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }
}
