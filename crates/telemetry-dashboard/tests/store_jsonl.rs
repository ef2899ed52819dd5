//! OTLP JSON Lines export and import through the API.

mod store_support;

use http::{Method, StatusCode};
use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{KeyValue, SpanId, Timestamp, TraceId};
use telemetry_dashboard::Store;
use telemetry_dashboard::backend::{ApiRequest, Backend};
use telemetry_logs::Severity;
use telemetry_metrics::data::{
    Gauge, Histogram, HistogramDataPoint, Metric, MetricData, Number, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Temporality,
};
use telemetry_otlp::{
    LogsData, MetricsData, TracesData, decode_logs_json, decode_metrics_json, decode_traces_json,
};
use telemetry_span::{Event, Link};

use store_support::*;

const MS: u64 = 1_000_000;

fn sample_traces() -> TracesData {
    let mut root = span(1, 1, 0, "GET /cart", BASE, BASE + 40 * MS);
    root.events.push(Event {
        name: "cache.miss".into(),
        timestamp: Timestamp::from_unix_nanos(BASE + MS),
        attributes: vec![KeyValue::new("key", "cart:7")],
        dropped_attributes_count: 1,
    });
    let mut child = failed(span(1, 2, 1, "SELECT carts", BASE + 2 * MS, BASE + 30 * MS));
    child.links.push(Link {
        span_context: SpanContext::new(
            TraceId::from_int(99),
            SpanId::from_int(5),
            TraceFlags::SAMPLED,
            true,
            TraceState::EMPTY,
        ),
        attributes: vec![KeyValue::new("link.kind", "batch")],
        dropped_attributes_count: 0,
    });
    let other = span(2, 7, 0, "POST /pay", BASE + 50 * MS, BASE + 60 * MS);
    traces("shop", vec![root, child, other])
}

fn sample_logs() -> LogsData {
    let mut record = log(1, 2, Severity::WARN, "slow cart query", BASE + 20 * MS);
    record.attributes.push(KeyValue::new("rows", 1200i64));
    logs(
        "shop",
        vec![record, log(2, 7, Severity::INFO, "paid", BASE + 55 * MS)],
    )
}

fn sample_metrics() -> MetricsData {
    let number = |value: Number, time: u64, host: &str| NumberDataPoint {
        attributes: vec![KeyValue::new("host", host.to_owned())],
        start_time: Timestamp::from_unix_nanos(BASE),
        time: Timestamp::from_unix_nanos(time),
        value,
        exemplars: Vec::new(),
    };
    MetricsData {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("shop"),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![
                    Metric {
                        name: "requests".into(),
                        description: "Requests served".into(),
                        unit: "{request}".into(),
                        data: MetricData::Sum(Sum {
                            points: vec![
                                number(Number::I64(3), BASE + MS, "a"),
                                number(Number::I64(5), BASE + 2 * MS, "a"),
                                number(Number::I64(1), BASE + MS, "b"),
                            ],
                            temporality: Temporality::Cumulative,
                            is_monotonic: true,
                        }),
                    },
                    Metric {
                        name: "temperature".into(),
                        description: String::new(),
                        unit: "Cel".into(),
                        data: MetricData::Gauge(Gauge {
                            points: vec![number(Number::F64(21.5), BASE + MS, "a")],
                        }),
                    },
                    Metric {
                        name: "latency".into(),
                        description: String::new(),
                        unit: "ms".into(),
                        data: MetricData::Histogram(Histogram {
                            points: vec![HistogramDataPoint {
                                attributes: Vec::new(),
                                start_time: Timestamp::from_unix_nanos(BASE),
                                time: Timestamp::from_unix_nanos(BASE + 3 * MS),
                                count: 4,
                                sum: Some(60.0),
                                min: Some(1.0),
                                max: Some(40.0),
                                bounds: vec![10.0, 20.0],
                                bucket_counts: vec![2, 1, 1],
                                exemplars: Vec::new(),
                            }],
                            temporality: Temporality::Delta,
                        }),
                    },
                ],
            }],
        }],
    }
}

fn filled() -> Store {
    let store = Store::default();
    store.ingest_traces(sample_traces(), &source());
    store.ingest_logs(sample_logs(), &source());
    store.ingest_metrics(sample_metrics(), &source());
    store
}

fn export(store: &Store, query: &str) -> Vec<u8> {
    let response = store.api(&ApiRequest {
        method: &Method::GET,
        path: "/api/export",
        query: Some(query),
        body: b"",
    });
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.content_type, "application/x-ndjson");
    response.body
}

fn lines(body: &[u8]) -> Vec<&[u8]> {
    body.split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .collect()
}

fn window() -> String {
    format!("start={BASE}&end={}", BASE + 100 * MS)
}

#[test]
fn an_exported_window_decodes_back_to_what_was_ingested() {
    let store = filled();
    let body = export(&store, &window());
    let lines = lines(&body);
    assert_eq!(lines.len(), 3, "one line per signal here");
    assert_eq!(decode_traces_json(lines[0]).unwrap(), sample_traces());
    assert_eq!(decode_logs_json(lines[1]).unwrap(), sample_logs());
    assert_eq!(decode_metrics_json(lines[2]).unwrap(), sample_metrics());
}

#[test]
fn import_of_an_export_restores_the_same_data() {
    let original = filled();
    let body = export(&original, &window());
    let copy = Store::default();
    let (status, answer) = call(&copy, &Method::POST, "/api/import", None, &body);
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["spans"], 3);
    assert_eq!(answer["logRecords"], 2);
    assert_eq!(answer["dataPoints"], 5);
    assert_eq!(answer["rejected"], 0);
    assert_eq!(export(&copy, &window()), body);
    let health = get_ok(&copy, "/api/health", "");
    let import = health["sources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["signal"] == "traces")
        .unwrap();
    assert_eq!(import["transport"], "import");
    // The imported trace answers like the original.
    let path = format!("/api/traces/{:032x}", 1);
    assert_eq!(get_ok(&copy, &path, ""), get_ok(&original, &path, ""));
}

#[test]
fn one_trace_exports_with_its_logs_only() {
    let store = filled();
    let body = export(&store, &format!("traceId={:032x}", 2));
    let lines = lines(&body);
    assert_eq!(lines.len(), 2);
    let traces = decode_traces_json(lines[0]).unwrap();
    let spans = &traces.resource_spans[0].scope_spans[0].spans;
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].name.as_str(), "POST /pay");
    let logs = decode_logs_json(lines[1]).unwrap();
    assert_eq!(logs.resource_logs[0].scope_logs[0].records.len(), 1);
    let (status, _) = get(&store, "/api/export", &format!("traceId={:032x}", 3));
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn a_bad_line_is_named_and_nothing_is_imported() {
    let good = export(&filled(), &window());
    let mut body = lines(&good)[0].to_vec();
    body.extend_from_slice(b"\n\n{\"resourceSpans\": [{\"scopeSpans\": 7}]}\n");
    let store = Store::default();
    let (status, answer) = call(&store, &Method::POST, "/api/import", None, &body);
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = answer["error"].as_str().unwrap();
    assert!(message.starts_with("line 3:"), "{message}");
    assert_eq!(
        get_ok(&store, "/api/health", "")["store"]["traces"]["spans"],
        0
    );
    for (bad, why) in [
        (&b"{}"[..], "no resourceSpans"),
        (b"[1]", "not a JSON object"),
        (b"{\"resourceLogs\": 1", "not a JSON object"),
    ] {
        let (status, answer) = call(&store, &Method::POST, "/api/import", None, bad);
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let message = answer["error"].as_str().unwrap();
        assert!(
            message.starts_with("line 1:") && message.contains(why),
            "{message}"
        );
    }
    let (status, answer) = call(&store, &Method::POST, "/api/import", None, b"\n  \n");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["spans"], 0);
}
