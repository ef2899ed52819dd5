//! The tracing layer under the global default dispatcher (its own test binary, since that is
//! process state). Under the global default, `tracing` does not guard against re-entrance,
//! so this is where an exporter that itself emits tracing events could loop.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use telemetry_core::Resource;
use telemetry_logs::{
    BatchConfig, BatchLogProcessor, ExportError, InMemoryLogExporter, LogExporter, LogRecord,
    LoggerProvider, SimpleLogProcessor, TracingLayer,
};
use tracing_subscriber::layer::SubscriberExt;

/// An exporter whose internals log through `tracing`, as an HTTP client's would.
#[derive(Debug)]
struct TracingExporter {
    inner: InMemoryLogExporter,
    calls: Arc<Mutex<usize>>,
}

impl LogExporter for TracingExporter {
    fn export(&mut self, batch: &[LogRecord]) -> Result<(), ExportError> {
        *self.calls.lock() += 1;
        tracing::info!(batch = batch.len(), "exporting");
        self.inner.export(batch)
    }
}

#[test]
fn exporters_that_use_tracing_do_not_loop() {
    let simple_records = InMemoryLogExporter::new();
    let batch_records = InMemoryLogExporter::new();
    let simple_calls = Arc::new(Mutex::new(0));
    let batch_calls = Arc::new(Mutex::new(0));
    let provider = LoggerProvider::builder()
        .with_resource(Resource::empty())
        .with_processor(SimpleLogProcessor::new(TracingExporter {
            inner: simple_records.clone(),
            calls: Arc::clone(&simple_calls),
        }))
        .with_processor(
            BatchLogProcessor::with_config(
                TracingExporter {
                    inner: batch_records.clone(),
                    calls: Arc::clone(&batch_calls),
                },
                BatchConfig {
                    scheduled_delay: Duration::from_millis(5),
                    ..BatchConfig::default()
                },
            )
            .expect("batch processor"),
        )
        .build();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(TracingLayer::new(&provider)),
    )
    .expect("no other global subscriber");

    tracing::warn!("one");
    std::thread::spawn(|| tracing::warn!("two"))
        .join()
        .expect("thread");
    provider.force_flush().expect("flush");
    // A looping pipeline would keep exporting its own "exporting" events.
    std::thread::sleep(Duration::from_millis(50));
    provider.force_flush().expect("flush");

    let bodies = |e: &InMemoryLogExporter| {
        let mut bodies: Vec<String> = e.records().iter().map(|r| r.body.to_string()).collect();
        bodies.sort();
        bodies
    };
    assert_eq!(bodies(&simple_records), vec!["one", "two"]);
    assert_eq!(bodies(&batch_records), vec!["one", "two"]);
    assert_eq!(*simple_calls.lock(), 2);
    provider.shutdown().expect("shutdown");
}
