//! A log exporter for people: one line per record, on standard output or any writer.
//!
//! Meant for development and examples: greppable `key=value` pairs, not a contract.

use std::fmt::{self, Write as _};
use std::io::{self, Write};

use telemetry_core::{Timestamp, line};

use crate::error::{ExportError, ExportErrorKind};
use crate::exporter::LogExporter;
use crate::record::LogRecord;

/// Writes each log record as one human-readable line.
///
/// ```text
/// log 1732590000.123456789 INFO "order placed" trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 attributes={order.id=17} scope=shop
/// ```
///
/// The time is the record's timestamp (or, without one, the observed time) in seconds since
/// the Unix epoch. Control characters in the body and attribute values are escaped, so a
/// record is always one line; a batch is written with one `write_all`.
pub struct ConsoleLogExporter {
    out: Box<dyn Write + Send>,
    shut_down: bool,
}

impl ConsoleLogExporter {
    /// An exporter writing to standard output.
    pub fn new() -> Self {
        Self::with_writer(io::stdout())
    }

    /// An exporter writing to `out`.
    pub fn with_writer(out: impl Write + Send + 'static) -> Self {
        ConsoleLogExporter {
            out: Box::new(out),
            shut_down: false,
        }
    }
}

impl Default for ConsoleLogExporter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ConsoleLogExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleLogExporter")
            .field("shut_down", &self.shut_down)
            .finish_non_exhaustive()
    }
}

impl LogExporter for ConsoleLogExporter {
    fn export(&mut self, batch: &[LogRecord]) -> Result<(), ExportError> {
        if self.shut_down {
            return Err(ExportError::new(ExportErrorKind::ShutDown));
        }
        let mut text = String::new();
        for record in batch {
            format_record(&mut text, record);
        }
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|error| ExportError::with_source(ExportErrorKind::Unavailable, error))
    }

    fn force_flush(&mut self) -> Result<(), ExportError> {
        self.out
            .flush()
            .map_err(|error| ExportError::with_source(ExportErrorKind::Unavailable, error))
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shut_down = true;
        self.out
            .flush()
            .map_err(|error| ExportError::with_source(ExportErrorKind::Unavailable, error))
    }
}

/// Appends one line for `record`. Writing to a `String` cannot fail, hence the ignored
/// results.
fn format_record(text: &mut String, record: &LogRecord) {
    let time = record.timestamp.unwrap_or(record.observed_timestamp);
    let nanos = Timestamp::as_unix_nanos(time);
    let severity = if record.severity.is_unspecified() {
        record
            .severity_text
            .as_ref()
            .map_or("-", |text| text.as_str())
    } else {
        record.severity.name()
    };
    let _ = write!(
        text,
        "log {}.{:09} {severity} \"",
        nanos / 1_000_000_000,
        nanos % 1_000_000_000
    );
    line::push_escaped(text, &record.body.to_string(), true);
    text.push('"');
    if let Some(name) = &record.event_name {
        let _ = write!(text, " event={name}");
    }
    if record.trace_id.is_valid() {
        let _ = write!(
            text,
            " trace_id={} span_id={}",
            record.trace_id, record.span_id
        );
    }
    text.push_str(" attributes=");
    line::push_attributes(text, &record.attributes);
    let _ = writeln!(text, " scope={}", record.scope.name());
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::provider::LoggerProvider;
    use crate::severity::Severity;
    use telemetry_context::{SpanContext, TraceFlags, TraceState};
    use telemetry_core::{Resource, SpanId, TraceId};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        fn text(&self) -> String {
            let bytes = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _bytes: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }

        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::other("disk full"))
        }
    }

    #[test]
    fn one_line_per_record_with_trace_context() {
        let buffer = Buffer::default();
        let provider = LoggerProvider::builder()
            .with_resource(Resource::empty())
            .with_simple_exporter(ConsoleLogExporter::with_writer(buffer.clone()))
            .build();
        let logger = provider.logger("shop");
        let span_context = SpanContext::new(
            TraceId::from_int(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from_int(0x00f0_67aa_0ba9_02b7),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        );
        logger.emit(
            LogRecord::new(Severity::WARN)
                .with_body("say \"hi\"\nthen leave")
                .with_attribute("order.id", 17)
                .with_timestamp(Timestamp::from_unix_nanos(1_700_000_000_000_000_042))
                .with_span_context(&span_context),
        );
        logger.emit(LogRecord::new(Severity::INFO).with_body("plain"));
        let text = buffer.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "log 1700000000.000000042 WARN \"say \\\"hi\\\"\\nthen leave\" \
             trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 \
             attributes={order.id=17} scope=shop"
        );
        assert!(
            lines[1].ends_with(" INFO \"plain\" attributes={} scope=shop"),
            "{}",
            lines[1]
        );
        assert_eq!(lines.len(), 2, "{text}");
    }

    #[test]
    fn write_failures_and_shutdown_are_errors() {
        let record = LogRecord::new(Severity::INFO).with_body("x");
        let mut broken = ConsoleLogExporter::with_writer(Broken);
        assert_eq!(
            broken
                .export(std::slice::from_ref(&record))
                .map_err(|e| e.kind())
                .err(),
            Some(ExportErrorKind::Unavailable)
        );
        let mut exporter = ConsoleLogExporter::with_writer(Buffer::default());
        assert!(exporter.shutdown().is_ok());
        assert_eq!(
            exporter
                .export(std::slice::from_ref(&record))
                .map_err(|e| e.kind())
                .err(),
            Some(ExportErrorKind::ShutDown)
        );
    }
}
