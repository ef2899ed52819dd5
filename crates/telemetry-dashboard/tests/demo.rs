//! The README's main command, `telemetry-dashboard --demo`, end to end: the binary starts,
//! its demo services send real OTLP/HTTP to it, and the API shows traces that cross all three
//! services, correlated logs and metric series.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Kills the dashboard when the test ends, however it ends.
struct Dashboard(Child);

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A GET on the loopback API, by hand: the test needs no HTTP client beyond this.
fn get(addr: SocketAddr, path: &str) -> Value {
    let mut stream = TcpStream::connect(addr).expect("connect to the dashboard");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
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
    assert!(head.starts_with("HTTP/1.1 200"), "GET {path}: {head}");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(body)
    } else {
        body.to_owned()
    };
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
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

/// Waits up to `limit` for `check` to pass, asking the API every 200 ms.
fn eventually<T>(limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up after {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_demo_shows_traces_across_services_with_their_logs_and_metrics() {
    let child = Command::new(env!("CARGO_BIN_EXE_telemetry-dashboard"))
        .args([
            "--demo",
            "--grpc-port",
            "0",
            "--http-port",
            "0",
            "--ui-port",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start telemetry-dashboard");
    let mut dashboard = Dashboard(child);
    let stdout = dashboard.0.stdout.take().expect("piped stdout");
    let mut ui = None;
    let mut demo_started = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read the banner");
        if let Some(url) = line.trim().strip_prefix("UI:") {
            let url = url
                .trim()
                .trim_start_matches("http://")
                .trim_end_matches('/');
            ui = Some(url.parse::<SocketAddr>().expect("the UI address"));
        }
        if line.starts_with("Demo workload running") {
            demo_started = true;
            break;
        }
    }
    assert!(demo_started, "the banner never announced the demo");
    let ui = ui.expect("the banner names the UI address");

    // All three services report, each with spans.
    eventually(Duration::from_secs(30), || {
        let services = get(ui, "/api/services");
        let names: Vec<&str> = services
            .as_array()?
            .iter()
            .filter_map(|service| service["name"].as_str())
            .collect();
        ["agent", "tools", "knowledge"]
            .iter()
            .all(|name| names.contains(name))
            .then_some(())
    });

    // A finished task's trace crosses all three services over HTTP, as one tree.
    let trace_id = eventually(Duration::from_secs(30), || {
        let found = get(ui, "/api/traces?service=agent&limit=50");
        found["traces"].as_array()?.iter().find_map(|trace| {
            let services = trace["services"].as_array()?;
            (trace["hasRoot"] == true && services.len() == 3)
                .then(|| trace["traceId"].as_str().map(str::to_owned))?
        })
    });
    let trace = get(ui, &format!("/api/traces/{trace_id}"));
    let spans = trace["spans"].as_array().expect("the trace's spans");
    let ids: Vec<&str> = spans
        .iter()
        .filter_map(|span| span["spanId"].as_str())
        .collect();
    let roots: Vec<&Value> = spans
        .iter()
        .filter(|span| span["parentSpanId"].as_str().is_none_or(str::is_empty))
        .collect();
    assert_eq!(roots.len(), 1, "one root in {trace:#}");
    assert_eq!(roots[0]["name"], "agent.run");
    for span in spans {
        if let Some(parent) = span["parentSpanId"].as_str().filter(|p| !p.is_empty()) {
            assert!(
                ids.contains(&parent),
                "a span's parent is missing: {span:#}"
            );
        }
    }
    let names: Vec<&str> = spans.iter().filter_map(|s| s["name"].as_str()).collect();
    assert!(names.contains(&"POST /tools/{tool}"), "{names:?}");

    // Logs carry the trace ids of the spans they were emitted in.
    eventually(Duration::from_secs(30), || {
        let logs = get(ui, "/api/logs?limit=200");
        let records = logs["logs"].as_array().or_else(|| logs.as_array())?;
        records
            .iter()
            .any(|record| record["traceId"].as_str().is_some_and(|id| id.len() == 32))
            .then_some(())
    });

    // The services' metrics arrive as series.
    eventually(Duration::from_secs(30), || {
        let metrics = get(ui, "/api/metrics");
        let text = metrics.to_string();
        (text.contains("agent.tasks") && text.contains("http.server.request.duration"))
            .then_some(())
    });
}
