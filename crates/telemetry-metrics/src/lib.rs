//! Metrics: meters, instruments, aggregation, views, temporality, exemplars and readers.
//!
//! - [`MeterProvider`] owns the pipeline: the [`Resource`](telemetry_core::Resource), the
//!   [`View`]s and the readers. It hands out a [`Meter`] per instrumentation scope.
//! - A [`Meter`] creates instruments: [`Counter`], [`UpDownCounter`], [`Gauge`],
//!   [`Histogram`], and the callback-driven [`ObservableCounter`],
//!   [`ObservableUpDownCounter`] and [`ObservableGauge`]. Names are validated (an invalid one
//!   is an [`InstrumentError`]); asking twice for the same instrument returns the same one.
//! - Each distinct attribute set is one series, whatever the order of the attributes. A
//!   stream keeps at most 2000 series by default; later sets go to the series marked
//!   `otel.metric.overflow=true`. A bound handle ([`Counter::bind`]) skips the lookup.
//! - Readers collect: [`ManualReader::collect`] on demand (the dashboard), and
//!   [`PeriodicReader`] on a timer into a [`PushMetricExporter`], on its own thread. Each
//!   reader picks its [`data::Temporality`] per instrument kind ([`TemporalityPreference`]).
//! - The output is the data model in [`data`], rooted at [`data::ResourceMetrics`]: sums,
//!   gauges, explicit and exponential histograms, with [`data::Exemplar`]s carrying the trace
//!   and span ids of the span that was active (read through `telemetry-context`), and
//!   quantile estimates for charts ([`data::HistogramDataPoint::quantile`]).
//!
//! The design decision: recording is the hot path, so it never takes an exclusive lock on an
//! existing series. Series sit in a read-mostly map keyed by an order-independent hash of the
//! attribute set, so the caller's unsorted attributes are matched without sorting or
//! allocating; sums and last values are single atomic words. In front of the map of a
//! cumulative stream, each thread remembers the series it last recorded into per attribute
//! array (a handful of entries), so a call site that records with the same array again
//! skips hashing and the lock and only compares the attributes: static strings by address
//! and length, scalars by value, anything else by content. A measurement outside any
//! sampled span pays one call into `telemetry-context` for exemplars; building the span ids
//! and offering them happen only inside one. Each reader gets its own
//! streams, so readers with different temporalities never disturb each other; delta streams
//! forget idle series (other than those a bound handle holds), so memory follows the live
//! attribute sets.
//!
//! Invalid measurements (NaN, infinities, negative counter or histogram values) are dropped,
//! counted ([`Counter::dropped_measurements`]) and reported once through
//! [`telemetry_core::diagnostic`]; recording never fails and never panics.
//!
//! # Untrusted attribute values
//!
//! Attribute values often come from requests (routes, peers). The set hash is a fast,
//! unkeyed one, so crafted values could share a hash bucket; the cardinality limit caps both
//! the memory and the length of any bucket's chain, and every measurement past the limit
//! costs one lookup that fails into the overflow series.
//!
//! # Example
//!
//! ```
//! use telemetry_core::KeyValue;
//! use telemetry_metrics::data::{MetricData, Number};
//! use telemetry_metrics::{ManualReader, MeterProvider};
//!
//! let reader = ManualReader::new();
//! let provider = MeterProvider::builder().with_reader(reader.clone()).build();
//! let meter = provider.meter("checkout");
//!
//! let requests = meter.u64_counter("http.server.requests").with_unit("{request}").build()?;
//! requests.add(1, &[KeyValue::new("method", "GET"), KeyValue::new("status", 200i64)]);
//! requests.add(2, &[KeyValue::new("status", 200i64), KeyValue::new("method", "GET")]);
//!
//! let latency = meter.f64_histogram("http.server.duration").with_unit("ms").build()?;
//! latency.record(12.5, &[]);
//!
//! let metrics = reader.collect()?;
//! let counted = &metrics.scope_metrics[0].metrics[0];
//! let MetricData::Sum(sum) = &counted.data else {
//!     return Err("expected a sum".into());
//! };
//! assert_eq!(sum.points.len(), 1);
//! assert_eq!(sum.points[0].value, Number::I64(3));
//! provider.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod attributes;
mod console;
pub mod data;
mod error;
mod exemplar;
mod exponential;
mod histogram_cell;
mod instrument;
mod meter;
mod number;
mod pipeline;
mod provider;
mod reader;
mod stream;
mod sync;
mod view;

pub use console::ConsoleMetricExporter;
pub use error::{ExportError, ExportErrorKind, InstrumentError, InstrumentErrorKind, MetricError};
pub use exemplar::ExemplarFilter;
pub use instrument::{
    BoundCounter, BoundGauge, BoundHistogram, Counter, Gauge, Histogram, InstrumentDescriptor,
    InstrumentKind, ObservableCounter, ObservableGauge, ObservableUpDownCounter, Observer,
    UpDownCounter,
};
pub use meter::{InstrumentBuilder, Meter, ObservableBuilder};
pub use number::MetricValue;
pub use pipeline::Producer;
pub use provider::{MeterProvider, MeterProviderBuilder};
pub use reader::{
    DEFAULT_EXPORT_INTERVAL, DEFAULT_EXPORT_TIMEOUT, InMemoryMetricExporter, ManualReader,
    MetricReader, PeriodicReader, PeriodicReaderBuilder, PeriodicReaderStats, PushMetricExporter,
    TemporalityPreference,
};
pub use stream::{DEFAULT_CARDINALITY_LIMIT, OVERFLOW_ATTRIBUTE};
pub use view::{
    Aggregation, AttributeFilter, DEFAULT_HISTOGRAM_BOUNDARIES, View, ViewBuilder, ViewError,
    ViewErrorKind,
};
