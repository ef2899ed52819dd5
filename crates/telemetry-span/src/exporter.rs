//! Where finished spans go: the exporter trait and an in-memory exporter for tests.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use telemetry_core::Resource;

use crate::error::{ExportError, ExportErrorKind};
use crate::span_data::SpanData;

/// Sends batches of finished, sampled spans somewhere.
///
/// Processors never call `export` concurrently, so it takes `&mut self`. Retries and the
/// per-export deadline are the exporter's job.
pub trait SpanExporter: Send + fmt::Debug + 'static {
    /// Delivers one batch.
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError>;

    /// Delivers whatever the exporter itself buffers. Nothing by default.
    fn force_flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Releases resources; later exports fail. Nothing by default.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Tells the exporter which resource produced the spans; called before the first export.
    fn set_resource(&mut self, _resource: &Resource) {}

    /// Tells the exporter how long one [`export`](Self::export) may take, retries included
    /// (`None`: no limit); a batch processor calls it once, before the first export, with its
    /// `export_timeout` (`OTEL_BSP_EXPORT_TIMEOUT`, where 0 means no limit). An exporter that
    /// waits on anything (a network, a disk) must give up, and report a timeout, when it
    /// passes: a hung export would otherwise stall the worker while the queue fills and
    /// drops. Ignored by default, for exporters that never wait.
    fn set_export_timeout(&mut self, _timeout: Option<Duration>) {}
}

/// Keeps exported spans in memory, for tests. Clones share the same storage.
#[derive(Clone, Default)]
pub struct InMemorySpanExporter {
    shared: Arc<Mutex<InMemoryState>>,
}

#[derive(Default)]
struct InMemoryState {
    spans: Vec<SpanData>,
    resource: Option<Resource>,
    shut_down: bool,
}

impl InMemorySpanExporter {
    /// An empty exporter.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of every span exported so far, in export order.
    pub fn finished_spans(&self) -> Vec<SpanData> {
        self.shared.lock().spans.clone()
    }

    /// Forgets the spans exported so far.
    pub fn reset(&self) {
        self.shared.lock().spans.clear();
    }

    /// The resource the pipeline reported, if any.
    pub fn resource(&self) -> Option<Resource> {
        self.shared.lock().resource.clone()
    }
}

impl fmt::Debug for InMemorySpanExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InMemorySpanExporter")
            .field("spans", &self.shared.lock().spans.len())
            .finish()
    }
}

impl SpanExporter for InMemorySpanExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        let mut state = self.shared.lock();
        if state.shut_down {
            return Err(ExportError::new(ExportErrorKind::ShutDown));
        }
        state.spans.extend_from_slice(batch);
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
