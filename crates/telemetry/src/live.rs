//! The embedded dashboard (`dashboard` feature): how a pipeline built before the dashboard
//! starts gets its data into the dashboard once it does.
//!
//! Providers take their processors and readers when they are built, and `init` builds
//! them at the top of `main`, long before the program may call
//! [`start_dashboard_server`](crate::start_dashboard_server). So every enabled pipeline is
//! built with three taps whose target is empty until then: a span processor and a log
//! processor that forward to the dashboard's batch processors, and a [`ManualReader`] that a
//! collector thread reads every second while a dashboard is attached.
//!
//! An empty tap costs one atomic load per ended span or emitted record. What it cannot make
//! free: a tracer provider with a processor records its spans (without one, spans are
//! non-recording), so with this feature spans record even when no exporter is configured;
//! and the manual reader keeps one more aggregate per metric stream, updated on every
//! measurement. That is the price of the feature; programs that never start a dashboard
//! leave it off.
//!
//! Spans and records reach the dashboard through batch processors of their own, so ending a
//! span never exports on the caller's thread; metrics are collected on the collector thread.
//! [`update_display`](crate::update_display) flushes both and collects at once, on the
//! calling thread, then tells the server to push to open pages.

use std::error::Error as StdError;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use telemetry_context::Context;
use telemetry_core::{InstrumentationScope, Resource, diagnostic};
use telemetry_dashboard::{
    ChartType, Dashboard, DashboardBuilder, DashboardMetricExporter, MAX_VIEW_NAME, MAX_VIEWS,
    ViewError,
};
use telemetry_logs::{BatchLogProcessor, LogError, LogProcessor, LogRecord, Severity};
use telemetry_metrics::{ManualReader, MetricError, PushMetricExporter};
use telemetry_span::{BatchSpanProcessor, SpanData, SpanProcessor, TraceError};

/// How often the collector thread reads the metrics while a dashboard is attached: the
/// live charts' resolution.
pub const DASHBOARD_COLLECT_INTERVAL: Duration = Duration::from_secs(1);

/// The schedule delay of the dashboard's span and log batch processors: short, as a person
/// is watching, yet batched.
const BATCH_DELAY: Duration = Duration::from_millis(500);

/// How long flushing into the in-process store may take (it never waits on a network).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a pipeline's taps lead: nowhere until a dashboard is attached.
pub(crate) struct Slot {
    /// True while `target` holds a dashboard. Written by `attach` and `detach` (under the
    /// `target` write lock); read by every tap call. Acquire/Release: a tap that sees true
    /// then takes the read lock, which itself synchronizes with the write that filled it;
    /// the flag only spares the lock when empty.
    active: AtomicBool,
    target: RwLock<Option<Arc<Attached>>>,
    /// The views to pin, applied when a dashboard starts and kept across restarts. At most
    /// [`MAX_VIEWS`] entries, each name at most [`MAX_VIEW_NAME`] bytes.
    views: Mutex<Vec<(String, ChartType)>>,
    /// The reader the meter provider was built with; `None` for a disabled pipeline.
    reader: Option<ManualReader>,
    resource: Resource,
}

/// A running dashboard fed by one pipeline.
struct Attached {
    /// `None` once shut down.
    dashboard: Mutex<Option<Dashboard>>,
    ui_addr: SocketAddr,
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    spans: BatchSpanProcessor,
    logs: BatchLogProcessor,
    metrics: Mutex<DashboardMetricExporter>,
    reader: Option<ManualReader>,
    /// Set once a collection failed for another reason than shutdown, so that is reported
    /// once. Relaxed: only the report depends on it.
    reported: AtomicBool,
}

impl fmt::Debug for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("active", &self.active.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Slot {
    /// An empty slot; `reader` is the one given to the meter provider.
    pub(crate) fn new(reader: Option<ManualReader>, resource: Resource) -> Arc<Slot> {
        Arc::new(Slot {
            active: AtomicBool::new(false),
            target: RwLock::new(None),
            views: Mutex::new(Vec::new()),
            reader,
            resource,
        })
    }

    /// Runs `f` on the attached dashboard, if any: one atomic load when there is none.
    #[inline]
    fn with_target(&self, f: impl FnOnce(&Attached)) {
        if !self.active.load(Ordering::Acquire) {
            return;
        }
        let target = self.target.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(attached) = target.as_ref() {
            f(attached);
        }
    }

    /// Starts a dashboard and attaches it, applying the pinned views.
    pub(crate) fn start(
        self: &Arc<Self>,
        builder: DashboardBuilder,
    ) -> Result<DashboardHandle, DashboardError> {
        // Held across the start, so two racing starts cannot both attach.
        let mut target = self.target.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = target.as_ref() {
            return Err(DashboardError::already_running(running.ui_addr));
        }
        let dashboard = builder
            .start()
            .map_err(|error| DashboardError::new(DashboardErrorKind::Start, error))?;
        let batch = telemetry_span::BatchConfig {
            scheduled_delay: BATCH_DELAY,
            ..telemetry_span::BatchConfig::default()
        };
        let spans = BatchSpanProcessor::with_config(dashboard.span_exporter(), batch)
            .map_err(|error| DashboardError::new(DashboardErrorKind::Worker, error))?;
        let log_batch = telemetry_logs::BatchConfig {
            scheduled_delay: BATCH_DELAY,
            ..telemetry_logs::BatchConfig::default()
        };
        let logs = BatchLogProcessor::with_config(dashboard.log_exporter(), log_batch)
            .map_err(|error| DashboardError::new(DashboardErrorKind::Worker, error))?;
        spans.set_resource(&self.resource);
        logs.set_resource(&self.resource);
        for (metric, chart) in self
            .views
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            // Validated when pinned, and the store's limits are the same.
            if let Err(error) = dashboard.register_view(metric, *chart) {
                diagnostic::report(
                    "telemetry",
                    format_args!("dashboard view of {metric:?} not pinned: {error}"),
                );
            }
        }
        let attached = Arc::new(Attached {
            ui_addr: dashboard.ui_addr(),
            http_addr: dashboard.http_addr(),
            grpc_addr: dashboard.grpc_addr(),
            metrics: Mutex::new(dashboard.metric_exporter()),
            dashboard: Mutex::new(Some(dashboard)),
            spans,
            logs,
            reader: self.reader.clone(),
            reported: AtomicBool::new(false),
        });
        // A disabled pipeline has no metrics to collect, and no collector.
        let collector = match &self.reader {
            Some(_) => {
                let (stop, stopped) = mpsc::channel::<()>();
                let collected = Arc::clone(&attached);
                let thread = std::thread::Builder::new()
                    .name("telemetry-dashboard-metrics".to_owned())
                    .spawn(move || {
                        // A collection runs the pipeline, which must not report on itself.
                        let _quiet = telemetry_logs::SuppressGuard::new();
                        while let Err(RecvTimeoutError::Timeout) =
                            stopped.recv_timeout(DASHBOARD_COLLECT_INTERVAL)
                        {
                            collected.collect_metrics();
                        }
                    })
                    .map_err(|error| DashboardError::new(DashboardErrorKind::Worker, error))?;
                Some((stop, thread))
            }
            None => None,
        };
        *target = Some(Arc::clone(&attached));
        self.active.store(true, Ordering::Release);
        Ok(DashboardHandle {
            slot: Arc::clone(self),
            attached,
            collector,
        })
    }

    /// Pins a view: on the running dashboard, if any, and for every later start.
    pub(crate) fn register_view(&self, metric: &str, chart: ChartType) -> Result<(), ViewError> {
        if metric.is_empty() || metric.len() > MAX_VIEW_NAME {
            return Err(ViewError::BadMetricName);
        }
        // The target before the views, in the order `start` takes them.
        let target = self.target.read().unwrap_or_else(PoisonError::into_inner);
        let mut views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        let position = views.iter().position(|(name, _)| name == metric);
        if position.is_none() && views.len() >= MAX_VIEWS {
            return Err(ViewError::TooManyViews);
        }
        if let Some(attached) = target.as_ref() {
            attached.register_view(metric, chart)?;
        }
        match position {
            Some(index) => views[index].1 = chart,
            None => views.push((metric.to_owned(), chart)),
        }
        Ok(())
    }

    /// Flushes, collects and pushes to open pages now; nothing without a dashboard.
    pub(crate) fn update_display(&self) {
        let target = self
            .target
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(attached) = target {
            attached.update_display();
        }
    }

    /// Detaches `attached` if it is still the target; the taps are empty again after.
    fn detach(&self, attached: &Arc<Attached>) {
        let mut target = self.target.write().unwrap_or_else(PoisonError::into_inner);
        if target
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, attached))
        {
            self.active.store(false, Ordering::Release);
            *target = None;
        }
    }
}

impl Attached {
    fn register_view(&self, metric: &str, chart: ChartType) -> Result<(), ViewError> {
        match self
            .dashboard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            Some(dashboard) => dashboard.register_view(metric, chart),
            None => Ok(()),
        }
    }

    /// Reads the pipeline's metrics into the store.
    fn collect_metrics(&self) {
        let Some(reader) = &self.reader else {
            return;
        };
        let outcome = match reader.collect() {
            Ok(metrics) => self
                .metrics
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .export(&metrics)
                .map_err(|error| error.to_string()),
            // The pipeline was shut down: the dashboard keeps what it has.
            Err(MetricError::AlreadyShutDown) => Ok(()),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = outcome
            && !self.reported.swap(true, Ordering::Relaxed)
        {
            diagnostic::report(
                "telemetry",
                format_args!("collecting metrics for the dashboard: {error}"),
            );
        }
    }

    fn update_display(&self) {
        let _quiet = telemetry_logs::SuppressGuard::new();
        // Errors here mean a processor was shut down: nothing more to show.
        let _ = self.spans.force_flush(FLUSH_TIMEOUT);
        let _ = self.logs.force_flush(FLUSH_TIMEOUT);
        self.collect_metrics();
        if let Some(dashboard) = self
            .dashboard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            dashboard.update_display();
        }
    }
}

/// The span processor every enabled pipeline carries with the `dashboard` feature.
#[derive(Debug)]
pub(crate) struct SpanTap(pub(crate) Arc<Slot>);

impl SpanProcessor for SpanTap {
    fn on_start(&self, span: &mut SpanData, parent: &Context) {
        self.0
            .with_target(|attached| attached.spans.on_start(span, parent));
    }

    fn needs_on_start(&self) -> bool {
        // The dashboard attached later is fed by a batch processor, which has no use for it.
        false
    }

    fn wants_ended_spans(&self) -> bool {
        // Until a dashboard is attached, the pipeline's other processor need not copy each
        // span for this one.
        self.0.active.load(Ordering::Acquire)
    }

    fn on_end(&self, span: SpanData) {
        self.0.with_target(|attached| attached.spans.on_end(span));
    }

    fn ends_in_place(&self) -> bool {
        // It forwards to a batch processor, which does.
        true
    }

    fn on_end_in_place(&self, span: &mut Option<SpanData>) {
        self.0
            .with_target(|attached| attached.spans.on_end_in_place(span));
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), TraceError> {
        let mut result = Ok(());
        self.0
            .with_target(|attached| result = attached.spans.force_flush(timeout));
        result
    }

    /// Flushes what the pipeline ended into the dashboard, which outlives the pipeline and
    /// keeps showing it.
    fn shutdown(&self, timeout: Duration) -> Result<(), TraceError> {
        self.force_flush(timeout)
    }
}

/// The log processor every enabled pipeline carries with the `dashboard` feature.
#[derive(Debug)]
pub(crate) struct LogTap(pub(crate) Arc<Slot>);

impl LogProcessor for LogTap {
    fn emit(&self, record: &mut LogRecord) {
        self.0
            .with_target(|attached| attached.logs.emit_owned(record.clone()));
    }

    fn emit_owned(&self, record: LogRecord) {
        self.0
            .with_target(|attached| attached.logs.emit_owned(record));
    }

    fn enabled(&self, _severity: Severity, _scope: &InstrumentationScope) -> bool {
        // Relaxed: a record racing an attach may go either way.
        self.0.active.load(Ordering::Relaxed)
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), LogError> {
        let mut result = Ok(());
        self.0
            .with_target(|attached| result = attached.logs.force_flush(timeout));
        result
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), LogError> {
        self.force_flush(timeout)
    }
}

/// A dashboard running in this process, fed by a pipeline: from
/// [`start_dashboard_server`](crate::start_dashboard_server) or
/// [`Telemetry::start_dashboard_server`](crate::Telemetry::start_dashboard_server).
///
/// Dropping it (or [`shutdown`](Self::shutdown)) detaches it from the pipeline, flushes
/// what the pipeline sent, and stops the server; the pipeline's taps are empty again and a
/// new dashboard may be started.
#[must_use = "the dashboard stops as soon as the handle is dropped"]
pub struct DashboardHandle {
    slot: Arc<Slot>,
    attached: Arc<Attached>,
    /// The collector thread and the sender that stops it (by being dropped or sent to).
    collector: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

impl fmt::Debug for DashboardHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DashboardHandle")
            .field("ui_addr", &self.attached.ui_addr)
            .field("http_addr", &self.attached.http_addr)
            .field("grpc_addr", &self.attached.grpc_addr)
            .finish_non_exhaustive()
    }
}

impl DashboardHandle {
    /// Where the pages and the JSON API are (`http://{ui_addr}/`).
    pub fn ui_addr(&self) -> SocketAddr {
        self.attached.ui_addr
    }

    /// Where other processes send OTLP/HTTP (4318 unless it was taken).
    pub fn http_addr(&self) -> SocketAddr {
        self.attached.http_addr
    }

    /// Where other processes send OTLP/gRPC (4317 unless it was taken).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.attached.grpc_addr
    }

    /// Runs `f` with the dashboard itself (its store, say); `None` after shutdown.
    pub fn with_dashboard<R>(&self, f: impl FnOnce(&Dashboard) -> R) -> Option<R> {
        self.attached
            .dashboard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(f)
    }

    /// Pins a chart of `metric_name` on this dashboard's overview page, and on any later
    /// dashboard of the same pipeline.
    pub fn register_view(&self, metric_name: &str, chart: ChartType) -> Result<(), ViewError> {
        self.slot.register_view(metric_name, chart)
    }

    /// Flushes the pipeline's spans and records into the dashboard, collects its metrics,
    /// and pushes the result to every open page now.
    pub fn update_display(&self) {
        self.attached.update_display();
    }

    /// Detaches the dashboard from the pipeline, delivers what the pipeline sent it, and
    /// stops the server. Errors if the server thread had panicked.
    pub fn shutdown(mut self) -> Result<(), DashboardError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), DashboardError> {
        self.slot.detach(&self.attached);
        if let Some((stop, collector)) = self.collector.take() {
            drop(stop);
            // The thread only collects; a panic there is already reported by the runtime.
            let _ = collector.join();
        }
        // The last of what the pipeline sent: spans and records in the batch queues, and
        // the metrics as they are now.
        {
            let _quiet = telemetry_logs::SuppressGuard::new();
            self.attached.collect_metrics();
            let _ = self.attached.spans.shutdown(FLUSH_TIMEOUT);
            let _ = self.attached.logs.shutdown(FLUSH_TIMEOUT);
        }
        let dashboard = self
            .attached
            .dashboard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match dashboard {
            Some(dashboard) => dashboard
                .shutdown()
                .map_err(|error| DashboardError::new(DashboardErrorKind::Shutdown, error)),
            None => Ok(()),
        }
    }
}

impl Drop for DashboardHandle {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            diagnostic::report("telemetry", format_args!("stopping the dashboard: {error}"));
        }
    }
}

/// Why a dashboard did not start or stop cleanly.
#[derive(Debug)]
pub struct DashboardError {
    kind: DashboardErrorKind,
    running: Option<SocketAddr>,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

/// The kinds of [`DashboardError`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DashboardErrorKind {
    /// This pipeline already feeds a running dashboard (see
    /// [`DashboardError::running_ui_addr`]); stop it first.
    AlreadyRunning,
    /// The server could not start: a port was taken or could not be bound (the source says
    /// which).
    Start,
    /// A worker thread (a batch processor's or the metric collector's) could not start.
    Worker,
    /// The server thread had panicked when it was stopped.
    Shutdown,
}

impl DashboardError {
    fn new(kind: DashboardErrorKind, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        DashboardError {
            kind,
            running: None,
            source: Some(source.into()),
        }
    }

    fn already_running(ui_addr: SocketAddr) -> Self {
        DashboardError {
            kind: DashboardErrorKind::AlreadyRunning,
            running: Some(ui_addr),
            source: None,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> DashboardErrorKind {
        self.kind
    }

    /// For [`DashboardErrorKind::AlreadyRunning`], where the running dashboard's pages are.
    pub fn running_ui_addr(&self) -> Option<SocketAddr> {
        self.running
    }
}

impl fmt::Display for DashboardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DashboardErrorKind::AlreadyRunning => match self.running {
                Some(addr) => write!(
                    f,
                    "this pipeline already feeds the dashboard at http://{addr}/"
                ),
                None => f.write_str("this pipeline already feeds a dashboard"),
            },
            DashboardErrorKind::Start => f.write_str("the dashboard could not start"),
            DashboardErrorKind::Worker => {
                f.write_str("a worker thread of the dashboard could not start")
            }
            DashboardErrorKind::Shutdown => f.write_str("the dashboard did not stop cleanly"),
        }?;
        if let Some(source) = &self.source {
            write!(f, ": {source}")?;
        }
        Ok(())
    }
}

impl StdError for DashboardError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

#[cfg(test)]
mod tests {
    use http::Method;
    use telemetry_dashboard::backend::{ApiRequest, Backend};
    use telemetry_logs::Severity;

    use super::*;
    use crate::{Telemetry, TelemetryBuilder};

    type TestResult = Result<(), Box<dyn StdError>>;

    fn free_ports() -> DashboardBuilder {
        Dashboard::builder().ui_port(0).grpc_port(0).http_port(0)
    }

    fn pipeline() -> Result<Telemetry, crate::BuildError> {
        TelemetryBuilder::new()
            .with_service_name("live-test")
            .with_exporters([])
            .build()
    }

    /// The body of `GET path` on the dashboard's API, as text.
    fn get(handle: &DashboardHandle, path: &str, query: Option<&str>) -> Result<String, String> {
        let body = handle
            .with_dashboard(|dashboard| {
                dashboard
                    .store()
                    .api(&ApiRequest {
                        method: &Method::GET,
                        path,
                        query,
                        body: &[],
                    })
                    .body
            })
            .ok_or("the dashboard is shut down")?;
        String::from_utf8(body).map_err(|e| e.to_string())
    }

    #[test]
    fn spans_metrics_logs_and_pinned_views_reach_the_dashboard() -> TestResult {
        let telemetry = pipeline()?;
        // Before the start: kept and applied when it starts.
        telemetry.register_view("jobs.done", ChartType::Stat)?;
        // Data from before the start is not shown: the taps were empty.
        drop(telemetry.start_span("before", None));
        let handle = telemetry.start_dashboard(free_ports())?;
        telemetry.register_view("job.duration", ChartType::Heatmap)?;
        telemetry.register_view("jobs.done", ChartType::Bar)?;

        telemetry.create_counter("jobs.done")?.add(2.0, &[]);
        telemetry.create_histogram("job.duration")?.record(0.5, &[]);
        let span = telemetry.start_span("job", None);
        {
            let _current = span.enter();
            telemetry
                .logger()
                .emit(LogRecord::new(Severity::WARN).with_body("slow job"));
        }
        drop(span);
        telemetry.update_display();

        let services = get(&handle, "/api/services", None)?;
        assert!(services.contains("\"live-test\""), "{services}");
        let traces = get(&handle, "/api/traces", Some("service=live-test"))?;
        assert!(traces.contains("\"rootName\":\"job\""), "{traces}");
        assert!(!traces.contains("\"before\""), "{traces}");
        let metrics = get(&handle, "/api/metrics", None)?;
        assert!(metrics.contains("\"jobs.done\""), "{metrics}");
        assert!(metrics.contains("\"job.duration\""), "{metrics}");
        let logs = get(&handle, "/api/logs", None)?;
        assert!(logs.contains("slow job"), "{logs}");
        let views = handle
            .with_dashboard(|d| d.store().views())
            .unwrap_or_default();
        let views: Vec<(&str, ChartType)> =
            views.iter().map(|v| (v.metric.as_str(), v.chart)).collect();
        assert_eq!(
            views,
            [
                ("jobs.done", ChartType::Bar),
                ("job.duration", ChartType::Heatmap)
            ]
        );
        handle.shutdown()?;
        Ok(())
    }

    #[test]
    fn a_second_start_is_refused_until_the_first_stops_and_views_survive_a_restart() -> TestResult {
        let telemetry = pipeline()?;
        let first = telemetry.start_dashboard(free_ports())?;
        let error = telemetry
            .start_dashboard(free_ports())
            .err()
            .ok_or("a second dashboard started")?;
        assert_eq!(error.kind(), DashboardErrorKind::AlreadyRunning);
        assert_eq!(error.running_ui_addr(), Some(first.ui_addr()));
        assert!(error.to_string().contains(&first.ui_addr().to_string()));
        telemetry.register_view("kept", ChartType::Line)?;
        drop(first);

        // Stopped: the taps are empty again, and updating is a no-op.
        drop(telemetry.start_span("between", None));
        telemetry.update_display();
        let second = telemetry.start_dashboard(free_ports())?;
        drop(telemetry.start_span("after", None));
        second.update_display();
        let traces = get(&second, "/api/traces", None)?;
        assert!(traces.contains("\"after\""), "{traces}");
        assert!(!traces.contains("\"between\""), "{traces}");
        let views = get(&second, "/api/views", None)?;
        assert!(views.contains("\"kept\""), "{views}");
        second.shutdown()?;
        Ok(())
    }

    #[test]
    fn bad_views_are_refused_before_and_after_the_start() -> TestResult {
        let telemetry = pipeline()?;
        assert_eq!(
            telemetry.register_view("", ChartType::Line),
            Err(ViewError::BadMetricName)
        );
        let long = "m".repeat(MAX_VIEW_NAME + 1);
        assert_eq!(
            telemetry.register_view(&long, ChartType::Line),
            Err(ViewError::BadMetricName)
        );
        for i in 0..MAX_VIEWS {
            telemetry.register_view(&format!("metric.{i}"), ChartType::Line)?;
        }
        assert_eq!(
            telemetry.register_view("one.too.many", ChartType::Line),
            Err(ViewError::TooManyViews)
        );
        // Changing the chart of a pinned metric is not a new view.
        telemetry.register_view("metric.0", ChartType::Area)?;
        let handle = telemetry.start_dashboard(free_ports())?;
        let views = handle.with_dashboard(|d| d.store().views().len());
        assert_eq!(views, Some(MAX_VIEWS));
        assert_eq!(
            handle.register_view("one.too.many", ChartType::Line),
            Err(ViewError::TooManyViews)
        );
        Ok(())
    }

    #[test]
    fn a_taken_ui_port_is_a_start_error_and_a_disabled_pipeline_still_serves() -> TestResult {
        let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
        let telemetry = pipeline()?;
        let error = telemetry
            .start_dashboard(free_ports().ui_port(taken.local_addr()?.port()))
            .err()
            .ok_or("started on a taken port")?;
        assert_eq!(error.kind(), DashboardErrorKind::Start);
        assert!(error.source().is_some());
        // The failed start left nothing attached.
        telemetry.start_dashboard(free_ports())?.shutdown()?;

        let disabled = TelemetryBuilder::new().with_disabled(true).build()?;
        let handle = disabled.start_dashboard(free_ports())?;
        drop(disabled.start_span("not recorded", None));
        handle.update_display();
        let services = get(&handle, "/api/services", None)?;
        assert_eq!(services.trim(), "[]");
        Ok(())
    }

    #[test]
    fn an_empty_tap_leaves_spans_and_records_alone() -> TestResult {
        let slot = Slot::new(None, Resource::empty());
        let tap = SpanTap(Arc::clone(&slot));
        let logs = LogTap(Arc::clone(&slot));
        let scope = InstrumentationScope::builder("t").build();
        assert!(!logs.enabled(Severity::ERROR, &scope));
        tap.force_flush(FLUSH_TIMEOUT)?;
        tap.shutdown(FLUSH_TIMEOUT)?;
        logs.force_flush(FLUSH_TIMEOUT)?;
        logs.shutdown(FLUSH_TIMEOUT)?;
        slot.update_display();
        Ok(())
    }
}
