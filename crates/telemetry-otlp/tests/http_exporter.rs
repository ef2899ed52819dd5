//! The OTLP/HTTP span exporter against a loopback fault server: a hyper server on
//! 127.0.0.1 whose answers each test scripts request by request, recording what it received.

use std::collections::{HashSet, VecDeque};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use telemetry_core::{KeyValue, Resource};
use telemetry_otlp::{
    Compression, ExporterConfig, HttpExportError, HttpSpanExporter, HttpSpanExporterBuilder,
    Protocol, RetryPolicy, Signal, TraceEncoder, decode_traces, decode_traces_json,
};
use telemetry_span::{
    BatchConfig, BatchSpanProcessor, ExportErrorKind, InMemorySpanExporter, SpanData, SpanExporter,
    TracerProvider,
};
use tokio::net::TcpSocket;
use tokio::sync::oneshot;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// One scripted answer.
#[derive(Clone, Debug)]
enum Reply {
    /// A status with headers and a body.
    Status(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Never answer (until the server stops).
    Stall,
    /// Close the connection without an answer.
    Close,
}

fn status(code: u16) -> Reply {
    Reply::Status(code, Vec::new(), Vec::new())
}

/// A request as the server saw it.
#[derive(Debug)]
struct Recorded {
    /// When the request was read.
    at: Instant,
    headers: HeaderMap,
    path: String,
    body: Vec<u8>,
}

#[derive(Default)]
struct Shared {
    script: Mutex<VecDeque<Reply>>,
    seen: Mutex<Vec<Recorded>>,
}

/// Answers from its script, then 200 with an empty body; stops when dropped.
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
        format!("http://{}/v1/traces", self.addr)
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
        let shared = Arc::clone(&shared);
        // Connections (stalled ones included) are tasks of this runtime: they end when the
        // runtime drops with the server.
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
) -> Result<Response<Full<Bytes>>, std::io::Error> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes()
        .to_vec();
    lock(&shared.seen).push(Recorded {
        at: Instant::now(),
        headers: parts.headers,
        path: parts.uri.path().to_owned(),
        body,
    });
    let reply = lock(&shared.script).pop_front();
    match reply.unwrap_or_else(|| status(200)) {
        Reply::Stall => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(Response::new(Full::new(Bytes::new())))
        }
        // A service error makes hyper drop the connection without writing a response.
        Reply::Close => Err(std::io::Error::other("scripted close")),
        Reply::Status(code, headers, body) => {
            let mut response = Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
            for (name, value) in headers {
                if let Ok(value) = value.parse() {
                    response.headers_mut().insert(name, value);
                }
            }
            Ok(response)
        }
    }
}

/// Fast retries, so that tests take milliseconds rather than seconds.
fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_attempts: 5,
    }
}

fn exporter_for(url: &str) -> HttpSpanExporterBuilder {
    HttpSpanExporter::builder()
        .endpoint(url)
        .retry(fast_retry())
        .timeout(Some(Duration::from_secs(5)))
}

fn resource() -> Resource {
    Resource::builder().with_service_name("shop").build()
}

/// A few real finished spans.
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

fn http_error(error: &telemetry_span::ExportError) -> Option<&HttpExportError> {
    std::error::Error::source(error)?.downcast_ref::<HttpExportError>()
}

#[test]
fn the_body_decodes_into_the_spans_sent_with_the_right_headers() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let mut exporter = exporter_for(&server.url())
        .header("api-key", "secret")
        .build()?;
    exporter.set_resource(&resource());
    let sent = spans(3)?;
    exporter.export(&sent)?;
    exporter.export(&[])?;
    let seen = server.take_seen();
    assert_eq!(seen.len(), 1, "an empty batch sends nothing");
    let request = &seen[0];
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(request.headers["content-type"], "application/x-protobuf");
    assert_eq!(request.headers["api-key"], "secret");
    let agent = request.headers["user-agent"].to_str()?;
    assert!(agent.contains("telemetry-otlp/"), "{agent}");
    assert!(request.headers.get("content-encoding").is_none());
    let decoded = decode_traces(&request.body)?;
    assert_eq!(decoded.resource_spans.len(), 1);
    assert_eq!(
        decoded.resource_spans[0].resource.service_name(),
        Some("shop")
    );
    assert_eq!(decoded.resource_spans[0].scope_spans[0].spans, sent);
    exporter.shutdown()?;
    Ok(())
}

#[test]
fn gzip_bodies_decode_to_the_same_bytes() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let mut exporter = exporter_for(&server.url())
        .compression(Compression::Gzip)
        .build()?;
    exporter.set_resource(&resource());
    let sent = spans(5)?;
    exporter.export(&sent)?;
    let seen = server.take_seen();
    assert_eq!(seen[0].headers["content-encoding"], "gzip");
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&seen[0].body[..]).read_to_end(&mut plain)?;
    let mut expected = Vec::new();
    TraceEncoder::new().encode(&resource(), &sent, &mut expected);
    assert_eq!(plain, expected);
    assert_eq!(
        decode_traces(&plain)?.resource_spans[0].scope_spans[0].spans,
        sent
    );
    Ok(())
}

#[test]
fn json_protocol_sends_otlp_json_our_decoder_accepts() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let mut exporter = exporter_for(&server.url())
        .protocol(Protocol::HttpJson)
        .build()?;
    exporter.set_resource(&resource());
    let sent = spans(2)?;
    exporter.export(&sent)?;
    let seen = server.take_seen();
    assert_eq!(seen[0].headers["content-type"], "application/json");
    let decoded = decode_traces_json(&seen[0].body)?;
    assert_eq!(decoded.resource_spans[0].scope_spans[0].spans, sent);
    Ok(())
}

#[test]
fn retry_after_is_honoured_then_the_export_succeeds() -> TestResult {
    let retry_after =
        |seconds: &str| Reply::Status(503, vec![("retry-after", seconds.to_owned())], Vec::new());
    let server = FaultServer::start(vec![retry_after("0"), retry_after("1")])?;
    let mut exporter = exporter_for(&server.url()).build()?;
    let started = Instant::now();
    exporter.export(&spans(1)?)?;
    let elapsed = started.elapsed();
    assert_eq!(server.requests(), 3);
    assert_eq!(exporter.stats().requests(), 3);
    // Backoff alone would wait at most 10 + 20 ms: the second wait was the server's second.
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    Ok(())
}

#[test]
fn too_many_requests_is_retried() -> TestResult {
    let server = FaultServer::start(vec![status(429), status(502), status(504)])?;
    let mut exporter = exporter_for(&server.url()).build()?;
    exporter.export(&spans(1)?)?;
    assert_eq!(server.requests(), 4);
    Ok(())
}

#[test]
fn bad_request_is_rejected_without_a_retry() -> TestResult {
    let body = b"spans are malformed".to_vec();
    let server = FaultServer::start(vec![Reply::Status(400, Vec::new(), body)])?;
    let mut exporter = exporter_for(&server.url()).build()?;
    let error = match exporter.export(&spans(1)?) {
        Ok(()) => return Err("a 400 was taken for success".into()),
        Err(error) => error,
    };
    assert_eq!(error.kind(), ExportErrorKind::Rejected);
    let http = http_error(&error).ok_or("no HTTP error source")?;
    assert_eq!(http.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(http.attempts(), 1);
    assert_eq!(http.message(), "spans are malformed");
    assert_eq!(server.requests(), 1);
    // The next export goes out normally.
    exporter.export(&spans(1)?)?;
    assert_eq!(server.requests(), 2);
    Ok(())
}

#[test]
fn internal_server_error_is_permanent_per_spec() -> TestResult {
    let server = FaultServer::start(vec![status(500), status(500)])?;
    let mut exporter = exporter_for(&server.url()).build()?;
    let error = match exporter.export(&spans(1)?) {
        Ok(()) => return Err("a 500 was taken for success".into()),
        Err(error) => error,
    };
    assert_eq!(error.kind(), ExportErrorKind::Rejected);
    assert_eq!(
        http_error(&error).and_then(HttpExportError::status),
        Some(StatusCode::INTERNAL_SERVER_ERROR)
    );
    assert_eq!(server.requests(), 1, "500 is not among the retryable codes");
    Ok(())
}

#[test]
fn a_stalled_server_times_out_within_the_deadline() -> TestResult {
    let server = FaultServer::start(vec![Reply::Stall])?;
    let deadline = Duration::from_millis(300);
    let mut exporter = exporter_for(&server.url())
        .timeout(Some(Duration::from_secs(30)))
        .build()?;
    // The processor's timeout is the smaller one, so it is the one that applies.
    exporter.set_export_timeout(Some(deadline));
    let batch = spans(1)?;
    let started = Instant::now();
    let result = exporter.export(&batch);
    let elapsed = started.elapsed();
    assert_eq!(
        result.err().map(|e| e.kind()),
        Some(ExportErrorKind::Timeout)
    );
    assert!(elapsed >= deadline, "{elapsed:?}");
    // Far below the exporter's own 30 s; generous for a loaded 2-core machine.
    assert!(
        elapsed < deadline + Duration::from_millis(1500),
        "{elapsed:?}"
    );
    Ok(())
}

#[test]
fn retries_that_cannot_fit_the_deadline_give_up_early_as_a_timeout() -> TestResult {
    let server = FaultServer::start(vec![Reply::Status(
        503,
        vec![("retry-after", "30".to_owned())],
        Vec::new(),
    )])?;
    let mut exporter = exporter_for(&server.url())
        .timeout(Some(Duration::from_secs(2)))
        .build()?;
    let started = Instant::now();
    let error = match exporter.export(&spans(1)?) {
        Ok(()) => return Err("succeeded despite a 30 s Retry-After".into()),
        Err(error) => error,
    };
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(error.kind(), ExportErrorKind::Timeout);
    assert_eq!(
        http_error(&error).and_then(HttpExportError::status),
        Some(StatusCode::SERVICE_UNAVAILABLE)
    );
    Ok(())
}

#[test]
fn a_refused_connection_that_comes_up_later_loses_nothing() -> TestResult {
    // Held but not listening: connections are refused until the server listens.
    let socket = reserve_port()?;
    let url = format!("http://{}/v1/traces", socket.local_addr()?);
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        FaultServer::on(socket, Vec::new())
    });
    let mut exporter = exporter_for(&url).build()?;
    exporter.set_resource(&resource());
    let sent = spans(4)?;
    exporter.export(&sent)?;
    let server = late.join().map_err(|_| "server thread panicked")??;
    let seen = server.take_seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        decode_traces(&seen[0].body)?.resource_spans[0].scope_spans[0].spans,
        sent
    );
    assert!(exporter.stats().requests() > 1, "the refusals were retried");
    Ok(())
}

#[test]
fn without_a_deadline_retries_stop_after_max_attempts() -> TestResult {
    let socket = reserve_port()?;
    let mut exporter = exporter_for(&format!("http://{}/v1/traces", socket.local_addr()?))
        .timeout(None)
        .build()?;
    let result = exporter.export(&spans(1)?);
    assert_eq!(
        result.err().map(|e| e.kind()),
        Some(ExportErrorKind::Unavailable)
    );
    assert_eq!(exporter.stats().requests(), 5);
    Ok(())
}

#[test]
fn partial_success_is_counted() -> TestResult {
    // ExportTraceServiceResponse { partial_success { rejected_spans: 2, error_message: "dup" } }
    // in protobuf, then the same kind of answer in OTLP/JSON.
    let body = vec![0x0a, 0x07, 0x08, 0x02, 0x12, 0x03, b'd', b'u', b'p'];
    let json = br#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"late"}}"#.to_vec();
    let server = FaultServer::start(vec![
        Reply::Status(
            200,
            vec![("content-type", "application/x-protobuf".to_owned())],
            body,
        ),
        Reply::Status(
            200,
            vec![("content-type", "application/json".to_owned())],
            json,
        ),
    ])?;
    let mut exporter = exporter_for(&server.url()).build()?;
    let stats = exporter.stats();
    exporter.export(&spans(3)?)?;
    assert_eq!(stats.rejected_spans(), 2);
    exporter.export(&spans(3)?)?;
    assert_eq!(stats.rejected_spans(), 5);
    assert_eq!(server.requests(), 2, "partial success is not retried");
    Ok(())
}

#[test]
fn chunked_responses_are_read() -> TestResult {
    use std::io::{BufRead, BufReader, Write};
    // A hand-written HTTP/1.1 server for one request, so the answer is chunked for sure:
    // hyper's server would pick Content-Length for a body of known size.
    let listener = StdListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/v1/traces", listener.local_addr()?);
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (stream, _) = listener.accept()?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        // partial_success { rejected_spans: 2, error_message: "dup" }, in two chunks.
        let mut stream = stream;
        stream.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\n\
              transfer-encoding: chunked\r\nconnection: close\r\n\r\n\
              4\r\n\x0a\x07\x08\x02\r\n5\r\n\x12\x03dup\r\n0\r\n\r\n",
        )?;
        Ok(())
    });
    let mut exporter = exporter_for(&url).build()?;
    exporter.export(&spans(2)?)?;
    assert_eq!(exporter.stats().rejected_spans(), 2);
    server.join().map_err(|_| "server thread panicked")??;
    Ok(())
}

#[test]
fn response_bodies_are_read_up_to_the_cap() -> TestResult {
    let big = vec![b'x'; 4096];
    let server = FaultServer::start(vec![
        Reply::Status(400, Vec::new(), big.clone()),
        Reply::Status(200, Vec::new(), big),
    ])?;
    let mut exporter = exporter_for(&server.url())
        .max_response_size(1024)
        .build()?;
    let error = match exporter.export(&spans(1)?) {
        Ok(()) => return Err("a 400 was taken for success".into()),
        Err(error) => error,
    };
    assert_eq!(
        http_error(&error).map(HttpExportError::message),
        Some("the body is unreadable or over 1024 bytes")
    );
    // A success with an oversized answer still delivered the data: not resent.
    exporter.export(&spans(1)?)?;
    assert_eq!(server.requests(), 2);
    Ok(())
}

#[test]
fn requests_over_the_size_limit_are_refused_unsent() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let mut exporter = exporter_for(&server.url()).max_request_size(64).build()?;
    let result = exporter.export(&spans(3)?);
    assert_eq!(
        result.err().map(|e| e.kind()),
        Some(ExportErrorKind::Rejected)
    );
    assert_eq!(server.requests(), 0);
    assert_eq!(exporter.stats().dropped_oversized(), 1);
    Ok(())
}

#[test]
fn configuration_from_the_environment_reaches_the_wire() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let base = format!("http://{}", server.addr);
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str()),
        ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=a%20b,broken"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"),
    ];
    let config = ExporterConfig::from_env_source(&env, Signal::Traces);
    let mut exporter = HttpSpanExporter::builder().config(config).build()?;
    exporter.export(&spans(1)?)?;
    let seen = server.take_seen();
    assert_eq!(seen[0].path, "/v1/traces");
    assert_eq!(seen[0].headers["x-tenant"], "a b");
    assert_eq!(seen[0].headers["content-type"], "application/json");
    Ok(())
}

#[test]
fn after_shutdown_exports_fail() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let mut exporter = exporter_for(&server.url()).build()?;
    exporter.shutdown()?;
    let result = exporter.export(&spans(1)?);
    assert_eq!(
        result.err().map(|e| e.kind()),
        Some(ExportErrorKind::ShutDown)
    );
    assert_eq!(
        exporter.shutdown().err().map(|e| e.kind()),
        Some(ExportErrorKind::ShutDown)
    );
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
fn export_and_shutdown_work_from_a_multi_thread_runtime() -> TestResult {
    let server = FaultServer::start(vec![status(503)])?;
    let url = server.url();
    within(Duration::from_secs(8), move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let mut exporter = exporter_for(&url).build()?;
            exporter.export(&spans(1)?)?;
            exporter.shutdown()?;
            Ok(())
        })
    })?;
    assert_eq!(server.requests(), 2);
    Ok(())
}

#[test]
fn export_and_drop_work_from_a_current_thread_runtime() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let url = server.url();
    within(Duration::from_secs(8), move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async move {
            let mut exporter = exporter_for(&url).build()?;
            exporter.export(&spans(1)?)?;
            drop(exporter);
            Ok(())
        })
    })?;
    assert_eq!(server.requests(), 1);
    Ok(())
}

#[test]
fn retry_after_zero_does_not_spin() -> TestResult {
    let busy = Reply::Status(503, vec![("retry-after", "0".to_owned())], Vec::new());
    let server = FaultServer::start(vec![busy; 2000])?;
    let mut exporter = exporter_for(&server.url())
        .retry(RetryPolicy {
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            max_attempts: 5,
        })
        .timeout(Some(Duration::from_millis(300)))
        .build()?;
    let result = exporter.export(&spans(1)?);
    assert_eq!(
        result.err().map(|e| e.kind()),
        Some(ExportErrorKind::Timeout)
    );
    // At least 10 ms between attempts: 31 at most in 300 ms (the bug made hundreds).
    assert!(server.requests() <= 31, "{} requests", server.requests());
    Ok(())
}

#[test]
fn too_many_requests_honours_retry_after() -> TestResult {
    let server = FaultServer::start(vec![Reply::Status(
        429,
        vec![("retry-after", "1".to_owned())],
        Vec::new(),
    )])?;
    let mut exporter = exporter_for(&server.url()).build()?;
    let started = Instant::now();
    exporter.export(&spans(1)?)?;
    let elapsed = started.elapsed();
    assert_eq!(server.requests(), 2);
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    Ok(())
}

#[test]
fn a_retry_after_holds_back_later_exports_too() -> TestResult {
    let delay = Duration::from_secs(1);
    let server = FaultServer::start(vec![Reply::Status(
        503,
        vec![("retry-after", "1".to_owned())],
        b"busy".to_vec(),
    )])?;
    let mut exporter = exporter_for(&server.url()).build()?;
    let stats = exporter.stats();
    // A processor's deadline shorter than the delay: the export gives up after one request.
    exporter.set_export_timeout(Some(Duration::from_millis(300)));
    let error = match exporter.export(&spans(1)?) {
        Ok(()) => return Err("a 503 was taken for success".into()),
        Err(error) => error,
    };
    assert_eq!(error.kind(), ExportErrorKind::Timeout);
    let first_done = Instant::now();
    // The processor's retry comes at once: it fails without reaching the collector.
    let error = match exporter.export(&spans(1)?) {
        Ok(()) => return Err("sent before the Retry-After passed".into()),
        Err(error) => error,
    };
    assert!(first_done.elapsed() < Duration::from_millis(300));
    assert_eq!(error.kind(), ExportErrorKind::Timeout);
    let http = http_error(&error).ok_or("no HTTP error source")?;
    assert_eq!((http.status(), http.attempts()), (None, 0), "{http}");
    assert!(http.message().starts_with("not sent: "), "{http}");
    assert!(http.message().contains("503"), "{http}");
    assert_eq!(server.requests(), 1);
    assert_eq!((stats.requests(), stats.exports_held_back()), (1, 1));
    // With time enough, the next export waits for the delay's end, then is delivered.
    exporter.set_export_timeout(None);
    exporter.export(&spans(1)?)?;
    assert_eq!((stats.requests(), stats.exports_held_back()), (2, 1));
    let seen = server.take_seen();
    assert_eq!(seen.len(), 2);
    let gap = seen[1].at - seen[0].at;
    assert!(gap >= delay, "sent again after {gap:?}");
    Ok(())
}

#[test]
fn retry_after_as_an_http_date_is_honoured() -> TestResult {
    // Two seconds ahead, which the date's whole seconds make between one and two.
    let at = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(2));
    let server = FaultServer::start(vec![Reply::Status(
        503,
        vec![("retry-after", at)],
        Vec::new(),
    )])?;
    let mut exporter = exporter_for(&server.url()).build()?;
    let started = Instant::now();
    exporter.export(&spans(1)?)?;
    let elapsed = started.elapsed();
    assert_eq!(server.requests(), 2);
    assert!(elapsed >= Duration::from_millis(900), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
    Ok(())
}

#[test]
fn a_connection_closed_without_an_answer_is_retried() -> TestResult {
    let server = FaultServer::start(vec![Reply::Close, Reply::Close])?;
    let mut exporter = exporter_for(&server.url()).build()?;
    exporter.export(&spans(1)?)?;
    assert_eq!(server.requests(), 3);
    assert_eq!(exporter.stats().requests(), 3);
    Ok(())
}

#[test]
fn a_gzip_response_with_partial_success_is_decompressed_and_counted() -> TestResult {
    // partial_success { rejected_spans: 2, error_message: "dup" }, gzipped.
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(&[0x0a, 0x07, 0x08, 0x02, 0x12, 0x03, b'd', b'u', b'p'])?;
    let body = gzip.finish()?;
    let server = FaultServer::start(vec![Reply::Status(
        200,
        vec![
            ("content-type", "application/x-protobuf".to_owned()),
            ("content-encoding", "gzip".to_owned()),
        ],
        body,
    )])?;
    let mut exporter = exporter_for(&server.url()).build()?;
    exporter.export(&spans(3)?)?;
    assert_eq!(exporter.stats().rejected_spans(), 2);
    assert_eq!(exporter.stats().rejected_items(), 2);
    assert_eq!(server.requests(), 1);
    Ok(())
}

#[test]
fn a_huge_timeout_means_no_deadline_without_a_panic() -> TestResult {
    let server = FaultServer::start(vec![status(503)])?;
    let mut exporter = exporter_for(&server.url())
        .timeout(Some(Duration::MAX))
        .build()?;
    exporter.export(&spans(1)?)?;
    exporter.set_export_timeout(Some(Duration::MAX));
    exporter.export(&spans(1)?)?;
    assert_eq!(server.requests(), 3);
    Ok(())
}

#[test]
fn a_user_content_encoding_is_not_sent_with_a_plain_body() -> TestResult {
    let server = FaultServer::start(Vec::new())?;
    let mut exporter = exporter_for(&server.url())
        .header("Content-Encoding", "br")
        .build()?;
    let sent = spans(2)?;
    exporter.export(&sent)?;
    let seen = server.take_seen();
    assert!(seen[0].headers.get("content-encoding").is_none());
    assert_eq!(
        decode_traces(&seen[0].body)?.resource_spans[0].scope_spans[0].spans,
        sent
    );
    Ok(())
}

#[test]
fn batch_processor_loses_nothing_it_accepted_while_the_collector_is_down() -> TestResult {
    let socket = reserve_port()?;
    let exporter = exporter_for(&format!("http://{}/v1/traces", socket.local_addr()?)).build()?;
    let stats = exporter.stats();
    let processor = Arc::new(BatchSpanProcessor::with_config(
        exporter,
        BatchConfig {
            max_queue_size: 64,
            max_export_batch_size: 16,
            scheduled_delay: Duration::from_millis(10),
            export_timeout: Duration::from_secs(5),
        },
    )?);
    let provider = TracerProvider::builder()
        .with_resource(resource())
        .with_span_processor(Arc::clone(&processor))
        .build();
    let tracer = provider.tracer("checkout");
    let mut ended = HashSet::new();
    // The collector is down: the first batch waits in the exporter's retries, the queue
    // fills, and what does not fit is dropped.
    for i in 0..300 {
        tracer.in_span("charge", |span| {
            span.set_attribute(KeyValue::new("index", i as i64));
            ended.insert(span.span_context().span_id());
        });
        if i % 50 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let server = FaultServer::on(socket, Vec::new())?;
    provider.shutdown()?;

    let counts = processor.counts();
    let mut received = HashSet::new();
    let seen = server.take_seen();
    for request in &seen {
        let mut in_request = 0;
        for resource_spans in decode_traces(&request.body)?.resource_spans {
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    assert!(received.insert(span.span_context.span_id()), "duplicate");
                    in_request += 1;
                }
            }
        }
        assert!(
            (1..=16).contains(&in_request),
            "{in_request} spans in a request"
        );
    }
    assert!(received.is_subset(&ended));
    assert_eq!(counts.queue.pushed, 300);
    assert!(counts.queue.dropped_full > 0, "{counts:?}");
    assert_eq!(counts.export_failed, 0, "{counts:?}");
    assert_eq!(
        received.len() as u64,
        counts.queue.pushed - counts.queue.dropped(),
        "{counts:?}"
    );
    // Every request that arrived was answered 200, so each is one export; the attempts
    // made while the port refused connections are the difference.
    assert!(
        stats.requests() > seen.len() as u64,
        "the refused attempts were counted and retried: {} requests, {} arrived",
        stats.requests(),
        seen.len()
    );
    Ok(())
}
