//! The seam between the network side of the dashboard and its data side.
//!
//! The server (receivers, API port, live stream) knows HTTP, gRPC, compression and body
//! limits; it decodes a request with telemetry-otlp's decoders and hands the decoded data to a
//! [`Backend`]. The store implements [`Backend`]: it keeps the data within its memory budget,
//! answers `/api/` requests and produces the live deltas. Tests of the server use a recording
//! backend; tests of the store call it directly, without sockets.

use std::net::SocketAddr;
use std::time::Duration;

use http::{Method, StatusCode};
use telemetry_otlp::{LogsData, MetricsData, Signal, TracesData};

/// How a batch reached the dashboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Transport {
    /// OTLP/gRPC (port 4317 by default).
    Grpc,
    /// OTLP/HTTP with a protobuf body (port 4318 by default).
    HttpProtobuf,
    /// OTLP/HTTP with a JSON body.
    HttpJson,
    /// Straight from the pipelines of the program the dashboard runs in.
    Embedded,
    /// An OTLP JSON Lines file imported through the API.
    Import,
}

impl Transport {
    /// A short lowercase name, for health figures and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Grpc => "grpc",
            Transport::HttpProtobuf => "http/protobuf",
            Transport::HttpJson => "http/json",
            Transport::Embedded => "embedded",
            Transport::Import => "import",
        }
    }
}

/// Where a batch came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IngestSource {
    /// The protocol it arrived by.
    pub transport: Transport,
    /// The remote address, for network transports.
    pub peer: Option<SocketAddr>,
}

/// What the backend did with a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IngestOutcome {
    /// Stored. `rejected` items (spans, data points or log records) were refused, and
    /// `message` says why; the server reports them as OTLP `partial_success`.
    Accepted {
        /// Items refused out of the batch; 0 when all were stored.
        rejected: u64,
        /// Why they were refused; empty when `rejected` is 0.
        message: String,
    },
    /// Nothing was stored: the client should send the batch again after `retry_after`
    /// (HTTP 429 or 503 with `Retry-After`; gRPC `UNAVAILABLE` with `RetryInfo`).
    Backpressure {
        /// How long the client should wait before retrying.
        retry_after: Duration,
    },
}

/// Why the server refused a request before it reached the backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// The body did not decode (protobuf, JSON or gzip).
    Malformed,
    /// The body was over the size limit.
    TooLarge,
    /// The content type or encoding is not one OTLP allows.
    UnsupportedMediaType,
    /// The request lacked the configured OTLP API key, or carried a wrong one.
    Unauthorized,
}

/// A request under `/api/`, as the server read it.
#[derive(Clone, Copy, Debug)]
pub struct ApiRequest<'a> {
    /// The HTTP method.
    pub method: &'a Method,
    /// The path, starting with `/api/`, not percent-decoded.
    pub path: &'a str,
    /// The query string without the `?`, not percent-decoded; `None` when absent.
    pub query: Option<&'a str>,
    /// The request body, already within the server's body limit and decompressed.
    pub body: &'a [u8],
}

/// The answer to an [`ApiRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiResponse {
    /// The HTTP status.
    pub status: StatusCode,
    /// The `Content-Type` header (`application/json` for most answers).
    pub content_type: &'static str,
    /// The response body.
    pub body: Vec<u8>,
}

/// What the server needs from the data side.
///
/// Every method is called from the server's runtime threads and must not block for long:
/// no I/O, no waiting on other requests.
pub trait Backend: Send + Sync + 'static {
    /// Stores a decoded OTLP traces request.
    fn ingest_traces(&self, data: TracesData, source: &IngestSource) -> IngestOutcome;
    /// Stores a decoded OTLP metrics request.
    fn ingest_metrics(&self, data: MetricsData, source: &IngestSource) -> IngestOutcome;
    /// Stores a decoded OTLP logs request.
    fn ingest_logs(&self, data: LogsData, source: &IngestSource) -> IngestOutcome;
    /// Counts a request the server refused before decoding, for the health figures.
    fn record_refusal(&self, signal: Signal, refusal: Refusal, source: &IngestSource);
    /// Answers a request under `/api/`.
    fn api(&self, request: &ApiRequest<'_>) -> ApiResponse;
    /// The live stream's current position: it grows whenever something the browser shows
    /// has changed.
    fn live_position(&self) -> u64;
    /// What changed after `since` (a position this backend returned before, or 0), as one
    /// JSON object for a Server-Sent Event, with the position it brings the reader to.
    /// `None` when nothing changed.
    fn live_delta(&self, since: u64) -> Option<(u64, Vec<u8>)>;
}
