//! A span exporter for people: one line per span, on standard output or any writer.
//!
//! Meant for development and examples, not for machines: the format is stable enough to
//! grep (`key=value` pairs after the span name) but is not a contract.

use std::fmt::{self, Write as _};
use std::io::{self, Write};

use telemetry_core::line;

use crate::error::{ExportError, ExportErrorKind};
use crate::exporter::SpanExporter;
use crate::span_data::{SpanData, SpanKind, Status};

/// Writes each finished span as one human-readable line.
///
/// ```text
/// span "checkout" trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7 parent=- kind=server status=error("card declined") duration=1.204ms attributes={http.request.method=POST} events=1 links=0 scope=shop
/// ```
///
/// The line is built first and written with one `write_all`, so lines from several
/// exporters sharing a terminal do not interleave mid-line.
pub struct ConsoleSpanExporter {
    out: Box<dyn Write + Send>,
    shut_down: bool,
}

impl ConsoleSpanExporter {
    /// An exporter writing to standard output.
    pub fn new() -> Self {
        Self::with_writer(io::stdout())
    }

    /// An exporter writing to `out` (a file, a buffer, standard error).
    pub fn with_writer(out: impl Write + Send + 'static) -> Self {
        ConsoleSpanExporter {
            out: Box::new(out),
            shut_down: false,
        }
    }
}

impl Default for ConsoleSpanExporter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ConsoleSpanExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleSpanExporter")
            .field("shut_down", &self.shut_down)
            .finish_non_exhaustive()
    }
}

impl SpanExporter for ConsoleSpanExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        if self.shut_down {
            return Err(ExportError::new(ExportErrorKind::ShutDown));
        }
        let mut text = String::new();
        for span in batch {
            format_span(&mut text, span);
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

/// Appends one line for `span` to `text`. Writing to a `String` cannot fail, hence the
/// ignored results.
fn format_span(text: &mut String, span: &SpanData) {
    let context = &span.span_context;
    let _ = write!(
        text,
        "span {:?} trace_id={} span_id={} parent=",
        span.name.as_str(),
        context.trace_id(),
        context.span_id()
    );
    if span.parent_span_id.is_valid() {
        let _ = write!(text, "{}", span.parent_span_id);
        if span.parent_is_remote {
            text.push_str("(remote)");
        }
    } else {
        text.push('-');
    }
    let kind = match span.kind {
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    };
    let _ = write!(text, " kind={kind} status=");
    match &span.status {
        Status::Unset => text.push_str("unset"),
        Status::Ok => text.push_str("ok"),
        Status::Error { description } if description.as_str().is_empty() => {
            text.push_str("error");
        }
        Status::Error { description } => {
            let _ = write!(text, "error({:?})", description.as_str());
        }
    }
    let duration = span.end_time.saturating_duration_since(span.start_time);
    let _ = write!(
        text,
        " duration={:.3}ms attributes=",
        duration.as_secs_f64() * 1e3
    );
    line::push_attributes(text, &span.attributes);
    let _ = writeln!(
        text,
        " events={} links={} scope={}",
        span.events.len(),
        span.links.len(),
        span.scope.name()
    );
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::provider::TracerProvider;
    use telemetry_core::{KeyValue, Resource};

    /// A writer tests can read back.
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

    /// A writer that always fails.
    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _bytes: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }

        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::other("disk full"))
        }
    }

    fn provider(buffer: &Buffer) -> TracerProvider {
        TracerProvider::builder()
            .with_resource(Resource::empty())
            .with_sampler(crate::Sampler::AlwaysOn)
            .with_simple_exporter(ConsoleSpanExporter::with_writer(buffer.clone()))
            .build()
    }

    #[test]
    fn one_line_per_span_with_ids_parent_status_and_attributes() {
        let buffer = Buffer::default();
        let provider = provider(&buffer);
        let tracer = provider.tracer("console-test");
        let parent = tracer.start("parent");
        let child = tracer
            .span_builder("child\nname")
            .with_parent(&parent)
            .with_kind(SpanKind::Client)
            .with_attribute(KeyValue::new("note", "two\nlines"))
            .start();
        child.set_status(Status::error("boom"));
        let (trace_id, child_id, parent_id) = (
            child.span_context().trace_id(),
            child.span_context().span_id(),
            parent.span_context().span_id(),
        );
        drop(child);
        drop(parent);

        let text = buffer.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let child_line = lines[0];
        assert!(
            child_line.starts_with("span \"child\\nname\" "),
            "{child_line}"
        );
        assert!(
            child_line.contains(&format!("trace_id={trace_id}")),
            "{child_line}"
        );
        assert!(
            child_line.contains(&format!("span_id={child_id}")),
            "{child_line}"
        );
        assert!(
            child_line.contains(&format!("parent={parent_id} ")),
            "{child_line}"
        );
        assert!(
            child_line.contains(" kind=client status=error(\"boom\") "),
            "{child_line}"
        );
        assert!(
            child_line.contains("attributes={note=two\\nlines}"),
            "{child_line}"
        );
        assert!(
            child_line.ends_with("events=0 links=0 scope=console-test"),
            "{child_line}"
        );
        assert!(
            lines[1].contains("parent=- kind=internal status=unset"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn write_failures_and_shutdown_are_errors() {
        let data = sample_data();
        let mut broken = ConsoleSpanExporter::with_writer(Broken);
        let error = broken.export(std::slice::from_ref(&data));
        assert_eq!(
            error.map_err(|e| e.kind()).err(),
            Some(ExportErrorKind::Unavailable)
        );

        let mut exporter = ConsoleSpanExporter::with_writer(Buffer::default());
        assert!(exporter.export(&[]).is_ok());
        assert!(exporter.shutdown().is_ok());
        assert_eq!(
            exporter.export(&[]).map_err(|e| e.kind()).err(),
            Some(ExportErrorKind::ShutDown)
        );
    }

    /// A finished span's data, taken from an in-memory exporter.
    fn sample_data() -> SpanData {
        let exporter = crate::InMemorySpanExporter::new();
        let provider = TracerProvider::builder()
            .with_resource(Resource::empty())
            .with_sampler(crate::Sampler::AlwaysOn)
            .with_simple_exporter(exporter.clone())
            .build();
        drop(provider.tracer("t").start("sample"));
        exporter
            .finished_spans()
            .pop()
            .unwrap_or_else(|| panic!("the in-memory exporter got no span"))
    }
}
