//! The batch log record processor: records go into a lock-free ring buffer on the emitting
//! thread and reach the exporter in batches on a worker thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use telemetry_batcher::{Batcher, BuildError, Counts, FlushError, Outcome, Sink};
use telemetry_core::env::{self, EnvSource, ProcessEnv};
use telemetry_core::{Resource, diagnostic};

use crate::error::{ExportError, ExportErrorKind, LogError};
use crate::exporter::LogExporter;
use crate::processor::LogProcessor;
use crate::record::LogRecord;
use crate::suppress::SuppressGuard;

/// The largest queue an `OTEL_BLRP_MAX_QUEUE_SIZE` value may ask for: 2^20 records. The
/// ring is allocated up front, so a mistyped value must not become gigabytes (or an abort).
pub const MAX_QUEUE_SIZE: usize = 1 << 20;

/// Settings of a [`BatchLogProcessor`], with the `OTEL_BLRP_*` defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// Records held at most while waiting for export; more are dropped and counted
    /// (`OTEL_BLRP_MAX_QUEUE_SIZE`, 2048).
    pub max_queue_size: usize,
    /// Most records per export (`OTEL_BLRP_MAX_EXPORT_BATCH_SIZE`, 512; at most the queue
    /// size).
    pub max_export_batch_size: usize,
    /// Longest a record waits before its batch goes out (`OTEL_BLRP_SCHEDULE_DELAY`,
    /// 1000 ms).
    pub scheduled_delay: Duration,
    /// Deadline for the final flush when the processor is dropped without a shutdown
    /// (`OTEL_BLRP_EXPORT_TIMEOUT`, 30000 ms). Each export is bounded by the exporter's own
    /// timeout; one that fails with a transient error is tried again later,
    /// `scheduled_delay` after the failure, doubling up to 30 s.
    pub export_timeout: Duration,
}

/// The longest wait between two tries of a batch that failed with a transient error.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_queue_size: 2048,
            max_export_batch_size: 512,
            scheduled_delay: Duration::from_millis(1000),
            export_timeout: Duration::from_millis(30000),
        }
    }
}

impl BatchConfig {
    /// The defaults overridden by `OTEL_BLRP_*` in the process environment.
    pub fn from_env() -> Self {
        Self::from_env_source(&ProcessEnv)
    }

    /// [`BatchConfig::from_env`] reading from `env`. Zero sizes and values that do not parse
    /// are reported and ignored; a batch size larger than the queue is cut to the queue size.
    pub fn from_env_source(env: &(impl EnvSource + ?Sized)) -> Self {
        let defaults = BatchConfig::default();
        let size = |name: &str| {
            env::read_u64(env, name)
                .filter(|v| *v > 0)
                .and_then(|v| usize::try_from(v).ok())
        };
        let mut config = BatchConfig {
            max_queue_size: size("OTEL_BLRP_MAX_QUEUE_SIZE").unwrap_or(defaults.max_queue_size),
            max_export_batch_size: size("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE")
                .unwrap_or(defaults.max_export_batch_size),
            scheduled_delay: env::read_millis(env, "OTEL_BLRP_SCHEDULE_DELAY")
                .unwrap_or(defaults.scheduled_delay),
            export_timeout: env::read_millis(env, "OTEL_BLRP_EXPORT_TIMEOUT")
                .unwrap_or(defaults.export_timeout),
        };
        if config.max_queue_size > MAX_QUEUE_SIZE {
            diagnostic::report(
                "batch log processor",
                format_args!(
                    "OTEL_BLRP_MAX_QUEUE_SIZE {} exceeds {MAX_QUEUE_SIZE}; using {MAX_QUEUE_SIZE}",
                    config.max_queue_size
                ),
            );
            config.max_queue_size = MAX_QUEUE_SIZE;
        }
        if config.max_export_batch_size > config.max_queue_size {
            diagnostic::report(
                "batch log processor",
                format_args!(
                    "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE {} exceeds the queue size {}; using the queue size",
                    config.max_export_batch_size, config.max_queue_size
                ),
            );
            config.max_export_batch_size = config.max_queue_size;
        }
        config
    }
}

/// Queues records in a lock-free ring buffer without blocking the emitting thread; a
/// worker thread exports them in batches of up to `max_export_batch_size`, at least every
/// `scheduled_delay`. A full queue drops the new record and counts it (see
/// [`BatchLogProcessor::counts`]); the first drop is reported at once and the totals at
/// shutdown.
///
/// # When the collector is down
///
/// A batch the exporter fails to deliver with a transient error
/// ([`ExportErrorKind::is_transient`]: a timeout, an unreachable collector) is kept at the
/// head of the queue and tried again, first `scheduled_delay` after the failure, then at
/// doubling intervals up to 30 s, while new records go on filling the queue. No record is lost
/// to an outage as long as the queue holds what arrives during it; once it is full, new records
/// are dropped and counted in `queue.dropped_full`. Memory stays bounded: `max_queue_size`
/// records in the queue plus the one kept batch of at most `max_export_batch_size`. A batch
/// rejected for good is dropped at once and counted in `queue.dropped_export_failed`.
///
/// [`force_flush`](LogProcessor::force_flush) during an outage tries once and returns
/// [`LogError::Export`] (kind [`Unavailable`](ExportErrorKind::Unavailable)), keeping the
/// records. [`shutdown`](LogProcessor::shutdown) gives each remaining batch one try and, after
/// the first that fails, drops and counts the rest rather than wait out the outage.
#[derive(Debug)]
pub struct BatchLogProcessor {
    batcher: Batcher<LogRecord>,
    resource: Arc<OnceLock<Resource>>,
    /// Failed tries of batches kept for a retry. Written by the worker; read by `counts` and
    /// `shutdown`. Relaxed: a statistic.
    retries: Arc<AtomicU64>,
    config: BatchConfig,
}

/// What has passed through a [`BatchLogProcessor`].
///
/// Every record emitted is in exactly one of `queue.exported`, `queue.queued` (including a
/// batch kept for a retry) or one of the `queue.dropped_*` causes: the queue was full
/// (`dropped_full`), the exporter panicked (`dropped_sink_panic`), or the exporter could not
/// deliver it (`dropped_export_failed`: rejected for good, or still failing at shutdown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BatchCounts {
    /// The queue's counts: pushed, exported, dropped by cause (`dropped_full` is the queue
    /// overflowing), still queued.
    pub queue: Counts,
    /// Records the exporter failed to deliver and that were dropped: the same number as
    /// `queue.dropped_export_failed` (and so included in `queue.dropped()`).
    pub export_failed: u64,
    /// Tries that failed with a transient error, each keeping its batch for another try.
    pub retries: u64,
}

struct ExportSink {
    exporter: Box<dyn LogExporter>,
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

impl Sink<LogRecord> for ExportSink {
    fn export(&mut self, batch: &mut Vec<LogRecord>) -> Outcome {
        let _suppress = SuppressGuard::new();
        self.send_resource();
        let Err(error) = self.exporter.export(batch) else {
            return Outcome::Exported;
        };
        if error.kind().is_transient() {
            if self.retries.fetch_add(1, Ordering::Relaxed) == 0 {
                diagnostic::report(
                    "batch log processor",
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
                    "batch log processor",
                    format_args!(
                        "export failed for good, dropping the batch (reported once; totals at \
                         shutdown): {error}"
                    ),
                );
            }
            Outcome::Failed
        }
    }

    fn flush(&mut self) {
        let _suppress = SuppressGuard::new();
        if let Err(error) = self.exporter.force_flush() {
            diagnostic::report(
                "batch log processor",
                format_args!("exporter flush failed: {error}"),
            );
        }
    }

    fn shutdown(&mut self) {
        let _suppress = SuppressGuard::new();
        if let Err(error) = self.exporter.shutdown() {
            diagnostic::report(
                "batch log processor",
                format_args!("exporter shutdown failed: {error}"),
            );
        }
    }
}

fn flush_error(error: FlushError) -> LogError {
    match error {
        FlushError::Timeout { timeout } => LogError::Timeout(timeout),
        FlushError::ShutDown => LogError::AlreadyShutDown,
        // Nothing is lost: the records stay queued and are tried again.
        undelivered @ FlushError::Undelivered { .. } => LogError::Export(ExportError::with_source(
            ExportErrorKind::Unavailable,
            undelivered,
        )),
        _ => LogError::WorkerDied,
    }
}

impl BatchLogProcessor {
    /// A processor with the `OTEL_BLRP_*` settings of the process environment.
    pub fn new(exporter: impl LogExporter) -> Result<Self, BuildError> {
        Self::with_config(exporter, BatchConfig::from_env())
    }

    /// A processor with explicit settings. Fails if a size is zero or the worker thread
    /// cannot be started.
    pub fn with_config(
        exporter: impl LogExporter,
        config: BatchConfig,
    ) -> Result<Self, BuildError> {
        let resource = Arc::new(OnceLock::new());
        let retries = Arc::new(AtomicU64::new(0));
        // A zero timeout means no limit (the spec's rule for every OTEL_* timeout).
        let export_timeout = Some(config.export_timeout).filter(|t| !t.is_zero());
        let mut exporter: Box<dyn LogExporter> = Box::new(exporter);
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
            .thread_name("telemetry-log-export")
            .build(sink)?;
        Ok(BatchLogProcessor {
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

impl LogProcessor for BatchLogProcessor {
    fn emit(&self, record: &mut LogRecord) {
        self.emit_owned(record.clone());
    }

    #[inline]
    fn emit_owned(&self, record: LogRecord) {
        // Err only after shutdown, when records are ignored as the spec says.
        let _ = self.batcher.push(record);
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), LogError> {
        self.batcher.force_flush(timeout).map_err(flush_error)
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), LogError> {
        let result = self.batcher.shutdown(timeout);
        let counts = self.counts();
        let queue = counts.queue;
        if let Err(FlushError::Timeout { .. }) = result {
            diagnostic::report(
                "batch log processor",
                format_args!(
                    "shutdown did not finish within {timeout:?}: {} records still queued, {} \
                     dropped so far",
                    queue.queued,
                    queue.dropped()
                ),
            );
        } else if queue.dropped() > 0 || counts.retries > 0 {
            diagnostic::report(
                "batch log processor",
                format_args!(
                    "shut down after {} records: {} exported, {} dropped (queue full {}, \
                     exporter panic {}, export failed {}); {} failed tries kept for a retry",
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
    use crate::error::ExportError;
    use std::sync::Mutex;
    use std::time::Instant;
    use telemetry_core::Value;

    /// A collector that fails its first `down_for` tries with `error`, then accepts,
    /// recording each delivered record's body.
    #[derive(Clone, Debug)]
    struct Collector(Arc<Mutex<CollectorState>>);

    #[derive(Debug)]
    struct CollectorState {
        down_for: usize,
        error: ExportErrorKind,
        tries: usize,
        delivered: Vec<i64>,
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

        fn tries(&self) -> usize {
            self.0.lock().map_or(0, |state| state.tries)
        }

        fn delivered(&self) -> Vec<i64> {
            self.0
                .lock()
                .map_or_else(|_| Vec::new(), |state| state.delivered.clone())
        }
    }

    impl LogExporter for Collector {
        fn export(&mut self, batch: &[LogRecord]) -> Result<(), ExportError> {
            let mut state = self
                .0
                .lock()
                .map_err(|_| ExportError::new(ExportErrorKind::Rejected))?;
            state.tries += 1;
            if state.tries <= state.down_for {
                return Err(ExportError::new(state.error));
            }
            state
                .delivered
                .extend(batch.iter().filter_map(|record| match record.body {
                    Value::I64(n) => Some(n),
                    _ => None,
                }));
            Ok(())
        }
    }

    fn pipeline(collector: &Collector, queue: usize, batch: usize) -> BatchLogProcessor {
        let config = BatchConfig {
            max_queue_size: queue,
            max_export_batch_size: batch,
            scheduled_delay: Duration::from_millis(10),
            export_timeout: Duration::from_secs(5),
        };
        BatchLogProcessor::with_config(collector.clone(), config).expect("a valid config")
    }

    fn emit(processor: &BatchLogProcessor, bodies: std::ops::Range<i64>) {
        for n in bodies {
            processor.emit_owned(LogRecord::default().with_body(Value::I64(n)));
        }
    }

    #[test]
    fn records_emitted_during_an_outage_are_exported_once_it_ends() -> Result<(), LogError> {
        let collector = Collector::new(2, ExportErrorKind::Unavailable);
        let processor = pipeline(&collector, 32, 4);
        emit(&processor, 0..20);
        let start = Instant::now();
        while processor.counts().queue.exported < 20 {
            assert!(start.elapsed() < Duration::from_secs(5), "not exported");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(collector.delivered(), (0..20).collect::<Vec<_>>());
        let counts = processor.counts();
        assert_eq!((counts.retries, counts.queue.dropped()), (2, 0));
        processor.shutdown(Duration::from_secs(5))
    }

    #[test]
    fn a_rejected_batch_is_counted_and_a_shutdown_during_an_outage_returns() -> Result<(), LogError>
    {
        let rejecting = Collector::new(usize::MAX, ExportErrorKind::Rejected);
        let processor = pipeline(&rejecting, 32, 8);
        emit(&processor, 0..3);
        processor.force_flush(Duration::from_secs(5))?;
        // However the three formed batches, none is tried again, even after a backoff would
        // have passed.
        let tries = rejecting.tries();
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(rejecting.tries(), tries, "not retried");
        let counts = processor.counts();
        assert_eq!((counts.export_failed, counts.retries), (3, 0));
        processor.shutdown(Duration::from_secs(5))?;

        let down = Collector::new(usize::MAX, ExportErrorKind::Timeout);
        let processor = pipeline(&down, 32, 8);
        emit(&processor, 0..12);
        let started = Instant::now();
        processor.shutdown(Duration::from_secs(2))?;
        assert!(started.elapsed() < Duration::from_secs(2));
        let queue = processor.counts().queue;
        assert_eq!(
            (
                queue.pushed,
                queue.exported,
                queue.dropped_export_failed,
                queue.queued
            ),
            (12, 0, 12, 0)
        );
        Ok(())
    }

    #[test]
    fn config_defaults_and_environment() {
        assert_eq!(
            BatchConfig::from_env_source(&[] as &[(&str, &str)]),
            BatchConfig::default()
        );
        assert_eq!(
            BatchConfig::default().scheduled_delay,
            Duration::from_millis(1000)
        );
        let env = [
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "100"),
            ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "500"),
            ("OTEL_BLRP_SCHEDULE_DELAY", "250"),
            ("OTEL_BLRP_EXPORT_TIMEOUT", "-1"),
            ("OTEL_BSP_SCHEDULE_DELAY", "7"),
        ];
        let config = BatchConfig::from_env_source(&env);
        assert_eq!(config.max_queue_size, 100);
        assert_eq!(config.max_export_batch_size, 100, "cut to the queue size");
        assert_eq!(config.scheduled_delay, Duration::from_millis(250));
        assert_eq!(config.export_timeout, Duration::from_millis(30000));
        let zero = BatchConfig::from_env_source(&[("OTEL_BLRP_MAX_QUEUE_SIZE", "0")]);
        assert_eq!(zero.max_queue_size, 2048);
        // A mistyped size must not allocate gigabytes up front (or abort the program).
        for huge in ["1000000000", "18446744073709551615"] {
            let capped = BatchConfig::from_env_source(&[("OTEL_BLRP_MAX_QUEUE_SIZE", huge)]);
            assert_eq!(capped.max_queue_size, MAX_QUEUE_SIZE, "{huge}");
        }
    }
}
