//! The transport the OTLP/gRPC exporters share: a tonic channel on the exporter's own thread.
//!
//! The request body is our hand-encoded `Export*ServiceRequest`, passed through tonic with a
//! codec that copies bytes and nothing else, so no prost type is built on the export path.
//! Responses and the `google.rpc.Status` carried in `grpc-status-details-bin` are read with
//! the crate's own protobuf reader.
//!
//! As with the HTTP exporter, `export` is synchronous: the caller's thread encodes the batch
//! and waits on a std channel while the exporter's thread, which owns a current-thread tokio
//! runtime and the lazily connected channel, does the I/O. The caller needs no runtime, and
//! a caller inside one cannot trip tokio's "runtime within a runtime" panic, because nothing
//! here calls `block_on` on the caller's thread.

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::{Buf, BufMut, Bytes};
use http::Uri;
use http::uri::PathAndQuery;
use hyper_rustls::HttpsConnectorBuilder;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::ClientConfig;
use telemetry_core::diagnostic;
use tokio::sync::mpsc;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder as TonicDecoder, EncodeBuf,
    Encoder as TonicEncoder,
};
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::Endpoint;
use tonic::{Code, Status};

use super::ExporterBuildError;
use super::retry::{self, RetryPolicy};
use super::status_filter::StatusDetailsFilter;
use super::worker::{
    self, AttemptError, Counters, Details, Handle, Job, MESSAGE_LEN, Pacer, USER_AGENT, truncate,
};
use crate::config::Signal;
use crate::config::{
    Compression, DEFAULT_GRPC_ENDPOINT, DEFAULT_TIMEOUT, ExporterConfig, Protocol,
};
use crate::proto::wire::Reader;
use crate::tls;

/// The longest `RetryInfo.retry_delay` honoured: a server asking for more is treated as
/// asking for this, so one bad status cannot park the exporter for a day (the deadline cuts
/// it anyway).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

/// HTTP/2 PING interval on an idle connection: a connection left half-open by a network
/// partition is found and replaced instead of swallowing the next export until its deadline.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// How long a PING may go unanswered before the connection is dropped.
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest `grpc-timeout` sent: tonic panics on a timeout that does not fit its
/// eight-digit hours form (over 11,000 years), so longer deadlines are sent as this.
const MAX_GRPC_TIMEOUT: Duration = Duration::from_secs(99_999_999 * 3600);

/// The `type_url` of a `google.rpc.RetryInfo` packed in an `Any`.
const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The details behind an export error of a gRPC exporter (its `source()`): the gRPC status
/// code of the last attempt, if one came back, how many requests the export made, and what
/// went wrong in words.
///
/// A connection that cannot be made is reported by tonic as `UNAVAILABLE` (14), and one
/// that breaks before the response as `UNKNOWN` (2) with the transport error in the message
/// (both are retried), so [`code`](GrpcExportError::code) is `None` only when no attempt
/// finished: the deadline passed first, or the batch was not sent (over the size limit, or
/// held back because the collector's `RetryInfo` delay lasts too far into its time).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrpcExportError {
    code: Option<Code>,
    attempts: u32,
    message: String,
}

impl GrpcExportError {
    fn new(code: Option<Code>, attempts: u32, message: String) -> Self {
        GrpcExportError {
            code,
            attempts,
            message,
        }
    }

    /// The numeric gRPC status code of the last attempt (3 for `INVALID_ARGUMENT`, 14 for
    /// `UNAVAILABLE`, ...); `None` when no attempt finished.
    pub fn code(&self) -> Option<i32> {
        self.code.map(|code| code as i32)
    }

    /// The name of [`code`](GrpcExportError::code) as the gRPC spec writes it
    /// (`"UNAVAILABLE"`).
    pub fn code_name(&self) -> Option<&'static str> {
        self.code.map(code_name)
    }

    /// Requests made for the export, retries included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// What went wrong: the server's status message (its start) or the transport error.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for GrpcExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "gRPC {} ({})", code_name(code), code as i32)?,
            None => f.write_str("no gRPC status")?,
        }
        let plural = if self.attempts == 1 { "" } else { "s" };
        write!(f, " after {} attempt{plural}", self.attempts)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for GrpcExportError {}

/// Counters of a gRPC exporter, shared with it: they keep counting after the exporter has
/// been handed to a processor or reader. The same counters as
/// [`HttpExporterStats`](crate::HttpExporterStats)'.
#[derive(Clone, Debug, Default)]
pub struct GrpcExporterStats(Arc<Counters>);

impl GrpcExporterStats {
    /// gRPC requests sent (or attempted) so far, retries included.
    pub fn requests(&self) -> u64 {
        self.0.requests.load(Ordering::Relaxed)
    }

    /// Items (spans, metric data points or log records, by the exporter's signal) the
    /// collector reported as rejected in `partial_success` responses.
    pub fn rejected_items(&self) -> u64 {
        self.0.rejected.load(Ordering::Relaxed)
    }

    /// Batches refused unsent because they encode to more than the request size limit.
    pub fn dropped_oversized(&self) -> u64 {
        self.0.dropped_oversized.load(Ordering::Relaxed)
    }

    /// Exports failed as timeouts without a request, because the collector had asked (by a
    /// `google.rpc.RetryInfo`) for no request until too late in their time (less would be
    /// left after the wait than the wait itself). Not counted in
    /// [`requests`](Self::requests); the processor or reader that made the export decides
    /// whether the batch is tried again.
    pub fn exports_held_back(&self) -> u64 {
        self.0.held_back.load(Ordering::Relaxed)
    }
}

/// The spec's name of a gRPC status code.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// A tonic codec that sends the request bytes as they are and hands back the response
/// bytes undecoded: our encoders already wrote the protobuf, and we read the answer ourselves.
#[derive(Clone, Copy, Debug, Default)]
struct RawCodec;

/// The encoding half of [`RawCodec`].
#[derive(Clone, Copy, Debug, Default)]
struct RawEncoder;

/// The decoding half of [`RawCodec`].
#[derive(Clone, Copy, Debug, Default)]
struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl TonicEncoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl TonicDecoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        // tonic hands over exactly one message, already length-checked against
        // `max_decoding_message_size`.
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// The settings every gRPC exporter's builder holds.
#[derive(Clone, Debug)]
pub(crate) struct GrpcSettings {
    pub(crate) config: ExporterConfig,
    pub(crate) retry: RetryPolicy,
    pub(crate) max_request_size: usize,
    pub(crate) max_response_size: usize,
}

impl GrpcSettings {
    /// The spec's defaults for OTLP/gRPC: `http://localhost:4317`, 10 s, no compression.
    pub(crate) fn new(signal: Signal) -> Self {
        let mut config = ExporterConfig::new(signal);
        config.endpoint = DEFAULT_GRPC_ENDPOINT.to_owned();
        config.protocol = Protocol::Grpc;
        GrpcSettings {
            config,
            retry: RetryPolicy::default(),
            max_request_size: crate::DEFAULT_MAX_REQUEST_SIZE,
            max_response_size: crate::DEFAULT_MAX_RESPONSE_SIZE,
        }
    }
}

/// What the signal-specific exporters need to know about their signal.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SignalInfo {
    /// The gRPC method, e.g. `/opentelemetry.proto.collector.trace.v1.TraceService/Export`.
    pub(crate) path: &'static str,
    /// What the exported items are called in reports: "spans", "data points", "log records".
    pub(crate) items: &'static str,
    /// The name of the exporter's thread.
    pub(crate) thread: &'static str,
}

/// Why an export failed, before it becomes the signal's own `ExportError`.
pub(crate) type Failure = worker::Failure<GrpcExportError>;

impl Details for GrpcExportError {
    fn other(message: String) -> Self {
        GrpcExportError::new(None, 0, message)
    }

    fn append(&mut self, note: &str) {
        self.message.push_str(note);
    }
}

/// Turns a [`Failure`] into the `ExportError` of one signal's crate; the three crates have
/// the same kinds but distinct types.
macro_rules! export_error {
    ($krate:ident, $failure:expr) => {{
        use $krate::{ExportError, ExportErrorKind};
        match $failure {
            $crate::export::grpc::Failure::ShutDown => ExportError::new(ExportErrorKind::ShutDown),
            $crate::export::grpc::Failure::Timeout(error) => {
                ExportError::with_source(ExportErrorKind::Timeout, error)
            }
            $crate::export::grpc::Failure::Rejected(error) => {
                ExportError::with_source(ExportErrorKind::Rejected, error)
            }
            $crate::export::grpc::Failure::Unavailable(error) => {
                ExportError::with_source(ExportErrorKind::Unavailable, error)
            }
        }
    }};
}
pub(crate) use export_error;

/// The handle an exporter keeps on its worker thread.
pub(crate) struct GrpcClient {
    max_request_size: usize,
    items: &'static str,
    handle: Handle<GrpcExportError>,
    stats: GrpcExporterStats,
}

impl GrpcClient {
    /// Checks `settings` and starts the worker thread; connects nowhere yet.
    pub(crate) fn start(
        settings: GrpcSettings,
        signal: SignalInfo,
    ) -> Result<Self, ExporterBuildError> {
        let config = settings.config;
        if config.protocol != Protocol::Grpc {
            return Err(ExporterBuildError::UnsupportedProtocol(config.protocol));
        }
        let uri: Uri = with_scheme(&config.endpoint, config.insecure)
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
        let endpoint = Endpoint::from(uri)
            .user_agent(USER_AGENT)
            .map_err(|_| ExporterBuildError::InvalidEndpoint(config.endpoint.clone()))?
            // Bounds a connection attempt even when exports have no deadline.
            .connect_timeout(config.timeout.unwrap_or(DEFAULT_TIMEOUT))
            .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
            .keep_alive_timeout(KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .tcp_nodelay(true);

        let mut metadata = MetadataMap::new();
        for (name, value) in &config.headers {
            let invalid = || ExporterBuildError::InvalidHeader(name.clone());
            let key = AsciiMetadataKey::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
            let value = AsciiMetadataValue::try_from(value.as_str()).map_err(|_| invalid())?;
            metadata.append(key, value);
        }

        let stats = GrpcExporterStats::default();
        let worker = Worker {
            endpoint,
            tls,
            tls_failures: tls::FailureSlot::default(),
            endpoint_url: config.endpoint,
            path: PathAndQuery::from_static(signal.path),
            metadata,
            gzip: config.compression == Compression::Gzip,
            max_response_size: settings.max_response_size,
            items: signal.items,
            stats: stats.clone(),
        };
        let retry = settings.retry;
        let handle = Handle::start(signal.thread, config.timeout, move |jobs| {
            worker.run(jobs, retry)
        })?;
        Ok(GrpcClient {
            max_request_size: settings.max_request_size,
            items: signal.items,
            handle,
            stats,
        })
    }

    /// The counters.
    pub(crate) fn stats(&self) -> GrpcExporterStats {
        self.stats.clone()
    }

    /// True once shut down.
    pub(crate) fn is_shut_down(&self) -> bool {
        !self.handle.is_running()
    }

    /// Records the timeout a processor asked for.
    pub(crate) fn set_processor_timeout(&mut self, timeout: Option<Duration>) {
        self.handle.set_processor_timeout(timeout);
    }

    /// Encodes a request holding `count` items with `encode` (which appends it to the
    /// buffer it is given), sends it, and waits for the outcome.
    pub(crate) fn export(
        &mut self,
        count: usize,
        encode: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), Failure> {
        let (items, max_request_size, stats) = (self.items, self.max_request_size, &self.stats);
        self.handle.export(|body| {
            encode(body);
            if body.len() <= max_request_size {
                return Ok(());
            }
            stats.0.dropped_oversized.fetch_add(1, Ordering::Relaxed);
            let message = format!(
                "{count} {items} encode to {} bytes, over the {max_request_size} byte request \
                 limit; not sent",
                body.len(),
            );
            Err(Failure::Rejected(GrpcExportError::new(None, 0, message)))
        })
    }

    /// Stops the worker and waits for it to close its connection.
    pub(crate) fn shutdown(&mut self) -> Result<(), Failure> {
        self.handle.shutdown()
    }
}

impl fmt::Debug for GrpcClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcClient")
            .field("max_request_size", &self.max_request_size)
            .field("items", &self.items)
            .field("shut_down", &self.is_shut_down())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// A spawned task that is aborted when the handle is dropped unfinished.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> AbortOnDrop<T> {
    async fn join(mut self) -> Result<T, tokio::task::JoinError> {
        (&mut self.0).await
    }
}

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        // A no-op once the task has finished.
        self.0.abort();
    }
}

/// The exporter's thread: owns the runtime and the channel.
struct Worker {
    endpoint: Endpoint,
    /// The TLS configuration of an `https` endpoint, until the channel takes it.
    tls: Option<ClientConfig>,
    /// TLS errors of the channel's connections, which tonic does not always pass on.
    tls_failures: tls::FailureSlot,
    /// The endpoint as configured, for reports.
    endpoint_url: String,
    path: PathAndQuery,
    metadata: MetadataMap,
    gzip: bool,
    max_response_size: usize,
    items: &'static str,
    stats: GrpcExporterStats,
}

impl Worker {
    /// The worker's loop, run inside its runtime until the job channel closes.
    async fn run(
        mut self,
        jobs: mpsc::UnboundedReceiver<Job<GrpcExportError>>,
        retry: RetryPolicy,
    ) {
        // Inside the runtime: the channel spawns its connection task on it. Lazy, so
        // building the exporter connects nowhere and a collector that starts later is
        // found on the first export.
        let channel = match self.tls.take() {
            // Our own rustls connector rather than tonic's TLS, which would take a
            // process-wide default crypto provider over ours. tonic still applies the
            // connect timeout around it; ALPN offers h2 only, as gRPC needs it.
            Some(config) => {
                let mut tcp = HttpConnector::new();
                tcp.enforce_http(false);
                tcp.set_nodelay(true);
                let connector = HttpsConnectorBuilder::new()
                    .with_tls_config(config)
                    .https_only()
                    .enable_http2()
                    .wrap_connector(tcp);
                let connector = tls::Recording::new(connector, self.tls_failures.clone());
                self.endpoint.connect_with_connector_lazy(connector)
            }
            None => self.endpoint.connect_lazy(),
        };
        let channel = StatusDetailsFilter::new(channel);
        // Lives as long as this loop, so that a delay the collector asks for holds across
        // exports.
        let mut pacer = Pacer::new(retry, Arc::clone(&self.stats.0));
        let this = &self;
        worker::serve(jobs, async |body, deadline| {
            pacer
                .deliver(deadline, async |attempts| {
                    this.attempt(&channel, body, deadline, attempts).await
                })
                .await
        })
        .await;
    }

    /// One request and its response.
    async fn attempt(
        &self,
        channel: &StatusDetailsFilter,
        body: &Bytes,
        deadline: Option<Instant>,
        attempts: u32,
    ) -> Result<(), AttemptError<GrpcExportError>> {
        let mut grpc = tonic::client::Grpc::new(channel.clone())
            .max_decoding_message_size(self.max_response_size)
            .accept_compressed(CompressionEncoding::Gzip);
        if self.gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        let mut request = tonic::Request::new(body.clone());
        *request.metadata_mut() = self.metadata.clone();
        // Only this attempt's connections count: an old error must not be blamed on it.
        let _ = self.tls_failures.take();
        if let Some(deadline) = deadline {
            // grpc-timeout: the server may stop working on a request we no longer wait for.
            let left = deadline.saturating_duration_since(Instant::now());
            request.set_timeout(left.min(MAX_GRPC_TIMEOUT));
        }
        grpc.ready().await.map_err(|error| {
            if let Some(failure) = self.tls_failure(&error, attempts) {
                return failure;
            }
            let message = error_chain(&error);
            AttemptError::Retry(
                GrpcExportError::new(Some(Code::Unavailable), attempts, message),
                None,
            )
        })?;
        self.stats.0.requests.fetch_add(1, Ordering::Relaxed);
        let path = self.path.clone();
        // The call runs as a task of its own so that a panic inside tonic (the one known,
        // on a `grpc-status-details-bin` that is not base64, is prevented by
        // StatusDetailsFilter) comes back as a JoinError instead of killing the exporter's
        // thread. The guard aborts the task when the deadline drops this future.
        let task = AbortOnDrop(tokio::spawn(async move {
            grpc.unary(request, path, RawCodec).await
        }));
        match task.join().await {
            Ok(Ok(response)) => {
                self.read_partial_success(response.get_ref());
                Ok(())
            }
            // The collector accepted the data; only our own size limit refused its answer,
            // and resending would be refused the same way until the deadline.
            Ok(Err(status)) if is_local_size_limit(&status, self.max_response_size) => {
                diagnostic::report(
                    "otlp grpc exporter",
                    format_args!(
                        "{} answered OK with a response over {} bytes ({}); treating the \
                         export as delivered",
                        self.endpoint_url,
                        self.max_response_size,
                        status.message()
                    ),
                );
                Ok(())
            }
            Ok(Err(status)) => Err(self
                .tls_failure(&status, attempts)
                .unwrap_or_else(|| classify(&status, attempts))),
            Err(error) => Err(AttemptError::Permanent(GrpcExportError::new(
                None,
                attempts,
                format!("the response could not be read: {error}"),
            ))),
        }
    }

    /// A TLS failure in `error`'s chain, as the attempt's outcome: tonic reports a failed
    /// handshake as UNAVAILABLE, which is retried, but a certificate that is not trusted
    /// fails the same way every time (see [`tls::is_permanent`]).
    fn tls_failure(
        &self,
        error: &(dyn std::error::Error + 'static),
        attempts: u32,
    ) -> Option<AttemptError<GrpcExportError>> {
        let recorded = self.tls_failures.take();
        let failure = tls::tls_failure(error).or(recorded.as_ref())?;
        let message = truncate(
            &tls::describe_failure(&self.endpoint_url, failure),
            MESSAGE_LEN,
        );
        let error = GrpcExportError::new(Some(Code::Unavailable), attempts, message);
        Some(if tls::is_permanent(failure) {
            AttemptError::Permanent(error)
        } else {
            AttemptError::Retry(error, None)
        })
    }

    /// Reports and counts the `partial_success` of an `Export*ServiceResponse`.
    fn read_partial_success(&self, body: &[u8]) {
        let partial = worker::partial_success_proto(body);
        worker::record_partial_success(&self.stats.0, &self.endpoint_url, self.items, partial);
    }
}

/// The endpoint with a scheme: one given without (`collector:4317`, which gRPC clients
/// accept) gets `https://`, or `http://` when `insecure` (the spec's default is secure).
fn with_scheme(endpoint: &str, insecure: bool) -> String {
    if endpoint.contains("://") {
        endpoint.to_owned()
    } else if insecure {
        format!("http://{endpoint}")
    } else {
        format!("https://{endpoint}")
    }
}

/// Whether `status` is tonic's own refusal of a response over `max_decoding_message_size`
/// (`limit`): OUT_OF_RANGE before decompression, RESOURCE_EXHAUSTED while decompressing,
/// rather than a status the server sent. tonic marks them only by their message, so that is
/// what is matched, our own limit included, which a server does not know.
fn is_local_size_limit(status: &Status, limit: usize) -> bool {
    let message = status.message();
    match status.code() {
        Code::OutOfRange => {
            message.starts_with("Error, decoded message length too large")
                && message.ends_with(&format!("the limit is: {limit} bytes"))
        }
        Code::ResourceExhausted => message.starts_with(&format!(
            "Error decompressing: size limit, of {limit} bytes"
        )),
        _ => false,
    }
}

/// Sorts a failed call into permanent or retryable (OR-5), with the server's delay (OR-6).
///
/// An UNKNOWN that tonic made up for a broken connection is retried: tonic's
/// `Status::from_error` turns a transport failure it has no code for (a connection reset
/// before the response, say) into UNKNOWN, with the transport error as the status's source,
/// and OTLP retries a disconnect without a response (OR-4, as the HTTP exporters do). An
/// UNKNOWN the server sent in `grpc-status` has no source and stays permanent.
fn classify(status: &Status, attempts: u32) -> AttemptError<GrpcExportError> {
    let code = status.code();
    let delay = retry_delay(status.details());
    let transport = code == Code::Unknown && from_transport(status);
    let mut message = truncate(status.message(), MESSAGE_LEN);
    if message.is_empty() {
        message = error_chain(status);
    } else if transport {
        // tonic's own text is only "transport error"; the cause is in the chain.
        message = chain_after(status.message().to_owned(), status.source());
    }
    let error = GrpcExportError::new(Some(code), attempts, message);
    if transport || retry::is_retryable_grpc(code, delay.is_some()) {
        AttemptError::Retry(error, delay)
    } else {
        AttemptError::Permanent(error)
    }
}

/// Whether `status` was made by tonic from a failure of the connection rather than sent by
/// the server: its source chain holds one of the error types of the transport under tonic's
/// channel (tonic's own transport error, hyper's, or an I/O error). h2's errors come
/// wrapped in hyper's, so hyper's is enough to find them. A status read from
/// `grpc-status` has no source at all.
fn from_transport(status: &Status) -> bool {
    let mut source = status.source();
    while let Some(error) = source {
        if error.is::<tonic::transport::Error>()
            || error.is::<hyper::Error>()
            || error.is::<std::io::Error>()
        {
            return true;
        }
        source = error.source();
    }
    false
}

/// An error and its sources, joined with `": "`, cut to [`MESSAGE_LEN`].
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    chain_after(error.to_string(), error.source())
}

/// `message` followed by `source` and its own sources, as [`error_chain`] joins them.
fn chain_after(
    mut message: String,
    mut source: Option<&(dyn std::error::Error + 'static)>,
) -> String {
    while let Some(cause) = source {
        let text = cause.to_string();
        // tonic repeats a cause's text in its own; do not print it twice.
        if !message.contains(&text) {
            message = format!("{message}: {text}");
        }
        source = cause.source();
    }
    truncate(&message, MESSAGE_LEN)
}

/// The `retry_delay` of a `google.rpc.RetryInfo` among the details of the `google.rpc.Status`
/// in `details` (the bytes of `grpc-status-details-bin`), capped at [`MAX_RETRY_DELAY`];
/// `None` when there is no RetryInfo or the status does not decode. A RetryInfo without a
/// delay, or with a negative one, asks for no wait beyond the backoff.
///
/// `Status { code = 1; message = 2; repeated Any details = 3 }`,
/// `Any { type_url = 1; value = 2 }`, `RetryInfo { Duration retry_delay = 1 }`,
/// `Duration { int64 seconds = 1; int32 nanos = 2 }`.
fn retry_delay(details: &[u8]) -> Option<Duration> {
    if details.is_empty() {
        return None;
    }
    let mut delay = None;
    Reader::new(details)
        .fields("google.rpc.Status", |reader, field| {
            if field.number != 3 {
                return reader.skip(field);
            }
            let mut type_url = "";
            let mut value: &[u8] = &[];
            reader
                .message_field(field)?
                .fields("google.protobuf.Any", |reader, field| {
                    match field.number {
                        1 => type_url = reader.str_field(field)?,
                        2 => value = reader.bytes_field(field)?,
                        _ => reader.skip(field)?,
                    }
                    Ok(())
                })?;
            if type_url == RETRY_INFO_TYPE {
                let mut wait = Duration::ZERO;
                Reader::new(value).fields("google.rpc.RetryInfo", |reader, field| {
                    if field.number != 1 {
                        return reader.skip(field);
                    }
                    let (mut seconds, mut nanos) = (0i64, 0i64);
                    reader.message_field(field)?.fields(
                        "google.protobuf.Duration",
                        |reader, field| {
                            match field.number {
                                1 => seconds = reader.varint_field(field)? as i64,
                                // int32, sign-extended to ten bytes when negative.
                                2 => nanos = reader.varint_field(field)? as i64,
                                _ => reader.skip(field)?,
                            }
                            Ok(())
                        },
                    )?;
                    wait = duration(seconds, nanos);
                    Ok(())
                })?;
                delay = Some(delay.map_or(wait, |other: Duration| other.max(wait)));
            }
            Ok(())
        })
        .ok()?;
    delay
}

/// A `google.protobuf.Duration` as a wait: negatives are zero, the whole capped at
/// [`MAX_RETRY_DELAY`].
fn duration(seconds: i64, nanos: i64) -> Duration {
    if seconds < 0 || (seconds == 0 && nanos <= 0) {
        return Duration::ZERO;
    }
    let nanos = u64::try_from(nanos.clamp(0, 999_999_999)).unwrap_or(0);
    let seconds = u64::try_from(seconds).unwrap_or(0);
    Duration::from_secs(seconds)
        .saturating_add(Duration::from_nanos(nanos))
        .min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::Writer;

    /// A `google.rpc.Status` whose details are `(type_url, value)` pairs.
    fn status_bytes(details: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = Writer::new(&mut out);
        writer.uint_field(1 << 3, 14);
        writer.bytes_field(2 << 3 | 2, b"busy");
        for (type_url, value) in details {
            let any = writer.begin(3 << 3 | 2, 64);
            writer.bytes_field(1 << 3 | 2, type_url.as_bytes());
            writer.bytes_field(2 << 3 | 2, value);
            writer.end(any);
        }
        out
    }

    /// A `google.rpc.RetryInfo` with the given delay.
    fn retry_info(seconds: i64, nanos: i32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = Writer::new(&mut out);
        let delay = writer.begin(1 << 3 | 2, 16);
        writer.uint_field(1 << 3, seconds as u64);
        writer.uint_field(2 << 3, i64::from(nanos) as u64);
        writer.end(delay);
        out
    }

    #[test]
    fn retry_delay_from_status_details() {
        let cases: &[(&str, Vec<u8>, Option<Duration>)] = &[
            ("no details", Vec::new(), None),
            (
                "no retry info",
                status_bytes(&[("type.googleapis.com/google.rpc.DebugInfo", vec![0x0a, 0])]),
                None,
            ),
            (
                "1.5 s",
                status_bytes(&[(RETRY_INFO_TYPE, retry_info(1, 500_000_000))]),
                Some(Duration::from_millis(1500)),
            ),
            (
                "after another detail",
                status_bytes(&[
                    ("type.googleapis.com/google.rpc.DebugInfo", Vec::new()),
                    (RETRY_INFO_TYPE, retry_info(0, 250_000_000)),
                ]),
                Some(Duration::from_millis(250)),
            ),
            (
                "empty retry info",
                status_bytes(&[(RETRY_INFO_TYPE, Vec::new())]),
                Some(Duration::ZERO),
            ),
            (
                "negative",
                status_bytes(&[(RETRY_INFO_TYPE, retry_info(-5, 0))]),
                Some(Duration::ZERO),
            ),
            (
                "negative nanos",
                status_bytes(&[(RETRY_INFO_TYPE, retry_info(0, -5))]),
                Some(Duration::ZERO),
            ),
            (
                "capped",
                status_bytes(&[(RETRY_INFO_TYPE, retry_info(i64::MAX, 0))]),
                Some(MAX_RETRY_DELAY),
            ),
            ("truncated", vec![0x1a, 0x10, 0x0a], None),
            ("garbage", vec![0xff; 12], None),
        ];
        for (name, details, expected) in cases {
            assert_eq!(retry_delay(details), *expected, "{name}");
        }
    }

    #[test]
    fn classification_follows_the_spec() {
        let unavailable = Status::unavailable("down");
        assert!(matches!(
            classify(&unavailable, 1),
            AttemptError::Retry(_, None)
        ));
        let invalid = Status::invalid_argument("bad spans");
        match classify(&invalid, 2) {
            AttemptError::Permanent(error) => {
                assert_eq!(error.code(), Some(3));
                assert_eq!(error.code_name(), Some("INVALID_ARGUMENT"));
                assert_eq!(error.attempts(), 2);
                assert_eq!(
                    error.to_string(),
                    "gRPC INVALID_ARGUMENT (3) after 2 attempts: bad spans"
                );
            }
            AttemptError::Retry(..) => panic!("INVALID_ARGUMENT retried"),
        }
        let exhausted = Status::resource_exhausted("slow down");
        assert!(matches!(
            classify(&exhausted, 1),
            AttemptError::Permanent(_)
        ));
        let details = status_bytes(&[(RETRY_INFO_TYPE, retry_info(2, 0))]);
        let throttled = Status::with_details(Code::ResourceExhausted, "slow down", details.into());
        assert!(matches!(
            classify(&throttled, 1),
            AttemptError::Retry(_, Some(delay)) if delay == Duration::from_secs(2)
        ));
    }

    #[test]
    fn an_unknown_made_from_a_broken_connection_is_retried_but_not_one_the_server_sent() {
        // What tonic's client does with a failure it has no code for: UNKNOWN, with the
        // error as the source (here an I/O error, the bottom of a reset's chain; the
        // integration tests reset a real connection).
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let broken = Status::from_error(Box::new(reset));
        assert_eq!(broken.code(), Code::Unknown);
        match classify(&broken, 1) {
            AttemptError::Retry(error, None) => {
                assert_eq!(error.code_name(), Some("UNKNOWN"));
                assert!(error.message().contains("reset"), "{error}");
            }
            other => panic!("{other:?}"),
        }
        // An UNKNOWN from `grpc-status` has no source: the server's word, not retried.
        let sent = Status::unknown("the collector failed");
        assert!(matches!(classify(&sent, 1), AttemptError::Permanent(_)));
        // An UNKNOWN made from an error that is not the transport's stays permanent too.
        let other = Status::from_error(Box::new(fmt::Error));
        assert_eq!(other.code(), Code::Unknown);
        assert!(matches!(classify(&other, 1), AttemptError::Permanent(_)));
        // Only UNKNOWN is reinterpreted: an INTERNAL tonic found under an I/O error (so
        // with a transport error in its chain) stays permanent, as OTLP says.
        let internal = Status::from_error(Box::new(std::io::Error::other(Caused(
            Status::internal("stream reset"),
        ))));
        assert_eq!(internal.code(), Code::Internal);
        assert!(from_transport(&internal));
        assert!(matches!(classify(&internal, 1), AttemptError::Permanent(_)));
    }

    /// An error whose source is the status it holds.
    #[derive(Debug)]
    struct Caused(Status);

    impl fmt::Display for Caused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("caused")
        }
    }

    impl std::error::Error for Caused {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn only_tonics_own_size_limits_count_as_delivered() {
        let decoded = Status::out_of_range(
            "Error, decoded message length too large: found 100 bytes, the limit is: 16 bytes",
        );
        let decompressed = Status::resource_exhausted(
            "Error decompressing: size limit, of 16 bytes, exceeded while decompressing message",
        );
        assert!(is_local_size_limit(&decoded, 16));
        assert!(is_local_size_limit(&decompressed, 16));
        assert!(
            !is_local_size_limit(&decoded, 4096),
            "another limit than ours"
        );
        assert!(!is_local_size_limit(&decompressed, 4096));
        assert!(!is_local_size_limit(
            &Status::out_of_range("seek past end"),
            16
        ));
        assert!(!is_local_size_limit(
            &Status::resource_exhausted("quota"),
            16
        ));
        assert!(!is_local_size_limit(
            &Status::unavailable(
                "Error, decoded message length too large: found 100 bytes, the limit is: 16 bytes"
            ),
            16
        ));
    }

    #[test]
    fn the_scheme_decides_and_insecure_only_without_one() {
        let cases = [
            ("collector:4317", false, "https://collector:4317"),
            ("collector:4317", true, "http://collector:4317"),
            ("http://collector:4317", false, "http://collector:4317"),
            ("https://collector:4317", true, "https://collector:4317"),
        ];
        for (endpoint, insecure, expected) in cases {
            assert_eq!(
                with_scheme(endpoint, insecure),
                expected,
                "{endpoint} {insecure}"
            );
        }
    }

    #[test]
    fn an_empty_error_says_no_status() {
        let error = GrpcExportError::new(None, 1, String::new());
        assert_eq!(error.to_string(), "no gRPC status after 1 attempt");
    }
}
