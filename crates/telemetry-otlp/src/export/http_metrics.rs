//! The OTLP/HTTP metric exporter: the shared transport with the metrics encoders and the
//! temporality preference a reader asks for.

use telemetry_core::env::{EnvSource, ProcessEnv};
use telemetry_metrics::data::ResourceMetrics;
use telemetry_metrics::{
    ExportError, ExportErrorKind, InstrumentKind, PushMetricExporter, TemporalityPreference,
};

use super::ExporterBuildError;
use super::grpc_signals::data_points;
use super::http::HttpExporterStats;
use super::http_transport::{HttpSettings, Transport, http_builder_setters, map_transport_error};
use crate::codec::{encode_metrics, encode_metrics_json};
use crate::config::{ExporterConfig, Protocol, Signal};

/// Sends metric collections to an OTLP/HTTP collector (protobuf or JSON, optionally gzip),
/// retrying transient failures with backoff within each export's deadline.
///
/// It implements [`PushMetricExporter`], so it goes under a
/// [`PeriodicReader`](telemetry_metrics::PeriodicReader). Thread, transport, retries,
/// deadlines and errors are those of [`HttpSpanExporter`](crate::HttpSpanExporter): one
/// thread of its own, [`export`](PushMetricExporter::export) blocks until the collection is
/// delivered, refused or out of time (the configured
/// [`timeout`](HttpMetricExporterBuilder::timeout); with none, retries stop after
/// [`RetryPolicy::max_attempts`](crate::RetryPolicy::max_attempts) but a server that never
/// answers holds the export), and works from any thread, inside an async runtime or not. Data points a collector rejects in a
/// `partial_success` are counted in [`HttpExporterStats::rejected_data_points`].
///
/// The temporality it asks the reader for comes from its [`TemporalityPreference`]:
/// cumulative unless set with [`HttpMetricExporterBuilder::temporality_preference`] or, for
/// [`from_env`](HttpMetricExporter::from_env), by
/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
#[derive(Debug)]
pub struct HttpMetricExporter {
    transport: Transport,
    preference: TemporalityPreference,
}

/// Builds an [`HttpMetricExporter`]; every option of [`ExporterConfig`] can be set in code.
#[derive(Clone, Debug)]
pub struct HttpMetricExporterBuilder {
    settings: HttpSettings,
    preference: TemporalityPreference,
}

impl HttpMetricExporter {
    /// A builder with the spec's defaults (not the environment's): OTLP/HTTP protobuf to
    /// `http://localhost:4318/v1/metrics`, 10 s per export, cumulative temporality.
    pub fn builder() -> HttpMetricExporterBuilder {
        HttpMetricExporterBuilder {
            settings: HttpSettings::new(Signal::Metrics),
            preference: TemporalityPreference::Cumulative,
        }
    }

    /// An exporter configured by `OTEL_EXPORTER_OTLP_*` in the process environment,
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` included.
    pub fn from_env() -> Result<Self, ExporterBuildError> {
        Self::builder_from_env(&ProcessEnv).build()
    }

    /// The builder [`from_env`](HttpMetricExporter::from_env) builds, reading `env`.
    fn builder_from_env(env: &(impl EnvSource + ?Sized)) -> HttpMetricExporterBuilder {
        let preference = TemporalityPreference::from_env(env).unwrap_or_default();
        Self::builder()
            .config(ExporterConfig::from_env_source(env, Signal::Metrics))
            .temporality_preference(preference)
    }

    /// The exporter's counters; the handle stays valid after the exporter moves.
    pub fn stats(&self) -> HttpExporterStats {
        self.transport.stats().clone()
    }

    /// The temporality preference the exporter reports to its reader.
    pub fn temporality_preference(&self) -> TemporalityPreference {
        self.preference
    }
}

impl PushMetricExporter for HttpMetricExporter {
    fn export(&mut self, metrics: &ResourceMetrics) -> Result<(), ExportError> {
        if !self.transport.is_running() {
            return Err(ExportError::new(ExportErrorKind::ShutDown));
        }
        // Scopes without a single point are still nothing to send, as for gRPC (OR-9).
        let points = data_points(metrics);
        if points == 0 {
            return Ok(());
        }
        let json = self.transport.protocol() == Protocol::HttpJson;
        self.transport
            .export(points, "data points", |out| {
                if json {
                    encode_metrics_json(metrics, out);
                } else {
                    encode_metrics(metrics, out);
                }
            })
            .map_err(|error| map_transport_error!(ExportError, ExportErrorKind, error))
    }

    fn force_flush(&mut self) -> Result<(), ExportError> {
        // Every export is sent before `export` returns: nothing is buffered.
        if self.transport.is_running() {
            Ok(())
        } else {
            Err(ExportError::new(ExportErrorKind::ShutDown))
        }
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.transport
            .shutdown()
            .map_err(|error| map_transport_error!(ExportError, ExportErrorKind, error))
    }

    fn temporality(&self, kind: InstrumentKind) -> telemetry_metrics::data::Temporality {
        self.preference.temporality(kind)
    }

    fn set_export_timeout(&mut self, timeout: Option<std::time::Duration>) {
        // The smaller of it and the configured timeout applies to each export.
        self.transport.set_processor_timeout(timeout);
    }
}

impl HttpMetricExporterBuilder {
    http_builder_setters!();

    /// Which temporality to ask the reader for, per instrument kind (cumulative by
    /// default; `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` for
    /// [`HttpMetricExporter::from_env`]).
    pub fn temporality_preference(mut self, preference: TemporalityPreference) -> Self {
        self.preference = preference;
        self
    }

    /// Checks the configuration and starts the exporter's thread.
    pub fn build(self) -> Result<HttpMetricExporter, ExporterBuildError> {
        Ok(HttpMetricExporter {
            transport: self.settings.start(Signal::Metrics)?,
            preference: self.preference,
        })
    }
}

#[cfg(test)]
mod tests {
    use telemetry_metrics::data::Temporality;

    use super::*;

    #[test]
    fn temporality_follows_the_preference() -> Result<(), ExporterBuildError> {
        let cumulative = HttpMetricExporter::builder().build()?;
        assert_eq!(
            cumulative.temporality(InstrumentKind::Counter),
            Temporality::Cumulative
        );
        let delta = HttpMetricExporter::builder()
            .temporality_preference(TemporalityPreference::Delta)
            .build()?;
        assert_eq!(delta.temporality_preference(), TemporalityPreference::Delta);
        assert_eq!(
            delta.temporality(InstrumentKind::Counter),
            Temporality::Delta
        );
        assert_eq!(
            delta.temporality(InstrumentKind::UpDownCounter),
            Temporality::Cumulative
        );
        let low = HttpMetricExporter::builder()
            .temporality_preference(TemporalityPreference::LowMemory)
            .build()?;
        assert_eq!(
            low.temporality(InstrumentKind::ObservableCounter),
            Temporality::Cumulative
        );
        assert_eq!(
            low.temporality(InstrumentKind::Histogram),
            Temporality::Delta
        );
        Ok(())
    }

    #[test]
    fn from_env_reads_the_temporality_preference_and_the_metrics_options() {
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "LowMemory",
            ),
        ];
        let builder = HttpMetricExporter::builder_from_env(&env[..]);
        assert_eq!(builder.preference, TemporalityPreference::LowMemory);
        assert_eq!(
            builder.settings.config.endpoint,
            "http://collector:4318/v1/metrics"
        );
        assert_eq!(builder.settings.config.protocol, Protocol::HttpJson);

        let none: &[(&str, &str)] = &[];
        let unset = HttpMetricExporter::builder_from_env(none);
        assert_eq!(unset.preference, TemporalityPreference::Cumulative);
        let invalid: &[(&str, &str)] = &[(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "sometimes",
        )];
        let invalid = HttpMetricExporter::builder_from_env(invalid);
        assert_eq!(invalid.preference, TemporalityPreference::Cumulative);
    }

    #[test]
    fn metrics_builder_refuses_grpc() {
        let built = HttpMetricExporter::builder()
            .protocol(Protocol::Grpc)
            .build();
        assert!(matches!(
            built,
            Err(ExporterBuildError::UnsupportedProtocol(Protocol::Grpc))
        ));
    }
}
