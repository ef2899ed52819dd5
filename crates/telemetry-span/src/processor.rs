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

    /// Called when a recording span ends, with its final data. Unsampled spans reach here
    /// too; processors that export must skip them.
    fn on_end(&self, span: SpanData);

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

    fn on_end(&self, span: SpanData) {
        (**self).on_end(span);
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
