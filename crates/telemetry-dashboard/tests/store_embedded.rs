//! The embedded exporters put a program's own telemetry into the store.

mod store_support;

use std::sync::Arc;

use telemetry_core::{KeyValue, Resource, Timestamp};
use telemetry_dashboard::{
    DashboardLogExporter, DashboardMetricExporter, DashboardSpanExporter, Store,
};
use telemetry_logs::{LogExporter, Severity};
use telemetry_metrics::PushMetricExporter;
use telemetry_metrics::data::{
    Gauge, Metric, MetricData, Number, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use telemetry_span::SpanExporter;

use store_support::*;

fn own_resource() -> Resource {
    Resource::builder()
        .with_service_name("embedded-app")
        .build()
}

#[test]
fn spans_logs_and_metrics_arrive_with_the_exporters_resource() {
    let store = Arc::new(Store::default());

    let mut spans = DashboardSpanExporter::new(store.clone());
    spans.set_resource(&own_resource());
    spans
        .export(&[
            span(42, 1, 0, "main", BASE, BASE + 1_000),
            span(42, 2, 1, "step", BASE + 10, BASE + 900),
        ])
        .unwrap();
    spans.export(&[]).unwrap();

    let mut logs = DashboardLogExporter::new(store.clone());
    logs.set_resource(&own_resource());
    logs.export(&[log(42, 2, Severity::INFO, "step done", BASE + 900)])
        .unwrap();

    let mut metrics = DashboardMetricExporter::new(store.clone());
    metrics
        .export(&ResourceMetrics {
            resource: own_resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![Metric {
                    name: "jobs.queued".into(),
                    description: String::new(),
                    unit: "{job}".into(),
                    data: MetricData::Gauge(Gauge {
                        points: vec![NumberDataPoint {
                            attributes: vec![KeyValue::new("queue", "default")],
                            start_time: Timestamp::from_unix_nanos(BASE),
                            time: Timestamp::from_unix_nanos(BASE),
                            value: Number::I64(3),
                            exemplars: Vec::new(),
                        }],
                    }),
                }],
            }],
        })
        .unwrap();

    let trace = get_ok(&store, &format!("/api/traces/{:032x}", 42), "");
    assert_eq!(trace["rootService"], "embedded-app");
    assert_eq!(trace["spanCount"], 2);
    assert_eq!(trace["logs"][0]["body"], "step done");
    assert_eq!(trace["logs"][0]["service"], "embedded-app");
    let list = get_ok(&store, "/api/metrics", "");
    assert_eq!(list[0]["name"], "jobs.queued");
    assert_eq!(list[0]["services"], serde_json::json!(["embedded-app"]));
    let health = get_ok(&store, "/api/health", "");
    let transports: Vec<&str> = health["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["transport"].as_str().unwrap())
        .collect();
    assert_eq!(transports, ["embedded", "embedded", "embedded"]);
}
