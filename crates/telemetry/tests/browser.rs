//! The dashboard in a real browser: this process runs the pipeline and the embedded
//! dashboard; `node e2e.mjs` (crates/telemetry-dashboard/tests/browser) drives headless
//! Chromium through playwright-core and, when it needs data, asks this side over its stdin and
//! stdout to emit a span tree, a log record and metric points through the pipeline, or runs the
//! Python OpenTelemetry SDK (`send_python.py`) against the dashboard's OTLP/HTTP port. It checks
//! the pages as a person would (live rows, pause, waterfall, log-to-trace link, metric chart,
//! registered views, markup shown as text), saves a screenshot of each page and the measured
//! export-to-pixels latency under `<workspace>/target/test-output/browser/`, and fails on any
//! console error.
//!
//! Peers: `node`, Chromium (`$TELEMETRY_CHROMIUM`, else `/usr/bin/chromium`), the browser folder
//! with `node_modules/playwright-core` (`$TELEMETRY_BROWSER_DIR`, else the one in the tree;
//! `scripts/browser-peer.sh` installs both) and the Python interpreter with the SDK
//! (`$TELEMETRY_PYTHON`, else `<workspace>/target/python-peers/bin/python`, made by
//! `scripts/python-peers.sh`). Without them the test says why and passes, unless
//! `TELEMETRY_REQUIRE_PEERS=1`, when it fails.
//!
//! With `TELEMETRY_DASHBOARD_UI_DIR=crates/telemetry-dashboard/ui` the dashboard serves the
//! page files from disk instead of those built in, so a page edit is tested without a rebuild.
//! Screenshots of failed steps are `fail-<step>.png`; `report.json` holds every step's result.
//!
//! One test function: the facade's global pipeline allows one per process.
#![allow(
    clippy::print_stdout,
    reason = "the test's report (steps, latencies, screenshots) is its output"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use telemetry::prelude::*;
use telemetry::{ChartType, Counter, Gauge, Histogram, TelemetryBuilder};

/// The service name of everything this process emits.
const RUST_SERVICE: &str = "browser-e2e-rust";
/// A counter with a line view on the overview, recorded under two attribute sets.
const METRIC_LINE: &str = "e2e.browser.requests";
/// A gauge with a stat view on the overview.
const METRIC_STAT: &str = "e2e.browser.queue.depth";
/// The value the gauge always holds, which the stat view must show.
const STAT_VALUE: f64 = 7.0;
/// A histogram, so the metrics page has one to list.
const METRIC_HISTOGRAM: &str = "e2e.browser.latency";
/// How long the browser run may take before it is killed; e2e.mjs gives up by itself
/// after 90 s (both generous: a cold CI machine is slower than this one).
const NODE_DEADLINE: Duration = Duration::from_secs(100);
/// How long node may take to exit after closing its stdout.
const EXIT_GRACE: Duration = Duration::from_secs(10);

/// Where the outside programs are.
struct Peers {
    node: PathBuf,
    chromium: PathBuf,
    browser_dir: PathBuf,
    python: PathBuf,
}

fn workspace() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // Paths in the report read better without `crates/telemetry/../..`.
    path.canonicalize().unwrap_or(path)
}

/// The first `name` on `$PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// The peers, or `None` (after saying what is missing) when the test should skip.
fn peers() -> Option<Peers> {
    let env_path = |key: &str| std::env::var_os(key).map(PathBuf::from);
    let node = env_path("TELEMETRY_NODE").or_else(|| on_path("node"));
    let chromium =
        env_path("TELEMETRY_CHROMIUM").unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let browser_dir = env_path("TELEMETRY_BROWSER_DIR")
        .unwrap_or_else(|| workspace().join("crates/telemetry-dashboard/tests/browser"));
    let python = [
        env_path("TELEMETRY_PYTHON"),
        Some(workspace().join("target/python-peers/bin/python")),
    ]
    .into_iter()
    .flatten()
    .find(|path| path.exists());

    let mut missing = Vec::new();
    if node.is_none() {
        missing.push("node (not on PATH; or set TELEMETRY_NODE)".to_owned());
    }
    if !chromium.is_file() {
        missing.push(format!(
            "Chromium at {} (set TELEMETRY_CHROMIUM)",
            chromium.display()
        ));
    }
    if !browser_dir
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        missing.push(format!(
            "{}/node_modules/playwright-core (set TELEMETRY_BROWSER_DIR)",
            browser_dir.display()
        ));
    }
    if python.is_none() {
        missing.push("the Python peer (set TELEMETRY_PYTHON)".to_owned());
    }
    match (node, python) {
        (Some(node), Some(python)) if missing.is_empty() => Some(Peers {
            node,
            chromium,
            browser_dir,
            python,
        }),
        _ => {
            let message = format!(
                "no browser peers: missing {}; run scripts/browser-peer.sh and \
                 scripts/python-peers.sh",
                missing.join(", ")
            );
            if std::env::var("TELEMETRY_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
                panic!("{message} (TELEMETRY_REQUIRE_PEERS=1)");
            }
            eprintln!("skipping: {message}");
            None
        }
    }
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |elapsed| elapsed.as_secs_f64() * 1000.0)
}

/// The instruments the emitted data goes into.
struct Instruments {
    requests: Counter<f64>,
    queue: Gauge<f64>,
    latency: Histogram<f64>,
}

/// The names and payloads of one emitted trace. `xss` puts markup in the root's name, an
/// attribute value and the log body: the pages must show it as text.
struct Names {
    root: String,
    child: String,
    grandchild: String,
    failing: String,
    payload: String,
    log_body: String,
}

fn names(tag: &str, xss: bool) -> Names {
    if xss {
        return Names {
            root: r#"<img src=x onerror="window.__xss=1">"#.to_owned(),
            child: "xss child".to_owned(),
            grandchild: "xss grandchild".to_owned(),
            failing: "xss failing".to_owned(),
            payload: "<script>window.__xss=2</script>".to_owned(),
            log_body: r#"<b onmouseover="window.__xss=3">xss log</b>"#.to_owned(),
        };
    }
    Names {
        root: format!("checkout {tag}"),
        child: format!("load cart {tag}"),
        grandchild: format!("cart query {tag}"),
        failing: format!("charge card {tag}"),
        payload: format!("payload {tag}"),
        log_body: format!("cart {tag} loaded slowly"),
    }
}

/// One span of the emitted tree, as e2e.mjs expects it.
fn span_json(span: &Span, name: &str, depth: u32, error: bool, attributes: &Value) -> Value {
    json!({
        "id": span.span_context().span_id().to_string(),
        "name": name,
        "depth": depth,
        "error": error,
        "attributes": attributes,
    })
}

/// Emits, through the pipeline, a trace (a server root; a child holding a grandchild and a
/// log record; a failing client child) and metric points, pushes them to the dashboard at
/// once, and describes what it sent.
fn emit(telemetry: &Telemetry, instruments: &Instruments, tag: &str, xss: bool) -> Value {
    let names = names(tag, xss);
    let tracer = telemetry.tracer();
    let root = tracer
        .span_builder(names.root.clone())
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("e2e.tag", tag.to_owned()),
            KeyValue::new("xss.payload", names.payload.clone()),
        ])
        .start();
    let root_json = span_json(
        &root,
        &names.root,
        0,
        false,
        &json!({"e2e.tag": tag, "xss.payload": names.payload}),
    );
    let child = tracer
        .span_builder(names.child.clone())
        .with_parent(&root)
        .with_attributes([
            KeyValue::new("cart.items", 3_i64),
            KeyValue::new("cart.currency", "EUR"),
        ])
        .start();
    let child_json = span_json(
        &child,
        &names.child,
        1,
        false,
        &json!({"cart.items": 3, "cart.currency": "EUR"}),
    );
    let grandchild_json = {
        let _current = child.enter();
        telemetry.logger().emit(
            LogRecord::new(Severity::WARN)
                .with_body(names.log_body.clone())
                .with_attribute("e2e.tag", tag.to_owned()),
        );
        let grandchild = tracer
            .span_builder(names.grandchild.clone())
            .with_kind(SpanKind::Client)
            .with_parent(&child)
            .with_attributes([KeyValue::new("db.system.name", "sqlite")])
            .start();
        // Bars with some width on the time axis.
        std::thread::sleep(Duration::from_millis(3));
        grandchild.end();
        span_json(
            &grandchild,
            &names.grandchild,
            2,
            false,
            &json!({"db.system.name": "sqlite"}),
        )
    };
    std::thread::sleep(Duration::from_millis(2));
    child.end();
    let failing = tracer
        .span_builder(names.failing.clone())
        .with_kind(SpanKind::Client)
        .with_parent(&root)
        .with_attributes([KeyValue::new("peer.service", "payments")])
        .start();
    std::thread::sleep(Duration::from_millis(2));
    failing.set_status(Status::error("card declined"));
    failing.end();
    let failing_json = span_json(
        &failing,
        &names.failing,
        1,
        true,
        &json!({"peer.service": "payments"}),
    );
    root.end();

    instruments
        .requests
        .add(1.0, &[KeyValue::new("route", "/checkout")]);
    instruments
        .requests
        .add(2.0, &[KeyValue::new("route", "/cart")]);
    instruments.queue.record(STAT_VALUE, &[]);
    instruments
        .latency
        .record(12.5, &[KeyValue::new("route", "/checkout")]);

    // The moment the data leaves the program: update_display pushes it into the dashboard
    // and has the server send the change to every open page now.
    let export_ms = now_ms();
    telemetry.update_display();
    json!({
        "traceId": root.span_context().trace_id().to_string(),
        "service": RUST_SERVICE,
        "exportMs": export_ms,
        "spans": {
            "root": root_json,
            "child": child_json,
            "grandchild": grandchild_json,
            "failing": failing_json,
        },
        "log": {"body": names.log_body, "spanId": child.span_context().span_id().to_string()},
        "metrics": {"line": METRIC_LINE, "stat": METRIC_STAT, "statValue": STAT_VALUE},
    })
}

/// Kills the browser run when the test fails or gives up, so no node or Chromium outlives it.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Reads `pipe` line by line on a thread of its own, into `lines`.
fn read_lines(
    pipe: impl std::io::Read + Send + 'static,
    lines: mpsc::Sender<String>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    })
}

/// Answers one `EMIT <tag> <kind>` line of node's.
fn answer(
    request: &str,
    telemetry: &Telemetry,
    instruments: &Instruments,
    stdin: &mut ChildStdin,
) -> std::io::Result<()> {
    let mut words = request.split(' ');
    let tag = words.next().unwrap_or_default();
    let reply = match (tag, words.next()) {
        ("", _) => "FAILED - EMIT without a tag".to_owned(),
        (_, None | Some("normal")) => {
            format!("EMITTED {tag} {}", emit(telemetry, instruments, tag, false))
        }
        (_, Some("xss")) => format!("EMITTED {tag} {}", emit(telemetry, instruments, tag, true)),
        (_, Some(other)) => format!("FAILED {tag} unknown kind {other:?}"),
    };
    writeln!(stdin, "{reply}")?;
    stdin.flush()
}

/// What the browser run said and did.
struct Run {
    status: ExitStatus,
    report: Option<Value>,
    stderr: Vec<String>,
}

/// Runs e2e.mjs to the end (or to the deadline), serving its EMIT requests.
fn run_browser(
    peers: &Peers,
    ui: &str,
    otlp: &str,
    out: &Path,
    telemetry: &Telemetry,
    instruments: &Instruments,
) -> Run {
    let mut command = Command::new(&peers.node);
    command
        .arg(peers.browser_dir.join("e2e.mjs"))
        .args(["--ui", ui, "--otlp", otlp])
        .arg("--python")
        .arg(&peers.python)
        .arg("--out")
        .arg(out)
        .arg("--chromium")
        .arg(&peers.chromium)
        .current_dir(&peers.browser_dir)
        // Loopback only, whatever proxy the environment names.
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = KillOnDrop(
        command
            .spawn()
            .unwrap_or_else(|e| panic!("{} e2e.mjs does not start: {e}", peers.node.display())),
    );
    let mut stdin = child.0.stdin.take();
    let (stdout_tx, stdout_rx) = mpsc::channel();
    let (stderr_tx, stderr_rx) = mpsc::channel();
    let stdout_reader = read_lines(child.0.stdout.take().expect("piped"), stdout_tx);
    let stderr_reader = read_lines(child.0.stderr.take().expect("piped"), stderr_tx);

    let deadline = Instant::now() + NODE_DEADLINE;
    let mut report = None;
    let mut stderr = Vec::new();
    let drain_stderr = |stderr_rx: &Receiver<String>, stderr: &mut Vec<String>| {
        for line in stderr_rx.try_iter() {
            // Progress as it happens, for `--nocapture`.
            eprintln!("{line}");
            stderr.push(line);
        }
    };
    loop {
        drain_stderr(&stderr_rx, &mut stderr);
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            drop(child);
            drain_stderr(&stderr_rx, &mut stderr);
            panic!(
                "the browser run did not finish within {NODE_DEADLINE:?}; node was killed. \
                 Its progress:\n{}",
                stderr.join("\n")
            );
        }
        match stdout_rx.recv_timeout(left.min(Duration::from_millis(100))) {
            Ok(line) => {
                if let Some(request) = line.strip_prefix("EMIT ") {
                    let answered = match stdin.as_mut() {
                        Some(stdin) => answer(request, telemetry, instruments, stdin),
                        None => Err(std::io::ErrorKind::BrokenPipe.into()),
                    };
                    if let Err(e) = answered {
                        eprintln!("cannot answer EMIT {request}: {e}");
                    }
                } else if let Some(json) = line.strip_prefix("REPORT ") {
                    // The run is over: node asks nothing more.
                    drop(stdin.take());
                    report = Some(serde_json::from_str(json).unwrap_or_else(|e| {
                        panic!("node's REPORT line is not JSON ({e}): {json}")
                    }));
                } else {
                    println!("node: {line}");
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    drop(stdin);
    let exit_deadline = Instant::now() + EXIT_GRACE;
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < exit_deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => panic!("node closed its stdout but did not exit within {EXIT_GRACE:?}"),
            Err(e) => panic!("waiting for node: {e}"),
        }
    };
    let _ = stdout_reader.join();
    let _ = stderr_reader.join();
    drain_stderr(&stderr_rx, &mut stderr);
    Run {
        status,
        report,
        stderr,
    }
}

/// The report, as lines a person reads: each step, its screenshot, the latencies, problems.
fn describe(report: &Value) -> String {
    let mut lines = Vec::new();
    if let Some(error) = report["error"].as_str() {
        lines.push(format!("  run stopped: {error}"));
    }
    for step in report["steps"].as_array().into_iter().flatten() {
        let name = step["name"].as_str().unwrap_or("?");
        let ms = step["ms"].as_u64().unwrap_or(0);
        if step["ok"] == true {
            let shot = step["screenshot"].as_str().unwrap_or("");
            lines.push(format!("  ok      {name} ({ms} ms) {shot}"));
        } else {
            lines.push(format!(
                "  FAILED  {name} ({ms} ms) at {}: {}\n          screenshot: {}",
                step["url"].as_str().unwrap_or(""),
                step["error"].as_str().unwrap_or(""),
                step["screenshot"].as_str().unwrap_or("(none)"),
            ));
        }
    }
    for (who, figures) in report["latency"].as_object().into_iter().flatten() {
        lines.push(format!(
            "  export -> pixels ({who}, trace {}): {} ms (export -> DOM {} ms)",
            figures["traceId"].as_str().unwrap_or(""),
            figures["exportToPixelsMs"],
            figures["exportToDomMs"],
        ));
    }
    for problem in report["problems"].as_array().into_iter().flatten() {
        lines.push(format!(
            "  problem {}: {} (on {})",
            problem["kind"].as_str().unwrap_or(""),
            problem["text"].as_str().unwrap_or(""),
            problem["page"].as_str().unwrap_or(""),
        ));
    }
    lines.join("\n")
}

#[test]
fn the_dashboard_pages_show_live_data_as_a_person_sees_it() {
    let Some(peers) = peers() else {
        return;
    };
    let started = Instant::now();
    let out = workspace().join("target/test-output/browser");
    // Screenshots of an earlier run would pass for this run's.
    if out.exists() {
        std::fs::remove_dir_all(&out).expect("clear the screenshot folder");
    }
    std::fs::create_dir_all(&out).expect("create the screenshot folder");

    // Everything goes to the embedded dashboard, on free ports; no exporter.
    let guard = TelemetryBuilder::new()
        .with_exporters([])
        .with_service_name(RUST_SERVICE)
        .with_dashboard_otlp_ports(0, 0)
        .init();
    telemetry::register_view(METRIC_LINE, ChartType::Line).expect("a line view");
    telemetry::register_view(METRIC_STAT, ChartType::Stat).expect("a stat view");
    let dashboard = telemetry::start_dashboard_server(0).expect("the dashboard starts");
    let telemetry = guard.telemetry().clone();
    let instruments = Instruments {
        requests: telemetry.create_counter(METRIC_LINE).expect("a counter"),
        queue: telemetry.create_gauge(METRIC_STAT).expect("a gauge"),
        latency: telemetry
            .create_histogram(METRIC_HISTOGRAM)
            .expect("a histogram"),
    };
    let ui = format!("http://{}", dashboard.ui_addr());
    let otlp = format!("http://{}", dashboard.http_addr());
    println!(
        "dashboard: {ui} (OTLP/HTTP {otlp}); screenshots in {}",
        out.display()
    );

    let run = run_browser(&peers, &ui, &otlp, &out, &telemetry, &instruments);

    dashboard.shutdown().expect("the dashboard stops");
    drop(guard);
    let Some(report) = run.report else {
        panic!(
            "node exited with {} without a REPORT line. Its output:\n{}",
            run.status,
            run.stderr.join("\n")
        );
    };
    let summary = describe(&report);
    assert!(
        run.status.success() && report["ok"] == true,
        "the browser run failed (node exit {}); screenshots and report.json in {}:\n{summary}",
        run.status,
        out.display()
    );
    println!(
        "browser run ({:.1} s), screenshots in {}:\n{summary}",
        started.elapsed().as_secs_f64(),
        out.display()
    );
    for who in ["rust", "python"] {
        assert!(
            report["latency"][who]["exportToPixelsMs"].is_number(),
            "no export-to-pixels figure for {who}: {}",
            report["latency"]
        );
    }
    assert!(
        out.join("latency.json").is_file(),
        "{} was not written",
        out.join("latency.json").display()
    );
}
