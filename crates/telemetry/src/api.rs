//! The seed contract as free functions over the installed pipeline.
//!
//! Each is [`global()`] followed by the [`Telemetry`] method of the same name, except the
//! span functions, which go through `telemetry_span::global` (a lock-free per-thread cache)
//! so they cost no more than `#[traced]`.
//!
//! Instruments belong to the pipeline that was installed when they were created: create them
//! after [`init`], since ones created before belong to the disabled pipeline and record
//! nothing. [`record_metric`] looks the name up on every call; on hot paths keep the handle
//! `create_*` returns and call it directly.

use std::fmt;

use telemetry_core::{KeyValue, StringValue};
use telemetry_metrics::{Counter, Gauge, Histogram, InstrumentError, UpDownCounter};
use telemetry_span::{Span, SpanRef};

use crate::config::TelemetryBuilder;
use crate::error::RecordError;
use crate::pipeline::{AsSpanRef, RecordValue, TelemetryGuard, global, link, run_traced};

#[cfg(doc)]
use crate::pipeline::Telemetry;

/// Installs the pipeline the `OTEL_*` variables describe for the whole process and returns
/// the guard that flushes and shuts it down when dropped.
///
/// Never fails and never panics: a bad variable is reported once (see
/// `telemetry_core::diagnostic`) and its default used; an exporter that cannot start is
/// reported and left out. `OTEL_SDK_DISABLED=true` installs a pipeline that records nothing.
///
/// ```
/// // With OTEL_TRACES_EXPORTER etc. unset this exports OTLP to localhost:4318; here the
/// // example picks the console instead, as `OTEL_*_EXPORTER=console` would.
/// # unsafe { std::env::set_var("OTEL_TRACES_EXPORTER", "console") };
/// # unsafe { std::env::set_var("OTEL_METRICS_EXPORTER", "none") };
/// # unsafe { std::env::set_var("OTEL_LOGS_EXPORTER", "none") };
/// let _guard = telemetry::init();
/// let span = telemetry::start_span("work", None);
/// assert!(span.is_recording());
/// ```
pub fn init() -> TelemetryGuard {
    TelemetryBuilder::from_env().init()
}

/// Starts a span named `name` as a child of `parent`, or of the current span when `parent`
/// is `None` (a root span when there is none). It is not made current (see
/// [`SpanRef::enter`]) and ends when dropped.
///
/// ```
/// let parent = telemetry::start_span("request", None);
/// let child = telemetry::start_span("query", Some(&parent));
/// assert_eq!(child.span_context().trace_id(), parent.span_context().trace_id());
/// ```
pub fn start_span(name: impl Into<StringValue>, parent: Option<&dyn AsSpanRef>) -> Span {
    telemetry_span::global::with_tracer(crate::SCOPE, |tracer| {
        let builder = tracer.span_builder(name);
        match parent {
            Some(parent) => builder.with_parent(parent.as_span_ref()).start(),
            None => builder.start(),
        }
    })
}

/// Runs `f` inside a new current span, as `#[traced]` does for a function: an `Err` or a
/// panic sets the span's status to ERROR with an `exception` event.
///
/// ```
/// use telemetry::KeyValue;
///
/// let parsed: Result<u32, std::num::ParseIntError> =
///     telemetry::traced("parse", vec![KeyValue::new("input", "42")], || {
///         assert!(telemetry::get_current_span().is_some());
///         "42".parse()
///     });
/// assert_eq!(parsed, Ok(42));
/// ```
pub fn traced<T, E: fmt::Display>(
    name: impl Into<StringValue>,
    attributes: Vec<KeyValue>,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let span = telemetry_span::global::with_tracer(crate::SCOPE, |tracer| {
        tracer
            .span_builder(name)
            .with_attributes(attributes)
            .start()
    });
    run_traced(&span, f)
}

/// Adds a link from `span` to `target`: "this work relates to that one" across traces
/// (a batch job to the requests that queued its items).
///
/// ```
/// use telemetry::span::InMemorySpanExporter;
///
/// # // Keep the finished spans in memory, to show the link.
/// # let spans = InMemorySpanExporter::new();
/// # let _guard = telemetry::TelemetryBuilder::new()
/// #     .with_exporters([])
/// #     .with_span_exporter(spans.clone())
/// #     .init();
/// let request = telemetry::start_span("enqueue", None);
/// let batch = telemetry::start_span("batch", None);
/// telemetry::link_span(&batch, &request);
/// let linked = request.span_context().clone();
/// drop((request, batch));
/// # telemetry::global().force_flush()?;
/// let finished = spans.finished_spans();
/// let batch = finished.iter().find(|s| s.name.as_str() == "batch").ok_or("no batch span")?;
/// assert_eq!(batch.links.len(), 1);
/// assert_eq!(batch.links[0].span_context, linked);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn link_span(span: &impl AsSpanRef, target: &impl AsSpanRef) {
    link(span, target);
}

/// The current span, if any: a cheap handle to add attributes or events to it.
///
/// ```
/// assert!(telemetry::get_current_span().is_none());
/// let span = telemetry::start_span("work", None);
/// let _current = span.enter();
/// let current = telemetry::get_current_span();
/// assert_eq!(current.map(|s| s.span_context().span_id()), Some(span.span_context().span_id()));
/// ```
pub fn get_current_span() -> Option<SpanRef> {
    SpanRef::current()
}

/// Creates (or returns) the counter `name` in the installed pipeline (see
/// [`Telemetry::create_counter`]).
///
/// An instrument belongs to the pipeline installed when it was created: create instruments
/// after [`init`], since those created before belong to the disabled pipeline and record
/// nothing.
///
/// ```
/// let requests = telemetry::create_counter("requests")?;
/// requests.add(1.0, &[telemetry::KeyValue::new("route", "/")]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn create_counter(name: &str) -> Result<Counter<f64>, InstrumentError> {
    global().create_counter(name)
}

/// Creates (or returns) the up-down counter `name` in the installed pipeline.
///
/// ```
/// let active = telemetry::create_up_down_counter("connections.active")?;
/// active.add(1.0, &[]);
/// active.add(-1.0, &[]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn create_up_down_counter(name: &str) -> Result<UpDownCounter<f64>, InstrumentError> {
    global().create_up_down_counter(name)
}

/// Creates (or returns) the gauge `name` in the installed pipeline.
///
/// ```
/// let temperature = telemetry::create_gauge("room.temperature")?;
/// temperature.record(21.5, &[]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn create_gauge(name: &str) -> Result<Gauge<f64>, InstrumentError> {
    global().create_gauge(name)
}

/// Creates (or returns) the histogram `name` in the installed pipeline.
///
/// ```
/// let latency = telemetry::create_histogram("request.duration")?;
/// latency.record(0.042, &[]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn create_histogram(name: &str) -> Result<Histogram<f64>, InstrumentError> {
    global().create_histogram(name)
}

/// Records into the instrument created under `name` in the installed pipeline (see
/// [`Telemetry::record_metric`] for what each kind of instrument does with the value and
/// which values are refused). It looks the name up on every call: on hot paths keep the
/// handle `create_*` returned and call it directly.
///
/// ```
/// use telemetry::{KeyValue, RecordErrorKind};
///
/// telemetry::create_counter("jobs.done")?;
/// telemetry::record_metric("jobs.done", 3, &[KeyValue::new("queue", "email")])?;
/// let unknown = telemetry::record_metric("jobs.lost", 1, &[]);
/// assert_eq!(unknown.map_err(|e| e.kind()), Err(RecordErrorKind::UnknownInstrument));
/// let negative = telemetry::record_metric("jobs.done", -1, &[]);
/// assert_eq!(negative.map_err(|e| e.kind()), Err(RecordErrorKind::NegativeValue));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn record_metric(
    name: &str,
    value: impl RecordValue,
    attributes: &[KeyValue],
) -> Result<(), RecordError> {
    global().record_metric(name, value, attributes)
}

/// Starts the dashboard in this process on 127.0.0.1:`port` (0 picks a free port), fed
/// directly by the installed pipeline and open to OTLP from other processes, on the ports
/// [`TelemetryBuilder::with_dashboard_otlp_ports`] set (see
/// [`Telemetry::start_dashboard_server`]). Call it after [`init`]: the dashboard follows
/// the pipeline installed when it starts. Keep the handle: dropping it stops the dashboard.
///
/// ```
/// let _guard = telemetry::TelemetryBuilder::new()
///     .with_exporters([])
///     .with_dashboard_otlp_ports(0, 0) // free ports: 4317 and 4318 may be in use
///     .init();
/// let dashboard = telemetry::start_dashboard_server(0)?;
/// println!("open http://{}/", dashboard.ui_addr());
/// drop(telemetry::start_span("shown on the dashboard", None));
/// telemetry::update_display();
/// dashboard.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "dashboard")]
pub fn start_dashboard_server(port: u16) -> Result<crate::DashboardHandle, crate::DashboardError> {
    global().start_dashboard_server(port)
}

/// Pins a chart of `metric_name` on the overview page of the installed pipeline's
/// dashboard, now if it runs and whenever it starts otherwise (see
/// [`Telemetry::register_view`]).
///
/// ```
/// use telemetry::ChartType;
///
/// let _guard = telemetry::TelemetryBuilder::new().with_exporters([]).init();
/// telemetry::register_view("orders", ChartType::Bar)?;
/// # // Free OTLP ports too, so concurrent doc tests do not race for 4317 and 4318.
/// # let free = telemetry::dashboard::Dashboard::builder().ui_port(0).grpc_port(0).http_port(0);
/// let dashboard = telemetry::global().start_dashboard(free)?; // or start_dashboard_server(port)
/// telemetry::register_view("queue.length", ChartType::Area)?;
/// let views = dashboard.with_dashboard(|d| d.store().views().len());
/// assert_eq!(views, Some(2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "dashboard")]
pub fn register_view(
    metric_name: &str,
    chart: crate::ChartType,
) -> Result<(), crate::dashboard::ViewError> {
    global().register_view(metric_name, chart)
}

/// Pushes the current state to every open page of the installed pipeline's dashboard now:
/// flushes spans and log records into it, collects metrics (see
/// [`Telemetry::update_display`]). Nothing happens when no dashboard runs.
///
/// ```
/// let _guard = telemetry::TelemetryBuilder::new().with_exporters([]).init();
/// # let free = telemetry::dashboard::Dashboard::builder().ui_port(0).grpc_port(0).http_port(0);
/// let dashboard = telemetry::global().start_dashboard(free)?; // or start_dashboard_server(port)
/// telemetry::create_gauge("temperature")?.record(21.5, &[]);
/// telemetry::update_display();
/// assert!(dashboard.with_dashboard(|d| d.store().used_bytes()) > Some(0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "dashboard")]
pub fn update_display() {
    global().update_display();
}
