//! The bridge from `tracing`: a layer that turns tracing events into our log records.

use std::fmt;

use telemetry_context::{BridgedContext, Context, SpanContext};
use telemetry_core::{KeyValue, StringValue, Timestamp, Value};
use tracing_core::field::{Field, Visit};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::logger::Logger;
use crate::provider::LoggerProvider;
use crate::record::LogRecord;
use crate::severity::Severity;

/// The instrumentation scope of records from the `tracing` bridge.
pub const TRACING_BRIDGE_SCOPE: &str = "tracing";

/// The severity of a `tracing` level: each level is the first number of its range.
///
/// | `tracing::Level` | severity |
/// | --- | --- |
/// | `ERROR` | ERROR (17) |
/// | `WARN` | WARN (13) |
/// | `INFO` | INFO (9) |
/// | `DEBUG` | DEBUG (5) |
/// | `TRACE` | TRACE (1) |
pub fn severity_of_tracing_level(level: &Level) -> Severity {
    match *level {
        Level::ERROR => Severity::ERROR,
        Level::WARN => Severity::WARN,
        Level::INFO => Severity::INFO,
        Level::DEBUG => Severity::DEBUG,
        _ => Severity::TRACE,
    }
}

/// A [`tracing_subscriber::Layer`] that turns every tracing event into a [`LogRecord`].
///
/// The `message` field becomes the body; every other field an attribute under its own
/// name, keeping integers, floats, booleans and strings as such (debug-formatted values and
/// errors become strings; unsigned values beyond `i64` too); the level the severity (see
/// [`severity_of_tracing_level`]); the target the attribute `code.namespace`.
///
/// The trace context, in order of preference: the span of the current
/// [`telemetry_context::Context`] (our spans, and tracing spans bridged by a layer that
/// attaches their context on enter); else the nearest [`SpanContext`] or
/// [`BridgedContext`] stored in the extensions of the event's tracing span or its ancestors
/// (`telemetry-span`'s bridge stores a `BridgedContext`, which serves an event whose explicit
/// parent is not entered; another bridge may store a `SpanContext`); else none.
///
/// The layer never filters: returning "disabled" from a layer would hide events from every
/// other layer of the subscriber too. It checks [`Logger::enabled`] in `on_event` instead,
/// before doing any work.
#[derive(Debug, Clone)]
pub struct TracingLayer {
    logger: Logger,
}

impl TracingLayer {
    /// A layer emitting through `provider`, under the scope [`TRACING_BRIDGE_SCOPE`].
    pub fn new(provider: &LoggerProvider) -> Self {
        Self::with_logger(provider.logger(TRACING_BRIDGE_SCOPE))
    }

    /// A layer emitting through `logger`.
    pub fn with_logger(logger: Logger) -> Self {
        TracingLayer { logger }
    }
}

impl<S> Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let metadata = event.metadata();
        let severity = severity_of_tracing_level(metadata.level());
        // Also false inside our exporters, which is what keeps an exporter that uses
        // `tracing` from feeding its own events back into the pipeline.
        if !self.logger.enabled(severity) {
            return;
        }
        let now = Timestamp::now();
        let cx = Context::current();
        // Outside any current span, the ids come from the event's tracing span instead,
        // when a bridge stored them there.
        let scope_span_context = if cx.span_context().is_some_and(SpanContext::is_valid) {
            None
        } else {
            ctx.event_scope(event).and_then(|mut scope| {
                scope.find_map(|span| {
                    let extensions = span.extensions();
                    extensions.get::<SpanContext>().cloned().or_else(|| {
                        extensions
                            .get::<BridgedContext>()
                            .and_then(|bridged| bridged.span_context().cloned())
                    })
                })
            })
        };
        // Built in place: each builder call would move the whole record (see
        // `Logger::emit_with`).
        self.logger
            .build_and_emit(severity, cx.span_context(), |record| {
                record.timestamp = Some(now);
                record.observed_timestamp = now;
                record.attributes.push(KeyValue::new(
                    "code.namespace",
                    StringValue::from_static(metadata.target()),
                ));
                event.record(&mut Fields(record));
                if let Some(span_context) = &scope_span_context {
                    record.stamp(span_context);
                }
            });
    }
}

struct Fields<'a>(&'a mut LogRecord);

impl Fields<'_> {
    fn set(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.0.body = value;
        } else {
            self.0
                .attributes
                .push(KeyValue::new(StringValue::from_static(field.name()), value));
        }
    }
}

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.set(field, Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        let value = match i64::try_from(value) {
            Ok(value) => Value::I64(value),
            Err(_) => Value::from(value.to_string()),
        };
        self.set(field, value);
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        let value = match i64::try_from(value) {
            Ok(value) => Value::I64(value),
            Err(_) => Value::from(value.to_string()),
        };
        self.set(field, value);
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let value = match i64::try_from(value) {
            Ok(value) => Value::I64(value),
            Err(_) => Value::from(value.to_string()),
        };
        self.set(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field, Value::from(value.to_owned()));
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.set(field, Value::Bytes(value.to_vec()));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.set(field, Value::from(value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // The message arrives as `format_args!`, whose `Debug` is its text.
        self.set(field, Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_the_first_number_of_their_range() {
        let table = [
            (Level::ERROR, 17, "ERROR"),
            (Level::WARN, 13, "WARN"),
            (Level::INFO, 9, "INFO"),
            (Level::DEBUG, 5, "DEBUG"),
            (Level::TRACE, 1, "TRACE"),
        ];
        for (level, number, name) in table {
            let severity = severity_of_tracing_level(&level);
            assert_eq!(severity.number(), number, "{level}");
            assert_eq!(severity.name(), name, "{level}");
            assert_eq!(level.as_str(), name);
        }
    }
}
