//! The signal-independent half of the OTLP/HTTP exporters: the hyper client on the worker
//! thread, request encoding into reused buffers, gzip, one attempt's request and response
//! reading, and `partial_success` in OTLP/JSON. The thread, the deadline and the retry loop
//! are the ones the gRPC exporters use too (`worker.rs`).
//!
//! [`Transport::export`] is synchronous, as every exporter trait here is: the caller encodes
//! on its own thread into a buffer the transport lends it, the body goes to the worker, and
//! the caller waits on a std channel for the outcome. So the caller never needs a runtime,
//! and calling from inside one (a tokio worker thread) cannot hit tokio's "runtime within a
//! runtime" panic: nothing here calls `block_on` on the caller's thread.
//!
//! What differs per signal is small and passed in: the [`Signal`] (the `partial_success`
//! field and the counter it feeds, the thread's name), the encoder (a closure), and the
//! mapping of [`TransportError`] to the signal crate's own `ExportError`, done by each
//! exporter since every signal crate has its own error type.

use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use flate2::Compression as GzipLevel;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use http::header::{
    CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, USER_AGENT,
};
use http::{Request, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::ClientConfig;
use telemetry_core::diagnostic;
use tokio::sync::mpsc;

use super::http::{DEFAULT_MAX_REQUEST_SIZE, DEFAULT_MAX_RESPONSE_SIZE, HttpExporterStats};
use super::retry::{self, RetryPolicy};
use super::worker::{
    self, AttemptError, Details, Failure, Handle, Job, PARTIAL_MESSAGE_LEN, Pacer,
    USER_AGENT as USER_AGENT_VALUE,
};
use super::{ExporterBuildError, HttpExportError};
use crate::config::{Compression, DEFAULT_TIMEOUT, ExporterConfig, Protocol, Signal};
use crate::json::parse::{self as json, Json};
use crate::proto::wire::Reader;
use crate::tls;

/// Everything an OTLP/HTTP exporter's builder holds; each public builder wraps one.
#[derive(Clone, Debug)]
pub(crate) struct HttpSettings {
    pub(crate) config: ExporterConfig,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_request_size: usize,
    pub(crate) max_response_size: usize,
}

/// Why an export through the transport failed, before it becomes a signal's `ExportError`.
pub(crate) type TransportError = Failure<HttpExportError>;

impl Details for HttpExportError {
    fn other(message: String) -> Self {
        HttpExportError::new(None, 0, message)
    }

    fn append(&mut self, note: &str) {
        self.message.push_str(note);
    }
}

/// Turns a [`TransportError`] into a signal crate's `ExportError`, whose constructors all
/// look alike: `$error::new(kind)` and `$error::with_source(kind, source)`.
macro_rules! map_transport_error {
    ($error:ty, $kind:ident, $value:expr) => {{
        use $crate::export::worker::Failure;
        let error: $crate::export::http_transport::TransportError = $value;
        match error {
            Failure::ShutDown => <$error>::new($kind::ShutDown),
            Failure::Timeout(source) => <$error>::with_source($kind::Timeout, source),
            Failure::Rejected(source) => <$error>::with_source($kind::Rejected, source),
            Failure::Unavailable(source) => <$error>::with_source($kind::Unavailable, source),
        }
    }};
}
pub(crate) use map_transport_error;

/// The setters every OTLP/HTTP exporter builder has, over its `settings: HttpSettings` field.
macro_rules! http_builder_setters {
    () => {
        /// Replaces every option with those of `config`, e.g. from
        /// [`ExporterConfig::from_env`](crate::ExporterConfig::from_env).
        pub fn config(mut self, config: $crate::ExporterConfig) -> Self {
            self.settings.config = config;
            self
        }

        /// The full URL requests go to, used as is (no `/v1/{signal}` path is appended).
        pub fn endpoint(mut self, url: impl Into<String>) -> Self {
            self.settings.config.endpoint = url.into();
            self
        }

        /// Adds a header to every request.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.settings
                .config
                .headers
                .push((name.into(), value.into()));
            self
        }

        /// How long one export may take, retries included; `None`: no limit. A
        /// processor's export timeout, when it gives one and it is smaller, wins.
        pub fn timeout(mut self, timeout: Option<std::time::Duration>) -> Self {
            self.settings.config.timeout = timeout;
            self
        }

        /// Request body compression.
        pub fn compression(mut self, compression: $crate::Compression) -> Self {
            self.settings.config.compression = compression;
            self
        }

        /// The wire protocol: [`Protocol::HttpProtobuf`](crate::Protocol::HttpProtobuf) or
        /// [`Protocol::HttpJson`](crate::Protocol::HttpJson).
        pub fn protocol(mut self, protocol: $crate::Protocol) -> Self {
            self.settings.config.protocol = protocol;
            self
        }

        /// Backoff between attempts.
        pub fn retry(mut self, retry: $crate::RetryPolicy) -> Self {
            self.settings.retry = retry;
            self
        }

        /// Largest request body sent, before compression
        /// ([`DEFAULT_MAX_REQUEST_SIZE`](crate::DEFAULT_MAX_REQUEST_SIZE)).
        pub fn max_request_size(mut self, bytes: usize) -> Self {
            self.settings.max_request_size = bytes;
            self
        }

        /// Largest response body read, after decompression
        /// ([`DEFAULT_MAX_RESPONSE_SIZE`](crate::DEFAULT_MAX_RESPONSE_SIZE)).
        pub fn max_response_size(mut self, bytes: usize) -> Self {
            self.settings.max_response_size = bytes;
            self
        }

        $crate::tls::tls_builder_setters!();
    };
}
pub(crate) use http_builder_setters;

impl HttpSettings {
    /// The spec's defaults for `signal`, not the environment's.
    pub(crate) fn new(signal: Signal) -> Self {
        HttpSettings {
            config: ExporterConfig::new(signal),
            retry: RetryPolicy::default(),
            max_request_size: DEFAULT_MAX_REQUEST_SIZE,
            max_response_size: DEFAULT_MAX_RESPONSE_SIZE,
        }
    }

    /// Checks the configuration and starts the worker thread.
    pub(crate) fn start(self, signal: Signal) -> Result<Transport, ExporterBuildError> {
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
        // The TLS settings are read and checked here, so that a bad certificate file fails
        // the build; for `http` they are ignored, as the spec applies them to secure
        // connections only.
        let tls = match uri.scheme_str() {
            _ if uri.authority().is_none() => {
                return Err(ExporterBuildError::InvalidEndpoint(config.endpoint));
            }
            Some("http") => None,
            Some("https") => Some(config.tls.client_config()?),
            _ => return Err(ExporterBuildError::InvalidEndpoint(config.endpoint)),
        };

        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let invalid = || ExporterBuildError::InvalidHeader(name.clone());
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let value = HeaderValue::from_str(value).map_err(|_| invalid())?;
            headers.append(name, value);
        }
        // Ours last, so a user header cannot make the body unreadable: a user
        // `content-encoding` would label an uncompressed body as compressed.
        headers.remove(CONTENT_ENCODING);
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        if config.compression == Compression::Gzip {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }

        let stats = HttpExporterStats {
            counters: Default::default(),
            signal: Some(signal),
        };
        let https = tls.is_some();
        let tls = match tls {
            Some(config) => config,
            None => tls::unused_client_config()?,
        };
        let sender = Sender {
            client: None,
            tls_failures: tls::FailureSlot::default(),
            tls: Some(tls),
            https,
            signal,
            uri,
            headers,
            protocol: config.protocol,
            max_response_size: self.max_response_size,
            stats: stats.clone(),
        };
        let retry = self.retry;
        let thread_name = match signal {
            Signal::Traces => "telemetry-otlp-http",
            Signal::Metrics => "telemetry-otlp-http-metrics",
            Signal::Logs => "telemetry-otlp-http-logs",
        };
        // Bounds a connection attempt even when exports have no deadline.
        let connect_timeout = config.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let handle = Handle::start(thread_name, config.timeout, move |jobs| {
            sender.run(jobs, retry, connect_timeout)
        })?;

        Ok(Transport {
            protocol: config.protocol,
            compression: config.compression,
            max_request_size: self.max_request_size,
            scratch: Vec::new(),
            handle,
            stats,
        })
    }
}

/// The caller's side of one exporter: the encoding rules (protocol, compression, size
/// limit) over the shared [`Handle`].
pub(crate) struct Transport {
    protocol: Protocol,
    compression: Compression,
    max_request_size: usize,
    /// The encoded batch before compression, kept across exports (only used with gzip).
    scratch: Vec<u8>,
    handle: Handle<HttpExportError>,
    stats: HttpExporterStats,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the scratch buffer: megabytes of a past request say nothing.
        f.debug_struct("Transport")
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field("max_request_size", &self.max_request_size)
            .field("handle", &self.handle)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Transport {
    /// The counters the worker updates.
    pub(crate) fn stats(&self) -> &HttpExporterStats {
        &self.stats
    }

    /// The wire protocol, which decides the encoder.
    pub(crate) fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// True until [`shutdown`](Transport::shutdown).
    pub(crate) fn is_running(&self) -> bool {
        self.handle.is_running()
    }

    /// Sets the processor's timeout; the smaller of it and the configured one applies.
    pub(crate) fn set_processor_timeout(&mut self, timeout: Option<Duration>) {
        self.handle.set_processor_timeout(timeout);
    }

    /// Encodes with `encode` (which appends `items` `noun` to the buffer it is given, in
    /// [`protocol`](Transport::protocol)'s encoding), sends, and waits for the outcome.
    pub(crate) fn export(
        &mut self,
        items: usize,
        noun: &str,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), TransportError> {
        let (compression, max_request_size) = (self.compression, self.max_request_size);
        let (scratch, stats) = (&mut self.scratch, &self.stats);
        self.handle.export(|body| {
            let target = match compression {
                Compression::None => &mut *body,
                Compression::Gzip => {
                    scratch.clear();
                    &mut *scratch
                }
            };
            encode(target);
            if target.len() > max_request_size {
                stats
                    .counters
                    .dropped_oversized
                    .fetch_add(1, Ordering::Relaxed);
                let message = format!(
                    "{items} {noun} encode to {} bytes, over the {max_request_size} byte \
                     request limit; not sent",
                    target.len(),
                );
                return Err(Failure::Rejected(HttpExportError::new(None, 0, message)));
            }
            if compression == Compression::Gzip {
                let mut gzip = GzEncoder::new(std::mem::take(body), GzipLevel::fast());
                // Writing to a Vec cannot fail.
                let _ = gzip.write_all(scratch);
                *body = gzip.finish().unwrap_or_default();
                *scratch = worker::recycle(std::mem::take(scratch));
            }
            Ok(())
        })
    }

    /// Stops the worker and waits for it; the second call fails with "shut down".
    pub(crate) fn shutdown(&mut self) -> Result<(), TransportError> {
        self.handle.shutdown()
    }
}

/// The worker thread's state: the client and everything a request needs.
struct Sender {
    /// Created on the worker's thread, inside its runtime.
    client: Option<Client<tls::Recording<HttpsConnector<HttpConnector>>, Full<Bytes>>>,
    /// TLS errors of the client's connections, which hyper does not always pass on.
    tls_failures: tls::FailureSlot,
    /// The TLS configuration, until the client takes it; unused for `http`.
    tls: Option<ClientConfig>,
    /// Whether the endpoint is `https`.
    https: bool,
    signal: Signal,
    uri: Uri,
    headers: HeaderMap,
    protocol: Protocol,
    max_response_size: usize,
    stats: HttpExporterStats,
}

impl Sender {
    /// The worker's loop, run inside its runtime until the job channel closes.
    async fn run(
        mut self,
        jobs: mpsc::UnboundedReceiver<Job<HttpExportError>>,
        retry: RetryPolicy,
        connect_timeout: Duration,
    ) {
        let mut connector = HttpConnector::new();
        // The TLS layer above it handles `https`; this one only opens the TCP connection.
        connector.enforce_http(false);
        // Export requests are single writes; Nagle would only delay them.
        connector.set_nodelay(true);
        // Without it, a SYN to a black-holed address waits for the OS (minutes).
        connector.set_connect_timeout(Some(connect_timeout));
        if let Some(config) = self.tls.take() {
            let builder = HttpsConnectorBuilder::new().with_tls_config(config);
            let connector = if self.https {
                // ALPN offers h2 and http/1.1; hyper speaks whichever the server picks.
                builder
                    .https_only()
                    .enable_all_versions()
                    .wrap_connector(connector)
            } else {
                // One client type for both schemes: for `http` the TLS layer passes the
                // connection through, and its configuration is never used.
                builder
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(connector)
            };
            let connector = tls::Recording::new(connector, self.tls_failures.clone());
            self.client = Some(Client::builder(TokioExecutor::new()).build(connector));
        }
        // Lives as long as this loop, so that a delay the collector asks for holds across
        // exports.
        let mut pacer = Pacer::new(retry, Arc::clone(&self.stats.counters));
        let sender = &self;
        worker::serve(jobs, async |body, deadline| {
            pacer
                .deliver(deadline, async |attempts| {
                    sender.attempt(body, attempts).await
                })
                .await
        })
        .await;
    }

    /// One request and its response.
    async fn attempt(
        &self,
        body: &Bytes,
        attempts: u32,
    ) -> Result<(), AttemptError<HttpExportError>> {
        let Some(client) = &self.client else {
            return Err(AttemptError::Permanent(HttpExportError::new(
                None,
                attempts,
                "no client".to_owned(),
            )));
        };
        let mut request = Request::post(self.uri.clone())
            .body(Full::new(body.clone()))
            .map_err(|error| {
                AttemptError::Permanent(HttpExportError::new(None, attempts, error.to_string()))
            })?;
        *request.headers_mut() = self.headers.clone();
        self.stats.counters.requests.fetch_add(1, Ordering::Relaxed);
        // Only this attempt's connections count: an old error must not be blamed on it.
        let _ = self.tls_failures.take();
        let response = client.request(request).await.map_err(|error| {
            let recorded = self.tls_failures.take();
            if let Some(failure) = tls::tls_failure(&error).or(recorded.as_ref()) {
                let message = tls::describe_failure(&self.uri.to_string(), failure);
                let error = HttpExportError::new(None, attempts, message);
                return if tls::is_permanent(failure) {
                    AttemptError::Permanent(error)
                } else {
                    AttemptError::Retry(error, None)
                };
            }
            // Could not connect, or the connection closed before a response: the spec says
            // retry both with backoff (OR-4).
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message = format!("{message}: {cause}");
                source = cause.source();
            }
            AttemptError::Retry(HttpExportError::new(None, attempts, message), None)
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
            Err(AttemptError::Retry(error, wait))
        } else {
            Err(AttemptError::Permanent(error))
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

    /// Reports and counts the `partial_success` of an `Export*ServiceResponse`.
    fn read_partial_success(&self, headers: &HeaderMap, body: &[u8]) {
        if body.is_empty() {
            return;
        }
        let partial = if is_json(headers, self.protocol) {
            partial_success_json(self.signal, body)
        } else {
            worker::partial_success_proto(body)
        };
        let items = match self.signal {
            Signal::Traces => "spans",
            Signal::Metrics => "data points",
            Signal::Logs => "log records",
        };
        worker::record_partial_success(&self.stats.counters, &self.uri, items, partial);
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

/// The same from an OTLP/JSON response: `{"partialSuccess":{"rejectedSpans":"3",
/// "errorMessage":"..."}}` (`rejectedDataPoints`, `rejectedLogRecords` for the other
/// signals), the count as a string or a number.
fn partial_success_json(signal: Signal, body: &[u8]) -> Option<(i64, String)> {
    let Json::Object(response) = json::parse(body).ok()? else {
        return None;
    };
    let partial = match json::get(&response, "partialSuccess") {
        None | Some(Json::Null) => return Some((0, String::new())),
        Some(Json::Object(partial)) => partial,
        Some(_) => return None,
    };
    let key = match signal {
        Signal::Traces => "rejectedSpans",
        Signal::Metrics => "rejectedDataPoints",
        Signal::Logs => "rejectedLogRecords",
    };
    let rejected = match json::get(partial, key) {
        None | Some(Json::Null) => 0,
        Some(Json::String(text)) => text.parse().ok()?,
        Some(Json::Number(text)) => text.parse().ok()?,
        Some(_) => return None,
    };
    let message = match json::get(partial, "errorMessage") {
        Some(Json::String(text)) => worker::truncate(text, PARTIAL_MESSAGE_LEN),
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
            return worker::snippet(message.as_bytes());
        }
    }
    worker::snippet(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_success_from_protobuf_and_json() {
        // partial_success { rejected_spans: 3, error_message: "bad" }, then an unknown field.
        let proto = [
            0x0a, 0x07, 0x08, 0x03, 0x12, 0x03, b'b', b'a', b'd', 0x18, 0x01,
        ];
        assert_eq!(
            worker::partial_success_proto(&proto),
            Some((3, "bad".to_owned()))
        );

        let traces = Signal::Traces;
        let json = br#"{"partialSuccess":{"rejectedSpans":"4","errorMessage":"x","other":1}}"#;
        assert_eq!(
            partial_success_json(traces, json),
            Some((4, "x".to_owned()))
        );
        let number = br#"{"partialSuccess":{"rejectedSpans":5}}"#;
        assert_eq!(
            partial_success_json(traces, number),
            Some((5, String::new()))
        );
        assert_eq!(
            partial_success_json(traces, b"{}"),
            Some((0, String::new()))
        );
        assert_eq!(partial_success_json(traces, b"[1]"), None);
        assert_eq!(
            partial_success_json(traces, br#"{"partialSuccess":{"rejectedSpans":"x"}}"#),
            None
        );
    }

    #[test]
    fn partial_success_json_reads_each_signals_own_count() {
        let body = br#"{"partialSuccess":{"rejectedSpans":"1","rejectedDataPoints":"2",
            "rejectedLogRecords":"3"}}"#;
        let cases = [(Signal::Traces, 1), (Signal::Metrics, 2), (Signal::Logs, 3)];
        for (signal, expected) in cases {
            assert_eq!(
                partial_success_json(signal, body),
                Some((expected, String::new())),
                "{signal:?}"
            );
        }
        let other = br#"{"partialSuccess":{"rejectedSpans":"9"}}"#;
        assert_eq!(
            partial_success_json(Signal::Logs, other),
            Some((0, String::new())),
            "another signal's count is not ours"
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
        assert_eq!(cut.len(), worker::MESSAGE_LEN + '…'.len_utf8());
    }

    /// A test case: its name, the change to the defaults, and the expected error.
    type Case = (&'static str, fn(&mut ExporterConfig), &'static str);

    #[test]
    fn build_refuses_what_it_cannot_send() {
        let with = |edit: fn(&mut ExporterConfig)| {
            let mut settings = HttpSettings::new(Signal::Metrics);
            edit(&mut settings.config);
            settings.start(Signal::Metrics)
        };
        let cases: &[Case] = &[
            (
                "grpc",
                |c| c.protocol = Protocol::Grpc,
                "protocol grpc is not supported by this exporter",
            ),
            (
                "no host",
                |c| c.endpoint = "https:///v1/metrics".to_owned(),
                "endpoint \"https:///v1/metrics\" is not an absolute http or https URL",
            ),
            (
                "other scheme",
                |c| c.endpoint = "ftp://collector/v1/metrics".to_owned(),
                "endpoint \"ftp://collector/v1/metrics\" is not an absolute http or https URL",
            ),
            (
                "unreadable CA file",
                |c| {
                    c.endpoint = "https://collector:4318/v1/metrics".to_owned();
                    c.tls.ca_certificate = Some(crate::PemSource::File {
                        path: "/nonexistent/ca.pem".into(),
                        variable: Some("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE".to_owned()),
                    });
                },
                "TLS configuration: OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE=/nonexistent/ca.pem \
                 cannot be read: No such file or directory (os error 2)",
            ),
            (
                "header value",
                |c| c.headers.push(("x-key".to_owned(), "a\nb".to_owned())),
                "header \"x-key\" is not a valid HTTP header",
            ),
        ];
        for (name, edit, expected) in cases {
            match with(*edit) {
                Ok(_) => panic!("{name}: built"),
                Err(error) => assert_eq!(error.to_string(), *expected, "{name}"),
            }
        }
    }

    #[test]
    fn certificates_are_read_for_https_only() {
        let bad_ca = |endpoint: &str| {
            let mut settings = HttpSettings::new(Signal::Traces);
            settings.config.endpoint = endpoint.to_owned();
            settings.config.tls.ca_certificate = Some(crate::PemSource::Pem(b"junk".to_vec()));
            settings.start(Signal::Traces)
        };
        let mut plain = bad_ca("http://127.0.0.1:1/v1/traces").expect("http ignores TLS settings");
        assert!(plain.shutdown().is_ok());
        match bad_ca("https://127.0.0.1:1/v1/traces") {
            Err(ExporterBuildError::Tls(error)) => {
                assert_eq!(error.kind(), crate::TlsConfigErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
    }
}
