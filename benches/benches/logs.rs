//! What emitting a log record costs: our `telemetry-logs` pipeline against
//! opentelemetry_sdk's logs SDK, in the same run.
//!
//! Each iteration emits one INFO record with a static body and 3 attributes (a static
//! string, an `i64`, a `bool`) through the Logger API and a batch processor. Ours, two ways:
//! `telemetry` builds the record with `LogRecord::new(..).with_body(..).with_attribute(..)`
//! and calls `Logger::emit`; `telemetry emit_with` sets the same fields on the record in
//! place inside `Logger::emit_with` (each builder call moves the whole record, and the
//! compiler does not elide those copies). opentelemetry: `create_log_record`, `set_*`,
//! `add_attribute` and `Logger::emit`, which also sets fields in place. Both loggers stamp the
//! record with the current context's span (when there is one) and the observed time; neither
//! takes an event timestamp in this path.
//!
//! - `logs/emit_3_attributes`: no span is current.
//! - `logs/emit_3_attributes_in_span`: a span context is current for the whole sample (ours:
//!   a `telemetry_context::Context` attached; opentelemetry: an `opentelemetry::Context` with
//!   the span context attached), so each record copies its ids.
//! - `logs/disabled`: the `enabled` check for a severity below what the pipeline takes,
//!   which is what a bridge pays for a filtered-out record (ours: a minimum severity of WARN;
//!   opentelemetry: a processor whose `event_enabled` says no below WARN).
//!
//! # Pipelines
//!
//! Each group builds fresh pipelines: ours, a [`BatchLogProcessor`] with a 65536-record
//! queue and a 100 ms delay exporting to [`CountingExporter`]; opentelemetry_sdk, its
//! `BatchLogProcessor` with the same queue size and delay exporting to
//! [`OtelCountingExporter`].
//!
//! # Timed to export, so nothing is dropped
//!
//! A batch pipeline's cost is paid on two threads, the emitting one and the export worker,
//! which takes records off the queue and frees them. Timing only the emitting thread flatters
//! a pipeline whose worker is slower, and a worker that falls behind fills the queue and
//! drops records: the figure is then for less work. So both emit benchmarks call their
//! provider's `force_flush` (which waits until the exporter has received every record emitted
//! before it) inside the timed window after every `FLUSH_EVERY` records (half the queue) and
//! once at the end. The time per record is the sustained cost of emitting and exporting,
//! whichever thread is slower, and no queue can overflow.
//!
//! # Drops are counted
//!
//! At the end of each group both pipelines are shut down and the records emitted are printed
//! against the records exported, with ours' `BatchLogProcessor::counts()`. A pipeline that
//! lost records did less work than the other, so its figure in that group is NOT comparable,
//! and the output says so.
//!
//! Command: `cargo bench -p telemetry-benches --bench logs`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::logs::{
    LogRecord as _, Logger as _, LoggerProvider as _, Severity as OtelSeverity,
};
use opentelemetry::trace::{
    SpanContext as OtelSpanContext, SpanId as OtelSpanId, TraceContextExt, TraceFlags as OtelFlags,
    TraceId as OtelTraceId, TraceState as OtelTraceState,
};
use opentelemetry::{Context as OtelContext, InstrumentationScope as OtelScope};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchConfigBuilder, BatchLogProcessor as OtelBatchLogProcessor, LogBatch,
    LogExporter as OtelLogExporter, LogProcessor as OtelLogProcessor, SdkLogRecord, SdkLogger,
    SdkLoggerProvider,
};
use telemetry_context::{Context, SpanContext, TraceFlags, TraceState};
use telemetry_core::{KeyValue, Resource, SpanId, TraceId};
use telemetry_logs::{
    BatchConfig, BatchLogProcessor, ExportError, LogExporter, LogRecord, Logger, LoggerProvider,
    Severity,
};

/// Both batch processors' queue size: large, so that only a worker that cannot keep up drops.
const QUEUE_SIZE: usize = 65536;
/// Records emitted between two flushes in a timed window: half the queue, so no queue
/// overflows.
const FLUSH_EVERY: u64 = QUEUE_SIZE as u64 / 2;
/// Both batch processors' longest wait before exporting.
const SCHEDULED_DELAY: Duration = Duration::from_millis(100);
/// The scope every logger reports under.
const SCOPE: &str = "telemetry-benches";
/// Attribute values, passed through `black_box` so no contender folds them.
const STATUS_CODE: i64 = 200;
const CACHE_HIT: bool = false;

/// Counts the records our batch processor hands it.
#[derive(Debug)]
struct CountingExporter {
    /// Written by the export worker; read after shutdown.
    exported: Arc<AtomicU64>,
}

impl LogExporter for CountingExporter {
    fn export(&mut self, batch: &[LogRecord]) -> Result<(), ExportError> {
        // Relaxed: read only after shutdown has joined the worker.
        self.exported
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Counts the records opentelemetry_sdk's batch processor hands it.
#[derive(Debug)]
struct OtelCountingExporter {
    /// Written by the export worker; read after shutdown.
    exported: Arc<AtomicU64>,
}

impl OtelLogExporter for OtelCountingExporter {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        // Relaxed: read only after shutdown has joined the worker.
        self.exported
            .fetch_add(batch.iter().count() as u64, Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

/// opentelemetry_sdk's batch processor behind a severity filter, for `logs/disabled`.
#[derive(Debug)]
struct OtelWarnAndAbove(OtelBatchLogProcessor);

impl OtelLogProcessor for OtelWarnAndAbove {
    fn emit(&self, record: &mut SdkLogRecord, scope: &OtelScope) {
        self.0.emit(record, scope);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn event_enabled(&self, level: OtelSeverity, _target: &str, _name: Option<&str>) -> bool {
        level >= OtelSeverity::Warn
    }
}

/// Our pipeline, and the records a group emitted on it.
struct Ours {
    provider: LoggerProvider,
    logger: Logger,
    processor: Arc<BatchLogProcessor>,
    exported: Arc<AtomicU64>,
    /// Records emitted (every iteration of every sample, warm-up included).
    created: u64,
}

impl Ours {
    fn new(min_severity: Severity) -> Self {
        let exported = Arc::new(AtomicU64::new(0));
        let processor = Arc::new(
            BatchLogProcessor::with_config(
                CountingExporter {
                    exported: Arc::clone(&exported),
                },
                BatchConfig {
                    max_queue_size: QUEUE_SIZE,
                    scheduled_delay: SCHEDULED_DELAY,
                    ..BatchConfig::default()
                },
            )
            .expect("the export worker starts"),
        );
        let provider = LoggerProvider::builder()
            .with_resource(Resource::empty())
            .with_min_severity(min_severity)
            .with_processor(Arc::clone(&processor))
            .build();
        let logger = provider.logger(SCOPE);
        Ours {
            provider,
            logger,
            processor,
            exported,
            created: 0,
        }
    }

    /// Waits until every record emitted so far is exported.
    fn flush(&self) {
        self.provider
            .force_flush()
            .expect("the pipeline exports within the flush timeout");
    }

    fn finish(self, group: &str, expected: u64) -> bool {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("{group}: telemetry: shutdown failed: {error}");
        }
        let exported = self.exported.load(Ordering::Relaxed);
        let comparable = report(group, "telemetry", self.created, expected, exported);
        eprintln!(
            "{group}:   telemetry BatchLogProcessor::counts() = {:?}",
            self.processor.counts()
        );
        comparable
    }
}

/// opentelemetry_sdk's pipeline, and the records a group emitted on it.
struct Otel {
    provider: SdkLoggerProvider,
    logger: SdkLogger,
    exported: Arc<AtomicU64>,
    created: u64,
}

impl Otel {
    fn new(warn_and_above: bool) -> Self {
        let exported = Arc::new(AtomicU64::new(0));
        let processor = OtelBatchLogProcessor::builder(OtelCountingExporter {
            exported: Arc::clone(&exported),
        })
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(QUEUE_SIZE)
                .with_scheduled_delay(SCHEDULED_DELAY)
                .build(),
        )
        .build();
        let builder = SdkLoggerProvider::builder();
        let provider = if warn_and_above {
            builder.with_log_processor(OtelWarnAndAbove(processor))
        } else {
            builder.with_log_processor(processor)
        }
        .build();
        let logger = provider.logger(SCOPE);
        Otel {
            provider,
            logger,
            exported,
            created: 0,
        }
    }

    /// opentelemetry_sdk keeps its drop counter private: a loss shows as fewer records
    /// exported than emitted.
    /// Waits until every record emitted so far is exported.
    fn flush(&self) {
        self.provider
            .force_flush()
            .expect("the pipeline exports within the flush timeout");
    }

    fn finish(self, group: &str, expected: u64) -> bool {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("{group}: opentelemetry_sdk: shutdown failed: {error}");
        }
        let exported = self.exported.load(Ordering::Relaxed);
        report(group, "opentelemetry_sdk", self.created, expected, exported)
    }
}

/// Prints one contender's drop count; returns false when its pipeline lost records.
fn report(group: &str, contender: &str, created: u64, expected: u64, exported: u64) -> bool {
    let verdict = if exported == expected {
        "none lost".to_owned()
    } else if exported < expected {
        format!(
            "LOST {}: this pipeline dropped records, its figures in {group} are NOT COMPARABLE",
            expected - exported
        )
    } else {
        format!("{} more exported than expected", exported - expected)
    };
    eprintln!(
        "{group}: {contender}: {created} records emitted, {expected} expected, {exported} \
         exported: {verdict}"
    );
    exported == expected
}

fn finish_group(group: &str, ours: Ours, otel: Otel, expect_exports: bool) {
    let expected = |created: u64| if expect_exports { created } else { 0 };
    let ours_expected = expected(ours.created);
    let otel_expected = expected(otel.created);
    let comparable = [
        ("telemetry", ours.finish(group, ours_expected)),
        ("opentelemetry_sdk", otel.finish(group, otel_expected)),
    ];
    let lossy: Vec<&str> = comparable
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(name, _)| *name)
        .collect();
    if lossy.is_empty() {
        eprintln!("{group}: no pipeline lost records; the figures are comparable");
    } else {
        eprintln!(
            "{group}: WARNING: {} lost records; their figures in this group are NOT comparable",
            lossy.join(", ")
        );
    }
}

/// Times `iters` calls of `f`.
#[inline]
fn time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// Times `iters` calls of `f`, each emitting one record, until every record is exported:
/// [`telemetry_benches::time_exported`] with a flush after each chunk of [`FLUSH_EVERY`]
/// records (see the module docs).
#[inline]
fn time_exported(iters: u64, f: impl FnMut(), flush: impl FnMut()) -> Duration {
    telemetry_benches::time_exported(iters, FLUSH_EVERY, f, flush)
}

#[inline]
fn ours_emit(logger: &Logger) {
    logger.emit(
        LogRecord::new(Severity::INFO)
            .with_body("order placed")
            .with_attribute("http.route", "/checkout")
            .with_attribute("http.response.status_code", black_box(STATUS_CODE))
            .with_attribute("cache.hit", black_box(CACHE_HIT)),
    );
}

#[inline]
fn ours_emit_with(logger: &Logger) {
    logger.emit_with(Severity::INFO, |record| {
        record.body = "order placed".into();
        record
            .attributes
            .push(KeyValue::new("http.route", "/checkout"));
        record.attributes.push(KeyValue::new(
            "http.response.status_code",
            black_box(STATUS_CODE),
        ));
        record
            .attributes
            .push(KeyValue::new("cache.hit", black_box(CACHE_HIT)));
    });
}

#[inline]
fn otel_emit(logger: &SdkLogger) {
    let mut record = logger.create_log_record();
    record.set_severity_number(OtelSeverity::Info);
    record.set_severity_text("INFO");
    record.set_body("order placed".into());
    record.add_attribute("http.route", "/checkout");
    record.add_attribute("http.response.status_code", black_box(STATUS_CODE));
    record.add_attribute("cache.hit", black_box(CACHE_HIT));
    logger.emit(record);
}

fn emit_3_attributes(c: &mut Criterion) {
    const GROUP: &str = "logs/emit_3_attributes";
    let mut ours = Ours::new(Severity::UNSPECIFIED);
    let mut otel = Otel::new(false);
    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));
    group.bench_function("telemetry", |b| {
        b.iter_custom(|iters| {
            ours.created += iters;
            time_exported(iters, || ours_emit(&ours.logger), || ours.flush())
        });
    });
    group.bench_function("telemetry emit_with", |b| {
        b.iter_custom(|iters| {
            ours.created += iters;
            time_exported(iters, || ours_emit_with(&ours.logger), || ours.flush())
        });
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter_custom(|iters| {
            otel.created += iters;
            time_exported(iters, || otel_emit(&otel.logger), || otel.flush())
        });
    });
    group.finish();
    finish_group(GROUP, ours, otel, true);
}

fn emit_3_attributes_in_span(c: &mut Criterion) {
    const GROUP: &str = "logs/emit_3_attributes_in_span";
    let trace_id = TraceId::random();
    let span_id = SpanId::random();
    let ours_span = Context::new().with_span_context(SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::SAMPLED,
        false,
        TraceState::EMPTY,
    ));
    let mut ours = Ours::new(Severity::UNSPECIFIED);
    let mut otel = Otel::new(false);
    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));
    group.bench_function("telemetry", |b| {
        let _guard = ours_span.clone().attach();
        b.iter_custom(|iters| {
            ours.created += iters;
            time_exported(iters, || ours_emit(&ours.logger), || ours.flush())
        });
    });
    group.bench_function("telemetry emit_with", |b| {
        let _guard = ours_span.clone().attach();
        b.iter_custom(|iters| {
            ours.created += iters;
            time_exported(iters, || ours_emit_with(&ours.logger), || ours.flush())
        });
    });
    group.bench_function("opentelemetry_sdk", |b| {
        let _guard = OtelContext::new()
            .with_remote_span_context(OtelSpanContext::new(
                OtelTraceId::from_bytes(trace_id.to_bytes()),
                OtelSpanId::from_bytes(span_id.to_bytes()),
                OtelFlags::SAMPLED,
                false,
                OtelTraceState::default(),
            ))
            .attach();
        b.iter_custom(|iters| {
            otel.created += iters;
            time_exported(iters, || otel_emit(&otel.logger), || otel.flush())
        });
    });
    group.finish();
    finish_group(GROUP, ours, otel, true);
}

fn disabled(c: &mut Criterion) {
    const GROUP: &str = "logs/disabled";
    let mut ours = Ours::new(Severity::WARN);
    let mut otel = Otel::new(true);
    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));
    group.bench_function("telemetry", |b| {
        b.iter_custom(|iters| {
            ours.created += iters;
            time(iters, || {
                if ours.logger.enabled(black_box(Severity::INFO)) {
                    ours_emit(&ours.logger);
                }
            })
        });
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter_custom(|iters| {
            otel.created += iters;
            time(iters, || {
                if otel
                    .logger
                    .event_enabled(black_box(OtelSeverity::Info), SCOPE, None)
                {
                    otel_emit(&otel.logger);
                }
            })
        });
    });
    group.finish();
    finish_group(GROUP, ours, otel, false);
}

criterion_group!(
    benches,
    emit_3_attributes,
    emit_3_attributes_in_span,
    disabled
);
criterion_main!(benches);
