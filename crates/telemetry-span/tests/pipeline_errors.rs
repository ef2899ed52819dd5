//! What a caller of `TracerProvider::force_flush` and `shutdown` gets back when exporters
//! fail: every processor's error, in order, with its cause reachable through `source()`.

use std::error::Error as StdError;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use telemetry_core::Resource;
use telemetry_span::{
    ExportError, ExportErrorKind, Sampler, SpanData, SpanExporter, TraceError, TracerProvider,
};

/// Fails its flush and shutdown with `kind` (and, if given, an I/O cause); counts shutdowns.
#[derive(Debug)]
struct FailingExporter {
    kind: ExportErrorKind,
    cause: Option<&'static str>,
    shutdowns: Arc<AtomicUsize>,
}

impl FailingExporter {
    fn new(kind: ExportErrorKind, cause: Option<&'static str>) -> (Self, Arc<AtomicUsize>) {
        let shutdowns = Arc::new(AtomicUsize::new(0));
        let exporter = FailingExporter {
            kind,
            cause,
            shutdowns: Arc::clone(&shutdowns),
        };
        (exporter, shutdowns)
    }

    fn error(&self) -> ExportError {
        match self.cause {
            Some(cause) => ExportError::with_source(self.kind, io::Error::other(cause)),
            None => ExportError::new(self.kind),
        }
    }
}

impl SpanExporter for FailingExporter {
    fn export(&mut self, _batch: &[SpanData]) -> Result<(), ExportError> {
        Ok(())
    }

    fn force_flush(&mut self) -> Result<(), ExportError> {
        Err(self.error())
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shutdowns.fetch_add(1, Ordering::Relaxed);
        Err(self.error())
    }
}

fn provider(exporters: Vec<FailingExporter>) -> TracerProvider {
    let mut builder = TracerProvider::builder()
        .with_exact_resource(Resource::builder().with_service_name("test").build())
        .with_sampler(Sampler::AlwaysOn);
    for exporter in exporters {
        builder = builder.with_simple_exporter(exporter);
    }
    builder.build()
}

#[test]
fn every_failing_processor_is_reported_in_order_with_its_cause() {
    let (rejecting, rejecting_shutdowns) =
        FailingExporter::new(ExportErrorKind::Rejected, Some("disk full"));
    let (closed, closed_shutdowns) = FailingExporter::new(ExportErrorKind::ShutDown, None);
    let provider = provider(vec![rejecting, closed]);

    let Err(TraceError::Multiple(errors)) = provider.shutdown() else {
        panic!("two failing processors make a Multiple error");
    };
    // Both exporters were shut down: the first failure does not stop the others.
    assert_eq!(rejecting_shutdowns.load(Ordering::Relaxed), 1);
    assert_eq!(closed_shutdowns.load(Ordering::Relaxed), 1);
    let kinds: Vec<_> = errors
        .iter()
        .map(|error| match error {
            TraceError::Export(export) => export.kind(),
            other => panic!("not an export error: {other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [ExportErrorKind::Rejected, ExportErrorKind::ShutDown]
    );

    // The cause chain reaches the exporter's own error.
    let export = errors[0].source().expect("an export error has a source");
    assert_eq!(
        export.to_string(),
        "the destination rejected the data: disk full"
    );
    let io = export.source().expect("the I/O cause is kept");
    assert_eq!(io.to_string(), "disk full");
    assert!(errors[1].source().and_then(StdError::source).is_none());

    assert_eq!(
        TraceError::Multiple(errors).to_string(),
        "several processors failed: export failed: the destination rejected the data: disk \
         full; export failed: the exporter is shut down"
    );
}

#[test]
fn one_failing_processor_is_reported_alone() {
    let (unavailable, _) = FailingExporter::new(ExportErrorKind::Unavailable, None);
    let provider = provider(vec![unavailable]);
    match provider.force_flush() {
        Err(TraceError::Export(error)) => {
            assert_eq!(error.kind(), ExportErrorKind::Unavailable);
            assert!(error.kind().is_transient());
        }
        other => panic!("expected the exporter's error, got {other:?}"),
    }
    let error = provider.force_flush().expect_err("still failing");
    assert_eq!(
        error.to_string(),
        "export failed: the destination is unavailable"
    );
}

#[test]
fn a_shut_down_provider_refuses_flush_and_a_second_shutdown() {
    let (exporter, shutdowns) = FailingExporter::new(ExportErrorKind::Timeout, None);
    let provider = provider(vec![exporter]);
    assert!(matches!(provider.shutdown(), Err(TraceError::Export(_))));

    let again = provider
        .shutdown()
        .expect_err("a second shutdown is an error");
    assert!(matches!(again, TraceError::AlreadyShutDown));
    assert_eq!(again.to_string(), "already shut down");
    assert!(again.source().is_none());
    assert!(matches!(
        provider.force_flush(),
        Err(TraceError::AlreadyShutDown)
    ));
    // The exporter was not asked to shut down twice.
    assert_eq!(shutdowns.load(Ordering::Relaxed), 1);
}

#[test]
fn timeouts_and_dead_workers_say_what_happened() {
    let timeout = TraceError::Timeout(std::time::Duration::from_millis(1500));
    assert_eq!(timeout.to_string(), "not finished within 1.5s");
    assert_eq!(
        TraceError::WorkerDied.to_string(),
        "the export worker thread died"
    );
    let from: TraceError = ExportError::new(ExportErrorKind::Timeout).into();
    assert_eq!(from.to_string(), "export failed: the export timed out");
}
