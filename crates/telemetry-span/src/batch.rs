//! The batch span processor: spans go into a lock-free ring buffer on the ending thread and
//! reach the exporter in batches on a worker thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use telemetry_batcher::{Batcher, BuildError, Counts, FlushError, Outcome, Sink};
use telemetry_core::env::{self, EnvSource, ProcessEnv};
use telemetry_core::{Resource, diagnostic};

use crate::error::{ExportError, ExportErrorKind, TraceError};
use crate::exporter::SpanExporter;
use crate::processor::SpanProcessor;
use crate::span_data::SpanData;

/// Settings of a [`BatchSpanProcessor`], with the `OTEL_BSP_*` defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// Spans held at most while waiting for export; more are dropped and counted
    /// (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048; from the environment at most [`MAX_QUEUE_SIZE`]).
    /// The queue is allocated up front, rounded up to a power of two.
    pub max_queue_size: usize,
    /// Most spans per export (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, 512; at most the queue size).
    pub max_export_batch_size: usize,
    /// Longest a span waits before its batch goes out (`OTEL_BSP_SCHEDULE_DELAY`, 5000 ms).
    pub scheduled_delay: Duration,
    /// How long one export may take, handed to the exporter
    /// ([`SpanExporter::set_export_timeout`]), and the deadline for draining the queue when
    /// the processor is dropped (`OTEL_BSP_EXPORT_TIMEOUT`, 30000 ms; zero: no limit).
    /// An export that fails with a transient error after spending it is tried again later,
    /// `scheduled_delay` after the failure, doubling up to 30 s.
    pub export_timeout: Duration,
}

/// The largest queue an `OTEL_BSP_MAX_QUEUE_SIZE` (or `OTEL_BLRP_...`) value may ask for:
/// the queue is allocated when the processor starts, so a typo must not reserve gigabytes.
/// About 230 MB of slots for spans; set a larger one in code if it is really meant.
pub const MAX_QUEUE_SIZE: usize = 1 << 20;

/// The longest wait between two tries of a batch that failed with a transient error.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_queue_size: 2048,
            max_export_batch_size: 512,
            scheduled_delay: Duration::from_millis(5000),
            export_timeout: Duration::from_millis(30000),
        }
    }
}

impl BatchConfig {
    /// The defaults overridden by `OTEL_BSP_*` in the process environment.
    pub fn from_env() -> Self {
        Self::from_env_source(&ProcessEnv)
    }

    /// [`BatchConfig::from_env`] reading variables from `env`, with `prefix` `OTEL_BSP`
    /// (spans) or `OTEL_BLRP` (log records). Zero sizes are ignored; a batch size larger
    /// than the queue is cut to the queue size.
    pub fn from_env_source(env: &(impl EnvSource + ?Sized)) -> Self {
        Self::from_env_with_prefix(env, "OTEL_BSP", BatchConfig::default())
    }

    /// Reads `{prefix}_MAX_QUEUE_SIZE`, `{prefix}_MAX_EXPORT_BATCH_SIZE`,
    /// `{prefix}_SCHEDULE_DELAY` and `{prefix}_EXPORT_TIMEOUT` over `defaults`.
    pub fn from_env_with_prefix(
        env: &(impl EnvSource + ?Sized),
        prefix: &str,
        defaults: BatchConfig,
    ) -> Self {
        let size = |name: &str| {
            env::read_u64(env, &format!("{prefix}_{name}"))
                .filter(|v| *v > 0)
                .and_then(|v| usize::try_from(v).ok())
        };
        let mut config = BatchConfig {
            max_queue_size: size("MAX_QUEUE_SIZE").unwrap_or(defaults.max_queue_size),
            max_export_batch_size: size("MAX_EXPORT_BATCH_SIZE")
                .unwrap_or(defaults.max_export_batch_size),
            scheduled_delay: env::read_millis(env, &format!("{prefix}_SCHEDULE_DELAY"))
                .unwrap_or(defaults.scheduled_delay),
            export_timeout: env::read_millis(env, &format!("{prefix}_EXPORT_TIMEOUT"))
                .unwrap_or(defaults.export_timeout),
        };
        if config.max_queue_size > MAX_QUEUE_SIZE {
            diagnostic::report(
                "batch processor",
                format_args!(
                    "{prefix}_MAX_QUEUE_SIZE {} exceeds {MAX_QUEUE_SIZE}; using {MAX_QUEUE_SIZE}",
                    config.max_queue_size
                ),
            );
            config.max_queue_size = MAX_QUEUE_SIZE;
        }
        if config.max_export_batch_size > config.max_queue_size {
            diagnostic::report(
                "batch processor",
                format_args!(
                    "{prefix}_MAX_EXPORT_BATCH_SIZE {} exceeds the queue size {}; using the queue size",
                    config.max_export_batch_size, config.max_queue_size
                ),
            );
            config.max_export_batch_size = config.max_queue_size;
        }
        config
    }
}

/// Ends spans into a lock-free ring buffer without blocking the ending thread; a worker
/// thread exports them in batches of up to `max_export_batch_size`, at least every
/// `scheduled_delay`. A full queue drops the new span and counts it.
///
/// # When the collector is down
///
/// A batch the exporter fails to deliver with a transient error
/// ([`ExportErrorKind::is_transient`]: a timeout, an unreachable collector) is kept at the head
/// of the queue and tried again, first `scheduled_delay` after the failure, then at doubling
/// intervals up to 30 s, while ending spans go on filling the queue. So no span is lost to an
/// outage as long as the queue holds what ends during it; once it is full, new spans are
/// dropped and counted in `queue.dropped_full`. Memory stays bounded: `max_queue_size` spans in
/// the queue plus the one kept batch of at most `max_export_batch_size`. A batch rejected for
/// good ([`ExportErrorKind::Rejected`], or an exporter already shut down) is dropped at once
/// and counted in `queue.dropped_export_failed` (see [`BatchCounts`]).
///
/// [`force_flush`](SpanProcessor::force_flush) during an outage tries once and returns
/// [`TraceError::Export`] (kind [`Unavailable`](ExportErrorKind::Unavailable)), keeping the
/// spans. [`shutdown`](SpanProcessor::shutdown) gives each remaining batch one try and, after
/// the first that fails, drops and counts the rest rather than wait out the outage; it reports
/// the losses, and [`counts`](BatchSpanProcessor::counts) has them.
#[derive(Debug)]
pub struct BatchSpanProcessor {
    batcher: Batcher<SpanData>,
    resource: Arc<OnceLock<Resource>>,
    /// Failed tries of batches kept for a retry. Written by the worker; read anywhere.
    retries: Arc<AtomicU64>,
    config: BatchConfig,
}

struct ExportSink {
    exporter: Box<dyn SpanExporter>,
    resource: Arc<OnceLock<Resource>>,
    resource_sent: bool,
    retries: Arc<AtomicU64>,
    /// Whether a permanent failure has been reported (later ones are only counted).
    reported_failure: bool,
}

impl ExportSink {
    fn send_resource(&mut self) {
        if !self.resource_sent
            && let Some(resource) = self.resource.get()
        {
            self.exporter.set_resource(resource);
            self.resource_sent = true;
        }
    }
}

/// Returns the attribute buffers of a batch the worker is done with to the producers' pool
/// (see `recycle`), so they are reused on the threads that make spans instead of freed here.
fn give_back_attributes(batch: &mut [SpanData]) {
    for span in batch {
        // Most spans have no attributes, and no buffer to return.
        if span.attributes.capacity() != 0 {
            crate::recycle::give_back(std::mem::take(&mut span.attributes));
        }
    }
}

impl Sink<SpanData> for ExportSink {
    fn export(&mut self, batch: &mut Vec<SpanData>) -> Outcome {
        self.send_resource();
        let Err(error) = self.exporter.export(batch) else {
            give_back_attributes(batch);
            return Outcome::Exported;
        };
        if error.kind().is_transient() {
            // Relaxed: a statistic.
            if self.retries.fetch_add(1, Ordering::Relaxed) == 0 {
                diagnostic::report(
                    "batch span processor",
                    format_args!(
                        "export failed, keeping the batch to try again (reported once; totals \
                         at shutdown): {error}"
                    ),
                );
            }
            Outcome::Retry
        } else {
            if !self.reported_failure {
                self.reported_failure = true;
                diagnostic::report(
                    "batch span processor",
                    format_args!(
                        "export failed for good, dropping the batch (reported once; totals at \
                         shutdown): {error}"
                    ),
                );
            }
            give_back_attributes(batch);
            Outcome::Failed
        }
    }

    fn flush(&mut self) {
        if let Err(error) = self.exporter.force_flush() {
            diagnostic::report(
                "batch span processor",
                format_args!("exporter flush failed: {error}"),
            );
        }
    }

    fn shutdown(&mut self) {
        if let Err(error) = self.exporter.shutdown() {
            diagnostic::report(
                "batch span processor",
                format_args!("exporter shutdown failed: {error}"),
            );
        }
    }
}

/// What has passed through a [`BatchSpanProcessor`].
///
/// Every span ended while sampled is in exactly one of `queue.exported`, `queue.queued`
/// (including a batch kept for a retry) or one of the `queue.dropped_*` causes: the queue was
/// full (`dropped_full`), the exporter panicked (`dropped_sink_panic`), or the exporter could
/// not deliver it (`dropped_export_failed`: rejected for good, or still failing at shutdown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BatchCounts {
    /// The queue's counts: pushed, exported, dropped by cause, queued.
    pub queue: Counts,
    /// Spans the exporter failed to deliver and that were dropped: the same number as
    /// `queue.dropped_export_failed` (and so included in `queue.dropped()`). A batch that
    /// failed with a transient error and was delivered on a later try is not in it.
    pub export_failed: u64,
    /// Tries that failed with a transient error, each keeping its batch for another try.
    pub retries: u64,
}

fn flush_error(error: FlushError) -> TraceError {
    match error {
        FlushError::Timeout { timeout } => TraceError::Timeout(timeout),
        FlushError::ShutDown => TraceError::AlreadyShutDown,
        // Nothing is lost: the spans stay queued and are tried again.
        undelivered @ FlushError::Undelivered { .. } => TraceError::Export(
            ExportError::with_source(ExportErrorKind::Unavailable, undelivered),
        ),
        _ => TraceError::WorkerDied,
    }
}

impl BatchSpanProcessor {
    /// A processor with the `OTEL_BSP_*` settings of the process environment.
    pub fn new(exporter: impl SpanExporter) -> Result<Self, BuildError> {
        Self::with_config(exporter, BatchConfig::from_env())
    }

    /// A processor with explicit settings.
    pub fn with_config(
        exporter: impl SpanExporter,
        config: BatchConfig,
    ) -> Result<Self, BuildError> {
        let resource = Arc::new(OnceLock::new());
        let retries = Arc::new(AtomicU64::new(0));
        // A zero timeout means no limit (the spec's rule for every OTEL_* timeout).
        let export_timeout = Some(config.export_timeout).filter(|t| !t.is_zero());
        let mut exporter: Box<dyn SpanExporter> = Box::new(exporter);
        exporter.set_export_timeout(export_timeout);
        let sink = ExportSink {
            exporter,
            resource: Arc::clone(&resource),
            resource_sent: false,
            retries: Arc::clone(&retries),
            reported_failure: false,
        };
        let batcher = Batcher::builder()
            .capacity(config.max_queue_size)
            .max_batch(config.max_export_batch_size)
            .max_delay(config.scheduled_delay)
            .max_retry_delay(MAX_RETRY_DELAY)
            // Dropping the processor waits for the queue to drain, as shutdown does: at most
            // the export timeout, or for as long as it takes when there is none.
            .drop_timeout(export_timeout.unwrap_or(Duration::MAX))
            .thread_name("telemetry-span-export")
            .build(sink)?;
        Ok(BatchSpanProcessor {
            batcher,
            resource,
            retries,
            config,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> BatchConfig {
        self.config
    }

    /// What has been queued, exported and dropped so far.
    pub fn counts(&self) -> BatchCounts {
        let queue = self.batcher.counts();
        BatchCounts {
            queue,
            export_failed: queue.dropped_export_failed,
            retries: self.retries.load(Ordering::Relaxed),
        }
    }
}

impl SpanProcessor for BatchSpanProcessor {
    fn needs_on_start(&self) -> bool {
        false
    }

    #[inline]
    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            // Err only after shutdown, when ending spans are ignored as the spec says.
            let _ = self.batcher.push(span);
        }
    }

    fn ends_in_place(&self) -> bool {
        true
    }

    #[inline]
    fn on_end_in_place(&self, span: &mut Option<SpanData>) {
        if span.as_ref().is_some_and(|s| s.span_context.is_sampled()) {
            // As in `on_end`; a span refused after shutdown stays in `span` and is dropped.
            let _ = self.batcher.push_from(span);
        }
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), TraceError> {
        self.batcher.force_flush(timeout).map_err(flush_error)
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), TraceError> {
        let result = self.batcher.shutdown(timeout);
        let counts = self.counts();
        let queue = counts.queue;
        if let Err(FlushError::Timeout { .. }) = result {
            diagnostic::report(
                "batch span processor",
                format_args!(
                    "shutdown did not finish within {timeout:?}: {} spans still queued, {} dropped \
                     so far",
                    queue.queued,
                    queue.dropped()
                ),
            );
        } else if queue.dropped() > 0 || counts.retries > 0 {
            diagnostic::report(
                "batch span processor",
                format_args!(
                    "shut down after {} spans: {} exported, {} dropped (queue full {}, exporter \
                     panic {}, export failed {}); {} failed tries kept for a retry",
                    queue.pushed,
                    queue.exported,
                    queue.dropped(),
                    queue.dropped_full,
                    queue.dropped_sink_panic,
                    queue.dropped_export_failed,
                    counts.retries
                ),
            );
        }
        result.map(|_| ()).map_err(flush_error)
    }

    fn set_resource(&self, resource: &Resource) {
        let _ = self.resource.set(resource.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_environment() {
        assert_eq!(
            BatchConfig::from_env_source(&[] as &[(&str, &str)]),
            BatchConfig::default()
        );
        let env = [
            ("OTEL_BSP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "500"),
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "-1"),
        ];
        let config = BatchConfig::from_env_source(&env);
        assert_eq!(config.max_queue_size, 100);
        assert_eq!(config.max_export_batch_size, 100, "cut to the queue size");
        assert_eq!(config.scheduled_delay, Duration::from_millis(250));
        assert_eq!(
            config.export_timeout,
            Duration::from_millis(30000),
            "a bad value is ignored"
        );
        let zero = BatchConfig::from_env_source(&[("OTEL_BSP_MAX_QUEUE_SIZE", "0")]);
        assert_eq!(zero.max_queue_size, 2048);
        let huge = BatchConfig::from_env_source(&[("OTEL_BSP_MAX_QUEUE_SIZE", "1073741824")]);
        assert_eq!(huge.max_queue_size, MAX_QUEUE_SIZE);
    }

    /// Remembers the export timeout its processor gave it.
    #[derive(Debug)]
    struct TimeoutProbe(Arc<parking_lot::Mutex<Option<Option<Duration>>>>);

    impl SpanExporter for TimeoutProbe {
        fn export(&mut self, _batch: &[SpanData]) -> Result<(), ExportError> {
            Ok(())
        }

        fn set_export_timeout(&mut self, timeout: Option<Duration>) {
            *self.0.lock() = Some(timeout);
        }
    }

    #[test]
    fn the_exporter_is_given_the_export_timeout_and_zero_means_none() -> Result<(), BuildError> {
        for (millis, expected) in [(250, Some(Duration::from_millis(250))), (0, None)] {
            let seen = Arc::new(parking_lot::Mutex::new(None));
            let config = BatchConfig {
                export_timeout: Duration::from_millis(millis),
                ..BatchConfig::default()
            };
            let processor = BatchSpanProcessor::with_config(TimeoutProbe(seen.clone()), config)?;
            assert_eq!(*seen.lock(), Some(expected), "{millis} ms");
            // With no limit, dropping the processor still drains and returns.
            drop(processor);
        }
        Ok(())
    }
}
