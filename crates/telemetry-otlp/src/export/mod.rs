//! Exporters that send OTLP to a collector. `http` has the OTLP/HTTP span exporter, `retry`
//! the backoff and response classification it follows.

use std::fmt;
use std::io;

use ::http::StatusCode;

use crate::config::Protocol;

pub(crate) mod http;
pub(crate) mod retry;

/// Why an exporter could not be built.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExporterBuildError {
    /// The configured protocol is not one this exporter speaks (gRPC, for the HTTP exporter).
    UnsupportedProtocol(Protocol),
    /// The endpoint is `https`, and this exporter has no TLS yet.
    TlsUnsupported(String),
    /// The endpoint is not an absolute `http` URL.
    InvalidEndpoint(String),
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
            ExporterBuildError::TlsUnsupported(url) => {
                write!(f, "endpoint {url:?} needs TLS, which this exporter lacks")
            }
            ExporterBuildError::InvalidEndpoint(url) => {
                write!(f, "endpoint {url:?} is not an absolute http URL")
            }
            ExporterBuildError::InvalidHeader(name) => {
                write!(f, "header {name:?} is not a valid HTTP header")
            }
            ExporterBuildError::Thread(error) => {
                write!(f, "could not start the exporter thread: {error}")
            }
        }
    }
}

impl std::error::Error for ExporterBuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExporterBuildError::Thread(error) => Some(error),
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
