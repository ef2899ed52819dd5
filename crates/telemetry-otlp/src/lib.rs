//! OTLP, by hand: protobuf and OTLP/JSON encoders and decoders for the requests that carry
//! telemetry to a collector (and that the dashboard receives).
//!
//! - [`TraceEncoder`] writes a batch of [`SpanData`](telemetry_span::SpanData) from one
//!   [`Resource`](telemetry_core::Resource) as an `ExportTraceServiceRequest`, grouped by
//!   instrumentation scope, into a caller-owned `Vec<u8>`: protobuf with
//!   [`TraceEncoder::encode`], OTLP/JSON with [`TraceEncoder::encode_json`].
//! - [`decode_traces`] and [`decode_traces_json`] read a request back into [`TracesData`]:
//!   [`ResourceSpans`] holding [`ScopeSpans`] holding `SpanData`, the same types the
//!   exporters receive. [`encode_traces_data`] and [`encode_traces_data_json`] write such a
//!   value back, envelope for envelope. [`decode_traces`] decodes strings that repeat within
//!   a request (attribute keys, span names, short values) once and shares them as
//!   `Arc<str>`, so a store of decoded spans keeps one copy of each key.
//! - [`TracesView::decode`] reads the same protobuf request without copying: it validates
//!   all of it as [`decode_traces`] does (same accepted inputs, same errors) and hands out
//!   views whose strings borrow from the input ([`SpanView`], [`KeyValueView`], ...), about
//!   3x faster than prost's decode on the benchmark's batch; [`TracesView::to_traces_data`]
//!   gives the owned form.
//! - Metrics: [`encode_metrics`] and [`encode_metrics_json`] write one collection (a
//!   [`ResourceMetrics`](telemetry_metrics::data::ResourceMetrics), already grouped by
//!   scope) as an `ExportMetricsServiceRequest`; [`decode_metrics`] and
//!   [`decode_metrics_json`] read one into [`MetricsData`], and [`encode_metrics_data`] and
//!   [`encode_metrics_data_json`] write that back. OTLP content our metric types cannot hold
//!   (summaries, point flags, dropped counts) is dropped on decode, as [`MetricsData`] lists.
//! - Logs: [`LogsEncoder`] groups a batch of [`LogRecord`](telemetry_logs::LogRecord)s by
//!   scope as [`TraceEncoder`] does spans; [`decode_logs`] and [`decode_logs_json`] read a
//!   request into [`LogsData`] ([`ResourceLogs`] holding [`ScopeLogs`]), and
//!   [`encode_logs_data`] and [`encode_logs_data_json`] write it back.
//! - [`DecodeError`] and [`JsonError`] say what was wrong and where: a byte offset with the
//!   message and field for protobuf, a path such as `resourceSpans[0].scopeSpans[0].spans[2].traceId`
//!   for JSON.
//!
//! The design decision: no generated code and no intermediate message structs. The encoder
//! walks `SpanData` once and writes each field straight into the buffer, reserving the
//! length prefix of a nested message by a size-class guess and patching it afterwards
//! (the reasoning is in `proto/wire.rs`); prost's path (convert to its structs, compute
//! every nested length, then write) allocates per span and walks every value once per
//! enclosing level. Metrics and logs sit beside traces in `proto/` and `json/`, on the same
//! wire primitives and common messages.
//!
//! # Example
//!
//! ```
//! use telemetry_core::{KeyValue, Resource};
//! use telemetry_span::{InMemorySpanExporter, TracerProvider};
//! use telemetry_otlp::{TraceEncoder, decode_traces, decode_traces_json};
//!
//! let exporter = InMemorySpanExporter::new();
//! let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! provider.tracer("checkout").in_span("charge", |span| {
//!     span.set_attribute(KeyValue::new("amount", 42i64));
//! });
//! let spans = exporter.finished_spans();
//! let resource = Resource::builder().with_service_name("shop").build();
//!
//! let mut encoder = TraceEncoder::new();
//! let mut buf = Vec::new();
//! encoder.encode(&resource, &spans, &mut buf);
//! let decoded = decode_traces(&buf)?;
//! let resource_spans = &decoded.resource_spans[0];
//! assert_eq!(resource_spans.resource.service_name(), Some("shop"));
//! assert_eq!(resource_spans.scope_spans[0].spans, spans);
//!
//! buf.clear();
//! encoder.encode_json(&resource, &spans, &mut buf);
//! assert_eq!(decode_traces_json(&buf)?, decoded);
//! provider.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Exporting to a collector
//!
//! [`HttpSpanExporter`] sends span batches over OTLP/HTTP (protobuf or JSON, optionally
//! gzip) and implements [`SpanExporter`](telemetry_span::SpanExporter), so it goes under a
//! [`BatchSpanProcessor`](telemetry_span::BatchSpanProcessor) like any exporter. It owns its
//! own thread, with the tokio runtime hyper needs inside it: a program without a runtime
//! works, and one inside tokio may export, flush and shut down from any thread. Settings come
//! from `OTEL_EXPORTER_OTLP_*` ([`ExporterConfig::from_env`]) or from the builder; retries
//! follow OTLP's rules within each export's deadline (see [`HttpSpanExporter`]). The `grpc`
//! protocol is refused by the HTTP exporters' `build` with an [`ExporterBuildError`] (the
//! gRPC exporters below speak it).
//!
//! # TLS
//!
//! An `https` endpoint is reached over TLS with rustls, on the `ring` crypto provider, which
//! every exporter names itself, so a process-wide default provider installed elsewhere
//! changes nothing; `http` stays plain text. The server's certificate is checked against
//! the system's trust roots plus the CA certificates of [`TlsConfig::ca_certificate`]
//! (`OTEL_EXPORTER_OTLP_CERTIFICATE`, or the builders' `ca_certificate_pem`), and a client
//! certificate and key can be shown to servers that ask for mutual TLS
//! (`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and `_CLIENT_KEY`, or `client_identity_pem`);
//! each variable has its per-signal form (`OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE`, ...),
//! which wins. The files are read and checked when the exporter is built: one that is
//! missing or not PEM fails `build` with an [`ExporterBuildError::Tls`] naming the variable
//! and the path. For `http` endpoints they are not read. A handshake that fails because the
//! certificate is not trusted, does not name the host, or is refused by the server fails
//! the export at once, without retries (a certificate does not fix itself before the
//! deadline), with a message that starts `TLS with <endpoint> failed`. OTLP/HTTP offers
//! HTTP/2 and HTTP/1.1 by ALPN and speaks whichever the server picks; OTLP/gRPC offers `h2`.
//!
//! ```
//! use std::time::Duration;
//! use telemetry_core::Resource;
//! use telemetry_otlp::{Compression, ExporterConfig, HttpSpanExporter, Signal};
//! use telemetry_span::{BatchConfig, BatchSpanProcessor, TracerProvider};
//!
//! // The environment first, then code overrides; building connects nowhere yet.
//! let exporter = HttpSpanExporter::builder()
//!     .config(ExporterConfig::from_env(Signal::Traces))
//!     .endpoint("http://127.0.0.1:4318/v1/traces")
//!     .compression(Compression::Gzip)
//!     .timeout(Some(Duration::from_secs(5)))
//!     .build()?;
//! let stats = exporter.stats();
//! let processor = BatchSpanProcessor::with_config(exporter, BatchConfig::default())?;
//! let provider = TracerProvider::builder()
//!     .with_resource(Resource::builder().with_service_name("shop").build())
//!     .with_span_processor(processor)
//!     .build();
//! // ... spans are exported in the background ...
//! provider.shutdown()?;
//! assert_eq!(stats.rejected_spans(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`HttpMetricExporter`] (a [`PushMetricExporter`](telemetry_metrics::PushMetricExporter),
//! for a [`PeriodicReader`](telemetry_metrics::PeriodicReader)) and [`HttpLogExporter`] (a
//! [`LogExporter`](telemetry_logs::LogExporter), for a
//! [`BatchLogProcessor`](telemetry_logs::BatchLogProcessor)) do the same for metrics and
//! logs, on the same transport: one thread each, the same retries, deadlines, gzip and
//! errors, and [`HttpExporterStats`] counting the data points or log records a collector
//! rejects. Each has `builder()` and `from_env()`; the metric exporter also takes a
//! [`TemporalityPreference`](telemetry_metrics::TemporalityPreference), from
//! `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` in `from_env`.
//!
//! ```
//! use telemetry_core::Resource;
//! use telemetry_logs::LoggerProvider;
//! use telemetry_metrics::{MeterProvider, PeriodicReader, TemporalityPreference};
//! use telemetry_otlp::{HttpLogExporter, HttpMetricExporter, Protocol};
//!
//! let resource = Resource::builder().with_service_name("shop").build();
//! let metrics = HttpMetricExporter::builder()
//!     .endpoint("http://127.0.0.1:4318/v1/metrics")
//!     .protocol(Protocol::HttpJson)
//!     .temporality_preference(TemporalityPreference::Delta)
//!     .build()?;
//! let metric_stats = metrics.stats();
//! let meter_provider = MeterProvider::builder()
//!     .with_resource(resource.clone())
//!     .with_reader(PeriodicReader::builder(metrics).build())
//!     .build();
//! let logs = HttpLogExporter::builder()
//!     .endpoint("http://127.0.0.1:4318/v1/logs")
//!     .build()?;
//! let logger_provider = LoggerProvider::builder()
//!     .with_resource(resource)
//!     .with_batch_exporter(logs)?
//!     .build();
//! // ... metrics and logs are exported in the background; nothing was recorded here, so
//! // shutting down sends nothing ...
//! meter_provider.shutdown()?;
//! logger_provider.shutdown()?;
//! assert_eq!(metric_stats.requests(), 0);
//! assert_eq!(metric_stats.rejected_data_points(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Over OTLP/gRPC, [`GrpcSpanExporter`], [`GrpcMetricExporter`] and [`GrpcLogExporter`] do
//! the same for each signal through tonic: the request is our own encoding passed through a
//! raw-bytes codec, so the wire bytes are those of the HTTP exporters. Each owns its thread
//! and a lazily connected HTTP/2 channel (TLS for `https`, as above; plain text for `http`;
//! an endpoint without a scheme, `collector:4317`, is TLS unless
//! `OTEL_EXPORTER_OTLP_INSECURE=true` or the builders' `insecure(true)`, as the spec's
//! default is secure), sends every
//! export with a `grpc-timeout`, retries the gRPC codes OTLP calls transient with backoff
//! and jitter, waits at least the `RetryInfo` delay a server asks for (and, like the HTTP
//! exporters with `Retry-After`, sends nothing before it ends, across exports: an export
//! that cannot wait it out within its deadline fails unsent), retries a call the connection
//! broke under (tonic's `UNKNOWN` made from a transport error, which OTLP counts as a
//! disconnect), and reports the other codes at once with a [`GrpcExportError`]. `from_env` takes `OTEL_EXPORTER_OTLP_*` and
//! requires `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`; the endpoint is used without a signal path.
//!
//! ```
//! use std::time::Duration;
//! use telemetry_metrics::{MeterProvider, PeriodicReader};
//! use telemetry_otlp::{Compression, GrpcMetricExporter, GrpcSpanExporter};
//! use telemetry_span::{BatchConfig, BatchSpanProcessor, TracerProvider};
//!
//! // Building connects nowhere: the channel connects on the first export.
//! let spans = GrpcSpanExporter::builder()
//!     .endpoint("http://127.0.0.1:4317")
//!     .header("x-tenant", "shop")
//!     .compression(Compression::Gzip)
//!     .timeout(Some(Duration::from_secs(5)))
//!     .build()?;
//! let stats = spans.stats();
//! let tracer_provider = TracerProvider::builder()
//!     .with_span_processor(BatchSpanProcessor::with_config(spans, BatchConfig::default())?)
//!     .build();
//! let metrics = GrpcMetricExporter::builder().endpoint("http://127.0.0.1:4317").build()?;
//! let meter_provider = MeterProvider::builder()
//!     .with_reader(PeriodicReader::builder(metrics).build())
//!     .build();
//! // ... telemetry is exported in the background ...
//! meter_provider.shutdown()?;
//! tracer_provider.shutdown()?;
//! assert_eq!(stats.rejected_items(), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Untrusted input
//!
//! The decoders take bytes from other processes, possibly hostile. They never panic and never
//! index out of bounds; every length is checked against the bytes that remain before it is
//! used, and no buffer is sized from a length field, so memory grows only as data actually
//! decodes: at most a constant factor of the input (the worst case is an empty attribute or
//! event, two bytes on the wire, becoming a struct of a few dozen bytes). Nesting is limited to
//! 256 protobuf messages and 256 JSON arrays and objects, which bounds recursion;
//! resources are limited to 1024 attributes. Varints longer than ten bytes, truncated
//! values, invalid wire types, unmatched groups, ids of the wrong length or all zeroes,
//! invalid `trace_state`s, non-UTF-8 strings and unknown enum values are typed errors.
//! Unknown fields of every wire type, groups included, are skipped. Callers should still cap
//! the request size (OTLP suggests 64 MiB before decompression) before decoding.
#![forbid(unsafe_code)]

mod codec;
mod config;
mod error;
mod export;
mod json;
mod logs;
mod metrics;
mod proto;
mod tls;
mod traces;

pub use codec::{
    LogsEncoder, decode_logs, decode_logs_json, decode_metrics, decode_metrics_json,
    encode_logs_data, encode_logs_data_json, encode_metrics, encode_metrics_data,
    encode_metrics_data_json, encode_metrics_json,
};
pub use codec::{
    TraceEncoder, decode_span_detail, decode_traces, decode_traces_json, encode_span_detail,
    encode_traces_data, encode_traces_data_json, span_detail_attribute_matches,
};
pub use config::{
    Compression, DEFAULT_GRPC_ENDPOINT, DEFAULT_HTTP_ENDPOINT, DEFAULT_TIMEOUT, ExporterConfig,
    Protocol, Signal,
};
pub use error::{DecodeError, DecodeErrorKind, JsonError, JsonErrorKind};
pub use export::grpc::{GrpcExportError, GrpcExporterStats};
pub use export::grpc_signals::{
    GrpcLogExporter, GrpcLogExporterBuilder, GrpcMetricExporter, GrpcMetricExporterBuilder,
    GrpcSpanExporter, GrpcSpanExporterBuilder,
};
pub use export::http::{
    DEFAULT_MAX_REQUEST_SIZE, DEFAULT_MAX_RESPONSE_SIZE, HttpExporterStats, HttpSpanExporter,
    HttpSpanExporterBuilder,
};
pub use export::http_logs::{HttpLogExporter, HttpLogExporterBuilder};
pub use export::http_metrics::{HttpMetricExporter, HttpMetricExporterBuilder};
pub use export::retry::RetryPolicy;
pub use export::{ExporterBuildError, HttpExportError};
pub use logs::{LogsData, ResourceLogs, ScopeLogs};
pub use metrics::MetricsData;
pub use proto::trace_view::{
    EventView, KeyValueView, KeyValues, LinkView, ResourceSpansView, ScopeSpansView, SpanView,
    StatusView, TracesView, ValueView, Values,
};
pub use tls::{PemItem, PemSource, TlsConfig, TlsConfigError, TlsConfigErrorKind};
pub use traces::{ResourceSpans, ScopeSpans, TracesData};
