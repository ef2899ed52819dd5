//! Errors of the metrics pipeline.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// Why an instrument could not be created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentError {
    kind: InstrumentErrorKind,
    name: String,
}

/// The kinds of [`InstrumentError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstrumentErrorKind {
    /// The name is empty.
    EmptyName,
    /// The name is longer than 255 characters.
    NameTooLong,
    /// The name does not start with an ASCII letter.
    NameStart,
    /// The name has a character other than ASCII letters, digits, `_`, `.`, `-` and `/`.
    NameCharacter,
    /// The unit is not ASCII or longer than 63 characters.
    InvalidUnit,
    /// The advisory histogram boundaries are not finite and strictly increasing.
    InvalidBoundaries,
}

impl InstrumentError {
    pub(crate) fn new(kind: InstrumentErrorKind, name: &str) -> Self {
        InstrumentError {
            kind,
            name: name.to_owned(),
        }
    }

    /// What is wrong.
    pub fn kind(&self) -> InstrumentErrorKind {
        self.kind
    }

    /// The instrument name that was asked for.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl fmt::Display for InstrumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            InstrumentErrorKind::EmptyName => "the name is empty",
            InstrumentErrorKind::NameTooLong => "the name is longer than 255 characters",
            InstrumentErrorKind::NameStart => "the name must start with an ASCII letter",
            InstrumentErrorKind::NameCharacter => {
                "the name may only hold ASCII letters, digits, '_', '.', '-' and '/'"
            }
            InstrumentErrorKind::InvalidUnit => "the unit must be ASCII and at most 63 characters",
            InstrumentErrorKind::InvalidBoundaries => {
                "histogram boundaries must be finite and strictly increasing"
            }
        };
        write!(f, "invalid instrument {:?}: {what}", self.name)
    }
}

impl StdError for InstrumentError {}

/// Checks a name against `ALPHA 0*254 ("_" / "." / "-" / "/" / ALPHA / DIGIT)`.
pub(crate) fn validate_name(name: &str) -> Result<(), InstrumentError> {
    let fail = |kind| Err(InstrumentError::new(kind, name));
    let Some(first) = name.chars().next() else {
        return fail(InstrumentErrorKind::EmptyName);
    };
    if name.len() > 255 {
        return fail(InstrumentErrorKind::NameTooLong);
    }
    if !first.is_ascii_alphabetic() {
        return fail(InstrumentErrorKind::NameStart);
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '/');
    if !name.chars().all(allowed) {
        return fail(InstrumentErrorKind::NameCharacter);
    }
    Ok(())
}

/// Checks a unit: ASCII, at most 63 characters.
pub(crate) fn validate_unit(name: &str, unit: &str) -> Result<(), InstrumentError> {
    if unit.is_ascii() && unit.len() <= 63 {
        Ok(())
    } else {
        Err(InstrumentError::new(InstrumentErrorKind::InvalidUnit, name))
    }
}

/// Why an exporter could not deliver metrics.
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
    /// The destination refused the data for good; retrying is useless.
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

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            ExportErrorKind::ShutDown => "the exporter is shut down",
            ExportErrorKind::Timeout => "the export timed out",
            ExportErrorKind::Rejected => "the destination rejected the metrics",
            ExportErrorKind::Unavailable => "the destination is unavailable",
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

/// Why a collection, flush or shutdown did not complete.
#[derive(Debug)]
#[non_exhaustive]
pub enum MetricError {
    /// The deadline passed first.
    Timeout(Duration),
    /// The provider or reader was already shut down.
    AlreadyShutDown,
    /// The reader is not registered with a meter provider, so it has nothing to collect.
    NotRegistered,
    /// A reader's worker thread died.
    WorkerDied,
    /// The exporter failed.
    Export(ExportError),
    /// Several readers failed; each error in registration order.
    Multiple(Vec<MetricError>),
}

impl fmt::Display for MetricError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricError::Timeout(timeout) => write!(f, "not finished within {timeout:?}"),
            MetricError::AlreadyShutDown => f.write_str("already shut down"),
            MetricError::NotRegistered => {
                f.write_str("the reader is not registered with a meter provider")
            }
            MetricError::WorkerDied => f.write_str("the reader's worker thread died"),
            MetricError::Export(error) => write!(f, "export failed: {error}"),
            MetricError::Multiple(errors) => {
                f.write_str("several readers failed: ")?;
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

impl StdError for MetricError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            MetricError::Export(error) => Some(error),
            _ => None,
        }
    }
}

impl From<ExportError> for MetricError {
    fn from(error: ExportError) -> Self {
        MetricError::Export(error)
    }
}

/// Combines the results of several readers into one.
pub(crate) fn combine(
    results: impl IntoIterator<Item = Result<(), MetricError>>,
) -> Result<(), MetricError> {
    let mut errors: Vec<MetricError> = results.into_iter().filter_map(Result::err).collect();
    match errors.len() {
        0 => Ok(()),
        1 => Err(errors.remove(0)),
        _ => Err(MetricError::Multiple(errors)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instrument_names_follow_the_grammar() {
        let long = format!("a{}", "b".repeat(254));
        let too_long = format!("{long}c");
        let table: [(&str, Option<InstrumentErrorKind>); 9] = [
            ("http.server.request.duration", None),
            ("a", None),
            ("A_b-c/d.9", None),
            (&long, None),
            ("", Some(InstrumentErrorKind::EmptyName)),
            (&too_long, Some(InstrumentErrorKind::NameTooLong)),
            ("9lives", Some(InstrumentErrorKind::NameStart)),
            ("_x", Some(InstrumentErrorKind::NameStart)),
            ("bad name", Some(InstrumentErrorKind::NameCharacter)),
        ];
        for (name, expected) in table {
            assert_eq!(
                validate_name(name).err().map(|e| e.kind()),
                expected,
                "{name:?}"
            );
        }
        assert!(validate_name("ümlaut").is_err());
        assert!(validate_unit("x", "ms").is_ok());
        assert!(validate_unit("x", "µs").is_err());
        assert!(validate_unit("x", &"m".repeat(64)).is_err());
        let error = validate_name("9").expect_err("invalid");
        assert_eq!(
            error.to_string(),
            "invalid instrument \"9\": the name must start with an ASCII letter"
        );
    }
}
