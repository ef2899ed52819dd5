//! Code that logs through `log` and `tracing` lights up without changes: both bridges feed
//! one pipeline, and every record inside a span carries that span's ids.
//!
//! Run with `cargo run -p telemetry-logs --example bridges`. Records are written to stderr
//! in the text form the trace-context compatibility spec gives (`trace_id` and `span_id` in
//! lowercase hex, `trace_flags` as two hex digits).

use std::io::Write;

use telemetry_context::{Context, SpanContext, TraceFlags, TraceState};
use telemetry_core::{Resource, SpanId, TraceId};
use telemetry_logs::{
    ExportError, ExportErrorKind, LogBridge, LogExporter, LogRecord, LoggerProvider, TracingLayer,
};
use tracing_subscriber::layer::SubscriberExt;

/// Writes each record as one line of `key=value` pairs.
#[derive(Debug)]
struct TextExporter;

impl LogExporter for TextExporter {
    fn export(&mut self, batch: &[LogRecord]) -> Result<(), ExportError> {
        let mut out = std::io::stderr().lock();
        for record in batch {
            let mut line = format!(
                "severity={} scope={} body={:?}",
                record.severity,
                record.scope.name(),
                record.body.to_string()
            );
            for attribute in &record.attributes {
                line.push_str(&format!(
                    " {}={:?}",
                    attribute.key,
                    attribute.value.to_string()
                ));
            }
            if record.has_trace_context() {
                line.push_str(&format!(
                    " trace_id={} span_id={} trace_flags={:02x}",
                    record.trace_id,
                    record.span_id,
                    record.trace_flags.bits()
                ));
            }
            writeln!(out, "{line}")
                .map_err(|error| ExportError::with_source(ExportErrorKind::Unavailable, error))?;
        }
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let provider = LoggerProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("bridges-example")
                .build(),
        )
        .with_batch_exporter(TextExporter)?
        .build();
    LogBridge::new(&provider).install(log::LevelFilter::Info)?;
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(TracingLayer::new(&provider)),
    )?;

    log::info!("outside any span: no ids");
    // What entering one of our spans does: its context becomes the current one.
    let span = SpanContext::new(
        TraceId::random(),
        SpanId::random(),
        TraceFlags::SAMPLED,
        false,
        TraceState::EMPTY,
    );
    Context::new().with_span_context(span).run(|| {
        log::warn!(order_id = 42; "payment retried");
        tracing::error!(order_id = 42, retries = 3, "payment failed");
        std::thread::scope(|scope| {
            let cx = Context::current();
            scope.spawn(move || cx.run(|| tracing::info!("on another thread, same span")));
        });
    });

    provider.shutdown()?;
    Ok(())
}
