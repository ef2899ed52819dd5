//! Readers collect from a provider: on demand ([`ManualReader`], for in-process consumers
//! such as the dashboard) or on a timer into a [`PushMetricExporter`] ([`PeriodicReader`]).

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use telemetry_core::diagnostic;
use telemetry_core::env::{self, EnvSource, ProcessEnv};

use crate::data::{MetricData, ResourceMetrics, Temporality};
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
    /// (`None`: no limit). A [`PeriodicReader`] calls it when it takes the exporter at
    /// registration, before the first export, with its own timeout
    /// (`OTEL_METRIC_EXPORT_TIMEOUT`, where 0 means no limit, or
    /// [`PeriodicReaderBuilder::with_timeout`]). At shutdown it calls it again before each
    /// last export with the time its caller still waits: each call replaces the previous
    /// limit. An exporter that
    /// waits on anything (a network, a disk) must give up, and report a timeout, when it
    /// passes: the reader stops waiting for its reply then anyway, and a hung export would
    /// hold up every later collection. Ignored by default, for exporters that never wait.
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

/// How many failed collections a [`PeriodicReader`] keeps for a later try. With the default
/// 60 s interval that rides out a 16-minute outage; with a short interval, what a collector
/// restart takes. Past it the oldest collection is dropped and counted.
const MAX_BACKLOG_COLLECTIONS: usize = 16;
/// How many data points the kept collections may hold together, so that a wide pipeline
/// (many streams at their cardinality limits) cannot keep 16 copies of itself: 100 000
/// points is some tens of MiB at most. The newest collection is kept whatever its size: it
/// exists anyway, and the pipeline's cardinality limits bound it.
const MAX_BACKLOG_POINTS: u64 = 100_000;
/// The most a shutdown keeps back from its wait for what follows the last export (the
/// exporter's own shutdown, and the reply).
const MAX_GRACE: Duration = Duration::from_millis(100);

/// Collects on a fixed interval on its own thread and hands each collection to a
/// [`PushMetricExporter`].
///
/// A collection whose export fails for a reason that may pass (the exporter reports
/// [`ExportErrorKind::Timeout`] or [`ExportErrorKind::Unavailable`]) is kept and sent again,
/// oldest first and each collection in its own export, before the next collection: delta
/// points then arrive late but whole and in order, each with its own interval. At most 16
/// collections (and 100 000 data points) are kept; past that the oldest is dropped. Of
/// cumulative streams only the newest collection is kept, since it carries everything the
/// older ones did. At shutdown the kept collections get one more try, which ends before
/// the shutdown's wait does; what is still unsent then is dropped. What is exported, fails
/// for good and is dropped is counted in [`stats`](PeriodicReader::stats).
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
    stats: PeriodicReaderStats,
}

/// What a [`PeriodicReader`] did with its collections, counted since it was built. A handle:
/// clones share the counts, and it stays readable after the reader is shut down and dropped.
///
/// A collection holding no data point is not exported and not counted. Every other
/// collection ends up in exactly one of `exported`, `failed` and `dropped`, or is still
/// [`backlog`](Self::backlog_collections) (or was superseded: see
/// [`superseded_data_points`](Self::superseded_data_points)). `Default` gives counts that
/// belong to no reader and stay zero.
#[derive(Clone, Debug, Default)]
pub struct PeriodicReaderStats(Arc<StatsCounters>);

/// Every field is written by the reader's worker thread only and read by anyone holding the
/// stats. Relaxed throughout: each is a count on its own, and no reader infers anything
/// about other memory from one; two read together may be one export apart.
#[derive(Debug, Default)]
struct StatsCounters {
    exported_collections: AtomicU64,
    exported_points: AtomicU64,
    failed_collections: AtomicU64,
    failed_points: AtomicU64,
    dropped_collections: AtomicU64,
    dropped_points: AtomicU64,
    superseded_points: AtomicU64,
    /// Collections kept for a later try right now: 0 to 16.
    backlog_collections: AtomicU64,
}

impl PeriodicReaderStats {
    /// Collections the exporter accepted (a retried one counts once, when it succeeds).
    pub fn exported_collections(&self) -> u64 {
        self.0.exported_collections.load(Ordering::Relaxed)
    }

    /// The data points of those collections.
    pub fn exported_data_points(&self) -> u64 {
        self.0.exported_points.load(Ordering::Relaxed)
    }

    /// Collections lost because the exporter failed for good: it rejected them
    /// ([`ExportErrorKind::Rejected`]) or was shut down. Not retried.
    pub fn failed_collections(&self) -> u64 {
        self.0.failed_collections.load(Ordering::Relaxed)
    }

    /// The data points of those collections.
    pub fn failed_data_points(&self) -> u64 {
        self.0.failed_points.load(Ordering::Relaxed)
    }

    /// Collections lost although their failure might have passed: pushed out of the backlog
    /// by newer ones (past 16 collections or 100 000 points), or still unsent when the
    /// reader shut down.
    pub fn dropped_collections(&self) -> u64 {
        self.0.dropped_collections.load(Ordering::Relaxed)
    }

    /// The data points of those collections.
    pub fn dropped_data_points(&self) -> u64 {
        self.0.dropped_points.load(Ordering::Relaxed)
    }

    /// Data points of cumulative streams taken out of kept collections because a newer
    /// collection carries the same streams: nothing is lost, a cumulative point holds
    /// everything before it.
    pub fn superseded_data_points(&self) -> u64 {
        self.0.superseded_points.load(Ordering::Relaxed)
    }

    /// Collections kept now, after a failed export, for the next try.
    pub fn backlog_collections(&self) -> u64 {
        self.0.backlog_collections.load(Ordering::Relaxed)
    }
}

#[derive(Debug)]
struct Worker {
    commands: mpsc::Sender<Command>,
    thread: JoinHandle<()>,
}

enum Command {
    /// Export, then reply. A flush is not hurried: the exports it runs past its caller's
    /// wait only hold up the next tick.
    Flush(mpsc::Sender<Result<(), MetricError>>),
    /// Export once more, shut the exporter down, reply and return. The instant is when the
    /// caller stops waiting (`None`: never): the exports must end before it, so that the
    /// caller can join the thread.
    Shutdown(mpsc::Sender<Result<(), MetricError>>, Option<Instant>),
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

    /// A handle on what this reader exported, lost and keeps for a later try; take it
    /// before handing the reader to a provider.
    pub fn stats(&self) -> PeriodicReaderStats {
        self.stats.clone()
    }

    /// Sends a command and waits for the reply until the timeout. The outer error means
    /// the worker did not answer in time (or is gone); the inner result is its answer.
    fn run_command(
        &self,
        make: impl FnOnce(mpsc::Sender<Result<(), MetricError>>, Option<Instant>) -> Command,
    ) -> Result<Result<(), MetricError>, MetricError> {
        let (reply, replies) = mpsc::channel();
        // Taken before sending, so that the worker's deadline is never past this wait's end.
        let deadline = Instant::now().checked_add(self.timeout);
        {
            let worker = self.worker.lock();
            let worker = worker.as_ref().ok_or(MetricError::NotRegistered)?;
            worker
                .commands
                .send(make(reply, deadline))
                .map_err(|_| MetricError::WorkerDied)?;
        }
        match replies.recv_timeout(self.timeout) {
            Ok(result) => Ok(result),
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
            stats: PeriodicReaderStats::default(),
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
        // Gauges carry no temporality in the data: a cumulative gauge stream holds every
        // series' last value, so a newer collection supersedes it as a cumulative sum does.
        let gauges_cumulative = [InstrumentKind::Gauge, InstrumentKind::ObservableGauge]
            .iter()
            .all(|kind| self.temporality[kind.index()] == Temporality::Cumulative);
        let mut worker = WorkerState {
            producer,
            exporter,
            timeout: self.timeout,
            backlog: Backlog {
                entries: VecDeque::new(),
                points: 0,
                gauges_cumulative,
                stats: Arc::clone(&self.stats.0),
                warned: false,
            },
        };
        let interval = self.interval;
        let spawned = std::thread::Builder::new()
            .name("telemetry-metrics-periodic".to_owned())
            .spawn(move || worker.run(&receiver, interval));
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
        self.run_command(|reply, _| Command::Flush(reply))?
    }

    fn shutdown(&self) -> Result<(), MetricError> {
        if self.shut_down.swap(true, Ordering::Relaxed) {
            return Err(MetricError::AlreadyShutDown);
        }
        match self.run_command(Command::Shutdown) {
            Ok(answer) => {
                if let Some(worker) = self.worker.lock().take() {
                    // The worker replied and is returning; joining cannot wait long.
                    let _ = worker.thread.join();
                }
                answer
            }
            Err(error) => {
                if matches!(error, MetricError::WorkerDied)
                    && let Some(worker) = self.worker.lock().take()
                {
                    // Gone already: nothing to wait for.
                    let _ = worker.thread.join();
                }
                Err(error)
            }
        }
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

/// What the reader's thread owns.
struct WorkerState {
    producer: Producer,
    exporter: Box<dyn PushMetricExporter>,
    /// The reader's timeout: the shutdown's grace is cut from it, and its errors name it.
    timeout: Duration,
    backlog: Backlog,
}

impl WorkerState {
    fn run(&mut self, commands: &mpsc::Receiver<Command>, interval: Duration) {
        let mut next = Instant::now() + interval;
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            match commands.recv_timeout(wait) {
                Ok(Command::Flush(reply)) => {
                    let result = self
                        .collect_and_export(None)
                        .and_then(|()| self.exporter.force_flush().map_err(Into::into));
                    let _ = reply.send(result);
                }
                Ok(Command::Shutdown(reply, deadline)) => {
                    let result = self.collect_and_export(self.export_until(deadline));
                    self.backlog.drop_all();
                    let shutdown = self.exporter.shutdown().map_err(MetricError::from);
                    self.backlog.report_totals();
                    let _ = reply.send(result.and(shutdown));
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Err(error) = self.collect_and_export(None) {
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
                    let _ = self.collect_and_export(None);
                    self.backlog.drop_all();
                    let _ = self.exporter.shutdown();
                    self.backlog.report_totals();
                    return;
                }
            }
        }
    }

    /// When the exports of a shutdown whose caller waits until `deadline` must end:
    /// a grace earlier (a quarter of the timeout, at most 100 ms), which leaves time for the
    /// exporter's own shutdown and the reply.
    fn export_until(&self, deadline: Option<Instant>) -> Option<Instant> {
        let grace = (self.timeout / 4).min(MAX_GRACE);
        deadline.map(|deadline| deadline.checked_sub(grace).unwrap_or(deadline))
    }

    /// Collects into the backlog, then exports the backlog oldest first, each export ending
    /// by `until` when given. A failed collection still lets the backlog go out.
    fn collect_and_export(&mut self, until: Option<Instant>) -> Result<(), MetricError> {
        let collected = self
            .producer
            .collect()
            .map(|metrics| self.backlog.push(metrics));
        let exported = self
            .backlog
            .export(self.exporter.as_mut(), until, self.timeout);
        collected.and(exported)
    }
}

/// Collections not exported yet, oldest first: the newest one, and those whose export
/// failed for a reason that may pass.
struct Backlog {
    entries: VecDeque<Pending>,
    /// The data points of all entries.
    points: u64,
    /// Whether gauge streams are cumulative (see `PeriodicReader::register`).
    gauges_cumulative: bool,
    stats: Arc<StatsCounters>,
    /// Whether a drop was reported yet: once is enough, the totals come at shutdown.
    warned: bool,
}

struct Pending {
    metrics: ResourceMetrics,
    points: u64,
}

impl Backlog {
    /// Adds a fresh collection: takes out of older entries the cumulative streams it
    /// carries again, then drops the oldest entries past the bounds.
    fn push(&mut self, metrics: ResourceMetrics) {
        let points = data_points(&metrics);
        if points == 0 {
            return;
        }
        let mut superseded = 0;
        for entry in &mut self.entries {
            let before = entry.points;
            remove_superseded(&mut entry.metrics, &metrics, self.gauges_cumulative);
            entry.points = data_points(&entry.metrics);
            superseded += before - entry.points;
        }
        self.entries.retain(|entry| entry.points > 0);
        self.points -= superseded;
        self.stats
            .superseded_points
            .fetch_add(superseded, Ordering::Relaxed);
        self.entries.push_back(Pending { metrics, points });
        self.points += points;
        while self.entries.len() > MAX_BACKLOG_COLLECTIONS
            || (self.points > MAX_BACKLOG_POINTS && self.entries.len() > 1)
        {
            let Some(oldest) = self.entries.pop_front() else {
                break;
            };
            self.points -= oldest.points;
            self.count_dropped(oldest.points);
            if !self.warned {
                self.warned = true;
                diagnostic::report(
                    "metrics",
                    format_args!(
                        "the metrics exporter keeps failing and the periodic reader's backlog \
                         is full; dropping the oldest collections (counted in its stats)"
                    ),
                );
            }
        }
        self.publish_len();
    }

    /// Exports the entries oldest first, each in its own export, until one fails for a
    /// reason that may pass (it and the later ones stay) or, with `until`, time runs out.
    /// An entry that fails for good is counted and dropped, and the next one is tried.
    /// Returns the first error.
    fn export(
        &mut self,
        exporter: &mut dyn PushMetricExporter,
        until: Option<Instant>,
        timeout: Duration,
    ) -> Result<(), MetricError> {
        let mut first_error = None;
        while let Some(entry) = self.entries.front() {
            if let Some(until) = until {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    first_error.get_or_insert(MetricError::Timeout(timeout));
                    break;
                }
                // The caller stops waiting at its deadline: an export running past it
                // would outlive the wait (and, at shutdown, leave the thread unjoined).
                exporter.set_export_timeout(Some(left));
            }
            match exporter.export(&entry.metrics) {
                Ok(()) => {
                    let points = entry.points;
                    self.pop_front();
                    self.stats
                        .exported_collections
                        .fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .exported_points
                        .fetch_add(points, Ordering::Relaxed);
                }
                Err(error) if retryable(error.kind()) => {
                    first_error.get_or_insert(error.into());
                    break;
                }
                Err(error) => {
                    let points = entry.points;
                    self.pop_front();
                    self.stats
                        .failed_collections
                        .fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .failed_points
                        .fetch_add(points, Ordering::Relaxed);
                    first_error.get_or_insert(error.into());
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn pop_front(&mut self) {
        if let Some(entry) = self.entries.pop_front() {
            self.points -= entry.points;
        }
        self.publish_len();
    }

    /// Counts every entry left as dropped: the reader is stopping.
    fn drop_all(&mut self) {
        for entry in std::mem::take(&mut self.entries) {
            self.count_dropped(entry.points);
        }
        self.points = 0;
        self.publish_len();
    }

    fn count_dropped(&self, points: u64) {
        self.stats
            .dropped_collections
            .fetch_add(1, Ordering::Relaxed);
        self.stats
            .dropped_points
            .fetch_add(points, Ordering::Relaxed);
    }

    fn publish_len(&self) {
        self.stats
            .backlog_collections
            .store(self.entries.len() as u64, Ordering::Relaxed);
    }

    /// Reports at shutdown what was lost over the reader's life, if anything was.
    fn report_totals(&self) {
        let stats = PeriodicReaderStats(Arc::clone(&self.stats));
        let (failed, dropped) = (stats.failed_collections(), stats.dropped_collections());
        if failed + dropped > 0 {
            diagnostic::report(
                "metrics",
                format_args!(
                    "periodic reader shut down: {} collections exported, {failed} failed for \
                     good ({} data points), {dropped} dropped ({} data points)",
                    stats.exported_collections(),
                    stats.failed_data_points(),
                    stats.dropped_data_points(),
                ),
            );
        }
    }
}

/// Removes from `older` every cumulative stream that `newer` carries too (same scope, same
/// name): its points in `newer` cover everything `older`'s did.
fn remove_superseded(
    older: &mut ResourceMetrics,
    newer: &ResourceMetrics,
    gauges_cumulative: bool,
) {
    let is_cumulative = |data: &MetricData| match data {
        MetricData::Sum(sum) => sum.temporality == Temporality::Cumulative,
        MetricData::Histogram(histogram) => histogram.temporality == Temporality::Cumulative,
        MetricData::ExponentialHistogram(histogram) => {
            histogram.temporality == Temporality::Cumulative
        }
        MetricData::Gauge(_) => gauges_cumulative,
    };
    for scope in &mut older.scope_metrics {
        let Some(newer_scope) = newer
            .scope_metrics
            .iter()
            .find(|candidate| candidate.scope == scope.scope)
        else {
            continue;
        };
        scope.metrics.retain(|metric| {
            !(is_cumulative(&metric.data)
                && newer_scope
                    .metrics
                    .iter()
                    .any(|newer| newer.name == metric.name && is_cumulative(&newer.data)))
        });
    }
    older
        .scope_metrics
        .retain(|scope| !scope.metrics.is_empty());
}

/// Whether an export that failed this way may succeed later: the destination was slow or
/// unreachable. A rejection or a shut-down exporter will fail the same way again.
fn retryable(kind: ExportErrorKind) -> bool {
    matches!(
        kind,
        ExportErrorKind::Timeout | ExportErrorKind::Unavailable
    )
}

/// The data points of a collection, whatever their kind.
fn data_points(metrics: &ResourceMetrics) -> u64 {
    let points = |data: &MetricData| match data {
        MetricData::Sum(sum) => sum.points.len(),
        MetricData::Gauge(gauge) => gauge.points.len(),
        MetricData::Histogram(histogram) => histogram.points.len(),
        MetricData::ExponentialHistogram(histogram) => histogram.points.len(),
    };
    metrics
        .scope_metrics
        .iter()
        .flat_map(|scope| &scope.metrics)
        .map(|metric| points(&metric.data) as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use telemetry_core::Timestamp;

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

    /// Fails with the kinds queued in `script`, one per export, then accepts; keeps what it
    /// accepted. Clones share the script and the store.
    #[derive(Clone, Debug, Default)]
    struct Scripted {
        script: Arc<Mutex<VecDeque<ExportErrorKind>>>,
        accepted: Arc<Mutex<Vec<ResourceMetrics>>>,
        preference: TemporalityPreference,
    }

    impl Scripted {
        fn fail_next(&self, kinds: impl IntoIterator<Item = ExportErrorKind>) {
            self.script.lock().extend(kinds);
        }
    }

    impl PushMetricExporter for Scripted {
        fn export(&mut self, metrics: &ResourceMetrics) -> Result<(), ExportError> {
            match self.script.lock().pop_front() {
                Some(kind) => Err(ExportError::new(kind)),
                None => {
                    self.accepted.lock().push(metrics.clone());
                    Ok(())
                }
            }
        }

        fn temporality(&self, kind: InstrumentKind) -> Temporality {
            self.preference.temporality(kind)
        }
    }

    /// A provider whose reader collects only when flushed (the interval is an hour).
    fn flushed_only(
        preference: TemporalityPreference,
    ) -> (crate::MeterProvider, Scripted, PeriodicReaderStats) {
        let exporter = Scripted {
            preference,
            ..Scripted::default()
        };
        let reader = PeriodicReader::builder(exporter.clone())
            .with_interval(Duration::from_secs(3600))
            .with_timeout(Duration::from_secs(5))
            .build();
        let stats = reader.stats();
        let provider = crate::MeterProvider::builder().with_reader(reader).build();
        (provider, exporter, stats)
    }

    /// The points of the sum stream `name` in each accepted collection that has it:
    /// (value, start, time).
    fn sum_points(
        accepted: &[ResourceMetrics],
        name: &str,
    ) -> Vec<(crate::data::Number, Timestamp, Timestamp)> {
        accepted
            .iter()
            .flat_map(|metrics| &metrics.scope_metrics)
            .flat_map(|scope| &scope.metrics)
            .filter(|metric| metric.name == name)
            .flat_map(|metric| match &metric.data {
                MetricData::Sum(sum) => sum.points.clone(),
                _ => Vec::new(),
            })
            .map(|point| (point.value, point.start_time, point.time))
            .collect()
    }

    #[test]
    fn deltas_whose_export_failed_all_arrive_later_in_order_and_once() {
        use crate::data::Number::I64;
        let (provider, exporter, stats) = flushed_only(TemporalityPreference::Delta);
        let meter = provider.meter("backlog");
        let counter = meter.u64_counter("c").build().expect("valid name");
        // Cumulative under the delta preference: only its newest point is worth sending.
        let level = meter.i64_up_down_counter("u").build().expect("valid name");
        exporter.fail_next([ExportErrorKind::Unavailable, ExportErrorKind::Timeout]);
        for (add, flush_ok) in [(1, false), (2, false), (4, true)] {
            counter.add(add, &[]);
            level.add(10, &[]);
            assert_eq!(
                provider.force_flush().is_ok(),
                flush_ok,
                "after adding {add}"
            );
        }
        let accepted = exporter.accepted.lock().clone();
        assert_eq!(accepted.len(), 3);
        let deltas = sum_points(&accepted, "c");
        let values: Vec<_> = deltas.iter().map(|point| point.0).collect();
        assert_eq!(values, [I64(1), I64(2), I64(4)]);
        for pair in deltas.windows(2) {
            assert_eq!(
                pair[0].2, pair[1].1,
                "each delta starts where the last ended"
            );
        }
        let levels: Vec<_> = sum_points(&accepted, "u").iter().map(|p| p.0).collect();
        assert_eq!(
            levels,
            [I64(30)],
            "only the newest cumulative point is sent"
        );
        assert_eq!(stats.exported_collections(), 3);
        assert_eq!(stats.exported_data_points(), 4);
        assert_eq!(stats.superseded_data_points(), 2);
        assert_eq!(
            (
                stats.failed_collections(),
                stats.dropped_collections(),
                stats.backlog_collections()
            ),
            (0, 0, 0)
        );
        provider.shutdown().expect("the exporter accepts");
    }

    #[test]
    fn cumulative_collections_whose_export_failed_keep_only_the_newest() {
        use crate::data::Number::I64;
        let (provider, exporter, stats) = flushed_only(TemporalityPreference::Cumulative);
        let counter = provider
            .meter("backlog")
            .u64_counter("c")
            .build()
            .expect("ok");
        exporter.fail_next([ExportErrorKind::Timeout, ExportErrorKind::Unavailable]);
        for add in [1, 2] {
            counter.add(add, &[]);
            assert!(provider.force_flush().is_err());
            assert_eq!(
                stats.backlog_collections(),
                1,
                "the older one is superseded"
            );
        }
        counter.add(4, &[]);
        provider.force_flush().expect("the exporter accepts");
        let accepted = exporter.accepted.lock().clone();
        let values: Vec<_> = sum_points(&accepted, "c").iter().map(|p| p.0).collect();
        assert_eq!(values, [I64(7)]);
        assert_eq!(stats.exported_collections(), 1);
        assert_eq!(stats.superseded_data_points(), 2);
        assert_eq!(stats.dropped_collections() + stats.failed_collections(), 0);
        provider.shutdown().expect("the exporter accepts");
    }

    #[test]
    fn the_backlog_is_bounded_and_counts_what_it_drops() {
        use crate::data::Number::I64;
        let (provider, exporter, stats) = flushed_only(TemporalityPreference::Delta);
        let counter = provider
            .meter("backlog")
            .u64_counter("c")
            .build()
            .expect("ok");
        exporter.fail_next([ExportErrorKind::Unavailable; 20]);
        for add in 1..=20 {
            counter.add(add, &[]);
            assert!(provider.force_flush().is_err());
        }
        assert_eq!(stats.backlog_collections(), MAX_BACKLOG_COLLECTIONS as u64);
        assert_eq!(stats.dropped_collections(), 4);
        assert_eq!(stats.dropped_data_points(), 4);
        counter.add(100, &[]);
        provider.force_flush().expect("the exporter accepts");
        let accepted = exporter.accepted.lock().clone();
        let values: Vec<_> = sum_points(&accepted, "c").iter().map(|p| p.0).collect();
        // The fresh collection takes a place in the backlog before the export, so one
        // more of the oldest makes way for it.
        let expected: Vec<_> = (6..=20).chain([100]).map(I64).collect();
        assert_eq!(
            values, expected,
            "the oldest five were dropped, the rest in order"
        );
        assert_eq!(stats.dropped_collections(), 5);
        assert_eq!(stats.exported_collections(), 16);
        assert_eq!(stats.backlog_collections(), 0);
        provider.shutdown().expect("the exporter accepts");
    }

    #[test]
    fn the_backlog_is_bounded_in_data_points_but_keeps_the_newest() {
        use crate::data::{Number, NumberDataPoint, ScopeMetrics, Sum};
        let stats = PeriodicReaderStats::default();
        let mut backlog = Backlog {
            entries: VecDeque::new(),
            points: 0,
            gauges_cumulative: true,
            stats: Arc::clone(&stats.0),
            warned: false,
        };
        let wide = |points: usize| ResourceMetrics {
            resource: telemetry_core::Resource::empty(),
            scope_metrics: vec![ScopeMetrics {
                scope: telemetry_core::InstrumentationScope::builder("wide").build(),
                metrics: vec![crate::data::Metric {
                    name: "c".to_owned(),
                    description: String::new(),
                    unit: String::new(),
                    data: MetricData::Sum(Sum {
                        points: vec![
                            NumberDataPoint {
                                attributes: Vec::new(),
                                start_time: Timestamp::default(),
                                time: Timestamp::default(),
                                value: Number::I64(1),
                                exemplars: Vec::new(),
                            };
                            points
                        ],
                        temporality: Temporality::Delta,
                        is_monotonic: true,
                    }),
                }],
            }],
        };
        backlog.push(wide(60_000));
        backlog.push(wide(30_000));
        assert_eq!((backlog.entries.len(), backlog.points), (2, 90_000));
        backlog.push(wide(60_000));
        assert_eq!((backlog.entries.len(), backlog.points), (2, 90_000));
        assert_eq!(stats.dropped_data_points(), 60_000);
        // A collection above the bound on its own replaces everything before it.
        backlog.push(wide(120_000));
        assert_eq!((backlog.entries.len(), backlog.points), (1, 120_000));
        assert_eq!(stats.dropped_collections(), 3);
        assert_eq!(stats.backlog_collections(), 1);
    }

    #[test]
    fn collections_rejected_for_good_are_counted_and_not_retried() {
        use crate::data::Number::I64;
        let (provider, exporter, stats) = flushed_only(TemporalityPreference::Delta);
        let counter = provider
            .meter("backlog")
            .u64_counter("c")
            .build()
            .expect("ok");
        exporter.fail_next([ExportErrorKind::Rejected]);
        counter.add(1, &[]);
        let error = provider.force_flush().expect_err("the exporter rejects");
        assert!(matches!(
            &error,
            MetricError::Export(e) if e.kind() == ExportErrorKind::Rejected
        ));
        assert_eq!(stats.backlog_collections(), 0);
        counter.add(2, &[]);
        provider.force_flush().expect("the exporter accepts");
        let accepted = exporter.accepted.lock().clone();
        let values: Vec<_> = sum_points(&accepted, "c").iter().map(|p| p.0).collect();
        assert_eq!(values, [I64(2)]);
        assert_eq!(
            (stats.failed_collections(), stats.failed_data_points()),
            (1, 1)
        );
        assert_eq!(stats.exported_collections(), 1);
        assert_eq!(stats.dropped_collections(), 0);
        provider.shutdown().expect("the exporter accepts");
    }

    /// Never reaches its destination: each export waits out the limit it was last given
    /// (10 s without one) and times out. Says when it is dropped, which happens when the
    /// reader's thread returns.
    #[derive(Debug)]
    struct Unreachable {
        limit: Option<Duration>,
        dropped: Arc<AtomicBool>,
    }

    impl PushMetricExporter for Unreachable {
        fn export(&mut self, _metrics: &ResourceMetrics) -> Result<(), ExportError> {
            std::thread::sleep(self.limit.unwrap_or(Duration::from_secs(10)));
            Err(ExportError::new(ExportErrorKind::Timeout))
        }

        fn set_export_timeout(&mut self, timeout: Option<Duration>) {
            self.limit = timeout;
        }
    }

    impl Drop for Unreachable {
        fn drop(&mut self) {
            self.dropped.store(true, Ordering::Relaxed);
        }
    }

    #[test]
    fn shutdown_with_an_unreachable_destination_answers_within_its_wait_and_joins() {
        let timeout = Duration::from_millis(300);
        let dropped = Arc::new(AtomicBool::new(false));
        let exporter = Unreachable {
            limit: None,
            dropped: Arc::clone(&dropped),
        };
        let reader = PeriodicReader::builder(exporter)
            .with_interval(Duration::from_secs(3600))
            .with_timeout(timeout)
            .build();
        let stats = reader.stats();
        let provider = crate::MeterProvider::builder().with_reader(reader).build();
        let counter = provider
            .meter("backlog")
            .u64_counter("c")
            .build()
            .expect("ok");
        counter.add(1, &[]);
        let started = Instant::now();
        let result = provider.shutdown();
        let took = started.elapsed();
        // The worker's own answer, not the wait giving up: the export ended in time.
        assert!(
            matches!(&result, Err(MetricError::Export(e)) if e.kind() == ExportErrorKind::Timeout),
            "{result:?}"
        );
        assert!(took < timeout, "took {took:?}");
        assert!(dropped.load(Ordering::Relaxed), "the thread was joined");
        assert_eq!(
            stats.dropped_collections(),
            1,
            "the unsent collection is counted"
        );
        assert_eq!(stats.backlog_collections(), 0);
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
