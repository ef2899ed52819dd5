//! The dashboard's JSON API (`Backend::api` of `telemetry_dashboard::Store`) on arbitrary
//! requests: routes, query parameters and bodies.
//!
//! Input: up to eight requests separated by `0xfe`. In each, the first byte picks the method
//! (GET, POST, DELETE, PUT by its value mod 4); the rest is `path 0xff query 0xff body`,
//! where a missing part is an absent query or an empty body. Path and query are read as
//! UTF-8, lossily (the server hands the API `&str`s); the body stays raw bytes. Neither
//! `0xfe` nor `0xff` occurs in UTF-8, so JSON bodies pass whole.
//!
//! The requests go to a store that holds a few traces, log records and metric series of
//! every kind. Inputs of GET, DELETE and PUT requests share one store built once: those
//! methods change nothing. An input with a POST (which may register views or import data)
//! gets a fresh store built the same way, so that what it does is reproducible from the
//! input alone and later requests of the same input query what it imported.
//!
//! Properties, for every request:
//! - the status is 2xx or 4xx, never 5xx;
//! - an `application/json` answer is valid JSON, and an error (4xx) is
//!   `{"error": "<text>"}`;
//! - an `application/x-ndjson` answer is lines of JSON objects;
//! - after a POST, the live delta from position 0 is valid JSON too.
#![no_main]

use std::sync::OnceLock;

use http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value as Json, json};
use telemetry_dashboard::backend::{ApiRequest, Backend, IngestOutcome, IngestSource, Transport};
use telemetry_dashboard::{MIN_MEMORY_BUDGET, Store, StoreConfig};
use telemetry_otlp::{
    LogsData, MetricsData, TracesData, decode_logs_json, decode_metrics_json, decode_traces_json,
};

/// The most requests one input makes.
const MAX_REQUESTS: usize = 8;
/// A fixed base time (unix nanoseconds) so that seeds can name times and cursors.
const BASE: u64 = 1_700_000_000_000_000_000;
/// One second in nanoseconds.
const SECOND: u64 = 1_000_000_000;

/// Trace ids of the stored data, also used by the seeds.
const CART_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const HOME_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const ORPHAN_TRACE: &str = "5b8efff798038103d269b633813fc60c";
const RECENT_TRACE: &str = "00000000000000000000000000000007";

/// A `u64` as OTLP/JSON writes it: a decimal string.
fn decimal(n: u64) -> String {
    n.to_string()
}

fn string_attr(key: &str, value: &str) -> Json {
    json!({"key": key, "value": {"stringValue": value}})
}

fn resource(service: &str) -> Json {
    json!({"attributes": [
        string_attr("service.name", service),
        string_attr("deployment.environment.name", "fuzz"),
    ]})
}

/// A span; `parent` empty makes it a root.
fn span(trace: &str, id: &str, parent: &str, name: &str, kind: u8, start: u64, end: u64) -> Json {
    let mut span = json!({
        "traceId": trace,
        "spanId": id,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": decimal(start),
        "endTimeUnixNano": decimal(end),
        "attributes": [
            string_attr("http.route", "/cart"),
            {"key": "http.response.status_code", "value": {"intValue": "200"}},
            {"key": "ratio", "value": {"doubleValue": 0.5}},
            {"key": "cached", "value": {"boolValue": true}},
            {"key": "raw", "value": {"bytesValue": "AQID"}},
            {"key": "tags", "value": {"arrayValue": {"values": [
                {"stringValue": "a"}, {"intValue": "1"}
            ]}}},
            {"key": "nested", "value": {"kvlistValue": {"values": [string_attr("k", "v")]}}},
        ],
    });
    if !parent.is_empty() {
        span["parentSpanId"] = json!(parent);
    }
    span
}

fn traces(service: &str, spans: Vec<Json>) -> Json {
    json!({"resourceSpans": [{
        "resource": resource(service),
        "scopeSpans": [{"scope": {"name": "fuzz", "version": "1.0"}, "spans": spans}],
        "schemaUrl": "https://opentelemetry.io/schemas/1.26.0",
    }]})
}

/// The stored traces: a finished trace over two services, a failed one with a link, one
/// whose root never arrived, and one that ended just now (for the live RED figures).
fn all_traces() -> Vec<Json> {
    let mut cart_root = span(
        CART_TRACE,
        "b7ad6b7169203331",
        "",
        "GET /cart",
        2,
        BASE,
        BASE + 90_000_000,
    );
    cart_root["events"] = json!([{
        "timeUnixNano": decimal(BASE + 1_000_000),
        "name": "cache miss",
        "attributes": [string_attr("key", "cart:42")],
    }]);
    let cart_child = span(
        CART_TRACE,
        "00f067aa0ba902b7",
        "b7ad6b7169203331",
        "load cart",
        1,
        BASE + 5_000_000,
        BASE + 60_000_000,
    );
    let mut query = span(
        CART_TRACE,
        "53995c3f42cd8ad8",
        "00f067aa0ba902b7",
        "SELECT cart",
        3,
        BASE + 10_000_000,
        BASE + 50_000_000,
    );
    query["status"] = json!({"code": 1});
    let mut home = span(
        HOME_TRACE,
        "a2fb4a1d1a96d312",
        "",
        "GET /",
        2,
        BASE + SECOND,
        BASE + 3 * SECOND,
    );
    home["status"] = json!({"code": 2, "message": "upstream timed out"});
    home["links"] = json!([{
        "traceId": CART_TRACE,
        "spanId": "b7ad6b7169203331",
        "attributes": [string_attr("link", "follows")],
    }]);
    home["droppedAttributesCount"] = json!(3);
    let mut remote_child = span(
        HOME_TRACE,
        "0102030405060708",
        "1112131415161718",
        "render",
        5,
        BASE + SECOND + 100,
        BASE + 2 * SECOND,
    );
    remote_child["flags"] = json!(0x300);
    let orphan = span(
        ORPHAN_TRACE,
        "1a2b3c4d5e6f7a8b",
        "ffeeddccbbaa9988",
        "late child",
        1,
        BASE + 10 * SECOND,
        BASE + 10 * SECOND + 7_000,
    );
    let now = now_nanos();
    let mut recent = span(
        RECENT_TRACE,
        "0000000000000009",
        "",
        "POST /pay",
        2,
        now - 250_000_000,
        now,
    );
    recent["status"] = json!({"code": 2});
    vec![
        traces("checkout", vec![cart_root, cart_child, orphan, recent]),
        traces("db", vec![query]),
        traces("frontend", vec![home, remote_child]),
    ]
}

fn log(time: Option<u64>, severity: u8, body: Json, trace: &str, span: &str) -> Json {
    let text =
        ["", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"][usize::from(severity.div_ceil(4))];
    let mut record = json!({
        "observedTimeUnixNano": decimal(time.unwrap_or(BASE + 30 * SECOND)),
        "severityNumber": severity,
        "severityText": text,
        "body": body,
        "attributes": [string_attr("component", "cart"), {"key": "rows", "value": {"intValue": "1200"}}],
    });
    if let Some(time) = time {
        record["timeUnixNano"] = json!(decimal(time));
    }
    if !trace.is_empty() {
        record["traceId"] = json!(trace);
        record["spanId"] = json!(span);
    }
    record
}

fn all_logs() -> Vec<Json> {
    let checkout = vec![
        log(
            Some(BASE + 2_000_000),
            9,
            json!({"stringValue": "cart loaded"}),
            CART_TRACE,
            "b7ad6b7169203331",
        ),
        log(
            Some(BASE + 40_000_000),
            17,
            json!({"kvlistValue": {"values": [string_attr("msg", "SELECT failed")]}}),
            CART_TRACE,
            "53995c3f42cd8ad8",
        ),
        log(None, 5, json!({"stringValue": "tick"}), "", ""),
    ];
    let mut event = log(
        Some(BASE + 2 * SECOND),
        13,
        json!({"stringValue": "Slow Render"}),
        HOME_TRACE,
        "0102030405060708",
    );
    event["eventName"] = json!("render.slow");
    let frontend = vec![
        event,
        log(
            Some(BASE + 3 * SECOND),
            21,
            json!({"intValue": "7"}),
            "",
            "",
        ),
    ];
    [("checkout", checkout), ("frontend", frontend)]
        .into_iter()
        .map(|(service, records)| {
            json!({"resourceLogs": [{
                "resource": resource(service),
                "scopeLogs": [{"scope": {"name": "fuzz"}, "logRecords": records}],
            }]})
        })
        .collect()
}

fn exemplar(time: u64) -> Json {
    json!({
        "timeUnixNano": decimal(time),
        "asDouble": 42.0,
        "traceId": CART_TRACE,
        "spanId": "b7ad6b7169203331",
        "filteredAttributes": [string_attr("user", "u1")],
    })
}

/// Metrics of every kind, with several points per series at 10 s steps: a cumulative
/// histogram that resets, two gauge series, cumulative and delta sums, a delta
/// exponential histogram.
fn all_metrics() -> Json {
    let times = |i: u64| (decimal(BASE), decimal(BASE + (i + 1) * 10 * SECOND));
    let histogram_points: Vec<Json> = (0..6u64)
        .map(|i| {
            // The fifth point starts over, as after a restart.
            let (start, time) = times(i);
            let start = if i >= 4 {
                decimal(BASE + 45 * SECOND)
            } else {
                start
            };
            let n = if i >= 4 { i - 3 } else { i + 1 };
            json!({
                "attributes": [string_attr("http.route", "/cart")],
                "startTimeUnixNano": start,
                "timeUnixNano": time,
                "count": decimal(4 * n),
                "sum": 30.0 * n as f64,
                "bucketCounts": [decimal(n), decimal(2 * n), decimal(n), "0"],
                "explicitBounds": [5.0, 10.0, 100.0],
                "min": 1.0,
                "max": 90.0,
                "exemplars": [exemplar(BASE + (i + 1) * 10 * SECOND)],
            })
        })
        .collect();
    let gauge_points: Vec<Json> = (0..12u64)
        .map(|i| {
            let (_, time) = times(i / 2);
            json!({
                "attributes": [string_attr("host", if i % 2 == 0 { "a" } else { "b" })],
                "timeUnixNano": time,
                "asDouble": i as f64 * 0.25,
            })
        })
        .collect();
    let sum_points: Vec<Json> = (0..5u64)
        .map(|i| {
            let (start, time) = times(i);
            json!({"startTimeUnixNano": start, "timeUnixNano": time, "asInt": decimal(10 * i * i)})
        })
        .collect();
    let delta_points: Vec<Json> = (0..5u64)
        .map(|i| {
            let (_, time) = times(i);
            json!({"timeUnixNano": time, "asDouble": -1.5 + i as f64})
        })
        .collect();
    let exponential_points: Vec<Json> = (0..4u64)
        .map(|i| {
            let (_, time) = times(i);
            json!({
                "timeUnixNano": time,
                "count": "6",
                "sum": 12.5,
                "scale": 2 - i as i64,
                "zeroCount": "1",
                "positive": {"offset": -1, "bucketCounts": ["1", "2", "1"]},
                "negative": {"offset": 3, "bucketCounts": ["1"]},
                "min": -9.0,
                "max": 8.0,
            })
        })
        .collect();
    json!({"resourceMetrics": [{
        "resource": resource("checkout"),
        "scopeMetrics": [{
            "scope": {"name": "http", "version": "1.0"},
            "metrics": [
                {"name": "http.server.request.duration", "unit": "ms", "description": "latency",
                 "histogram": {"dataPoints": histogram_points, "aggregationTemporality": 2}},
                {"name": "cpu", "unit": "1", "gauge": {"dataPoints": gauge_points}},
                {"name": "requests", "unit": "1",
                 "sum": {"dataPoints": sum_points, "aggregationTemporality": 2, "isMonotonic": true}},
                {"name": "queue.size", "unit": "{item}",
                 "sum": {"dataPoints": delta_points, "aggregationTemporality": 1}},
                {"name": "payload.size", "unit": "By",
                 "exponentialHistogram": {"dataPoints": exponential_points, "aggregationTemporality": 1}},
            ],
        }],
    }]})
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(BASE, |since| since.as_nanos() as u64)
}

fn accepted(outcome: IngestOutcome) {
    assert_eq!(
        outcome,
        IngestOutcome::Accepted {
            rejected: 0,
            message: String::new()
        },
        "the fuzz store refused its own data"
    );
}

/// The data every store starts with, decoded once: inputs with a POST build a store each.
struct Data {
    traces: Vec<TracesData>,
    logs: Vec<LogsData>,
    metrics: MetricsData,
}

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| Data {
        traces: all_traces()
            .iter()
            .map(|data| {
                decode_traces_json(data.to_string().as_bytes()).expect("the fuzz traces decode")
            })
            .collect(),
        logs: all_logs()
            .iter()
            .map(|data| {
                decode_logs_json(data.to_string().as_bytes()).expect("the fuzz logs decode")
            })
            .collect(),
        metrics: decode_metrics_json(all_metrics().to_string().as_bytes())
            .expect("the fuzz metrics decode"),
    })
}

/// A small store (the smallest budget, few RED keys) holding the data above.
fn build_store() -> Store {
    let store = Store::new(StoreConfig {
        memory_budget_bytes: MIN_MEMORY_BUDGET,
        max_red_keys: 16,
        ..StoreConfig::default()
    });
    let source = IngestSource {
        transport: Transport::HttpJson,
        peer: None,
    };
    let data = data();
    for traces in &data.traces {
        accepted(store.ingest_traces(traces.clone(), &source));
    }
    for logs in &data.logs {
        accepted(store.ingest_logs(logs.clone(), &source));
    }
    accepted(store.ingest_metrics(data.metrics.clone(), &source));
    store
}

fn shared_store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(build_store)
}

/// Whether `DASHBOARD_API_FUZZ_DEBUG` is set: then every answer is printed, to check what
/// the seeds reach (from the repository root:
/// `DASHBOARD_API_FUZZ_DEBUG=1 cargo +nightly fuzz run dashboard_api fuzz/seeds/dashboard_api/*`).
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("DASHBOARD_API_FUZZ_DEBUG").is_some())
}

struct Request<'a> {
    method: Method,
    path: String,
    query: Option<String>,
    body: &'a [u8],
}

fn parse_request(bytes: &[u8]) -> Option<Request<'_>> {
    let (&selector, rest) = bytes.split_first()?;
    let method = match selector % 4 {
        0 => Method::GET,
        1 => Method::POST,
        2 => Method::DELETE,
        _ => Method::PUT,
    };
    let mut parts = rest.splitn(3, |&b| b == 0xff);
    let path = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let query = parts
        .next()
        .map(|query| String::from_utf8_lossy(query).into_owned());
    let body = parts.next().unwrap_or_default();
    Some(Request {
        method,
        path,
        query,
        body,
    })
}

fn check_json(request: &Request<'_>, status: StatusCode, body: &[u8]) {
    let json: Json = serde_json::from_slice(body).unwrap_or_else(|error| {
        panic!(
            "{} {:?}?{:?} answered {status} with invalid JSON ({error}): {:?}",
            request.method,
            request.path,
            request.query,
            String::from_utf8_lossy(body)
        )
    });
    if status.is_client_error() {
        assert!(
            json.as_object().is_some_and(
                |object| object.len() == 1 && object.get("error").is_some_and(Json::is_string)
            ),
            "{} {:?}?{:?} answered {status} with {json} rather than {{\"error\": ...}}",
            request.method,
            request.path,
            request.query
        );
    }
}

fn check_ndjson(request: &Request<'_>, body: &[u8]) {
    for (number, line) in body.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let json: Result<Json, _> = serde_json::from_slice(line);
        assert!(
            json.as_ref().is_ok_and(Json::is_object),
            "{} {:?}?{:?}: line {} is not a JSON object: {:?}",
            request.method,
            request.path,
            request.query,
            number + 1,
            String::from_utf8_lossy(line)
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let requests: Vec<Request<'_>> = data
        .split(|&b| b == 0xfe)
        .take(MAX_REQUESTS)
        .filter_map(parse_request)
        .collect();
    let mutating = requests
        .iter()
        .any(|request| request.method == Method::POST);
    let fresh;
    let store = if mutating {
        fresh = build_store();
        &fresh
    } else {
        shared_store()
    };
    for request in &requests {
        let response = store.api(&ApiRequest {
            method: &request.method,
            path: &request.path,
            query: request.query.as_deref(),
            body: request.body,
        });
        let status = response.status;
        if debug() {
            eprintln!(
                "{} {:?}?{:?} -> {status} {}",
                request.method,
                request.path,
                request.query,
                String::from_utf8_lossy(&response.body[..response.body.len().min(300)])
            );
        }
        assert!(
            status.is_success() || status.is_client_error(),
            "{} {:?}?{:?} answered {status}: {:?}",
            request.method,
            request.path,
            request.query,
            String::from_utf8_lossy(&response.body)
        );
        match response.content_type {
            "application/json" => check_json(request, status, &response.body),
            "application/x-ndjson" => check_ndjson(request, &response.body),
            other => panic!("unexpected content type {other:?}"),
        }
    }
    if mutating {
        if let Some((_, delta)) = store.live_delta(0) {
            let json: Result<Json, _> = serde_json::from_slice(&delta);
            assert!(
                json.is_ok(),
                "the live delta is not JSON: {:?}",
                String::from_utf8_lossy(&delta)
            );
        }
    }
});
