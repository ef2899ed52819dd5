//! The OTLP/gRPC exporters of spans, metrics and logs: each encodes its batch with the
//! crate's encoder and hands the bytes to the shared transport in `grpc.rs`.

use std::time::Duration;

use telemetry_core::Resource;
use telemetry_core::env::ProcessEnv;
use telemetry_logs::{LogExporter, LogRecord};
use telemetry_metrics::data::{ResourceMetrics, Temporality};
use telemetry_metrics::{InstrumentKind, PushMetricExporter, TemporalityPreference};
use telemetry_span::{SpanData, SpanExporter};

use super::ExporterBuildError;
use super::grpc::{GrpcClient, GrpcExporterStats, GrpcSettings, SignalInfo, export_error};
use super::retry::RetryPolicy;
use crate::codec::{LogsEncoder, TraceEncoder, encode_metrics};
use crate::config::{Compression, ExporterConfig, Signal};

const TRACES: SignalInfo = SignalInfo {
    path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    items: "spans",
    thread: "telemetry-otlp-grpc-traces",
};

const METRICS: SignalInfo = SignalInfo {
    path: "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    items: "data points",
    thread: "telemetry-otlp-grpc-metrics",
};

const LOGS: SignalInfo = SignalInfo {
    path: "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    items: "log records",
    thread: "telemetry-otlp-grpc-logs",
};

/// The setters every gRPC exporter builder shares, over its `settings` field.
macro_rules! settings_setters {
    () => {
        /// Replaces every option with those of `config`, e.g. from
        /// [`ExporterConfig::from_env`]; its protocol must be [`Protocol::Grpc`](crate::Protocol::Grpc)
        /// for `build` to succeed.
        pub fn config(mut self, config: ExporterConfig) -> Self {
            self.settings.config = config;
            self
        }

        /// The collector's address: `http://host:port` (plain text), `https://host:port`
        /// (TLS), or `host:port` (TLS unless [`insecure`](Self::insecure)); a path, if any,
        /// is ignored, as the gRPC method names the service.
        pub fn endpoint(mut self, url: impl Into<String>) -> Self {
            self.settings.config.endpoint = url.into();
            self
        }

        /// Adds a metadata entry (an HTTP/2 header) to every request. The name must be
        /// lowercase-able ASCII without the `-bin` suffix, the value visible ASCII.
        pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
            self.settings
                .config
                .headers
                .push((name.into(), value.into()));
            self
        }

        /// How long one export may take, retries included, sent to the server as
        /// `grpc-timeout`; `None`: no limit.
        pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
            self.settings.config.timeout = timeout;
            self
        }

        /// Request compression: [`Compression::Gzip`] sends `grpc-encoding: gzip`.
        pub fn compression(mut self, compression: Compression) -> Self {
            self.settings.config.compression = compression;
            self
        }

        /// Backoff between attempts.
        pub fn retry(mut self, retry: RetryPolicy) -> Self {
            self.settings.retry = retry;
            self
        }

        /// Largest request sent, before compression
        /// ([`DEFAULT_MAX_REQUEST_SIZE`](crate::DEFAULT_MAX_REQUEST_SIZE)): a larger batch
        /// fails unsent.
        pub fn max_request_size(mut self, bytes: usize) -> Self {
            self.settings.max_request_size = bytes;
            self
        }

        /// Largest response read, after decompression
        /// ([`DEFAULT_MAX_RESPONSE_SIZE`](crate::DEFAULT_MAX_RESPONSE_SIZE)).
        pub fn max_response_size(mut self, bytes: usize) -> Self {
            self.settings.max_response_size = bytes;
            self
        }

        $crate::tls::tls_builder_setters!();

        /// For an endpoint without a scheme (`collector:4317`): plain text instead of TLS
        /// (`OTEL_EXPORTER_OTLP_INSECURE`). An `http` or `https` scheme decides by itself.
        pub fn insecure(mut self, insecure: bool) -> Self {
            self.settings.config.insecure = insecure;
            self
        }
    };
}

/// Sends spans to an OTLP/gRPC collector, retrying transient failures with backoff within
/// each export's deadline.
///
/// The exporter owns one thread with a current-thread tokio runtime and a tonic channel,
/// started by [`build`](GrpcSpanExporterBuilder::build) and stopped by
/// [`shutdown`](SpanExporter::shutdown) or drop. The channel connects on the first export,
/// so building connects nowhere. [`export`](SpanExporter::export) blocks the calling thread
/// until the batch is delivered, refused, or out of time, and may be called from any thread,
/// inside an async runtime or not; so may `shutdown`.
///
/// Transport: HTTP/2, in plain text for `http` endpoints and over TLS (rustls, ALPN `h2`)
/// for `https` ones and for endpoints without a scheme unless
/// [`insecure`](GrpcSpanExporterBuilder::insecure). The server's certificate is checked
/// against the system's roots and any configured CA; a certificate that fails the check (or
/// a server that refuses ours) fails the export at once, as retrying cannot fix it. The
/// request is the hand-encoded `ExportTraceServiceRequest`, optionally gzip-compressed.
///
/// Outcomes: OK is success, and a `partial_success` in the response is reported through
/// [`telemetry_core::diagnostic`] and counted in [`GrpcExporterStats::rejected_items`].
/// CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE (including a connection
/// that cannot be made) and DATA_LOSS are retried, and so is RESOURCE_EXHAUSTED when the
/// status carries a `google.rpc.RetryInfo`, and the UNKNOWN tonic reports for a connection
/// that breaks before the response (an UNKNOWN the server sends is not); each retry waits
/// exponential backoff with full jitter ([`RetryPolicy`]), and at least the RetryInfo's
/// delay. That delay holds for the exporter, not only the export: no request is sent before
/// it ends, and a later export that would spend more of its time waiting than it would have
/// left after the wait fails at once as a `Timeout` without sending (counted in
/// [`GrpcExporterStats::exports_held_back`]). tonic's own
/// refusal of a response over
/// [`max_response_size`](GrpcSpanExporterBuilder::max_response_size) is not a failure: the
/// collector answered OK, so the batch counts as delivered (and is reported).
/// A `grpc-status-details-bin` that is not base64, on which tonic would panic, is dropped
/// (and reported once). Idle connections are kept alive with HTTP/2 PINGs (every 30 s, 10 s
/// to answer), so a connection left half-open by a network partition is replaced. Every
/// other code fails the
/// export at once with [`ExportErrorKind::Rejected`](telemetry_span::ExportErrorKind) and a
/// [`GrpcExportError`](crate::GrpcExportError) source holding the code. When the deadline
/// passes the export fails with `Timeout`; when retries run out without one, with
/// `Unavailable`.
#[derive(Debug)]
pub struct GrpcSpanExporter {
    client: GrpcClient,
    resource: Resource,
    encoder: TraceEncoder,
}

/// Builds a [`GrpcSpanExporter`]; every option of [`ExporterConfig`] can be set in code.
#[derive(Clone, Debug)]
pub struct GrpcSpanExporterBuilder {
    settings: GrpcSettings,
}

impl GrpcSpanExporter {
    /// A builder with the spec's defaults (not the environment's): OTLP/gRPC to
    /// `http://localhost:4317`, 10 s per export, no compression.
    pub fn builder() -> GrpcSpanExporterBuilder {
        GrpcSpanExporterBuilder {
            settings: GrpcSettings::new(Signal::Traces),
        }
    }

    /// An exporter configured by `OTEL_EXPORTER_OTLP_*` in the process environment, which
    /// must select the gRPC protocol (`OTEL_EXPORTER_OTLP_PROTOCOL=grpc` or its `TRACES`
    /// form): any other is refused with [`ExporterBuildError::UnsupportedProtocol`].
    pub fn from_env() -> Result<Self, ExporterBuildError> {
        Self::builder()
            .config(ExporterConfig::from_env(Signal::Traces))
            .build()
    }

    /// The exporter's counters; the handle stays valid after the exporter moves.
    pub fn stats(&self) -> GrpcExporterStats {
        self.client.stats()
    }
}

impl GrpcSpanExporterBuilder {
    settings_setters!();

    /// Checks the configuration and starts the exporter's thread.
    pub fn build(self) -> Result<GrpcSpanExporter, ExporterBuildError> {
        Ok(GrpcSpanExporter {
            client: GrpcClient::start(self.settings, TRACES)?,
            resource: Resource::empty(),
            encoder: TraceEncoder::new(),
        })
    }
}

impl SpanExporter for GrpcSpanExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), telemetry_span::ExportError> {
        if self.client.is_shut_down() {
            return Err(export_error!(
                telemetry_span,
                super::grpc::Failure::ShutDown
            ));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let (encoder, resource) = (&mut self.encoder, &self.resource);
        self.client
            .export(batch.len(), |body| encoder.encode(resource, batch, body))
            .map_err(|failure| export_error!(telemetry_span, failure))
    }

    fn shutdown(&mut self) -> Result<(), telemetry_span::ExportError> {
        self.client
            .shutdown()
            .map_err(|failure| export_error!(telemetry_span, failure))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.clone();
    }

    fn set_export_timeout(&mut self, timeout: Option<Duration>) {
        self.client.set_processor_timeout(timeout);
    }
}

/// Sends metrics to an OTLP/gRPC collector: the metrics counterpart of
/// [`GrpcSpanExporter`], with the same thread, transport, retries and deadline, and
/// `rejected_data_points` of `partial_success` responses counted in
/// [`GrpcExporterStats::rejected_items`]. Goes under a
/// [`PeriodicReader`](telemetry_metrics::PeriodicReader).
#[derive(Debug)]
pub struct GrpcMetricExporter {
    client: GrpcClient,
    temporality: TemporalityPreference,
}

/// Builds a [`GrpcMetricExporter`].
#[derive(Clone, Debug)]
pub struct GrpcMetricExporterBuilder {
    settings: GrpcSettings,
    temporality: TemporalityPreference,
}

impl GrpcMetricExporter {
    /// A builder with the spec's defaults (not the environment's): OTLP/gRPC to
    /// `http://localhost:4317`, 10 s per export, cumulative temporality.
    pub fn builder() -> GrpcMetricExporterBuilder {
        GrpcMetricExporterBuilder {
            settings: GrpcSettings::new(Signal::Metrics),
            temporality: TemporalityPreference::Cumulative,
        }
    }

    /// An exporter configured by `OTEL_EXPORTER_OTLP_*` in the process environment (which
    /// must select the gRPC protocol, as for [`GrpcSpanExporter::from_env`]), with the
    /// temporality of `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub fn from_env() -> Result<Self, ExporterBuildError> {
        Self::builder()
            .config(ExporterConfig::from_env(Signal::Metrics))
            .temporality(TemporalityPreference::from_env(&ProcessEnv).unwrap_or_default())
            .build()
    }

    /// The exporter's counters; the handle stays valid after the exporter moves.
    pub fn stats(&self) -> GrpcExporterStats {
        self.client.stats()
    }
}

impl GrpcMetricExporterBuilder {
    settings_setters!();

    /// The temporality asked of the reader per instrument kind.
    pub fn temporality(mut self, preference: TemporalityPreference) -> Self {
        self.temporality = preference;
        self
    }

    /// Checks the configuration and starts the exporter's thread.
    pub fn build(self) -> Result<GrpcMetricExporter, ExporterBuildError> {
        Ok(GrpcMetricExporter {
            client: GrpcClient::start(self.settings, METRICS)?,
            temporality: self.temporality,
        })
    }
}

impl PushMetricExporter for GrpcMetricExporter {
    fn export(&mut self, metrics: &ResourceMetrics) -> Result<(), telemetry_metrics::ExportError> {
        if self.client.is_shut_down() {
            return Err(export_error!(
                telemetry_metrics,
                super::grpc::Failure::ShutDown
            ));
        }
        let points = data_points(metrics);
        if points == 0 {
            return Ok(());
        }
        self.client
            .export(points, |body| encode_metrics(metrics, body))
            .map_err(|failure| export_error!(telemetry_metrics, failure))
    }

    fn force_flush(&mut self) -> Result<(), telemetry_metrics::ExportError> {
        // Every export is sent before `export` returns: nothing is buffered. After
        // shutdown, as the HTTP exporter, it says so.
        if self.client.is_shut_down() {
            Err(export_error!(
                telemetry_metrics,
                super::grpc::Failure::ShutDown
            ))
        } else {
            Ok(())
        }
    }

    fn shutdown(&mut self) -> Result<(), telemetry_metrics::ExportError> {
        self.client
            .shutdown()
            .map_err(|failure| export_error!(telemetry_metrics, failure))
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.temporality.temporality(kind)
    }

    fn set_export_timeout(&mut self, timeout: Option<Duration>) {
        // The smaller of it and the configured timeout applies to each export.
        self.client.set_processor_timeout(timeout);
    }
}

/// The data points of a collection, for the size report; 0 means nothing to send (OR-9).
pub(crate) fn data_points(metrics: &ResourceMetrics) -> usize {
    metrics
        .scope_metrics
        .iter()
        .flat_map(|scope| &scope.metrics)
        .map(|metric| metric.point_attributes().len())
        .sum()
}

/// Sends log records to an OTLP/gRPC collector: the logs counterpart of
/// [`GrpcSpanExporter`], with the same thread, transport, retries and deadline, and
/// `rejected_log_records` of `partial_success` responses counted in
/// [`GrpcExporterStats::rejected_items`].
#[derive(Debug)]
pub struct GrpcLogExporter {
    client: GrpcClient,
    resource: Resource,
    encoder: LogsEncoder,
}

/// Builds a [`GrpcLogExporter`].
#[derive(Clone, Debug)]
pub struct GrpcLogExporterBuilder {
    settings: GrpcSettings,
}

impl GrpcLogExporter {
    /// A builder with the spec's defaults (not the environment's): OTLP/gRPC to
    /// `http://localhost:4317`, 10 s per export, no compression.
    pub fn builder() -> GrpcLogExporterBuilder {
        GrpcLogExporterBuilder {
            settings: GrpcSettings::new(Signal::Logs),
        }
    }

    /// An exporter configured by `OTEL_EXPORTER_OTLP_*` in the process environment, which
    /// must select the gRPC protocol, as for [`GrpcSpanExporter::from_env`].
    pub fn from_env() -> Result<Self, ExporterBuildError> {
        Self::builder()
            .config(ExporterConfig::from_env(Signal::Logs))
            .build()
    }

    /// The exporter's counters; the handle stays valid after the exporter moves.
    pub fn stats(&self) -> GrpcExporterStats {
        self.client.stats()
    }
}

impl GrpcLogExporterBuilder {
    settings_setters!();

    /// Checks the configuration and starts the exporter's thread.
    pub fn build(self) -> Result<GrpcLogExporter, ExporterBuildError> {
        Ok(GrpcLogExporter {
            client: GrpcClient::start(self.settings, LOGS)?,
            resource: Resource::empty(),
            encoder: LogsEncoder::new(),
        })
    }
}

impl LogExporter for GrpcLogExporter {
    fn export(&mut self, batch: &[LogRecord]) -> Result<(), telemetry_logs::ExportError> {
        if self.client.is_shut_down() {
            return Err(export_error!(
                telemetry_logs,
                super::grpc::Failure::ShutDown
            ));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let (encoder, resource) = (&mut self.encoder, &self.resource);
        self.client
            .export(batch.len(), |body| encoder.encode(resource, batch, body))
            .map_err(|failure| export_error!(telemetry_logs, failure))
    }

    fn shutdown(&mut self) -> Result<(), telemetry_logs::ExportError> {
        self.client
            .shutdown()
            .map_err(|failure| export_error!(telemetry_logs, failure))
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.clone();
    }

    fn set_export_timeout(&mut self, timeout: Option<Duration>) {
        self.client.set_processor_timeout(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Protocol;

    #[test]
    fn build_refuses_what_it_cannot_send() {
        let cases: &[(&str, GrpcSpanExporterBuilder, &str)] = &[
            (
                "http protocol",
                GrpcSpanExporter::builder().config(ExporterConfig::new(Signal::Traces)),
                "protocol http/protobuf is not supported by this exporter",
            ),
            (
                "https with a CA file that is missing",
                GrpcSpanExporter::builder()
                    .endpoint("https://collector:4317")
                    .ca_certificate_file("/nonexistent/ca.pem"),
                "TLS configuration: CA certificate file /nonexistent/ca.pem cannot be read: \
                 No such file or directory (os error 2)",
            ),
            (
                "no scheme means TLS, so its settings are checked",
                GrpcSpanExporter::builder()
                    .endpoint("collector:4317")
                    .client_identity_pem("cert", "key"),
                "TLS configuration: client certificate holds no PEM certificate",
            ),
            (
                "empty",
                GrpcSpanExporter::builder().endpoint(""),
                "endpoint \"\" is not an absolute http or https URL",
            ),
            (
                "other scheme",
                GrpcSpanExporter::builder().endpoint("unix:///run/otel.sock"),
                "endpoint \"unix:///run/otel.sock\" is not an absolute http or https URL",
            ),
            (
                "garbage",
                GrpcSpanExporter::builder().endpoint("http://exa mple/"),
                "endpoint \"http://exa mple/\" is not an absolute http or https URL",
            ),
            (
                "header name",
                GrpcSpanExporter::builder().header("bad name", "x"),
                "header \"bad name\" is not a valid HTTP header",
            ),
            (
                "binary header",
                GrpcSpanExporter::builder().header("trace-bin", "x"),
                "header \"trace-bin\" is not a valid HTTP header",
            ),
            (
                "header value",
                GrpcSpanExporter::builder().header("x-key", "a\nb"),
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
    fn defaults_are_the_grpc_ones_and_build_connects_nowhere() {
        let builder = GrpcLogExporter::builder();
        assert_eq!(builder.settings.config.endpoint, "http://localhost:4317");
        assert_eq!(builder.settings.config.protocol, Protocol::Grpc);
        // Nothing listens on port 1: a lazy channel builds, and shuts down, regardless.
        let mut exporter = GrpcMetricExporter::builder()
            .endpoint("http://127.0.0.1:1")
            .build()
            .expect("builds without connecting");
        assert_eq!(exporter.stats().requests(), 0);
        assert!(exporter.shutdown().is_ok());
        let again = exporter.shutdown().expect_err("second shutdown");
        assert_eq!(again.kind(), telemetry_metrics::ExportErrorKind::ShutDown);
    }
}
