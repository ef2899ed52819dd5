//! Errors of the logs pipeline.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// Why an exporter could not deliver a batch of log records.
#[derive(Debug)]
pub struct ExportError {
    kind: ExportErrorKind,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

/// The kinds of [`ExportError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportErrorKind {
    /// The exporter was shut down before the call.
    ShutDown,
    /// The export did not finish within its deadline.
    Timeout,
    /// The destination refused the data for good (bad data, permission); retrying is useless.
    Rejected,
    /// The destination could not be reached or failed, and retries were exhausted.
    Unavailable,
}

impl ExportError {
    /// An error of `kind`.
    pub fn new(kind: ExportErrorKind) -> Self {
        ExportError { kind, source: None }
    }

    /// An error of `kind` caused by `source`.
    pub fn with_source(
        kind: ExportErrorKind,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        ExportError {
            kind,
            source: Some(source.into()),
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> ExportErrorKind {
        self.kind
    }
}

impl ExportErrorKind {
    /// Whether the same data may get through later: true for [`Timeout`](Self::Timeout) and
    /// [`Unavailable`](Self::Unavailable), the kinds a collector outage produces. A batch
    /// processor keeps a batch that failed this way and tries it again; the other kinds
    /// ([`Rejected`](Self::Rejected), [`ShutDown`](Self::ShutDown)) would fail the same way
    /// every time, so the batch is dropped and counted.
    pub fn is_transient(self) -> bool {
        match self {
            ExportErrorKind::Timeout | ExportErrorKind::Unavailable => true,
            ExportErrorKind::ShutDown | ExportErrorKind::Rejected => false,
        }
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ExportErrorKind::ShutDown => "the log exporter is shut down",
            ExportErrorKind::Timeout => "the log export timed out",
            ExportErrorKind::Rejected => "the destination rejected the log records",
            ExportErrorKind::Unavailable => "the log destination is unavailable",
        };
        match &self.source {
            Some(source) => write!(f, "{what}: {source}"),
            None => f.write_str(what),
        }
    }
}

impl StdError for ExportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// Why a flush or shutdown of the logs pipeline did not complete.
#[derive(Debug)]
#[non_exhaustive]
pub enum LogError {
    /// The deadline passed before everything was exported; nothing is lost yet, only late
    /// (unless this was a shutdown).
    Timeout(Duration),
    /// The provider or processor was already shut down.
    AlreadyShutDown,
    /// A processor's worker thread died; what it still held is lost.
    WorkerDied,
    /// The exporter failed.
    Export(ExportError),
    /// Several processors failed; each error in registration order.
    Multiple(Vec<LogError>),
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogError::Timeout(timeout) => write!(f, "logs not flushed within {timeout:?}"),
            LogError::AlreadyShutDown => f.write_str("the logs pipeline is already shut down"),
            LogError::WorkerDied => f.write_str("the log export worker thread died"),
            LogError::Export(error) => write!(f, "log export failed: {error}"),
            LogError::Multiple(errors) => {
                f.write_str("several log processors failed: ")?;
                for (i, error) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{error}")?;
                }
                Ok(())
            }
        }
    }
}

impl StdError for LogError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            LogError::Export(error) => Some(error),
            _ => None,
        }
    }
}

impl From<ExportError> for LogError {
    fn from(error: ExportError) -> Self {
        LogError::Export(error)
    }
}

/// Combines the results of several processors into one.
pub(crate) fn combine(
    results: impl IntoIterator<Item = Result<(), LogError>>,
) -> Result<(), LogError> {
    let mut errors: Vec<LogError> = results.into_iter().filter_map(Result::err).collect();
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(LogError::Multiple(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_sources() {
        let export = ExportError::with_source(ExportErrorKind::Unavailable, "connection refused");
        assert_eq!(
            export.to_string(),
            "the log destination is unavailable: connection refused"
        );
        assert_eq!(export.kind(), ExportErrorKind::Unavailable);
        assert!(ExportErrorKind::Unavailable.is_transient());
        assert!(ExportErrorKind::Timeout.is_transient());
        assert!(!ExportErrorKind::Rejected.is_transient());
        assert!(!ExportErrorKind::ShutDown.is_transient());
        let error = LogError::from(export);
        assert!(StdError::source(&error).is_some());
        let combined = combine([
            Ok(()),
            Err(LogError::AlreadyShutDown),
            Err(LogError::Timeout(Duration::from_millis(3))),
        ]);
        assert_eq!(
            combined.map_err(|e| e.to_string()),
            Err(
                "several log processors failed: the logs pipeline is already shut down; \
                 logs not flushed within 3ms"
                    .to_owned()
            )
        );
        assert!(combine([Ok(()), Err(LogError::WorkerDied)]).is_err());
        assert!(combine([Ok(())]).is_ok());
    }
}
