//! What recording a measurement costs: our `telemetry-metrics` against opentelemetry_sdk,
//! metrics-rs and prometheus-client, in the same run.
//!
//! # The contenders
//!
//! - `ours`: a [`MeterProvider`] with one cumulative `ManualReader` that never collects during
//!   the measurement, with the default trace-based exemplar filter, which asks the current
//!   context on every measurement whether a sampled span is active (none is here).
//!   `ours/no_exemplars` turns exemplars off (`ExemplarFilter::AlwaysOff`).
//! - `opentelemetry_sdk` 0.33: an `SdkMeterProvider` with a cumulative `PeriodicReader` whose
//!   interval is an hour, into an exporter that drops everything. It records no exemplars, so
//!   `ours/no_exemplars` is its like-for-like line; `ours` does a little more work.
//! - `metrics-rs`: the `metrics` 0.24 macros (`counter!`, `histogram!`) into the recorder of
//!   `metrics-exporter-prometheus` 0.18, installed as the global recorder, built with
//!   `build_recorder` (no HTTP listener: the listener only serves renders and plays no part in
//!   recording). We chose it over `metrics-util`'s bare `Registry` because it is the recorder
//!   people run in production: a Prometheus exporter, with its generation tracking on every
//!   update. Labels are literals at the call site, as the macros' documentation shows, which
//!   the macros turn into a `static` key: no allocation, but a registry lookup (hash, sharded
//!   read lock) on every call, like our unbound add. Its labels are strings only, so the status
//!   code is `"200"`.
//! - `prometheus-client` 0.26: a `Family` keyed by a derived label struct (two `&'static str`
//!   and an `i64`, built once outside the loop) of `Counter`s or `Histogram`s, registered in a
//!   `Registry`; every measurement is `family.get_or_create(&labels)` (read lock, SipHash of
//!   the label struct) and then `inc_by` or `observe`.
//!
//! # The groups, and what is not like for like
//!
//! - `metrics/counter_add_0_attributes`: an add without attributes. prometheus-client's line
//!   is a plain `Counter` (no `Family`): one atomic add, no lookup at all.
//! - `metrics/counter_add_3_attributes`: three attributes (two static strings and an integer)
//!   made once outside the loop, so every side pays for the lookup, not the construction.
//! - `metrics/bound_counter_add`: each library's pre-resolved handle for one attribute set:
//!   ours `Counter::bind`; metrics-rs the `Counter` that `counter!` returns, kept; and
//!   prometheus-client the `Counter` that `get_or_create` returns, cloned out of the guard.
//!   opentelemetry_sdk's bound instruments sit behind its
//!   `experimental_metrics_bound_instruments` feature, which the workspace does not enable, so
//!   its line is the unbound add with 0 attributes, the closest it offers.
//! - `metrics/histogram_record_3_attributes`: explicit buckets at the OpenTelemetry default
//!   boundaries for every side (metrics-rs through `set_buckets`). Ours, opentelemetry_sdk and
//!   prometheus-client find the bucket and update counts, sum (and for ours and
//!   opentelemetry's, min and max) at once. metrics-rs's recorder defers all of that: a record
//!   appends `(value, timestamp)` to a lock-free list, and its upkeep (a thread, every five
//!   seconds, when the exporter runs with a listener) folds the list into buckets later, off
//!   the recording thread. Here the upkeep runs after each sample, outside the timed loop, so
//!   memory stays bounded; the folding is not in its figure.
//! - `metrics/2_threads_one_series`: two threads add to the same series (3 attributes) at the
//!   same time; the time is wall-clock from the first thread's start to the last thread's end,
//!   so perfect scaling equals `counter_add_3_attributes`.

use std::hint::black_box;
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics as OtelResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter as OtelPushMetricExporter;
use opentelemetry_sdk::metrics::{
    PeriodicReader as OtelPeriodicReader, SdkMeterProvider, Temporality as OtelTemporality,
};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter as PromCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram as PromHistogram;
use prometheus_client::registry::Registry as PromRegistry;
use telemetry_core::KeyValue;
use telemetry_metrics::{
    DEFAULT_HISTOGRAM_BOUNDARIES, ExemplarFilter, ManualReader, MeterProvider,
};

/// Drops every export; opentelemetry needs an exporter for its reader.
struct NoopExporter;

impl OtelPushMetricExporter for NoopExporter {
    async fn export(&self, _metrics: &OtelResourceMetrics) -> OTelSdkResult {
        Ok(())
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> OtelTemporality {
        OtelTemporality::Cumulative
    }
}

fn ours(filter: ExemplarFilter) -> MeterProvider {
    MeterProvider::builder()
        .with_reader(ManualReader::new())
        .with_exemplar_filter(filter)
        .build()
}

fn otel() -> SdkMeterProvider {
    let reader = OtelPeriodicReader::builder(NoopExporter)
        .with_interval(Duration::from_secs(3600))
        .build();
    SdkMeterProvider::builder().with_reader(reader).build()
}

/// The metrics-rs recorder, installed globally once for the whole run (the facade has one
/// global recorder per process); each group uses its own metric names.
fn metrics_rs() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&DEFAULT_HISTOGRAM_BOUNDARIES)
            .expect("the default boundaries are a valid bucket list")
            .build_recorder();
        let handle = recorder.handle();
        metrics::set_global_recorder(recorder).expect("the only global recorder of the run");
        handle
    })
}

/// prometheus-client's labels: a derived struct is its documented way to a typed label set.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PromLabels {
    method: &'static str,
    route: &'static str,
    status_code: i64,
}

fn prom_labels() -> PromLabels {
    PromLabels {
        method: "GET",
        route: "/api/users",
        status_code: 200,
    }
}

/// A prometheus-client counter family, registered as an application would.
fn prom_counters(registry: &mut PromRegistry) -> Family<PromLabels, PromCounter> {
    let family = Family::<PromLabels, PromCounter>::default();
    registry.register("c", "A counter", family.clone());
    family
}

fn our_attributes() -> [KeyValue; 3] {
    [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.route", "/api/users"),
        KeyValue::new("http.response.status_code", 200i64),
    ]
}

fn otel_attributes() -> [opentelemetry::KeyValue; 3] {
    [
        opentelemetry::KeyValue::new("http.request.method", "GET"),
        opentelemetry::KeyValue::new("http.route", "/api/users"),
        opentelemetry::KeyValue::new("http.response.status_code", 200i64),
    ]
}

const OURS: [(&str, ExemplarFilter); 2] = [
    ("ours", ExemplarFilter::TraceBased),
    ("ours/no_exemplars", ExemplarFilter::AlwaysOff),
];

fn counters(c: &mut Criterion) {
    metrics_rs();
    let mut registry = PromRegistry::default();

    let mut group = c.benchmark_group("metrics/counter_add_0_attributes");
    group.throughput(Throughput::Elements(1));
    for (label, filter) in OURS {
        let provider = ours(filter);
        let counter = provider
            .meter("bench")
            .u64_counter("c")
            .build()
            .expect("valid name");
        group.bench_function(label, |b| b.iter(|| counter.add(black_box(1), &[])));
    }
    let provider = otel();
    let counter = provider.meter("bench").u64_counter("c").build();
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| counter.add(black_box(1), &[]));
    });
    group.bench_function("metrics-rs", |b| {
        b.iter(|| metrics::counter!("c0").increment(black_box(1)));
    });
    let counter = PromCounter::<u64>::default();
    registry.register("c0", "A counter without labels", counter.clone());
    group.bench_function("prometheus-client", |b| {
        b.iter(|| counter.inc_by(black_box(1)));
    });
    group.finish();

    let mut group = c.benchmark_group("metrics/counter_add_3_attributes");
    group.throughput(Throughput::Elements(1));
    for (label, filter) in OURS {
        let provider = ours(filter);
        let counter = provider
            .meter("bench")
            .u64_counter("c")
            .build()
            .expect("valid name");
        let attributes = our_attributes();
        group.bench_function(label, |b| b.iter(|| counter.add(black_box(1), &attributes)));
    }
    let provider = otel();
    let counter = provider.meter("bench").u64_counter("c").build();
    let attributes = otel_attributes();
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| counter.add(black_box(1), &attributes));
    });
    group.bench_function("metrics-rs", |b| {
        b.iter(|| {
            metrics::counter!(
                "c3",
                "http.request.method" => "GET",
                "http.route" => "/api/users",
                "http.response.status_code" => "200"
            )
            .increment(black_box(1));
        });
    });
    let family = prom_counters(&mut registry);
    let labels = prom_labels();
    group.bench_function("prometheus-client", |b| {
        b.iter(|| family.get_or_create(&labels).inc_by(black_box(1)));
    });
    group.finish();

    let mut group = c.benchmark_group("metrics/bound_counter_add");
    group.throughput(Throughput::Elements(1));
    for (label, filter) in OURS {
        let provider = ours(filter);
        let counter = provider
            .meter("bench")
            .u64_counter("c")
            .build()
            .expect("valid name");
        let bound = counter.bind(&our_attributes());
        group.bench_function(label, |b| b.iter(|| bound.add(black_box(1))));
    }
    let provider = otel();
    let counter = provider.meter("bench").u64_counter("c").build();
    group.bench_function("opentelemetry_sdk/unbound_0_attributes", |b| {
        b.iter(|| counter.add(black_box(1), &[]));
    });
    let bound = metrics::counter!(
        "bound",
        "http.request.method" => "GET",
        "http.route" => "/api/users",
        "http.response.status_code" => "200"
    );
    group.bench_function("metrics-rs", |b| {
        b.iter(|| bound.increment(black_box(1)));
    });
    let bound = family.get_or_create(&labels).clone();
    group.bench_function("prometheus-client", |b| {
        b.iter(|| bound.inc_by(black_box(1)));
    });
    group.finish();
}

/// The values every histogram records in turn: a sawtooth across the default buckets.
fn next_value(value: &mut f64) -> f64 {
    *value = if *value > 2000.0 { 0.0 } else { *value + 7.3 };
    *value
}

fn histograms(c: &mut Criterion) {
    let handle = metrics_rs();
    let mut group = c.benchmark_group("metrics/histogram_record_3_attributes");
    group.throughput(Throughput::Elements(1));
    for (label, filter) in OURS {
        let provider = ours(filter);
        let histogram = provider
            .meter("bench")
            .f64_histogram("h")
            .build()
            .expect("valid name");
        let attributes = our_attributes();
        let mut value = 0.0;
        group.bench_function(label, |b| {
            b.iter(|| histogram.record(black_box(next_value(&mut value)), &attributes));
        });
    }
    let provider = otel();
    let histogram = provider.meter("bench").f64_histogram("h").build();
    let attributes = otel_attributes();
    let mut value = 0.0;
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| histogram.record(black_box(next_value(&mut value)), &attributes));
    });
    let mut value = 0.0;
    group.bench_function("metrics-rs", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                metrics::histogram!(
                    "h",
                    "http.request.method" => "GET",
                    "http.route" => "/api/users",
                    "http.response.status_code" => "200"
                )
                .record(black_box(next_value(&mut value)));
            }
            let elapsed = start.elapsed();
            // What the exporter's upkeep task does on its own thread: fold the recorded
            // values into buckets, which also frees them.
            handle.run_upkeep();
            elapsed
        });
    });
    let mut registry = PromRegistry::default();
    let family = Family::<PromLabels, PromHistogram>::new_with_constructor(|| {
        PromHistogram::new(DEFAULT_HISTOGRAM_BOUNDARIES)
    });
    registry.register("h", "A histogram", family.clone());
    let labels = prom_labels();
    let mut value = 0.0;
    group.bench_function("prometheus-client", |b| {
        b.iter(|| {
            family
                .get_or_create(&labels)
                .observe(black_box(next_value(&mut value)));
        });
    });
    group.finish();
}

/// One add, shared by the two threads of `metrics/2_threads_one_series`.
type SharedAdd = Arc<dyn Fn() + Send + Sync>;

/// Runs `add` on two threads `iters` times each; the time is from the first thread's start
/// to the last thread's end (each thread reads its own clock, so a thread that finishes before
/// the other starts is still measured).
fn two_threads(iters: u64, add: &SharedAdd) -> Duration {
    let barrier = Arc::new(Barrier::new(2));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            let add = Arc::clone(add);
            thread::spawn(move || {
                barrier.wait();
                let start = Instant::now();
                for _ in 0..iters {
                    add();
                }
                (start, Instant::now())
            })
        })
        .collect();
    let spans: Vec<(Instant, Instant)> = workers
        .into_iter()
        .map(|w| w.join().expect("bench thread"))
        .collect();
    let start = spans.iter().map(|s| s.0).min();
    let end = spans.iter().map(|s| s.1).max();
    match (start, end) {
        (Some(start), Some(end)) => end.saturating_duration_since(start),
        _ => Duration::ZERO,
    }
}

fn contention(c: &mut Criterion) {
    metrics_rs();
    let mut group = c.benchmark_group("metrics/2_threads_one_series");
    group.throughput(Throughput::Elements(2));
    let mut adds: Vec<(&str, SharedAdd)> = Vec::new();
    // Kept alive until the group ends: a provider's drop shuts its pipeline down.
    let mut providers = Vec::new();
    for (label, filter) in OURS {
        let provider = ours(filter);
        let counter = provider
            .meter("bench")
            .u64_counter("c")
            .build()
            .expect("valid name");
        let attributes = our_attributes();
        adds.push((
            label,
            Arc::new(move || counter.add(black_box(1), &attributes)),
        ));
        providers.push(provider);
    }
    let provider = otel();
    let counter = provider.meter("bench").u64_counter("c").build();
    let attributes = otel_attributes();
    adds.push((
        "opentelemetry_sdk",
        Arc::new(move || counter.add(black_box(1), &attributes)),
    ));
    adds.push((
        "metrics-rs",
        Arc::new(|| {
            metrics::counter!(
                "threads",
                "http.request.method" => "GET",
                "http.route" => "/api/users",
                "http.response.status_code" => "200"
            )
            .increment(black_box(1));
        }),
    ));
    let mut registry = PromRegistry::default();
    let family = prom_counters(&mut registry);
    let labels = prom_labels();
    adds.push((
        "prometheus-client",
        Arc::new(move || {
            family.get_or_create(&labels).inc_by(black_box(1));
        }),
    ));
    for (label, add) in &adds {
        group.bench_function(*label, |b| b.iter_custom(|iters| two_threads(iters, add)));
    }
    group.finish();
}

criterion_group!(benches, counters, histograms, contention);
criterion_main!(benches);
