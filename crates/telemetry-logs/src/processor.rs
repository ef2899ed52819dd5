//! Log record processors: hooks that see every emitted record, in registration order, and
//! feed exporters.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use telemetry_core::{InstrumentationScope, Resource, diagnostic};

use crate::error::LogError;
use crate::exporter::LogExporter;
use crate::record::LogRecord;
use crate::severity::Severity;
use crate::suppress::SuppressGuard;

/// Receives every emitted log record, in the order processors were added.
///
/// Calls come from the threads that emit, inside [`Logger::emit`](crate::Logger::emit), so
/// they must not block. A processor may change the record; later processors see the change.
/// The last processor receives the record by value through [`emit_owned`](Self::emit_owned),
/// so a pipeline with one exporting processor never copies a record.
pub trait LogProcessor: Send + Sync + fmt::Debug + 'static {
    /// Called for a record while more processors follow; may change it. A processor that
    /// keeps the record must clone it.
    fn emit(&self, record: &mut LogRecord);

    /// Called instead of [`emit`](Self::emit) when this is the last processor: it may keep
    /// the record without cloning. Calls `emit` by default.
    fn emit_owned(&self, mut record: LogRecord) {
        self.emit(&mut record);
    }

    /// Whether a record of `severity` from `scope` would be used; lets callers skip building
    /// records nobody wants. True by default.
    fn enabled(&self, _severity: Severity, _scope: &InstrumentationScope) -> bool {
        true
    }

    /// Exports everything received so far, within `timeout`.
    fn force_flush(&self, timeout: Duration) -> Result<(), LogError>;

    /// Flushes, then stops; later calls do nothing. Bounded by `timeout`.
    fn shutdown(&self, timeout: Duration) -> Result<(), LogError>;

    /// Passes the provider's resource on to the exporter; called once, when the provider is
    /// built.
    fn set_resource(&self, _resource: &Resource) {}
}

/// A shared processor, so the caller can keep a handle (to read a batch processor's counts,
/// say) while the provider owns another.
impl<P: LogProcessor> LogProcessor for std::sync::Arc<P> {
    fn emit(&self, record: &mut LogRecord) {
        (**self).emit(record);
    }

    fn emit_owned(&self, record: LogRecord) {
        (**self).emit_owned(record);
    }

    fn enabled(&self, severity: Severity, scope: &InstrumentationScope) -> bool {
        (**self).enabled(severity, scope)
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), LogError> {
        (**self).force_flush(timeout)
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), LogError> {
        (**self).shutdown(timeout)
    }

    fn set_resource(&self, resource: &Resource) {
        (**self).set_resource(resource);
    }
}

/// Exports each record as it is emitted, on the emitting thread. For tests and debugging;
/// use [`BatchLogProcessor`](crate::BatchLogProcessor) in production.
#[derive(Debug)]
pub struct SimpleLogProcessor {
    exporter: Mutex<Box<dyn LogExporter>>,
    /// Set once by `shutdown`; read by every emit. Relaxed: a record emitted concurrently
    /// with shutdown may be exported or not.
    shut_down: AtomicBool,
    /// Records whose export failed. Written by `emit` (any thread); read by
    /// `failed_records`. Relaxed: a statistic, ordered with nothing else.
    failed: AtomicU64,
}

impl SimpleLogProcessor {
    /// Exports through `exporter`.
    pub fn new(exporter: impl LogExporter) -> Self {
        SimpleLogProcessor {
            exporter: Mutex::new(Box::new(exporter)),
            shut_down: AtomicBool::new(false),
            failed: AtomicU64::new(0),
        }
    }

    /// How many records the exporter failed to deliver.
    pub fn failed_records(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    fn export(&self, record: &LogRecord) {
        if self.shut_down.load(Ordering::Relaxed) {
            return;
        }
        let _suppress = SuppressGuard::new();
        // The lock serialises exports, as the spec requires.
        let result = self.exporter.lock().export(std::slice::from_ref(record));
        if let Err(error) = result
            && self.failed.fetch_add(1, Ordering::Relaxed) == 0
        {
            diagnostic::report(
                "simple log processor",
                format_args!("export failed (reported once): {error}"),
            );
        }
    }
}

impl LogProcessor for SimpleLogProcessor {
    fn emit(&self, record: &mut LogRecord) {
        self.export(record);
    }

    fn emit_owned(&self, record: LogRecord) {
        self.export(&record);
    }

    fn force_flush(&self, _timeout: Duration) -> Result<(), LogError> {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(LogError::AlreadyShutDown);
        }
        let _suppress = SuppressGuard::new();
        self.exporter.lock().force_flush().map_err(LogError::from)
    }

    fn shutdown(&self, _timeout: Duration) -> Result<(), LogError> {
        if self.shut_down.swap(true, Ordering::Relaxed) {
            return Err(LogError::AlreadyShutDown);
        }
        let _suppress = SuppressGuard::new();
        self.exporter.lock().shutdown().map_err(LogError::from)
    }

    fn set_resource(&self, resource: &Resource) {
        self.exporter.lock().set_resource(resource);
    }
}
