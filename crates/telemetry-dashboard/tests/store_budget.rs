//! The memory budget: eviction oldest first under a flood, refusals, and their counts.

mod store_support;

use http::StatusCode;
use serde_json::Value as Json;
use telemetry_core::{KeyValue, Timestamp};
use telemetry_dashboard::backend::{Backend, IngestOutcome};
use telemetry_dashboard::{MIN_MEMORY_BUDGET, Store, StoreConfig};
use telemetry_logs::Severity;
use telemetry_metrics::data::{
    Gauge, Metric, MetricData, Number, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use telemetry_otlp::MetricsData;

use store_support::*;

const MS: u64 = 1_000_000;

fn small_store(budget: usize) -> Store {
    Store::new(StoreConfig {
        memory_budget_bytes: budget,
        ..StoreConfig::default()
    })
}

fn usage(store: &Store, signal: &str) -> Json {
    get_ok(store, "/api/health", "")["store"][signal].clone()
}

fn rejected(outcome: &IngestOutcome) -> u64 {
    match outcome {
        IngestOutcome::Accepted { rejected, .. } => *rejected,
        IngestOutcome::Backpressure { .. } => panic!("the store never pushes back"),
    }
}

#[test]
fn a_span_flood_stays_within_budget_and_evicts_oldest_traces_first() {
    let store = small_store(4 * MIN_MEMORY_BUDGET);
    let mut total = 0u64;
    for batch in 0..400u64 {
        // Ten traces of five spans per batch, each trace newer than the last.
        let spans = (0..10u64)
            .flat_map(|i| {
                let t = u128::from(batch * 10 + i + 1);
                let start = BASE + (batch * 10 + i) * MS;
                (1..=5u64).map(move |s| span(t, s, s - 1, "work", start + s, start + MS))
            })
            .collect::<Vec<_>>();
        total += spans.len() as u64;
        assert_eq!(
            rejected(&store.ingest_traces(traces("flood", spans), &source())),
            0
        );
        let traces = usage(&store, "traces");
        assert!(
            traces["usedBytes"].as_u64() <= traces["budgetBytes"].as_u64(),
            "{traces}"
        );
    }
    let traces = usage(&store, "traces");
    let stored = traces["spans"].as_u64().unwrap();
    let evicted = traces["evictedSpans"].as_u64().unwrap();
    assert!(evicted > 0, "the flood must overflow the budget: {traces}");
    assert_eq!(stored + evicted, total);
    assert_eq!(
        traces["evictedTraces"].as_u64().unwrap() * 5,
        evicted,
        "whole traces go"
    );
    // The budget is mostly used, not left idle after eviction.
    let used = traces["usedBytes"].as_u64().unwrap() as f64;
    assert!(
        used > 0.8 * traces["budgetBytes"].as_u64().unwrap() as f64,
        "{traces}"
    );
    // The oldest are gone, the newest are there, and the listing agrees with the counts.
    assert_eq!(
        get(&store, &format!("/api/traces/{:032x}", 1), "").0,
        StatusCode::NOT_FOUND
    );
    let newest = get_ok(&store, &format!("/api/traces/{:032x}", 4000), "");
    assert_eq!(newest["spanCount"], 5);
    assert_eq!(traces["traces"].as_u64().unwrap() * 5, stored);
    let services = get_ok(&store, "/api/services", "");
    assert_eq!(services[0]["spans"].as_u64(), Some(stored));
}

#[test]
fn a_batch_over_half_the_share_is_partly_refused_without_wiping_older_data() {
    let store = small_store(MIN_MEMORY_BUDGET);
    store.ingest_traces(
        traces("keep", vec![span(1, 1, 0, "old", BASE, BASE + MS)]),
        &source(),
    );
    let spans: Vec<_> = (0..20_000u64)
        .map(|i| span(2 + u128::from(i), 1, 0, "huge", BASE + i, BASE + i + MS))
        .collect();
    let refused = rejected(&store.ingest_traces(traces("flood", spans), &source()));
    assert!(refused > 0 && refused < 20_000, "{refused}");
    let traces = usage(&store, "traces");
    assert_eq!(traces["droppedSpans"].as_u64(), Some(refused));
    assert_eq!(traces["spans"].as_u64().unwrap() + refused, 20_001);
    assert_eq!(traces["evictedSpans"], 0);
    assert_eq!(
        get_ok(&store, &format!("/api/traces/{:032x}", 1), "")["rootName"],
        "old"
    );
    let health = get_ok(&store, "/api/health", "");
    assert_eq!(
        health["ingest"]["traces"]["rejected"].as_u64(),
        Some(refused)
    );
}

#[test]
fn spans_beyond_the_per_trace_limit_are_refused_and_counted() {
    let store = Store::new(StoreConfig {
        max_spans_per_trace: 5,
        ..StoreConfig::default()
    });
    let spans = (1..=8)
        .map(|s| span(9, s, s - 1, "deep", BASE + s, BASE + MS))
        .collect();
    let outcome = store.ingest_traces(traces("api", spans), &source());
    let IngestOutcome::Accepted { rejected, message } = outcome else {
        panic!("accepted expected");
    };
    assert_eq!(rejected, 3);
    assert!(message.contains("span limit"), "{message}");
    assert_eq!(
        get_ok(&store, &format!("/api/traces/{:032x}", 9), "")["spanCount"],
        5
    );
}

#[test]
fn a_log_flood_stays_within_budget_and_forgets_evicted_records_everywhere() {
    let store = small_store(MIN_MEMORY_BUDGET);
    let mut total = 0u64;
    for batch in 0..200u64 {
        let records = (0..50u64)
            .map(|i| {
                let n = batch * 50 + i;
                log(
                    u128::from(n % 97) + 1,
                    1,
                    Severity::INFO,
                    &format!("line {n} {}", "x".repeat(40)),
                    BASE + n,
                )
            })
            .collect();
        total += 50;
        store.ingest_logs(logs("api", records), &source());
        let logs = usage(&store, "logs");
        assert!(
            logs["usedBytes"].as_u64() <= logs["budgetBytes"].as_u64(),
            "{logs}"
        );
    }
    let logs = usage(&store, "logs");
    let stored = logs["records"].as_u64().unwrap();
    let evicted = logs["evictedRecords"].as_u64().unwrap();
    assert!(evicted > 0);
    assert_eq!(stored + evicted, total);
    // The oldest line is gone from the trace index too; the newest is found through it.
    let first = get_ok(
        &store,
        "/api/logs",
        &format!("traceId={:032x}&limit=1000", 1),
    );
    let bodies: Vec<&str> = first["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["body"].as_str().unwrap())
        .collect();
    assert!(!bodies.iter().any(|b| b.starts_with("line 0 ")));
    let newest = get_ok(&store, "/api/logs", "limit=1");
    assert!(
        newest["logs"][0]["body"]
            .as_str()
            .unwrap()
            .starts_with(&format!("line {} ", total - 1))
    );
}

#[test]
fn a_metric_flood_stays_within_budget_and_caps_points_per_series() {
    let store = Store::new(StoreConfig {
        memory_budget_bytes: MIN_MEMORY_BUDGET,
        max_points_per_series: 10,
        ..StoreConfig::default()
    });
    let mut total = 0u64;
    for batch in 0..100u64 {
        let points = (0..100u64)
            .map(|i| NumberDataPoint {
                attributes: vec![KeyValue::new("shard", ((batch * 100 + i) % 400) as i64)],
                start_time: Timestamp::from_unix_nanos(BASE),
                time: Timestamp::from_unix_nanos(BASE + batch * 1000 + i),
                value: Number::I64(i as i64),
                exemplars: Vec::new(),
            })
            .collect();
        total += 100;
        let data = MetricsData {
            resource_metrics: vec![ResourceMetrics {
                resource: resource("api"),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(),
                    metrics: vec![Metric {
                        name: "queue.depth".into(),
                        description: String::new(),
                        unit: String::new(),
                        data: MetricData::Gauge(Gauge { points }),
                    }],
                }],
            }],
        };
        store.ingest_metrics(data, &source());
        let metrics = usage(&store, "metrics");
        assert!(
            metrics["usedBytes"].as_u64() <= metrics["budgetBytes"].as_u64(),
            "{metrics}"
        );
    }
    let metrics = usage(&store, "metrics");
    let stored = metrics["points"].as_u64().unwrap();
    assert_eq!(stored + metrics["evictedPoints"].as_u64().unwrap(), total);
    assert!(stored <= 400 * 10);
    let list = get_ok(&store, "/api/metrics", "");
    assert_eq!(list[0]["pointCount"].as_u64(), Some(stored));
    assert_eq!(list[0]["seriesCount"].as_u64(), metrics["series"].as_u64());
}

#[test]
fn live_red_windows_are_charged_to_the_traces_share() {
    let store = small_store(MIN_MEMORY_BUDGET);
    let start = now() - 2_000 * MS;
    // 40 services with 3 root operations each, durations spread so that every latency
    // histogram grows: 160 RED keys' worth of windows, capped at the default 128 keys.
    for service in 0..40u64 {
        let spans = (0..30u64)
            .map(|i| {
                let n = service * 30 + i;
                let micros = 1 + (i * 7919) % 5_000_000;
                span(
                    u128::from(n) + 1,
                    1,
                    0,
                    &format!("operation {}", i % 3),
                    start,
                    start + micros * 1000,
                )
            })
            .collect();
        store.ingest_traces(traces(&format!("service-{service}"), spans), &source());
        let traces = usage(&store, "traces");
        let (used, red, budget) = (
            traces["usedBytes"].as_u64().unwrap(),
            traces["redBytes"].as_u64().unwrap(),
            traces["budgetBytes"].as_u64().unwrap(),
        );
        assert!(red > 0, "{traces}");
        assert!(used + red <= budget, "{traces}");
    }
    // New keys stop once the windows hold a quarter of the share, so traces keep the rest.
    let traces = usage(&store, "traces");
    let budget = traces["budgetBytes"].as_u64().unwrap();
    assert!(traces["traces"].as_u64().unwrap() > 0, "{traces}");
    assert!(
        traces["redBytes"].as_u64().unwrap() < budget / 2,
        "{traces}"
    );
    let health = get_ok(&store, "/api/health", "");
    assert!(
        health["red"]["droppedKeys"].as_u64().unwrap() > 0,
        "{health}"
    );
    let services = health["red"]["services"].as_array().unwrap().len();
    assert!(
        (1..40).contains(&services),
        "{services} services have RED figures"
    );
}
