//! The entry points: encoding spans (with the reusable state that groups them by scope) and
//! decoding requests.

use telemetry_core::{Resource, Value};
use telemetry_logs::LogRecord;
use telemetry_metrics::data::ResourceMetrics;
use telemetry_span::SpanData;

use crate::error::{DecodeError, JsonError};
use crate::json;
use crate::logs::LogsData;
use crate::metrics::MetricsData;
use crate::proto;
use crate::proto::common::same_scope;
use crate::traces::TracesData;

/// Encodes batches of [`SpanData`] as OTLP `ExportTraceServiceRequest`s, in protobuf or
/// OTLP/JSON, appending to a caller-owned buffer.
///
/// Spans are grouped under one `ResourceSpans` and, within it, one `ScopeSpans` per distinct
/// instrumentation scope, in the order scopes first appear in the batch; spans keep their
/// batch order within their scope. An empty batch writes nothing (an empty request), since
/// OTLP senders should not send empty envelopes.
///
/// Keep one encoder and one buffer per exporter: after the first batches neither allocates.
#[derive(Debug, Default)]
pub struct TraceEncoder {
    /// Index of the first span of each distinct scope, in first-seen order. Batches hold a
    /// handful of scopes, so a linear search beats hashing.
    scopes: Vec<usize>,
}

impl TraceEncoder {
    /// An encoder with no scratch space yet.
    pub fn new() -> Self {
        TraceEncoder::default()
    }

    /// Appends the protobuf encoding of `spans` from `resource` to `out`.
    pub fn encode(&mut self, resource: &Resource, spans: &[SpanData], out: &mut Vec<u8>) {
        self.group(spans);
        proto::trace::write_request(out, resource, spans, &self.scopes);
    }

    /// Appends the OTLP/JSON encoding of `spans` from `resource` to `out`.
    pub fn encode_json(&mut self, resource: &Resource, spans: &[SpanData], out: &mut Vec<u8>) {
        self.group(spans);
        json::trace::write_request(out, resource, spans, &self.scopes);
    }

    fn group(&mut self, spans: &[SpanData]) {
        self.scopes.clear();
        for (index, span) in spans.iter().enumerate() {
            if !self
                .scopes
                .iter()
                .any(|&first| same_scope(&spans[first].scope, &span.scope))
            {
                self.scopes.push(index);
            }
        }
    }
}

/// Appends the protobuf encoding of `data` to `out`, envelope for envelope (empty ones
/// included), so that decoding and re-encoding a request keeps its shape.
pub fn encode_traces_data(data: &TracesData, out: &mut Vec<u8>) {
    proto::trace::write_traces_data(out, data);
}

/// Appends the OTLP/JSON encoding of `data` to `out`, envelope for envelope.
pub fn encode_traces_data_json(data: &TracesData, out: &mut Vec<u8>) {
    json::trace::write_traces_data(out, data);
}

/// Decodes a protobuf `ExportTraceServiceRequest` (or `TracesData`, which has the same
/// fields).
///
/// Unknown fields are skipped. Truncated or malformed input, ids of the wrong length or all
/// zeroes, an invalid `trace_state`, unknown enum values and nesting deeper than 256
/// messages are errors that say where they are. See the crate docs on untrusted input.
pub fn decode_traces(input: &[u8]) -> Result<TracesData, DecodeError> {
    proto::trace::read_request(input)
}

/// Appends the detail of `span` to `out`: the fields of its OTLP `Span` message other than
/// its ids, parent, name, kind, times and flags (trace state, attributes, events, links,
/// status and dropped counts), in protobuf.
///
/// For a store that keeps the identity fields in its own indexed form and the rest compact:
/// [`decode_span_detail`] reads it back.
pub fn encode_span_detail(span: &SpanData, out: &mut Vec<u8>) {
    proto::trace::write_span_detail(out, span);
}

/// Reads a span detail written by [`encode_span_detail`] into `span`, replacing its trace
/// state, attributes, events, links, status and dropped counts; its ids, parent, name, kind,
/// times, flags and scope are left as they are. Errors as [`decode_traces`] does.
pub fn decode_span_detail(input: &[u8], span: &mut SpanData) -> Result<(), DecodeError> {
    proto::trace::read_span_detail(input, span)
}

/// Whether a span detail written by [`encode_span_detail`] has an attribute named `key`
/// whose value satisfies `matches`. Only the values of attributes named `key` are decoded, so
/// a search can filter stored details without building their spans.
pub fn span_detail_attribute_matches(
    input: &[u8],
    key: &str,
    matches: impl FnMut(&Value) -> bool,
) -> Result<bool, DecodeError> {
    proto::trace::span_detail_attribute_matches(input, key, matches)
}

/// Decodes an OTLP/JSON `ExportTraceServiceRequest`.
///
/// Unknown keys are ignored, 64-bit integers may be strings or numbers, ids are hex in
/// either case; enum names (rather than numbers) are rejected, as the OTLP spec forbids
/// them.
pub fn decode_traces_json(input: &[u8]) -> Result<TracesData, JsonError> {
    json::trace::read_request(input)
}

/// Appends the protobuf `ExportMetricsServiceRequest` of one collection to `out`.
///
/// A collection is already grouped by resource and scope, so no encoder state is needed; a
/// collection without scopes writes nothing (an empty request).
pub fn encode_metrics(metrics: &ResourceMetrics, out: &mut Vec<u8>) {
    proto::metrics::write_request(out, metrics);
}

/// Appends the OTLP/JSON `ExportMetricsServiceRequest` of one collection to `out`.
pub fn encode_metrics_json(metrics: &ResourceMetrics, out: &mut Vec<u8>) {
    json::metrics::write_request(out, metrics);
}

/// Appends the protobuf encoding of `data` to `out`, envelope for envelope (empty ones
/// included).
pub fn encode_metrics_data(data: &MetricsData, out: &mut Vec<u8>) {
    proto::metrics::write_metrics_data(out, data);
}

/// Appends the OTLP/JSON encoding of `data` to `out`, envelope for envelope.
pub fn encode_metrics_data_json(data: &MetricsData, out: &mut Vec<u8>) {
    json::metrics::write_metrics_data(out, data);
}

/// Decodes a protobuf `ExportMetricsServiceRequest` (or `MetricsData`).
///
/// Unknown fields are skipped, and so is what our metric types cannot hold (summaries,
/// metrics without data, dropped counts, metadata, point flags; see [`MetricsData`]).
/// Truncated or malformed input, exemplar ids of the wrong length, unknown temporalities and
/// nesting deeper than 256 messages are errors that say where they are.
pub fn decode_metrics(input: &[u8]) -> Result<MetricsData, DecodeError> {
    proto::metrics::read_request(input)
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest`, with the JSON rules of
/// [`decode_traces_json`] and what is dropped as by [`decode_metrics`].
pub fn decode_metrics_json(input: &[u8]) -> Result<MetricsData, JsonError> {
    json::metrics::read_request(input)
}

/// Encodes batches of [`LogRecord`]s as OTLP `ExportLogsServiceRequest`s, appending to a
/// caller-owned buffer.
///
/// Records are grouped as [`TraceEncoder`] groups spans: one `ResourceLogs`, one `ScopeLogs`
/// per distinct scope in first-seen order, records in batch order within their scope. An
/// empty batch writes nothing. Keep one encoder and one buffer per exporter.
#[derive(Debug, Default)]
pub struct LogsEncoder {
    /// Index of the first record of each distinct scope, in first-seen order.
    scopes: Vec<usize>,
}

impl LogsEncoder {
    /// An encoder with no scratch space yet.
    pub fn new() -> Self {
        LogsEncoder::default()
    }

    /// Appends the protobuf encoding of `records` from `resource` to `out`.
    pub fn encode(&mut self, resource: &Resource, records: &[LogRecord], out: &mut Vec<u8>) {
        self.group(records);
        proto::logs::write_request(out, resource, records, &self.scopes);
    }

    /// Appends the OTLP/JSON encoding of `records` from `resource` to `out`.
    pub fn encode_json(&mut self, resource: &Resource, records: &[LogRecord], out: &mut Vec<u8>) {
        self.group(records);
        json::logs::write_request(out, resource, records, &self.scopes);
    }

    fn group(&mut self, records: &[LogRecord]) {
        self.scopes.clear();
        for (index, record) in records.iter().enumerate() {
            if !self
                .scopes
                .iter()
                .any(|&first| same_scope(&records[first].scope, &record.scope))
            {
                self.scopes.push(index);
            }
        }
    }
}

/// Appends the protobuf encoding of `data` to `out`, envelope for envelope.
pub fn encode_logs_data(data: &LogsData, out: &mut Vec<u8>) {
    proto::logs::write_logs_data(out, data);
}

/// Appends the OTLP/JSON encoding of `data` to `out`, envelope for envelope.
pub fn encode_logs_data_json(data: &LogsData, out: &mut Vec<u8>) {
    json::logs::write_logs_data(out, data);
}

/// Decodes a protobuf `ExportLogsServiceRequest` (or `LogsData`).
///
/// Unknown fields are skipped. Truncated or malformed input, trace or span ids of the wrong
/// length (empty ones mean no span), severity numbers outside 0-24 and nesting deeper than
/// 256 messages are errors that say where they are.
pub fn decode_logs(input: &[u8]) -> Result<LogsData, DecodeError> {
    proto::logs::read_request(input)
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest`, with the JSON rules of
/// [`decode_traces_json`]; ids may be empty (no span).
pub fn decode_logs_json(input: &[u8]) -> Result<LogsData, JsonError> {
    json::logs::read_request(input)
}

#[cfg(test)]
mod tests {
    use telemetry_context::{SpanContext, TraceFlags, TraceState};
    use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId};
    use telemetry_span::{SpanData, SpanKind, Status};

    use super::*;

    #[test]
    fn spans_of_a_scope_with_a_nan_attribute_are_kept_under_it() -> Result<(), DecodeError> {
        // `==` finds such a scope unequal to itself, which once made every span its own
        // group and then matched no span to it, so the spans were not written at all.
        let scope = InstrumentationScope::builder("lib")
            .with_attributes([KeyValue::new("ratio", f64::NAN)])
            .build();
        let spans: Vec<SpanData> = (1..=3u64)
            .map(|i| SpanData {
                span_context: SpanContext::new(
                    TraceId::from_int(1),
                    SpanId::from_int(i),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::EMPTY,
                ),
                parent_span_id: SpanId::INVALID,
                parent_is_remote: false,
                name: "work".into(),
                kind: SpanKind::Internal,
                start_time: Timestamp::from_unix_nanos(i),
                end_time: Timestamp::from_unix_nanos(i + 1),
                attributes: Vec::new(),
                dropped_attributes_count: 0,
                events: Vec::new(),
                dropped_events_count: 0,
                links: Vec::new(),
                dropped_links_count: 0,
                status: Status::Unset,
                scope: scope.clone(),
            })
            .collect();
        let mut out = Vec::new();
        TraceEncoder::new().encode(&Resource::builder().build(), &spans, &mut out);
        let decoded = decode_traces(&out)?;
        let scope_spans = &decoded.resource_spans[0].scope_spans;
        assert_eq!(scope_spans.len(), 1);
        assert_eq!(scope_spans[0].spans.len(), 3);
        Ok(())
    }
}
