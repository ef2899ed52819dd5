//! A collector outage seen from the batch span processor: spans ended while the exporter
//! fails with a transient error are kept and exported once it recovers; only what the queue
//! cannot hold, or what is rejected for good, is dropped, and always counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use telemetry_core::SpanId;
use telemetry_span::{
    BatchConfig, BatchSpanProcessor, ExportError, ExportErrorKind, Sampler, SpanData, SpanExporter,
    TraceError, TracerProvider,
};

/// A stand-in for a collector: fails its first `down_for` tries with `error` (or every try
/// while `down_for` is `usize::MAX`), then accepts; records each delivered span id.
#[derive(Clone, Debug)]
struct Collector(Arc<Mutex<CollectorState>>);

#[derive(Debug)]
struct CollectorState {
    down_for: usize,
    error: ExportErrorKind,
    tries: usize,
    delivered: Vec<SpanId>,
}

impl Collector {
    fn new(down_for: usize, error: ExportErrorKind) -> Self {
        Collector(Arc::new(Mutex::new(CollectorState {
            down_for,
            error,
            tries: 0,
            delivered: Vec::new(),
        })))
    }

    /// Makes every later try succeed.
    fn come_back(&self) {
        let mut state = self.0.lock();
        state.down_for = state.tries;
    }

    fn tries(&self) -> usize {
        self.0.lock().tries
    }

    fn delivered(&self) -> Vec<SpanId> {
        self.0.lock().delivered.clone()
    }
}

impl SpanExporter for Collector {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        let mut state = self.0.lock();
        state.tries += 1;
        if state.tries <= state.down_for {
            return Err(ExportError::with_source(state.error, "connection refused"));
        }
        state
            .delivered
            .extend(batch.iter().map(|span| span.span_context.span_id()));
        Ok(())
    }
}

/// A pipeline of one batch processor on `collector`, with short delays.
fn pipeline(
    collector: &Collector,
    max_queue_size: usize,
    max_export_batch_size: usize,
    scheduled_delay: Duration,
) -> Result<(TracerProvider, Arc<BatchSpanProcessor>), Box<dyn std::error::Error>> {
    let config = BatchConfig {
        max_queue_size,
        max_export_batch_size,
        scheduled_delay,
        export_timeout: Duration::from_secs(5),
    };
    let processor = Arc::new(BatchSpanProcessor::with_config(collector.clone(), config)?);
    let provider = TracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(Arc::clone(&processor))
        .build();
    Ok((provider, processor))
}

/// Ends `n` spans and returns their ids, in the order they ended.
fn end_spans(provider: &TracerProvider, n: usize) -> Vec<SpanId> {
    let tracer = provider.tracer("outage");
    (0..n)
        .map(|_| {
            let span = tracer.start("during the outage");
            let id = span.span_context().span_id();
            span.end();
            id
        })
        .collect()
}

/// Waits until `done` holds, failing the test after five seconds.
fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn an_outage_loses_no_span_the_queue_holds() -> Result<(), Box<dyn std::error::Error>> {
    let collector = Collector::new(3, ExportErrorKind::Unavailable);
    let (provider, processor) = pipeline(&collector, 64, 8, Duration::from_millis(10))?;
    // 40 spans: fewer than the queue holds, so none may be lost however batches form.
    let ended = end_spans(&provider, 40);
    // The count moves after the exporter returns, so wait on it rather than on `delivered`.
    wait_until("every span exported", || {
        processor.counts().queue.exported >= 40
    });
    assert_eq!(collector.delivered(), ended, "each exported once, in order");
    let counts = processor.counts();
    assert_eq!(counts.retries, 3, "{counts:?}");
    assert_eq!(
        (
            counts.queue.pushed,
            counts.queue.exported,
            counts.queue.dropped()
        ),
        (40, 40, 0),
        "{counts:?}"
    );
    provider.shutdown_with_timeout(Duration::from_secs(5))?;
    assert_eq!(collector.delivered(), ended, "nothing sent twice");
    Ok(())
}

#[test]
fn an_outage_longer_than_the_queue_drops_only_the_overflow_and_counts_it()
-> Result<(), Box<dyn std::error::Error>> {
    let collector = Collector::new(usize::MAX, ExportErrorKind::Timeout);
    let (provider, processor) = pipeline(&collector, 16, 4, Duration::from_millis(10))?;
    let mut ended = end_spans(&provider, 4);
    wait_until("a first failed try", || collector.tries() > 0);
    ended.extend(end_spans(&provider, 60));
    let during = processor.counts();
    assert!(during.queue.dropped_full > 0, "{during:?}");
    assert_eq!(
        during.queue.dropped(),
        during.queue.dropped_full,
        "{during:?}"
    );
    collector.come_back();
    provider.shutdown_with_timeout(Duration::from_secs(5))?;

    let counts = processor.counts();
    let queue = counts.queue;
    assert_eq!(queue.pushed, 64, "{counts:?}");
    assert_eq!(queue.exported + queue.dropped(), 64, "{counts:?}");
    assert_eq!(
        queue.dropped(),
        queue.dropped_full,
        "only the overflow: {counts:?}"
    );
    assert_eq!(queue.queued, 0, "{counts:?}");
    // The queue was full when the collector came back: at least that much got through.
    assert!(queue.exported >= 16, "{counts:?}");
    let delivered = collector.delivered();
    assert_eq!(delivered.len() as u64, queue.exported);
    // Each delivered span is one that ended, once, in the order they ended.
    let positions: Vec<usize> = delivered
        .iter()
        .map(|id| ended.iter().position(|e| e == id).expect("an ended span"))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    Ok(())
}

#[test]
fn a_rejected_batch_is_dropped_and_counted_not_retried() -> Result<(), Box<dyn std::error::Error>> {
    let collector = Collector::new(usize::MAX, ExportErrorKind::Rejected);
    // Nothing goes out on its own: only the flush below exports.
    let (provider, processor) = pipeline(&collector, 64, 8, Duration::from_secs(3600))?;
    end_spans(&provider, 5);
    provider.force_flush_with_timeout(Duration::from_secs(5))?;
    // Long enough for a retry at the 10 ms floor to have happened, were there one.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(collector.tries(), 1);
    let counts = processor.counts();
    assert_eq!(counts.retries, 0);
    assert_eq!(counts.export_failed, 5);
    assert_eq!(
        (
            counts.queue.exported,
            counts.queue.dropped_export_failed,
            counts.queue.queued
        ),
        (0, 5, 0)
    );
    provider.shutdown_with_timeout(Duration::from_secs(5))?;
    Ok(())
}

#[test]
fn a_flush_during_an_outage_fails_but_keeps_the_spans() -> Result<(), Box<dyn std::error::Error>> {
    let collector = Collector::new(usize::MAX, ExportErrorKind::Unavailable);
    let (provider, processor) = pipeline(&collector, 64, 8, Duration::from_secs(3600))?;
    let ended = end_spans(&provider, 10);
    match provider.force_flush_with_timeout(Duration::from_secs(5)) {
        Err(TraceError::Export(error)) => {
            assert_eq!(error.kind(), ExportErrorKind::Unavailable);
        }
        other => panic!("expected an export error, got {other:?}"),
    }
    let counts = processor.counts();
    assert_eq!((counts.queue.queued, counts.queue.dropped()), (10, 0));
    collector.come_back();
    provider.force_flush_with_timeout(Duration::from_secs(5))?;
    assert_eq!(collector.delivered(), ended);
    provider.shutdown_with_timeout(Duration::from_secs(5))?;
    Ok(())
}

#[test]
fn a_shutdown_during_an_outage_returns_in_time_and_counts_the_losses()
-> Result<(), Box<dyn std::error::Error>> {
    let collector = Collector::new(usize::MAX, ExportErrorKind::Unavailable);
    let (provider, processor) = pipeline(&collector, 64, 8, Duration::from_secs(3600))?;
    end_spans(&provider, 20);
    let started = Instant::now();
    provider.shutdown_with_timeout(Duration::from_secs(2))?;
    assert!(started.elapsed() < Duration::from_secs(2));
    // 20 spans are three batches of 8. The worker may already have tried the first batch
    // when it filled (then it waits out the hour-long backoff); shutdown gives one more try
    // and drops the rest untried, so never a try per batch.
    let tries = collector.tries();
    assert!(
        (1..=2).contains(&tries),
        "{tries} tries: one by shutdown (and perhaps one when the first batch filled), then \
         the rest is dropped untried"
    );
    let counts = processor.counts();
    assert_eq!(counts.export_failed, 20);
    assert_eq!(
        (
            counts.queue.pushed,
            counts.queue.exported,
            counts.queue.dropped_export_failed,
            counts.queue.queued
        ),
        (20, 0, 20, 0)
    );
    Ok(())
}
