//! The pipeline handle: three providers, a propagator and the instrument registry, built from
//! a [`TelemetryBuilder`] and installable as the process-wide pipeline.

use std::any::type_name;
use std::collections::HashMap;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use telemetry_context::CompositePropagator;
use telemetry_core::{KeyValue, Resource, StringValue, diagnostic};
use telemetry_logs::{
    BatchLogProcessor, ConsoleLogExporter, LogExporter, Logger, LoggerProvider, SimpleLogProcessor,
};
use telemetry_metrics::{
    ConsoleMetricExporter, Counter, Gauge, Histogram, InstrumentError, InstrumentKind, Meter,
    MeterProvider, PeriodicReaderBuilder, PushMetricExporter, UpDownCounter,
};
use telemetry_span::{
    BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, Span, SpanExporter, SpanRef,
    Status, Tracer, TracerProvider,
};

use crate::config::{ExporterKind, TelemetryBuilder};
use crate::error::{BuildError, PipelineError, RecordError, RecordErrorKind, Signal};

/// Anything that names a span: a [`Span`] or a [`SpanRef`]. Lets
/// [`start_span`](crate::start_span) and [`link_span`](crate::link_span) take either.
pub trait AsSpanRef {
    /// The span's handle.
    fn as_span_ref(&self) -> &SpanRef;
}

impl AsSpanRef for Span {
    fn as_span_ref(&self) -> &SpanRef {
        self
    }
}

impl AsSpanRef for SpanRef {
    fn as_span_ref(&self) -> &SpanRef {
        self
    }
}

/// A number [`record_metric`](crate::record_metric) takes: every primitive integer and
/// float type.
///
/// The instruments made by name hold `f64`s, so the value is converted to `f64`; integers
/// above 2^53 lose their lowest bits, as they would in any `f64` instrument. (The metrics
/// crate's own `MetricValue` covers only `u64`, `i64` and `f64`, so a bare literal such as
/// `3`, which Rust types as `i32`, would not compile against it.) Sealed: the conversion is
/// this crate's business.
pub trait RecordValue: sealed::Sealed + Copy {
    /// The value as the `f64` the instruments hold.
    #[doc(hidden)]
    fn to_f64(self) -> f64;
}

mod sealed {
    /// Keeps [`RecordValue`](super::RecordValue) implemented for the primitive numbers only.
    pub trait Sealed {}
}

/// Implements [`RecordValue`] for types whose `as f64` is the nearest `f64` (exact up to
/// 2^53, rounded above).
macro_rules! record_value {
    ($($ty:ty),*) => {$(
        impl sealed::Sealed for $ty {}
        impl RecordValue for $ty {
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_lossless,
                reason = "the instruments hold f64: rounding above 2^53 is documented"
            )]
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}

record_value!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64
);

/// A telemetry pipeline: a tracer, meter and logger provider sharing one resource, the
/// propagator for crossing processes, and the instruments created by name.
///
/// Cheap to clone (clones share everything). Build one with [`Telemetry::builder`] and keep
/// it, or install one for the whole process with [`init`](crate::init) and use the free
/// functions of the crate root, which go to the installed pipeline.
///
/// ```
/// use telemetry::{ExporterKind, Telemetry};
/// use telemetry::span::InMemorySpanExporter;
///
/// let spans = InMemorySpanExporter::new();
/// let telemetry = Telemetry::builder()
///     .with_exporters([])
///     .with_span_exporter(spans.clone())
///     .build()?;
/// let parent = telemetry.start_span("parent", None);
/// let child = telemetry.start_span("child", Some(&parent));
/// drop((child, parent));
/// telemetry.shutdown()?;
/// assert_eq!(spans.finished_spans().len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

struct Inner {
    tracer_provider: TracerProvider,
    meter_provider: MeterProvider,
    logger_provider: LoggerProvider,
    propagator: CompositePropagator,
    tracer: Tracer,
    meter: Meter,
    logger: Logger,
    disabled: bool,
    /// The instruments made by `create_*`, by lowercased name (instrument names compare
    /// case-insensitively). Grows only by the caller's own `create_*` calls.
    instruments: RwLock<HashMap<String, Registered>>,
    #[cfg(feature = "log")]
    pub(crate) log_bridge: telemetry_logs::LogBridge,
    #[cfg(feature = "tracing")]
    pub(crate) tracing_layer: telemetry_logs::TracingLayer,
    /// Where the taps lead once a dashboard starts.
    #[cfg(feature = "dashboard")]
    dashboard: Arc<crate::live::Slot>,
    /// The OTLP ports (gRPC, HTTP) `start_dashboard_server` opens, when the builder set them.
    #[cfg(feature = "dashboard")]
    dashboard_otlp_ports: Option<(u16, u16)>,
}

/// An instrument made by name, for `record_metric`.
#[derive(Clone)]
enum Registered {
    Counter(Counter<f64>),
    UpDownCounter(UpDownCounter<f64>),
    Gauge(Gauge<f64>),
    Histogram(Histogram<f64>),
}

impl Registered {
    fn kind(&self) -> InstrumentKind {
        match self {
            Registered::Counter(_) => InstrumentKind::Counter,
            Registered::UpDownCounter(_) => InstrumentKind::UpDownCounter,
            Registered::Gauge(_) => InstrumentKind::Gauge,
            Registered::Histogram(_) => InstrumentKind::Histogram,
        }
    }
}

impl fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Telemetry")
            .field("disabled", &self.inner.disabled)
            .field("resource", self.inner.tracer_provider.resource())
            .field("propagator", &self.inner.propagator)
            .finish_non_exhaustive()
    }
}

impl Telemetry {
    /// A builder with the specification's defaults, ignoring the environment
    /// ([`TelemetryBuilder::new`]).
    pub fn builder() -> TelemetryBuilder {
        TelemetryBuilder::new()
    }

    /// A pipeline that records nothing and exports nothing, but still propagates context
    /// with the W3C propagators: what the free functions use before [`init`](crate::init).
    pub fn disabled() -> Telemetry {
        static DISABLED: OnceLock<Telemetry> = OnceLock::new();
        DISABLED
            .get_or_init(|| build(TelemetryBuilder::new().with_disabled(true), Mode::Lenient))
            .clone()
    }

    /// True when built with `OTEL_SDK_DISABLED=true` (or [`Telemetry::disabled`]).
    pub fn is_disabled(&self) -> bool {
        self.inner.disabled
    }

    /// The resource every signal carries.
    pub fn resource(&self) -> &Resource {
        self.inner.tracer_provider.resource()
    }

    /// The tracer provider.
    pub fn tracer_provider(&self) -> &TracerProvider {
        &self.inner.tracer_provider
    }

    /// The meter provider.
    pub fn meter_provider(&self) -> &MeterProvider {
        &self.inner.meter_provider
    }

    /// The logger provider.
    pub fn logger_provider(&self) -> &LoggerProvider {
        &self.inner.logger_provider
    }

    /// The propagator `OTEL_PROPAGATORS` named (W3C trace context and baggage by default).
    pub fn propagator(&self) -> &CompositePropagator {
        &self.inner.propagator
    }

    /// The facade's tracer (scope `"telemetry"` unless the builder renamed it).
    pub fn tracer(&self) -> &Tracer {
        &self.inner.tracer
    }

    /// The facade's meter, which `create_*` use.
    pub fn meter(&self) -> &Meter {
        &self.inner.meter
    }

    /// The facade's logger.
    pub fn logger(&self) -> &Logger {
        &self.inner.logger
    }

    /// Starts a span named `name` as a child of `parent`, or of the current span when
    /// `parent` is `None` (a root span when there is none). The span is not made current:
    /// call [`SpanRef::enter`] for that. It ends when dropped.
    ///
    /// ```
    /// let telemetry = telemetry::Telemetry::builder().with_exporters([]).build()?;
    /// let parent = telemetry.start_span("request", None);
    /// let child = telemetry.start_span("query", Some(&parent));
    /// assert_eq!(child.span_context().trace_id(), parent.span_context().trace_id());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn start_span(&self, name: impl Into<StringValue>, parent: Option<&dyn AsSpanRef>) -> Span {
        let builder = self.inner.tracer.span_builder(name);
        match parent {
            Some(parent) => builder.with_parent(parent.as_span_ref()).start(),
            None => builder.start(),
        }
    }

    /// Runs `f` inside a new current span named `name` with `attributes`, the way
    /// `#[traced]` wraps a function: an `Err` adds an `exception` event and sets the status
    /// to ERROR with the error's message; a panic does the same and goes on unwinding.
    ///
    /// ```
    /// let telemetry = telemetry::Telemetry::builder().with_exporters([]).build()?;
    /// let parsed: Result<u8, _> = telemetry.traced("parse", Vec::new(), || "300".parse::<u8>());
    /// assert!(parsed.is_err()); // and the span's status is ERROR
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn traced<T, E: fmt::Display>(
        &self,
        name: impl Into<StringValue>,
        attributes: Vec<KeyValue>,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, E> {
        let span = self
            .inner
            .tracer
            .span_builder(name)
            .with_attributes(attributes)
            .start();
        run_traced(&span, f)
    }

    /// Adds a link from `span` to `target` (the target may be in another trace).
    ///
    /// ```
    /// let telemetry = telemetry::Telemetry::builder().with_exporters([]).build()?;
    /// let producer = telemetry.start_span("enqueue", None);
    /// let consumer = telemetry.start_span("process", None);
    /// telemetry.link_span(&consumer, &producer);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn link_span(&self, span: &impl AsSpanRef, target: &impl AsSpanRef) {
        link(span, target);
    }

    /// The current span, if any: a cheap handle.
    ///
    /// ```
    /// let telemetry = telemetry::Telemetry::builder().with_exporters([]).build()?;
    /// let span = telemetry.start_span("work", None);
    /// let _current = span.enter();
    /// let current = telemetry.get_current_span().map(|s| s.span_context().span_id());
    /// assert_eq!(current, Some(span.span_context().span_id()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_current_span(&self) -> Option<SpanRef> {
        SpanRef::current()
    }

    /// Creates (or returns) the counter `name`: a monotonic `f64` sum. Fails only on an
    /// invalid name (`ALPHA 0*254 (ALPHA / DIGIT / "_" / "." / "-" / "/")`).
    ///
    /// ```
    /// let telemetry = telemetry::Telemetry::builder().with_exporters([]).build()?;
    /// telemetry.create_counter("requests")?.add(1.0, &[]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_counter(&self, name: &str) -> Result<Counter<f64>, InstrumentError> {
        let counter = self.inner.meter.f64_counter(name).build()?;
        self.register(name, Registered::Counter(counter.clone()));
        Ok(counter)
    }

    /// Creates (or returns) the up-down counter `name`: an `f64` sum that may go down.
    ///
    /// ```
    /// let telemetry = telemetry::Telemetry::builder().with_exporters([]).build()?;
    /// telemetry.create_up_down_counter("queue.length")?.add(-2.0, &[]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_up_down_counter(
        &self,
        name: &str,
    ) -> Result<UpDownCounter<f64>, InstrumentError> {
        let counter = self.inner.meter.f64_up_down_counter(name).build()?;
        self.register(name, Registered::UpDownCounter(counter.clone()));
        Ok(counter)
    }

    /// Creates (or returns) the gauge `name`: the last recorded `f64` value.
    ///
    /// ```
    /// let telemetry = telemetry::Telemetry::builder().with_exporters([]).build()?;
    /// telemetry.create_gauge("cpu.temperature")?.record(61.5, &[]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_gauge(&self, name: &str) -> Result<Gauge<f64>, InstrumentError> {
        let gauge = self.inner.meter.f64_gauge(name).build()?;
        self.register(name, Registered::Gauge(gauge.clone()));
        Ok(gauge)
    }

    /// Creates (or returns) the histogram `name`: a distribution of `f64` values with the
    /// default explicit buckets.
    ///
    /// ```
    /// let telemetry = telemetry::Telemetry::builder().with_exporters([]).build()?;
    /// telemetry.create_histogram("payload.size")?.record(512.0, &[]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_histogram(&self, name: &str) -> Result<Histogram<f64>, InstrumentError> {
        let histogram = self.inner.meter.f64_histogram(name).build()?;
        self.register(name, Registered::Histogram(histogram.clone()));
        Ok(histogram)
    }

    /// Records `value` with `attributes` into the instrument created under `name` by one of
    /// the `create_*` methods: added to a counter or up-down counter, set on a gauge,
    /// recorded in a histogram.
    ///
    /// Every instrument made by name holds `f64`s; any primitive integer or float is
    /// accepted ([`RecordValue`]) and converted. A value of the wrong kind for the instrument
    /// is an error and records nothing: a negative value for a counter or a histogram
    /// ([`RecordErrorKind::NegativeValue`]), NaN or an infinity for any instrument
    /// ([`RecordErrorKind::NotFinite`]). An unknown name is
    /// [`RecordErrorKind::UnknownInstrument`].
    ///
    /// ```
    /// let telemetry = telemetry::Telemetry::builder().with_exporters([]).build()?;
    /// telemetry.create_histogram("request.duration")?;
    /// telemetry.record_metric("request.duration", 0.25, &[telemetry::KeyValue::new("route", "/")])?;
    /// assert!(telemetry.record_metric("request.duration", -1, &[]).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn record_metric(
        &self,
        name: &str,
        value: impl RecordValue,
        attributes: &[KeyValue],
    ) -> Result<(), RecordError> {
        let value = value.to_f64();
        let instrument = self
            .inner
            .instruments
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&name.to_ascii_lowercase())
            .cloned()
            .ok_or_else(|| RecordError::new(RecordErrorKind::UnknownInstrument, name))?;
        if !value.is_finite() {
            return Err(RecordError::new(RecordErrorKind::NotFinite, name));
        }
        match instrument {
            Registered::Counter(_) | Registered::Histogram(_) if value < 0.0 => {
                return Err(RecordError::new(RecordErrorKind::NegativeValue, name));
            }
            Registered::Counter(counter) => counter.add(value, attributes),
            Registered::UpDownCounter(counter) => counter.add(value, attributes),
            Registered::Gauge(gauge) => gauge.record(value, attributes),
            Registered::Histogram(histogram) => histogram.record(value, attributes),
        }
        Ok(())
    }

    /// Remembers an instrument for `record_metric`. The first instrument of a name stays:
    /// a later one of another kind still works through its handle, with a warning.
    fn register(&self, name: &str, instrument: Registered) {
        let mut instruments = self
            .inner
            .instruments
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let kind = instrument.kind();
        let existing = instruments
            .entry(name.to_ascii_lowercase())
            .or_insert(instrument);
        if existing.kind() != kind {
            diagnostic::report(
                "telemetry",
                format_args!(
                    "instrument {name:?} was created as a {:?} and again as a {:?}; \
                     record_metric keeps using the {:?}",
                    existing.kind(),
                    kind,
                    existing.kind()
                ),
            );
        }
    }

    /// Exports everything recorded so far, on every signal; the three signals flush at once
    /// (see [`Telemetry::shutdown`]).
    pub fn force_flush(&self) -> Result<(), PipelineError> {
        let inner = &*self.inner;
        let (traces, metrics, logs) = on_each_signal(
            &|| inner.tracer_provider.force_flush().err(),
            &|| inner.meter_provider.force_flush().err(),
            &|| inner.logger_provider.force_flush().err(),
        );
        PipelineError {
            traces,
            metrics,
            logs,
        }
        .into_result()
    }

    /// Flushes and stops every signal; later data is dropped. Shutting down twice reports
    /// the second call as an error from each provider.
    ///
    /// The three signals shut down at once, each on its own thread: with the collector down
    /// each waits out its export deadline, and one after another they took three deadlines
    /// (33 s with the defaults, past the 30 s a container is given to stop, so the last
    /// signal's data was lost to SIGKILL). Together they take the longest one.
    pub fn shutdown(&self) -> Result<(), PipelineError> {
        let inner = &*self.inner;
        let (traces, metrics, logs) = on_each_signal(
            &|| inner.tracer_provider.shutdown().err(),
            &|| inner.meter_provider.shutdown().err(),
            &|| inner.logger_provider.shutdown().err(),
        );
        PipelineError {
            traces,
            metrics,
            logs,
        }
        .into_result()
    }

    /// Makes this pipeline the process-wide one (the free functions, `#[traced]`, the
    /// `log`/`tracing` bridges and the HTTP layers use it) until the guard drops, which puts
    /// back the previous one. Nothing is shut down: for tests and for programs that swap
    /// pipelines. Installs nest: a guard dropped while a later install is still in place
    /// only removes its own pipeline from under that one. Two scoped
    /// installs in threads at once would see each other's pipeline: tests that install run
    /// one at a time (or in their own process).
    pub fn install(&self) -> InstallGuard {
        let id = NEXT_INSTALL.fetch_add(1, Ordering::Relaxed);
        {
            let mut installs = INSTALLS
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let previous =
                telemetry_span::global::set_tracer_provider(self.inner.tracer_provider.clone());
            if installs.stack.is_empty() {
                // Whatever was there before the first install comes back after the last.
                installs.base_tracer_provider = previous;
            }
            installs.stack.push((id, self.clone()));
        }
        crate::bridges::install_once();
        InstallGuard { id }
    }

    /// Starts the dashboard in this process, with its pages and JSON API on
    /// 127.0.0.1:`port` (0 picks a free port), fed directly by this pipeline (no OTLP
    /// round-trip), and open to OTLP from other processes on the ports
    /// [`TelemetryBuilder::with_dashboard_otlp_ports`] set, by default 4317 and 4318, or
    /// free ports when those are taken
    /// ([`DashboardHandle::http_addr`](crate::DashboardHandle::http_addr) says which).
    ///
    /// Spans and log records reach it through batch processors of its own; metrics are
    /// collected every [`DASHBOARD_COLLECT_INTERVAL`](crate::DASHBOARD_COLLECT_INTERVAL).
    /// Views pinned with [`register_view`](Self::register_view) before the start appear at
    /// once. A pipeline feeds one dashboard at a time: a second start while the first runs
    /// is a [`DashboardErrorKind::AlreadyRunning`](crate::DashboardErrorKind) error naming
    /// the running one's address. Dropping the handle stops the dashboard; a new one may be
    /// started then. A disabled pipeline's dashboard shows only what other processes send.
    ///
    /// ```
    /// let telemetry = telemetry::Telemetry::builder()
    ///     .with_exporters([])
    ///     .with_dashboard_otlp_ports(0, 0) // free ports: 4317 and 4318 may be in use
    ///     .build()?;
    /// let dashboard = telemetry.start_dashboard_server(0)?;
    /// drop(telemetry.start_span("shown", None));
    /// telemetry.update_display();
    /// println!("open http://{}/", dashboard.ui_addr());
    /// let again = telemetry.start_dashboard_server(0).map_err(|e| e.kind());
    /// assert_eq!(again.err(), Some(telemetry::DashboardErrorKind::AlreadyRunning));
    /// dashboard.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "dashboard")]
    pub fn start_dashboard_server(
        &self,
        port: u16,
    ) -> Result<crate::DashboardHandle, crate::DashboardError> {
        let mut settings = telemetry_dashboard::Dashboard::builder().ui_port(port);
        if let Some((grpc, http)) = self.inner.dashboard_otlp_ports {
            settings = settings.grpc_port(grpc).http_port(http);
        }
        self.start_dashboard(settings)
    }

    /// [`start_dashboard_server`](Self::start_dashboard_server) with every setting of the
    /// dashboard: OTLP ports, memory budget, bind address and token.
    ///
    /// ```
    /// use telemetry::dashboard::Dashboard;
    ///
    /// let telemetry = telemetry::Telemetry::builder().with_exporters([]).build()?;
    /// let settings = Dashboard::builder().ui_port(0).grpc_port(0).http_port(0);
    /// let dashboard = telemetry.start_dashboard(settings)?;
    /// assert_ne!(dashboard.http_addr().port(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "dashboard")]
    pub fn start_dashboard(
        &self,
        settings: telemetry_dashboard::DashboardBuilder,
    ) -> Result<crate::DashboardHandle, crate::DashboardError> {
        self.inner.dashboard.start(settings)
    }

    /// Pins a chart of `metric_name` (line, area, bar, heatmap or stat) on the dashboard's
    /// overview page: on the running dashboard, and on every one this pipeline starts later,
    /// so views may be registered before the dashboard starts. Registering a metric again
    /// changes its chart. Fails on an empty name or one over
    /// [`MAX_VIEW_NAME`](crate::dashboard::MAX_VIEW_NAME) bytes, or when
    /// [`MAX_VIEWS`](crate::dashboard::MAX_VIEWS) views are pinned already.
    ///
    /// ```
    /// use telemetry::ChartType;
    ///
    /// let telemetry = telemetry::Telemetry::builder().with_exporters([]).build()?;
    /// telemetry.register_view("request.duration", ChartType::Heatmap)?;
    /// assert!(telemetry.register_view("", ChartType::Line).is_err());
    /// # // Free OTLP ports too, so concurrent doc tests do not race for 4317 and 4318.
    /// # let free = telemetry::dashboard::Dashboard::builder().ui_port(0).grpc_port(0).http_port(0);
    /// let dashboard = telemetry.start_dashboard(free)?;
    /// telemetry.register_view("orders", ChartType::Stat)?;
    /// let views = dashboard.with_dashboard(|d| d.store().views().len());
    /// assert_eq!(views, Some(2));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "dashboard")]
    pub fn register_view(
        &self,
        metric_name: &str,
        chart: telemetry_dashboard::ChartType,
    ) -> Result<(), telemetry_dashboard::ViewError> {
        self.inner.dashboard.register_view(metric_name, chart)
    }

    /// Pushes the current state to every open page of the running dashboard now: flushes
    /// the spans and log records ended so far into it, collects the metrics, and has the
    /// server send the changes (instead of at its next tick). Runs on the calling thread;
    /// does nothing when no dashboard runs.
    ///
    /// ```
    /// let telemetry = telemetry::Telemetry::builder().with_exporters([]).build()?;
    /// telemetry.update_display(); // no dashboard yet: nothing to do
    /// # let free = telemetry::dashboard::Dashboard::builder().ui_port(0).grpc_port(0).http_port(0);
    /// let dashboard = telemetry.start_dashboard(free)?;
    /// telemetry.create_counter("jobs")?.add(1.0, &[]);
    /// drop(telemetry.start_span("job", None));
    /// telemetry.update_display();
    /// let used = dashboard.with_dashboard(|d| d.store().used_bytes());
    /// assert!(used > Some(0));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "dashboard")]
    pub fn update_display(&self) {
        self.inner.dashboard.update_display();
    }

    #[cfg(feature = "log")]
    pub(crate) fn log_bridge(&self) -> &telemetry_logs::LogBridge {
        &self.inner.log_bridge
    }

    #[cfg(feature = "tracing")]
    pub(crate) fn tracing_layer(&self) -> &telemetry_logs::TracingLayer {
        &self.inner.tracing_layer
    }
}

/// Ends `span` around `f` as `traced` describes.
pub(crate) fn run_traced<T, E: fmt::Display>(
    span: &Span,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let outcome = {
        let _current = span.enter();
        catch_unwind(AssertUnwindSafe(f))
    };
    match outcome {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            let message = error.to_string();
            span.record_exception(type_name::<E>(), &message, None);
            span.set_status(Status::error(message));
            Err(error)
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the function panicked".to_owned());
            span.record_exception("panic", &message, None);
            span.set_status(Status::error(message));
            span.end();
            resume_unwind(panic)
        }
    }
}

pub(crate) fn link(span: &impl AsSpanRef, target: &impl AsSpanRef) {
    let target = target.as_span_ref().span_context().clone();
    span.as_span_ref().add_link(target, Vec::new());
}

/// The installed pipelines, innermost last, and what the span crate's global held before
/// the first of them.
struct Installs {
    stack: Vec<(u64, Telemetry)>,
    base_tracer_provider: Option<TracerProvider>,
}

static INSTALLS: RwLock<Installs> = RwLock::new(Installs {
    stack: Vec::new(),
    base_tracer_provider: None,
});

/// Identifies each install, so that a guard removes its own. Relaxed: only uniqueness
/// matters.
static NEXT_INSTALL: AtomicU64 = AtomicU64::new(0);

/// The installed pipeline (the latest install still in place), or [`Telemetry::disabled`]
/// before any.
pub fn global() -> Telemetry {
    INSTALLS
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .stack
        .last()
        .map_or_else(Telemetry::disabled, |(_, telemetry)| telemetry.clone())
}

/// Undoes a [`Telemetry::install`] when dropped: the pipeline installed before it (or none)
/// is the process-wide one again.
#[must_use = "the pipeline is uninstalled as soon as the guard is dropped"]
#[derive(Debug)]
pub struct InstallGuard {
    id: u64,
}

impl Drop for InstallGuard {
    fn drop(&mut self) {
        let mut installs = INSTALLS
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(position) = installs.stack.iter().position(|(id, _)| *id == self.id) else {
            return;
        };
        installs.stack.remove(position);
        // Guards dropped out of order only remove themselves: the latest install still in
        // place stays current.
        if position < installs.stack.len() {
            return;
        }
        match installs.stack.last() {
            Some((_, telemetry)) => {
                telemetry_span::global::set_tracer_provider(telemetry.tracer_provider().clone());
            }
            None => match installs.base_tracer_provider.take() {
                Some(provider) => {
                    telemetry_span::global::set_tracer_provider(provider);
                }
                None => {
                    telemetry_span::global::take_tracer_provider();
                }
            },
        }
    }
}

/// The process-wide pipeline from [`init`](crate::init): flushes and shuts it down when
/// dropped, after uninstalling it. Keep it in `main` for the program's whole life.
#[must_use = "the pipeline shuts down as soon as the guard is dropped"]
pub struct TelemetryGuard {
    telemetry: Telemetry,
    install: Option<InstallGuard>,
}

impl TelemetryGuard {
    /// The installed pipeline.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("telemetry", &self.telemetry)
            .finish_non_exhaustive()
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // Uninstall first, so nothing new is recorded into providers being shut down.
        drop(self.install.take());
        if let Err(error) = self.telemetry.shutdown() {
            diagnostic::report(
                "telemetry",
                format_args!("shutting the pipeline down: {error}"),
            );
        }
    }
}

impl TelemetryBuilder {
    /// Builds the pipeline; fails if an exporter (or its worker thread) cannot start.
    pub fn build(self) -> Result<Telemetry, BuildError> {
        try_build(self, Mode::Strict)
    }

    /// Builds the pipeline, installs it for the whole process and returns the guard that
    /// shuts it down. An exporter that cannot start is reported and left out: never a
    /// panic, never an error.
    pub fn init(self) -> TelemetryGuard {
        let telemetry = build(self, Mode::Lenient);
        let install = telemetry.install();
        TelemetryGuard {
            telemetry,
            install: Some(install),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The first exporter that fails fails the build.
    Strict,
    /// Failures are reported and the exporter left out.
    Lenient,
}

fn build(builder: TelemetryBuilder, mode: Mode) -> Telemetry {
    match try_build(builder, mode) {
        Ok(telemetry) => telemetry,
        // Lenient builds do not fail; this arm keeps the types honest.
        Err(error) => {
            diagnostic::report("telemetry", format_args!("{error}; telemetry is disabled"));
            Telemetry::disabled()
        }
    }
}

/// Handles a failed exporter according to `mode`.
fn failed(mode: Mode, error: BuildError) -> Result<(), BuildError> {
    match mode {
        Mode::Strict => Err(error),
        Mode::Lenient => {
            diagnostic::report("telemetry", format_args!("{error}; left out"));
            Ok(())
        }
    }
}

fn try_build(builder: TelemetryBuilder, mode: Mode) -> Result<Telemetry, BuildError> {
    let propagator = builder.propagator();
    let TelemetryBuilder {
        disabled,
        resource,
        traces,
        metrics,
        logs,
        sampler,
        span_limits,
        log_limits,
        span_batch,
        log_batch,
        metric_interval,
        metric_timeout,
        exemplar_filter,
        min_log_severity,
        #[cfg(feature = "otlp")]
        otlp,
        span_exporters,
        metric_exporters,
        log_exporters,
        views,
        scope,
        #[cfg(feature = "dashboard")]
        dashboard_otlp_ports,
        ..
    } = builder;

    // The builder detected the resource from its own environment source: used as is, so the
    // providers neither read the process environment again nor report its errors again.
    let mut tracer_provider = TracerProvider::builder()
        .with_exact_resource(resource.clone())
        .with_sampler(sampler)
        .with_span_limits(span_limits);
    let mut meter_provider = MeterProvider::builder()
        .with_exact_resource(resource.clone())
        .with_exemplar_filter(exemplar_filter);
    for view in views {
        meter_provider = meter_provider.with_view(view);
    }
    #[cfg(feature = "dashboard")]
    let dashboard_resource = resource.clone();
    let mut logger_provider = LoggerProvider::builder()
        .with_exact_resource(resource)
        .with_limits(log_limits)
        .with_min_severity(min_log_severity);

    if !disabled {
        let reader = |exporter: Box<dyn PushMetricExporter>| {
            PeriodicReaderBuilder::from_env(BoxedMetricExporter(exporter), &[] as &[(&str, &str)])
                .with_interval(metric_interval)
                .with_timeout(metric_timeout)
                .build()
        };
        for kind in traces {
            match kind {
                // Console output is for people watching: written as each span ends.
                ExporterKind::Console => {
                    tracer_provider = tracer_provider
                        .with_span_processor(SimpleSpanProcessor::new(ConsoleSpanExporter::new()));
                }
                ExporterKind::Otlp => match otlp_span_exporter(
                    #[cfg(feature = "otlp")]
                    &otlp,
                ) {
                    Ok(exporter) => {
                        match BatchSpanProcessor::with_config(
                            BoxedSpanExporter(exporter),
                            span_batch,
                        ) {
                            Ok(processor) => {
                                tracer_provider = tracer_provider.with_span_processor(processor);
                            }
                            Err(error) => {
                                failed(mode, BuildError::new(Signal::Traces, "otlp", error))?;
                            }
                        }
                    }
                    Err(error) => failed(mode, error)?,
                },
            }
        }
        for exporter in span_exporters {
            match BatchSpanProcessor::with_config(BoxedSpanExporter(exporter), span_batch) {
                Ok(processor) => tracer_provider = tracer_provider.with_span_processor(processor),
                Err(error) => failed(mode, BuildError::new(Signal::Traces, "custom", error))?,
            }
        }

        for kind in metrics {
            match kind {
                ExporterKind::Console => {
                    meter_provider =
                        meter_provider.with_reader(reader(Box::new(ConsoleMetricExporter::new())));
                }
                ExporterKind::Otlp => match otlp_metric_exporter(
                    #[cfg(feature = "otlp")]
                    &otlp,
                ) {
                    Ok(exporter) => meter_provider = meter_provider.with_reader(reader(exporter)),
                    Err(error) => failed(mode, error)?,
                },
            }
        }
        for exporter in metric_exporters {
            meter_provider = meter_provider.with_reader(reader(exporter));
        }

        for kind in logs {
            match kind {
                ExporterKind::Console => {
                    logger_provider = logger_provider
                        .with_processor(SimpleLogProcessor::new(ConsoleLogExporter::new()));
                }
                ExporterKind::Otlp => match otlp_log_exporter(
                    #[cfg(feature = "otlp")]
                    &otlp,
                ) {
                    Ok(exporter) => {
                        match BatchLogProcessor::with_config(BoxedLogExporter(exporter), log_batch)
                        {
                            Ok(processor) => {
                                logger_provider = logger_provider.with_processor(processor);
                            }
                            Err(error) => {
                                failed(mode, BuildError::new(Signal::Logs, "otlp", error))?;
                            }
                        }
                    }
                    Err(error) => failed(mode, error)?,
                },
            }
        }
        for exporter in log_exporters {
            match BatchLogProcessor::with_config(BoxedLogExporter(exporter), log_batch) {
                Ok(processor) => logger_provider = logger_provider.with_processor(processor),
                Err(error) => failed(mode, BuildError::new(Signal::Logs, "custom", error))?,
            }
        }
    }

    // The dashboard's taps go last: the log tap may then take records without cloning.
    #[cfg(feature = "dashboard")]
    let dashboard = {
        let reader = (!disabled).then(telemetry_metrics::ManualReader::new);
        let slot = crate::live::Slot::new(reader.clone(), dashboard_resource.clone());
        if let Some(reader) = reader {
            tracer_provider =
                tracer_provider.with_span_processor(crate::live::SpanTap(slot.clone()));
            meter_provider = meter_provider.with_reader(reader);
            logger_provider = logger_provider.with_processor(crate::live::LogTap(slot.clone()));
        }
        slot
    };

    let tracer_provider = tracer_provider.build();
    let meter_provider = meter_provider.build();
    let logger_provider = logger_provider.build();
    Ok(Telemetry {
        inner: Arc::new(Inner {
            tracer: tracer_provider.tracer(scope),
            meter: meter_provider.meter(scope),
            logger: logger_provider.logger(scope),
            #[cfg(feature = "log")]
            log_bridge: telemetry_logs::LogBridge::new(&logger_provider),
            #[cfg(feature = "tracing")]
            tracing_layer: telemetry_logs::TracingLayer::new(&logger_provider),
            tracer_provider,
            meter_provider,
            logger_provider,
            propagator,
            disabled,
            instruments: RwLock::new(HashMap::new()),
            #[cfg(feature = "dashboard")]
            dashboard,
            #[cfg(feature = "dashboard")]
            dashboard_otlp_ports,
        }),
    })
}

#[cfg(feature = "otlp")]
fn otlp_span_exporter(
    otlp: &crate::config::OtlpSettings,
) -> Result<Box<dyn SpanExporter>, BuildError> {
    crate::exporters::span_exporter(&otlp.traces)
}

#[cfg(not(feature = "otlp"))]
fn otlp_span_exporter() -> Result<Box<dyn SpanExporter>, BuildError> {
    Err(BuildError::new(
        Signal::Traces,
        "otlp",
        crate::exporters::NotBuilt,
    ))
}

#[cfg(feature = "otlp")]
fn otlp_metric_exporter(
    otlp: &crate::config::OtlpSettings,
) -> Result<Box<dyn PushMetricExporter>, BuildError> {
    crate::exporters::metric_exporter(&otlp.metrics, otlp.temporality)
}

#[cfg(not(feature = "otlp"))]
fn otlp_metric_exporter() -> Result<Box<dyn PushMetricExporter>, BuildError> {
    Err(BuildError::new(
        Signal::Metrics,
        "otlp",
        crate::exporters::NotBuilt,
    ))
}

#[cfg(feature = "otlp")]
fn otlp_log_exporter(
    otlp: &crate::config::OtlpSettings,
) -> Result<Box<dyn LogExporter>, BuildError> {
    crate::exporters::log_exporter(&otlp.logs)
}

#[cfg(not(feature = "otlp"))]
fn otlp_log_exporter() -> Result<Box<dyn LogExporter>, BuildError> {
    Err(BuildError::new(
        Signal::Logs,
        "otlp",
        crate::exporters::NotBuilt,
    ))
}

/// A boxed span exporter as an exporter (the processors take `impl SpanExporter`).
#[derive(Debug)]
struct BoxedSpanExporter(Box<dyn SpanExporter>);

impl SpanExporter for BoxedSpanExporter {
    fn export(
        &mut self,
        batch: &[telemetry_span::SpanData],
    ) -> Result<(), telemetry_span::ExportError> {
        self.0.export(batch)
    }

    fn force_flush(&mut self) -> Result<(), telemetry_span::ExportError> {
        self.0.force_flush()
    }

    fn shutdown(&mut self) -> Result<(), telemetry_span::ExportError> {
        self.0.shutdown()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }

    fn set_export_timeout(&mut self, timeout: Option<Duration>) {
        self.0.set_export_timeout(timeout);
    }
}

/// Runs the traces work on the calling thread and the metrics and logs work on threads of
/// their own, and returns the three results. Work whose thread cannot be started runs on
/// the calling thread after the traces work; a panic in any of them is resumed here.
fn on_each_signal<A, B: Send, C: Send>(
    traces: &(dyn Fn() -> A + Sync),
    metrics: &(dyn Fn() -> B + Sync),
    logs: &(dyn Fn() -> C + Sync),
) -> (A, B, C) {
    std::thread::scope(|scope| {
        let metrics_thread = start_signal_thread(scope, metrics);
        let logs_thread = start_signal_thread(scope, logs);
        let traces = traces();
        (
            traces,
            join_signal_thread(metrics_thread, metrics),
            join_signal_thread(logs_thread, logs),
        )
    })
}

fn start_signal_thread<'scope, 'env, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    work: &'env (dyn Fn() -> T + Sync),
) -> Option<std::thread::ScopedJoinHandle<'scope, T>> {
    std::thread::Builder::new()
        .name("telemetry-stop".to_owned())
        .spawn_scoped(scope, work)
        .ok()
}

fn join_signal_thread<T>(
    thread: Option<std::thread::ScopedJoinHandle<'_, T>>,
    work: &(dyn Fn() -> T + Sync),
) -> T {
    match thread {
        Some(thread) => thread.join().unwrap_or_else(|panic| resume_unwind(panic)),
        None => work(),
    }
}

/// A boxed metric exporter as an exporter.
#[derive(Debug)]
struct BoxedMetricExporter(Box<dyn PushMetricExporter>);

impl PushMetricExporter for BoxedMetricExporter {
    fn export(
        &mut self,
        metrics: &telemetry_metrics::data::ResourceMetrics,
    ) -> Result<(), telemetry_metrics::ExportError> {
        self.0.export(metrics)
    }

    fn force_flush(&mut self) -> Result<(), telemetry_metrics::ExportError> {
        self.0.force_flush()
    }

    fn shutdown(&mut self) -> Result<(), telemetry_metrics::ExportError> {
        self.0.shutdown()
    }

    fn temporality(&self, kind: InstrumentKind) -> telemetry_metrics::data::Temporality {
        self.0.temporality(kind)
    }

    // Without this the reader's timeout (OTEL_METRIC_EXPORT_TIMEOUT, and the time left at
    // shutdown) never reached the boxed exporter, which kept its own.
    fn set_export_timeout(&mut self, timeout: Option<Duration>) {
        self.0.set_export_timeout(timeout);
    }
}

/// A boxed log exporter as an exporter.
#[derive(Debug)]
struct BoxedLogExporter(Box<dyn LogExporter>);

impl LogExporter for BoxedLogExporter {
    fn export(
        &mut self,
        batch: &[telemetry_logs::LogRecord],
    ) -> Result<(), telemetry_logs::ExportError> {
        self.0.export(batch)
    }

    fn force_flush(&mut self) -> Result<(), telemetry_logs::ExportError> {
        self.0.force_flush()
    }

    fn shutdown(&mut self) -> Result<(), telemetry_logs::ExportError> {
        self.0.shutdown()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }

    fn set_export_timeout(&mut self, timeout: Option<Duration>) {
        self.0.set_export_timeout(timeout);
    }
}

#[cfg(test)]
mod tests {
    use telemetry_logs::InMemoryLogExporter;
    use telemetry_metrics::InMemoryMetricExporter;
    use telemetry_metrics::data::{MetricData, Number};
    use telemetry_span::InMemorySpanExporter;

    use super::*;

    /// How long each signal's exporter takes to shut down in
    /// `the_three_signals_shut_down_at_once`.
    const SLOW_STOP: Duration = Duration::from_millis(600);

    /// An exporter of every signal whose shutdown takes [`SLOW_STOP`], as one whose
    /// collector is down waits out its deadline.
    #[derive(Debug)]
    struct SlowStop;

    impl SpanExporter for SlowStop {
        fn export(
            &mut self,
            _: &[telemetry_span::SpanData],
        ) -> Result<(), telemetry_span::ExportError> {
            Ok(())
        }

        fn shutdown(&mut self) -> Result<(), telemetry_span::ExportError> {
            std::thread::sleep(SLOW_STOP);
            Ok(())
        }
    }

    impl PushMetricExporter for SlowStop {
        fn export(
            &mut self,
            _: &telemetry_metrics::data::ResourceMetrics,
        ) -> Result<(), telemetry_metrics::ExportError> {
            Ok(())
        }

        fn shutdown(&mut self) -> Result<(), telemetry_metrics::ExportError> {
            std::thread::sleep(SLOW_STOP);
            Ok(())
        }
    }

    impl LogExporter for SlowStop {
        fn export(
            &mut self,
            _: &[telemetry_logs::LogRecord],
        ) -> Result<(), telemetry_logs::ExportError> {
            Ok(())
        }

        fn shutdown(&mut self) -> Result<(), telemetry_logs::ExportError> {
            std::thread::sleep(SLOW_STOP);
            Ok(())
        }
    }

    /// A metric exporter that records the export timeouts it is given.
    #[derive(Debug, Clone, Default)]
    struct TimeoutProbe(Arc<std::sync::Mutex<Vec<Option<Duration>>>>);

    impl PushMetricExporter for TimeoutProbe {
        fn export(
            &mut self,
            _: &telemetry_metrics::data::ResourceMetrics,
        ) -> Result<(), telemetry_metrics::ExportError> {
            Ok(())
        }

        fn set_export_timeout(&mut self, timeout: Option<Duration>) {
            if let Ok(mut seen) = self.0.lock() {
                seen.push(timeout);
            }
        }
    }

    #[test]
    fn the_metric_export_timeout_reaches_a_boxed_exporter() -> TestResult {
        let probe = TimeoutProbe::default();
        let telemetry = TelemetryBuilder::new()
            .with_exporters([])
            .with_metric_exporter(probe.clone())
            .with_metric_export_timeout(Duration::from_millis(1234))
            .build()?;
        let seen = probe.0.lock().map_err(|_| "poisoned")?.clone();
        assert!(
            seen.contains(&Some(Duration::from_millis(1234))),
            "{seen:?}"
        );
        telemetry.shutdown()?;
        Ok(())
    }

    #[test]
    fn the_three_signals_shut_down_at_once() -> TestResult {
        let telemetry = TelemetryBuilder::new()
            .with_exporters([])
            .with_span_exporter(SlowStop)
            .with_metric_exporter(SlowStop)
            .with_log_exporter(SlowStop)
            .build()?;
        let started = std::time::Instant::now();
        telemetry.shutdown()?;
        let took = started.elapsed();
        // One signal after another would take three times as long.
        assert!(took >= SLOW_STOP && took < 2 * SLOW_STOP, "{took:?}");
        Ok(())
    }

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    struct Fixture {
        telemetry: Telemetry,
        spans: InMemorySpanExporter,
        metrics: InMemoryMetricExporter,
        logs: InMemoryLogExporter,
    }

    fn fixture(builder: TelemetryBuilder) -> Result<Fixture, BuildError> {
        let spans = InMemorySpanExporter::new();
        let metrics = InMemoryMetricExporter::new();
        let logs = InMemoryLogExporter::new();
        let telemetry = builder
            .with_exporters([])
            .with_span_exporter(spans.clone())
            .with_metric_exporter(metrics.clone())
            .with_log_exporter(logs.clone())
            .build()?;
        Ok(Fixture {
            telemetry,
            spans,
            metrics,
            logs,
        })
    }

    #[test]
    fn spans_nest_link_and_take_errors_from_results_and_panics() -> TestResult {
        let f = fixture(TelemetryBuilder::new().with_service_name("unit"))?;
        let t = &f.telemetry;
        let root = t.start_span("root", None);
        let child = t.start_span("child", Some(&root));
        t.link_span(&child, &root);
        let failed: Result<(), fmt::Error> = {
            let _current = root.enter();
            assert_eq!(
                t.get_current_span().map(|s| s.span_context().span_id()),
                Some(root.span_context().span_id())
            );
            t.traced("fails", vec![KeyValue::new("k", 1)], || Err(fmt::Error))
        };
        assert!(failed.is_err());
        let panicked = catch_unwind(AssertUnwindSafe(|| {
            t.traced::<(), fmt::Error>("panics", Vec::new(), || panic!("no luck"))
        }));
        assert!(panicked.is_err());
        drop(child);
        drop(root);
        t.force_flush()?;

        let spans = f.spans.finished_spans();
        let by_name = |name: &str| {
            spans
                .iter()
                .find(|s| s.name.as_str() == name)
                .cloned()
                .ok_or_else(|| format!("no span {name:?} in {spans:?}"))
        };
        let (root, child, fails, panics) = (
            by_name("root")?,
            by_name("child")?,
            by_name("fails")?,
            by_name("panics")?,
        );
        assert_eq!(child.parent_span_id, root.span_context.span_id());
        assert_eq!(child.links.len(), 1);
        assert_eq!(
            child.links[0].span_context.span_id(),
            root.span_context.span_id()
        );
        assert_eq!(fails.parent_span_id, root.span_context.span_id());
        assert_eq!(
            fails.status,
            Status::error("an error occurred when formatting an argument")
        );
        assert_eq!(fails.events[0].name.as_str(), "exception");
        assert_eq!(panics.status, Status::error("no luck"));
        assert!(!panics.parent_span_id.is_valid());
        assert_eq!(t.resource().service_name(), Some("unit"));
        Ok(())
    }

    #[test]
    fn record_metric_goes_to_the_named_instrument_and_refuses_wrong_values() -> TestResult {
        let f = fixture(TelemetryBuilder::new())?;
        let t = &f.telemetry;
        t.create_counter("Jobs")?;
        t.create_up_down_counter("queue")?;
        t.create_gauge("temperature")?;
        t.create_histogram("latency")?;
        t.record_metric("jobs", 2, &[])?;
        t.record_metric("JOBS", 3.5, &[])?;
        t.record_metric("queue", -4, &[])?;
        t.record_metric("temperature", -1.5, &[])?;
        t.record_metric("latency", 0.25, &[])?;
        // Every integer type, as counts and sizes come: u64, usize, i64 and the rest.
        t.record_metric("jobs", 1_u64, &[])?;
        t.record_metric("jobs", 1_usize, &[])?;
        t.record_metric("queue", -2_i64, &[])?;
        t.record_metric("queue", 1_u8, &[])?;
        let kind = |r: Result<(), RecordError>| r.map_err(|e| e.kind());
        assert_eq!(
            kind(t.record_metric("nothing", 1, &[])),
            Err(RecordErrorKind::UnknownInstrument)
        );
        assert_eq!(
            kind(t.record_metric("jobs", -1, &[])),
            Err(RecordErrorKind::NegativeValue)
        );
        assert_eq!(
            kind(t.record_metric("jobs", -1_i64, &[])),
            Err(RecordErrorKind::NegativeValue)
        );
        assert_eq!(
            kind(t.record_metric("latency", -0.5, &[])),
            Err(RecordErrorKind::NegativeValue)
        );
        assert_eq!(
            kind(t.record_metric("temperature", f64::NAN, &[])),
            Err(RecordErrorKind::NotFinite)
        );
        assert!(t.create_counter("9lives").is_err());
        // A second instrument of another kind under a taken name still works; record_metric
        // keeps the first.
        t.create_gauge("jobs")?.record(100.0, &[]);
        t.force_flush()?;

        let exported = f.metrics.exported();
        let last = exported.last().ok_or("nothing exported")?;
        let metrics: Vec<_> = last
            .scope_metrics
            .iter()
            .flat_map(|scope| &scope.metrics)
            .collect();
        let value = |name: &str| -> Option<f64> {
            metrics
                .iter()
                .filter(|m| m.name.eq_ignore_ascii_case(name))
                .find_map(|m| match &m.data {
                    MetricData::Sum(sum) => sum.points.first().map(|p| p.value.as_f64()),
                    MetricData::Gauge(gauge) if name != "jobs" => {
                        gauge.points.first().map(|p| p.value.as_f64())
                    }
                    MetricData::Histogram(h) => h.points.first().and_then(|p| p.sum),
                    _ => None,
                })
        };
        assert_eq!(value("jobs"), Some(7.5));
        assert_eq!(value("queue"), Some(-5.0));
        assert_eq!(value("temperature"), Some(-1.5));
        assert_eq!(value("latency"), Some(0.25));
        assert!(matches!(Number::F64(1.0).as_f64(), v if v == 1.0));
        Ok(())
    }

    #[test]
    fn logs_carry_the_current_span() -> TestResult {
        let f = fixture(TelemetryBuilder::new())?;
        let span = f.telemetry.start_span("with-log", None);
        {
            let _current = span.enter();
            f.telemetry.logger().emit(
                telemetry_logs::LogRecord::new(telemetry_logs::Severity::WARN).with_body("hi"),
            );
        }
        f.telemetry.force_flush()?;
        let records = f.logs.records();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].trace_id, span.span_context().trace_id());
        Ok(())
    }

    #[test]
    fn a_disabled_pipeline_records_and_exports_nothing() -> TestResult {
        let f = fixture(TelemetryBuilder::from_env_source(&[(
            "OTEL_SDK_DISABLED",
            "true",
        )]))?;
        assert!(f.telemetry.is_disabled());
        let span = f.telemetry.start_span("ignored", None);
        assert!(!span.is_recording());
        drop(span);
        f.telemetry.create_counter("ignored")?;
        f.telemetry.record_metric("ignored", 1, &[])?;
        let _ = f.telemetry.force_flush();
        assert!(f.spans.finished_spans().is_empty());
        assert!(f.metrics.exported().is_empty());
        Ok(())
    }

    #[cfg(feature = "otlp")]
    #[test]
    fn a_bad_exporter_fails_a_strict_build_and_is_left_out_of_a_lenient_one() {
        let bad = || {
            let mut config = telemetry_otlp::ExporterConfig::new(telemetry_otlp::Signal::Traces);
            config.endpoint = "not a url".to_owned();
            TelemetryBuilder::new()
                .with_exporters([])
                .with_traces_exporters([ExporterKind::Otlp])
                .with_otlp_traces(config)
        };
        let error = bad().build().err();
        assert_eq!(error.map(|e| e.signal()), Some(Signal::Traces));
        let lenient = build(bad(), Mode::Lenient);
        assert!(!lenient.is_disabled());
        // Without a processor spans do not record; the dashboard's tap is one.
        assert_eq!(
            lenient.start_span("no exporter", None).is_recording(),
            cfg!(feature = "dashboard")
        );
    }

    #[test]
    fn shutdown_flushes_and_a_second_shutdown_reports() -> TestResult {
        let f = fixture(TelemetryBuilder::new())?;
        drop(f.telemetry.start_span("last", None));
        f.telemetry.shutdown()?;
        assert_eq!(f.spans.finished_spans().len(), 1);
        let again = f.telemetry.shutdown();
        let error = again.err().ok_or("the second shutdown succeeded")?;
        assert!(error.traces.is_some(), "{error}");
        Ok(())
    }
}
