//! Logs correlated with traces: the logger provider, log records stamped with the current
//! trace context, processors and exporters, and bridges that bring in code already using
//! the `log` crate or `tracing`.
//!
//! - [`LoggerProvider`] holds the pipeline: resource, [`LogLimits`], minimum severity and
//!   [`LogProcessor`]s. It hands out [`Logger`]s, one per instrumentation scope.
//! - [`LogRecord`] is the OpenTelemetry logs data model: timestamps, [`Severity`] (1–24) and
//!   its text, a body of any [`Value`](telemetry_core::Value) (maps included), attributes,
//!   event name, and the trace id, span id and flags of the span that was current.
//!   [`Logger::emit`] stamps the record from the current
//!   [`Context`](telemetry_context::Context) (or the one passed to
//!   [`Logger::emit_with_context`]), sets the observed time and the scope, and holds the
//!   attributes to the limits, counting what it drops. [`Logger::emit_with`] does the same
//!   with a record it builds in place, which the closure fills: the cheaper way on a hot
//!   path, since each builder call (`with_body`, `with_attribute`, ...) moves the whole
//!   record. [`Logger::enabled`] is the cheap check to make before building a record.
//! - [`BatchLogProcessor`] moves records into `telemetry-batcher`'s lock-free ring buffer
//!   without blocking the emitting thread (`OTEL_BLRP_*` settings, drops counted in
//!   [`BatchCounts`]); a worker thread hands batches to a [`LogExporter`].
//!   [`SimpleLogProcessor`] exports synchronously; [`InMemoryLogExporter`] keeps records
//!   for tests.
//! - [`LogBridge`] is a `log::Log`; [`TracingLayer`] a `tracing_subscriber::Layer` that
//!   turns tracing events into records. Both map levels to severities (tables on
//!   [`severity_of_log_level`] and [`severity_of_tracing_level`]).
//! - [`SuppressGuard`] turns emission off on a thread: processors hold one around every
//!   export, so an exporter whose libraries log through `log` or `tracing` cannot feed the
//!   pipeline its own records, or re-enter it.
//!
//! # Where the trace id comes from
//!
//! Always from a [`Context`](telemetry_context::Context): with our spans (`telemetry-span`),
//! the span entered on this thread, or carried across `.await` by
//! [`FutureExt::with_context`](telemetry_context::FutureExt::with_context), is the current
//! context's span, and every record emitted inside it, through the API or either bridge,
//! carries its ids. `tracing` spans have no W3C ids of their own: a record emitted inside
//! one carries ids only if a span bridge gave it some, either by attaching the span's
//! context while the tracing span is entered (then it is the current context, as above) or
//! by storing a [`SpanContext`](telemetry_context::SpanContext) or a
//! [`BridgedContext`](telemetry_context::BridgedContext) in the span's extensions,
//! which [`TracingLayer`] looks up when no context is current. Outside any span a record
//! carries no ids.
//!
//! # Example
//!
//! ```
//! use telemetry_context::{Context, SpanContext, TraceFlags, TraceState};
//! use telemetry_core::{SpanId, TraceId};
//! use telemetry_logs::{InMemoryLogExporter, LogRecord, LoggerProvider, Severity};
//!
//! let exporter = InMemoryLogExporter::new();
//! let provider = LoggerProvider::builder()
//!     .with_simple_exporter(exporter.clone())
//!     .build();
//! let logger = provider.logger("checkout");
//!
//! // What entering a span does: make its context current.
//! let span = SpanContext::new(
//!     TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736")?,
//!     SpanId::from_hex("00f067aa0ba902b7")?,
//!     TraceFlags::SAMPLED,
//!     false,
//!     TraceState::EMPTY,
//! );
//! let guard = Context::current().with_span_context(span.clone()).attach();
//! if logger.enabled(Severity::WARN) {
//!     logger.emit(
//!         LogRecord::new(Severity::WARN)
//!             .with_body("payment retried")
//!             .with_attribute("attempt", 2i64),
//!     );
//! }
//! drop(guard);
//!
//! let records = exporter.records();
//! assert_eq!(records[0].trace_id, span.trace_id());
//! assert_eq!(records[0].span_id, span.span_id());
//! assert_eq!(records[0].scope.name(), "checkout");
//! provider.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Design
//!
//! The bridges live in this crate, not behind cargo features: DESIGN.md places them here,
//! and the house style keeps feature flags on the facade only; `log` (with its
//! dependency-free `kv` feature), `tracing-core` and `tracing-subscriber` are small, and
//! most programs that want our logs already link one of them. The crate sits beside
//! `telemetry-span`, not on it: records need only the current context's span ids, which
//! `telemetry-context` provides.
//!
//! The last processor receives each record by value ([`LogProcessor::emit_owned`]), so the
//! usual pipeline (one batch processor) moves the record into the ring buffer without
//! copying it; processors before it see it by reference, and their changes reach the ones
//! after, as the spec requires. A record keeps up to [`INLINE_ATTRIBUTES`] attributes inside
//! itself ([`LogAttributes`]): records are built on the emitting thread and dropped on the
//! export worker's, and a heap buffer freed on another thread than the one that allocated it
//! makes the two contend on the allocator's lock for every record.
#![forbid(unsafe_code)]

mod attributes;
mod batch;
mod console;
mod error;
mod exporter;
mod limits;
mod log_bridge;
mod logger;
mod processor;
mod provider;
mod record;
mod severity;
mod suppress;
mod tracing_bridge;

pub use attributes::{AttributesIntoIter, INLINE_ATTRIBUTES, LogAttributes};
pub use batch::{BatchConfig, BatchCounts, BatchLogProcessor, MAX_QUEUE_SIZE};
pub use console::ConsoleLogExporter;
pub use error::{ExportError, ExportErrorKind, LogError};
pub use exporter::{InMemoryLogExporter, LogExporter};
pub use limits::{LogLimits, MAX_VALUE_DEPTH};
pub use log_bridge::{LOG_BRIDGE_SCOPE, LogBridge, severity_of_log_level};
pub use logger::Logger;
pub use processor::{LogProcessor, SimpleLogProcessor};
pub use provider::{DEFAULT_FLUSH_TIMEOUT, LoggerProvider, LoggerProviderBuilder};
pub use record::LogRecord;
pub use severity::Severity;
pub use suppress::{SuppressGuard, is_suppressed, suppressed};
pub use tracing_bridge::{TRACING_BRIDGE_SCOPE, TracingLayer, severity_of_tracing_level};
