//! The OTLP/gRPC exporters against two receivers on 127.0.0.1: `fake-opentelemetry-collector`
//! (tonic and prost, independent of our encoders) for what arrives, and a fault server
//! written on hyper's HTTP/2 server, whose answers each test scripts request by request and
//! which records the requests it saw, for retries, deadlines, compression and partial
//! success.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use fake_opentelemetry_collector::FakeCollectorServer;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use prost::Message;
use telemetry_context::TraceFlags;
use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId, Value};
use telemetry_logs::{LogExporter, LogRecord, Severity};
use telemetry_metrics::data::{
    Histogram, HistogramDataPoint, Metric, MetricData, Number, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, Temporality,
};
use telemetry_metrics::{MeterProvider, PeriodicReader, PushMetricExporter};
use telemetry_otlp::{
    Compression, ExporterBuildError, ExporterConfig, GrpcExportError, GrpcLogExporter,
    GrpcMetricExporter, GrpcSpanExporter, GrpcSpanExporterBuilder, RetryPolicy, Signal,
};
use telemetry_span::{
    BatchConfig, BatchSpanProcessor, ExportErrorKind, InMemorySpanExporter, SpanData, SpanExporter,
    TracerProvider,
};
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, oneshot};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TRACE_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const METRICS_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
const LOGS_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

// ---------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------

fn resource() -> Resource {
    Resource::builder()
        .with_service_name("shop")
        .with_attribute(KeyValue::new("host.name", "box-1"))
        .build()
}

fn time(nanos: u64) -> Timestamp {
    Timestamp::from_unix_nanos(1_700_000_000_000_000_000 + nanos)
}

/// Real finished spans, each with an `index` attribute.
fn spans(count: usize) -> Result<Vec<SpanData>, Box<dyn std::error::Error>> {
    let exporter = InMemorySpanExporter::new();
    let provider = TracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("checkout");
    for i in 0..count {
        tracer.in_span("charge", |span| {
            span.set_attribute(KeyValue::new("index", i as i64));
        });
    }
    provider.shutdown()?;
    Ok(exporter.finished_spans())
}

fn point(value: Number, attributes: Vec<KeyValue>) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time: time(0),
        time: time(1_000),
        value,
        exemplars: Vec::new(),
    }
}

/// A sum with two points and a histogram with one, from two meters.
fn collection() -> ResourceMetrics {
    let requests = Metric {
        name: "http.server.requests".to_owned(),
        description: "Requests served".to_owned(),
        unit: "{request}".to_owned(),
        data: MetricData::Sum(Sum {
            points: vec![
                point(Number::I64(3), vec![KeyValue::new("method", "GET")]),
                point(Number::I64(1), vec![KeyValue::new("method", "POST")]),
            ],
            temporality: Temporality::Cumulative,
            is_monotonic: true,
        }),
    };
    let latency = Metric {
        name: "db.latency".to_owned(),
        description: String::new(),
        unit: "ms".to_owned(),
        data: MetricData::Histogram(Histogram {
            points: vec![HistogramDataPoint {
                attributes: vec![KeyValue::new("table", "orders")],
                start_time: time(0),
                time: time(1_000),
                count: 4,
                sum: Some(41.0),
                min: Some(1.0),
                max: Some(30.0),
                bounds: vec![5.0, 25.0],
                bucket_counts: vec![2, 1, 1],
                exemplars: Vec::new(),
            }],
            temporality: Temporality::Delta,
        }),
    };
    ResourceMetrics {
        resource: resource(),
        scope_metrics: vec![
            ScopeMetrics {
                scope: InstrumentationScope::builder("checkout").build(),
                metrics: vec![requests],
            },
            ScopeMetrics {
                scope: InstrumentationScope::builder("db").build(),
                metrics: vec![latency],
            },
        ],
    }
}

/// Two records, one inside a span.
fn records() -> Vec<LogRecord> {
    let api = InstrumentationScope::builder("api").build();
    let in_span = LogRecord {
        timestamp: Some(time(5)),
        observed_timestamp: time(6),
        severity: Severity::WARN,
        severity_text: Some("WARN".into()),
        body: Value::from("payment retried"),
        attributes: vec![KeyValue::new("attempt", 2i64)].into(),
        trace_id: TraceId::from_int(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        span_id: SpanId::from_int(0x00f0_67aa_0ba9_02b7),
        trace_flags: TraceFlags::SAMPLED,
        scope: api.clone(),
        ..LogRecord::default()
    };
    let plain = LogRecord {
        observed_timestamp: time(7),
        severity: Severity::ERROR,
        body: Value::from("declined"),
        scope: api,
        ..LogRecord::default()
    };
    vec![in_span, plain]
}

/// How the fake collector prints an attribute value: the `Debug` of prost's `AnyValue`.
fn shown(value: any_value::Value) -> String {
    format!("{:?}", Some(AnyValue { value: Some(value) }))
}

fn grpc_error(error: &dyn std::error::Error) -> Option<&GrpcExportError> {
    error.source()?.downcast_ref::<GrpcExportError>()
}

/// Fast retries, so that tests take milliseconds rather than seconds.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_attempts: 5,
    }
}

// ---------------------------------------------------------------------------------------
// Against fake-opentelemetry-collector
// ---------------------------------------------------------------------------------------

/// The fake collector on a runtime of its own, so that the blocking exporters can be called
/// from the test's thread while it serves.
struct Collector {
    runtime: tokio::runtime::Runtime,
    server: FakeCollectorServer,
}

impl Collector {
    fn start() -> Result<Self, Box<dyn std::error::Error>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let server = runtime
            .block_on(FakeCollectorServer::start())
            .map_err(|error| error.to_string())?;
        Ok(Collector { runtime, server })
    }

    fn endpoint(&self) -> String {
        self.server.endpoint()
    }
}

#[test]
fn spans_arrive_at_an_independent_collector_with_ids_names_and_attributes() -> TestResult {
    let mut collector = Collector::start()?;
    let mut exporter = GrpcSpanExporter::builder()
        .endpoint(collector.endpoint())
        .timeout(Some(Duration::from_secs(5)))
        .build()?;
    let stats = exporter.stats();
    exporter.set_resource(&resource());
    let sent = spans(3)?;
    // From another thread than the one that built the exporter.
    let (mut exporter, result) = std::thread::spawn(move || {
        let result = exporter.export(&sent);
        (exporter, result.map(|()| sent))
    })
    .join()
    .map_err(|_| "the exporting thread panicked")?;
    let sent = result?;
    exporter.shutdown()?;

    let received = collector.runtime.block_on(
        collector
            .server
            .exported_spans(sent.len(), Duration::from_secs(5)),
    );
    assert_eq!(received.len(), sent.len());
    for (span, got) in sent.iter().zip(&received) {
        assert_eq!(got.trace_id, span.span_context.trace_id().to_string());
        assert_eq!(got.span_id, span.span_context.span_id().to_string());
        assert_eq!(got.parent_span_id, "");
        assert_eq!(got.name, "charge");
        assert_eq!(got.kind, "SPAN_KIND_INTERNAL");
        assert_eq!(got.start_time_unix_nano, span.start_time.as_unix_nanos());
        assert_eq!(got.end_time_unix_nano, span.end_time.as_unix_nanos());
        let Some(Value::I64(index)) = span.attributes.first().map(|kv| kv.value.clone()) else {
            return Err("the span lost its attribute".into());
        };
        assert_eq!(got.attributes.len(), 1);
        assert_eq!(
            got.attributes["index"],
            shown(any_value::Value::IntValue(index))
        );
    }
    assert_eq!(stats.requests(), 1);
    assert_eq!(stats.rejected_items(), 0);
    collector.server.abort();
    Ok(())
}

#[test]
fn a_batch_processor_delivers_through_grpc() -> TestResult {
    let mut collector = Collector::start()?;
    let exporter = GrpcSpanExporter::builder()
        .endpoint(collector.endpoint())
        .build()?;
    let processor = BatchSpanProcessor::with_config(exporter, BatchConfig::default())?;
    let provider = TracerProvider::builder()
        .with_resource(resource())
        .with_span_processor(processor)
        .build();
    provider.tracer("checkout").in_span("pay", |span| {
        span.set_attribute(KeyValue::new("amount", 42.5));
    });
    provider.shutdown()?;
    let received = collector
        .runtime
        .block_on(collector.server.exported_spans(1, Duration::from_secs(5)));
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].name, "pay");
    assert_eq!(
        received[0].attributes["amount"],
        shown(any_value::Value::DoubleValue(42.5))
    );
    collector.server.abort();
    Ok(())
}

#[test]
fn metrics_arrive_at_an_independent_collector_with_names_and_values() -> TestResult {
    let mut collector = Collector::start()?;
    let mut exporter = GrpcMetricExporter::builder()
        .endpoint(collector.endpoint())
        .timeout(Some(Duration::from_secs(5)))
        .build()?;
    exporter.export(&collection())?;
    exporter.shutdown()?;
    // One entry per scope; compared through its serde form, as the collector does not
    // export the types of its fields.
    let received = collector
        .runtime
        .block_on(collector.server.exported_metrics(2, Duration::from_secs(5)));
    let received = serde_json::to_value(&received)?;
    let requests = &received[0]["metrics"][0];
    assert_eq!(requests["name"], "http.server.requests");
    assert_eq!(requests["description"], "Requests served");
    assert_eq!(requests["unit"], "{request}");
    let sum = &requests["data"]["Sum"];
    assert_eq!(sum["is_monotonic"], true);
    assert_eq!(sum["aggregation_temporality"], 2, "cumulative");
    let points = &sum["data_points"];
    assert_eq!(points[0]["value"]["AsInt"], 3);
    assert_eq!(points[1]["value"]["AsInt"], 1);
    assert_eq!(
        points[0]["attributes"]["method"],
        shown(any_value::Value::StringValue("GET".to_owned()))
    );
    assert_eq!(points[0]["start_time_unix_nano"], time(0).as_unix_nanos());
    assert_eq!(points[0]["time_unix_nano"], time(1_000).as_unix_nanos());

    let latency = &received[1]["metrics"][0];
    assert_eq!(latency["name"], "db.latency");
    let histogram = &latency["data"]["Histogram"];
    assert_eq!(histogram["aggregation_temporality"], 1, "delta");
    let point = &histogram["data_points"][0];
    assert_eq!(point["count"], 4);
    assert_eq!(point["sum"], 41.0);
    assert_eq!(point["min"], 1.0);
    assert_eq!(point["max"], 30.0);
    assert_eq!(point["bucket_counts"], serde_json::json!([2, 1, 1]));
    assert_eq!(point["explicit_bounds"], serde_json::json!([5.0, 25.0]));
    collector.server.abort();
    Ok(())
}

#[test]
fn logs_arrive_at_an_independent_collector_with_ids_bodies_and_attributes() -> TestResult {
    let mut collector = Collector::start()?;
    let mut exporter = GrpcLogExporter::builder()
        .endpoint(collector.endpoint())
        .timeout(Some(Duration::from_secs(5)))
        .build()?;
    exporter.set_resource(&resource());
    exporter.export(&records())?;
    exporter.shutdown()?;
    let received = collector
        .runtime
        .block_on(collector.server.exported_logs(2, Duration::from_secs(5)));
    assert_eq!(received.len(), 2);
    let first = &received[0];
    assert_eq!(first.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(first.span_id, "00f067aa0ba902b7");
    assert_eq!(first.flags, 1);
    assert_eq!(first.severity_number, 13);
    assert_eq!(first.severity_text, "WARN");
    assert_eq!(first.observed_time_unix_nano, time(6).as_unix_nanos());
    assert_eq!(
        first.body.as_deref(),
        Some(
            format!(
                "{:?}",
                AnyValue {
                    value: Some(any_value::Value::StringValue("payment retried".to_owned()))
                }
            )
            .as_str()
        )
    );
    assert_eq!(
        first.attributes["attempt"],
        shown(any_value::Value::IntValue(2))
    );
    let second = &received[1];
    assert_eq!(second.trace_id, "");
    assert_eq!(second.severity_number, 17);
    assert!(second.attributes.is_empty());
    collector.server.abort();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The fault server
// ---------------------------------------------------------------------------------------

/// One scripted answer.
#[derive(Clone, Debug)]
enum Reply {
    /// OK with this response message.
    Ok(Vec<u8>),
    /// OK with this response message, gzipped (`grpc-encoding: gzip`).
    OkGzip(Vec<u8>),
    /// A failed call in the trailers after an empty body, rather than trailers-only.
    TrailerStatus(u32, &'static str, Details),
    /// An HTTP status with no gRPC status at all, as a proxy in front of the collector
    /// answers.
    Http(u16),
    /// A failed call: code, message and `grpc-status-details-bin` (raw, or already text).
    Status(u32, &'static str, Details),
    /// Never answer (until the server stops).
    Stall,
    /// Reset the connection (TCP RST) after reading the request, without an answer.
    Reset,
}

/// What goes in `grpc-status-details-bin`.
#[derive(Clone, Copy, Debug)]
enum Details {
    None,
    /// A `google.rpc.Status` holding a RetryInfo with this delay.
    RetryAfter(Duration),
    /// Header text as is (to send something that is not base64).
    Raw(&'static str),
}

/// A request as the server saw it.
#[derive(Debug)]
struct Recorded {
    at: Instant,
    headers: HeaderMap,
    path: String,
    /// The gRPC message, uncompressed.
    message: Vec<u8>,
    /// The compressed flag of its frame.
    compressed: bool,
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Recorded>>,
}

/// Answers from its script, then OK with an empty response; stops when dropped.
struct FaultServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A port held but refusing connections: bound, not listening, until
/// [`FaultServer::on`] listens on it.
fn reserve_port() -> std::io::Result<TcpSocket> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    Ok(socket)
}

impl FaultServer {
    fn start(script: Vec<Reply>) -> std::io::Result<Self> {
        Self::on(reserve_port()?, script)
    }

    /// Serves on `socket`, which starts listening now.
    fn on(socket: TcpSocket, script: Vec<Reply>) -> std::io::Result<Self> {
        let addr = socket.local_addr()?;
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into()),
            seen: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let listener = {
            let _entered = runtime.enter();
            socket.listen(64)?
        };
        let state = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            runtime.block_on(serve(listener, state, stopped));
        });
        Ok(FaultServer {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> usize {
        lock(&self.shared.seen).len()
    }

    fn take_seen(&self) -> Vec<Recorded> {
        std::mem::take(&mut *lock(&self.shared.seen))
    }
}

impl Drop for FaultServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: oneshot::Receiver<()>,
) {
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        // Dropping the socket then sends RST, which `Reply::Reset` relies on.
        let _ = stream.set_zero_linger();
        let shared = Arc::clone(&shared);
        // Connections (stalled ones included) are tasks of this runtime: they end when the
        // runtime drops with the server.
        tokio::spawn(async move {
            let (reset, mut resets) = mpsc::unbounded_channel::<()>();
            let service =
                service_fn(move |request| answer(Arc::clone(&shared), reset.clone(), request));
            let serving = http2::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = serving => {}
                // Dropping the connection drops the socket: a reset, not a polite close.
                _ = resets.recv() => {}
            }
        });
    }
}

/// A gRPC response body: at most one message, then trailers.
struct GrpcBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl Body for GrpcBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(data) = this.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(
            this.trailers
                .take()
                .map(|trailers| Ok(Frame::trailers(trailers))),
        )
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }
}

/// Splits a gRPC request body into its one message and the compressed flag, gunzipping.
fn unframe(headers: &HeaderMap, body: &[u8]) -> (Vec<u8>, bool) {
    if body.len() < 5 {
        return (Vec::new(), false);
    }
    let compressed = body[0] == 1;
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    let message = &body[5..(5 + len).min(body.len())];
    let gzip = headers
        .get("grpc-encoding")
        .is_some_and(|encoding| encoding == "gzip");
    if compressed && gzip {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(message)
            .read_to_end(&mut out)
            .is_ok()
        {
            return (out, true);
        }
    }
    (message.to_vec(), compressed)
}

async fn answer(
    shared: Arc<Shared>,
    reset: mpsc::UnboundedSender<()>,
    request: Request<Incoming>,
) -> Result<Response<GrpcBody>, std::io::Error> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let (message, compressed) = unframe(&parts.headers, &body);
    lock(&shared.seen).push(Recorded {
        at: Instant::now(),
        headers: parts.headers,
        path: parts.uri.path().to_owned(),
        message,
        compressed,
    });
    let reply = lock(&shared.script).pop_front();
    let mut response = Response::new(GrpcBody {
        data: None,
        trailers: None,
    });
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    match reply.unwrap_or(Reply::Ok(Vec::new())) {
        Reply::Stall => {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Reply::Reset => {
            let _ = reset.send(());
            return std::future::pending().await;
        }
        Reply::Ok(message) => {
            let mut frame = vec![0u8];
            frame.extend((message.len() as u32).to_be_bytes());
            frame.extend(message);
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            *response.body_mut() = GrpcBody {
                data: Some(Bytes::from(frame)),
                trailers: Some(trailers),
            };
        }
        Reply::OkGzip(message) => {
            let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            gzip.write_all(&message).map_err(|_| fault())?;
            let compressed = gzip.finish().map_err(|_| fault())?;
            let mut frame = vec![1u8];
            frame.extend((compressed.len() as u32).to_be_bytes());
            frame.extend(compressed);
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            response
                .headers_mut()
                .insert("grpc-encoding", HeaderValue::from_static("gzip"));
            *response.body_mut() = GrpcBody {
                data: Some(Bytes::from(frame)),
                trailers: Some(trailers),
            };
        }
        Reply::TrailerStatus(code, message, details) => {
            let mut trailers = HeaderMap::new();
            status_headers(&mut trailers, code, message, details);
            *response.body_mut() = GrpcBody {
                data: None,
                trailers: Some(trailers),
            };
        }
        Reply::Http(code) => {
            *response.status_mut() = StatusCode::from_u16(code).map_err(|_| fault())?;
            response.headers_mut().remove("content-type");
        }
        // Trailers-only, as servers answer failed calls.
        Reply::Status(code, message, details) => {
            status_headers(response.headers_mut(), code, message, details);
        }
    }
    Ok(response)
}

/// A failed answer's error: `answer` is a hyper service, whose error type this is; any
/// error ends the connection, which no test expects.
fn fault() -> std::io::Error {
    std::io::Error::other("the fault server could not build its answer")
}

/// `grpc-status`, `grpc-message` and `grpc-status-details-bin`, in headers or trailers.
fn status_headers(headers: &mut HeaderMap, code: u32, message: &'static str, details: Details) {
    headers.insert("grpc-status", HeaderValue::from(code));
    headers.insert("grpc-message", HeaderValue::from_static(message));
    let details = match details {
        Details::None => None,
        Details::RetryAfter(delay) => Some(base64(&status_with_retry_info(code, delay))),
        Details::Raw(text) => Some(text.to_owned()),
    };
    if let Some(details) = details
        && let Ok(value) = HeaderValue::from_str(&details)
    {
        headers.insert("grpc-status-details-bin", value);
    }
}

/// Protobuf helpers for the server's answers, written independently of the crate's writer.
fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn len_field(number: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint(number << 3 | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

fn varint_field(number: u64, value: u64, out: &mut Vec<u8>) {
    varint(number << 3, out);
    varint(value, out);
}

/// `google.rpc.Status { code, details: [Any(RetryInfo { retry_delay })] }`.
fn status_with_retry_info(code: u32, delay: Duration) -> Vec<u8> {
    let mut duration = Vec::new();
    varint_field(1, delay.as_secs(), &mut duration);
    varint_field(2, u64::from(delay.subsec_nanos()), &mut duration);
    let mut retry_info = Vec::new();
    len_field(1, &duration, &mut retry_info);
    let mut any = Vec::new();
    len_field(1, RETRY_INFO_TYPE.as_bytes(), &mut any);
    len_field(2, &retry_info, &mut any);
    let mut status = Vec::new();
    varint_field(1, u64::from(code), &mut status);
    len_field(3, &any, &mut status);
    status
}

/// `Export*ServiceResponse { partial_success { rejected, error_message } }`.
fn partial_success(rejected: u64, message: &str) -> Vec<u8> {
    let mut partial = Vec::new();
    varint_field(1, rejected, &mut partial);
    len_field(2, message.as_bytes(), &mut partial);
    let mut response = Vec::new();
    len_field(1, &partial, &mut response);
    response
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn span_exporter(server: &FaultServer) -> GrpcSpanExporterBuilder {
    GrpcSpanExporter::builder()
        .endpoint(server.url())
        .retry(fast_retry())
        .timeout(Some(Duration::from_secs(5)))
}

/// The span names of a request, read with prost.
fn span_names(message: &[u8]) -> Result<Vec<String>, prost::DecodeError> {
    let request = ExportTraceServiceRequest::decode(message)?;
    Ok(request
        .resource_spans
        .into_iter()
        .flat_map(|resource| resource.scope_spans)
        .flat_map(|scope| scope.spans)
        .map(|span| span.name)
        .collect())
}

#[test]
fn unavailable_with_retry_info_is_retried_after_the_delay_with_the_right_request() -> TestResult {
    let delay = Duration::from_millis(300);
    let server = FaultServer::start(vec![Reply::Status(14, "busy", Details::RetryAfter(delay))])?;
    let mut exporter = span_exporter(&server).header("x-tenant", "acme").build()?;
    let stats = exporter.stats();
    exporter.set_resource(&resource());
    exporter.export(&spans(2)?)?;
    assert_eq!(stats.requests(), 2);
    let seen = server.take_seen();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= delay, "retried after {waited:?}");
    for request in &seen {
        assert_eq!(request.path, TRACE_PATH);
        assert_eq!(request.headers["content-type"], "application/grpc");
        assert_eq!(request.headers["te"], "trailers");
        assert_eq!(request.headers["x-tenant"], "acme");
        let agent = request.headers["user-agent"].to_str()?;
        assert!(
            agent.starts_with("OTel-OTLP-Exporter-Rust telemetry-otlp/"),
            "{agent}"
        );
        // Every attempt carries what is left of the 5 s deadline.
        let timeout = request.headers["grpc-timeout"].to_str()?;
        let (digits, unit) = timeout.split_at(timeout.len() - 1);
        let micros: u64 = match unit {
            "u" => digits.parse()?,
            "m" => digits.parse::<u64>()? * 1000,
            other => return Err(format!("unexpected grpc-timeout unit {other}").into()),
        };
        assert!(micros > 0 && micros <= 5_000_000, "{timeout}");
        assert!(!request.compressed);
        assert_eq!(span_names(&request.message)?, ["charge", "charge"]);
    }
    Ok(())
}

#[test]
fn invalid_argument_is_reported_at_once_without_a_retry() -> TestResult {
    let server = FaultServer::start(vec![Reply::Status(3, "bad spans", Details::None)])?;
    let mut exporter = span_exporter(&server).build()?;
    let started = Instant::now();
    let error = exporter
        .export(&spans(1)?)
        .expect_err("INVALID_ARGUMENT fails the export");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(error.kind(), ExportErrorKind::Rejected);
    let source = grpc_error(&error).ok_or("no GrpcExportError source")?;
    assert_eq!(source.code(), Some(3));
    assert_eq!(source.code_name(), Some("INVALID_ARGUMENT"));
    assert_eq!(source.attempts(), 1);
    assert_eq!(source.message(), "bad spans");
    assert_eq!(server.requests(), 1);
    // The exporter still works afterwards.
    exporter.export(&spans(1)?)?;
    assert_eq!(server.requests(), 2);
    Ok(())
}

#[test]
fn resource_exhausted_is_retried_only_with_retry_info() -> TestResult {
    let server = FaultServer::start(vec![
        Reply::Status(8, "quota", Details::None),
        Reply::Status(8, "quota", Details::RetryAfter(Duration::from_millis(20))),
    ])?;
    let mut exporter = span_exporter(&server).build()?;
    let error = exporter
        .export(&spans(1)?)
        .expect_err("RESOURCE_EXHAUSTED without RetryInfo fails");
    assert_eq!(error.kind(), ExportErrorKind::Rejected);
    let source = grpc_error(&error).ok_or("no GrpcExportError source")?;
    assert_eq!(source.code_name(), Some("RESOURCE_EXHAUSTED"));
    assert_eq!(source.attempts(), 1);
    assert_eq!(server.requests(), 1);
    // With RetryInfo, the second export's first attempt is retried and the retry succeeds.
    exporter.export(&spans(1)?)?;
    assert_eq!(server.requests(), 3);
    Ok(())
}

#[test]
fn a_connection_reset_before_the_answer_is_retried() -> TestResult {
    // tonic reports the reset as UNKNOWN ("transport error"); OTLP retries a disconnect
    // without a response, and so must we, or the batch is lost.
    let server = FaultServer::start(vec![Reply::Reset, Reply::Reset])?;
    let mut exporter = span_exporter(&server).build()?;
    let stats = exporter.stats();
    exporter.export(&spans(2)?)?;
    assert_eq!(stats.requests(), 3);
    let seen = server.take_seen();
    assert_eq!(seen.len(), 3);
    for request in &seen {
        assert_eq!(span_names(&request.message)?, ["charge", "charge"]);
    }
    Ok(())
}

#[test]
fn a_reset_that_lasts_reports_the_transport_error() -> TestResult {
    let server = FaultServer::start(vec![Reply::Reset; 1000])?;
    let mut exporter = span_exporter(&server)
        .timeout(Some(Duration::from_millis(300)))
        .build()?;
    let error = exporter
        .export(&spans(1)?)
        .expect_err("every call is reset");
    assert_eq!(error.kind(), ExportErrorKind::Timeout, "{error}");
    let source = grpc_error(&error).ok_or("no GrpcExportError source")?;
    assert_eq!(source.code_name(), Some("UNKNOWN"), "{source}");
    // More than tonic's bare "transport error": the cause is kept.
    assert!(
        source.message().starts_with("transport error: "),
        "{source}"
    );
    assert!(server.requests() >= 2, "{} requests", server.requests());
    Ok(())
}

#[test]
fn unknown_sent_by_the_server_is_not_retried() -> TestResult {
    let server = FaultServer::start(vec![
        Reply::Status(2, "collector bug", Details::None),
        Reply::TrailerStatus(2, "collector bug", Details::None),
    ])?;
    let mut exporter = span_exporter(&server).build()?;
    for (sent, how) in [(1, "trailers-only"), (2, "in trailers")] {
        let error = exporter
            .export(&spans(1)?)
            .expect_err("UNKNOWN fails the export");
        assert_eq!(error.kind(), ExportErrorKind::Rejected, "{how}");
        let source = grpc_error(&error).ok_or("no GrpcExportError source")?;
        assert_eq!(source.code(), Some(2), "{how}");
        assert_eq!(source.attempts(), 1, "{how}");
        assert_eq!(source.message(), "collector bug", "{how}");
        assert_eq!(server.requests(), sent, "{how}: not retried");
    }
    Ok(())
}

#[test]
fn a_retry_info_delay_holds_back_later_exports_too() -> TestResult {
    let delay = Duration::from_secs(1);
    let server = FaultServer::start(vec![Reply::Status(14, "busy", Details::RetryAfter(delay))])?;
    let mut exporter = span_exporter(&server).build()?;
    let stats = exporter.stats();
    // A processor's deadline shorter than the delay: the export gives up after one call.
    exporter.set_export_timeout(Some(Duration::from_millis(300)));
    let error = exporter.export(&spans(1)?).expect_err("refused");
    assert_eq!(error.kind(), ExportErrorKind::Timeout);
    // The processor's retry comes at once: it fails without reaching the collector.
    let started = Instant::now();
    let error = exporter.export(&spans(1)?).expect_err("held back");
    assert!(started.elapsed() < Duration::from_millis(300));
    assert_eq!(error.kind(), ExportErrorKind::Timeout);
    let source = grpc_error(&error).ok_or("no GrpcExportError source")?;
    assert_eq!((source.code(), source.attempts()), (None, 0), "{source}");
    assert!(source.message().starts_with("not sent: "), "{source}");
    assert!(source.message().contains("UNAVAILABLE"), "{source}");
    assert_eq!(server.requests(), 1);
    assert_eq!((stats.requests(), stats.exports_held_back()), (1, 1));
    // With time enough, the next export waits for the delay's end, then is delivered.
    exporter.set_export_timeout(None);
    exporter.export(&spans(1)?)?;
    assert_eq!((stats.requests(), stats.exports_held_back()), (2, 1));
    let seen = server.take_seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= delay, "called again after {gap:?}");
    Ok(())
}

#[test]
fn a_stalled_server_fails_the_export_within_its_deadline() -> TestResult {
    let server = FaultServer::start(vec![Reply::Stall])?;
    let deadline = Duration::from_millis(300);
    let mut exporter = span_exporter(&server).timeout(Some(deadline)).build()?;
    let started = Instant::now();
    let error = exporter
        .export(&spans(1)?)
        .expect_err("a stalled export fails");
    let took = started.elapsed();
    assert_eq!(error.kind(), ExportErrorKind::Timeout);
    assert!(took >= deadline, "gave up after {took:?}");
    assert!(took < deadline + Duration::from_secs(1), "took {took:?}");
    assert_eq!(server.requests(), 1);
    let timeout = server.take_seen()[0].headers["grpc-timeout"]
        .to_str()?
        .to_owned();
    assert!(
        timeout.ends_with('u') || timeout.ends_with('m'),
        "{timeout}"
    );
    Ok(())
}

#[test]
fn an_unreachable_collector_is_retried_until_the_deadline() -> TestResult {
    // A port held but not listening: every connection is refused.
    let socket = reserve_port()?;
    let addr = socket.local_addr()?;
    let mut exporter = GrpcSpanExporter::builder()
        .endpoint(format!("http://{addr}"))
        .retry(fast_retry())
        .timeout(Some(Duration::from_millis(400)))
        .build()?;
    let stats = exporter.stats();
    let started = Instant::now();
    let error = exporter.export(&spans(1)?).expect_err("nothing listens");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(error.kind(), ExportErrorKind::Timeout);
    let source = grpc_error(&error).ok_or("no GrpcExportError source")?;
    assert_eq!(source.code_name(), Some("UNAVAILABLE"));
    assert!(stats.requests() >= 2, "{} attempts", stats.requests());
    Ok(())
}

#[test]
fn without_a_deadline_retries_end_after_max_attempts() -> TestResult {
    let busy = Reply::Status(14, "busy", Details::None);
    let server = FaultServer::start(vec![busy; 3])?;
    let mut exporter = span_exporter(&server)
        .timeout(None)
        .retry(RetryPolicy {
            max_attempts: 3,
            ..fast_retry()
        })
        .build()?;
    let error = exporter.export(&spans(1)?).expect_err("retries run out");
    assert_eq!(error.kind(), ExportErrorKind::Unavailable);
    let source = grpc_error(&error).ok_or("no GrpcExportError source")?;
    assert_eq!(source.attempts(), 3);
    let seen = server.take_seen();
    assert_eq!(seen.len(), 3);
    assert!(seen[0].headers.get("grpc-timeout").is_none());
    Ok(())
}

#[test]
fn partial_success_is_counted_per_signal() -> TestResult {
    let server = FaultServer::start(vec![
        Reply::Ok(partial_success(2, "two spans too old")),
        Reply::Ok(partial_success(1, "one point dropped")),
        Reply::Ok(partial_success(0, "only a warning")),
    ])?;
    let mut spans_out = span_exporter(&server).build()?;
    spans_out.export(&spans(3)?)?;
    assert_eq!(spans_out.stats().rejected_items(), 2);

    let mut metrics_out = GrpcMetricExporter::builder()
        .endpoint(server.url())
        .build()?;
    metrics_out.export(&collection())?;
    assert_eq!(metrics_out.stats().rejected_items(), 1);

    let mut logs_out = GrpcLogExporter::builder().endpoint(server.url()).build()?;
    logs_out.export(&records())?;
    assert_eq!(logs_out.stats().rejected_items(), 0);

    let paths: Vec<String> = server.take_seen().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, [TRACE_PATH, METRICS_PATH, LOGS_PATH]);
    Ok(())
}

#[test]
fn gzip_requests_are_marked_and_decode() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let mut exporter = span_exporter(&server)
        .compression(Compression::Gzip)
        .build()?;
    exporter.set_resource(&resource());
    exporter.export(&spans(4)?)?;
    let seen = server.take_seen();
    assert_eq!(seen[0].headers["grpc-encoding"], "gzip");
    assert!(seen[0].compressed, "the frame's compressed flag is set");
    assert_eq!(span_names(&seen[0].message)?, ["charge"; 4]);
    let request = ExportTraceServiceRequest::decode(&seen[0].message[..])?;
    let service = request.resource_spans[0]
        .resource
        .as_ref()
        .ok_or("no resource")?
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .and_then(|kv| kv.value.clone());
    assert_eq!(
        service,
        Some(AnyValue {
            value: Some(any_value::Value::StringValue("shop".to_owned()))
        })
    );
    Ok(())
}

/// Panics on the exporters' own threads (named `telemetry-otlp-*`) since the first call.
static EXPORTER_PANICS: AtomicUsize = AtomicUsize::new(0);

/// Installs, once, a panic hook that counts [`EXPORTER_PANICS`] before printing as usual.
fn count_exporter_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current();
            if thread
                .name()
                .is_some_and(|name| name.starts_with("telemetry-otlp"))
            {
                EXPORTER_PANICS.fetch_add(1, Ordering::SeqCst);
            }
            previous(info);
        }));
    });
}

#[test]
fn status_details_that_are_not_base64_are_dropped_without_a_panic() -> TestResult {
    count_exporter_panics();
    // tonic panics reading such a header; the exporter drops it first and reads the rest
    // of the status, here a retryable UNAVAILABLE, in the headers and then in trailers.
    let server = FaultServer::start(vec![
        Reply::Status(14, "busy", Details::Raw("not base64 !!")),
        Reply::TrailerStatus(14, "busy", Details::Raw("a-_b")),
        Reply::Ok(Vec::new()),
        Reply::Status(3, "bad", Details::Raw("QR")),
    ])?;
    let mut exporter = span_exporter(&server).build()?;
    exporter.export(&spans(1)?)?;
    assert_eq!(
        server.requests(),
        3,
        "both UNAVAILABLEs were read and retried"
    );
    assert_eq!(exporter.stats().requests(), 3);
    let error = exporter.export(&spans(1)?).expect_err("INVALID_ARGUMENT");
    assert_eq!(error.kind(), ExportErrorKind::Rejected);
    let source = grpc_error(&error).ok_or("no GrpcExportError source")?;
    assert_eq!(source.code_name(), Some("INVALID_ARGUMENT"));
    assert_eq!(source.message(), "bad");
    exporter.export(&spans(1)?)?;
    assert_eq!(server.requests(), 5);
    assert_eq!(
        EXPORTER_PANICS.load(Ordering::SeqCst),
        0,
        "the exporter panicked"
    );
    Ok(())
}

#[test]
fn valid_status_details_in_trailers_are_still_read() -> TestResult {
    let delay = Duration::from_millis(250);
    let server = FaultServer::start(vec![Reply::TrailerStatus(
        14,
        "busy",
        Details::RetryAfter(delay),
    )])?;
    let mut exporter = span_exporter(&server).build()?;
    exporter.export(&spans(1)?)?;
    let seen = server.take_seen();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1].at - seen[0].at >= delay,
        "the RetryInfo delay was kept"
    );
    Ok(())
}

#[test]
fn an_oversized_ok_response_is_delivered_once() -> TestResult {
    // tonic refuses the 100-byte answer over the 16-byte limit as OUT_OF_RANGE; the
    // collector took the data, so the exporter must not send it again.
    let server = FaultServer::start(vec![Reply::Ok(vec![0; 100]); 10])?;
    let mut exporter = span_exporter(&server).max_response_size(16).build()?;
    exporter.export(&spans(1)?)?;
    assert_eq!(server.requests(), 1);
    Ok(())
}

#[test]
fn an_oversized_gzip_response_is_delivered_once() -> TestResult {
    // Small enough compressed to pass the length check, too large once decompressed:
    // tonic refuses it as RESOURCE_EXHAUSTED.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&[0; 20_000])?;
    assert!(
        gzip.finish()?.len() < 100,
        "the compressed answer passes the length check"
    );
    let server = FaultServer::start(vec![Reply::OkGzip(vec![0; 20_000]); 10])?;
    let mut exporter = span_exporter(&server).max_response_size(100).build()?;
    exporter.export(&spans(1)?)?;
    assert_eq!(server.requests(), 1);
    Ok(())
}

#[test]
fn a_gzip_response_with_partial_success_is_decompressed_and_counted() -> TestResult {
    let server = FaultServer::start(vec![Reply::OkGzip(partial_success(4, "stale"))])?;
    let mut exporter = span_exporter(&server).build()?;
    let stats = exporter.stats();
    exporter.export(&spans(5)?)?;
    assert_eq!(stats.rejected_items(), 4);
    assert_eq!(server.requests(), 1);
    Ok(())
}

#[test]
fn a_huge_timeout_means_no_deadline_without_a_panic() -> TestResult {
    let server = FaultServer::start(vec![Reply::Status(14, "busy", Details::None)])?;
    let mut exporter = span_exporter(&server)
        .timeout(Some(Duration::MAX))
        .build()?;
    exporter.export(&spans(1)?)?;
    assert_eq!(server.requests(), 2);
    // 20,000 years is a deadline, but longer than grpc-timeout can say (tonic panicked).
    exporter.set_export_timeout(Some(Duration::from_secs(20_000 * 365 * 86_400)));
    exporter.export(&spans(1)?)?;
    let seen = server.take_seen();
    assert!(seen[0].headers.get("grpc-timeout").is_none());
    assert_eq!(seen[2].headers["grpc-timeout"], "99999999H");
    Ok(())
}

#[test]
fn retry_info_of_zero_does_not_spin() -> TestResult {
    let server = FaultServer::start(vec![
        Reply::Status(
            14,
            "busy",
            Details::RetryAfter(Duration::ZERO)
        );
        1000
    ])?;
    let mut exporter = span_exporter(&server)
        .retry(RetryPolicy {
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            max_attempts: 5,
        })
        .timeout(Some(Duration::from_millis(300)))
        .build()?;
    let error = exporter.export(&spans(1)?).expect_err("always busy");
    assert_eq!(error.kind(), ExportErrorKind::Timeout);
    // At least 10 ms between attempts: 31 at most in 300 ms.
    assert!(server.requests() <= 31, "{} requests", server.requests());
    Ok(())
}

#[test]
fn a_proxy_503_is_retried_and_a_404_is_permanent() -> TestResult {
    let server = FaultServer::start(vec![Reply::Http(503), Reply::Http(404)])?;
    let mut exporter = span_exporter(&server).build()?;
    let error = exporter.export(&spans(1)?).expect_err("404 is permanent");
    assert_eq!(error.kind(), ExportErrorKind::Rejected);
    let source = grpc_error(&error).ok_or("no GrpcExportError source")?;
    assert_eq!(source.code_name(), Some("UNIMPLEMENTED"));
    assert_eq!(source.attempts(), 2, "the 503 was retried");
    exporter.export(&spans(1)?)?;
    assert_eq!(server.requests(), 3);
    Ok(())
}

#[test]
fn a_refused_connection_that_comes_up_later_loses_nothing() -> TestResult {
    // Held but not listening: connections are refused until the server listens.
    let socket = reserve_port()?;
    let url = format!("http://{}", socket.local_addr()?);
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        FaultServer::on(socket, Vec::new())
    });
    let mut exporter = GrpcSpanExporter::builder()
        .endpoint(url)
        .retry(fast_retry())
        .timeout(Some(Duration::from_secs(5)))
        .build()?;
    let stats = exporter.stats();
    exporter.set_resource(&resource());
    exporter.export(&spans(3)?)?;
    let server = late.join().map_err(|_| "server thread panicked")??;
    let seen = server.take_seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(span_names(&seen[0].message)?.len(), 3);
    assert!(stats.requests() > 1, "the refusals were retried");
    Ok(())
}

#[test]
fn an_oversized_batch_is_refused_unsent() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let mut exporter = span_exporter(&server).max_request_size(64).build()?;
    let stats = exporter.stats();
    let error = exporter
        .export(&spans(5)?)
        .expect_err("over the request limit");
    assert_eq!(error.kind(), ExportErrorKind::Rejected);
    let source = grpc_error(&error).ok_or("no GrpcExportError source")?;
    assert_eq!(source.code(), None);
    assert!(source.message().contains("request limit"), "{source}");
    assert_eq!(server.requests(), 0);
    assert_eq!(stats.dropped_oversized(), 1);
    Ok(())
}

#[test]
fn configuration_from_the_environment() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let url = server.url();
    let env = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=acme%20corp"),
        ("OTEL_EXPORTER_OTLP_LOGS_COMPRESSION", "gzip"),
    ];
    let mut exporter = GrpcLogExporter::builder()
        .config(ExporterConfig::from_env_source(&env, Signal::Logs))
        .build()?;
    exporter.export(&records())?;
    let seen = server.take_seen();
    // No per-signal path is appended: the gRPC method is the path.
    assert_eq!(seen[0].path, LOGS_PATH);
    assert_eq!(seen[0].headers["x-tenant"], "acme corp");
    assert_eq!(seen[0].headers["grpc-encoding"], "gzip");

    let http = [("OTEL_EXPORTER_OTLP_ENDPOINT", url.as_str())];
    let refused = GrpcLogExporter::builder()
        .config(ExporterConfig::from_env_source(&http, Signal::Logs))
        .build()
        .expect_err("the default protocol is http/protobuf");
    assert!(matches!(
        refused,
        ExporterBuildError::UnsupportedProtocol(_)
    ));
    let tls = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4317"),
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem"),
    ];
    let refused = GrpcSpanExporter::builder()
        .config(ExporterConfig::from_env_source(&tls, Signal::Traces))
        .build()
        .expect_err("the CA file is missing");
    assert!(matches!(refused, ExporterBuildError::Tls(_)));
    Ok(())
}

/// Runs `work` on a thread of its own and fails if it does not finish in time, so that a
/// deadlock fails the test instead of hanging it.
fn within(limit: Duration, work: impl FnOnce() -> TestResult + Send + 'static) -> TestResult {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(work().map_err(|error| error.to_string()));
    });
    match finished.recv_timeout(limit) {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(format!("did not finish within {limit:?}: deadlock?").into()),
    }
}

#[test]
fn export_and_shutdown_inside_a_current_thread_runtime_do_not_deadlock() -> TestResult {
    let server = FaultServer::start(vec![Reply::Status(14, "busy", Details::None)])?;
    let url = server.url();
    within(Duration::from_secs(8), move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            // The worker sleeps between attempts while this runtime's only thread is
            // blocked in `export`: it must not need this runtime.
            let mut exporter = GrpcSpanExporter::builder()
                .endpoint(url.as_str())
                .retry(fast_retry())
                .build()?;
            exporter.export(&spans(1)?)?;
            exporter.shutdown()?;
            // A second exporter dropped unshut inside the runtime stops its thread too.
            let dropped = GrpcMetricExporter::builder()
                .endpoint(url.as_str())
                .build()?;
            drop(dropped);
            Ok(())
        })
    })?;
    assert_eq!(server.requests(), 2);
    Ok(())
}

#[test]
fn export_and_shutdown_from_a_multi_thread_runtime_task() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let url = server.url();
    within(Duration::from_secs(8), move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let mut exporter = GrpcLogExporter::builder().endpoint(url.as_str()).build()?;
            let task = tokio::spawn(async move {
                let sent = exporter.export(&records()).map_err(|e| e.to_string());
                let stopped = exporter.shutdown().map_err(|e| e.to_string());
                sent.and(stopped)
            });
            task.await??;
            Ok(())
        })
    })?;
    assert_eq!(server.requests(), 1);
    Ok(())
}

#[test]
fn after_shutdown_exports_fail() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let mut exporter = span_exporter(&server).build()?;
    exporter.shutdown()?;
    let error = exporter.export(&spans(1)?).expect_err("shut down");
    assert_eq!(error.kind(), ExportErrorKind::ShutDown);
    assert_eq!(server.requests(), 0);
    let mut metrics = GrpcMetricExporter::builder()
        .endpoint(server.url())
        .build()?;
    metrics.force_flush()?;
    metrics.shutdown()?;
    let error = metrics.force_flush().expect_err("shut down");
    assert_eq!(error.kind(), telemetry_metrics::ExportErrorKind::ShutDown);
    Ok(())
}

#[test]
fn the_reader_timeout_bounds_a_metric_export() -> TestResult {
    let server = FaultServer::start(vec![Reply::Stall])?;
    let mut exporter = GrpcMetricExporter::builder()
        .endpoint(server.url())
        .timeout(None)
        .build()?;
    exporter.set_export_timeout(Some(Duration::from_millis(200)));
    let started = Instant::now();
    let error = exporter.export(&collection()).expect_err("stalled");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(error.kind(), telemetry_metrics::ExportErrorKind::Timeout);
    Ok(())
}

#[test]
fn the_processor_timeout_bounds_a_log_export() -> TestResult {
    let server = FaultServer::start(vec![Reply::Stall])?;
    let mut exporter = GrpcLogExporter::builder()
        .endpoint(server.url())
        .timeout(Some(Duration::from_secs(5)))
        .build()?;
    // A batch processor's smaller timeout wins over the exporter's own.
    exporter.set_export_timeout(Some(Duration::from_millis(200)));
    let started = Instant::now();
    let error = exporter.export(&records()).expect_err("stalled");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(error.kind(), telemetry_logs::ExportErrorKind::Timeout);
    Ok(())
}

#[test]
fn a_periodic_reader_delivers_real_metrics_through_grpc() -> TestResult {
    let mut collector = Collector::start()?;
    let exporter = GrpcMetricExporter::builder()
        .endpoint(collector.endpoint())
        .build()?;
    let stats = exporter.stats();
    let reader = PeriodicReader::builder(exporter)
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = MeterProvider::builder()
        .with_resource(resource())
        .with_reader(reader)
        .build();
    let counter = provider.meter("checkout").u64_counter("orders").build()?;
    counter.add(4, &[KeyValue::new("region", "eu")]);
    provider.shutdown()?;
    assert_eq!(stats.requests(), 1);
    let received = collector
        .runtime
        .block_on(collector.server.exported_metrics(1, Duration::from_secs(5)));
    let received = serde_json::to_value(&received)?;
    let orders = &received[0]["metrics"][0];
    assert_eq!(orders["name"], "orders");
    let point = &orders["data"]["Sum"]["data_points"][0];
    assert_eq!(point["value"]["AsInt"], 4);
    assert_eq!(
        point["attributes"]["region"],
        shown(any_value::Value::StringValue("eu".to_owned()))
    );
    collector.server.abort();
    Ok(())
}
