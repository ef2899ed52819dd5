//! The batch log record processor: records go into a lock-free ring buffer on the emitting
//! thread and reach the exporter in batches on a worker thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use telemetry_batcher::{Batcher, BuildError, Counts, FlushError, Sink};
use telemetry_core::env::{self, EnvSource, ProcessEnv};
use telemetry_core::{Resource, diagnostic};

use crate::error::LogError;
use crate::exporter::LogExporter;
use crate::processor::LogProcessor;
use crate::record::LogRecord;
use crate::suppress::SuppressGuard;

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
    /// timeout.
    pub export_timeout: Duration,
}

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
#[derive(Debug)]
pub struct BatchLogProcessor {
    batcher: Batcher<LogRecord>,
    resource: Arc<OnceLock<Resource>>,
    /// Records in batches the exporter failed to deliver. Written by the worker; read by
    /// `counts` and `shutdown`. Relaxed: a statistic.
    failed: Arc<AtomicU64>,
    config: BatchConfig,
}

/// What has passed through a [`BatchLogProcessor`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BatchCounts {
    /// The queue's counts: pushed, exported, dropped by cause (`dropped_full` is the queue
    /// overflowing), still queued.
    pub queue: Counts,
    /// Records the exporter failed to deliver (included in `queue.exported`, which counts
    /// what reached the exporter).
    pub export_failed: u64,
}

struct ExportSink {
    exporter: Box<dyn LogExporter>,
    resource: Arc<OnceLock<Resource>>,
    resource_sent: bool,
    failed: Arc<AtomicU64>,
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
    fn export(&mut self, batch: &mut Vec<LogRecord>) {
        let _suppress = SuppressGuard::new();
        self.send_resource();
        if let Err(error) = self.exporter.export(batch)
            && self.failed.fetch_add(batch.len() as u64, Ordering::Relaxed) == 0
        {
            diagnostic::report(
                "batch log processor",
                format_args!("export failed (reported once; totals at shutdown): {error}"),
            );
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
        let failed = Arc::new(AtomicU64::new(0));
        // A zero timeout means no limit (the spec's rule for every OTEL_* timeout).
        let export_timeout = Some(config.export_timeout).filter(|t| !t.is_zero());
        let mut exporter: Box<dyn LogExporter> = Box::new(exporter);
        exporter.set_export_timeout(export_timeout);
        let sink = ExportSink {
            exporter,
            resource: Arc::clone(&resource),
            resource_sent: false,
            failed: Arc::clone(&failed),
        };
        let batcher = Batcher::builder()
            .capacity(config.max_queue_size)
            .max_batch(config.max_export_batch_size)
            .max_delay(config.scheduled_delay)
            // Dropping the processor waits for the queue to drain, as shutdown does: at most
            // the export timeout, or for as long as it takes when there is none.
            .drop_timeout(export_timeout.unwrap_or(Duration::MAX))
            .thread_name("telemetry-log-export")
            .build(sink)?;
        Ok(BatchLogProcessor {
            batcher,
            resource,
            failed,
            config,
        })
    }

    /// The settings in use.
    pub fn config(&self) -> BatchConfig {
        self.config
    }

    /// What has been queued, exported and dropped so far.
    pub fn counts(&self) -> BatchCounts {
        BatchCounts {
            queue: self.batcher.counts(),
            export_failed: self.failed.load(Ordering::Relaxed),
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
        let counts = self.batcher.shutdown(timeout).map_err(flush_error)?;
        let failed = self.failed.load(Ordering::Relaxed);
        if counts.dropped() > 0 || failed > 0 {
            diagnostic::report(
                "batch log processor",
                format_args!(
                    "shut down after {} records: {} dropped (queue full {}, exporter panic {}), {} failed to export",
                    counts.pushed,
                    counts.dropped(),
                    counts.dropped_full,
                    counts.dropped_sink_panic,
                    failed
                ),
            );
        }
        Ok(())
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
    }
}
