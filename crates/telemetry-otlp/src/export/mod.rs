//! Exporters that send OTLP to a collector: `http*` the OTLP/HTTP ones (on the shared
//! `http_transport`), `grpc*` the OTLP/gRPC ones, `retry` the backoff and the response
//! classification both follow, `worker` the thread, deadline and response reading both use.

use std::fmt;
use std::io;

use ::http::StatusCode;

use crate::config::Protocol;
use crate::tls::TlsConfigError;

// The OTLP/gRPC exporters: the shared tonic transport, and one exporter per signal.
pub(crate) mod grpc;
pub(crate) mod grpc_signals;
pub(crate) mod http;
// The OTLP/HTTP metric and log exporters, on the transport the span exporter uses.
pub(crate) mod http_logs;
pub(crate) mod http_metrics;
pub(crate) mod http_transport;
pub(crate) mod retry;
// Keeps tonic from panicking on a `grpc-status-details-bin` that is not base64.
pub(crate) mod status_filter;
// What both transports share: the worker thread, the deadline rule, `partial_success`.
pub(crate) mod worker;

/// Why an exporter could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExporterBuildError {
    /// The configured protocol is not one this exporter speaks (gRPC, for the HTTP
    /// exporters; an HTTP one, for the gRPC exporters).
    UnsupportedProtocol(Protocol),
    /// The endpoint is not an absolute `http` or `https` URL (for OTLP/gRPC, a scheme-less
    /// `host:port` is accepted too).
    InvalidEndpoint(String),
    /// A TLS setting of an `https` endpoint could not be used: a CA certificate or client
    /// identity file that is missing, unreadable or not PEM, or an incomplete identity.
    Tls(TlsConfigError),
    /// A header name or value is not valid in HTTP; the header's name.
    InvalidHeader(String),
    /// The exporter's thread or its runtime could not be started.
    Thread(io::Error),
}

impl fmt::Display for ExporterBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExporterBuildError::UnsupportedProtocol(protocol) => {
                write!(f, "protocol {protocol} is not supported by this exporter")
            }
            ExporterBuildError::InvalidEndpoint(url) => {
                write!(f, "endpoint {url:?} is not an absolute http or https URL")
            }
            ExporterBuildError::Tls(error) => write!(f, "TLS configuration: {error}"),
            ExporterBuildError::InvalidHeader(name) => {
                write!(f, "header {name:?} is not a valid HTTP header")
            }
            ExporterBuildError::Thread(error) => {
                write!(f, "could not start the exporter thread: {error}")
            }
        }
    }
}

impl From<TlsConfigError> for ExporterBuildError {
    fn from(error: TlsConfigError) -> Self {
        ExporterBuildError::Tls(error)
    }
}

impl std::error::Error for ExporterBuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExporterBuildError::Thread(error) => Some(error),
            ExporterBuildError::Tls(error) => Some(error),
            _ => None,
        }
    }
}

/// The details behind an [`ExportError`](telemetry_span::ExportError) of an HTTP exporter
/// (its `source()`): the last HTTP status, if a response came, how many requests the export
/// made, and what went wrong in words (for a refusal, the start of the response body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpExportError {
    status: Option<StatusCode>,
    attempts: u32,
    message: String,
}

impl HttpExportError {
    pub(crate) fn new(status: Option<StatusCode>, attempts: u32, message: String) -> Self {
        HttpExportError {
            status,
            attempts,
            message,
        }
    }

    /// The status of the last response; `None` when none came (connection failures, or a
    /// request that was never sent).
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// Requests made for the export, retries included.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// What went wrong: the server's message or the start of its body, or the transport error.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for HttpExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(status) = self.status {
            write!(f, "HTTP {status}")?;
        } else {
            f.write_str("no response")?;
        }
        let plural = if self.attempts == 1 { "" } else { "s" };
        write!(f, " after {} attempt{plural}", self.attempts)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for HttpExportError {}
