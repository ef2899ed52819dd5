//! The OTLP/HTTP metric and log exporters against a loopback server: a hyper server on
//! 127.0.0.1 whose answers each test scripts request by request, recording what it received;
//! the tests decode the recorded bodies with our decoders and compare them with what was sent.

use std::collections::VecDeque;
use std::io::Read;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use telemetry_context::TraceFlags;
use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId, Value};
use telemetry_logs::{LogExporter, LogRecord, LoggerProvider, Severity};
use telemetry_metrics::data::{
    Gauge, Histogram, HistogramDataPoint, Metric, MetricData, Number, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Temporality,
};
use telemetry_metrics::{MeterProvider, PeriodicReader, PushMetricExporter};
use telemetry_otlp::{
    Compression, HttpExportError, HttpLogExporter, HttpLogExporterBuilder, HttpMetricExporter,
    HttpMetricExporterBuilder, LogsData, MetricsData, Protocol, ResourceLogs, RetryPolicy,
    ScopeLogs, decode_logs, decode_logs_json, decode_metrics, decode_metrics_json,
};
use tokio::sync::oneshot;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// One scripted answer: a status with headers and a body.
#[derive(Clone, Debug)]
struct Reply(u16, Vec<(&'static str, String)>, Vec<u8>);

fn status(code: u16) -> Reply {
    Reply(code, Vec::new(), Vec::new())
}

/// A request as the server saw it.
#[derive(Debug)]
struct Recorded {
    headers: HeaderMap,
    path: String,
    body: Vec<u8>,
}

impl Recorded {
    /// The body, gunzipped when the request says it is gzip.
    fn plain_body(&self) -> std::io::Result<Vec<u8>> {
        match self.headers.get("content-encoding") {
            Some(encoding) if encoding == "gzip" => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(&self.body[..]).read_to_end(&mut out)?;
                Ok(out)
            }
            _ => Ok(self.body.clone()),
        }
    }
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Recorded>>,
}

/// Answers from its script, then 200 with an empty body; stops when dropped.
struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Server {
    fn start(script: Vec<Reply>) -> std::io::Result<Self> {
        let listener = StdListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script: Mutex::new(script.into()),
            seen: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let state = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            runtime.block_on(serve(listener, state, stopped));
        });
        Ok(Server {
            addr,
            shared,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> usize {
        lock(&self.shared.seen).len()
    }

    fn take_seen(&self) -> Vec<Recorded> {
        std::mem::take(&mut *lock(&self.shared.seen))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: StdListener, shared: Arc<Shared>, mut stopped: oneshot::Receiver<()>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let stream = tokio::select! {
            _ = &mut stopped => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let shared = Arc::clone(&shared);
        // Connections are tasks of this runtime: they end when it drops with the server.
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(Arc::clone(&shared), request));
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes().to_vec();
    lock(&shared.seen).push(Recorded {
        headers: parts.headers,
        path: parts.uri.path().to_owned(),
        body,
    });
    let Reply(code, headers, body) = lock(&shared.script)
        .pop_front()
        .unwrap_or_else(|| status(200));
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    for (name, value) in headers {
        if let Ok(value) = value.parse() {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// Fast retries, so that tests take milliseconds rather than seconds.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_attempts: 5,
    }
}

fn metric_exporter(server: &Server) -> HttpMetricExporterBuilder {
    HttpMetricExporter::builder()
        .endpoint(server.url("/v1/metrics"))
        .retry(fast_retry())
        .timeout(Some(Duration::from_secs(5)))
}

fn log_exporter(server: &Server) -> HttpLogExporterBuilder {
    HttpLogExporter::builder()
        .endpoint(server.url("/v1/logs"))
        .retry(fast_retry())
        .timeout(Some(Duration::from_secs(5)))
}

fn resource() -> Resource {
    Resource::builder()
        .with_service_name("shop")
        .with_attribute(KeyValue::new("host.name", "box-1"))
        .build()
}

fn time(nanos: u64) -> Timestamp {
    Timestamp::from_unix_nanos(1_700_000_000_000_000_000 + nanos)
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

/// One collection: a sum, a gauge and a histogram from two meters, five points in all.
fn collection() -> ResourceMetrics {
    let checkout = InstrumentationScope::builder("checkout")
        .with_version("1.2.0")
        .build();
    let db = InstrumentationScope::builder("db").build();
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
    let temperature = Metric {
        name: "cpu.temperature".to_owned(),
        description: String::new(),
        unit: "Cel".to_owned(),
        data: MetricData::Gauge(Gauge {
            points: vec![point(Number::F64(61.5), Vec::new())],
        }),
    };
    let latency = Metric {
        name: "db.latency".to_owned(),
        description: String::new(),
        unit: "ms".to_owned(),
        data: MetricData::Histogram(Histogram {
            points: vec![
                HistogramDataPoint {
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
                },
                HistogramDataPoint {
                    attributes: vec![KeyValue::new("table", "users")],
                    start_time: time(0),
                    time: time(1_000),
                    count: 0,
                    sum: None,
                    min: None,
                    max: None,
                    bounds: vec![5.0, 25.0],
                    bucket_counts: vec![0, 0, 0],
                    exemplars: Vec::new(),
                },
            ],
            temporality: Temporality::Delta,
        }),
    };
    ResourceMetrics {
        resource: resource(),
        scope_metrics: vec![
            ScopeMetrics {
                scope: checkout,
                metrics: vec![requests, temperature],
            },
            ScopeMetrics {
                scope: db,
                metrics: vec![latency],
            },
        ],
    }
}

/// Three records from two loggers, one inside a span.
fn records() -> Vec<LogRecord> {
    let api = InstrumentationScope::builder("api")
        .with_version("2")
        .build();
    let jobs = InstrumentationScope::builder("jobs").build();
    let in_span = LogRecord {
        timestamp: Some(time(5)),
        observed_timestamp: time(6),
        severity: Severity::WARN,
        severity_text: Some("WARN".into()),
        body: Value::from("payment retried"),
        attributes: vec![KeyValue::new("attempt", 2i64)].into(),
        dropped_attributes_count: 1,
        trace_id: TraceId::from_int(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        span_id: SpanId::from_int(0x00f0_67aa_0ba9_02b7),
        trace_flags: TraceFlags::SAMPLED,
        event_name: Some("payment.retry".into()),
        scope: api.clone(),
    };
    let plain = LogRecord {
        observed_timestamp: time(7),
        severity: Severity::INFO,
        body: Value::Map(vec![KeyValue::new("queue", "mail")]),
        scope: jobs,
        ..LogRecord::default()
    };
    let again = LogRecord {
        observed_timestamp: time(8),
        severity: Severity::ERROR,
        body: Value::from("declined"),
        scope: api,
        ..LogRecord::default()
    };
    vec![in_span, plain, again]
}

/// What a logs request holding `records` from `resource()` decodes to: one envelope per
/// scope, in first-seen order.
fn expected_logs(records: &[LogRecord]) -> LogsData {
    let mut scopes: Vec<ScopeLogs> = Vec::new();
    for record in records {
        match scopes.iter_mut().find(|s| s.scope == record.scope) {
            Some(scope) => scope.records.push(record.clone()),
            None => scopes.push(ScopeLogs {
                scope: record.scope.clone(),
                scope_dropped_attributes_count: 0,
                records: vec![record.clone()],
            }),
        }
    }
    LogsData {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            resource_dropped_attributes_count: 0,
            scope_logs: scopes,
        }],
    }
}

fn http_error(error: &dyn std::error::Error) -> Option<&HttpExportError> {
    error.source()?.downcast_ref::<HttpExportError>()
}

/// Every protocol and compression, for the body tests.
const ENCODINGS: [(Protocol, Compression); 4] = [
    (Protocol::HttpProtobuf, Compression::None),
    (Protocol::HttpProtobuf, Compression::Gzip),
    (Protocol::HttpJson, Compression::None),
    (Protocol::HttpJson, Compression::Gzip),
];

fn check_headers(
    request: &Recorded,
    path: &str,
    protocol: Protocol,
    compression: Compression,
) -> TestResult {
    let case = format!("{protocol} {compression:?}");
    assert_eq!(request.path, path, "{case}");
    let content_type = match protocol {
        Protocol::HttpJson => "application/json",
        _ => "application/x-protobuf",
    };
    assert_eq!(request.headers["content-type"], content_type, "{case}");
    assert_eq!(request.headers["x-tenant"], "t1", "{case}");
    let agent = request.headers["user-agent"].to_str()?;
    assert!(agent.contains("telemetry-otlp/"), "{case}: {agent}");
    assert_eq!(
        request.headers.get("content-encoding").is_some(),
        compression == Compression::Gzip,
        "{case}"
    );
    Ok(())
}

#[test]
fn metric_bodies_decode_to_the_collection_sent_in_every_encoding() -> TestResult {
    let server = Server::start(Vec::new())?;
    let sent = collection();
    for (protocol, compression) in ENCODINGS {
        let mut exporter = metric_exporter(&server)
            .protocol(protocol)
            .compression(compression)
            .header("x-tenant", "t1")
            .build()?;
        exporter.export(&sent)?;
        exporter.shutdown()?;
        let seen = server.take_seen();
        assert_eq!(seen.len(), 1, "{protocol} {compression:?}");
        check_headers(&seen[0], "/v1/metrics", protocol, compression)?;
        let body = seen[0].plain_body()?;
        let decoded = match protocol {
            Protocol::HttpJson => decode_metrics_json(&body)?,
            _ => decode_metrics(&body)?,
        };
        let expected = MetricsData {
            resource_metrics: vec![sent.clone()],
        };
        assert_eq!(decoded, expected, "{protocol} {compression:?}");
    }
    Ok(())
}

#[test]
fn log_bodies_decode_to_the_records_sent_in_every_encoding() -> TestResult {
    let server = Server::start(Vec::new())?;
    let sent = records();
    for (protocol, compression) in ENCODINGS {
        let mut exporter = log_exporter(&server)
            .protocol(protocol)
            .compression(compression)
            .header("x-tenant", "t1")
            .build()?;
        exporter.set_resource(&resource());
        exporter.export(&sent)?;
        exporter.export(&[])?;
        exporter.shutdown()?;
        let seen = server.take_seen();
        assert_eq!(seen.len(), 1, "an empty batch sends nothing");
        check_headers(&seen[0], "/v1/logs", protocol, compression)?;
        let body = seen[0].plain_body()?;
        let decoded = match protocol {
            Protocol::HttpJson => decode_logs_json(&body)?,
            _ => decode_logs(&body)?,
        };
        assert_eq!(decoded, expected_logs(&sent), "{protocol} {compression:?}");
    }
    Ok(())
}

#[test]
fn an_empty_collection_sends_nothing() -> TestResult {
    let server = Server::start(Vec::new())?;
    let mut exporter = metric_exporter(&server).build()?;
    exporter.export(&ResourceMetrics {
        resource: resource(),
        scope_metrics: Vec::new(),
    })?;
    // Scopes and metrics, but not one data point: nothing to send either, as for gRPC.
    let mut pointless = collection();
    for scope in &mut pointless.scope_metrics {
        for metric in &mut scope.metrics {
            match &mut metric.data {
                MetricData::Sum(sum) => sum.points.clear(),
                MetricData::Gauge(gauge) => gauge.points.clear(),
                MetricData::Histogram(histogram) => histogram.points.clear(),
                _ => {}
            }
        }
    }
    assert!(!pointless.scope_metrics.is_empty());
    exporter.export(&pointless)?;
    exporter.force_flush()?;
    exporter.shutdown()?;
    assert_eq!(server.requests(), 0);
    Ok(())
}

#[test]
fn partial_success_is_counted_per_signal() -> TestResult {
    // Export{Metrics,Logs}ServiceResponse { partial_success { rejected: 2, error_message:
    // "dup" } } in protobuf, then the same kind of answer in OTLP/JSON.
    let proto = || {
        Reply(
            200,
            vec![("content-type", "application/x-protobuf".to_owned())],
            vec![0x0a, 0x07, 0x08, 0x02, 0x12, 0x03, b'd', b'u', b'p'],
        )
    };
    let json = |key: &str| {
        Reply(
            200,
            vec![("content-type", "application/json".to_owned())],
            format!(r#"{{"partialSuccess":{{"{key}":"3","errorMessage":"late"}}}}"#).into_bytes(),
        )
    };

    let server = Server::start(vec![proto(), json("rejectedDataPoints")])?;
    let mut exporter = metric_exporter(&server).build()?;
    let stats = exporter.stats();
    exporter.export(&collection())?;
    assert_eq!(stats.rejected_data_points(), 2);
    exporter.export(&collection())?;
    assert_eq!(stats.rejected_data_points(), 5);
    assert_eq!(stats.rejected_log_records(), 0);
    assert_eq!(stats.rejected_spans(), 0);
    assert_eq!(stats.requests(), 2, "partial success is not retried");
    drop(exporter);

    let server = Server::start(vec![proto(), json("rejectedLogRecords")])?;
    let mut exporter = log_exporter(&server).build()?;
    let stats = exporter.stats();
    exporter.export(&records())?;
    assert_eq!(stats.rejected_log_records(), 2);
    exporter.export(&records())?;
    assert_eq!(stats.rejected_log_records(), 5);
    assert_eq!(stats.rejected_data_points(), 0);
    assert_eq!(stats.requests(), 2, "partial success is not retried");
    Ok(())
}

fn unavailable_then_ok() -> Vec<Reply> {
    vec![Reply(
        503,
        vec![("retry-after", "0".to_owned())],
        Vec::new(),
    )]
}

#[test]
fn service_unavailable_with_retry_after_is_retried() -> TestResult {
    let server = Server::start(unavailable_then_ok())?;
    let mut exporter = metric_exporter(&server).build()?;
    exporter.export(&collection())?;
    assert_eq!(exporter.stats().requests(), 2);
    let seen = server.take_seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[0].body, seen[1].body,
        "the retry resends the same body"
    );

    let server = Server::start(unavailable_then_ok())?;
    let mut exporter = log_exporter(&server).build()?;
    exporter.export(&records())?;
    assert_eq!(exporter.stats().requests(), 2);
    assert_eq!(server.requests(), 2);
    Ok(())
}

#[test]
fn bad_request_is_reported_without_a_retry() -> TestResult {
    let refusal = || vec![Reply(400, Vec::new(), b"bad data points\n".to_vec())];

    let server = Server::start(refusal())?;
    let mut exporter = metric_exporter(&server).build()?;
    let Err(error) = exporter.export(&collection()) else {
        return Err("a 400 must fail the export".into());
    };
    assert_eq!(error.kind(), telemetry_metrics::ExportErrorKind::Rejected);
    let details = http_error(&error).ok_or("no HttpExportError source")?;
    assert_eq!(details.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(details.attempts(), 1);
    assert_eq!(details.message(), "bad data points");
    assert_eq!(server.requests(), 1);

    let server = Server::start(refusal())?;
    let mut exporter = log_exporter(&server).build()?;
    let Err(error) = exporter.export(&records()) else {
        return Err("a 400 must fail the export".into());
    };
    assert_eq!(error.kind(), telemetry_logs::ExportErrorKind::Rejected);
    let details = http_error(&error).ok_or("no HttpExportError source")?;
    assert_eq!(details.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(details.attempts(), 1);
    assert_eq!(server.requests(), 1);
    Ok(())
}

#[test]
fn the_reader_timeout_bounds_a_metric_export() -> TestResult {
    // Endless 503s with backoff: only the deadline ends the export.
    let script = (0..1000).map(|_| status(503)).collect();
    let server = Server::start(script)?;
    let mut exporter = metric_exporter(&server).timeout(None).build()?;
    exporter.set_export_timeout(Some(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    let result = exporter.export(&collection());
    assert_eq!(
        result.err().map(|e| e.kind()),
        Some(telemetry_metrics::ExportErrorKind::Timeout)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    Ok(())
}

#[test]
fn the_processor_timeout_bounds_a_log_export() -> TestResult {
    // Endless 503s with backoff: only the deadline ends the export.
    let script = (0..1000).map(|_| status(503)).collect();
    let server = Server::start(script)?;
    let mut exporter = log_exporter(&server).timeout(None).build()?;
    exporter.set_export_timeout(Some(Duration::from_millis(200)));
    let started = std::time::Instant::now();
    let result = exporter.export(&records());
    assert_eq!(
        result.err().map(|e| e.kind()),
        Some(telemetry_logs::ExportErrorKind::Timeout)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    Ok(())
}

#[test]
fn after_shutdown_metric_exports_fail() -> TestResult {
    let server = Server::start(Vec::new())?;
    let mut exporter = metric_exporter(&server).build()?;
    exporter.shutdown()?;
    let shut_down = Some(telemetry_metrics::ExportErrorKind::ShutDown);
    assert_eq!(
        exporter.export(&collection()).err().map(|e| e.kind()),
        shut_down
    );
    assert_eq!(exporter.force_flush().err().map(|e| e.kind()), shut_down);
    assert_eq!(exporter.shutdown().err().map(|e| e.kind()), shut_down);
    assert_eq!(server.requests(), 0);
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
fn metric_export_and_shutdown_work_inside_a_current_thread_runtime() -> TestResult {
    // A 503 makes the worker sleep between attempts while this runtime's only thread is
    // blocked in `export`: the worker must not need it.
    let server = Server::start(vec![status(503)])?;
    let builder = metric_exporter(&server);
    within(Duration::from_secs(8), move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let mut exporter = builder.build()?;
            exporter.export(&collection())?;
            exporter.shutdown()?;
            Ok(())
        })
    })?;
    assert_eq!(server.requests(), 2);
    Ok(())
}

#[test]
fn log_export_and_shutdown_work_inside_a_multi_thread_runtime() -> TestResult {
    let server = Server::start(Vec::new())?;
    let builder = log_exporter(&server);
    within(Duration::from_secs(8), move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let mut exporter = builder.build()?;
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
fn a_periodic_reader_delivers_real_metrics_at_shutdown() -> TestResult {
    let server = Server::start(Vec::new())?;
    let exporter = metric_exporter(&server).build()?;
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
    let seen = server.take_seen();
    let decoded = decode_metrics(&seen[0].body)?;
    let resource_metrics = &decoded.resource_metrics[0];
    assert_eq!(resource_metrics.resource.service_name(), Some("shop"));
    let metric = &resource_metrics.scope_metrics[0].metrics[0];
    assert_eq!(metric.name, "orders");
    let MetricData::Sum(sum) = &metric.data else {
        return Err(format!("expected a sum, got {:?}", metric.data).into());
    };
    assert_eq!(sum.points[0].value, Number::I64(4));
    assert_eq!(sum.points[0].attributes, [KeyValue::new("region", "eu")]);
    Ok(())
}

#[test]
fn a_batch_processor_delivers_real_records_with_the_providers_resource() -> TestResult {
    let server = Server::start(Vec::new())?;
    let exporter = log_exporter(&server).build()?;
    let provider = LoggerProvider::builder()
        .with_resource(resource())
        .with_batch_exporter(exporter)?
        .build();
    let logger = provider.logger("checkout");
    logger.emit(LogRecord::new(Severity::WARN).with_body("payment retried"));
    logger.emit(LogRecord::new(Severity::INFO).with_body("paid"));
    provider.shutdown()?;
    let bodies: Vec<Value> = server
        .take_seen()
        .iter()
        .map(|request| decode_logs(&request.body))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flat_map(|data| data.resource_logs)
        .inspect(|logs| assert_eq!(logs.resource.service_name(), Some("shop")))
        .flat_map(|logs| logs.scope_logs)
        .flat_map(|scope| scope.records)
        .map(|record| record.body)
        .collect();
    assert_eq!(
        bodies,
        [Value::from("payment retried"), Value::from("paid")]
    );
    Ok(())
}
