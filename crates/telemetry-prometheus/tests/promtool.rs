//! `promtool check metrics`, Prometheus' own parser and linter, on our text format output.

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use telemetry_core::{KeyValue, Resource, Value};
use telemetry_metrics::MeterProvider;
use telemetry_prometheus::{Format, PrometheusExporter};

/// Every instrument kind, with names, units, descriptions and attributes that need
/// sanitizing and escaping, in two meters that share an instrument name.
fn render_everything() -> Vec<u8> {
    let exporter = PrometheusExporter::new();
    let provider = MeterProvider::builder()
        .with_resource(
            Resource::builder()
                .with_service_name("promtool \"check\"")
                .with_attribute(KeyValue::new("host.arch", "amd64\\x86\nline"))
                .build(),
        )
        .with_reader(exporter.reader())
        .build();
    for (scope, factor) in [("first.meter", 1u64), ("second-meter", 2)] {
        let meter = provider.meter(scope);
        let counter = meter
            .u64_counter("http.server.requests")
            .with_unit("{request}")
            .with_description("Requests served,\nby \"route\" \\ method")
            .build()
            .expect("valid");
        counter.add(factor, &[KeyValue::new("http.route", "/a\"b\\c\nd")]);
        counter.add(
            factor * 2,
            &[
                KeyValue::new("http.route", "/x"),
                KeyValue::new("9lives", true),
            ],
        );
    }
    let meter = provider.meter("kinds");
    let bytes = meter
        .f64_counter("io.sent")
        .with_unit("By")
        .build()
        .expect("valid");
    bytes.add(
        1.5e9,
        &[KeyValue::new(
            "dev",
            Value::Array(vec![Value::from("sda"), Value::I64(1)]),
        )],
    );
    let queue = meter
        .i64_up_down_counter("queue.depth")
        .with_unit("{item}")
        .build()
        .expect("valid");
    queue.add(-4, &[]);
    let temp = meter
        .f64_gauge("room.temperature")
        .with_unit("Cel")
        .build()
        .expect("valid");
    temp.record(-12.25, &[KeyValue::new("room", "cold")]);
    let ratio = meter
        .f64_gauge("cpu.utilization")
        .with_unit("1")
        .build()
        .expect("valid");
    ratio.record(0.5, &[]);
    let latency = meter
        .f64_histogram("http.server.duration")
        .with_unit("ms")
        .with_description("Latency")
        .build()
        .expect("valid");
    for v in [0.2, 3.0, 75.0, 2e6] {
        latency.record(v, &[KeyValue::new("method", "GET")]);
    }
    let rate = meter
        .f64_gauge("net.rate")
        .with_unit("By/s")
        .build()
        .expect("valid");
    rate.record(1e300, &[]);
    let body = exporter.render(Format::Text).expect("render");
    provider.shutdown().expect("shutdown");
    body
}

#[test]
fn promtool_parses_our_text_format() {
    if !common::peer_available("promtool") {
        return;
    }
    let body = render_everything();
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(&body)
        .expect("promtool reads stdin");
    let output = child.wait_with_output().expect("promtool ends");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&body);
    // Exit 1 and "error while linting" are parse errors; exit 3 would be lint advice only.
    assert!(
        !report.contains("error") && output.status.code() != Some(1),
        "promtool rejected our output:\n{report}\n--- output ---\n{text}"
    );
    // Lint advice is allowed only where the specification decides otherwise: instruments
    // without a description have no HELP, and `ms` is spelled `milliseconds`, not converted.
    for finding in report.lines().filter(|line| !line.trim().is_empty()) {
        assert!(
            finding.ends_with(" no help text")
                || finding.ends_with("use base unit \"seconds\" instead of \"milliseconds\""),
            "unexpected promtool finding {finding:?} in:\n{report}\n--- output ---\n{text}"
        );
    }
    // The output really contains what was recorded, so the check was not vacuous.
    for needle in [
        "# TYPE http_server_requests_total counter\n",
        "# TYPE io_sent_bytes_total counter\n",
        "# TYPE queue_depth gauge\n",
        "# TYPE room_temperature_celsius gauge\n",
        "# TYPE cpu_utilization_ratio gauge\n",
        "# TYPE http_server_duration_milliseconds histogram\n",
        "# TYPE net_rate_bytes_per_second gauge\n",
        "net_rate_bytes_per_second{otel_scope_name=\"kinds\"} 1e300\n",
        "http_route=\"/a\\\"b\\\\c\\nd\"",
        "_9lives=\"true\"",
        "dev=\"[\\\"sda\\\",1]\"",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert_eq!(text.matches("# TYPE http_server_requests_total").count(), 1);
}
