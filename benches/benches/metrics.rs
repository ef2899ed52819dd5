//! What recording a measurement costs: our `telemetry-metrics` against opentelemetry_sdk's
//! metrics, in the same run.
//!
//! Both pipelines have one cumulative reader that never collects during the measurement
//! (ours: a `ManualReader`; opentelemetry: a `PeriodicReader` with a one-hour interval and a
//! no-op exporter), so the figures are the recording path alone.
//!
//! - `metrics/counter_add_0_attributes`: `counter.add(1, &[])`.
//! - `metrics/counter_add_3_attributes`: the same three attributes (two static strings and an
//!   `i64`) built once outside the loop, so both sides pay for lookup, not construction.
//! - `metrics/bound_counter_add`: ours through `Counter::bind`; opentelemetry's `bind` sits
//!   behind its `experimental_metrics_bound_instruments` feature, which the workspace does not
//!   enable, so its line here is the unbound add with 0 attributes, the closest it offers.
//! - `metrics/histogram_record_3_attributes`: default explicit buckets.
//! - `metrics/2_threads_one_series`: two threads add to the same series (3 attributes) at the
//!   same time; the time is wall-clock from a barrier to the last thread's end, so perfect
//!   scaling equals `counter_add_3_attributes`.
//!
//! "ours" uses the default trace-based exemplar filter, which reads the current context on
//! every measurement; "ours/no_exemplars" turns exemplars off. opentelemetry_sdk 0.33 records
//! no exemplars, so "ours/no_exemplars" is the like-for-like line.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics as OtelResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter as OtelPushMetricExporter;
use opentelemetry_sdk::metrics::{
    PeriodicReader as OtelPeriodicReader, SdkMeterProvider, Temporality as OtelTemporality,
};
use telemetry_core::KeyValue;
use telemetry_metrics::{ExemplarFilter, ManualReader, MeterProvider};

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
    group.finish();
}

fn histograms(c: &mut Criterion) {
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
            b.iter(|| {
                value = if value > 2000.0 { 0.0 } else { value + 7.3 };
                histogram.record(black_box(value), &attributes);
            });
        });
    }
    let provider = otel();
    let histogram = provider.meter("bench").f64_histogram("h").build();
    let attributes = otel_attributes();
    let mut value = 0.0;
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| {
            value = if value > 2000.0 { 0.0 } else { value + 7.3 };
            histogram.record(black_box(value), &attributes);
        });
    });
    group.finish();
}

/// Runs `add` on two threads `iters` times each; the time is from the first thread's start
/// to the last thread's end (each thread reads its own clock, so a thread that finishes before
/// the other starts is still measured).
fn two_threads(iters: u64, add: &Arc<dyn Fn() + Send + Sync>) -> Duration {
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
    let mut group = c.benchmark_group("metrics/2_threads_one_series");
    group.throughput(Throughput::Elements(2));
    for (label, filter) in OURS {
        let provider = ours(filter);
        let counter = provider
            .meter("bench")
            .u64_counter("c")
            .build()
            .expect("valid name");
        let attributes = our_attributes();
        let add: Arc<dyn Fn() + Send + Sync> =
            Arc::new(move || counter.add(black_box(1), &attributes));
        group.bench_function(label, |b| {
            b.iter_custom(|iters| two_threads(iters, &add));
        });
    }
    let provider = otel();
    let counter = provider.meter("bench").u64_counter("c").build();
    let attributes = otel_attributes();
    let add: Arc<dyn Fn() + Send + Sync> = Arc::new(move || counter.add(black_box(1), &attributes));
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter_custom(|iters| two_threads(iters, &add));
    });
    group.finish();
}

criterion_group!(benches, counters, histograms, contention);
criterion_main!(benches);
