//! What a `tracing` span costs once a bridge turns it into an exported span: our
//! `TracingSpanLayer` against `tracing-opentelemetry`'s layer, in the same run.
//!
//! Each iteration is one whole tracing span: `info_span!` (the layer's `on_new_span`),
//! `enter` and `exit` (the layer makes the span's context current and restores the previous
//! one), and the drop that closes it (the span ends and goes to the batch processor). Groups:
//!
//! - `tracing_bridge/root_0_fields`: a root span with no fields.
//! - `tracing_bridge/root_3_fields`: a root span with three fields (a static string, an
//!   `i64`, a `bool`), which both layers turn into attributes.
//! - `tracing_bridge/child`: a span with no fields under a parent that stays entered for the
//!   whole sample, so the child inherits the parent's trace through the current context.
//! - `tracing_bridge/unsampled`: `root_0_fields` with a sampler that drops everything: what
//!   a span costs when it will not be exported.
//!
//! Contenders, each a `Registry` with one layer as the thread's default dispatcher, set
//! around its own benchmark only:
//!
//! - `telemetry`: [`TracingSpanLayer`] over our tracer, `AlwaysOn` (`AlwaysOff` in
//!   `unsampled`), one [`BatchSpanProcessor`] with a 65536-span queue and a 100 ms delay,
//!   exporting to a counting no-op exporter.
//! - `tracing-opentelemetry`: its layer configured to do the same work as ours: context
//!   activation on enter (on by default), no code location, thread, target or busy/idle
//!   attributes (ours records none of them). Over opentelemetry_sdk's tracer with the same
//!   sampler and its `BatchSpanProcessor` with the same queue size and delay, exporting to a
//!   counting no-op exporter. This is the like-for-like ratio.
//! - `tracing-opentelemetry defaults`: the same, with the layer's defaults (location,
//!   thread id and name, target, busy/idle timings): what a user who adds
//!   `tracing_opentelemetry::layer()` pays. For reference, not for the ratio.
//! - `tracing Registry`: the registry alone, no layer and nothing exported: the floor that
//!   every bridge pays before doing anything.
//!
//! # Timed to export, so nothing is dropped
//!
//! Each pipeline's flush (`force_flush` on our provider and on opentelemetry_sdk's) runs inside
//! the timed window after every `FLUSH_EVERY` spans (half the queue) and once at the end, and
//! waits until the exporter has received every span ended before it. The time per span is
//! then the sustained cost of making spans and exporting them, whichever of the producer and
//! the export worker is slower, and no queue can overflow: a pipeline whose worker cannot keep
//! up shows it in its time, not in a drop count. (`benches/spans.rs` explains why.)
//!
//! # Drops are counted
//!
//! Each group builds fresh pipelines, counts every span it makes (warm-up included, through
//! `iter_custom`), and at the end shuts each pipeline down and prints the spans made against
//! the spans exported, with our `BatchSpanProcessor::counts()`. A pipeline that lost spans
//! did less work than the others, and the output says its figures are NOT comparable.
//!
//! Run with `cargo bench -p telemetry-benches --bench tracing_bridge`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor as OtelBatchSpanProcessor, Sampler as OtelSampler,
    SdkTracerProvider, SpanData as OtelSpanData, SpanExporter as OtelSpanExporter,
};
use telemetry_context::Context;
use telemetry_span::{
    BatchConfig, BatchSpanProcessor, ExportError, Sampler, SpanData, SpanExporter, TracerProvider,
    TracingSpanLayer,
};
use tracing::Dispatch;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// Both batch processors' queue size: large, so that only a worker that cannot keep up drops.
const QUEUE_SIZE: usize = 65536;
/// Spans made between two flushes in a timed window: half the queue, so no queue overflows.
const FLUSH_EVERY: u64 = QUEUE_SIZE as u64 / 2;
/// Both batch processors' longest wait before exporting.
const SCHEDULED_DELAY: Duration = Duration::from_millis(100);
/// The scope every tracer reports under.
const SCOPE: &str = "telemetry-benches";
/// The field values, passed through `black_box` so no contender folds them.
const STATUS_CODE: i64 = 200;
const CACHE_HIT: bool = false;

// ---------------------------------------------------------------------------------------------
// Exporters that consume spans and count them.

/// Counts the spans our batch processor hands it; the batch is dropped by the worker.
#[derive(Debug)]
struct CountingExporter {
    /// Written by the export worker; read after shutdown.
    exported: Arc<AtomicU64>,
}

impl SpanExporter for CountingExporter {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        // Relaxed: read only after shutdown has joined the worker.
        self.exported
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Counts the spans opentelemetry_sdk's batch processor hands it; the batch is dropped here.
#[derive(Debug)]
struct OtelCountingExporter {
    /// Written by the export worker; read after shutdown.
    exported: Arc<AtomicU64>,
}

impl OtelSpanExporter for OtelCountingExporter {
    fn export(&self, batch: Vec<OtelSpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        // Relaxed: read only after shutdown has joined the worker.
        self.exported
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        std::future::ready(Ok(()))
    }
}

// ---------------------------------------------------------------------------------------------
// The pipelines under test.

/// Our bridge and pipeline, and the spans a group made through it.
struct Ours {
    provider: TracerProvider,
    processor: Arc<BatchSpanProcessor>,
    exported: Arc<AtomicU64>,
    dispatch: Dispatch,
    sampled: bool,
    /// Tracing spans made under this dispatcher (every iteration, warm-up included).
    created: u64,
}

impl Ours {
    fn new(sampled: bool) -> Self {
        let exported = Arc::new(AtomicU64::new(0));
        let processor = Arc::new(
            BatchSpanProcessor::with_config(
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
        let provider = TracerProvider::builder()
            .with_sampler(if sampled {
                Sampler::AlwaysOn
            } else {
                Sampler::AlwaysOff
            })
            .with_span_processor(Arc::clone(&processor))
            .build();
        let dispatch = Dispatch::new(
            tracing_subscriber::registry().with(TracingSpanLayer::new(provider.tracer(SCOPE))),
        );
        let mut ours = Ours {
            provider,
            processor,
            exported,
            dispatch,
            sampled,
            created: 0,
        };
        // Check once that the layer bridges: the entered span is our current context.
        let bridged = tracing::dispatcher::with_default(&ours.dispatch, || {
            tracing::info_span!("check")
                .in_scope(|| Context::current_span_context().is_some_and(|sc| sc.is_valid()))
        });
        assert!(bridged, "TracingSpanLayer made the span current");
        ours.created += 1;
        ours
    }

    /// Waits until every span ended so far is exported.
    fn flush(&self) {
        self.provider
            .force_flush()
            .expect("our pipeline exports within the flush timeout");
    }

    /// Shuts the pipeline down (which exports everything queued) and reports created against
    /// exported spans.
    fn finish(self, group: &str) -> bool {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("{group}: telemetry: shutdown failed: {error}");
        }
        let exported = self.exported.load(Ordering::Relaxed);
        let expected = if self.sampled { self.created } else { 0 };
        let comparable = report(group, "telemetry", self.created, expected, exported);
        eprintln!(
            "{group}:   telemetry BatchSpanProcessor::counts() = {:?}",
            self.processor.counts()
        );
        comparable
    }
}

/// How the tracing-opentelemetry layer is configured.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OtelLayerConfig {
    /// Only what ours does: no location, thread, target or timing attributes.
    LikeForLike,
    /// `tracing_opentelemetry::layer()` as it comes.
    Defaults,
}

/// tracing-opentelemetry over opentelemetry_sdk, and the spans a group made through it.
struct Otel {
    name: &'static str,
    provider: SdkTracerProvider,
    exported: Arc<AtomicU64>,
    dispatch: Dispatch,
    sampled: bool,
    /// Tracing spans made under this dispatcher (every iteration, warm-up included).
    created: u64,
}

impl Otel {
    fn new(sampled: bool, config: OtelLayerConfig) -> Self {
        let exported = Arc::new(AtomicU64::new(0));
        let processor = OtelBatchSpanProcessor::builder(OtelCountingExporter {
            exported: Arc::clone(&exported),
        })
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(QUEUE_SIZE)
                .with_scheduled_delay(SCHEDULED_DELAY)
                .build(),
        )
        .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(if sampled {
                OtelSampler::AlwaysOn
            } else {
                OtelSampler::AlwaysOff
            })
            .build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer(SCOPE));
        let (name, dispatch) = match config {
            OtelLayerConfig::LikeForLike => (
                "tracing-opentelemetry",
                Dispatch::new(
                    tracing_subscriber::registry().with(
                        layer
                            .with_location(false)
                            .with_threads(false)
                            .with_target(false)
                            .with_tracked_inactivity(false),
                    ),
                ),
            ),
            OtelLayerConfig::Defaults => (
                "tracing-opentelemetry defaults",
                Dispatch::new(tracing_subscriber::registry().with(layer)),
            ),
        };
        let mut otel = Otel {
            name,
            provider,
            exported,
            dispatch,
            sampled,
            created: 0,
        };
        // Check once that the layer bridges: the span has an OpenTelemetry context.
        let bridged = tracing::dispatcher::with_default(&otel.dispatch, || {
            let span = tracing::info_span!("check");
            let _entered = span.enter();
            span.context().span().span_context().is_valid()
        });
        assert!(bridged, "tracing-opentelemetry made an OpenTelemetry span");
        otel.created += 1;
        otel
    }

    /// Waits until every span ended so far is exported.
    fn flush(&self) {
        self.provider
            .force_flush()
            .expect("opentelemetry_sdk's pipeline exports within the flush timeout");
    }

    /// Shuts the pipeline down (which exports everything queued) and reports created against
    /// exported spans. opentelemetry_sdk keeps its drop counter private: a loss shows as
    /// fewer spans exported than created.
    fn finish(self, group: &str) -> bool {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("{group}: {}: shutdown failed: {error}", self.name);
        }
        let exported = self.exported.load(Ordering::Relaxed);
        let expected = if self.sampled { self.created } else { 0 };
        report(group, self.name, self.created, expected, exported)
    }
}

/// Prints one contender's drop count; returns false when its pipeline lost spans.
fn report(group: &str, contender: &str, created: u64, expected: u64, exported: u64) -> bool {
    let verdict = if exported == expected {
        "none lost".to_owned()
    } else if exported < expected {
        format!(
            "LOST {}: this pipeline dropped spans, its figures in {group} are NOT COMPARABLE",
            expected - exported
        )
    } else {
        format!("{} more exported than expected", exported - expected)
    };
    eprintln!(
        "{group}: {contender}: {created} spans created, {expected} sampled, {exported} exported: \
         {verdict}"
    );
    exported == expected
}

// ---------------------------------------------------------------------------------------------
// The operations, the same tracing code for every contender.

/// Times `iters` calls of `f`, each making one span, until every span made is exported:
/// [`telemetry_benches::time_exported`] with `flush` after each chunk of [`FLUSH_EVERY`]
/// spans (half the queue), so no pipeline can drop a span and a slow export worker shows in
/// the time (see the module docs).
#[inline]
fn time(iters: u64, flush: &dyn Fn(), f: impl FnMut()) -> Duration {
    telemetry_benches::time_exported(iters, FLUSH_EVERY, f, flush)
}

/// `iters` root spans without fields, each entered, exited and closed.
fn root_0_fields(iters: u64, flush: &dyn Fn()) -> Duration {
    time(iters, flush, || {
        let span = tracing::info_span!("root");
        let _entered = span.enter();
    })
}

/// `iters` root spans with three fields, each entered, exited and closed.
fn root_3_fields(iters: u64, flush: &dyn Fn()) -> Duration {
    time(iters, flush, || {
        let status = black_box(STATUS_CODE);
        let hit = black_box(CACHE_HIT);
        let span = tracing::info_span!(
            "root",
            http.request.method = "GET",
            http.response.status_code = status,
            cache.hit = hit
        );
        let _entered = span.enter();
    })
}

/// `iters` children of one parent entered for the whole sample (made outside the timing).
fn child(iters: u64, flush: &dyn Fn()) -> Duration {
    let parent = tracing::info_span!("parent");
    let _parent = parent.enter();
    time(iters, flush, || {
        let span = tracing::info_span!("child");
        let _entered = span.enter();
    })
}

/// Benchmarks `op` on every contender as one group, then reports drops.
fn run_group(
    c: &mut Criterion,
    group_name: &str,
    sampled: bool,
    op: fn(u64, &dyn Fn()) -> Duration,
    spans_made: fn(u64) -> u64,
) {
    let mut ours = Ours::new(sampled);
    let mut like = Otel::new(sampled, OtelLayerConfig::LikeForLike);
    let mut defaults = Otel::new(sampled, OtelLayerConfig::Defaults);
    let registry = Dispatch::new(tracing_subscriber::registry());

    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(1));
    group.bench_function("telemetry", |b| {
        b.iter_custom(|iters| {
            ours.created += spans_made(iters);
            let flush = || ours.flush();
            tracing::dispatcher::with_default(&ours.dispatch, || op(iters, &flush))
        });
    });
    for otel in [&mut like, &mut defaults] {
        group.bench_function(otel.name, |b| {
            b.iter_custom(|iters| {
                otel.created += spans_made(iters);
                let flush = || otel.flush();
                tracing::dispatcher::with_default(&otel.dispatch, || op(iters, &flush))
            });
        });
    }
    group.bench_function("tracing Registry", |b| {
        // The registry exports nothing: there is nothing to flush.
        b.iter_custom(|iters| tracing::dispatcher::with_default(&registry, || op(iters, &|| {})));
    });
    group.finish();

    let results = [
        ("telemetry", ours.finish(group_name)),
        (like.name, like.finish(group_name)),
        (defaults.name, defaults.finish(group_name)),
    ];
    let lossy: Vec<&str> = results
        .iter()
        .filter(|(_, comparable)| !comparable)
        .map(|(name, _)| *name)
        .collect();
    if lossy.is_empty() {
        eprintln!("{group_name}: no pipeline lost spans; the figures are comparable");
    } else {
        eprintln!(
            "{group_name}: WARNING: {} lost spans; their figures in this group are NOT comparable",
            lossy.join(", ")
        );
    }
}

fn one_per_iteration(iters: u64) -> u64 {
    iters
}

fn one_per_iteration_and_the_parent(iters: u64) -> u64 {
    iters + 1
}

fn root_0(c: &mut Criterion) {
    run_group(
        c,
        "tracing_bridge/root_0_fields",
        true,
        root_0_fields,
        one_per_iteration,
    );
}

fn root_3(c: &mut Criterion) {
    run_group(
        c,
        "tracing_bridge/root_3_fields",
        true,
        root_3_fields,
        one_per_iteration,
    );
}

fn child_of_parent(c: &mut Criterion) {
    run_group(
        c,
        "tracing_bridge/child",
        true,
        child,
        one_per_iteration_and_the_parent,
    );
}

fn unsampled(c: &mut Criterion) {
    run_group(
        c,
        "tracing_bridge/unsampled",
        false,
        root_0_fields,
        one_per_iteration,
    );
}

criterion_group!(benches, root_0, root_3, child_of_parent, unsampled);
criterion_main!(benches);
