//! Decoding a request body for one signal and handing it to the backend; shared by the HTTP
//! and gRPC receivers.

use std::sync::Arc;

use telemetry_otlp::{
    Signal, decode_logs, decode_logs_json, decode_metrics, decode_metrics_json, decode_traces,
    decode_traces_json,
};

use super::offload;
use super::reply::Encoding;
use crate::backend::{Backend, IngestOutcome, IngestSource};

/// The signal an OTLP/HTTP path carries.
pub(crate) fn signal_for_path(path: &str) -> Option<Signal> {
    match path {
        "/v1/traces" => Some(Signal::Traces),
        "/v1/metrics" => Some(Signal::Metrics),
        "/v1/logs" => Some(Signal::Logs),
        _ => None,
    }
}

/// Why a body did not reach the backend.
#[derive(Debug)]
pub(crate) enum IngestError {
    /// The decoder refused it; the message says where and why.
    Malformed(String),
    /// The decode task died (it panicked, which the decoders promise not to do).
    Internal,
}

/// Decodes `body` as `signal` in `encoding` and stores it, on the blocking pool when large.
pub(crate) async fn decode_and_ingest(
    backend: &Arc<dyn Backend>,
    signal: Signal,
    encoding: Encoding,
    body: Vec<u8>,
    source: IngestSource,
) -> Result<IngestOutcome, IngestError> {
    let backend = Arc::clone(backend);
    offload(body.len(), move || {
        ingest_now(&*backend, signal, encoding, &body, &source)
    })
    .await
    .unwrap_or(Err(IngestError::Internal))
}

fn ingest_now(
    backend: &dyn Backend,
    signal: Signal,
    encoding: Encoding,
    body: &[u8],
    source: &IngestSource,
) -> Result<IngestOutcome, IngestError> {
    let malformed = |e: &dyn std::fmt::Display| IngestError::Malformed(e.to_string());
    match (signal, encoding) {
        (Signal::Traces, Encoding::Protobuf) => decode_traces(body)
            .map(|d| backend.ingest_traces(d, source))
            .map_err(|e| malformed(&e)),
        (Signal::Traces, Encoding::Json) => decode_traces_json(body)
            .map(|d| backend.ingest_traces(d, source))
            .map_err(|e| malformed(&e)),
        (Signal::Metrics, Encoding::Protobuf) => decode_metrics(body)
            .map(|d| backend.ingest_metrics(d, source))
            .map_err(|e| malformed(&e)),
        (Signal::Metrics, Encoding::Json) => decode_metrics_json(body)
            .map(|d| backend.ingest_metrics(d, source))
            .map_err(|e| malformed(&e)),
        (_, Encoding::Protobuf) => decode_logs(body)
            .map(|d| backend.ingest_logs(d, source))
            .map_err(|e| malformed(&e)),
        (_, Encoding::Json) => decode_logs_json(body)
            .map(|d| backend.ingest_logs(d, source))
            .map_err(|e| malformed(&e)),
    }
}
