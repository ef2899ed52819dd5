//! Span processors: hooks called when spans start and end, feeding exporters.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use telemetry_context::Context;
use telemetry_core::{Resource, diagnostic};

use crate::error::TraceError;
use crate::exporter::SpanExporter;
use crate::span_data::SpanData;

/// Receives every recording span at its start and its end, in registration order.
///
/// Calls come from the threads that start and end spans, so they must not block:
/// `on_start` and `on_end` run inside `start` and `end`.
pub trait SpanProcessor: Send + Sync + fmt::Debug + 'static {
    /// Called when a recording span starts; may change it (add attributes, say).
    fn on_start(&self, _span: &mut SpanData, _parent: &Context) {}

    /// Whether [`on_start`](Self::on_start) does anything. Answered once, when the provider
    /// is built: when no processor needs it, a span start skips reading the whole current
    /// context for it. Processors that override `on_start` keep the default, `true`.
    fn needs_on_start(&self) -> bool {
        true
    }

    /// Whether [`on_end`](Self::on_end) would do anything with a span ending now. Asked only
    /// when a provider has several processors, each of which but the last is handed its own
    /// copy of the span: a processor that is idle (not attached to anything yet, say) spares
    /// the others that copy. The default is `true`.
    fn wants_ended_spans(&self) -> bool {
        true
    }

    /// Called when a recording span ends, with its final data. Unsampled spans reach here
    /// too; processors that export must skip them.
    fn on_end(&self, span: SpanData);

    /// Whether this processor has its own [`on_end_in_place`](Self::on_end_in_place), one
    /// that neither blocks nor calls back into spans. A provider whose processors all say so
    /// (asked once, when the provider is built) ends each span through them, straight out of
    /// the span's cell. The default is `false`.
    fn ends_in_place(&self) -> bool {
        false
    }

    /// How a span end reaches the processor: `span` is always `Some`. A processor that keeps
    /// the span takes it out, leaving `None`, and may move it straight to where it is kept,
    /// sparing a copy of the whole span; what it leaves is dropped. When every processor
    /// [`ends_in_place`](Self::ends_in_place), `span` is the span's own cell and its lock is
    /// held; otherwise the span was taken out of the cell first. The default takes the span
    /// and calls [`on_end`](Self::on_end).
    fn on_end_in_place(&self, span: &mut Option<SpanData>) {
        if let Some(span) = span.take() {
            self.on_end(span);
        }
    }

    /// Exports everything received so far, within `timeout`.
    fn force_flush(&self, timeout: Duration) -> Result<(), TraceError>;

    /// Flushes, then stops; later calls do nothing. Bounded by `timeout`.
    fn shutdown(&self, timeout: Duration) -> Result<(), TraceError>;

    /// Passes the provider's resource on to the exporter; called once, when the provider is
    /// built.
    fn set_resource(&self, _resource: &Resource) {}
}

/// A shared processor, so the caller can keep a handle (to read a batch processor's counts,
/// say) while the provider owns another.
impl<P: SpanProcessor> SpanProcessor for std::sync::Arc<P> {
    fn on_start(&self, span: &mut SpanData, parent: &Context) {
        (**self).on_start(span, parent);
    }

    fn needs_on_start(&self) -> bool {
        (**self).needs_on_start()
    }

    fn wants_ended_spans(&self) -> bool {
        (**self).wants_ended_spans()
    }

    fn on_end(&self, span: SpanData) {
        (**self).on_end(span);
    }

    fn ends_in_place(&self) -> bool {
        (**self).ends_in_place()
    }

    fn on_end_in_place(&self, span: &mut Option<SpanData>) {
        (**self).on_end_in_place(span);
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), TraceError> {
        (**self).force_flush(timeout)
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), TraceError> {
        (**self).shutdown(timeout)
    }

    fn set_resource(&self, resource: &Resource) {
        (**self).set_resource(resource);
    }
}

/// Exports each sampled span as it ends, on the thread that ends it. For tests and
/// debugging; use [`BatchSpanProcessor`](crate::BatchSpanProcessor) in production.
#[derive(Debug)]
pub struct SimpleSpanProcessor {
    exporter: Mutex<Box<dyn SpanExporter>>,
    shut_down: AtomicBool,
    /// Spans whose export failed. Written by `on_end` (any thread); read by `failed_spans`.
    failed: AtomicU64,
}

impl SimpleSpanProcessor {
    /// Exports through `exporter`.
    pub fn new(exporter: impl SpanExporter) -> Self {
        SimpleSpanProcessor {
            exporter: Mutex::new(Box::new(exporter)),
            shut_down: AtomicBool::new(false),
            failed: AtomicU64::new(0),
        }
    }

    /// How many spans the exporter failed to deliver.
    pub fn failed_spans(&self) -> u64 {
        // Relaxed: a statistic, ordered with nothing else.
        self.failed.load(Ordering::Relaxed)
    }
}

impl SpanProcessor for SimpleSpanProcessor {
    fn needs_on_start(&self) -> bool {
        false
    }

    fn on_end(&self, span: SpanData) {
        // Relaxed: a span ending concurrently with shutdown may go either way.
        if !span.span_context.is_sampled() || self.shut_down.load(Ordering::Relaxed) {
            return;
        }
        // The lock serialises exports, as the spec requires. This runs inside `Span::end` or
        // its drop, possibly while unwinding (a `#[traced]` function that panicked), where a
        // second panic would abort: an exporter's panic is caught and counted as a failure.
        // parking_lot's lock is not poisoned by it, and the exporter stays usable.
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            self.exporter.lock().export(std::slice::from_ref(&span))
        }));
        let failure = match result {
            Ok(Ok(())) => return,
            Ok(Err(error)) => format!("export failed: {error}"),
            Err(_) => "the exporter panicked".to_owned(),
        };
        if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
            diagnostic::report("simple span processor", format_args!("{failure}"));
        }
    }

    fn force_flush(&self, _timeout: Duration) -> Result<(), TraceError> {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(TraceError::AlreadyShutDown);
        }
        self.exporter.lock().force_flush().map_err(TraceError::from)
    }

    fn shutdown(&self, _timeout: Duration) -> Result<(), TraceError> {
        if self.shut_down.swap(true, Ordering::Relaxed) {
            return Err(TraceError::AlreadyShutDown);
        }
        self.exporter.lock().shutdown().map_err(TraceError::from)
    }

    fn set_resource(&self, resource: &Resource) {
        self.exporter.lock().set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ExportError, TracerProvider};

    #[derive(Debug)]
    struct PanickingExporter;

    impl SpanExporter for PanickingExporter {
        fn export(&mut self, _batch: &[SpanData]) -> Result<(), ExportError> {
            panic!("exporter bug");
        }
    }

    /// Records what reaches it; its answers to the two hooks are set per test.
    #[derive(Debug, Default)]
    struct Probe {
        needs_on_start: bool,
        wants_ended: AtomicBool,
        started: Mutex<Vec<(String, bool)>>,
        ended: Mutex<Vec<String>>,
    }

    impl SpanProcessor for Probe {
        fn on_start(&self, span: &mut SpanData, parent: &Context) {
            let parent_has_span = parent.span_context().is_some();
            self.started
                .lock()
                .push((span.name.to_string(), parent_has_span));
        }

        fn needs_on_start(&self) -> bool {
            self.needs_on_start
        }

        fn wants_ended_spans(&self) -> bool {
            self.wants_ended.load(Ordering::Relaxed)
        }

        fn on_end(&self, span: SpanData) {
            self.ended.lock().push(span.name.to_string());
        }

        fn force_flush(&self, _: Duration) -> Result<(), TraceError> {
            Ok(())
        }

        fn shutdown(&self, _: Duration) -> Result<(), TraceError> {
            Ok(())
        }
    }

    fn probe(needs_on_start: bool, wants_ended: bool) -> std::sync::Arc<Probe> {
        std::sync::Arc::new(Probe {
            needs_on_start,
            wants_ended: AtomicBool::new(wants_ended),
            ..Probe::default()
        })
    }

    #[test]
    fn on_start_runs_for_every_processor_once_one_needs_it() {
        let (quiet, needy) = (probe(false, true), probe(true, true));
        let provider = TracerProvider::builder()
            .with_span_processor(quiet.clone())
            .with_span_processor(needy.clone())
            .build();
        let tracer = provider.tracer("test");
        tracer.in_span("parent", |_| tracer.start("child").end());
        let expected = [("child".to_owned(), true), ("parent".to_owned(), false)];
        let sorted = |probe: &Probe| {
            let mut seen = probe.started.lock().clone();
            seen.sort();
            seen
        };
        assert_eq!(sorted(&needy), expected, "with the parent's context");
        assert_eq!(
            sorted(&quiet),
            expected,
            "not skipped for a processor that needs none"
        );
    }

    #[test]
    fn on_start_is_skipped_when_no_processor_needs_it() {
        let quiet = probe(false, true);
        let provider = TracerProvider::builder()
            .with_span_processor(quiet.clone())
            .build();
        provider.tracer("test").start("span").end();
        assert!(quiet.started.lock().is_empty());
        assert_eq!(*quiet.ended.lock(), ["span"], "on_end still runs");
    }

    #[test]
    fn processors_that_want_no_ended_spans_are_skipped_and_the_rest_get_each_span() {
        for wants in [
            [true, true, true],
            [false, true, true],
            [true, true, false],
            [false, false, false],
            [true, false, true],
        ] {
            let probes = wants.map(|w| probe(false, w));
            let mut builder = TracerProvider::builder();
            for probe in &probes {
                builder = builder.with_span_processor(probe.clone());
            }
            let provider = builder.build();
            let tracer = provider.tracer("test");
            tracer.start("first").end();
            probes[1].wants_ended.store(true, Ordering::Relaxed);
            tracer.start("second").end();
            for (i, (probe, wanted)) in probes.iter().zip(wants).enumerate() {
                let mut expected = Vec::new();
                if wanted || i == 1 {
                    if wanted {
                        expected.push("first");
                    }
                    expected.push("second");
                }
                assert_eq!(*probe.ended.lock(), expected, "{wants:?}, processor {i}");
            }
        }
    }

    #[test]
    fn an_exporter_panic_is_counted_not_propagated() {
        let processor = std::sync::Arc::new(SimpleSpanProcessor::new(PanickingExporter));
        let provider = TracerProvider::builder()
            .with_span_processor(processor.clone())
            .build();
        let tracer = provider.tracer("test");
        tracer.start("first").end();
        tracer.start("second").end();
        assert_eq!(processor.failed_spans(), 2);
    }
}
