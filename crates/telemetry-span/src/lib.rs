//! Tracing: the tracer provider, tracers, spans, samplers, span limits and processors.
//!
//! - [`TracerProvider`] holds the pipeline: resource, [`Sampler`], [`SpanLimits`] and
//!   [`SpanProcessor`]s. It hands out [`Tracer`]s, one per instrumentation scope.
//! - [`Span`] is an operation being recorded. It nests under the current span (through
//!   `telemetry-context`), so recursive work across threads and `.await` forms a correct
//!   tree; it ends when dropped. [`SpanRef`] is a shareable handle, e.g. to the current span.
//! - [`BatchSpanProcessor`] moves ended spans into `telemetry-batcher`'s lock-free ring
//!   buffer without blocking the ending thread; a worker thread hands batches to a
//!   [`SpanExporter`]. [`SimpleSpanProcessor`] exports synchronously, for tests.
//! - [`InMemorySpanExporter`] keeps spans in memory, for tests; [`ConsoleSpanExporter`]
//!   prints one line per span.
//! - [`TracingSpanLayer`] is a `tracing_subscriber::Layer` that turns `tracing` spans into
//!   these spans, in the same tree, so code instrumented with `tracing` shows up unchanged;
//!   it records through one [`Tracer`] or follows the installed provider
//!   ([`TracingSpanLayer::global`]).
//!
//! The design decision: sampling happens before anything is allocated. A span the sampler
//! drops is only its [`SpanContext`](telemetry_context::SpanContext) (so the decision still
//! propagates), and costs a couple of random numbers and the sampler call. And what the
//! export worker frees, it frees into a pool the spans draw from: the attribute buffers of
//! exported spans go back to the threads that make spans, since a buffer allocated on one
//! thread and freed on another makes both contend on the allocator's lock.
//!
//! # Example
//!
//! ```
//! use telemetry_core::KeyValue;
//! use telemetry_span::{InMemorySpanExporter, Status, TracerProvider};
//!
//! let exporter = InMemorySpanExporter::new();
//! let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! let tracer = provider.tracer("my-crate");
//!
//! tracer.in_span("parent", |parent| {
//!     parent.set_attribute(KeyValue::new("task.id", 7i64));
//!     let child = tracer.start("child");
//!     child.set_status(Status::error("subtask failed"));
//! });
//!
//! let spans = exporter.finished_spans();
//! assert_eq!(spans.len(), 2);
//! let (child, parent) = (&spans[0], &spans[1]);
//! assert_eq!(child.parent_span_id, parent.span_context.span_id());
//! assert_eq!(child.status, Status::error("subtask failed"));
//! provider.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod batch;
mod console;
mod error;
mod exporter;
pub mod global;
mod limits;
mod processor;
mod provider;
mod recycle;
mod sampler;
mod span;
mod span_data;
mod tracer;
mod tracing_bridge;

pub use batch::{BatchConfig, BatchCounts, BatchSpanProcessor, MAX_QUEUE_SIZE};
pub use console::ConsoleSpanExporter;
pub use error::{ExportError, ExportErrorKind, TraceError};
pub use exporter::{InMemorySpanExporter, SpanExporter};
pub use limits::{MAX_VALUE_DEPTH, SpanLimits};
pub use processor::{SimpleSpanProcessor, SpanProcessor};
pub use provider::{DEFAULT_FLUSH_TIMEOUT, IdGenerator, TracerProvider, TracerProviderBuilder};
pub use sampler::{ParentBased, Sampler, SamplingDecision, SamplingResult, ShouldSample};
pub use span::{Span, SpanRef};
pub use span_data::{Event, Link, SpanData, SpanKind, Status};
pub use tracer::{SpanBuilder, Tracer};
pub use tracing_bridge::TracingSpanLayer;
