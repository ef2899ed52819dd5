//! The OTLP/HTTP log exporter: the shared transport with the logs encoder.

use std::time::Duration;

use telemetry_core::Resource;
use telemetry_logs::{ExportError, ExportErrorKind, LogExporter, LogRecord};

use super::ExporterBuildError;
use super::http::HttpExporterStats;
use super::http_transport::{HttpSettings, Transport, http_builder_setters, map_transport_error};
use crate::codec::LogsEncoder;
use crate::config::{ExporterConfig, Protocol, Signal};

/// Sends log record batches to an OTLP/HTTP collector (protobuf or JSON, optionally gzip),
/// retrying transient failures with backoff within each export's deadline.
///
/// It implements [`LogExporter`], so it goes under a
/// [`BatchLogProcessor`](telemetry_logs::BatchLogProcessor). Thread, transport, retries,
/// deadlines and errors are those of [`HttpSpanExporter`](crate::HttpSpanExporter): one
/// thread of its own, [`export`](LogExporter::export) blocks until the batch is delivered,
/// refused or out of time (the smaller of the configured timeout and the processor's), and
/// works from any thread, inside an async runtime or not. Records a collector rejects in a
/// `partial_success` are counted in [`HttpExporterStats::rejected_log_records`].
#[derive(Debug)]
pub struct HttpLogExporter {
    transport: Transport,
    resource: Resource,
    encoder: LogsEncoder,
}

/// Builds an [`HttpLogExporter`]; every option of [`ExporterConfig`] can be set in code.
#[derive(Clone, Debug)]
pub struct HttpLogExporterBuilder {
    settings: HttpSettings,
}

impl HttpLogExporter {
    /// A builder with the spec's defaults (not the environment's): OTLP/HTTP protobuf to
    /// `http://localhost:4318/v1/logs`, 10 s per export.
    pub fn builder() -> HttpLogExporterBuilder {
        HttpLogExporterBuilder {
            settings: HttpSettings::new(Signal::Logs),
        }
    }

    /// An exporter configured by `OTEL_EXPORTER_OTLP_*` in the process environment.
    pub fn from_env() -> Result<Self, ExporterBuildError> {
        Self::builder()
            .config(ExporterConfig::from_env(Signal::Logs))
            .build()
    }

    /// The exporter's counters; the handle stays valid after the exporter moves.
    pub fn stats(&self) -> HttpExporterStats {
        self.transport.stats().clone()
    }
}

impl LogExporter for HttpLogExporter {
    fn export(&mut self, batch: &[LogRecord]) -> Result<(), ExportError> {
        if !self.transport.is_running() {
            return Err(ExportError::new(ExportErrorKind::ShutDown));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let json = self.transport.protocol() == Protocol::HttpJson;
        let (encoder, resource) = (&mut self.encoder, &self.resource);
        self.transport
            .export(batch.len(), "log records", |out| {
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

impl HttpLogExporterBuilder {
    http_builder_setters!();

    /// Checks the configuration and starts the exporter's thread.
    pub fn build(self) -> Result<HttpLogExporter, ExporterBuildError> {
        Ok(HttpLogExporter {
            transport: self.settings.start(Signal::Logs)?,
            resource: Resource::empty(),
            encoder: LogsEncoder::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_builder_checks_tls_settings_for_https() {
        let built = HttpLogExporter::builder()
            .endpoint("https://collector:4318/v1/logs")
            .ca_certificate_file("/nonexistent/logs-ca.pem")
            .build();
        match built {
            Err(ExporterBuildError::Tls(error)) => {
                assert_eq!(
                    error.path(),
                    Some(std::path::Path::new("/nonexistent/logs-ca.pem"))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn after_shutdown_exports_fail_without_sending() -> Result<(), Box<dyn std::error::Error>> {
        // Nothing listens on the default endpoint in tests; nothing is sent either way.
        let mut exporter = HttpLogExporter::builder().build()?;
        exporter.shutdown()?;
        let record = LogRecord::default();
        let result = exporter.export(std::slice::from_ref(&record));
        assert_eq!(
            result.err().map(|e| e.kind()),
            Some(ExportErrorKind::ShutDown)
        );
        assert_eq!(exporter.stats().requests(), 0);
        Ok(())
    }
}
