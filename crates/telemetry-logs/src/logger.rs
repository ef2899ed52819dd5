//! Loggers emit records for one instrumentation scope, stamped with the trace context.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use telemetry_context::{Context, SpanContext};
use telemetry_core::{InstrumentationScope, Timestamp, diagnostic};

use crate::provider::ProviderInner;
use crate::record::LogRecord;
use crate::severity::Severity;
use crate::suppress::is_suppressed;

/// Emits log records on behalf of one instrumentation scope. Cloning is cheap.
///
/// Emitting never fails and never blocks on export: a record that cannot be used (provider
/// shut down, below the minimum severity, emitted from inside an exporter) is dropped.
#[derive(Clone)]
pub struct Logger {
    provider: Arc<ProviderInner>,
    scope: InstrumentationScope,
}

impl fmt::Debug for Logger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logger")
            .field("scope", &self.scope.name())
            .finish()
    }
}

impl Logger {
    pub(crate) fn new(provider: Arc<ProviderInner>, scope: InstrumentationScope) -> Self {
        Logger { provider, scope }
    }

    /// The scope records of this logger are reported under.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.scope
    }

    /// True when a record of `severity` would reach a processor: the provider has
    /// processors and is not shut down, the severity passes the minimum, this thread is not
    /// inside an exporter, and some processor wants it. Check it before building a costly
    /// record; when it is false, the check is all that is spent.
    #[inline]
    pub fn enabled(&self, severity: Severity) -> bool {
        self.accepts(severity)
            && self
                .provider
                .processors
                .iter()
                .any(|processor| processor.enabled(severity, &self.scope))
    }

    #[inline]
    fn accepts(&self, severity: Severity) -> bool {
        let inner = &*self.provider;
        !inner.processors.is_empty()
            && (severity.is_unspecified() || severity >= inner.min_severity)
            && !inner.is_shut_down()
            && !is_suppressed()
    }

    /// Emits `record`, stamped with the span of the current context (see
    /// [`Logger::emit_with_context`]).
    #[inline]
    pub fn emit(&self, mut record: LogRecord) {
        if !self.accepts(record.severity) {
            return;
        }
        // Only the span's identity is needed: cheaper to read than the whole context.
        let span_context = Context::current_span_context();
        // Finished in place and handed on here, not moved into a helper (as
        // `emit_with_context` does): each move of the record is a copy of a few hundred
        // bytes, and the compiler does not elide it.
        self.finish(&mut record, span_context.as_ref());
        if let Some((last, rest)) = self.provider.processors.split_last() {
            for processor in rest {
                processor.emit(&mut record);
            }
            last.emit_owned(record);
        }
    }

    /// Emits `record`, stamped with the span of `cx`.
    ///
    /// The logger sets the observed time (when the record has none), the scope, and the
    /// trace id, span id and flags of `cx`'s span, when it has a valid one; otherwise the
    /// record keeps the ids it came with (none, unless the caller set them). Attributes are
    /// then made unique and held to the provider's limits, and the record goes to each
    /// processor in turn.
    pub fn emit_with_context(&self, record: LogRecord, cx: &Context) {
        if self.accepts(record.severity) {
            let mut record = record;
            self.finish(&mut record, cx.span_context());
            self.hand_off(record);
        }
    }

    /// Stamps `record` and holds its attributes to the limits: all but the hand-off.
    #[inline]
    fn finish(&self, record: &mut LogRecord, span_context: Option<&SpanContext>) {
        let inner = &*self.provider;
        if record.observed_timestamp == Timestamp::UNIX_EPOCH {
            record.observed_timestamp = Timestamp::now();
        }
        if let Some(span_context) = span_context
            && span_context.is_valid()
        {
            record.stamp(span_context);
        }
        record.scope = self.scope.clone();
        let dropped = inner.limits.apply(&mut record.attributes);
        if dropped > 0 {
            record.dropped_attributes_count =
                record.dropped_attributes_count.saturating_add(dropped);
            if !inner
                .reported_dropped_attributes
                .swap(true, Ordering::Relaxed)
            {
                diagnostic::report(
                    "logger",
                    format_args!(
                        "a log record of scope {:?} exceeded the limit of {} attributes; extra attributes are dropped and counted in dropped_attributes_count (reported once)",
                        self.scope.name(),
                        inner.limits.max_attributes
                    ),
                );
            }
        }
    }

    /// Shows `record` to every processor but the last, then gives it to the last.
    #[inline]
    fn hand_off(&self, mut record: LogRecord) {
        if let Some((last, rest)) = self.provider.processors.split_last() {
            for processor in rest {
                processor.emit(&mut record);
            }
            last.emit_owned(record);
        }
    }
}
