//! What a span costs from start to end: our `telemetry-span` pipeline against
//! opentelemetry_sdk's, fastrace's and tokio-tracing's, in the same run.
//!
//! Every group holds our implementation and its peers side by side, so criterion reports them
//! together and the ratios compare like with like on the same machine. Each benchmark times
//! whole start-to-end spans with `iter_custom`, which also tells us exactly how many spans it
//! made (warm-up included), so drops can be counted without adding work to the timed loop.
//!
//! - `spans/root`: one root span started and ended, no attributes, nothing current.
//!   fastrace's root is its unit of collection, so this is a whole one-span trace to its
//!   collector; tracing's is a `Registry` slab entry made and released.
//! - `spans/child`: one child started and ended under a parent that stays current for the whole
//!   sample (ours: `parent.enter()`; opentelemetry: `Context::current_with_span(parent)`
//!   attached; tracing: `parent.enter()`). This isolates what a child costs: read the current
//!   context, inherit the trace, make an id, record, end, hand to the processor. fastrace is
//!   not in this group on purpose: it collects local spans only when their root drops, so a
//!   root living across a sample would buffer every child of the sample (millions of them) and
//!   the figure would be a growing `Vec` push, not a span. Its child cost is in
//!   `spans/root+child`.
//! - `spans/root+child`: per iteration, a root made current and a child under it, both ended
//!   (ours and opentelemetry: `Tracer::in_span`; fastrace: `Span::root`, `set_local_parent`,
//!   `LocalSpan::enter_with_local_parent`; tracing: the root entered, then the child). A trace
//!   is the smallest unit fastrace collects. One iteration is two spans; criterion's
//!   throughput line counts spans.
//!
//!   fastrace hands every finished trace to one global collector thread, built to amortise
//!   that hand-off over many local spans per trace. At one short trace per iteration (here and
//!   in `spans/root`) the collector saturates and the producing thread pays for backpressure:
//!   its bounded command queue overflows into an unbounded one that grows for the whole
//!   sample. Those fastrace figures are a saturated collector's, not its local-span fast path.
//! - `spans/child_4_attributes` and `spans/root+child_4_attributes`: as the two groups above,
//!   with 4 attributes on the child given at start (two static strings, an `i64`, a `bool`):
//!   ours `span_builder(..).with_attributes`, opentelemetry `SpanBuilder::with_attributes`,
//!   tracing fields in `info_span!`, fastrace `with_properties`. fastrace properties are
//!   strings, so its `i64` is formatted into a `String` (an allocation, as a user would pay) and
//!   its `bool` becomes a static `"true"`/`"false"`. A bare tracing `Registry` stores no field
//!   values (only a layer would), so tracing's figure there is a floor, not a like-for-like.
//! - `spans/unsampled`: a root span the sampler drops. Ours and opentelemetry with
//!   `AlwaysOff` still make a trace id and a span id and return a non-recording span carrying
//!   a valid context, so the decision propagates; fastrace gets a root whose `SpanContext` is
//!   `sampled(false)`; tracing a `Registry` under a `LevelFilter::WARN` and an `info_span!`,
//!   which its callsite rejects from a cached interest before any id exists: less work by
//!   design, the floor of what "off" can cost.
//! - `spans/2_threads`: two threads each make `iters` root+child pairs (as in
//!   `spans/root+child`) at the same time. The time is wall-clock, from the first thread
//!   starting its loop to the last one finishing, so criterion's time per iteration is the
//!   wall time for each of the two threads to make one pair concurrently: 4 spans in all
//!   (criterion's throughput line counts all 4, i.e. aggregate spans per second). With perfect
//!   scaling it equals `spans/root+child`. Spawning the threads and per-thread setup (tracing's
//!   default dispatcher, one pair to initialise thread-locals) happen before a barrier, outside
//!   the window. On a 2-core machine the export worker competes with the two producers for
//!   CPU; that contention is part of what this group measures.
//!
//! # Pipelines
//!
//! Each group builds fresh pipelines, so drops are attributed to the group that caused them:
//!
//! - ours: `AlwaysOn` (`AlwaysOff` in `spans/unsampled`), one [`BatchSpanProcessor`] with a
//!   65536-span queue and a 100 ms delay, exporting to [`CountingExporter`]; the processor is
//!   shared through an `Arc` so its [`BatchSpanProcessor::counts`] can be read at the end.
//! - opentelemetry_sdk: the same sampler, its `BatchSpanProcessor` with the same queue size and
//!   delay, exporting to [`OtelCountingExporter`].
//! - fastrace: one process-wide [`CountingReporter`] with the default `Config`.
//! - tracing: a `Registry` (with a level filter in `spans/unsampled`) as the thread's default
//!   dispatcher, set only around tracing's own benchmarks so no other contender's internal
//!   `tracing` events reach it. It exports nothing, so there is no drop count for it.
//!
//! # Timed to export, so nothing is dropped
//!
//! A batch pipeline's cost is paid on two threads: the producer's (start, end, hand-off) and
//! the export worker's (taking spans off the queue, handing batches to the exporter, freeing
//! each span's memory). Timing only the producer flatters a pipeline whose worker is slower
//! than its producers: the queue fills, spans are dropped, and the figure is for less work.
//! So every pipeline benchmark (all but `spans/unsampled` and the tracing `Registry` lines,
//! which export nothing) calls its pipeline's flush inside the timed window after every
//! `FLUSH_EVERY` spans (half the queue) and once at the end: ours and opentelemetry_sdk's
//! `force_flush` on the provider, which waits until the exporter has received every span ended
//! before it; `fastrace::flush`, which runs its collector. The time per span is then the
//! sustained cost of making spans and exporting them, whichever thread is slower, with the
//! flush's own wake-up spread over 32,768 spans. The flush bounds what any queue holds, so
//! no pipeline can drop a span, and the drop counts below must all read "none lost".
//!
//! # Drops are counted
//!
//! At the end of each group every pipeline is shut down (fastrace is flushed) and the spans
//! created are printed against the spans exported, with ours' `BatchSpanProcessor::counts()`.
//! A contender whose pipeline lost spans did less work than the others, so its figure in that
//! group is NOT comparable, and the output says so.
//!
//! fastrace is a no-op unless built with its `enable` feature. The benchmark checks once that
//! fastrace really collects; if not, it says so and leaves fastrace out rather than timing a
//! no-op.
//!
//! # Memory per buffered span
//!
//! The first "group" times nothing: it prints what one span holds while it waits in the batch
//! queue, for ours and opentelemetry_sdk. Both queues are arrays of slots allocated up front (a
//! `u64`/`usize` stamp beside the span), so a buffered span holds its slot plus the heap of its
//! own buffers. The slot size is computed from `size_of` of each `SpanData` and the slot layout
//! of each queue (ours `telemetry_batcher::RingBuffer`, theirs `std::sync::mpsc::sync_channel`);
//! the heap is computed from the capacities of the `Vec`s (and non-static strings) of the spans
//! an exporter actually received. No counting allocator is installed, so nothing here slows
//! the timed benchmarks.

use std::borrow::Cow;
use std::hint::black_box;
use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fastrace::Span as FastraceSpan;
use fastrace::collector::{
    Config as FastraceConfig, Reporter, SpanContext as FastraceSpanContext, SpanRecord,
};
use fastrace::local::LocalSpan;
use opentelemetry::trace::{
    Event as OtelEvent, Link as OtelLink, Span as _, TraceContextExt, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context as OtelContext, KeyValue as OtelKeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor as OtelBatchSpanProcessor, Sampler as OtelSampler,
    SdkTracer, SdkTracerProvider, SpanData as OtelSpanData, SpanExporter as OtelSpanExporter,
};
use telemetry_core::{KeyValue, StringValue, Value};
use telemetry_span::{
    BatchConfig, BatchSpanProcessor, Event, ExportError, Link, Sampler, Span, SpanData,
    SpanExporter, Tracer, TracerProvider,
};
use tracing::Dispatch;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

/// Both batch processors' queue size: large, so that only a worker that cannot keep up drops.
const QUEUE_SIZE: usize = 65536;
/// Spans made between two flushes in a timed window: half the queue, so no queue overflows.
const FLUSH_EVERY: u64 = QUEUE_SIZE as u64 / 2;
/// Both batch processors' longest wait before exporting.
const SCHEDULED_DELAY: Duration = Duration::from_millis(100);
/// The scope every tracer reports under.
const SCOPE: &str = "telemetry-benches";
/// The child's attribute values, passed through `black_box` so no contender folds them.
const STATUS_CODE: i64 = 200;
const CACHE_HIT: bool = false;

// ---------------------------------------------------------------------------------------------
// Exporters and reporters that consume spans and count them.

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

/// Spans fastrace reported, over the whole process (its reporter is global).
static FASTRACE_REPORTED: AtomicU64 = AtomicU64::new(0);

/// Counts the span records fastrace's collector reports; they are dropped here.
#[derive(Debug)]
struct CountingReporter;

impl Reporter for CountingReporter {
    fn report(&mut self, spans: Vec<SpanRecord>) {
        // Relaxed: read after `fastrace::flush`, which joins the thread that ran the reporter.
        FASTRACE_REPORTED.fetch_add(spans.len() as u64, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// The pipelines under test.

/// Our pipeline, and the spans a group made on it.
struct Ours {
    provider: TracerProvider,
    tracer: Tracer,
    processor: Arc<BatchSpanProcessor>,
    exported: Arc<AtomicU64>,
    sampled: bool,
    /// Spans started on this pipeline (every iteration of every sample, warm-up included).
    created: u64,
}

impl Ours {
    fn new(sampler: Sampler) -> Self {
        let sampled = matches!(sampler, Sampler::AlwaysOn);
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
            .with_sampler(sampler)
            .with_span_processor(Arc::clone(&processor))
            .build();
        let tracer = provider.tracer(SCOPE);
        Ours {
            provider,
            tracer,
            processor,
            exported,
            sampled,
            created: 0,
        }
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

/// opentelemetry_sdk's pipeline, and the spans a group made on it.
struct Otel {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    exported: Arc<AtomicU64>,
    sampled: bool,
    /// Spans started on this pipeline (every iteration of every sample, warm-up included).
    created: u64,
}

impl Otel {
    fn new(sampler: OtelSampler) -> Self {
        let sampled = matches!(sampler, OtelSampler::AlwaysOn);
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
            .with_sampler(sampler)
            .build();
        let tracer = provider.tracer(SCOPE);
        Otel {
            provider,
            tracer,
            exported,
            sampled,
            created: 0,
        }
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
            eprintln!("{group}: opentelemetry_sdk: shutdown failed: {error}");
        }
        let exported = self.exported.load(Ordering::Relaxed);
        let expected = if self.sampled { self.created } else { 0 };
        report(group, "opentelemetry_sdk", self.created, expected, exported)
    }
}

/// fastrace's global pipeline, as seen by one group.
struct Fastrace {
    /// False when fastrace was built without its `enable` feature: then it is left out.
    enabled: bool,
    sampled: bool,
    /// Spans made (every iteration of every sample, warm-up included).
    created: u64,
    /// [`FASTRACE_REPORTED`] when the group began.
    reported_before: u64,
}

impl Fastrace {
    fn new(sampled: bool) -> Self {
        let enabled = fastrace_enabled();
        fastrace::flush();
        Fastrace {
            enabled,
            sampled,
            created: 0,
            reported_before: FASTRACE_REPORTED.load(Ordering::Relaxed),
        }
    }

    /// For groups fastrace is not part of.
    fn disabled() -> Self {
        Fastrace {
            enabled: false,
            sampled: false,
            created: 0,
            reported_before: 0,
        }
    }

    /// Flushes fastrace and reports created against reported spans.
    fn finish(mut self, group: &str) -> bool {
        if !self.enabled {
            return true;
        }
        let expected = |created: u64| if self.sampled { created } else { 0 };
        // A thread whose command queue was full parks commands in an unbounded overflow
        // queue that only its next span pushes on, so `flush` alone can leave them waiting:
        // make sampled traces until everything arrived (they are counted like the others).
        for _ in 0..10_000 {
            fastrace::flush();
            let reported = FASTRACE_REPORTED.load(Ordering::Relaxed) - self.reported_before;
            if reported >= expected(self.created) {
                break;
            }
            fastrace_root_child();
            self.created += 2;
        }
        let reported = FASTRACE_REPORTED.load(Ordering::Relaxed) - self.reported_before;
        report(
            group,
            "fastrace",
            self.created,
            expected(self.created),
            reported,
        )
    }
}

/// True when fastrace collects spans, checked once: installs the counting reporter and sends
/// one trace through it.
fn fastrace_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED.get_or_init(|| {
        fastrace::set_reporter(CountingReporter, FastraceConfig::default());
        fastrace_root_child();
        fastrace::flush();
        let enabled = FASTRACE_REPORTED.load(Ordering::Relaxed) == 2;
        if !enabled {
            eprintln!(
                "fastrace collected nothing: it is built without its `enable` feature, so every \
                 fastrace span is a no-op. Its benchmarks are left out. Include them with \
                 `cargo bench -p telemetry-benches --features fastrace/enable --bench spans`, \
                 or enable the feature on the benches' fastrace dev-dependency."
            );
        }
        enabled
    })
}

/// A tracing `Registry` that records every span.
fn tracing_registry() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry())
}

/// A tracing `Registry` that only wants `WARN` and above, so `info_span!` is disabled.
fn tracing_registry_warn_only() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(LevelFilter::WARN))
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

/// Finishes every pipeline of a group and prints a summary line.
fn finish_group(group: &str, ours: Ours, otel: Otel, fastrace: Fastrace) {
    let results = [
        ("telemetry", ours.finish(group)),
        ("opentelemetry_sdk", otel.finish(group)),
        ("fastrace", fastrace.finish(group)),
    ];
    let lossy: Vec<&str> = results
        .iter()
        .filter(|(_, comparable)| !comparable)
        .map(|(name, _)| *name)
        .collect();
    if lossy.is_empty() {
        eprintln!("{group}: no pipeline lost spans; the figures are comparable");
    } else {
        eprintln!(
            "{group}: WARNING: {} lost spans; their figures in this group are NOT comparable",
            lossy.join(", ")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The operations, one function per contender, shared by the groups.

/// Times `iters` calls of `f`.
#[inline]
fn time(iters: u64, mut f: impl FnMut()) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

/// Times `iters` calls of `f`, each making `spans_per_iter` spans, until every span made is
/// exported: [`telemetry_benches::time_exported`] with a flush after each chunk of at most
/// [`FLUSH_EVERY`] spans (half the queue), so no pipeline can drop a span however slow its
/// export worker is (see the module docs).
#[inline]
fn time_exported(
    iters: u64,
    spans_per_iter: u64,
    f: impl FnMut(),
    flush: impl FnMut(),
) -> Duration {
    telemetry_benches::time_exported(iters, FLUSH_EVERY / spans_per_iter, f, flush)
}

fn ours_child_4_attributes(tracer: &Tracer) -> Span {
    tracer
        .span_builder("child")
        .with_attributes([
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.scheme", "https"),
            KeyValue::new("http.response.status_code", black_box(STATUS_CODE)),
            KeyValue::new("cache.hit", black_box(CACHE_HIT)),
        ])
        .start()
}

fn otel_child_4_attributes(tracer: &SdkTracer) -> opentelemetry_sdk::trace::Span {
    tracer
        .span_builder("child")
        .with_attributes([
            OtelKeyValue::new("http.request.method", "GET"),
            OtelKeyValue::new("url.scheme", "https"),
            OtelKeyValue::new("http.response.status_code", black_box(STATUS_CODE)),
            OtelKeyValue::new("cache.hit", black_box(CACHE_HIT)),
        ])
        .start(tracer)
}

fn tracing_child_4_attributes() -> tracing::Span {
    let status = black_box(STATUS_CODE);
    let hit = black_box(CACHE_HIT);
    tracing::info_span!(
        "child",
        http.request.method = "GET",
        url.scheme = "https",
        http.response.status_code = status,
        cache.hit = hit
    )
}

fn fastrace_child_4_attributes() -> LocalSpan {
    let status = black_box(STATUS_CODE);
    let hit = black_box(CACHE_HIT);
    LocalSpan::enter_with_local_parent("child").with_properties(|| {
        [
            ("http.request.method", Cow::Borrowed("GET")),
            ("url.scheme", Cow::Borrowed("https")),
            ("http.response.status_code", Cow::Owned(status.to_string())),
            (
                "cache.hit",
                Cow::Borrowed(if hit { "true" } else { "false" }),
            ),
        ]
    })
}

#[inline]
fn ours_root_child(tracer: &Tracer) {
    tracer.in_span("root", |_| {
        let _child = tracer.start("child");
    });
}

#[inline]
fn otel_root_child(tracer: &SdkTracer) {
    tracer.in_span("root", |_| {
        let _child = tracer.start("child");
    });
}

#[inline]
fn fastrace_root_child() {
    let root = FastraceSpan::root("root", FastraceSpanContext::random());
    let _parent = root.set_local_parent();
    let _child = LocalSpan::enter_with_local_parent("child");
}

#[inline]
fn tracing_root_child() {
    let root = tracing::info_span!("root");
    let _entered = root.enter();
    let _child = tracing::info_span!("child");
}

// ---------------------------------------------------------------------------------------------
// Memory per buffered span.

/// Heap bytes of each span our exporter received, in order.
#[derive(Debug, Clone, Default)]
struct OursHeapProbe(Arc<Mutex<Vec<usize>>>);

impl SpanExporter for OursHeapProbe {
    fn export(&mut self, batch: &[SpanData]) -> Result<(), ExportError> {
        let mut seen = self.0.lock().expect("probe lock");
        seen.extend(batch.iter().map(ours_heap_bytes));
        Ok(())
    }
}

/// Heap bytes of each span opentelemetry_sdk's exporter received, in order.
#[derive(Debug, Clone, Default)]
struct OtelHeapProbe(Arc<Mutex<Vec<usize>>>);

impl OtelSpanExporter for OtelHeapProbe {
    fn export(&self, batch: Vec<OtelSpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let mut seen = self.0.lock().expect("probe lock");
        seen.extend(batch.iter().map(otel_heap_bytes));
        std::future::ready(Ok(()))
    }
}

fn string_heap(s: &StringValue) -> usize {
    if s.is_static() { 0 } else { s.len() }
}

/// The heap our span owns: its `Vec` buffers and non-static strings. The values used here
/// (static strings, `i64`, `bool`) own nothing more; the scope is shared through an `Arc`.
fn ours_heap_bytes(span: &SpanData) -> usize {
    let value_heap = |value: &Value| match value {
        Value::String(s) => string_heap(s),
        Value::Bytes(bytes) => bytes.capacity(),
        _ => 0,
    };
    span.attributes.capacity() * size_of::<KeyValue>()
        + span
            .attributes
            .iter()
            .map(|kv| string_heap(&kv.key) + value_heap(&kv.value))
            .sum::<usize>()
        + span.events.capacity() * size_of::<Event>()
        + span.links.capacity() * size_of::<Link>()
        + string_heap(&span.name)
}

/// The heap opentelemetry_sdk's span owns: its `Vec` buffers and an owned name. The values
/// used here own nothing more; its per-span copy of the scope borrows static strings.
fn otel_heap_bytes(span: &OtelSpanData) -> usize {
    let name = match &span.name {
        Cow::Borrowed(_) => 0,
        Cow::Owned(name) => name.capacity(),
    };
    span.attributes.capacity() * size_of::<OtelKeyValue>()
        + span.events.events.capacity() * size_of::<OtelEvent>()
        + span.links.links.capacity() * size_of::<OtelLink>()
        + name
}

/// One queue slot: a 64-bit stamp beside the value (ours `RingBuffer`'s `Slot` and std's
/// bounded channel's `Slot` have this layout).
fn slot_bytes<T>() -> usize {
    (size_of::<T>() + 8).next_multiple_of(align_of::<T>().max(8))
}

fn memory_per_span(_c: &mut Criterion) {
    let ours_probe = OursHeapProbe::default();
    let provider = TracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_simple_exporter(ours_probe.clone())
        .build();
    let tracer = provider.tracer(SCOPE);
    drop(tracer.start("root"));
    drop(ours_child_4_attributes(&tracer));
    provider.shutdown().expect("shutdown");
    let ours_heap = ours_probe.0.lock().expect("probe lock").clone();

    let otel_probe = OtelHeapProbe::default();
    let provider = SdkTracerProvider::builder()
        .with_sampler(OtelSampler::AlwaysOn)
        .with_simple_exporter(otel_probe.clone())
        .build();
    let tracer = provider.tracer(SCOPE);
    drop(tracer.start("root"));
    drop(otel_child_4_attributes(&tracer));
    provider.shutdown().expect("shutdown");
    let otel_heap = otel_probe.0.lock().expect("probe lock").clone();

    assert_eq!(ours_heap.len(), 2, "our exporter received both spans");
    assert_eq!(
        otel_heap.len(),
        2,
        "opentelemetry's exporter received both spans"
    );
    eprintln!(
        "spans/memory: bytes held per buffered span = queue slot (size_of SpanData + 8-byte \
         stamp) + the span's own heap (Vec capacities and owned strings of the spans the \
         exporter received; computed, no counting allocator):"
    );
    let rows = [
        (
            "telemetry",
            size_of::<SpanData>(),
            slot_bytes::<SpanData>(),
            size_of::<KeyValue>(),
            &ours_heap,
        ),
        (
            "opentelemetry_sdk",
            size_of::<OtelSpanData>(),
            slot_bytes::<OtelSpanData>(),
            size_of::<OtelKeyValue>(),
            &otel_heap,
        ),
    ];
    for (name, size, slot, key_value, heap) in rows {
        eprintln!(
            "spans/memory: {name:<17} size_of SpanData {size} B, slot {slot} B, KeyValue \
             {key_value} B; 0 attributes: heap {} B, total {} B/span; 4 attributes: heap {} B, \
             total {} B/span; a {QUEUE_SIZE}-span queue preallocates {:.1} MiB",
            heap[0],
            slot + heap[0],
            heap[1],
            slot + heap[1],
            (slot * QUEUE_SIZE) as f64 / (1024.0 * 1024.0),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The groups.

fn root(c: &mut Criterion) {
    const GROUP: &str = "spans/root";
    let mut ours = Ours::new(Sampler::AlwaysOn);
    let mut otel = Otel::new(OtelSampler::AlwaysOn);
    let mut fastrace = Fastrace::new(true);
    let dispatch = tracing_registry();

    // Check once that every contender records, so no benchmark times a path that silently
    // did nothing.
    let span = ours.tracer.start("root");
    assert!(span.is_recording() && span.span_context().is_sampled());
    drop(span);
    ours.created += 1;
    let span = otel.tracer.start("root");
    assert!(span.is_recording() && span.span_context().is_sampled());
    drop(span);
    otel.created += 1;
    tracing::dispatcher::with_default(&dispatch, || {
        assert!(tracing::info_span!("root").id().is_some());
    });

    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));
    group.bench_function("telemetry", |b| {
        b.iter_custom(|iters| {
            ours.created += iters;
            time_exported(
                iters,
                1,
                || {
                    let _span = ours.tracer.start("root");
                },
                || ours.flush(),
            )
        });
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter_custom(|iters| {
            otel.created += iters;
            time_exported(
                iters,
                1,
                || {
                    let _span = otel.tracer.start("root");
                },
                || otel.flush(),
            )
        });
    });
    if fastrace.enabled {
        group.bench_function("fastrace", |b| {
            b.iter_custom(|iters| {
                fastrace.created += iters;
                time_exported(
                    iters,
                    1,
                    || {
                        let _span = FastraceSpan::root("root", FastraceSpanContext::random());
                    },
                    fastrace::flush,
                )
            });
        });
    }
    group.bench_function("tracing Registry", |b| {
        b.iter_custom(|iters| {
            tracing::dispatcher::with_default(&dispatch, || {
                time(iters, || {
                    let _span = tracing::info_span!("root");
                })
            })
        });
    });
    group.finish();
    finish_group(GROUP, ours, otel, fastrace);
}

fn child(c: &mut Criterion) {
    const GROUP: &str = "spans/child";
    let mut ours = Ours::new(Sampler::AlwaysOn);
    let mut otel = Otel::new(OtelSampler::AlwaysOn);
    let dispatch = tracing_registry();

    // Check once that each child joins its parent's trace.
    {
        let parent = ours.tracer.start("parent");
        let _guard = parent.enter();
        let child = ours.tracer.start("child");
        assert!(child.is_recording());
        assert_eq!(
            child.span_context().trace_id(),
            parent.span_context().trace_id()
        );
        ours.created += 2;
    }
    {
        let parent = otel.tracer.start("parent");
        let trace_id = parent.span_context().trace_id();
        let _guard = OtelContext::current_with_span(parent).attach();
        let child = otel.tracer.start("child");
        assert!(child.is_recording());
        assert_eq!(child.span_context().trace_id(), trace_id);
        otel.created += 2;
    }

    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));
    // Each sample starts its parent outside the timed loop and ends it afterwards.
    group.bench_function("telemetry", |b| {
        b.iter_custom(|iters| {
            ours.created += iters + 1;
            let parent = ours.tracer.start("parent");
            let _guard = parent.enter();
            time_exported(
                iters,
                1,
                || {
                    let _child = ours.tracer.start("child");
                },
                || ours.flush(),
            )
        });
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter_custom(|iters| {
            otel.created += iters + 1;
            let parent = otel.tracer.start("parent");
            let _guard = OtelContext::current_with_span(parent).attach();
            time_exported(
                iters,
                1,
                || {
                    let _child = otel.tracer.start("child");
                },
                || otel.flush(),
            )
        });
    });
    group.bench_function("tracing Registry", |b| {
        b.iter_custom(|iters| {
            tracing::dispatcher::with_default(&dispatch, || {
                let parent = tracing::info_span!("parent");
                let _entered = parent.enter();
                time(iters, || {
                    let _child = tracing::info_span!("child");
                })
            })
        });
    });
    group.finish();
    finish_group(GROUP, ours, otel, Fastrace::disabled());
}

fn root_child(c: &mut Criterion) {
    const GROUP: &str = "spans/root+child";
    let mut ours = Ours::new(Sampler::AlwaysOn);
    let mut otel = Otel::new(OtelSampler::AlwaysOn);
    let mut fastrace = Fastrace::new(true);
    let dispatch = tracing_registry();

    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(2));
    group.bench_function("telemetry", |b| {
        b.iter_custom(|iters| {
            ours.created += 2 * iters;
            time_exported(iters, 2, || ours_root_child(&ours.tracer), || ours.flush())
        });
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter_custom(|iters| {
            otel.created += 2 * iters;
            time_exported(iters, 2, || otel_root_child(&otel.tracer), || otel.flush())
        });
    });
    if fastrace.enabled {
        group.bench_function("fastrace", |b| {
            b.iter_custom(|iters| {
                fastrace.created += 2 * iters;
                time_exported(iters, 2, fastrace_root_child, fastrace::flush)
            });
        });
    }
    group.bench_function("tracing Registry", |b| {
        b.iter_custom(|iters| {
            tracing::dispatcher::with_default(&dispatch, || time(iters, tracing_root_child))
        });
    });
    group.finish();
    finish_group(GROUP, ours, otel, fastrace);
}

fn child_4_attributes(c: &mut Criterion) {
    const GROUP: &str = "spans/child_4_attributes";
    let mut ours = Ours::new(Sampler::AlwaysOn);
    let mut otel = Otel::new(OtelSampler::AlwaysOn);
    let dispatch = tracing_registry();

    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));
    group.bench_function("telemetry", |b| {
        b.iter_custom(|iters| {
            ours.created += iters + 1;
            let parent = ours.tracer.start("parent");
            let _guard = parent.enter();
            time_exported(
                iters,
                1,
                || {
                    let _child = ours_child_4_attributes(&ours.tracer);
                },
                || ours.flush(),
            )
        });
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter_custom(|iters| {
            otel.created += iters + 1;
            let parent = otel.tracer.start("parent");
            let _guard = OtelContext::current_with_span(parent).attach();
            time_exported(
                iters,
                1,
                || {
                    let _child = otel_child_4_attributes(&otel.tracer);
                },
                || otel.flush(),
            )
        });
    });
    group.bench_function("tracing Registry", |b| {
        b.iter_custom(|iters| {
            tracing::dispatcher::with_default(&dispatch, || {
                let parent = tracing::info_span!("parent");
                let _entered = parent.enter();
                time(iters, || {
                    let _child = tracing_child_4_attributes();
                })
            })
        });
    });
    group.finish();
    finish_group(GROUP, ours, otel, Fastrace::disabled());
}

fn root_child_4_attributes(c: &mut Criterion) {
    const GROUP: &str = "spans/root+child_4_attributes";
    let mut ours = Ours::new(Sampler::AlwaysOn);
    let mut otel = Otel::new(OtelSampler::AlwaysOn);
    let mut fastrace = Fastrace::new(true);
    let dispatch = tracing_registry();

    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(2));
    group.bench_function("telemetry", |b| {
        b.iter_custom(|iters| {
            ours.created += 2 * iters;
            time_exported(
                iters,
                2,
                || {
                    ours.tracer.in_span("root", |_| {
                        let _child = ours_child_4_attributes(&ours.tracer);
                    });
                },
                || ours.flush(),
            )
        });
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter_custom(|iters| {
            otel.created += 2 * iters;
            time_exported(
                iters,
                2,
                || {
                    otel.tracer.in_span("root", |_| {
                        let _child = otel_child_4_attributes(&otel.tracer);
                    });
                },
                || otel.flush(),
            )
        });
    });
    if fastrace.enabled {
        group.bench_function("fastrace", |b| {
            b.iter_custom(|iters| {
                fastrace.created += 2 * iters;
                time_exported(
                    iters,
                    2,
                    || {
                        let root = FastraceSpan::root("root", FastraceSpanContext::random());
                        let _parent = root.set_local_parent();
                        let _child = fastrace_child_4_attributes();
                    },
                    fastrace::flush,
                )
            });
        });
    }
    group.bench_function("tracing Registry", |b| {
        b.iter_custom(|iters| {
            tracing::dispatcher::with_default(&dispatch, || {
                time(iters, || {
                    let root = tracing::info_span!("root");
                    let _entered = root.enter();
                    let _child = tracing_child_4_attributes();
                })
            })
        });
    });
    group.finish();
    finish_group(GROUP, ours, otel, fastrace);
}

fn unsampled(c: &mut Criterion) {
    const GROUP: &str = "spans/unsampled";
    let mut ours = Ours::new(Sampler::AlwaysOff);
    let mut otel = Otel::new(OtelSampler::AlwaysOff);
    let mut fastrace = Fastrace::new(false);
    let dispatch = tracing_registry_warn_only();

    // Check once that every contender drops the span, and that ours and opentelemetry still
    // hand out a valid context to propagate.
    let span = ours.tracer.start("unsampled");
    assert!(!span.is_recording() && !span.span_context().is_sampled());
    assert!(span.span_context().is_valid());
    drop(span);
    ours.created += 1;
    let span = otel.tracer.start("unsampled");
    assert!(!span.is_recording() && !span.span_context().is_sampled());
    assert!(span.span_context().is_valid());
    drop(span);
    otel.created += 1;
    tracing::dispatcher::with_default(&dispatch, || {
        assert!(tracing::info_span!("unsampled").is_disabled());
    });

    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(1));
    group.bench_function("telemetry AlwaysOff", |b| {
        b.iter_custom(|iters| {
            ours.created += iters;
            time(iters, || {
                let _span = ours.tracer.start("unsampled");
            })
        });
    });
    group.bench_function("opentelemetry_sdk AlwaysOff", |b| {
        b.iter_custom(|iters| {
            otel.created += iters;
            time(iters, || {
                let _span = otel.tracer.start("unsampled");
            })
        });
    });
    if fastrace.enabled {
        group.bench_function("fastrace sampled(false)", |b| {
            b.iter_custom(|iters| {
                fastrace.created += iters;
                time(iters, || {
                    let _span = FastraceSpan::root(
                        "unsampled",
                        FastraceSpanContext::random().sampled(false),
                    );
                })
            });
        });
    }
    group.bench_function("tracing Registry LevelFilter::WARN", |b| {
        b.iter_custom(|iters| {
            tracing::dispatcher::with_default(&dispatch, || {
                time(iters, || {
                    let _span = tracing::info_span!("unsampled");
                })
            })
        });
    });
    group.finish();
    finish_group(GROUP, ours, otel, fastrace);
}

/// Runs `work` `iters` times on each of two threads at once, each thread after its own `setup`
/// (whose guard lives until the thread is done), and returns the wall time from the first
/// thread starting its loop to the last one finishing. Spawning and setup are outside that
/// window. As in [`time_exported`], each thread calls `flush` inside its window after every
/// chunk of its own spans and at the end, so both threads' spans are exported when it closes.
fn on_two_threads<G>(
    iters: u64,
    setup: impl Fn() -> G + Sync,
    work: impl Fn() + Sync,
    flush: impl Fn() + Sync,
) -> Duration {
    let barrier = Barrier::new(2);
    // Two threads share the queue: each flushes after a quarter of it.
    let chunk = FLUSH_EVERY / 2 / 2;
    let windows = thread::scope(|scope| {
        [(); 2]
            .map(|()| {
                scope.spawn(|| {
                    let _guard = setup();
                    barrier.wait();
                    let start = Instant::now();
                    telemetry_benches::run_flushed(iters, chunk, &work, &flush);
                    (start, Instant::now())
                })
            })
            .map(|handle| handle.join().expect("benchmark thread panicked"))
    });
    let start = windows[0].0.min(windows[1].0);
    let end = windows[0].1.max(windows[1].1);
    end - start
}

fn two_threads(c: &mut Criterion) {
    const GROUP: &str = "spans/2_threads";
    let mut ours = Ours::new(Sampler::AlwaysOn);
    let mut otel = Otel::new(OtelSampler::AlwaysOn);
    let mut fastrace = Fastrace::new(true);
    let dispatch = tracing_registry();

    // Each thread first makes one pair (outside the window) to set up its thread-locals.
    let spans_made = |iters: u64| 2 * 2 * (iters + 1);
    let mut group = c.benchmark_group(GROUP);
    group.throughput(Throughput::Elements(4));
    group.bench_function("telemetry", |b| {
        b.iter_custom(|iters| {
            ours.created += spans_made(iters);
            let tracer = &ours.tracer;
            let ours = &ours;
            on_two_threads(
                iters,
                || ours_root_child(tracer),
                || ours_root_child(tracer),
                || ours.flush(),
            )
        });
    });
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter_custom(|iters| {
            otel.created += spans_made(iters);
            let tracer = &otel.tracer;
            let otel = &otel;
            on_two_threads(
                iters,
                || otel_root_child(tracer),
                || otel_root_child(tracer),
                || otel.flush(),
            )
        });
    });
    if fastrace.enabled {
        group.bench_function("fastrace", |b| {
            b.iter_custom(|iters| {
                fastrace.created += spans_made(iters);
                on_two_threads(
                    iters,
                    fastrace_root_child,
                    fastrace_root_child,
                    fastrace::flush,
                )
            });
        });
    }
    group.bench_function("tracing Registry", |b| {
        b.iter_custom(|iters| {
            on_two_threads(
                iters,
                || {
                    let guard = tracing::dispatcher::set_default(&dispatch);
                    tracing_root_child();
                    guard
                },
                tracing_root_child,
                || {},
            )
        });
    });
    group.finish();
    finish_group(GROUP, ours, otel, fastrace);
}

criterion_group!(
    benches,
    memory_per_span,
    root,
    child,
    root_child,
    child_4_attributes,
    root_child_4_attributes,
    unsampled,
    two_threads
);
criterion_main!(benches);
