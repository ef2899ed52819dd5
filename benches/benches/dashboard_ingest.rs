//! The dashboard's ingest path, end to end and in parts: a plain benchmark binary (not
//! criterion: the figures are throughputs and latency percentiles of a running server, each
//! from one long pass rather than from many short samples).
//!
//! 1. **OTLP/HTTP throughput.** A real `Dashboard` (store + server) on loopback port 0s; a
//!    hyper HTTP/1.1 client posts pre-encoded protobuf requests of 512 typical spans (64
//!    traces of 8 spans, 6 attributes and 1 event each) over keep-alive connections, from 1
//!    and from 2 connections. Every response must be 200; `partial_success.rejected_spans`
//!    is summed and reported (a pass that dropped spans is not comparable). A fresh
//!    dashboard for each pass, so every pass stores the same unique spans.
//! 2. **Where the time goes.** On the same bytes, single-threaded: `decode_traces` alone,
//!    then `Store::ingest_traces` alone on the decoded data (no sockets).
//! 3. **Memory per stored span.** The store's own accounting (`Store::used_bytes`, which
//!    `crates/telemetry-dashboard/tests/store_memory.rs` checks against a counting allocator)
//!    over the spans stored, against the protobuf bytes per span of the requests.
//! 4. **Export → queryable latency.** One sender posts a batch of one new 8-span trace every
//!    20 ms; as each POST starts, a reader on its own connection to the API port polls
//!    `GET /api/traces/{id}` back to back until it answers 200. The latency is POST start →
//!    the first 200 received. Measured idle, and again while a third connection posts the
//!    512-span requests back to back (cycling through them: after the first lap its spans
//!    join traces already stored, and eviction keeps the store at its budget).
//!
//! 5. **Search times.** On a store holding one pass's requests, in process through
//!    `Store::api`: trace searches with each filter, those matching nothing being the worst
//!    case (they walk every stored trace), and one trace's detail. Then log searches on a
//!    store holding 200,000 records (its log share nearly full): each filter, again with
//!    the ones that match nothing or almost nothing walking every record.
//!
//! `cargo bench -p telemetry-benches --bench dashboard_ingest` (release). Set
//! `DASHBOARD_BENCH_REQUESTS` to change the number of 512-span requests per pass (default
//! 300). Under `cargo test --benches` (no `--bench` argument) it makes one small pass of each
//! measurement instead, so CI keeps it working without paying for a benchmark run.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark binary: its report is its stdout"
)]

use std::hint::black_box;
use std::mem::size_of;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId};
use telemetry_dashboard::backend::{ApiRequest, Backend, IngestOutcome, IngestSource, Transport};
use telemetry_dashboard::{Dashboard, Store, StoreConfig};
use telemetry_logs::{LogRecord, Severity};
use telemetry_otlp::{
    LogsData, ResourceLogs, ScopeLogs, TraceEncoder, decode_traces, encode_span_detail,
};
use telemetry_span::{Event, SpanData, SpanKind, Status};
use tokio::net::TcpStream;

const SPANS_PER_REQUEST: usize = 512;
const SPANS_PER_TRACE: usize = 8;
const TRACES_PER_REQUEST: usize = SPANS_PER_REQUEST / SPANS_PER_TRACE;
/// Repetitions of each throughput measurement; the median and the best are reported.
const REPEATS: usize = 3;
/// Requests of 512 spans per pass, unless `DASHBOARD_BENCH_REQUESTS` says otherwise.
const REQUESTS: usize = 300;
/// Latency samples per variant, one every `LATENCY_INTERVAL`.
const LATENCY_SAMPLES: usize = 250;
const LATENCY_INTERVAL: Duration = Duration::from_millis(20);

/// The child operations of each trace: (name, kind, the attribute values that vary).
const CHILDREN: [(&str, SpanKind); SPANS_PER_TRACE - 1] = [
    ("auth.verify_token", SpanKind::Internal),
    ("SELECT orders", SpanKind::Client),
    ("SELECT order_items", SpanKind::Client),
    ("GET /inventory/{sku}", SpanKind::Client),
    ("redis GET", SpanKind::Client),
    ("pricing.compute", SpanKind::Internal),
    ("render.json", SpanKind::Internal),
];

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn resource() -> Resource {
    Resource::builder()
        .with_service_name("checkout")
        .with_attribute(KeyValue::new("service.version", "2.14.0"))
        .with_attribute(KeyValue::new("deployment.environment.name", "production"))
        .with_attribute(KeyValue::new("host.name", "checkout-7d9f8-x2k4q"))
        .with_attribute(KeyValue::new("telemetry.sdk.language", "rust"))
        .with_attribute(KeyValue::new("telemetry.sdk.name", "telemetry"))
        .build()
}

/// One trace of `SPANS_PER_TRACE` typical spans: a server root and seven children, each
/// with 6 attributes and 1 event; every 16th trace has an error.
fn trace_spans(trace: u128, start: u64, scope: &InstrumentationScope) -> Vec<SpanData> {
    let trace_id = TraceId::from_int(0x4bf9_2f35_77b3_4da6_0000_0000_0000_0000 | trace);
    let root_id = (trace as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut spans = Vec::with_capacity(SPANS_PER_TRACE);
    let span = |index: u64, parent: u64, name: &str, kind: SpanKind, begin: u64, end: u64| {
        let failed = index == 2 && trace.is_multiple_of(16);
        SpanData {
            span_context: SpanContext::new(
                trace_id,
                SpanId::from_int(root_id.wrapping_add(index)),
                TraceFlags::SAMPLED,
                false,
                TraceState::EMPTY,
            ),
            parent_span_id: SpanId::from_int(parent),
            parent_is_remote: false,
            name: name.to_owned().into(),
            kind,
            start_time: Timestamp::from_unix_nanos(begin),
            end_time: Timestamp::from_unix_nanos(end),
            attributes: vec![
                KeyValue::new("http.request.method", "GET"),
                KeyValue::new("url.path", format!("/api/orders/{trace}")),
                KeyValue::new(
                    "http.response.status_code",
                    if failed { 500i64 } else { 200 },
                ),
                KeyValue::new("server.address", "orders.internal"),
                KeyValue::new("network.protocol.version", "1.1"),
                KeyValue::new("cache.hit", trace.is_multiple_of(2)),
            ],
            dropped_attributes_count: 0,
            events: vec![Event {
                name: "db.query".into(),
                timestamp: Timestamp::from_unix_nanos(begin + 10_000),
                attributes: vec![KeyValue::new("db.rows", 12i64)],
                dropped_attributes_count: 0,
            }],
            dropped_events_count: 0,
            links: Vec::new(),
            dropped_links_count: 0,
            status: if failed {
                Status::Error {
                    description: "connection reset".into(),
                }
            } else {
                Status::Unset
            },
            scope: scope.clone(),
        }
    };
    spans.push(span(
        0,
        0,
        "GET /api/orders/{id}",
        SpanKind::Server,
        start,
        start + 4_000_000,
    ));
    for (i, (name, kind)) in CHILDREN.iter().enumerate() {
        let begin = start + 100_000 + i as u64 * 450_000;
        spans.push(span(
            i as u64 + 1,
            root_id,
            name,
            *kind,
            begin,
            begin + 400_000,
        ));
    }
    spans
}

/// `count` protobuf requests of 512 spans (64 traces each), every trace id unique from
/// `first_trace` on.
fn encode_requests(count: usize, first_trace: u128) -> Vec<Bytes> {
    let resource = resource();
    let scope = InstrumentationScope::builder("checkout-service")
        .with_version("1.4.2")
        .build();
    let start = now_nanos();
    let mut encoder = TraceEncoder::new();
    (0..count)
        .map(|request| {
            let spans: Vec<SpanData> = (0..TRACES_PER_REQUEST)
                .flat_map(|t| {
                    let trace = first_trace + (request * TRACES_PER_REQUEST + t) as u128;
                    trace_spans(trace, start + trace as u64 * 1_000, &scope)
                })
                .collect();
            let mut out = Vec::new();
            encoder.encode(&resource, &spans, &mut out);
            Bytes::from(out)
        })
        .collect()
}

/// One trace of 8 spans, for the latency probe.
fn encode_probe(trace: u128) -> Bytes {
    let scope = InstrumentationScope::builder("checkout-service").build();
    let spans = trace_spans(trace, now_nanos(), &scope);
    let mut out = Vec::new();
    TraceEncoder::new().encode(&resource(), &spans, &mut out);
    Bytes::from(out)
}

fn trace_hex(trace: u128) -> String {
    format!("{:032x}", 0x4bf9_2f35_77b3_4da6_0000_0000_0000_0000 | trace)
}

fn start_dashboard() -> Dashboard {
    Dashboard::builder()
        .ui_port(0)
        .grpc_port(0)
        .http_port(0)
        .otlp_port_fallback(false)
        .start()
        .expect("the dashboard starts on loopback")
}

/// A keep-alive HTTP/1.1 connection.
async fn connect<B>(addr: SocketAddr) -> SendRequest<B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(connection);
    sender
}

/// Posts one request of spans; returns the spans it rejected (OTLP partial success).
async fn post(sender: &mut SendRequest<Full<Bytes>>, addr: SocketAddr, body: Bytes) -> u64 {
    sender.ready().await.expect("the connection stays open");
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/traces")
        .header(header::HOST, addr.to_string())
        .header(header::CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(body))
        .expect("a valid request");
    let response = sender.send_request(request).await.expect("a response");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("a body")
        .to_bytes();
    assert_eq!(status, StatusCode::OK, "POST /v1/traces: {body:?}");
    ExportTraceServiceResponse::decode(body)
        .expect("an ExportTraceServiceResponse")
        .partial_success
        .map_or(0, |partial| partial.rejected_spans.max(0) as u64)
}

/// The status of a GET on the API.
async fn get_status(sender: &mut SendRequest<Empty<Bytes>>, addr: SocketAddr, path: &str) -> u16 {
    sender.ready().await.expect("the connection stays open");
    let request = Request::builder()
        .uri(path)
        .header(header::HOST, addr.to_string())
        .body(Empty::new())
        .expect("a valid request");
    let response = sender.send_request(request).await.expect("a response");
    let status = response.status().as_u16();
    // Read the body, so the connection is ready for the next request.
    black_box(response.into_body().collect().await.expect("a body"));
    status
}

/// The store's `/api/health` answer, in process.
fn health(store: &Store) -> serde_json::Value {
    let response = store.api(&ApiRequest {
        method: &Method::GET,
        path: "/api/health",
        query: None,
        body: b"",
    });
    serde_json::from_slice(&response.body).expect("health is JSON")
}

struct Pass {
    seconds: f64,
    accepted: u64,
    rejected: u64,
    used_bytes: usize,
    stored_spans: u64,
    evicted_spans: u64,
}

/// Posts every request from `connections` keep-alive connections to a fresh dashboard.
fn http_pass(runtime: &tokio::runtime::Runtime, requests: &[Bytes], connections: usize) -> Pass {
    let dashboard = start_dashboard();
    let addr = dashboard.http_addr();
    let (seconds, rejected) = runtime.block_on(async {
        let mut senders = Vec::new();
        for _ in 0..connections {
            senders.push(connect::<Full<Bytes>>(addr).await);
        }
        let started = Instant::now();
        let tasks: Vec<_> = senders
            .into_iter()
            .enumerate()
            .map(|(index, mut sender)| {
                let mine: Vec<Bytes> = requests
                    .iter()
                    .skip(index)
                    .step_by(connections)
                    .cloned()
                    .collect();
                tokio::spawn(async move {
                    let mut rejected = 0;
                    for body in mine {
                        rejected += post(&mut sender, addr, body).await;
                    }
                    rejected
                })
            })
            .collect();
        let mut rejected = 0;
        for task in tasks {
            rejected += task.await.expect("a sender task");
        }
        (started.elapsed().as_secs_f64(), rejected)
    });
    let sent = (requests.len() * SPANS_PER_REQUEST) as u64;
    let store = dashboard.store();
    let figures = health(store);
    let pass = Pass {
        seconds,
        accepted: sent - rejected,
        rejected,
        used_bytes: store.used_bytes(),
        stored_spans: figures["store"]["traces"]["spans"].as_u64().unwrap_or(0),
        evicted_spans: figures["store"]["traces"]["evictedSpans"]
            .as_u64()
            .unwrap_or(0),
    };
    dashboard.shutdown().expect("the dashboard stops");
    pass
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Export → queryable latency, with `load` (the 512-span requests, posted back to back on
/// another connection until the probe ends) or without.
fn latency_pass(runtime: &tokio::runtime::Runtime, load: Option<&[Bytes]>, samples: usize) {
    let dashboard = start_dashboard();
    let (http, ui) = (dashboard.http_addr(), dashboard.ui_addr());
    let probes: Vec<(String, Bytes)> = (0..samples as u128)
        .map(|i| {
            let trace = (1 << 60) + i;
            (
                format!("/api/traces/{}", trace_hex(trace)),
                encode_probe(trace),
            )
        })
        .collect();
    let load: Option<Vec<Bytes>> = load.map(<[Bytes]>::to_vec);
    let (queryable, acknowledged, background) = runtime.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let background = load.map(|requests| {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut sender = connect::<Full<Bytes>>(http).await;
                let mut spans = 0u64;
                for body in requests.iter().cycle() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    spans += SPANS_PER_REQUEST as u64 - post(&mut sender, http, body.clone()).await;
                }
                spans
            })
        });
        let background_started = Instant::now();
        let mut sender = connect::<Full<Bytes>>(http).await;
        let mut reader = connect::<Empty<Bytes>>(ui).await;
        let mut queryable = Vec::with_capacity(samples);
        let mut acknowledged = Vec::with_capacity(samples);
        let mut tick = tokio::time::interval(LATENCY_INTERVAL);
        for (path, body) in probes {
            tick.tick().await;
            let started = Instant::now();
            let mut post_sender = sender;
            let posting = tokio::spawn(async move {
                let rejected = post(&mut post_sender, http, body).await;
                assert_eq!(rejected, 0, "the probe trace was refused");
                (post_sender, started.elapsed())
            });
            loop {
                let status = get_status(&mut reader, ui, &path).await;
                if status == 200 {
                    queryable.push(started.elapsed());
                    break;
                }
                assert_eq!(status, 404, "GET {path}");
            }
            let (returned, acked) = posting.await.expect("the probe's POST");
            sender = returned;
            acknowledged.push(acked);
        }
        stop.store(true, Ordering::Relaxed);
        let background = match background {
            Some(task) => {
                let spans = task.await.expect("the load task");
                Some(spans as f64 / background_started.elapsed().as_secs_f64())
            }
            None => None,
        };
        (queryable, acknowledged, background)
    });
    dashboard.shutdown().expect("the dashboard stops");
    let report = |what: &str, mut samples: Vec<Duration>| {
        samples.sort();
        println!(
            "    {what:<30} p50 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms",
            ms(percentile(&samples, 0.50)),
            ms(percentile(&samples, 0.99)),
            ms(*samples.last().expect("samples")),
        );
    };
    match background {
        Some(rate) => println!(
            "  under load ({rate:.0} spans/s of 512-span requests on a third connection), {} probes:",
            samples
        ),
        None => println!("  idle, {samples} probes:"),
    }
    report("POST start -> queryable", queryable);
    report("POST start -> 200 received", acknowledged);
}

/// What one span holds in the store, by its rules (`src/store/size.rs`), averaged over a
/// request: the detail (the protobuf of every field but the ids, parent, name, kind, times
/// and flags, which the store keeps as fields) and the span name. The rest of the per-span
/// figure is the store's own: its inline span, and the trace entries and indexes.
fn breakdown(request: &[u8], bytes_per_span: f64) {
    let data = decode_traces(request).expect("our own request decodes");
    let (mut spans, mut details, mut names, mut decoded) = (0, 0, 0, 0);
    let mut detail = Vec::new();
    for scope_spans in data.resource_spans.iter().flat_map(|r| &r.scope_spans) {
        for span in &scope_spans.spans {
            spans += 1;
            detail.clear();
            encode_span_detail(span, &mut detail);
            details += detail.len();
            names += if span.name.is_static() {
                0
            } else {
                span.name.len()
            };
            decoded += size_of::<SpanData>()
                + span.attributes.capacity() * size_of::<KeyValue>()
                + span.events.capacity() * size_of::<Event>();
        }
    }
    let per = |total: usize| total as f64 / spans as f64;
    println!(
        "  per span in the store: detail {:.0} B, span name {:.0} B; the rest is the store's \
         inline span and trace entries (protobuf: {bytes_per_span:.1} B; the decoded \
         SpanData with its attribute and event slots alone, before strings, is {:.0} B)",
        per(details),
        per(names),
        per(decoded),
    );
}

/// Decodes and stores every request in a fresh store, timing each step on its own: the
/// spans per second of decode alone and of ingest alone, the store's bytes and its spans.
fn store_pass(requests: &[Bytes]) -> (f64, f64, usize, u64) {
    let spans_per_pass = requests.len() * SPANS_PER_REQUEST;
    let store = Store::new(StoreConfig::default());
    let source = IngestSource {
        transport: Transport::HttpProtobuf,
        peer: None,
    };
    let (mut decoding, mut ingesting) = (Duration::ZERO, Duration::ZERO);
    let mut rejected = 0;
    // One request at a time, decoded then stored while its data is still in cache, as
    // the server does; each step timed on its own.
    for bytes in requests {
        let started = Instant::now();
        let data = decode_traces(bytes).expect("our own requests decode");
        let decoded = Instant::now();
        match store.ingest_traces(data, &source) {
            IngestOutcome::Accepted { rejected: r, .. } => rejected += r,
            IngestOutcome::Backpressure { .. } => panic!("the store never pushes back"),
        }
        decoding += decoded - started;
        ingesting += decoded.elapsed();
    }
    assert_eq!(rejected, 0, "the store refused spans");
    let stored = health(&store)["store"]["traces"]["spans"]
        .as_u64()
        .unwrap_or(0);
    (
        spans_per_pass as f64 / decoding.as_secs_f64(),
        spans_per_pass as f64 / ingesting.as_secs_f64(),
        store.used_bytes(),
        stored,
    )
}

/// Times trace searches and one trace's detail on a store holding `requests`: each query
/// run `repeats` times in process through `Store::api` (no sockets), median reported. The
/// filters that match nothing walk every stored trace: the worst case of each filter.
fn query_pass(requests: &[Bytes], repeats: usize) {
    let store = Store::new(StoreConfig::default());
    let source = IngestSource {
        transport: Transport::HttpProtobuf,
        peer: None,
    };
    for bytes in requests {
        let data = decode_traces(bytes).expect("our own requests decode");
        store.ingest_traces(data, &source);
    }
    let traces = requests.len() * TRACES_PER_REQUEST;
    let oldest = trace_hex(1);
    let queries: [(&str, String); 10] = [
        ("newest 20, no filter", "limit=20".to_owned()),
        (
            "status=error, newest 20",
            "status=error&limit=20".to_owned(),
        ),
        ("spanName matching none", "spanName=no-such-span".to_owned()),
        ("minDuration above all", "minDuration=60s".to_owned()),
        (
            "attr matching none, key in every span",
            "attr=url.path%3D%2Fnowhere".to_owned(),
        ),
        (
            "attr matching none, number value",
            "attr=http.response.status_code%3D404".to_owned(),
        ),
        (
            "attr matching none, key in no span",
            "attr=user.id%3D42".to_owned(),
        ),
        (
            "attr matching only the oldest trace",
            "attr=url.path%3D%2Fapi%2Forders%2F1".to_owned(),
        ),
        (
            "attr on a value of every trace, newest 20",
            "attr=server.address%3Dorders.internal&limit=20".to_owned(),
        ),
        ("service, newest 20", "service=checkout&limit=20".to_owned()),
    ];
    println!(
        "\ntrace search in process (Store::api), store of {traces} traces of {SPANS_PER_TRACE} \
         spans, median of {repeats}:"
    );
    for (what, query) in &queries {
        let mut times: Vec<f64> = (0..repeats)
            .map(|_| {
                let started = Instant::now();
                let response = store.api(&ApiRequest {
                    method: &Method::GET,
                    path: "/api/traces",
                    query: Some(query),
                    body: b"",
                });
                let elapsed = started.elapsed().as_secs_f64();
                assert_eq!(response.status, 200, "{query}");
                black_box(response);
                elapsed
            })
            .collect();
        println!("  {what:<50} {:>9.3} ms", median(&mut times) * 1e3);
    }
    let path = format!("/api/traces/{oldest}");
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let started = Instant::now();
            let response = store.api(&ApiRequest {
                method: &Method::GET,
                path: &path,
                query: None,
                body: b"",
            });
            let elapsed = started.elapsed().as_secs_f64();
            assert_eq!(response.status, 200, "{path}");
            black_box(response);
            elapsed
        })
        .collect();
    println!(
        "  {:<50} {:>9.3} ms",
        "one trace with its 8 spans (GET /api/traces/{id})",
        median(&mut times) * 1e3
    );
}

/// Median time of `repeats` in-process calls of `GET {path}?{query}`, which must answer 200.
fn time_api(store: &Store, path: &str, query: Option<&str>, repeats: usize) -> f64 {
    let mut times: Vec<f64> = (0..repeats)
        .map(|_| {
            let started = Instant::now();
            let response = store.api(&ApiRequest {
                method: &Method::GET,
                path,
                query,
                body: b"",
            });
            let elapsed = started.elapsed().as_secs_f64();
            assert_eq!(response.status, 200, "{path}?{query:?}");
            black_box(response);
            elapsed
        })
        .collect();
    median(&mut times)
}

/// Times log searches on a store holding `records` log records of 8 services: INFO
/// bodies like `order 123 placed in 45 ms` with a route and a user attribute, one in 1,000
/// an ERROR (`payment declined for order 123`), each in a trace and span of its own.
fn log_query_pass(records: u64, repeats: usize) {
    let store = Store::new(StoreConfig::default());
    let source = IngestSource {
        transport: Transport::HttpProtobuf,
        peer: None,
    };
    let base = now_nanos();
    for batch in 0..records.div_ceil(1000) {
        let first = batch * 1000;
        let batch_records = (first..(first + 1000).min(records))
            .map(|n| {
                let error = n % 1000 == 999;
                let (severity, body) = if error {
                    (Severity::ERROR, format!("payment declined for order {n}"))
                } else {
                    (Severity::INFO, format!("order {n} placed in {} ms", n % 97))
                };
                let mut record = LogRecord::new(severity)
                    .with_body(body)
                    .with_attribute("http.route", format!("/orders/{}", n % 50))
                    .with_attribute("enduser.id", (n % 5000) as i64);
                record.timestamp = Some(Timestamp::from_unix_nanos(base + n * 1000));
                record.observed_timestamp = Timestamp::from_unix_nanos(base + n * 1000);
                record.trace_id = TraceId::from_int(u128::from(n) + 1);
                record.span_id = SpanId::from_int(n + 1);
                record
            })
            .collect();
        let data = LogsData {
            resource_logs: vec![ResourceLogs {
                resource: Resource::builder()
                    .with_service_name(format!("service-{}", batch % 8))
                    .build(),
                resource_dropped_attributes_count: 0,
                scope_logs: vec![ScopeLogs {
                    scope: InstrumentationScope::builder("bench").build(),
                    scope_dropped_attributes_count: 0,
                    records: batch_records,
                }],
            }],
        };
        store.ingest_logs(data, &source);
    }
    let stored = store.api(&ApiRequest {
        method: &Method::GET,
        path: "/api/health",
        query: None,
        body: b"",
    });
    let health: serde_json::Value = serde_json::from_slice(&stored.body).expect("health is JSON");
    let held = health["store"]["logs"]["records"].as_u64().unwrap_or(0);
    // The oldest record still held (older ones were evicted to keep the log share).
    let oldest = records - held + 1;
    let oldest_span = format!("{oldest:016x}");
    let oldest_trace = format!("{oldest:032x}");
    let queries: [(&str, String); 9] = [
        ("newest 50, no filter", "limit=50".to_owned()),
        (
            "severity>=ERROR (1 in 1,000), newest 50",
            "severity=ERROR&limit=50".to_owned(),
        ),
        (
            "severity>=FATAL, matching none",
            "severity=FATAL".to_owned(),
        ),
        ("text matching none", "text=no%20such%20words".to_owned()),
        (
            "text in 1 in 1,000 (any case), newest 50",
            "text=PAYMENT%20declined&limit=50".to_owned(),
        ),
        (
            "traceId of the oldest record (index)",
            format!("traceId={oldest_trace}"),
        ),
        (
            "spanId of the oldest record (no traceId)",
            format!("spanId={oldest_span}"),
        ),
        ("attr matching none", "attr=enduser.id%3D-1".to_owned()),
        (
            "service, newest 50",
            "service=service-3&limit=50".to_owned(),
        ),
    ];
    println!(
        "\nlog search in process (Store::api), store of {held} records (of {records} sent), \
         median of {repeats}:"
    );
    for (what, query) in &queries {
        let time = time_api(&store, "/api/logs", Some(query), repeats);
        println!("  {what:<50} {:>9.3} ms", time * 1e3);
    }
}

fn main() {
    // `cargo bench` passes `--bench` (a filter argument is accepted and ignored). Without it
    // this is `cargo test --benches` keeping the benchmark compiling and working: one small
    // pass of each measurement, in the test profile, in about a second.
    let full = std::env::args().any(|arg| arg == "--bench");
    let (repeats, latency_samples, default_requests) = if full {
        (REPEATS, LATENCY_SAMPLES, REQUESTS)
    } else {
        (1, 5, 4)
    };
    let requests_per_pass: usize = std::env::var("DASHBOARD_BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_requests);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "dashboard_ingest: {requests_per_pass} requests x {SPANS_PER_REQUEST} spans per pass; \
         load average at start: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let requests = encode_requests(requests_per_pass, 1);
    let spans_per_pass = requests.len() * SPANS_PER_REQUEST;
    let protobuf_bytes: usize = requests.iter().map(Bytes::len).sum();
    let bytes_per_span = protobuf_bytes as f64 / spans_per_pass as f64;
    println!(
        "request: {} bytes of protobuf on average, {bytes_per_span:.1} bytes per span",
        protobuf_bytes / requests.len()
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a client runtime");

    // 1. OTLP/HTTP throughput.
    println!("\nOTLP/HTTP protobuf ingest, HTTP/1.1 keep-alive, fresh dashboard per pass:");
    let mut memory = None;
    for connections in [1, 2] {
        let mut rates = Vec::new();
        for _ in 0..repeats {
            let pass = http_pass(&runtime, &requests, connections);
            let rate = pass.accepted as f64 / pass.seconds;
            println!(
                "  {connections} connection(s): {:>9.0} spans/s accepted ({:.3} s, {} rejected, \
                 {} stored, {} evicted)",
                rate, pass.seconds, pass.rejected, pass.stored_spans, pass.evicted_spans
            );
            rates.push(rate);
            memory.get_or_insert((pass.used_bytes, pass.stored_spans));
        }
        let best = rates.iter().copied().fold(0.0, f64::max);
        println!(
            "  {connections} connection(s): median {:.0} spans/s, best {best:.0} spans/s",
            median(&mut rates)
        );
    }

    // 2. Decode alone and store ingest alone, on the same bytes, one thread.
    println!("\nthe same requests without sockets, one thread:");
    let mut decode_rates = Vec::new();
    let mut ingest_rates = Vec::new();
    let mut ingest_memory = None;
    for _ in 0..repeats {
        // On a thread of its own, as the server's decode runs on a runtime worker thread
        // rather than on a process's main thread.
        let (decode, ingest, used, stored) = std::thread::scope(|scope| {
            scope
                .spawn(|| store_pass(&requests))
                .join()
                .expect("the store pass")
        });
        decode_rates.push(decode);
        ingest_rates.push(ingest);
        ingest_memory.get_or_insert((used, stored));
    }
    let show = |rates: &[f64]| {
        rates
            .iter()
            .map(|rate| format!("{rate:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "  decode_traces only, each pass:        {} spans/s",
        show(&decode_rates)
    );
    println!(
        "  Store::ingest_traces only, each pass: {} spans/s",
        show(&ingest_rates)
    );
    let decode = median(&mut decode_rates);
    let ingest = median(&mut ingest_rates);
    println!("  decode_traces only:        median {decode:>9.0} spans/s");
    println!("  Store::ingest_traces only: median {ingest:>9.0} spans/s");
    println!(
        "  both in series:            {:>9.0} spans/s (1 / (1/decode + 1/ingest))",
        1.0 / (1.0 / decode + 1.0 / ingest)
    );

    // 3. Memory per stored span.
    println!("\nmemory held per stored span (the store's accounting):");
    for (what, figures) in [
        ("after the HTTP pass", memory),
        ("after ingest only", ingest_memory),
    ] {
        if let Some((used, spans)) = figures {
            let per_span = used as f64 / spans.max(1) as f64;
            println!(
                "  {what}: {used} bytes for {spans} spans = {per_span:.1} bytes per span, \
                 {:.2}x the protobuf ({bytes_per_span:.1} bytes)",
                per_span / bytes_per_span
            );
        }
    }

    breakdown(&requests[0], bytes_per_span);

    // 4. Export -> queryable latency.
    println!(
        "\nexport -> queryable latency: one 8-span trace every {} ms, its id polled at \
         GET /api/traces/{{id}} from POST start:",
        LATENCY_INTERVAL.as_millis()
    );
    latency_pass(&runtime, None, latency_samples);
    latency_pass(&runtime, Some(&requests), latency_samples);

    // 5. Search times.
    query_pass(&requests, if full { 21 } else { 1 });
    log_query_pass(
        if full { 200_000 } else { 2_000 },
        if full { 21 } else { 1 },
    );
}
