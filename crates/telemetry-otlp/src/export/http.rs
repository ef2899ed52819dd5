//! The OTLP/HTTP span exporter.
//!
//! `export` is synchronous, as [`SpanExporter`] is: it encodes the batch on the caller's
//! thread and hands the body to the exporter's own thread, which runs a current-thread tokio
//! runtime driving a hyper client, and then waits on a std channel for the outcome. So the
//! caller never needs a runtime, and calling from inside one (a tokio worker thread) cannot
//! hit tokio's "runtime within a runtime" panic: nothing here calls `block_on` on the
//! caller's thread.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use flate2::Compression as GzipLevel;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use http::header::{
    CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT,
};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use telemetry_core::{Resource, diagnostic};
use telemetry_span::{ExportError, ExportErrorKind, SpanData, SpanExporter};
use tokio::sync::mpsc;

use super::retry::{self, Jitter, RetryPolicy};
use super::{ExporterBuildError, HttpExportError};
use crate::codec::TraceEncoder;
use crate::config::{Compression, ExporterConfig, Protocol, Signal};
use crate::json::parse::{self as json, Json};
use crate::proto::wire::Reader;

/// Largest request body sent, before compression (the OTLP default, OR-8): a larger batch
/// is refused unsent rather than rejected by the collector after the upload.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 64 << 20;

/// Largest response body read, after decompression (the OTLP default, OR-8).
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 4 << 20;

/// How much of an error response's body goes into the error.
const SNIPPET_LEN: usize = 256;

/// Sent with every request (OR-10: name the exporter, the language and the version).
const USER_AGENT_VALUE: &str = concat!(
    "OTel-OTLP-Exporter-Rust telemetry-otlp/",
    env!("CARGO_PKG_VERSION")
);

/// Sends spans to an OTLP/HTTP collector (protobuf or JSON, optionally gzip), retrying
/// transient failures with backoff within each export's deadline.
///
/// The exporter owns one thread, started by [`build`](HttpSpanExporterBuilder::build) and
/// stopped by [`shutdown`](SpanExporter::shutdown) or drop; [`export`](SpanExporter::export)
/// blocks the calling thread until the batch is delivered, refused, or out of time, and may
/// be called from any thread, inside an async runtime or not.
///
/// Transport: HTTP/1.1 over plain TCP. There is no TLS yet, so `https` endpoints are refused
/// when building, and no HTTP/2.
///
/// Responses: 2xx is success, and a `partial_success` in the body is reported through
/// [`telemetry_core::diagnostic`] and counted in [`HttpExporterStats::rejected_spans`].
/// 429, 502, 503 and 504, and failures to connect or to get a response, are retried after
/// `Retry-After` when the server sends one, else after exponential backoff with full
/// jitter ([`RetryPolicy`]). Every other status fails the export at once with
/// [`ExportErrorKind::Rejected`] and an [`HttpExportError`] source holding the status and
/// the start of the body. When the deadline passes the export fails with
/// [`ExportErrorKind::Timeout`]; when retries run out without one, with
/// [`ExportErrorKind::Unavailable`].
#[derive(Debug)]
pub struct HttpSpanExporter {
    protocol: Protocol,
    compression: Compression,
    /// The configured per-export timeout.
    timeout: Option<Duration>,
    /// The timeout the span processor gave, if it gave one.
    processor_timeout: Option<Duration>,
    max_request_size: usize,
    resource: Resource,
    encoder: TraceEncoder,
    /// The encoded batch before compression, kept across exports (only used with gzip).
    scratch: Vec<u8>,
    /// The last request body, back from the worker, so its allocation is reused.
    spare: Vec<u8>,
    jobs: Option<mpsc::UnboundedSender<Job>>,
    worker: Option<JoinHandle<()>>,
    stats: HttpExporterStats,
}

/// Builds an [`HttpSpanExporter`]; every option of [`ExporterConfig`] can be set in code.
#[derive(Clone, Debug)]
pub struct HttpSpanExporterBuilder {
    config: ExporterConfig,
    retry: RetryPolicy,
    max_request_size: usize,
    max_response_size: usize,
}

/// Counters of an [`HttpSpanExporter`], shared with it: they keep counting after the
/// exporter has been handed to a span processor.
#[derive(Clone, Debug, Default)]
pub struct HttpExporterStats(Arc<StatsInner>);

/// Written by the exporter's thread, read anywhere; Relaxed throughout, as these are
/// statistics that order nothing else.
#[derive(Debug, Default)]
struct StatsInner {
    requests: AtomicU64,
    rejected_spans: AtomicU64,
}

impl HttpExporterStats {
    /// HTTP requests sent (or attempted) so far, retries included.
    pub fn requests(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
    }

    /// Spans the collector reported as rejected in `partial_success` responses.
    pub fn rejected_spans(&self) -> u64 {
        self.0.rejected_spans.load(Ordering::Relaxed)
    }
}

/// One export handed to the worker thread.
struct Job {
    body: Bytes,
    deadline: Option<Instant>,
    reply: std_mpsc::SyncSender<(Result<(), ExportError>, Bytes)>,
}

impl HttpSpanExporter {
    /// A builder with the spec's defaults (not the environment's): OTLP/HTTP protobuf to
    /// `http://localhost:4318/v1/traces`, 10 s per export.
    pub fn builder() -> HttpSpanExporterBuilder {
        HttpSpanExporterBuilder {
            config: ExporterConfig::new(Signal::Traces),
            retry: RetryPolicy::default(),
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
        }
    }

    /// An exporter configured by `OTEL_EXPORTER_OTLP_*` in the process environment.
    pub fn from_env() -> Result<Self, ExporterBuildError> {
        Self::builder()
            .config(ExporterConfig::from_env(Signal::Traces))
            .build()
    }

    /// The exporter's counters; the handle stays valid after the exporter moves.
    pub fn stats(&self) -> HttpExporterStats {
        self.stats.clone()
    }

    /// The deadline of an export starting now: the smaller of the configured timeout and
    /// the processor's.
    fn deadline(&self) -> Option<Instant> {
        let timeout = match (self.timeout, self.processor_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        timeout.map(|timeout| Instant::now() + timeout)
    }

    fn encode(&mut self, batch: &[SpanData]) -> Result<Vec<u8>, ExportError> {
        let mut body = std::mem::take(&mut self.spare);
        body.clear();
        let target = match self.compression {
            Compression::None => &mut body,
            Compression::Gzip => {
                self.scratch.clear();
                &mut self.scratch
            }
        };
        match self.protocol {
            Protocol::HttpJson => self.encoder.encode_json(&self.resource, batch, target),
            _ => self.encoder.encode(&self.resource, batch, target),
        }
        if target.len() > self.max_request_size {
            let message = format!(
                "{} spans encode to {} bytes, over the {} byte request limit; not sent",
                batch.len(),
                target.len(),
                self.max_request_size
            );
            return Err(ExportError::with_source(
                ExportErrorKind::Rejected,
                HttpExportError::new(None, 0, message),
            ));
        }
        if self.compression == Compression::Gzip {
            let mut gzip = GzEncoder::new(body, GzipLevel::fast());
            // Writing to a Vec cannot fail.
            let _ = gzip.write_all(&self.scratch);
            body = gzip.finish().unwrap_or_default();
        }
        Ok(body)
    }
}

impl SpanExporter for HttpSpanExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        if self.jobs.is_none() {
            return Err(ExportError::new(ExportErrorKind::ShutDown));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let deadline = self.deadline();
        let body = Bytes::from(self.encode(batch)?);
        let Some(jobs) = &self.jobs else {
            return Err(ExportError::new(ExportErrorKind::ShutDown));
        };
        let (reply, outcome) = std_mpsc::sync_channel(1);
        let job = Job {
            body,
            deadline,
            reply,
        };
        if jobs.send(job).is_err() {
            return Err(worker_died());
        }
        // The worker always answers (it enforces the deadline itself); if it died instead,
        // the reply sender is dropped and recv fails.
        let (result, body) = outcome.recv().map_err(|_| worker_died())?;
        // Unique unless hyper still holds a clone of a body whose connection is closing.
        if let Ok(body) = body.try_into_mut() {
            self.spare = body.into();
        }
        result
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        // Closing the channel ends the worker's loop; joining it waits for its runtime to
        // close its connections. The worker never waits on the caller, so this cannot
        // deadlock even from inside a runtime.
        let Some(jobs) = self.jobs.take() else {
            return Err(ExportError::new(ExportErrorKind::ShutDown));
        };
        drop(jobs);
        if let Some(worker) = self.worker.take()
            && worker.join().is_err()
        {
            return Err(worker_died());
        }
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.clone();
    }

    fn set_export_timeout(&mut self, timeout: Option<Duration>) {
        self.processor_timeout = timeout;
    }
}

impl Drop for HttpSpanExporter {
    fn drop(&mut self) {
        if self.jobs.is_some() {
            let _ = self.shutdown();
        }
    }
}

fn worker_died() -> ExportError {
    ExportError::with_source(
        ExportErrorKind::Unavailable,
        HttpExportError::new(None, 0, "the exporter's thread died".to_owned()),
    )
}

impl HttpSpanExporterBuilder {
    /// Replaces every option with those of `config`, e.g. from
    /// [`ExporterConfig::from_env`].
    pub fn config(mut self, config: ExporterConfig) -> Self {
        self.config = config;
        self
    }

    /// The full URL requests go to, used as is (no `/v1/traces` is appended).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.config.endpoint = url.into();
        self
    }

    /// Adds a header to every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.headers.push((name.into(), value.into()));
        self
    }

    /// How long one export may take, retries included; `None`: no limit. A span
    /// processor's export timeout, when smaller, wins.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// Request body compression.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.config.compression = compression;
        self
    }

    /// The wire protocol: [`Protocol::HttpProtobuf`] or [`Protocol::HttpJson`].
    pub fn protocol(mut self, protocol: Protocol) -> Self {
        self.config.protocol = protocol;
        self
    }

    /// Backoff between attempts.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Largest request body sent, before compression ([`DEFAULT_MAX_REQUEST_SIZE`]).
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.max_request_size = bytes;
        self
    }

    /// Largest response body read, after decompression ([`DEFAULT_MAX_RESPONSE_SIZE`]).
    pub fn max_response_size(mut self, bytes: usize) -> Self {
        self.max_response_size = bytes;
        self
    }

    /// Checks the configuration and starts the exporter's thread.
    pub fn build(self) -> Result<HttpSpanExporter, ExporterBuildError> {
        let config = self.config;
        let content_type = match config.protocol {
            Protocol::HttpProtobuf => "application/x-protobuf",
            Protocol::HttpJson => "application/json",
            other => return Err(ExporterBuildError::UnsupportedProtocol(other)),
        };
        let uri: Uri = config
            .endpoint
            .parse()
            .map_err(|_| ExporterBuildError::InvalidEndpoint(config.endpoint.clone()))?;
        match uri.scheme_str() {
            Some("http") if uri.authority().is_some() => {}
            Some("https") => return Err(ExporterBuildError::TlsUnsupported(config.endpoint)),
            _ => return Err(ExporterBuildError::InvalidEndpoint(config.endpoint)),
        }

        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let invalid = || ExporterBuildError::InvalidHeader(name.clone());
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let value = HeaderValue::from_str(value).map_err(|_| invalid())?;
            headers.append(name, value);
        }
        // Ours last, so a user header cannot make the body unreadable.
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        if config.compression == Compression::Gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }

        let stats = HttpExporterStats::default();
        let sender = Sender {
            client: None,
            uri,
            headers,
            protocol: config.protocol,
            retry: self.retry,
            jitter: Jitter::new(),
            max_response_size: self.max_response_size,
            stats: stats.clone(),
            last_failure: None,
        };
        let (jobs, receiver) = mpsc::unbounded_channel();
        let (started, start) = std_mpsc::sync_channel(1);
        let worker = std::thread::Builder::new()
            .name("telemetry-otlp-http".to_owned())
            .spawn(move || sender.run(receiver, &started))
            .map_err(ExporterBuildError::Thread)?;
        // The runtime is built on the worker's thread, so that it is also dropped there and
        // never inside a caller's runtime; its failure comes back here.
        match start.recv() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(ExporterBuildError::Thread(error)),
            Err(_) => {
                return Err(ExporterBuildError::Thread(std::io::Error::other(
                    "the exporter thread exited while starting",
                )));
            }
        }

        Ok(HttpSpanExporter {
            protocol: config.protocol,
            compression: config.compression,
            timeout: config.timeout,
            processor_timeout: None,
            max_request_size: self.max_request_size,
            resource: Resource::empty(),
            encoder: TraceEncoder::new(),
            scratch: Vec::new(),
            spare: Vec::new(),
            jobs: Some(jobs),
            worker: Some(worker),
            stats,
        })
    }
}

/// The worker thread's state: the client and everything a request needs.
struct Sender {
    /// Created on the worker's thread, inside its runtime.
    client: Option<Client<HttpConnector, Full<Bytes>>>,
    uri: Uri,
    headers: HeaderMap,
    protocol: Protocol,
    retry: RetryPolicy,
    jitter: Jitter,
    max_response_size: usize,
    stats: HttpExporterStats,
    /// Why the previous attempt of the current export failed, for the timeout error.
    last_failure: Option<HttpExportError>,
}

/// How one attempt ended, when it did not succeed.
enum Failure {
    /// Try again after the wait (`None`: backoff decides).
    Retry(HttpExportError, Option<Duration>),
    /// Give up.
    Permanent(HttpExportError),
}

impl Sender {
    fn run(
        mut self,
        mut jobs: mpsc::UnboundedReceiver<Job>,
        started: &std_mpsc::SyncSender<std::io::Result<()>>,
    ) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(error) => {
                let _ = started.send(Err(error));
                return;
            }
        };
        let _ = started.send(Ok(()));
        runtime.block_on(async move {
            let mut connector = HttpConnector::new();
            // Export requests are single writes; Nagle would only delay them.
            connector.set_nodelay(true);
            self.client = Some(Client::builder(TokioExecutor::new()).build(connector));
            while let Some(job) = jobs.recv().await {
                self.last_failure = None;
                let result = match job.deadline {
                    None => self.send(&job.body, None).await,
                    Some(deadline) => {
                        let attempt = self.send(&job.body, Some(deadline));
                        let outcome = tokio::time::timeout_at(deadline.into(), attempt).await;
                        match outcome {
                            Ok(result) => result,
                            Err(_) => Err(self.timed_out(None)),
                        }
                    }
                };
                let _ = job.reply.send((result, job.body));
            }
        });
    }

    fn timed_out(&mut self, next_wait: Option<Duration>) -> ExportError {
        let mut error = self.last_failure.take().unwrap_or_else(|| {
            HttpExportError::new(None, 0, "no response before the deadline".to_owned())
        });
        if let Some(wait) = next_wait {
            error.message = format!(
                "{} (the next retry, in {wait:?}, would pass the deadline)",
                error.message
            );
        }
        ExportError::with_source(ExportErrorKind::Timeout, error)
    }

    /// Sends `body` until it is accepted, refused, or the retries or the deadline run out.
    async fn send(&mut self, body: &Bytes, deadline: Option<Instant>) -> Result<(), ExportError> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let (failure, wait) = match self.attempt(body, attempts).await {
                Ok(()) => return Ok(()),
                Err(Failure::Permanent(error)) => {
                    return Err(ExportError::with_source(ExportErrorKind::Rejected, error));
                }
                Err(Failure::Retry(error, wait)) => (error, wait),
            };
            let wait = wait.unwrap_or_else(|| self.retry.backoff(attempts - 1, &mut self.jitter));
            self.last_failure = Some(failure);
            match deadline {
                // Waiting would only end in the timeout: report it now, so the processor
                // moves on instead of sleeping through the deadline.
                Some(deadline) if Instant::now() + wait >= deadline => {
                    return Err(self.timed_out(Some(wait)));
                }
                None if attempts >= self.retry.max_attempts => {
                    let error = self.last_failure.take().map_or_else(
                        || ExportError::new(ExportErrorKind::Unavailable),
                        |error| ExportError::with_source(ExportErrorKind::Unavailable, error),
                    );
                    return Err(error);
                }
                _ => {}
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// One request and its response.
    async fn attempt(&mut self, body: &Bytes, attempts: u32) -> Result<(), Failure> {
        let Some(client) = &self.client else {
            return Err(Failure::Permanent(HttpExportError::new(
                None,
                attempts,
                "no client".to_owned(),
            )));
        };
        let mut request = Request::post(self.uri.clone())
            .body(Full::new(body.clone()))
            .map_err(|error| {
                Failure::Permanent(HttpExportError::new(None, attempts, error.to_string()))
            })?;
        *request.headers_mut() = self.headers.clone();
        self.stats.0.requests.fetch_add(1, Ordering::Relaxed);
        let response = client.request(request).await.map_err(|error| {
            // Could not connect, or the connection closed before a response: the spec says
            // retry both with backoff (OR-4).
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message = format!("{message}: {cause}");
                source = cause.source();
            }
            Failure::Retry(HttpExportError::new(None, attempts, message), None)
        })?;
        let (parts, incoming) = response.into_parts();
        let status = parts.status;
        let collected = Limited::new(incoming, self.max_response_size)
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes);
        let body = collected.map(|bytes| self.decompress(&parts.headers, bytes));

        if status.is_success() {
            match body {
                Ok(Some(body)) => self.read_partial_success(&parts.headers, &body),
                // The collector took the data; an unreadable answer must not resend it.
                _ => diagnostic::report(
                    "otlp exporter",
                    format_args!(
                        "{} answered {status} with a body that is unreadable or over {} bytes; \
                         treating the export as delivered",
                        self.uri, self.max_response_size
                    ),
                ),
            }
            return Ok(());
        }

        let message = match body {
            Ok(Some(body)) => error_message(&parts.headers, &body),
            Ok(None) => "the body is not valid gzip".to_owned(),
            Err(_) => format!(
                "the body is unreadable or over {} bytes",
                self.max_response_size
            ),
        };
        let error = HttpExportError::new(Some(status), attempts, message);
        if retry::is_retryable(status) {
            let wait = retry::retry_after(&parts.headers, SystemTime::now());
            Err(Failure::Retry(error, wait))
        } else {
            Err(Failure::Permanent(error))
        }
    }

    /// The body, gunzipped if the server gzipped it; `None` if that fails or passes the cap.
    fn decompress(&self, headers: &HeaderMap, body: Bytes) -> Option<Bytes> {
        let gzipped = headers
            .get(CONTENT_ENCODING)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"gzip"));
        if !gzipped {
            return Some(body);
        }
        let mut out = Vec::new();
        let limit = u64::try_from(self.max_response_size).unwrap_or(u64::MAX);
        GzDecoder::new(&body[..])
            .take(limit + 1)
            .read_to_end(&mut out)
            .ok()?;
        (out.len() <= self.max_response_size).then(|| Bytes::from(out))
    }

    /// Reports and counts the `partial_success` of an `ExportTraceServiceResponse`.
    fn read_partial_success(&self, headers: &HeaderMap, body: &[u8]) {
        if body.is_empty() {
            return;
        }
        let partial = if is_json(headers, self.protocol) {
            partial_success_json(body)
        } else {
            partial_success_proto(body)
        };
        match partial {
            Some((0, message)) if message.is_empty() => {}
            Some((rejected, message)) => {
                let rejected = u64::try_from(rejected).unwrap_or(0);
                self.stats
                    .0
                    .rejected_spans
                    .fetch_add(rejected, Ordering::Relaxed);
                diagnostic::report(
                    "otlp exporter",
                    format_args!(
                        "{} accepted the export partially: {rejected} spans rejected: {message:?}",
                        self.uri
                    ),
                );
            }
            None => diagnostic::report(
                "otlp exporter",
                format_args!("{} answered success with an undecodable body", self.uri),
            ),
        }
    }
}

/// True when the response (or, without a content type, the request) is JSON.
fn is_json(headers: &HeaderMap, protocol: Protocol) -> bool {
    match headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        Some(content_type) => content_type
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("application/json"),
        None => protocol == Protocol::HttpJson,
    }
}

/// `(rejected_spans, error_message)` of a protobuf `ExportTraceServiceResponse` (both 0/""
/// when `partial_success` is absent); `None` when the body does not decode.
fn partial_success_proto(body: &[u8]) -> Option<(i64, String)> {
    let mut rejected = 0i64;
    let mut message = String::new();
    Reader::new(body)
        .fields("ExportTraceServiceResponse", |reader, field| {
            if field.number != 1 {
                return reader.skip(field);
            }
            reader
                .message_field(field)?
                .fields("ExportTracePartialSuccess", |reader, field| {
                    match field.number {
                        // int64: the varint is the two's complement bit pattern.
                        1 => rejected = reader.varint_field(field)? as i64,
                        2 => reader.str_field(field)?.clone_into(&mut message),
                        _ => reader.skip(field)?,
                    }
                    Ok(())
                })
        })
        .ok()?;
    Some((rejected, message))
}

/// The same from an OTLP/JSON response: `{"partialSuccess":{"rejectedSpans":"3",
/// "errorMessage":"..."}}`, the count as a string or a number.
fn partial_success_json(body: &[u8]) -> Option<(i64, String)> {
    let Json::Object(response) = json::parse(body).ok()? else {
        return None;
    };
    let partial = match json::get(&response, "partialSuccess") {
        None | Some(Json::Null) => return Some((0, String::new())),
        Some(Json::Object(partial)) => partial,
        Some(_) => return None,
    };
    let rejected = match json::get(partial, "rejectedSpans") {
        None | Some(Json::Null) => 0,
        Some(Json::String(text)) => text.parse().ok()?,
        Some(Json::Number(text)) => text.parse().ok()?,
        Some(_) => return None,
    };
    let message = match json::get(partial, "errorMessage") {
        Some(Json::String(text)) => text.to_string(),
        None | Some(Json::Null) => String::new(),
        Some(_) => return None,
    };
    Some((rejected, message))
}

/// What an error response says: the `message` of a protobuf `google.rpc.Status` body (what
/// OTLP servers send, OR-3) or the start of any other body.
fn error_message(headers: &HeaderMap, body: &[u8]) -> String {
    let protobuf = headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/x-protobuf"));
    if protobuf {
        let mut message = None;
        let decoded = Reader::new(body).fields("google.rpc.Status", |reader, field| {
            if field.number == 2 {
                message = Some(reader.str_field(field)?.to_owned());
                Ok(())
            } else {
                reader.skip(field)
            }
        });
        if let (Ok(()), Some(message)) = (decoded, message) {
            return snippet(message.as_bytes());
        }
    }
    snippet(body)
}

/// The first [`SNIPPET_LEN`] bytes as text, marked when cut.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(SNIPPET_LEN)]);
    if body.len() > SNIPPET_LEN {
        format!("{}…", text.trim_end())
    } else {
        text.trim_end().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_refuses_what_it_cannot_send() {
        let cases: &[(&str, HttpSpanExporterBuilder, &str)] = &[
            (
                "grpc",
                HttpSpanExporter::builder().protocol(Protocol::Grpc),
                "protocol grpc is not supported by this exporter",
            ),
            (
                "https",
                HttpSpanExporter::builder().endpoint("https://collector:4318/v1/traces"),
                "endpoint \"https://collector:4318/v1/traces\" needs TLS, which this exporter lacks",
            ),
            (
                "no scheme",
                HttpSpanExporter::builder().endpoint("collector:4318"),
                "endpoint \"collector:4318\" is not an absolute http URL",
            ),
            (
                "garbage",
                HttpSpanExporter::builder().endpoint("http://exa mple/"),
                "endpoint \"http://exa mple/\" is not an absolute http URL",
            ),
            (
                "header name",
                HttpSpanExporter::builder().header("bad name", "x"),
                "header \"bad name\" is not a valid HTTP header",
            ),
            (
                "header value",
                HttpSpanExporter::builder().header("x-key", "a\nb"),
                "header \"x-key\" is not a valid HTTP header",
            ),
        ];
        for (name, builder, expected) in cases {
            match builder.clone().build() {
                Ok(_) => panic!("{name}: built"),
                Err(error) => assert_eq!(error.to_string(), *expected, "{name}"),
            }
        }
    }

    #[test]
    fn partial_success_from_protobuf_and_json() {
        // partial_success { rejected_spans: 3, error_message: "bad" }, then an unknown field.
        let proto = [
            0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd', 0x18, 0x01,
        ];
        assert_eq!(partial_success_proto(&proto), Some((3, "bad".to_owned())));
        assert_eq!(partial_success_proto(&[]), Some((0, String::new())));
        assert_eq!(
            partial_success_proto(&[0x0a, 0x05, 0x08]),
            None,
            "truncated"
        );

        let json = br#"{"partialSuccess":{"rejectedSpans":"4","errorMessage":"x","other":1}}"#;
        assert_eq!(partial_success_json(json), Some((4, "x".to_owned())));
        let number = br#"{"partialSuccess":{"rejectedSpans":5}}"#;
        assert_eq!(partial_success_json(number), Some((5, String::new())));
        assert_eq!(partial_success_json(b"{}"), Some((0, String::new())));
        assert_eq!(partial_success_json(b"[1]"), None);
        assert_eq!(
            partial_success_json(br#"{"partialSuccess":{"rejectedSpans":"x"}}"#),
            None
        );
    }

    #[test]
    fn error_messages_from_status_bodies_or_text() {
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        // google.rpc.Status { code: 3, message: "no spans" }
        let status = [
            0x08, 0x03, 0x12, 0x08, b'n', b'o', b' ', b's', b'p', b'a', b'n', b's',
        ];
        assert_eq!(error_message(&headers, &status), "no spans");
        assert_eq!(
            error_message(&HeaderMap::new(), b"plain text\n"),
            "plain text"
        );
        let long = vec![b'a'; 1000];
        let cut = error_message(&HeaderMap::new(), &long);
        assert_eq!(cut.len(), SNIPPET_LEN + '…'.len_utf8());
    }
}
