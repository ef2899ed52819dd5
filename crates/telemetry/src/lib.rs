//! Traces, metrics and logs for Rust programs, OpenTelemetry-compatible: one dependency for
//! the whole pipeline.
//!
//! This crate is the facade over the `telemetry-*` micro-crates. It re-exports each of them
//! as a module ([`core`], [`context`], [`span`], [`metrics`], [`logs`], and `otlp` with
//! the `otlp` feature), the types most programs touch at the root, a [`prelude`], and the
//! [`macro@traced`] attribute; it installs a pipeline from the standard `OTEL_*` variables
//! ([`init`]) or from code ([`TelemetryBuilder`]); and it offers the seed contract (start
//! spans, link them, find the current one, create instruments and record into them by name)
//! both as free functions over the installed pipeline and as methods of [`Telemetry`].
//!
//! # Quickstart
//!
//! ```
//! use telemetry::prelude::*;
//!
//! #[traced(attributes(component = "billing"))]
//! fn charge(cents: u64) -> Result<u64, std::num::TryFromIntError> {
//!     Ok(u32::try_from(cents)?.into())
//! }
//!
//! # unsafe { std::env::set_var("OTEL_TRACES_EXPORTER", "console") };
//! # unsafe { std::env::set_var("OTEL_METRICS_EXPORTER", "console") };
//! # unsafe { std::env::set_var("OTEL_LOGS_EXPORTER", "console") };
//! // Reads OTEL_SERVICE_NAME, OTEL_TRACES_EXPORTER (otlp by default; console; none), ...
//! let guard = telemetry::init();
//!
//! let request = telemetry::start_span("checkout", None);
//! {
//!     let _current = request.enter();
//!     charge(1999)?;
//!     telemetry::create_counter("orders")?;
//!     telemetry::record_metric("orders", 1, &[KeyValue::new("plan", "pro")])?;
//!     guard.telemetry().logger().emit(LogRecord::new(Severity::INFO).with_body("paid"));
//! }
//! drop(request);
//! drop(guard); // flushes and shuts down: the console shows the spans, the metric, the log
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Run `cargo run -p telemetry --example quickstart` for the same with OTLP, and see the
//! `agent_tasks` and `http_services` examples for threads, async tasks and two processes.
//!
//! # Libraries and applications
//!
//! A **library** instruments itself and configures nothing: it depends on the micro-crates
//! it needs (`telemetry-span` and `telemetry-macros` for spans, `telemetry-metrics` for
//! instruments) or on this crate with `default-features = false`, and uses the global
//! tracer (`#[traced]`, [`start_span`]). Until the application installs a pipeline, its
//! spans are non-recording and cost almost nothing, but context still flows through them.
//! Instruments belong to the pipeline that made them, so a library takes a
//! [`metrics::Meter`] (or a [`Telemetry`]) from the application, or creates its instruments
//! when first needed, after the application's [`init`].
//!
//! An **application** installs the pipeline once, at the top of `main`, and keeps the guard
//! alive until the end: `let _guard = telemetry::init();`. Operators then configure it with
//! the standard variables, without a rebuild. Code that configures itself uses the builder,
//! whose setters win over the environment:
//!
//! ```
//! use std::time::Duration;
//! use telemetry::{ExporterKind, TelemetryBuilder};
//!
//! let guard = TelemetryBuilder::from_env()
//!     .with_service_name("checkout")
//!     .with_traces_exporters([ExporterKind::Console])
//!     .with_metrics_exporters([])
//!     .with_logs_exporters([])
//!     .with_metric_export_interval(Duration::from_secs(10))
//!     .init();
//! assert_eq!(guard.telemetry().resource().service_name(), Some("checkout"));
//! ```
//!
//! A test builds a [`Telemetry`] with in-memory exporters and installs it for its scope only
//! ([`Telemetry::install`]); [`TelemetryBuilder::from_env_source`] takes the variables from
//! a map instead of the process environment, so tests of configuration do not race.
//!
//! # Environment variables
//!
//! | Variable | Effect | Default |
//! | --- | --- | --- |
//! | `OTEL_SDK_DISABLED` | `true` turns every signal off (context still propagates) | `false` |
//! | `OTEL_SERVICE_NAME` | `service.name`, over `OTEL_RESOURCE_ATTRIBUTES` | `unknown_service:<exe>` |
//! | `OTEL_RESOURCE_ATTRIBUTES` | `k=v,k2=v2` (percent-encoded) resource attributes | none |
//! | `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`, `OTEL_LOGS_EXPORTER` | comma-separated `otlp`, `console`, or `none` | `otlp` |
//! | `OTEL_PROPAGATORS` | `tracecontext`, `baggage`, or `none` | `tracecontext,baggage` |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | `always_on`, `always_off`, `traceidratio`, `parentbased_*` | `parentbased_always_on` |
//! | `OTEL_EXPORTER_OTLP_*` and `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_*` | endpoint, protocol (`grpc`, `http/protobuf`, `http/json`), headers, compression, timeout | `http/protobuf` to `localhost:4318` |
//! | `OTEL_BSP_*`, `OTEL_BLRP_*` | batch processors: schedule delay, export timeout, queue and batch sizes | 5000/30000/2048/512 ms and items; logs 1000/30000/2048/512 |
//! | `OTEL_METRIC_EXPORT_INTERVAL`, `OTEL_METRIC_EXPORT_TIMEOUT` | periodic reader | 60000 / 30000 ms |
//! | `OTEL_SPAN_*`, `OTEL_ATTRIBUTE_*`, `OTEL_LOGRECORD_*` limits, `OTEL_METRICS_EXEMPLAR_FILTER` | as the specification says | |
//!
//! Empty values count as unset; names of enums are case-insensitive. A value that does not
//! parse is reported once, on standard error by default (`telemetry::core::diagnostic`
//! routes these reports elsewhere), and the default is used: configuration never panics.
//!
//! # Features
//!
//! | Feature | Default | What it adds |
//! | --- | --- | --- |
//! | `otlp` | yes | the OTLP exporters (HTTP protobuf/JSON and gRPC) and the `otlp` module; without it an `otlp` choice is reported and left out by `init`, and an error from `build` |
//! | `log` | no | routes the `log` crate's records (Info and up) into the installed pipeline's logs |
//! | `tracing` | no | routes `tracing` events into the installed pipeline's logs, and `tracing` spans (INFO and up) into its traces (see below) |
//! | `http` | no | the `http` module: context extraction/injection on `http` headers and tower layers for servers and clients |
//! | `dashboard` | no | the embedded dashboard: `start_dashboard_server`, `register_view`, `update_display` and the `dashboard` module (see below) |
//!
//! Every combination builds (`scripts/feature-combos.sh` checks them all). Feature flags live
//! on this crate only; the micro-crates have none.
//!
//! # `tracing` spans
//!
//! With the `tracing` feature, installing a pipeline also installs (once per process) a
//! `tracing` subscriber whose span layer is telemetry-span's `TracingSpanLayer` in its
//! global mode: each `tracing` span becomes a span of whichever pipeline is installed when it
//! starts, current while entered, so `#[tracing::instrument]` functions and `info_span!`
//! nest with `#[traced]` and [`start_span`] spans either way round, and `tracing` events
//! inside them are log records of that span. Fields become attributes; `otel.name`,
//! `otel.kind` and `otel.status_code` steer the span. Only spans at INFO and above are
//! bridged, and none while the pipeline suppresses its own telemetry on the thread
//! (`telemetry::logs::is_suppressed`): the libraries under an exporter (h2, hyper, tonic)
//! open DEBUG and TRACE spans, and bridging those would export the export, forever. A span
//! left out is transparent: spans inside it nest under the current one.
//!
//! # The embedded dashboard
//!
//! With the `dashboard` feature a program shows its own telemetry in a browser, without a
//! collector: `start_dashboard_server` starts the dashboard in the process, fed straight
//! by the installed pipeline and open to OTLP from other processes too;
//! `register_view` pins charts of metrics on its overview page (before or after the
//! start); `update_display` pushes the current state to open pages at once. Run
//! `cargo run -p telemetry --example dashboard_embedded` and open http://127.0.0.1:18888/.
//!
//! ```
//! use telemetry::ChartType;
//!
//! let _guard = telemetry::TelemetryBuilder::from_env()
//!     .with_exporters([])
//!     .with_dashboard_otlp_ports(0, 0) // OTLP on free ports; 4317 and 4318 by default
//!     .init();
//! telemetry::register_view("jobs", ChartType::Line)?;
//! let dashboard = telemetry::start_dashboard_server(0)?; // 18888 is the usual port
//! telemetry::create_counter("jobs")?.add(1.0, &[]);
//! drop(telemetry::start_span("job", None));
//! telemetry::update_display();
//! println!("open http://{}/", dashboard.ui_addr());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every pipeline built with the feature carries taps whose target is empty until a
//! dashboard starts: a span processor and a log processor (one atomic load per span or
//! record while empty) and a metric reader collected every second while a dashboard runs.
//! With a processor in place spans always record, and the reader keeps one more aggregate
//! per metric stream: leave the feature off in programs that never start a dashboard.
//!
//! # Data flow
//!
//! ```text
//! start_span / #[traced] ─▶ Tracer ─▶ Span ─end─▶ SpanProcessor ─▶ ring buffer ─▶ export thread ─▶ OTLP / console
//! create_* / record_metric ─▶ Meter ─▶ instrument ─▶ aggregation ◀─collect─ PeriodicReader thread ─▶ OTLP / console
//! log / tracing / Logger::emit ─▶ LogRecord (+ trace context) ─▶ LogProcessor ─▶ ring buffer ─▶ export thread ─▶ OTLP / console
//! ```
//!
//! The calling thread only records: spans and log records are pushed into a lock-free ring
//! buffer without blocking, measurements update in-memory aggregates. Exporters run on
//! their own threads (with their own runtime inside for hyper and tonic), so a program
//! needs no async runtime and one inside tokio never deadlocks on export or shutdown.
//! The console span and log exporters are the exception: they write as each span or record
//! ends, because their reader is a person watching. Dropping the [`TelemetryGuard`] flushes
//! every queue and shuts the exporters down, reporting what could not be delivered.
//!
//! Context (the current span and baggage) lives in a thread-local stack; futures carry it
//! with [`context::FutureExt::with_context`], and the `http` module moves it between processes
//! in W3C `traceparent`, `tracestate` and `baggage` headers.
#![forbid(unsafe_code)]

mod api;
mod bridges;
mod config;
mod error;
mod exporters;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "dashboard")]
mod live;
mod pipeline;

pub use api::{
    create_counter, create_gauge, create_histogram, create_up_down_counter, get_current_span, init,
    link_span, record_metric, start_span, traced,
};
pub use config::{ExporterKind, PropagatorKind, TelemetryBuilder};
pub use error::{BuildError, PipelineError, RecordError, RecordErrorKind, Signal};
#[cfg(feature = "dashboard")]
pub use live::{DASHBOARD_COLLECT_INTERVAL, DashboardError, DashboardErrorKind, DashboardHandle};
pub use pipeline::{AsSpanRef, InstallGuard, RecordValue, Telemetry, TelemetryGuard, global};
pub use telemetry_context::Context;
pub use telemetry_core::{KeyValue, Resource, Value};
pub use telemetry_logs::{LogRecord, Severity};
pub use telemetry_macros::traced;
pub use telemetry_metrics::{Counter, Gauge, Histogram, UpDownCounter};
pub use telemetry_span::{Span, SpanKind, SpanRef, Status};

/// Ids, values, resources, the clock and the SDK's diagnostics (`telemetry-core`).
pub use telemetry_core as core;

/// W3C trace context and baggage, the current context, propagators (`telemetry-context`).
pub use telemetry_context as context;

/// Tracer provider, spans, samplers, span processors and exporters (`telemetry-span`).
pub use telemetry_span as span;

/// Meter provider, instruments, views, readers and exporters (`telemetry-metrics`).
pub use telemetry_metrics as metrics;

/// Logger provider, log records, processors, exporters and the `log`/`tracing` bridges
/// (`telemetry-logs`).
pub use telemetry_logs as logs;

/// OTLP encoders and the HTTP and gRPC exporters (`telemetry-otlp`).
#[cfg(feature = "otlp")]
pub use telemetry_otlp as otlp;

/// The dashboard itself: store, server, views, its exporters (`telemetry-dashboard`).
#[cfg(feature = "dashboard")]
pub use telemetry_dashboard as dashboard;

#[cfg(feature = "dashboard")]
pub use api::{register_view, start_dashboard_server, update_display};
#[cfg(feature = "dashboard")]
pub use telemetry_dashboard::ChartType;

/// The scope name of the facade's own tracer, meter and logger.
pub(crate) const SCOPE: &str = "telemetry";

/// What most code needs, in one import: `use telemetry::prelude::*;`.
pub mod prelude {
    pub use crate::{
        AsSpanRef, Context, KeyValue, LogRecord, Severity, Span, SpanKind, SpanRef, Status,
        Telemetry, Value, traced,
    };
    pub use telemetry_context::FutureExt as _;
}

/// What `#[traced]` expands to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use telemetry_context as context;
    pub use telemetry_core as core;
    pub use telemetry_span as span;
}

/// The README's quickstart, compiled and run as a doc test of the facade (which depends on
/// every crate a quickstart may use) so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
struct ReadmeQuickstart;
