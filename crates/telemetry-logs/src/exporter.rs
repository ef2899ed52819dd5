//! Where log records go: the exporter trait and an in-memory exporter for tests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use telemetry_core::Resource;

use crate::error::{ExportError, ExportErrorKind};
use crate::record::LogRecord;

/// Sends batches of emitted log records somewhere (OTLP, the dashboard, a file).
///
/// Processors never call `export` concurrently, so it takes `&mut self`; they call it with
/// log emission suppressed on the calling thread (see [`SuppressGuard`](crate::SuppressGuard)),
/// so libraries the exporter uses may log without feeding records back into the pipeline.
/// Retries and the per-export deadline are the exporter's job.
pub trait LogExporter: Send + fmt::Debug + 'static {
    /// Delivers one batch.
    fn export(&mut self, batch: &[LogRecord]) -> Result<(), ExportError>;

    /// Delivers whatever the exporter itself buffers. Nothing by default.
    fn force_flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Releases resources; later exports fail. Nothing by default.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Tells the exporter which resource produced the records; called before the first
    /// export.
    fn set_resource(&mut self, _resource: &Resource) {}

    /// Tells the exporter how long one export may take, retries included (`None`: no
    /// limit); a batch processor calls it once, before the first export, with its
    /// `export_timeout` (`OTEL_BLRP_EXPORT_TIMEOUT`, where 0 means no limit). An exporter
    /// that waits on anything must give up, and report a timeout, when it passes: a hung
    /// export would stall the worker while the queue fills and drops. Ignored by default.
    fn set_export_timeout(&mut self, _timeout: Option<Duration>) {}
}

/// Keeps exported records in memory, for tests. Clones share the same storage.
#[derive(Clone, Default)]
pub struct InMemoryLogExporter {
    shared: Arc<Mutex<InMemoryState>>,
}

#[derive(Default)]
struct InMemoryState {
    records: Vec<LogRecord>,
    resource: Option<Resource>,
    exports: usize,
    shut_down: bool,
}

impl InMemoryLogExporter {
    /// An empty exporter.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every record exported so far, in export order.
    pub fn records(&self) -> Vec<LogRecord> {
        self.shared.lock().records.clone()
    }

    /// How many batches were exported.
    pub fn export_calls(&self) -> usize {
        self.shared.lock().exports
    }

    /// Forgets the records exported so far.
    pub fn reset(&self) {
        self.shared.lock().records.clear();
    }

    /// The resource the pipeline reported, if any.
    pub fn resource(&self) -> Option<Resource> {
        self.shared.lock().resource.clone()
    }

    /// True once the pipeline shut the exporter down.
    pub fn is_shut_down(&self) -> bool {
        self.shared.lock().shut_down
    }
}

impl fmt::Debug for InMemoryLogExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemoryLogExporter")
            .field("records", &self.shared.lock().records.len())
            .finish()
    }
}

impl LogExporter for InMemoryLogExporter {
    fn export(&mut self, batch: &[LogRecord]) -> Result<(), ExportError> {
        let mut state = self.shared.lock();
        if state.shut_down {
            return Err(ExportError::new(ExportErrorKind::ShutDown));
        }
        state.records.extend_from_slice(batch);
        state.exports += 1;
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shared.lock().shut_down = true;
        Ok(())
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.shared.lock().resource = Some(resource.clone());
    }
}
