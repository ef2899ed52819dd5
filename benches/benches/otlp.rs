//! OTLP trace encoding and decoding: our hand-rolled codec against opentelemetry-rust's path
//! (opentelemetry_sdk `SpanData` → opentelemetry-proto's prost structs → prost encode), in
//! the same run.
//!
//! The batch is 512 typical spans: 6 attributes (two static strings, an owned string, an
//! `i64`, a `bool`, a short static string) and one event with one attribute, one scope, a
//! resource of four attributes. Both sides hold the same data.
//!
//! - `otlp/encode/telemetry`: `TraceEncoder::encode` from `&[SpanData]` into a reused buffer.
//! - `otlp/encode/otel_transform+prost`: what opentelemetry-otlp does per export:
//!   `group_spans_by_resource_and_scope` (opentelemetry-proto's `trace` transform, which
//!   takes the batch by value) and `prost::Message::encode` into a reused buffer. Cloning the
//!   batch that the transform consumes is setup (`iter_batched`), not timed.
//! - `otlp/encode/prost_only`: `prost::Message::encode` of the already-built request: the
//!   floor of the prost path, as if the transform cost nothing.
//! - `otlp/decode/telemetry` and `otlp/decode/prost`: the same bytes (ours and prost's are
//!   byte-identical) into `TracesData` and into the prost request.
//! - `otlp/decode/telemetry_view`: the same bytes through `TracesView::decode` (the borrowing
//!   decoder, which validates all of the request as `decode_traces` does), then `touch`,
//!   which reads every field a consumer reads, so that the comparison with prost's fully
//!   built message is fair: for each resource, its attributes, dropped count and schema URL;
//!   for each scope, its name, version, attributes, dropped count and schema URL; for each
//!   span, trace id, span id, flags, trace state, parent span id, name, kind, start and end
//!   times, attributes, events (time, name, attributes, dropped count), links (trace id,
//!   span id, trace state, flags, attributes, dropped count), status and the three dropped
//!   counts; for each attribute, its key and its value (arrays and maps recursively).
//!   Scalars are folded into a checksum, strings and byte strings are taken as slices (their
//!   lengths go into the checksum): they are not copied, which is the point of borrowing.
//! - `otlp/json_encode/*` and `otlp/json_decode/*`: OTLP/JSON, ours against serde_json over
//!   opentelemetry-proto's serde types.
//!
//! - `otlp/metrics_*` and `otlp/logs_*`: metrics (32 streams) and 512 log records, ours
//!   against prost (see `otlp_metrics_logs`).
//!
//! Throughput is in bytes of the protobuf request (of the JSON for the JSON groups); spans
//! per second are 512 / time per iteration.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::trace::{
    Event as OtelEvent, SpanContext as OtelSpanContext, SpanId as OtelSpanId,
    SpanKind as OtelSpanKind, Status as OtelStatus, TraceFlags as OtelTraceFlags,
    TraceId as OtelTraceId, TraceState as OtelTraceState,
};
use opentelemetry::{InstrumentationScope as OtelScope, KeyValue as OtelKeyValue};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource as OtelResource;
use opentelemetry_sdk::trace::{SpanData as OtelSpanData, SpanEvents, SpanLinks};
use prost::Message;
use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{
    InstrumentationScope, KeyValue, Resource, SpanId, StringValue, Timestamp, TraceId, Value,
};
use telemetry_logs::{LogRecord, Severity};
use telemetry_metrics::data::{
    Gauge, Histogram, HistogramDataPoint, Metric, MetricData, Number, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Temporality,
};
use telemetry_otlp::{
    KeyValues, LogsEncoder, StatusView, TraceEncoder, TracesView, ValueView, decode_logs,
    decode_metrics, decode_traces, decode_traces_json, encode_metrics,
};
use telemetry_span::{Event, SpanData, SpanKind, Status};

const SPANS: usize = 512;
const START: u64 = 1_764_000_000_000_000_000;

fn our_batch() -> (Resource, Vec<SpanData>) {
    let resource = Resource::builder()
        .with_service_name("checkout")
        .with_attribute(KeyValue::new("telemetry.sdk.language", "rust"))
        .with_attribute(KeyValue::new("telemetry.sdk.name", "telemetry"))
        .with_attribute(KeyValue::new("telemetry.sdk.version", "0.1.0"))
        .build();
    let scope = InstrumentationScope::builder("checkout-service")
        .with_version("1.4.2")
        .build();
    let spans = (0..SPANS as u64)
        .map(|i| {
            let start = START + i * 1_000_000;
            SpanData {
                span_context: SpanContext::new(
                    TraceId::from_int(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736 + u128::from(i)),
                    SpanId::from_int(0x00f0_67aa_0ba9_02b7 + i),
                    TraceFlags::SAMPLED,
                    false,
                    TraceState::EMPTY,
                ),
                parent_span_id: SpanId::from_int(0x1000_0000_0000_0000 + i),
                parent_is_remote: false,
                name: "GET /api/orders/{id}".into(),
                kind: SpanKind::Server,
                start_time: Timestamp::from_unix_nanos(start),
                end_time: Timestamp::from_unix_nanos(start + 250_000),
                attributes: vec![
                    KeyValue::new("http.request.method", "GET"),
                    KeyValue::new("url.path", format!("/api/orders/{i}")),
                    KeyValue::new("http.response.status_code", 200i64),
                    KeyValue::new("server.address", "orders.internal"),
                    KeyValue::new("network.protocol.version", "1.1"),
                    KeyValue::new("cache.hit", i % 2 == 0),
                ],
                dropped_attributes_count: 0,
                events: vec![Event {
                    name: "db.query".into(),
                    timestamp: Timestamp::from_unix_nanos(start + 100_000),
                    attributes: vec![KeyValue::new("db.rows", 12i64)],
                    dropped_attributes_count: 0,
                }],
                dropped_events_count: 0,
                links: Vec::new(),
                dropped_links_count: 0,
                status: Status::Unset,
                scope: scope.clone(),
            }
        })
        .collect();
    (resource, spans)
}

fn otel_batch() -> (OtelResource, Vec<OtelSpanData>) {
    let resource = OtelResource::builder_empty()
        .with_attributes([
            OtelKeyValue::new("service.name", "checkout"),
            OtelKeyValue::new("telemetry.sdk.language", "rust"),
            OtelKeyValue::new("telemetry.sdk.name", "telemetry"),
            OtelKeyValue::new("telemetry.sdk.version", "0.1.0"),
        ])
        .build();
    let scope = OtelScope::builder("checkout-service")
        .with_version("1.4.2")
        .build();
    let spans = (0..SPANS as u64)
        .map(|i| {
            let start = SystemTime::UNIX_EPOCH + Duration::from_nanos(START + i * 1_000_000);
            let mut events = SpanEvents::default();
            events.events.push(OtelEvent::new(
                "db.query",
                start + Duration::from_nanos(100_000),
                vec![OtelKeyValue::new("db.rows", 12i64)],
                0,
            ));
            OtelSpanData {
                span_context: OtelSpanContext::new(
                    OtelTraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736 + u128::from(i)),
                    OtelSpanId::from(0x00f0_67aa_0ba9_02b7 + i),
                    OtelTraceFlags::SAMPLED,
                    false,
                    OtelTraceState::NONE,
                ),
                parent_span_id: OtelSpanId::from(0x1000_0000_0000_0000 + i),
                parent_span_is_remote: false,
                span_kind: OtelSpanKind::Server,
                name: Cow::Borrowed("GET /api/orders/{id}"),
                start_time: start,
                end_time: start + Duration::from_nanos(250_000),
                attributes: vec![
                    OtelKeyValue::new("http.request.method", "GET"),
                    OtelKeyValue::new("url.path", format!("/api/orders/{i}")),
                    OtelKeyValue::new("http.response.status_code", 200i64),
                    OtelKeyValue::new("server.address", "orders.internal"),
                    OtelKeyValue::new("network.protocol.version", "1.1"),
                    OtelKeyValue::new("cache.hit", i % 2 == 0),
                ],
                dropped_attributes_count: 0,
                events,
                links: SpanLinks::default(),
                status: OtelStatus::Unset,
                instrumentation_scope: scope.clone(),
            }
        })
        .collect();
    (resource, spans)
}

fn otlp(c: &mut Criterion) {
    let (resource, spans) = our_batch();
    let (otel_resource, otel_spans) = otel_batch();
    let otel_resource = ResourceAttributesWithSchema::from(&otel_resource);

    let mut encoder = TraceEncoder::new();
    let mut ours = Vec::new();
    encoder.encode(&resource, &spans, &mut ours);
    let request = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(otel_spans.clone(), &otel_resource),
    };
    let theirs = request.encode_to_vec();
    // Same data on both sides: prost's transform writes `status` even when unset (an empty
    // message, 2 bytes per span) and nothing else differs, so the requests are within a
    // few bytes of each other and decode to the same spans.
    eprintln!(
        "otlp: {SPANS} spans, ours {} bytes, opentelemetry-proto {} bytes",
        ours.len(),
        theirs.len()
    );
    let decoded =
        decode_traces(&ours).map(|data| data.resource_spans[0].scope_spans[0].spans.len());
    assert_eq!(decoded, Ok(SPANS), "our bytes must decode to every span");
    let view = TracesView::decode(&ours).map(|view| (view.span_count(), view.to_traces_data()));
    assert_eq!(
        view,
        decode_traces(&ours).map(|data| (SPANS, data)),
        "the view must hold the same spans"
    );
    let prost_decoded = ExportTraceServiceRequest::decode(ours.as_slice())
        .map(|r| r.resource_spans[0].scope_spans[0].spans.len());
    assert_eq!(prost_decoded.ok(), Some(SPANS), "prost must read our bytes");

    let mut group = c.benchmark_group("otlp/encode");
    group.throughput(Throughput::Bytes(ours.len() as u64));
    let mut buf = Vec::with_capacity(ours.len());
    group.bench_function("telemetry", |b| {
        b.iter(|| {
            buf.clear();
            encoder.encode(black_box(&resource), black_box(&spans), &mut buf);
            black_box(buf.len())
        });
    });
    let mut prost_buf = Vec::with_capacity(theirs.len());
    group.bench_function("otel_transform+prost", |b| {
        b.iter_batched(
            || otel_spans.clone(),
            |batch| {
                let request = ExportTraceServiceRequest {
                    resource_spans: group_spans_by_resource_and_scope(batch, &otel_resource),
                };
                prost_buf.clear();
                request.encode(&mut prost_buf).map(|()| prost_buf.len())
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("prost_only", |b| {
        b.iter(|| {
            prost_buf.clear();
            black_box(&request)
                .encode(&mut prost_buf)
                .map(|()| prost_buf.len())
        });
    });
    group.finish();

    let mut group = c.benchmark_group("otlp/decode");
    group.throughput(Throughput::Bytes(ours.len() as u64));
    group.bench_function("telemetry", |b| {
        b.iter(|| decode_traces(black_box(&ours)));
    });
    group.bench_function("prost", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(black_box(ours.as_slice())));
    });
    group.bench_function("telemetry_view", |b| {
        b.iter(|| TracesView::decode(black_box(&ours)).map(|view| touch(&view)));
    });
    group.finish();

    let mut json = Vec::new();
    encoder.encode_json(&resource, &spans, &mut json);
    let mut group = c.benchmark_group("otlp/json_encode");
    group.throughput(Throughput::Bytes(json.len() as u64));
    let mut json_buf = Vec::with_capacity(json.len());
    group.bench_function("telemetry", |b| {
        b.iter(|| {
            json_buf.clear();
            encoder.encode_json(black_box(&resource), black_box(&spans), &mut json_buf);
            black_box(json_buf.len())
        });
    });
    group.bench_function("prost_serde_json", |b| {
        b.iter(|| {
            json_buf.clear();
            serde_json::to_writer(&mut json_buf, black_box(&request)).map(|()| json_buf.len())
        });
    });
    group.finish();

    let mut group = c.benchmark_group("otlp/json_decode");
    group.throughput(Throughput::Bytes(json.len() as u64));
    group.bench_function("telemetry", |b| {
        b.iter(|| decode_traces_json(black_box(&json)));
    });
    group.bench_function("prost_serde_json", |b| {
        b.iter(|| serde_json::from_slice::<ExportTraceServiceRequest>(black_box(&json)));
    });
    group.finish();
}

/// Reads every field of a decoded view (the list is in the module docs) into a checksum.
fn touch(view: &TracesView<'_>) -> u64 {
    let mut sum = 0u64;
    for rs in view.resource_spans() {
        sum = mix(sum, touch_key_values(rs.resource_attributes()));
        sum = mix(sum, u64::from(rs.resource_dropped_attributes_count()));
        sum = mix(sum, rs.schema_url().len() as u64);
        for ss in rs.scope_spans() {
            sum = mix(sum, ss.scope_name().len() as u64);
            sum = mix(sum, ss.scope_version().len() as u64);
            sum = mix(sum, touch_key_values(ss.scope_attributes()));
            sum = mix(sum, u64::from(ss.scope_dropped_attributes_count()));
            sum = mix(sum, ss.schema_url().len() as u64);
            for span in ss.spans() {
                sum = mix(sum, span.trace_id().to_int() as u64);
                sum = mix(sum, span.span_id().to_int());
                sum = mix(sum, u64::from(span.flags()));
                sum = mix(sum, span.trace_state().len() as u64);
                sum = mix(sum, span.parent_span_id().to_int());
                sum = mix(sum, span.name().len() as u64);
                sum = mix(sum, span.kind() as u64);
                sum = mix(sum, span.start_time().as_unix_nanos());
                sum = mix(sum, span.end_time().as_unix_nanos());
                sum = mix(sum, touch_key_values(span.attributes()));
                sum = mix(sum, u64::from(span.dropped_attributes_count()));
                for event in span.events() {
                    sum = mix(sum, event.timestamp().as_unix_nanos());
                    sum = mix(sum, event.name().len() as u64);
                    sum = mix(sum, touch_key_values(event.attributes()));
                    sum = mix(sum, u64::from(event.dropped_attributes_count()));
                }
                sum = mix(sum, u64::from(span.dropped_events_count()));
                for link in span.links() {
                    sum = mix(sum, link.trace_id().to_int() as u64);
                    sum = mix(sum, link.span_id().to_int());
                    sum = mix(sum, link.trace_state().len() as u64);
                    sum = mix(sum, u64::from(link.flags()));
                    sum = mix(sum, touch_key_values(link.attributes()));
                    sum = mix(sum, u64::from(link.dropped_attributes_count()));
                }
                sum = mix(sum, u64::from(span.dropped_links_count()));
                sum = mix(
                    sum,
                    match span.status() {
                        StatusView::Unset => 0,
                        StatusView::Ok => 1,
                        StatusView::Error { description } => 2 + description.len() as u64,
                    },
                );
            }
        }
    }
    sum
}

fn touch_key_values(pairs: KeyValues<'_, '_>) -> u64 {
    pairs.fold(0, |sum, kv| {
        mix(mix(sum, kv.key.len() as u64), touch_value(kv.value))
    })
}

fn touch_value(value: ValueView<'_, '_>) -> u64 {
    match value {
        ValueView::Empty => 0,
        ValueView::Bool(v) => u64::from(v),
        ValueView::I64(v) => v as u64,
        ValueView::F64(v) => v.to_bits(),
        ValueView::String(s) => s.len() as u64,
        ValueView::Bytes(b) => b.len() as u64,
        ValueView::Array(values) => values.fold(0, |sum, v| mix(sum, touch_value(v))),
        ValueView::Map(pairs) => touch_key_values(pairs),
    }
}

/// Folds `value` into `sum` so that no read can be optimized away.
#[inline]
fn mix(sum: u64, value: u64) -> u64 {
    (sum ^ value).wrapping_mul(0x0000_0100_0000_01b3)
}

/// A typical collection: one scope of 32 streams (16 sums, 8 gauges, 8 explicit
/// histograms of 16 buckets), 8 series each, with 3 attributes per series.
fn our_metrics() -> ResourceMetrics {
    let (resource, _) = our_batch();
    let scope = InstrumentationScope::builder("checkout-service")
        .with_version("1.4.2")
        .build();
    let series = |stream: u64, i: u64| {
        vec![
            KeyValue::new(
                "http.request.method",
                if i.is_multiple_of(2) { "GET" } else { "POST" },
            ),
            KeyValue::new("http.route", format!("/api/v1/items/{stream}")),
            KeyValue::new("http.response.status_code", 200 + (i as i64 % 3) * 100),
        ]
    };
    let start = Timestamp::from_unix_nanos(START);
    let time = Timestamp::from_unix_nanos(START + 60_000_000_000);
    let number_points = |stream: u64| -> Vec<NumberDataPoint> {
        (0..8)
            .map(|i| NumberDataPoint {
                attributes: series(stream, i),
                start_time: start,
                time,
                value: if stream.is_multiple_of(2) {
                    Number::I64((stream * 1000 + i) as i64)
                } else {
                    Number::F64(stream as f64 * 0.5 + i as f64)
                },
                exemplars: Vec::new(),
            })
            .collect()
    };
    let mut metrics = Vec::new();
    for stream in 0..32u64 {
        let data = match stream {
            0..16 => MetricData::Sum(Sum {
                points: number_points(stream),
                temporality: Temporality::Cumulative,
                is_monotonic: true,
            }),
            16..24 => MetricData::Gauge(Gauge {
                points: number_points(stream),
            }),
            _ => MetricData::Histogram(Histogram {
                points: (0..8)
                    .map(|i| HistogramDataPoint {
                        attributes: series(stream, i),
                        start_time: start,
                        time,
                        count: 160,
                        sum: Some(1234.5),
                        min: Some(0.25),
                        max: Some(980.0),
                        bounds: (0..15).map(|b| f64::from(b) * 10.0).collect(),
                        bucket_counts: vec![10; 16],
                        exemplars: Vec::new(),
                    })
                    .collect(),
                temporality: Temporality::Cumulative,
            }),
        };
        metrics.push(Metric {
            name: format!("http.server.metric_{stream}"),
            description: "A typical stream".to_owned(),
            unit: "ms".to_owned(),
            data,
        });
    }
    ResourceMetrics {
        resource,
        scope_metrics: vec![ScopeMetrics { scope, metrics }],
    }
}

/// 512 typical records: a string body, 4 attributes, the active span's ids.
fn our_records() -> Vec<LogRecord> {
    let scope = InstrumentationScope::builder("checkout-service")
        .with_version("1.4.2")
        .build();
    (0..SPANS as u64)
        .map(|i| LogRecord {
            timestamp: Some(Timestamp::from_unix_nanos(START + i * 1_000)),
            observed_timestamp: Timestamp::from_unix_nanos(START + i * 1_000 + 10),
            severity: Severity::INFO,
            severity_text: Some(StringValue::from_static("INFO")),
            body: Value::from(format!("order {i} charged")),
            attributes: vec![
                KeyValue::new("code.function", "charge"),
                KeyValue::new("order.id", format!("ord-{i:08}")),
                KeyValue::new("amount", (i * 7) as i64),
                KeyValue::new("retry", false),
            ]
            .into(),
            dropped_attributes_count: 0,
            trace_id: TraceId::from_int(u128::from(i) << 64 | 0xabcd),
            span_id: SpanId::from_int(i + 1),
            trace_flags: TraceFlags::SAMPLED,
            event_name: None,
            scope: scope.clone(),
        })
        .collect()
}

/// Metrics and logs: ours against prost over the same bytes (prost's request is decoded
/// from ours, which is byte-identical to what prost writes for it).
///
/// - `otlp/metrics_encode/telemetry`: `encode_metrics` from `&ResourceMetrics`;
///   `otlp/metrics_encode/prost_only`: prost encoding the already-built request.
/// - `otlp/metrics_decode/*`: the same bytes into `MetricsData` and into prost's request.
/// - `otlp/logs_encode/*` and `otlp/logs_decode/*`: the same for 512 log records.
fn otlp_metrics_logs(c: &mut Criterion) {
    let metrics = our_metrics();
    let mut ours = Vec::new();
    encode_metrics(&metrics, &mut ours);
    let request = ExportMetricsServiceRequest::decode(ours.as_slice());
    let request = request.expect("prost must read our metrics");
    assert_eq!(
        request.encode_to_vec(),
        ours,
        "prost must write the same bytes"
    );
    eprintln!("otlp metrics: 32 streams of 8 points, {} bytes", ours.len());

    let mut group = c.benchmark_group("otlp/metrics_encode");
    group.throughput(Throughput::Bytes(ours.len() as u64));
    let mut buf = Vec::with_capacity(ours.len());
    group.bench_function("telemetry", |b| {
        b.iter(|| {
            buf.clear();
            encode_metrics(black_box(&metrics), &mut buf);
            black_box(buf.len())
        });
    });
    group.bench_function("prost_only", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&request).encode(&mut buf).map(|()| buf.len())
        });
    });
    group.finish();

    let mut group = c.benchmark_group("otlp/metrics_decode");
    group.throughput(Throughput::Bytes(ours.len() as u64));
    group.bench_function("telemetry", |b| {
        b.iter(|| decode_metrics(black_box(&ours)));
    });
    group.bench_function("prost", |b| {
        b.iter(|| ExportMetricsServiceRequest::decode(black_box(ours.as_slice())));
    });
    group.finish();

    let (resource, _) = our_batch();
    let records = our_records();
    let mut encoder = LogsEncoder::new();
    let mut ours = Vec::new();
    encoder.encode(&resource, &records, &mut ours);
    let request = ExportLogsServiceRequest::decode(ours.as_slice());
    let request = request.expect("prost must read our logs");
    assert_eq!(
        request.encode_to_vec(),
        ours,
        "prost must write the same bytes"
    );
    eprintln!("otlp logs: {SPANS} records, {} bytes", ours.len());

    let mut group = c.benchmark_group("otlp/logs_encode");
    group.throughput(Throughput::Bytes(ours.len() as u64));
    let mut buf = Vec::with_capacity(ours.len());
    group.bench_function("telemetry", |b| {
        b.iter(|| {
            buf.clear();
            encoder.encode(black_box(&resource), black_box(&records), &mut buf);
            black_box(buf.len())
        });
    });
    group.bench_function("prost_only", |b| {
        b.iter(|| {
            buf.clear();
            black_box(&request).encode(&mut buf).map(|()| buf.len())
        });
    });
    group.finish();

    let mut group = c.benchmark_group("otlp/logs_decode");
    group.throughput(Throughput::Bytes(ours.len() as u64));
    group.bench_function("telemetry", |b| {
        b.iter(|| decode_logs(black_box(&ours)));
    });
    group.bench_function("prost", |b| {
        b.iter(|| ExportLogsServiceRequest::decode(black_box(ours.as_slice())));
    });
    group.finish();
}

criterion_group!(benches, otlp, otlp_metrics_logs);
criterion_main!(benches);
