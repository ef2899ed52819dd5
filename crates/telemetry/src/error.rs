//! The facade's errors.

use std::error::Error as StdError;
use std::fmt;

use telemetry_logs::LogError;
use telemetry_metrics::MetricError;
use telemetry_span::TraceError;

/// A kind of telemetry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Signal {
    /// Spans.
    Traces,
    /// Metrics.
    Metrics,
    /// Log records.
    Logs,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        })
    }
}

/// Why [`TelemetryBuilder::build`](crate::TelemetryBuilder::build) could not make a pipeline:
/// an exporter or its worker thread could not be started.
#[derive(Debug)]
pub struct BuildError {
    signal: Signal,
    exporter: &'static str,
    source: Box<dyn StdError + Send + Sync>,
}

impl BuildError {
    pub(crate) fn new(
        signal: Signal,
        exporter: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        BuildError {
            signal,
            exporter,
            source: source.into(),
        }
    }

    /// The signal whose exporter failed.
    pub fn signal(&self) -> Signal {
        self.signal
    }

    /// The exporter that failed (`"otlp"`, `"console"`, `"custom"`).
    pub fn exporter(&self) -> &'static str {
        self.exporter
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not start the {} {} exporter: {}",
            self.exporter, self.signal, self.source
        )
    }
}

impl StdError for BuildError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}

/// What went wrong while flushing or shutting down a pipeline, per signal.
#[derive(Debug, Default)]
pub struct PipelineError {
    /// The tracer provider's error, if it had one.
    pub traces: Option<TraceError>,
    /// The meter provider's error, if it had one.
    pub metrics: Option<MetricError>,
    /// The logger provider's error, if it had one.
    pub logs: Option<LogError>,
}

impl PipelineError {
    pub(crate) fn into_result(self) -> Result<(), PipelineError> {
        if self.traces.is_none() && self.metrics.is_none() && self.logs.is_none() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut part = |f: &mut fmt::Formatter<'_>, signal: &str, error: &dyn fmt::Display| {
            let separator = if first { "" } else { "; " };
            first = false;
            write!(f, "{separator}{signal}: {error}")
        };
        if let Some(error) = &self.traces {
            part(f, "traces", error)?;
        }
        if let Some(error) = &self.metrics {
            part(f, "metrics", error)?;
        }
        if let Some(error) = &self.logs {
            part(f, "logs", error)?;
        }
        Ok(())
    }
}

impl StdError for PipelineError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        if let Some(error) = &self.traces {
            return Some(error);
        }
        if let Some(error) = &self.metrics {
            return Some(error);
        }
        self.logs
            .as_ref()
            .map(|error| error as &(dyn StdError + 'static))
    }
}

/// Why [`record_metric`](crate::record_metric) recorded nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordError {
    kind: RecordErrorKind,
    name: String,
}

/// The kinds of [`RecordError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordErrorKind {
    /// No instrument was created under this name (names compare case-insensitively).
    UnknownInstrument,
    /// A negative value for a counter or a histogram, which only take values ≥ 0.
    NegativeValue,
    /// NaN or an infinity.
    NotFinite,
}

impl RecordError {
    pub(crate) fn new(kind: RecordErrorKind, name: &str) -> Self {
        RecordError {
            kind,
            name: name.to_owned(),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> RecordErrorKind {
        self.kind
    }

    /// The instrument name given.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            RecordErrorKind::UnknownInstrument => "no instrument was created under this name",
            RecordErrorKind::NegativeValue => {
                "counters and histograms take only values of zero or more"
            }
            RecordErrorKind::NotFinite => "the value is NaN or infinite",
        };
        write!(f, "cannot record into {:?}: {what}", self.name)
    }
}

impl StdError for RecordError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_instrument_and_the_signal() {
        let error = RecordError::new(RecordErrorKind::UnknownInstrument, "jobs");
        assert_eq!(
            error.to_string(),
            "cannot record into \"jobs\": no instrument was created under this name"
        );
        let error = BuildError::new(Signal::Logs, "otlp", "endpoint refused");
        assert_eq!(
            error.to_string(),
            "could not start the otlp logs exporter: endpoint refused"
        );
        assert!(PipelineError::default().into_result().is_ok());
    }
}
