//! The store's size estimate against what the allocator really hands out.
//!
//! A counting global allocator sees every byte; this file holds one test so nothing else
//! allocates while it measures.

mod store_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use telemetry_core::KeyValue;
use telemetry_core::Timestamp;
use telemetry_dashboard::Store;
use telemetry_dashboard::backend::Backend;
use telemetry_logs::Severity;
use telemetry_metrics::data::{
    Gauge, Metric, MetricData, Number, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use telemetry_otlp::MetricsData;
use telemetry_span::Event;

use store_support::*;

/// Bytes currently allocated: written by every allocation and free, read by the test.
static ALLOCATED: AtomicIsize = AtomicIsize::new(0);

struct Counting;

// SAFETY: every method forwards to the system allocator with the caller's own arguments, so
// the system allocator's guarantees hold; the only addition is a relaxed counter update.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size), which is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc`/`realloc` above, that is from System, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: `ptr` came from System with `layout`; the caller upholds `new_size`'s rules.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn the_size_estimate_tracks_real_allocations() {
    let store = Store::default();
    let before = ALLOCATED.load(Ordering::Relaxed);
    for batch in 0..40u64 {
        let spans = (0..500u64)
            .map(|i| {
                let n = batch * 500 + i;
                let t = u128::from(n / 10) + 1;
                let mut s = span(
                    t,
                    n % 10 + 1,
                    n % 10,
                    &format!("operation {}", n % 37),
                    BASE + n,
                    BASE + n + 1000,
                );
                s.attributes.extend([
                    KeyValue::new("http.route", format!("/users/{}", n % 100)),
                    KeyValue::new("http.response.status_code", 200i64),
                    KeyValue::new("user.agent", "x".repeat(40 + (n % 20) as usize)),
                ]);
                if n % 4 == 0 {
                    s.events.push(Event {
                        name: "retry".to_owned().into(),
                        timestamp: Timestamp::from_unix_nanos(BASE + n),
                        attributes: vec![KeyValue::new("attempt", 2i64)],
                        dropped_attributes_count: 0,
                    });
                }
                s
            })
            .collect();
        store.ingest_traces(traces("api", spans), &source());
    }
    let real = (ALLOCATED.load(Ordering::Relaxed) - before) as f64;
    let estimate = get_ok(&store, "/api/health", "")["store"]["traces"]["usedBytes"]
        .as_u64()
        .unwrap() as f64;
    let ratio = estimate / real;
    eprintln!("estimate {estimate} real {real} ratio {ratio:.3}");
    assert!(
        (0.85..=1.2).contains(&ratio),
        "estimate {estimate} vs real {real}: ratio {ratio:.2}"
    );

    // Logs, measured the same way.
    let before = ALLOCATED.load(Ordering::Relaxed);
    for batch in 0..40u64 {
        let records = (0..500u64)
            .map(|i| {
                let n = batch * 500 + i;
                let mut record = log(
                    u128::from(n / 5) + 1,
                    n % 5 + 1,
                    Severity::INFO,
                    &format!("request {n} served in {} ms", n % 300),
                    BASE + n,
                );
                record
                    .attributes
                    .push(KeyValue::new("http.route", format!("/users/{}", n % 100)));
                record
            })
            .collect();
        store.ingest_logs(logs("api", records), &source());
    }
    let real = (ALLOCATED.load(Ordering::Relaxed) - before) as f64;
    let estimate = get_ok(&store, "/api/health", "")["store"]["logs"]["usedBytes"]
        .as_u64()
        .unwrap() as f64;
    let ratio = estimate / real;
    eprintln!("logs: estimate {estimate} real {real} ratio {ratio:.3}");
    assert!(
        (0.85..=1.2).contains(&ratio),
        "logs: estimate {estimate} vs real {real}: ratio {ratio:.2}"
    );

    // Metric points: 200 series of a gauge, 100 points each.
    let before = ALLOCATED.load(Ordering::Relaxed);
    for batch in 0..100u64 {
        let points = (0..200u64)
            .map(|i| NumberDataPoint {
                attributes: vec![
                    KeyValue::new("host", format!("host-{i}")),
                    KeyValue::new("cpu", (i % 8) as i64),
                ],
                start_time: Timestamp::from_unix_nanos(BASE),
                time: Timestamp::from_unix_nanos(BASE + batch),
                value: Number::F64(batch as f64),
                exemplars: Vec::new(),
            })
            .collect();
        let data = MetricsData {
            resource_metrics: vec![ResourceMetrics {
                resource: resource("api"),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(),
                    metrics: vec![Metric {
                        name: "system.cpu.utilization".into(),
                        description: "CPU use".into(),
                        unit: "1".into(),
                        data: MetricData::Gauge(Gauge { points }),
                    }],
                }],
            }],
        };
        store.ingest_metrics(data, &source());
    }
    let real = (ALLOCATED.load(Ordering::Relaxed) - before) as f64;
    let estimate = get_ok(&store, "/api/health", "")["store"]["metrics"]["usedBytes"]
        .as_u64()
        .unwrap() as f64;
    let ratio = estimate / real;
    eprintln!("metrics: estimate {estimate} real {real} ratio {ratio:.3}");
    assert!(
        (0.85..=1.2).contains(&ratio),
        "metrics: estimate {estimate} vs real {real}: ratio {ratio:.2}"
    );
}
