//! The query API over the store, called as the server would, without sockets.

mod store_support;

use http::{Method, StatusCode};
use serde_json::{Value as Json, json};
use telemetry_core::{KeyValue, SpanId, Timestamp, TraceId};
use telemetry_dashboard::backend::Backend;
use telemetry_dashboard::{Store, StoreConfig};
use telemetry_logs::Severity;
use telemetry_metrics::data::{
    Exemplar, Gauge, Histogram, HistogramDataPoint, Metric, MetricData, Number, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Temporality,
};
use telemetry_otlp::MetricsData;

use store_support::*;

const MS: u64 = 1_000_000;

fn trace_ids(answer: &Json) -> Vec<String> {
    answer["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["traceId"].as_str().unwrap().to_owned())
        .collect()
}

fn hex(trace: u128) -> String {
    format!("{trace:032x}")
}

#[test]
fn out_of_order_spans_across_batches_form_one_trace() {
    let store = Store::default();
    let t = 0xabc;
    // Children first, from two services, the root last.
    store.ingest_traces(
        traces(
            "api",
            vec![span(t, 2, 1, "db.query", BASE + 10 * MS, BASE + 30 * MS)],
        ),
        &source(),
    );
    store.ingest_traces(
        traces(
            "db",
            vec![failed(span(
                t,
                3,
                2,
                "db.exec",
                BASE + 12 * MS,
                BASE + 95 * MS,
            ))],
        ),
        &source(),
    );
    let partial = get_ok(&store, &format!("/api/traces/{}", hex(t)), "");
    assert_eq!(partial["hasRoot"], false);
    assert_eq!(
        partial["rootName"], "db.query",
        "the earliest span stands in for the root"
    );
    store.ingest_traces(
        traces(
            "api",
            vec![span(t, 1, 0, "GET /users", BASE + 5 * MS, BASE + 90 * MS)],
        ),
        &source(),
    );
    let trace = get_ok(&store, &format!("/api/traces/{}", hex(t)), "");
    assert_eq!(trace["traceId"], hex(t));
    assert_eq!(trace["hasRoot"], true);
    assert_eq!(trace["rootName"], "GET /users");
    assert_eq!(trace["rootService"], "api");
    assert_eq!(trace["spanCount"], 3);
    assert_eq!(trace["errorCount"], 1);
    assert_eq!(trace["services"], json!(["api", "db"]));
    assert_eq!(trace["spansByService"], json!({"api": 2, "db": 1}));
    assert_eq!(trace["startTimeUnixNano"], (BASE + 5 * MS).to_string());
    assert_eq!(trace["durationNanos"], (90 * MS).to_string());
    let spans = trace["spans"].as_array().unwrap();
    let names: Vec<&str> = spans.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["GET /users", "db.query", "db.exec"],
        "ordered by start"
    );
    assert_eq!(spans[0]["parentSpanId"], Json::Null);
    assert_eq!(spans[1]["parentSpanId"], format!("{:016x}", 1));
    assert_eq!(
        spans[2]["status"],
        json!({"code": "error", "message": "boom"})
    );
    assert_eq!(spans[2]["resource"]["attributes"]["service.name"], "db");
    assert_eq!(spans[0]["scope"]["name"], "store-tests");
    assert_eq!(spans[0]["attributes"]["span.index"], 1);
    // One trace, listed once.
    let list = get_ok(&store, "/api/traces", "");
    assert_eq!(trace_ids(&list), [hex(t)]);
}

fn search_fixture() -> Store {
    let store = Store::default();
    // Trace i starts at BASE + i ms and lasts (i + 1) * 10 ms; every third fails; even ones
    // belong to "web", odd ones to "worker"; trace 7 carries customer=acme.
    for i in 0..12u64 {
        let t = 100 + u128::from(i);
        let service = if i % 2 == 0 { "web" } else { "worker" };
        let name = if i % 2 == 0 { "GET /" } else { "job" };
        let mut root = span(
            t,
            1,
            0,
            name,
            BASE + i * MS,
            BASE + i * MS + (i + 1) * 10 * MS,
        );
        if i % 3 == 0 {
            root = failed(root);
        }
        if i == 7 {
            root = with_attribute(root, KeyValue::new("customer", "acme"));
        }
        store.ingest_traces(traces(service, vec![root]), &source());
    }
    store
}

fn ids(range: impl IntoIterator<Item = u64>) -> Vec<String> {
    range
        .into_iter()
        .map(|i| hex(100 + u128::from(i)))
        .collect()
}

#[test]
fn search_filters_combine_and_list_newest_first() {
    let store = search_fixture();
    let all = get_ok(&store, "/api/traces", "");
    assert_eq!(trace_ids(&all), ids((0..12).rev()));
    let web = get_ok(&store, "/api/traces", "service=web");
    assert_eq!(trace_ids(&web), ids([10, 8, 6, 4, 2, 0]));
    let jobs = get_ok(&store, "/api/traces", "spanName=job&limit=2");
    assert_eq!(trace_ids(&jobs), ids([11, 9]));
    let slow = get_ok(&store, "/api/traces", "minDuration=90ms&maxDuration=0.11s");
    assert_eq!(trace_ids(&slow), ids([10, 9, 8]));
    let errors = get_ok(&store, "/api/traces", "status=error");
    assert_eq!(trace_ids(&errors), ids([9, 6, 3, 0]));
    let fine = get_ok(&store, "/api/traces", "status=ok&service=worker");
    assert_eq!(trace_ids(&fine), ids([11, 7, 5, 1]));
    let acme = get_ok(&store, "/api/traces", "attr=customer%3Dacme");
    assert_eq!(trace_ids(&acme), ids([7]));
    let by_resource = get_ok(&store, "/api/traces", "attr=service.name=worker&limit=1");
    assert_eq!(trace_ids(&by_resource), ids([11]));
    let window = get_ok(
        &store,
        "/api/traces",
        &format!("start={}&end={}", BASE + 3 * MS, BASE + 5 * MS),
    );
    assert_eq!(trace_ids(&window), ids([5, 4, 3]));
    let summary = &all["traces"][0];
    assert_eq!(summary["durationMs"], 120.0);
    assert_eq!(summary["services"], json!(["worker"]));
}

#[test]
fn paging_is_stable_while_new_traces_arrive() {
    let store = search_fixture();
    let first = get_ok(&store, "/api/traces", "limit=5");
    assert_eq!(trace_ids(&first), ids([11, 10, 9, 8, 7]));
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    // Newer traces and a late span of an older trace arrive between pages.
    for i in 12..20u64 {
        let t = 100 + u128::from(i);
        store.ingest_traces(
            traces(
                "web",
                vec![span(t, 1, 0, "GET /", BASE + i * MS, BASE + i * MS + MS)],
            ),
            &source(),
        );
    }
    store.ingest_traces(
        traces(
            "web",
            vec![span(102, 9, 1, "late", BASE + 2 * MS + 1, BASE + 3 * MS)],
        ),
        &source(),
    );
    let second = get_ok(&store, "/api/traces", &format!("limit=5&cursor={cursor}"));
    assert_eq!(trace_ids(&second), ids([6, 5, 4, 3, 2]));
    let cursor = second["nextCursor"].as_str().unwrap().to_owned();
    let third = get_ok(&store, "/api/traces", &format!("limit=5&cursor={cursor}"));
    assert_eq!(trace_ids(&third), ids([1, 0]));
    assert_eq!(third["nextCursor"], Json::Null);
    // A filtered search pages the same way.
    let page = get_ok(&store, "/api/traces", "service=web&limit=3");
    let cursor = page["nextCursor"].as_str().unwrap().to_owned();
    let next = get_ok(
        &store,
        "/api/traces",
        &format!("service=web&limit=3&cursor={cursor}"),
    );
    assert_eq!(trace_ids(&page).len() + trace_ids(&next).len(), 6);
    assert!(
        trace_ids(&page)
            .iter()
            .all(|id| !trace_ids(&next).contains(id))
    );
}

#[test]
fn logs_correlate_with_their_trace_and_filter() {
    let store = Store::default();
    store.ingest_traces(
        traces("api", vec![span(7, 1, 0, "GET /", BASE, BASE + 50 * MS)]),
        &source(),
    );
    store.ingest_logs(
        logs(
            "api",
            vec![
                log(7, 1, Severity::INFO, "request started", BASE + MS),
                log(8, 4, Severity::ERROR, "other trace failed", BASE + 2 * MS),
                log(7, 2, Severity::WARN, "Slow Query on users", BASE + 3 * MS),
                log(0, 0, Severity::DEBUG, "no trace here", BASE + 4 * MS),
            ],
        ),
        &source(),
    );
    let trace = get_ok(&store, &format!("/api/traces/{}", hex(7)), "");
    let bodies: Vec<&str> = trace["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["request started", "Slow Query on users"],
        "oldest first"
    );
    let body = |answer: &Json| -> Vec<String> {
        answer["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["body"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        body(&get_ok(&store, "/api/logs", &format!("traceId={}", hex(7)))),
        ["Slow Query on users", "request started"]
    );
    assert_eq!(
        body(&get_ok(&store, "/api/logs", "severity=warn")),
        ["Slow Query on users", "other trace failed"]
    );
    assert_eq!(
        body(&get_ok(&store, "/api/logs", "severity=17")),
        ["other trace failed"]
    );
    assert_eq!(
        body(&get_ok(&store, "/api/logs", "text=slow+QUERY")),
        ["Slow Query on users"]
    );
    assert_eq!(
        body(&get_ok(&store, "/api/logs", &format!("spanId={:016x}", 4))),
        ["other trace failed"]
    );
    assert_eq!(
        body(&get_ok(
            &store,
            "/api/logs",
            &format!("start={}&end={}", BASE + 2 * MS, BASE + 3 * MS)
        )),
        ["Slow Query on users", "other trace failed"]
    );
    let first = get_ok(&store, "/api/logs", "limit=3");
    assert_eq!(body(&first).len(), 3);
    let cursor = first["nextCursor"].as_str().unwrap().to_owned();
    assert_eq!(
        body(&get_ok(
            &store,
            "/api/logs",
            &format!("limit=3&cursor={cursor}")
        )),
        ["request started"]
    );
    let line = &get_ok(&store, "/api/logs", "severity=error")["logs"][0];
    assert_eq!(line["traceId"], hex(8));
    assert_eq!(line["severityText"], "ERROR");
    assert_eq!(line["service"], "api");
    assert_eq!(line["timeUnixNano"], (BASE + 2 * MS).to_string());
}

fn gauge_point(value: f64, time: u64, host: &str) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![KeyValue::new("host", host.to_owned())],
        start_time: Timestamp::from_unix_nanos(BASE),
        time: Timestamp::from_unix_nanos(time),
        value: Number::F64(value),
        exemplars: Vec::new(),
    }
}

fn metrics_data(metrics: Vec<Metric>) -> MetricsData {
    MetricsData {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("api"),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics,
            }],
        }],
    }
}

const SEC: u64 = 1_000_000_000;

#[test]
fn metric_series_aggregate_by_step_per_attribute_set() {
    let store = Store::default();
    let mut points: Vec<NumberDataPoint> = (0..20)
        .flat_map(|i| {
            [
                gauge_point(i as f64, BASE + i * SEC, "a"),
                gauge_point(100.0, BASE + i * SEC, "b"),
            ]
        })
        .collect();
    // An exemplar links the bucket to a trace.
    points[2].exemplars.push(Exemplar {
        filtered_attributes: Vec::new(),
        time: Timestamp::from_unix_nanos(BASE + SEC),
        value: Number::F64(1.0),
        trace_id: Some(TraceId::from_int(0x77)),
        span_id: Some(SpanId::from_int(0x5)),
    });
    store.ingest_metrics(
        metrics_data(vec![Metric {
            name: "cpu".into(),
            description: "CPU use".into(),
            unit: "1".into(),
            data: MetricData::Gauge(Gauge { points }),
        }]),
        &source(),
    );
    let list = get_ok(&store, "/api/metrics", "");
    assert_eq!(list[0]["name"], "cpu");
    assert_eq!(list[0]["type"], "gauge");
    assert_eq!(list[0]["seriesCount"], 2);
    assert_eq!(list[0]["pointCount"], 40);
    assert_eq!(list[0]["scopes"], json!(["store-tests"]));
    assert_eq!(
        list[0]["groups"],
        json!([{"service": list[0]["services"][0], "scope": "store-tests"}])
    );
    let answer = get_ok(
        &store,
        "/api/metrics/cpu/series",
        &format!(
            "start={BASE}&end={}&step=10s&attr=host%3Da",
            BASE + 19 * SEC
        ),
    );
    let series = answer["series"].as_array().unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0]["attributes"], json!({"host": "a"}));
    let points = series[0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[0]["timeUnixNano"], BASE.to_string());
    assert_eq!(points[0]["count"], 10);
    assert_eq!(points[0]["avg"], 4.5);
    assert_eq!(points[0]["min"], 0.0);
    assert_eq!(points[0]["max"], 9.0);
    assert_eq!(points[0]["last"], 9.0);
    assert_eq!(points[1]["sum"], (10..20).sum::<u64>() as f64);
    assert_eq!(
        points[0]["exemplars"],
        json!([{"value": 1.0, "timeUnixNano": (BASE + SEC).to_string(),
                "traceId": hex(0x77), "spanId": format!("{:016x}", 5)}])
    );
    assert_eq!(points[1].get("exemplars"), None);
    let both = get_ok(&store, "/api/metrics/cpu/series", "step=1m");
    assert_eq!(both["series"].as_array().unwrap().len(), 2);
}

#[test]
fn histogram_series_give_count_sum_and_percentiles() {
    let store = Store::default();
    let point = |time: u64, counts: Vec<u64>| HistogramDataPoint {
        attributes: Vec::new(),
        start_time: Timestamp::from_unix_nanos(time - SEC),
        time: Timestamp::from_unix_nanos(time),
        count: counts.iter().sum(),
        sum: Some(1000.0),
        min: Some(0.0),
        max: Some(100.0),
        bounds: vec![10.0, 50.0, 100.0],
        bucket_counts: counts,
        exemplars: Vec::new(),
    };
    store.ingest_metrics(
        metrics_data(vec![Metric {
            name: "latency".into(),
            description: String::new(),
            unit: "ms".into(),
            data: MetricData::Histogram(Histogram {
                // Two delta points in one step: 100 values in [0, 10], 100 in (10, 50].
                points: vec![
                    point(BASE + SEC, vec![100, 0, 0, 0]),
                    point(BASE + 2 * SEC, vec![0, 100, 0, 0]),
                ],
                temporality: Temporality::Delta,
            }),
        }]),
        &source(),
    );
    let answer = get_ok(
        &store,
        "/api/metrics/latency/series",
        &format!("start={BASE}&end={}&step=10s", BASE + 2 * SEC),
    );
    let bucket = &answer["series"][0]["points"][0];
    assert_eq!(bucket["count"], 200);
    assert_eq!(bucket["sum"], 2000.0);
    assert_eq!(bucket["p50"], 10.0);
    assert_eq!(bucket["p95"], 46.0);
    assert_eq!(answer["type"], "histogram");
}

#[test]
fn cumulative_histogram_steps_show_what_was_recorded_during_them() {
    let store = Store::default();
    let start = Timestamp::from_unix_nanos(BASE - SEC);
    let point = |time: u64, counts: Vec<u64>, sum: f64| HistogramDataPoint {
        attributes: Vec::new(),
        start_time: start,
        time: Timestamp::from_unix_nanos(time),
        count: counts.iter().sum(),
        sum: Some(sum),
        min: Some(1.0),
        max: Some(90.0),
        bounds: vec![10.0, 50.0, 100.0],
        bucket_counts: counts,
        exemplars: Vec::new(),
    };
    let mut restarted = point(BASE + 30 * SEC, vec![0, 0, 4, 0], 300.0);
    restarted.start_time = Timestamp::from_unix_nanos(BASE + 25 * SEC);
    store.ingest_metrics(
        metrics_data(vec![Metric {
            name: "latency".into(),
            description: String::new(),
            unit: "ms".into(),
            data: MetricData::Histogram(Histogram {
                points: vec![
                    point(BASE, vec![10, 0, 0, 0], 50.0),
                    point(BASE + 10 * SEC, vec![10, 5, 0, 0], 200.0),
                    point(BASE + 20 * SEC, vec![10, 5, 2, 0], 340.0),
                    // The process restarted: a new start time, counts from zero.
                    restarted,
                ],
                temporality: Temporality::Cumulative,
            }),
        }]),
        &source(),
    );
    // The range starts after the first point, which still anchors the first step.
    let answer = get_ok(
        &store,
        "/api/metrics/latency/series",
        &format!("start={}&end={}&step=10s", BASE + 10 * SEC, BASE + 30 * SEC),
    );
    let points = answer["series"][0]["points"].as_array().unwrap();
    assert_eq!(points.len(), 3);
    assert_eq!(points[0]["count"], 5);
    assert_eq!(points[0]["sum"], 150.0);
    assert_eq!(
        points[0]["buckets"],
        json!([{"lo": 10.0, "hi": 50.0, "count": 5}])
    );
    assert_eq!(
        points[0]["min"],
        Json::Null,
        "the step's own min is unknown"
    );
    assert_eq!(points[1]["count"], 2);
    assert_eq!(
        points[1]["buckets"],
        json!([{"lo": 50.0, "hi": 100.0, "count": 2}])
    );
    assert_eq!(
        points[2]["count"], 4,
        "after a reset the point counts whole"
    );
    assert_eq!(
        points[2]["buckets"],
        json!([{"lo": 50.0, "hi": 100.0, "count": 4}])
    );
}

#[test]
fn red_figures_follow_known_latencies() {
    let store = Store::default();
    let end = now() - SEC;
    let spans: Vec<_> = (1..=100u64)
        .map(|ms| {
            let root = span(
                1000 + u128::from(ms),
                1,
                0,
                "GET /orders",
                end - ms * MS,
                end,
            );
            if ms > 95 { failed(root) } else { root }
        })
        .collect();
    store.ingest_traces(traces("shop", spans), &source());
    let services = get_ok(&store, "/api/services", "");
    let shop = &services[0];
    assert_eq!(shop["name"], "shop");
    assert_eq!(shop["spans"], 100);
    assert_eq!(
        shop["operations"],
        json!([{"name": "GET /orders", "spans": 100}])
    );
    let red = &shop["red"];
    assert_eq!(red["count"], 100);
    assert_eq!(red["errorRatio"], 0.05);
    let p = |key: &str| red[key].as_f64().unwrap();
    assert!((49.5..=50.5).contains(&p("p50Ms")), "{red}");
    assert!((94.0..=96.0).contains(&p("p95Ms")), "{red}");
    assert!((98.0..=100.0).contains(&p("p99Ms")), "{red}");
    let health = get_ok(&store, "/api/health", "");
    let operation = &health["red"]["services"][0]["operations"][0];
    assert_eq!(operation["operation"], "GET /orders");
    assert_eq!(operation["count"], 100);
    assert_eq!(health["ingest"]["traces"]["items"], 100);
    assert_eq!(health["sources"][0]["transport"], "http/protobuf");
    assert!(health["store"]["traces"]["usedBytes"].as_u64().unwrap() > 0);
}

#[test]
fn refusals_are_counted_in_health() {
    let store = Store::default();
    store.record_refusal(
        telemetry_otlp::Signal::Logs,
        telemetry_dashboard::backend::Refusal::TooLarge,
        &source(),
    );
    let health = get_ok(&store, "/api/health", "");
    assert_eq!(
        health["refusals"],
        json!([{"signal": "logs", "reason": "too_large", "transport": "http/protobuf", "count": 1}])
    );
}

#[test]
fn views_register_and_list() {
    let store = Store::default();
    let (status, list) = call(
        &store,
        &Method::POST,
        "/api/views",
        None,
        br#"{"metric": "cpu", "chart": "area"}"#,
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list, json!([{"metric": "cpu", "chart": "area"}]));
    store
        .register_view("latency", telemetry_dashboard::ChartType::Heatmap)
        .unwrap();
    assert_eq!(
        get_ok(&store, "/api/views", ""),
        json!([{"metric": "cpu", "chart": "area"}, {"metric": "latency", "chart": "heatmap"}])
    );
    for body in [
        &br#"{"metric": "cpu", "chart": "pie"}"#[..],
        b"{",
        br#"{"metric": "", "chart": "bar"}"#,
    ] {
        let (status, answer) = call(&store, &Method::POST, "/api/views", None, body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
        assert!(answer["error"].is_string());
    }
}

#[test]
fn malformed_queries_answer_400_with_a_message() {
    let store = search_fixture();
    for (path, query) in [
        ("/api/traces", "limit=0"),
        ("/api/traces", "limit=abc"),
        ("/api/traces", "limit=1001"),
        ("/api/traces", "nope=1"),
        ("/api/traces", "minDuration=fast"),
        ("/api/traces", "status=maybe"),
        ("/api/traces", "start=-1"),
        ("/api/traces", "cursor=zzz"),
        ("/api/traces", "attr=novalue"),
        ("/api/traces", "service=%zz"),
        ("/api/traces/not-hex", ""),
        ("/api/traces/00000000000000000000000000000000", ""),
        ("/api/logs", "severity=loud"),
        ("/api/logs", "traceId=123"),
        ("/api/logs", "spanId=xyz"),
        ("/api/logs", "cursor=-3"),
        ("/api/export", ""),
        ("/api/export", "start=5"),
        ("/api/export", "start=5&end=4"),
    ] {
        let (status, answer) = get(&store, path, query);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{query}: {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}?{query}"
        );
    }
    store.ingest_metrics(
        metrics_data(vec![Metric {
            name: "cpu".into(),
            description: String::new(),
            unit: String::new(),
            data: MetricData::Gauge(Gauge {
                points: vec![gauge_point(1.0, BASE, "a")],
            }),
        }]),
        &source(),
    );
    for query in [
        "start=10&end=5",
        "step=0",
        "start=0&end=100000000000000&step=1ns",
    ] {
        let (status, answer) = get(&store, "/api/metrics/cpu/series", query);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {answer}");
    }
    for path in [
        "/api/nothing",
        "/api/traces/a/b",
        "/elsewhere",
        "/api/metrics/missing/series",
    ] {
        assert_eq!(get(&store, path, "").0, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(
        get(&store, &format!("/api/traces/{}", hex(999)), "").0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&store, &Method::DELETE, "/api/traces", None, b"").0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert_eq!(
        call(&store, &Method::GET, "/api/import", None, b"").0,
        StatusCode::METHOD_NOT_ALLOWED
    );
}

#[test]
fn live_deltas_carry_what_changed_and_are_bounded() {
    let store = Store::new(StoreConfig {
        live_max_items: 3,
        ..StoreConfig::default()
    });
    assert_eq!(store.live_position(), 0);
    assert!(store.live_delta(0).is_none());
    store.ingest_traces(
        traces("api", vec![span(1, 1, 0, "a", BASE, BASE + MS)]),
        &source(),
    );
    store.ingest_logs(
        logs("api", vec![log(1, 1, Severity::INFO, "hello", BASE)]),
        &source(),
    );
    let position = store.live_position();
    assert_eq!(position, 2);
    let (to, body) = store.live_delta(0).unwrap();
    assert_eq!(to, position);
    let delta: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(delta["traces"][0]["traceId"], hex(1));
    assert_eq!(delta["logs"][0]["body"], "hello");
    assert_eq!(delta["truncated"], false);
    assert!(delta["red"]["services"].is_array());
    let health = get_ok(&store, "/api/health", "");
    assert_eq!(delta["ingest"]["traces"]["items"], 1);
    // Rates move with the clock; the counts are the same figures as the health answer's.
    for signal in ["traces", "logs"] {
        assert_eq!(
            delta["ingest"][signal]["items"],
            health["ingest"][signal]["items"]
        );
    }
    assert_eq!(delta["sources"][0]["items"], health["sources"][0]["items"]);
    assert!(delta["sources"].is_array());
    assert!(delta["store"]["traces"]["spans"].is_number());
    assert!(store.live_delta(position).is_none(), "nothing new");
    // Only what came after the reader's position, capped and flagged.
    let spans = (10..20)
        .map(|t| span(t, 1, 0, "b", BASE, BASE + MS))
        .collect();
    store.ingest_traces(traces("api", spans), &source());
    let (_, body) = store.live_delta(position).unwrap();
    let delta: Json = serde_json::from_slice(&body).unwrap();
    // Ten changed traces do not fit three: the list is left out, the page must query.
    assert_eq!(delta["traces"], json!([]));
    assert_eq!(delta["logs"], json!([]));
    assert_eq!(delta["truncated"], true);
    // Three do fit.
    let position = store.live_position();
    let spans = (30..33)
        .map(|t| span(t, 1, 0, "c", BASE, BASE + MS))
        .collect();
    store.ingest_traces(traces("api", spans), &source());
    let (_, body) = store.live_delta(position).unwrap();
    let delta: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(delta["traces"].as_array().unwrap().len(), 3);
    assert_eq!(delta["truncated"], false);
}
