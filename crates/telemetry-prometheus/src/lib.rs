//! Prometheus and OpenMetrics exposition of telemetry metrics, with a small `/metrics`
//! server.
//!
//! Prometheus pulls: it scrapes an HTTP endpoint for the current value of every series. This
//! crate renders what a [`telemetry_metrics::MeterProvider`] collects in the two text formats
//! Prometheus reads, following OpenTelemetry's "Prometheus and OpenMetrics Compatibility"
//! specification, and serves them.
//!
//! - [`PrometheusExporter`] owns a cumulative [`ManualReader`](telemetry_metrics::ManualReader)
//!   that you register with the provider ([`PrometheusExporter::reader`]), and renders a
//!   collection on demand in a [`Format`].
//! - [`PrometheusServer`] serves an exporter on `GET /metrics` from its own thread, picking
//!   the format from the `Accept` header (OpenMetrics when asked for, unless turned off with
//!   [`PrometheusServerBuilder::with_openmetrics`]) and gzipping when the scraper allows.
//! - [`encode_text`] and [`encode_openmetrics`] (or an [`Encoder`] with options) turn any
//!   [`ResourceMetrics`](telemetry_metrics::data::ResourceMetrics) into exposition text, for
//!   programs that serve it themselves.
//!
//! # The mapping
//!
//! - Names: characters outside `[a-zA-Z0-9_:]` become `_`, runs of `_` collapse to one, a
//!   leading digit gets a `_` in front. The unit is spelled out and appended unless the name
//!   already ends with it: `s` → `_seconds`, `ms` → `_milliseconds`, `By` → `_bytes`, `1` →
//!   `_ratio`, `By/s` → `_bytes_per_second`; `{request}`-style annotations are dropped.
//! - Monotonic sums are counters named `..._total`; up-down sums and gauges are gauges;
//!   explicit-bucket histograms are histograms with cumulative `_bucket{le=...}` samples up
//!   to `+Inf`, `_count`, and `_sum` when the instrument keeps one.
//! - Exponential histograms are left out: the specification maps them to Prometheus native
//!   histograms, which only Prometheus' protobuf format carries. Use an explicit-bucket view
//!   for them. Delta data is left out too (the reader this crate builds is cumulative, so
//!   that only happens with data encoded from elsewhere). [`EncodeReport`] counts what was
//!   left out and the exporter reports it once through [`telemetry_core::diagnostic`].
//! - Attributes become labels with names sanitized like metric names (without `:`); values
//!   of attributes whose names collide are joined with `;`. Every sample carries
//!   `otel_scope_name` (and `otel_scope_version` when the meter has one); the resource's
//!   attributes are the labels of one `target_info` gauge of value 1 (Prometheus adds `job`
//!   and `instance` itself when it scrapes).
//! - Metrics of several meters that map to the same name share one family (one TYPE line);
//!   a metric whose name clashes with a family of another type is left out.
//! - OpenMetrics only (the text format has no place for them): counters and histograms get a
//!   `_created` sample with the series' start time, and exemplars: the most recent on each
//!   counter sample, and on each histogram bucket the most recent whose value falls in that
//!   bucket, labelled `trace_id` and `span_id` (so Prometheus, run with exemplar storage, and
//!   Grafana can open the trace behind a point).
//! - Not written: the `otel_scope_info` metric, and sample timestamps (Prometheus stamps
//!   samples with the scrape time).
//!
//! # Example
//!
//! ```
//! use telemetry_core::{KeyValue, Resource};
//! use telemetry_metrics::MeterProvider;
//! use telemetry_prometheus::{Format, PrometheusExporter};
//!
//! let exporter = PrometheusExporter::new();
//! let provider = MeterProvider::builder()
//!     .with_resource(Resource::builder().with_service_name("checkout").build())
//!     .with_reader(exporter.reader())
//!     .build();
//! let requests = provider.meter("shop").u64_counter("http.requests").build()?;
//! requests.add(3, &[KeyValue::new("http.method", "GET")]);
//!
//! let text = String::from_utf8(exporter.render(Format::Text)?)?;
//! assert!(text.contains("# TYPE http_requests_total counter\n"));
//! assert!(text.contains("http_requests_total{http_method=\"GET\",otel_scope_name=\"shop\"} 3\n"));
//! let target = text.lines().find(|line| line.starts_with("target_info{"));
//! assert!(target.is_some_and(|line| line.contains("service_name=\"checkout\"")));
//!
//! // To let Prometheus scrape it (port 0 picks a free port):
//! let mut server = telemetry_prometheus::PrometheusServer::bind(
//!     "127.0.0.1:0".parse()?,
//!     exporter.clone(),
//! )?;
//! assert_ne!(server.local_addr().port(), 0);
//! server.shutdown()?;
//! provider.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Why a crate of its own
//!
//! The exporter pulls in an HTTP server, which `telemetry-metrics` must not depend on; it sits
//! beside `telemetry-otlp` as an exporter of the same level (see
//! `docs/adr/003-prometheus-crate.md`). The server owns its thread and runtime, so a program
//! without async works as well as one inside tokio.
#![forbid(unsafe_code)]

mod encode;
mod exporter;
mod name;
mod server;

pub use encode::{
    EncodeReport, Encoder, SCOPE_NAME_LABEL, SCOPE_VERSION_LABEL, TARGET_INFO, encode_openmetrics,
    encode_text,
};
pub use exporter::{Format, PrometheusExporter, PrometheusExporterBuilder, RenderError};
pub use server::{
    DEFAULT_MAX_CONNECTIONS, DEFAULT_PATH, PrometheusServer, PrometheusServerBuilder, ServerError,
    ServerErrorKind,
};
