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
//! - `otlp/json_encode/*` and `otlp/json_decode/*`: OTLP/JSON, ours against serde_json over
//!   opentelemetry-proto's serde types.
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
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource as OtelResource;
use opentelemetry_sdk::trace::{SpanData as OtelSpanData, SpanEvents, SpanLinks};
use prost::Message;
use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId};
use telemetry_otlp::{TraceEncoder, decode_traces, decode_traces_json};
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

criterion_group!(benches, otlp);
criterion_main!(benches);
