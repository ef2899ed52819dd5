//! What Prometheus cannot carry is left out of a scrape and reported once through the
//! diagnostic handler (a process-global, hence this file of its own).

use std::sync::Mutex;

use telemetry_core::KeyValue;
use telemetry_core::diagnostic::{Diagnostic, set_diagnostic_handler};
use telemetry_metrics::{Aggregation, MeterProvider, View};
use telemetry_prometheus::{Format, PrometheusExporter};

static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record(diagnostic: &Diagnostic<'_>) {
    SEEN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(format!("{}: {}", diagnostic.component, diagnostic.message));
}

#[test]
fn exponential_histograms_are_left_out_and_reported_once() {
    set_diagnostic_handler(record);
    let exporter = PrometheusExporter::builder()
        .with_target_info(false)
        .build();
    let provider = MeterProvider::builder()
        .with_view(
            View::builder()
                .with_instrument_name("latency")
                .with_aggregation(Aggregation::exponential_histogram())
                .build()
                .expect("valid view"),
        )
        .with_reader(exporter.reader())
        .build();
    let meter = provider.meter("dropping");
    let latency = meter.f64_histogram("latency").build().expect("valid");
    latency.record(1.5, &[]);
    let kept = meter.u64_counter("kept").build().expect("valid");
    kept.add(1, &[KeyValue::new("a", "b")]);

    for _ in 0..3 {
        let text =
            String::from_utf8(exporter.render(Format::Text).expect("render")).expect("utf-8");
        assert_eq!(
            text,
            "# TYPE kept_total counter\nkept_total{a=\"b\",otel_scope_name=\"dropping\"} 1\n"
        );
    }
    let seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let ours: Vec<&String> = seen
        .iter()
        .filter(|m| m.starts_with("prometheus: "))
        .collect();
    assert_eq!(ours.len(), 1, "{seen:?}");
    assert!(
        ours[0].contains("left 1 metric(s) and 0 attribute(s) out"),
        "{seen:?}"
    );
    provider.shutdown().expect("shutdown");
}
