//! Readers collect from a provider: on demand ([`ManualReader`], for in-process consumers
//! such as the dashboard) or on a timer into a [`PushMetricExporter`] ([`PeriodicReader`]).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use telemetry_core::diagnostic;
use telemetry_core::env::{self, EnvSource, ProcessEnv};

use crate::data::{ResourceMetrics, Temporality};
use crate::error::{ExportError, ExportErrorKind, MetricError};
use crate::instrument::InstrumentKind;
use crate::pipeline::Producer;

/// The default interval of a [`PeriodicReader`] (`OTEL_METRIC_EXPORT_INTERVAL`).
pub const DEFAULT_EXPORT_INTERVAL: Duration = Duration::from_millis(60_000);
/// The default export timeout of a [`PeriodicReader`] (`OTEL_METRIC_EXPORT_TIMEOUT`).
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_millis(30_000);

/// Which temporality a reader wants per instrument kind, as
/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TemporalityPreference {
    /// Cumulative for every kind (the default).
    #[default]
    Cumulative,
    /// Delta for counters (sync and observable) and histograms; cumulative for up-down
    /// counters, whose deltas are rarely what a backend wants. Gauges are delta too: they then
    /// report only the series recorded (or observed) since the previous collection.
    Delta,
    /// Delta only for synchronous counters and histograms, which then need no per-series
    /// memory between collections; cumulative for everything else.
    LowMemory,
}

impl TemporalityPreference {
    /// The temporality for instruments of `kind`. Gauges report last values either way.
    pub fn temporality(self, kind: InstrumentKind) -> Temporality {
        use InstrumentKind as K;
        match (self, kind) {
            (TemporalityPreference::Cumulative, _) => Temporality::Cumulative,
            (
                TemporalityPreference::Delta,
                K::Counter | K::ObservableCounter | K::Histogram | K::Gauge | K::ObservableGauge,
            ) => Temporality::Delta,
            (TemporalityPreference::LowMemory, K::Counter | K::Histogram) => Temporality::Delta,
            _ => Temporality::Cumulative,
        }
    }

    /// The preference named by `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` in
    /// `source` (case-insensitive), if set and valid.
    pub fn from_env(source: &(impl EnvSource + ?Sized)) -> Option<Self> {
        env::read_enum(
            source,
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            &[
                ("cumulative", TemporalityPreference::Cumulative),
                ("delta", TemporalityPreference::Delta),
                ("lowmemory", TemporalityPreference::LowMemory),
            ],
        )
    }
}

/// Collects metrics from the provider it is registered with.
pub trait MetricReader: Send + Sync + fmt::Debug + 'static {
    /// The temporality this reader wants for instruments of `kind`; asked once per kind
    /// when the provider is built.
    fn temporality(&self, kind: InstrumentKind) -> Temporality;

    /// This reader's default cardinality limit per stream, between a view's limit and the
    /// provider's. None by default.
    fn cardinality_limit(&self) -> Option<usize> {
        None
    }

    /// Receives the handle to collect through; called once, by the provider's builder.
    fn register(&self, producer: Producer);

    /// Exports what is pending now (for a pull reader: nothing to do).
    fn force_flush(&self) -> Result<(), MetricError>;

    /// Flushes and stops; later collections fail. Only the first call does anything.
    fn shutdown(&self) -> Result<(), MetricError>;
}

/// A reader collected on demand: [`collect`](ManualReader::collect) returns the current
/// metrics. Clones share the registration, so keep one and give one to the provider.
#[derive(Clone, Debug, Default)]
pub struct ManualReader {
    inner: Arc<ManualInner>,
}

#[derive(Debug, Default)]
struct ManualInner {
    producer: OnceLock<Producer>,
    preference: TemporalityPreference,
    cardinality_limit: Option<usize>,
    /// Set once by shutdown, read by collect. Relaxed: collect racing shutdown may succeed
    /// once more, which is harmless.
    shut_down: AtomicBool,
}

impl ManualReader {
    /// A cumulative reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// A reader with this temporality preference.
    pub fn with_temporality(preference: TemporalityPreference) -> Self {
        Self::with_settings(preference, None)
    }

    /// A reader with this temporality preference and default cardinality limit per stream
    /// (views may still set their own; 0 means the provider's).
    pub fn with_settings(
        preference: TemporalityPreference,
        cardinality_limit: Option<usize>,
    ) -> Self {
        ManualReader {
            inner: Arc::new(ManualInner {
                preference,
                cardinality_limit: cardinality_limit.filter(|&limit| limit > 0),
                ..ManualInner::default()
            }),
        }
    }

    /// Collects the current metrics.
    pub fn collect(&self) -> Result<ResourceMetrics, MetricError> {
        if self.inner.shut_down.load(Ordering::Relaxed) {
            return Err(MetricError::AlreadyShutDown);
        }
        self.inner
            .producer
            .get()
            .ok_or(MetricError::NotRegistered)?
            .collect()
    }
}

impl MetricReader for ManualReader {
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.inner.preference.temporality(kind)
    }

    fn cardinality_limit(&self) -> Option<usize> {
        self.inner.cardinality_limit
    }

    fn register(&self, producer: Producer) {
        if self.inner.producer.set(producer).is_err() {
            diagnostic::report(
                "metrics",
                format_args!("a reader can serve only one meter provider; ignoring the second"),
            );
        }
    }

    fn force_flush(&self) -> Result<(), MetricError> {
        if self.inner.shut_down.load(Ordering::Relaxed) {
            return Err(MetricError::AlreadyShutDown);
        }
        Ok(())
    }

    fn shutdown(&self) -> Result<(), MetricError> {
        if self.inner.shut_down.swap(true, Ordering::Relaxed) {
            return Err(MetricError::AlreadyShutDown);
        }
        Ok(())
    }
}

/// Sends collected metrics somewhere. A [`PeriodicReader`] never calls it concurrently.
pub trait PushMetricExporter: Send + fmt::Debug + 'static {
    /// Delivers one collection. Must not block indefinitely: bound it by the exporter's own
    /// timeout.
    fn export(&mut self, metrics: &ResourceMetrics) -> Result<(), ExportError>;

    /// Delivers whatever the exporter itself buffers. Nothing by default.
    fn force_flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Releases resources; later exports fail. Nothing by default.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// The temporality the destination wants for `kind`. Cumulative by default.
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        TemporalityPreference::Cumulative.temporality(kind)
    }

    /// Tells the exporter how long one [`export`](Self::export) may take, retries included
    /// (`None`: no limit). A [`PeriodicReader`] calls it once, when it takes the exporter at
    /// registration and before the first export, with its own timeout
    /// (`OTEL_METRIC_EXPORT_TIMEOUT`, where 0 means no limit, or
    /// [`PeriodicReaderBuilder::with_timeout`]). An exporter that waits on anything (a
    /// network, a disk) must give up, and report a timeout, when it passes: the reader stops
    /// waiting for its reply then anyway, and a hung export would hold up every later
    /// collection. Ignored by default, for exporters that never wait.
    fn set_export_timeout(&mut self, _timeout: Option<Duration>) {}
}

/// Keeps exported metrics in memory, for tests. Clones share the same storage.
#[derive(Clone, Debug, Default)]
pub struct InMemoryMetricExporter {
    shared: Arc<Mutex<InMemoryState>>,
    preference: TemporalityPreference,
}

#[derive(Debug, Default)]
struct InMemoryState {
    exported: Vec<ResourceMetrics>,
    shut_down: bool,
}

impl InMemoryMetricExporter {
    /// An empty, cumulative exporter.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty exporter with this temporality preference.
    pub fn with_temporality(preference: TemporalityPreference) -> Self {
        InMemoryMetricExporter {
            preference,
            ..Self::default()
        }
    }

    /// Every collection exported so far, in order.
    pub fn exported(&self) -> Vec<ResourceMetrics> {
        self.shared.lock().exported.clone()
    }

    /// Forgets what was exported so far.
    pub fn reset(&self) {
        self.shared.lock().exported.clear();
    }

    /// True once the exporter has been shut down.
    pub fn is_shut_down(&self) -> bool {
        self.shared.lock().shut_down
    }
}

impl PushMetricExporter for InMemoryMetricExporter {
    fn export(&mut self, metrics: &ResourceMetrics) -> Result<(), ExportError> {
        let mut state = self.shared.lock();
        if state.shut_down {
            return Err(ExportError::new(ExportErrorKind::ShutDown));
        }
        state.exported.push(metrics.clone());
        Ok(())
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shared.lock().shut_down = true;
        Ok(())
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.preference.temporality(kind)
    }
}

/// Collects on a fixed interval on its own thread and hands each collection to a
/// [`PushMetricExporter`].
#[derive(Debug)]
pub struct PeriodicReader {
    interval: Duration,
    timeout: Duration,
    temporality: [Temporality; 7],
    cardinality_limit: Option<usize>,
    /// The exporter until the worker starts (at registration) and takes it.
    exporter: Mutex<Option<Box<dyn PushMetricExporter>>>,
    worker: Mutex<Option<Worker>>,
    /// Set by the first shutdown. Relaxed: it only makes later calls fail fast.
    shut_down: AtomicBool,
}

#[derive(Debug)]
struct Worker {
    commands: mpsc::Sender<Command>,
    thread: JoinHandle<()>,
}

enum Command {
    Flush(mpsc::Sender<Result<(), MetricError>>),
    Shutdown(mpsc::Sender<Result<(), MetricError>>),
}

/// Builds a [`PeriodicReader`].
#[derive(Debug)]
pub struct PeriodicReaderBuilder {
    exporter: Box<dyn PushMetricExporter>,
    interval: Duration,
    timeout: Duration,
    cardinality_limit: Option<usize>,
}

impl PeriodicReader {
    /// Starts a reader for `exporter`, with the interval and timeout from
    /// `OTEL_METRIC_EXPORT_INTERVAL` and `OTEL_METRIC_EXPORT_TIMEOUT` (60 s and 30 s when
    /// unset).
    pub fn builder(exporter: impl PushMetricExporter) -> PeriodicReaderBuilder {
        PeriodicReaderBuilder::from_env(exporter, &ProcessEnv)
    }

    fn run_command(
        &self,
        make: impl FnOnce(mpsc::Sender<Result<(), MetricError>>) -> Command,
    ) -> Result<(), MetricError> {
        let (reply, replies) = mpsc::channel();
        {
            let worker = self.worker.lock();
            let worker = worker.as_ref().ok_or(MetricError::NotRegistered)?;
            worker
                .commands
                .send(make(reply))
                .map_err(|_| MetricError::WorkerDied)?;
        }
        match replies.recv_timeout(self.timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(MetricError::Timeout(self.timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(MetricError::WorkerDied),
        }
    }
}

impl PeriodicReaderBuilder {
    /// A builder reading the interval and timeout from `source`.
    pub fn from_env(exporter: impl PushMetricExporter, source: &(impl EnvSource + ?Sized)) -> Self {
        let timeout = match env::read_millis(source, "OTEL_METRIC_EXPORT_TIMEOUT") {
            // The spec's 0 means "no limit".
            Some(Duration::ZERO) => Duration::MAX,
            Some(timeout) => timeout,
            None => DEFAULT_EXPORT_TIMEOUT,
        };
        PeriodicReaderBuilder {
            exporter: Box::new(exporter),
            interval: env::read_millis(source, "OTEL_METRIC_EXPORT_INTERVAL")
                .filter(|interval| !interval.is_zero())
                .unwrap_or(DEFAULT_EXPORT_INTERVAL),
            timeout,
            cardinality_limit: None,
        }
    }

    /// Sets the time between collections (a zero interval is ignored).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        if !interval.is_zero() {
            self.interval = interval;
        }
        self
    }

    /// Sets how long flush and shutdown wait for the export; zero means no limit, as
    /// `OTEL_METRIC_EXPORT_TIMEOUT=0` does (a zero wait would fail every flush at once).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = if timeout.is_zero() {
            Duration::MAX
        } else {
            timeout
        };
        self
    }

    /// Sets this reader's default cardinality limit per stream (0 is ignored).
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        if limit > 0 {
            self.cardinality_limit = Some(limit);
        }
        self
    }

    /// The reader; its thread starts when a provider registers it.
    pub fn build(self) -> PeriodicReader {
        let temporality = InstrumentKind::ALL.map(|kind| self.exporter.temporality(kind));
        PeriodicReader {
            interval: self.interval,
            timeout: self.timeout,
            temporality,
            cardinality_limit: self.cardinality_limit,
            exporter: Mutex::new(Some(self.exporter)),
            worker: Mutex::new(None),
            shut_down: AtomicBool::new(false),
        }
    }
}

impl MetricReader for PeriodicReader {
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.temporality[kind.index()]
    }

    fn cardinality_limit(&self) -> Option<usize> {
        self.cardinality_limit
    }

    fn register(&self, producer: Producer) {
        let Some(mut exporter) = self.exporter.lock().take() else {
            diagnostic::report(
                "metrics",
                format_args!("a reader can serve only one meter provider; ignoring the second"),
            );
            return;
        };
        exporter.set_export_timeout(export_limit(self.timeout));
        let (commands, receiver) = mpsc::channel();
        let interval = self.interval;
        let spawned = std::thread::Builder::new()
            .name("telemetry-metrics-periodic".to_owned())
            .spawn(move || run_worker(&producer, exporter, &receiver, interval));
        match spawned {
            Ok(thread) => *self.worker.lock() = Some(Worker { commands, thread }),
            Err(error) => diagnostic::report(
                "metrics",
                format_args!("could not start the periodic reader's thread: {error}"),
            ),
        }
    }

    fn force_flush(&self) -> Result<(), MetricError> {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(MetricError::AlreadyShutDown);
        }
        self.run_command(Command::Flush)
    }

    fn shutdown(&self) -> Result<(), MetricError> {
        if self.shut_down.swap(true, Ordering::Relaxed) {
            return Err(MetricError::AlreadyShutDown);
        }
        let result = self.run_command(Command::Shutdown);
        if result.is_ok()
            && let Some(worker) = self.worker.lock().take()
        {
            // The worker replied and is returning; joining cannot wait long.
            let _ = worker.thread.join();
        }
        result
    }
}

impl Drop for PeriodicReader {
    fn drop(&mut self) {
        // A reader never registered has no worker and nothing to export.
        if !self.shut_down.load(Ordering::Relaxed) && self.worker.lock().is_some() {
            // Dropping without shutdown still exports what was recorded; errors have nowhere
            // to go but the diagnostics.
            if let Err(error) = self.shutdown() {
                diagnostic::report(
                    "metrics",
                    format_args!("periodic reader shutdown on drop failed: {error}"),
                );
            }
        }
    }
}

/// The limit to hand the exporter for a reader `timeout`: none for the "no limit" the
/// builder records as `Duration::MAX` (from `OTEL_METRIC_EXPORT_TIMEOUT=0`) or for a zero
/// set in code, which the spec's timeouts also read as "no limit".
fn export_limit(timeout: Duration) -> Option<Duration> {
    Some(timeout).filter(|timeout| !timeout.is_zero() && *timeout != Duration::MAX)
}

fn run_worker(
    producer: &Producer,
    mut exporter: Box<dyn PushMetricExporter>,
    commands: &mpsc::Receiver<Command>,
    interval: Duration,
) {
    let mut next = Instant::now() + interval;
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        match commands.recv_timeout(wait) {
            Ok(Command::Flush(reply)) => {
                let result = collect_and_export(producer, exporter.as_mut())
                    .and_then(|()| exporter.force_flush().map_err(MetricError::from));
                let _ = reply.send(result);
            }
            Ok(Command::Shutdown(reply)) => {
                let result = collect_and_export(producer, exporter.as_mut());
                let shutdown = exporter.shutdown().map_err(MetricError::from);
                let _ = reply.send(result.and(shutdown));
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Err(error) = collect_and_export(producer, exporter.as_mut()) {
                    diagnostic::report(
                        "metrics",
                        format_args!("periodic metrics export failed: {error}"),
                    );
                }
                next += interval;
                // After a slow export, skip missed ticks instead of exporting back to back.
                let now = Instant::now();
                if next < now {
                    next = now + interval;
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let _ = collect_and_export(producer, exporter.as_mut());
                let _ = exporter.shutdown();
                return;
            }
        }
    }
}

fn collect_and_export(
    producer: &Producer,
    exporter: &mut dyn PushMetricExporter,
) -> Result<(), MetricError> {
    let metrics = producer.collect()?;
    if metrics.scope_metrics.is_empty() {
        return Ok(());
    }
    exporter.export(&metrics).map_err(MetricError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporality_preferences_follow_the_spec() {
        use InstrumentKind as K;
        use Temporality::{Cumulative as C, Delta as D};
        let kinds = [
            K::Counter,
            K::ObservableCounter,
            K::Histogram,
            K::UpDownCounter,
            K::ObservableUpDownCounter,
        ];
        let table = [
            (TemporalityPreference::Cumulative, [C, C, C, C, C]),
            (TemporalityPreference::Delta, [D, D, D, C, C]),
            (TemporalityPreference::LowMemory, [D, C, D, C, C]),
        ];
        for (preference, expected) in table {
            let got = kinds.map(|kind| preference.temporality(kind));
            assert_eq!(got, expected, "{preference:?}");
        }
        let env = [(
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
            "LowMemory",
        )];
        assert_eq!(
            TemporalityPreference::from_env(&env),
            Some(TemporalityPreference::LowMemory)
        );
    }

    #[test]
    fn periodic_settings_come_from_the_environment() {
        let env = [
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "0"),
        ];
        let builder = PeriodicReaderBuilder::from_env(InMemoryMetricExporter::new(), &env);
        assert_eq!(builder.interval, Duration::from_millis(1500));
        assert_eq!(builder.timeout, Duration::MAX);
        let unset: [(&str, &str); 0] = [];
        let defaults = PeriodicReaderBuilder::from_env(InMemoryMetricExporter::new(), &unset);
        assert_eq!(defaults.interval, DEFAULT_EXPORT_INTERVAL);
        assert_eq!(defaults.timeout, DEFAULT_EXPORT_TIMEOUT);
    }

    /// Remembers the export timeout its reader gave it.
    #[derive(Debug)]
    struct TimeoutProbe(Arc<Mutex<Option<Option<Duration>>>>);

    impl PushMetricExporter for TimeoutProbe {
        fn export(&mut self, _metrics: &ResourceMetrics) -> Result<(), ExportError> {
            Ok(())
        }

        fn set_export_timeout(&mut self, timeout: Option<Duration>) {
            *self.0.lock() = Some(timeout);
        }
    }

    #[test]
    fn the_exporter_is_given_the_export_timeout_and_zero_means_none() {
        let from_env = |millis: &str| {
            let seen = Arc::new(Mutex::new(None));
            let env = [("OTEL_METRIC_EXPORT_TIMEOUT", millis)];
            let reader = PeriodicReaderBuilder::from_env(TimeoutProbe(seen.clone()), &env).build();
            (seen, reader)
        };
        let cases = [
            ("250", Some(Duration::from_millis(250))),
            ("0", None),
            ("-1", Some(DEFAULT_EXPORT_TIMEOUT)),
        ];
        for (millis, expected) in cases {
            let (seen, reader) = from_env(millis);
            assert_eq!(*seen.lock(), None, "not before registration");
            let provider = crate::MeterProvider::builder().with_reader(reader).build();
            assert_eq!(
                *seen.lock(),
                Some(expected),
                "OTEL_METRIC_EXPORT_TIMEOUT={millis}"
            );
            drop(provider);
        }
        let seen = Arc::new(Mutex::new(None));
        let reader = PeriodicReader::builder(TimeoutProbe(seen.clone()))
            .with_timeout(Duration::from_millis(40))
            .build();
        let provider = crate::MeterProvider::builder().with_reader(reader).build();
        assert_eq!(*seen.lock(), Some(Some(Duration::from_millis(40))));
        drop(provider);

        // Zero set in code means no limit too: flush waits for the export, never failing
        // at once with a zero timeout.
        let seen = Arc::new(Mutex::new(None));
        let reader = PeriodicReader::builder(TimeoutProbe(seen.clone()))
            .with_timeout(Duration::ZERO)
            .build();
        let provider = crate::MeterProvider::builder().with_reader(reader).build();
        assert_eq!(*seen.lock(), Some(None));
        provider
            .force_flush()
            .expect("a flush without a limit succeeds");
        drop(provider);
    }

    #[test]
    fn an_unregistered_manual_reader_says_so() {
        let reader = ManualReader::new();
        assert!(matches!(reader.collect(), Err(MetricError::NotRegistered)));
        assert!(reader.shutdown().is_ok());
        assert!(matches!(
            reader.collect(),
            Err(MetricError::AlreadyShutDown)
        ));
        assert!(matches!(
            reader.shutdown(),
            Err(MetricError::AlreadyShutDown)
        ));
    }
}
