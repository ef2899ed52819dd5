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

    /// Builds a record of `severity` in place and emits it as [`Logger::emit`] does: `fill`
    /// sets the body, attributes and anything else on a fresh [`LogRecord::new`].
    ///
    /// The cheap way to emit. Each builder call (`with_body`, `with_attribute`, ...) moves the
    /// whole record, a few hundred bytes that the compiler does not elide, so a record built
    /// with three of them costs several copies before it is emitted; here it is built where
    /// it stays. And when the logger would drop a record of `severity`, `fill` is not called.
    ///
    /// ```
    /// use telemetry_core::KeyValue;
    /// use telemetry_logs::{InMemoryLogExporter, LoggerProvider, Severity};
    ///
    /// let exporter = InMemoryLogExporter::new();
    /// let provider = LoggerProvider::builder()
    ///     .with_simple_exporter(exporter.clone())
    ///     .build();
    /// let logger = provider.logger("checkout");
    /// logger.emit_with(Severity::INFO, |record| {
    ///     record.body = "order placed".into();
    ///     record.attributes.push(KeyValue::new("http.route", "/checkout"));
    /// });
    /// assert_eq!(exporter.records()[0].attributes.len(), 1);
    /// ```
    #[inline]
    pub fn emit_with(&self, severity: Severity, fill: impl FnOnce(&mut LogRecord)) {
        if !self.accepts(severity) {
            return;
        }
        let span_context = Context::current_span_context();
        self.build_and_emit(severity, span_context.as_ref(), fill);
    }

    /// [`Logger::emit_with`] stamped with `span_context` (when valid) instead of the current
    /// span, for a caller that has checked [`Logger::enabled`] already: the bridges.
    #[inline(always)]
    pub(crate) fn build_and_emit(
        &self,
        severity: Severity,
        span_context: Option<&SpanContext>,
        fill: impl FnOnce(&mut LogRecord),
    ) {
        let mut record = LogRecord::new(severity);
        fill(&mut record);
        // `fill` may have lowered the severity below the minimum.
        if record.severity != severity && !self.accepts(record.severity) {
            return;
        }
        self.finish(&mut record, span_context);
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

#[cfg(test)]
mod tests {
    use telemetry_context::{TraceFlags, TraceState};
    use telemetry_core::{KeyValue, Resource, SpanId, TraceId, Value};

    use super::*;
    use crate::{InMemoryLogExporter, LogLimits, LoggerProvider};

    fn pipeline(min: Severity, limits: LogLimits) -> (LoggerProvider, InMemoryLogExporter) {
        let exporter = InMemoryLogExporter::new();
        let provider = LoggerProvider::builder()
            .with_resource(Resource::empty())
            .with_limits(limits)
            .with_min_severity(min)
            .with_simple_exporter(exporter.clone())
            .build();
        (provider, exporter)
    }

    #[test]
    fn emit_with_builds_the_record_the_builder_builds() {
        let (provider, exporter) = pipeline(Severity::UNSPECIFIED, LogLimits::default());
        let logger = provider.logger("scope");
        let span = SpanContext::new(
            TraceId::random(),
            SpanId::random(),
            TraceFlags::SAMPLED,
            false,
            TraceState::EMPTY,
        );
        let observed = Timestamp::from_unix_nanos(42);
        {
            let _guard = Context::new().with_span_context(span.clone()).attach();
            logger.emit(
                LogRecord::new(Severity::WARN)
                    .with_body("order placed")
                    .with_attribute("http.route", "/checkout")
                    .with_attribute("http.response.status_code", 201)
                    // Repeated key: the limits keep the last value, both ways.
                    .with_attribute("http.route", "/cart")
                    .with_event_name("order")
                    .with_timestamp(observed),
            );
            logger.emit_with(Severity::WARN, |record| {
                record.body = "order placed".into();
                record
                    .attributes
                    .push(KeyValue::new("http.route", "/checkout"));
                record
                    .attributes
                    .push(KeyValue::new("http.response.status_code", 201));
                record.attributes.push(KeyValue::new("http.route", "/cart"));
                record.event_name = Some("order".into());
                record.timestamp = Some(observed);
            });
        }
        let mut records = exporter.records();
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].trace_id, span.trace_id());
        assert_eq!(records[1].span_id, span.span_id());
        assert_eq!(records[1].scope.name(), "scope");
        assert_eq!(
            records[1]
                .attributes
                .iter()
                .find(|a| a.key.as_str() == "http.route")
                .map(|a| &a.value),
            Some(&Value::from("/cart"))
        );
        // Both were stamped with the observed time at emit; everything else must match.
        for record in &mut records {
            assert_ne!(record.observed_timestamp, Timestamp::UNIX_EPOCH);
            record.observed_timestamp = Timestamp::UNIX_EPOCH;
        }
        assert_eq!(records[0], records[1]);
    }

    #[test]
    fn emit_with_below_the_minimum_does_not_build_the_record() {
        let (provider, exporter) = pipeline(Severity::WARN, LogLimits::default());
        let logger = provider.logger("scope");
        let mut called = false;
        logger.emit_with(Severity::INFO, |_| called = true);
        assert!(!called);
        // A record whose severity `fill` lowers below the minimum is dropped too.
        logger.emit_with(Severity::ERROR, |record| record.severity = Severity::DEBUG);
        logger.emit_with(Severity::ERROR, |record| record.body = "kept".into());
        let records = exporter.records();
        assert_eq!(records.len(), 1, "{records:#?}");
        assert_eq!(records[0].body, Value::from("kept"));
    }

    #[test]
    fn emit_with_holds_attributes_to_the_limits() {
        let limits = LogLimits {
            max_attributes: 2,
            ..LogLimits::default()
        };
        let (provider, exporter) = pipeline(Severity::UNSPECIFIED, limits);
        provider
            .logger("scope")
            .emit_with(Severity::INFO, |record| {
                for i in 0..5_i64 {
                    record.attributes.push(KeyValue::new(format!("key{i}"), i));
                }
            });
        let records = exporter.records();
        assert_eq!(records[0].attributes.len(), 2);
        assert_eq!(records[0].dropped_attributes_count, 3);
        // Outside any span, no ids.
        assert_eq!(records[0].trace_id, TraceId::INVALID);
    }
}
