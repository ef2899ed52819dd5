//! End to end with a sender nobody here wrote: the Python OpenTelemetry SDK (its providers,
//! batch processors and OTLP exporters, over HTTP/protobuf and over gRPC) sends a known trace,
//! a log record emitted inside one of its spans and four kinds of metric to a real
//! [`Dashboard`]; the test reads them back through the JSON query API and checks ids, parent
//! links, kinds, status, attributes, events, links, log-to-trace correlation and metric
//! values against what the sender printed (`tests/python/sdk_e2e_sender.py`).
//!
//! The interpreter is `$TELEMETRY_PYTHON`, else `<workspace>/target/python-peers/bin/python`
//! (made by `scripts/python-peers.sh`). Without either the test prints why and passes, unless
//! `TELEMETRY_REQUIRE_PEERS=1`, when it fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use telemetry_dashboard::Dashboard;

/// The interpreter to use, or `None` (after saying why) when the test should skip.
fn python() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("TELEMETRY_PYTHON").map(PathBuf::from),
        Some(workspace.join("target/python-peers/bin/python")),
    ];
    if let Some(found) = candidates.into_iter().flatten().find(|path| path.exists()) {
        return Some(found);
    }
    let message = "no Python peer: set TELEMETRY_PYTHON or run scripts/python-peers.sh";
    if std::env::var("TELEMETRY_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
        panic!("{message} (TELEMETRY_REQUIRE_PEERS=1)");
    }
    eprintln!("skipping: {message}");
    None
}

/// A GET on the loopback API by hand (no client library needed for `Connection: close`):
/// the status code and the body parsed as JSON.
fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect to the dashboard");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .expect("send the request");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .expect("read the response");
    let text = String::from_utf8(response).expect("a UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("a complete response");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("GET {path}: no status in {head}"));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_owned()
    };
    let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"));
    (status, json)
}

/// A GET that must answer 200.
fn get_ok(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = get(addr, path);
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

fn unchunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
        if size == 0 {
            return out;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
}

/// Waits up to 10 s for `check` to pass, asking every 50 ms. The SDK's force_flush returns
/// after the receiver answered, so the data is normally there on the first try.
fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let limit = Duration::from_secs(10);
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: gave up after {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The spans of `trace`, by span id.
fn spans_by_id(trace: &Value) -> std::collections::HashMap<String, Value> {
    trace["spans"]
        .as_array()
        .expect("a spans array")
        .iter()
        .map(|span| (span["spanId"].as_str().unwrap().to_owned(), span.clone()))
        .collect()
}

/// The last bucket of the only series of `metric` for `service` whose attributes are
/// `attributes`.
fn last_point(ui: SocketAddr, metric: &str, service: &str, attributes: &Value) -> Value {
    let answer = get_ok(
        ui,
        // One step over everything stored: a histogram step holds what was recorded during
        // it, and the first step of a series counts its point whole.
        &format!("/api/metrics/{metric}/series?service={service}&step=60m"),
    );
    let series: Vec<&Value> = answer["series"]
        .as_array()
        .expect("a series array")
        .iter()
        .filter(|series| series["attributes"] == *attributes)
        .collect();
    assert_eq!(
        series.len(),
        1,
        "{metric} {attributes} of {service}: {answer}"
    );
    assert_eq!(series[0]["service"], service);
    assert_eq!(series[0]["scope"], "e2e.checkout");
    // The SDK exports on force_flush and again when the interpreter exits (cumulative, so
    // the same values): the figures to check are those of the last point, which the one
    // step of the query takes whole.
    series[0]["points"]
        .as_array()
        .and_then(|points| points.last())
        .cloned()
        .unwrap_or_else(|| panic!("{metric} of {service} has no point: {answer}"))
}

/// Checks everything one sender run put in the dashboard against what it printed.
fn check_run(ui: SocketAddr, sent: &Value) {
    let service = sent["service"].as_str().expect("the service name");
    let trace_id = sent["traceId"].as_str().expect("the trace id");
    let upstream_trace = sent["upstream"]["traceId"].as_str().unwrap();
    let upstream_span = sent["upstream"]["spanId"].as_str().unwrap();
    let id = |name: &str| sent["spans"][name].as_str().unwrap().to_owned();
    let (root, client, grandchild, sibling) =
        (id("root"), id("client"), id("grandchild"), id("sibling"));
    for signal in ["traces", "logs", "metrics"] {
        assert_eq!(sent["flushed"][signal], true, "{service}: {signal} flush");
    }

    // Services: five spans (the trace's four and the upstream producer), by operation.
    let entry = eventually(&format!("{service} in /api/services"), || {
        let services = get_ok(ui, "/api/services");
        services
            .as_array()?
            .iter()
            .find(|s| s["name"] == service && s["spans"] == 5)
            .cloned()
    });
    let mut operations: Vec<(String, u64)> = entry["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| {
            (
                op["name"].as_str().unwrap().to_owned(),
                op["spans"].as_u64().unwrap(),
            )
        })
        .collect();
    operations.sort();
    let expected: Vec<(String, u64)> = [
        "GET /checkout",
        "charge card",
        "enqueue order",
        "render receipt",
        "validate card",
    ]
    .iter()
    .map(|name| ((*name).to_owned(), 1))
    .collect();
    assert_eq!(operations, expected, "{service}");

    // Search: the two traces of this service, and nothing of the other run.
    let found = get_ok(ui, &format!("/api/traces?service={service}"));
    let traces = found["traces"].as_array().unwrap();
    let mut ids: Vec<&str> = traces
        .iter()
        .map(|t| t["traceId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want = vec![trace_id, upstream_trace];
    want.sort_unstable();
    assert_eq!(ids, want, "{service}: {found}");
    let summary = traces.iter().find(|t| t["traceId"] == trace_id).unwrap();
    assert_eq!(summary["spanCount"], 4);
    assert_eq!(summary["errorCount"], 1);
    assert_eq!(summary["hasRoot"], true);
    assert_eq!(summary["rootName"], "GET /checkout");
    assert_eq!(summary["rootService"], service);
    assert_eq!(summary["services"], json!([service]));
    let errors = get_ok(ui, &format!("/api/traces?service={service}&status=error"));
    assert_eq!(errors["traces"].as_array().unwrap().len(), 1, "{errors}");
    assert_eq!(errors["traces"][0]["traceId"], trace_id);

    // The trace: ids, the tree, kinds, status, attributes of each type, the event, the link.
    let trace = get_ok(ui, &format!("/api/traces/{trace_id}"));
    let spans = spans_by_id(&trace);
    assert_eq!(spans.len(), 4, "{trace}");
    for span in spans.values() {
        assert_eq!(span["traceId"], trace_id);
        assert_eq!(span["service"], service);
        assert_eq!(span["resource"]["attributes"]["service.name"], service);
        assert_eq!(
            span["resource"]["attributes"]["deployment.environment.name"],
            "e2e"
        );
        assert_eq!(
            span["resource"]["attributes"]["telemetry.sdk.language"],
            "python"
        );
        assert_eq!(span["scope"]["name"], "e2e.checkout");
        assert_eq!(span["scope"]["version"], "1.2.3");
        assert_eq!(span["parentIsRemote"], false);
        let start: u64 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        let end: u64 = span["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
        assert!(start > 0 && start <= end, "{span}");
    }
    let root_span = &spans[&root];
    assert_eq!(root_span["name"], "GET /checkout");
    assert_eq!(root_span["parentSpanId"], Value::Null);
    assert_eq!(root_span["kind"], "server");
    assert_eq!(root_span["status"]["code"], "unset");
    assert_eq!(
        root_span["attributes"],
        json!({
            "http.request.method": "GET",
            "http.response.status_code": 200,
            "cache.hit": false,
            "sample.ratio": 0.25,
            "tags": ["web", "eu"],
        })
    );
    assert_eq!(root_span["events"], json!([]));

    let client_span = &spans[&client];
    assert_eq!(client_span["name"], "charge card");
    assert_eq!(client_span["parentSpanId"], root.as_str());
    assert_eq!(client_span["kind"], "client");
    assert_eq!(
        client_span["attributes"],
        json!({"peer.service": "payments"})
    );
    let events = client_span["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{client_span}");
    assert_eq!(events[0]["name"], "retry");
    assert_eq!(
        events[0]["attributes"],
        json!({"attempt": 2, "backoff.ms": 12.5})
    );
    assert_eq!(
        client_span["links"],
        json!([{
            "traceId": upstream_trace,
            "spanId": upstream_span,
            "attributes": {"link.reason": "batched"},
        }])
    );
    for key in [
        "droppedAttributesCount",
        "droppedEventsCount",
        "droppedLinksCount",
    ] {
        assert_eq!(client_span[key], 0, "{key}");
    }

    let grandchild_span = &spans[&grandchild];
    assert_eq!(grandchild_span["name"], "validate card");
    assert_eq!(grandchild_span["parentSpanId"], client.as_str());
    assert_eq!(grandchild_span["kind"], "internal");
    assert_eq!(
        grandchild_span["status"],
        json!({"code": "error", "message": "card declined"})
    );

    let sibling_span = &spans[&sibling];
    assert_eq!(sibling_span["name"], "render receipt");
    assert_eq!(sibling_span["parentSpanId"], root.as_str());
    assert_eq!(
        sibling_span["attributes"],
        json!({"template": "receipt.html"})
    );

    // Spans are ordered by start time: the root first, the sibling (started last) last.
    let order: Vec<&str> = trace["spans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|span| span["spanId"].as_str().unwrap())
        .collect();
    assert_eq!(order, [&root, &client, &grandchild, &sibling]);

    // The linked upstream producer: a trace of its own.
    let upstream = get_ok(ui, &format!("/api/traces/{upstream_trace}"));
    let upstream_spans = spans_by_id(&upstream);
    assert_eq!(upstream_spans.len(), 1, "{upstream}");
    let producer = &upstream_spans[upstream_span];
    assert_eq!(producer["name"], "enqueue order");
    assert_eq!(producer["kind"], "producer");
    assert_eq!(producer["parentSpanId"], Value::Null);
    assert_eq!(upstream["logs"], json!([]));

    // The log record: emitted inside the grandchild, so correlated with it.
    let logs = eventually(&format!("{service}: the log of {trace_id}"), || {
        let found = get_ok(ui, &format!("/api/logs?traceId={trace_id}"));
        (found["logs"].as_array()?.len() == 1).then_some(found)
    });
    let record = &logs["logs"][0];
    assert_eq!(record["traceId"], trace_id);
    assert_eq!(record["spanId"], grandchild.as_str());
    assert_eq!(record["body"], sent["log"]["body"]);
    assert_eq!(record["severityNumber"], sent["log"]["severityNumber"]);
    assert_eq!(record["severityText"], "WARN");
    assert_eq!(record["service"], service);
    assert_eq!(record["scope"]["name"], "e2e.payments");
    assert_eq!(record["attributes"]["order.id"], sent["log"]["orderId"]);
    assert_eq!(record["attributes"]["code.function.name"], "<module>");
    let by_span = get_ok(ui, &format!("/api/logs?spanId={grandchild}"));
    assert_eq!(by_span["logs"].as_array().unwrap().len(), 1, "{by_span}");
    assert_eq!(by_span["logs"][0]["id"], record["id"]);
    // The trace view carries the same record.
    let in_trace = trace["logs"].as_array().unwrap();
    assert_eq!(in_trace.len(), 1, "{trace}");
    assert_eq!(in_trace[0]["id"], record["id"]);
    assert_eq!(in_trace[0]["spanId"], grandchild.as_str());

    // Metrics: each instrument's kind, and its values as the SDK aggregated them.
    let metrics = eventually(&format!("{service} in /api/metrics"), || {
        let list = get_ok(ui, "/api/metrics");
        let names = [
            "e2e.orders",
            "e2e.latency",
            "e2e.queue.depth",
            "e2e.temperature",
        ];
        let all = names.iter().all(|name| {
            list.as_array().is_some_and(|metrics| {
                metrics.iter().any(|m| {
                    m["name"] == *name
                        && m["services"]
                            .as_array()
                            .is_some_and(|s| s.contains(&json!(service)))
                })
            })
        });
        all.then_some(list)
    });
    let metric = |name: &str| {
        metrics
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .cloned()
            .unwrap()
    };
    let orders = metric("e2e.orders");
    assert_eq!(
        (
            &orders["type"],
            &orders["temporality"],
            &orders["monotonic"]
        ),
        (&json!("sum"), &json!("cumulative"), &json!(true))
    );
    assert_eq!(orders["unit"], "{order}");
    assert_eq!(orders["description"], "orders placed");
    let latency = metric("e2e.latency");
    assert_eq!(
        (&latency["type"], &latency["unit"]),
        (&json!("histogram"), &json!("ms"))
    );
    let depth = metric("e2e.queue.depth");
    assert_eq!(
        (&depth["type"], &depth["monotonic"]),
        (&json!("sum"), &json!(false))
    );
    let temperature = metric("e2e.temperature");
    assert_eq!(
        (&temperature["type"], &temperature["temporality"]),
        (&json!("gauge"), &Value::Null)
    );

    let expect = &sent["metrics"];
    for region in ["eu", "us"] {
        let point = last_point(ui, "e2e.orders", service, &json!({"region": region}));
        assert_eq!(
            point["last"].as_f64(),
            expect["orders"][region].as_f64(),
            "{region}"
        );
    }
    let point = last_point(ui, "e2e.latency", service, &json!({"route": "/checkout"}));
    for key in ["count", "sum", "min", "max"] {
        assert_eq!(
            point[key].as_f64(),
            expect["latency"][key].as_f64(),
            "latency {key}"
        );
    }
    let point = last_point(ui, "e2e.queue.depth", service, &json!({}));
    assert_eq!(point["last"].as_f64(), expect["queueDepth"].as_f64());
    let point = last_point(ui, "e2e.temperature", service, &json!({"room": "server"}));
    assert_eq!(point["last"].as_f64(), expect["temperature"].as_f64());
}

#[test]
fn the_python_sdk_data_reads_back_through_the_api_over_http_and_grpc() {
    let Some(python) = python() else {
        return;
    };
    let dashboard = Dashboard::builder()
        .ui_port(0)
        .grpc_port(0)
        .http_port(0)
        .otlp_port_fallback(false)
        .start()
        .expect("the dashboard starts");
    let ui = dashboard.ui_addr();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/sdk_e2e_sender.py");
    let runs = [
        ("http", dashboard.http_addr(), "py-e2e-http"),
        ("grpc", dashboard.grpc_addr(), "py-e2e-grpc"),
    ];
    // Both senders at once: each takes most of its time importing, not sending.
    let children: Vec<_> = runs
        .iter()
        .map(|(protocol, addr, service)| {
            let mut command = Command::new(&python);
            // The SDK reads OTEL_* settings and its HTTP and gRPC clients honour proxy
            // variables: neither may steer the sender away from this loopback dashboard.
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("OTEL_") {
                    command.env_remove(key);
                }
            }
            let child = command
                .env("NO_PROXY", "127.0.0.1,localhost")
                .env("no_proxy", "127.0.0.1,localhost")
                .arg(&script)
                .args([*protocol, &format!("http://{addr}"), *service])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("the Python sender starts");
            (*protocol, child)
        })
        .collect();
    let printed: Vec<Value> = children
        .into_iter()
        .map(|(protocol, child)| {
            let Output {
                status,
                stdout,
                stderr,
            } = child.wait_with_output().expect("the Python sender ends");
            let stdout = String::from_utf8_lossy(&stdout);
            let stderr = String::from_utf8_lossy(&stderr);
            assert!(status.success(), "{protocol}: {status}: {stderr}");
            let last = stdout.lines().last().unwrap_or_default();
            serde_json::from_str(last)
                .unwrap_or_else(|e| panic!("{protocol}: {e}: {stdout} {stderr}"))
        })
        .collect();

    for sent in &printed {
        check_run(ui, sent);
    }

    // Each run arrived by its own transport, whole, and the server refused nothing.
    let health = get_ok(ui, "/api/health");
    for (transport, signal, items) in [
        ("http/protobuf", "traces", 5),
        ("grpc", "traces", 5),
        ("http/protobuf", "logs", 1),
        ("grpc", "logs", 1),
    ] {
        let source = health["sources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["signal"] == signal && s["transport"] == transport)
            .unwrap_or_else(|| panic!("no {signal} over {transport}: {health}"));
        assert_eq!(source["items"], items, "{signal} over {transport}");
        assert_eq!(source["rejected"], 0, "{signal} over {transport}");
    }
    assert_eq!(health["refusals"], json!([]), "{health}");

    // An id nobody sent is not found.
    let (status, _) = get(ui, "/api/traces/0123456789abcdef0123456789abcdef");
    assert_eq!(status, 404);
    dashboard.shutdown().expect("the dashboard stops");
}
