//! The OTLP/HTTP span exporter, and what the three OTLP/HTTP exporters share publicly (the
//! size limits and [`HttpExporterStats`]); the transport itself is in `http_transport.rs`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use telemetry_core::Resource;
use telemetry_span::{ExportError, ExportErrorKind, SpanData, SpanExporter};

use super::ExporterBuildError;
use super::http_transport::{HttpSettings, Transport, http_builder_setters, map_transport_error};
use super::worker::Counters;
use crate::codec::TraceEncoder;
use crate::config::{ExporterConfig, Protocol, Signal};

/// Largest request body sent, before compression (the OTLP default, OR-8): a larger batch
/// is refused unsent rather than rejected by the collector after the upload.
pub const DEFAULT_MAX_REQUEST_SIZE: usize = 64 << 20;

/// Largest response body read, after decompression (the OTLP default, OR-8).
pub const DEFAULT_MAX_RESPONSE_SIZE: usize = 4 << 20;

/// Sends spans to an OTLP/HTTP collector (protobuf or JSON, optionally gzip), retrying
/// transient failures with backoff within each export's deadline.
///
/// The exporter owns one thread, started by [`build`](HttpSpanExporterBuilder::build) and
/// stopped by [`shutdown`](SpanExporter::shutdown) or drop; [`export`](SpanExporter::export)
/// blocks the calling thread until the batch is delivered, refused, or out of time, and may
/// be called from any thread, inside an async runtime or not.
///
/// Transport: HTTP/1.1 over plain TCP for `http` endpoints. For `https` ones, TLS (rustls
/// on ring), offering HTTP/2 and HTTP/1.1 by ALPN; the server's certificate is checked
/// against the system's roots and any configured CA
/// ([`ca_certificate_pem`](HttpSpanExporterBuilder::ca_certificate_pem),
/// `OTEL_EXPORTER_OTLP_CERTIFICATE`), and a client identity can be shown for mutual TLS
/// ([`client_identity_pem`](HttpSpanExporterBuilder::client_identity_pem)). A certificate
/// that fails the check, or a server that refuses ours, fails the export at once with
/// [`ExportErrorKind::Rejected`]: retrying cannot fix it.
///
/// Responses: 2xx is success, and a `partial_success` in the body is reported through
/// [`telemetry_core::diagnostic`] and counted in [`HttpExporterStats::rejected_spans`].
/// 429, 502, 503 and 504, and failures to connect or to get a response, are retried after
/// exponential backoff with full jitter ([`RetryPolicy`](crate::RetryPolicy)), and at least
/// as late as a `Retry-After` the server sends. That wait holds for the exporter, not only
/// the export: no request is sent before it ends, and a later export that would spend more
/// of its time waiting than it would have left after the wait fails at once with
/// [`ExportErrorKind::Timeout`] without sending (counted in
/// [`HttpExporterStats::exports_held_back`]). A success whose body is unreadable or over
/// [`max_response_size`](HttpSpanExporterBuilder::max_response_size) still counts as
/// delivered. Every other status fails the export at once with
/// [`ExportErrorKind::Rejected`] and an [`HttpExportError`](crate::HttpExportError) source holding the status and
/// the start of the body. When the deadline passes the export fails with
/// [`ExportErrorKind::Timeout`]; when retries run out without one, with
/// [`ExportErrorKind::Unavailable`].
#[derive(Debug)]
pub struct HttpSpanExporter {
    transport: Transport,
    resource: Resource,
    encoder: TraceEncoder,
}

/// Builds an [`HttpSpanExporter`]; every option of [`ExporterConfig`] can be set in code.
#[derive(Clone, Debug)]
pub struct HttpSpanExporterBuilder {
    settings: HttpSettings,
}

/// Counters of an OTLP/HTTP exporter ([`HttpSpanExporter`], [`HttpMetricExporter`],
/// [`HttpLogExporter`]), shared with it: they keep counting after the exporter has been
/// handed to a processor or reader. Each exporter counts only its own signal's rejections;
/// the other two counters stay 0.
///
/// [`HttpMetricExporter`]: crate::HttpMetricExporter
/// [`HttpLogExporter`]: crate::HttpLogExporter
#[derive(Clone, Debug, Default)]
pub struct HttpExporterStats {
    pub(crate) counters: Arc<Counters>,
    /// Whose rejections [`rejected_items`](Self::rejected_items) counts; `None` for stats
    /// that belong to no exporter (`Default`).
    pub(crate) signal: Option<Signal>,
}

impl HttpExporterStats {
    /// HTTP requests sent (or attempted) so far, retries included.
    pub fn requests(&self) -> u64 {
        self.counters.requests.load(Ordering::Relaxed)
    }

    /// Spans the collector reported as rejected in `partial_success` responses.
    pub fn rejected_spans(&self) -> u64 {
        self.rejected_of(Signal::Traces)
    }

    /// Metric data points the collector reported as rejected in `partial_success`
    /// responses.
    pub fn rejected_data_points(&self) -> u64 {
        self.rejected_of(Signal::Metrics)
    }

    /// Log records the collector reported as rejected in `partial_success` responses.
    pub fn rejected_log_records(&self) -> u64 {
        self.rejected_of(Signal::Logs)
    }

    /// Items of the exporter's signal (spans, data points or log records) the collector
    /// reported as rejected: the one of the three counts above that this exporter feeds, as
    /// [`GrpcExporterStats::rejected_items`](crate::GrpcExporterStats::rejected_items).
    pub fn rejected_items(&self) -> u64 {
        self.counters.rejected.load(Ordering::Relaxed)
    }

    /// Batches refused unsent because they encode to more than the request size limit.
    pub fn dropped_oversized(&self) -> u64 {
        self.counters.dropped_oversized.load(Ordering::Relaxed)
    }

    /// Exports failed with [`ExportErrorKind::Timeout`] without a request, because the
    /// collector had asked (by `Retry-After`) for no request until too late in their time
    /// (less would be left after the wait than the wait itself).
    /// Not counted in [`requests`](Self::requests); the processor or reader that made the
    /// export decides whether the batch is tried again.
    pub fn exports_held_back(&self) -> u64 {
        self.counters.held_back.load(Ordering::Relaxed)
    }

    /// The rejections, if this exporter sends `signal`; 0 otherwise.
    fn rejected_of(&self, signal: Signal) -> u64 {
        if self.signal == Some(signal) {
            self.rejected_items()
        } else {
            0
        }
    }
}

impl HttpSpanExporter {
    /// A builder with the spec's defaults (not the environment's): OTLP/HTTP protobuf to
    /// `http://localhost:4318/v1/traces`, 10 s per export.
    pub fn builder() -> HttpSpanExporterBuilder {
        HttpSpanExporterBuilder {
            settings: HttpSettings::new(Signal::Traces),
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
        self.transport.stats().clone()
    }
}

impl SpanExporter for HttpSpanExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        if !self.transport.is_running() {
            return Err(ExportError::new(ExportErrorKind::ShutDown));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let json = self.transport.protocol() == Protocol::HttpJson;
        let (encoder, resource) = (&mut self.encoder, &self.resource);
        self.transport
            .export(batch.len(), "spans", |out| {
                if json {
                    encoder.encode_json(resource, batch, out);
                } else {
                    encoder.encode(resource, batch, out);
                }
            })
            .map_err(|error| map_transport_error!(ExportError, ExportErrorKind, error))
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.transport
            .shutdown()
            .map_err(|error| map_transport_error!(ExportError, ExportErrorKind, error))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.clone();
    }

    fn set_export_timeout(&mut self, timeout: Option<Duration>) {
        self.transport.set_processor_timeout(timeout);
    }
}

impl HttpSpanExporterBuilder {
    http_builder_setters!();

    /// Checks the configuration and starts the exporter's thread.
    pub fn build(self) -> Result<HttpSpanExporter, ExporterBuildError> {
        Ok(HttpSpanExporter {
            transport: self.settings.start(Signal::Traces)?,
            resource: Resource::empty(),
            encoder: TraceEncoder::new(),
        })
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
                "https with a client key but no certificate",
                HttpSpanExporter::builder()
                    .endpoint("https://collector:4318/v1/traces")
                    .config({
                        let mut config = ExporterConfig::new(Signal::Traces);
                        config.endpoint = "https://collector:4318/v1/traces".to_owned();
                        config.tls.client_key = Some(crate::PemSource::Pem(b"key".to_vec()));
                        config
                    }),
                "TLS configuration: client key is set without a client certificate",
            ),
            (
                "no scheme",
                HttpSpanExporter::builder().endpoint("collector:4318"),
                "endpoint \"collector:4318\" is not an absolute http or https URL",
            ),
            (
                "garbage",
                HttpSpanExporter::builder().endpoint("http://exa mple/"),
                "endpoint \"http://exa mple/\" is not an absolute http or https URL",
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
}
