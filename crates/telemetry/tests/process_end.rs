//! What reaches a collector when a program ends: the `process_end` example run as a separate
//! process in each of its modes (return from `main`, panic in `main`, SIGTERM handled),
//! against a loopback OTLP/HTTP receiver that decodes every request with telemetry-otlp's
//! decoders. The batch processors' delays and the metric interval are set to a minute, so
//! nothing but full batches (512 spans or records) leaves the process before it ends: the
//! rest of the spans and records, and every metric, can only arrive through the exit path.
//! One more run has no collector at all, and must still exit within its deadlines.
//!
//! The example binary must be built first (`cargo build -p telemetry --examples`, as
//! scripts/test-all.sh does); a binary older than its sources fails the test.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use telemetry::metrics::data::MetricData;
use telemetry::{Status, Value};

type TestResult = Result<(), Box<dyn std::error::Error>>;
type BoxError = Box<dyn std::error::Error>;

/// Jobs per run: two full export batches (512) go out while the example runs, the rest (and
/// the metrics) only when it ends.
const JOBS: u32 = 1200;

/// How long any one step may take before the test gives up on the example.
const STEP_DEADLINE: Duration = Duration::from_secs(30);

/// The example binary in `target/<profile>/examples` (see tests/examples.rs).
fn example(name: &str) -> Result<PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .ok_or("the test binary is not in target/<profile>/deps")?;
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        return Err(format!(
            "{} is missing: build the examples first (`cargo build -p telemetry --examples`, \
             as scripts/test-all.sh does)",
            path.display()
        )
        .into());
    }
    // An old binary would test old code: refuse it rather than pass or fail on it.
    let built = std::fs::metadata(&path)?.modified()?;
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![manifest_dir.join("examples").join(format!("{name}.rs"))];
    for entry in std::fs::read_dir(manifest_dir.join("src"))? {
        sources.push(entry?.path());
    }
    for source in sources {
        if std::fs::metadata(&source)?.modified()? > built {
            return Err(format!(
                "{} is older than {}: rebuild the examples (`cargo build -p telemetry \
                 --examples`)",
                path.display(),
                source.display()
            )
            .into());
        }
    }
    Ok(path)
}

/// An OTLP/HTTP receiver on 127.0.0.1: records each request's path and body and answers
/// 200 with an empty (valid, all-default) protobuf response. Stops with its runtime.
struct Receiver {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<(String, Bytes)>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    fn start() -> Result<Receiver, BoxError> {
        let requests: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
        let addr = listener.local_addr()?;
        let sink = Arc::clone(&requests);
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = Arc::clone(&sink);
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let sink = Arc::clone(&sink);
                        async move {
                            let path = request.uri().path().to_owned();
                            let body = match request.into_body().collect().await {
                                Ok(body) => body.to_bytes(),
                                Err(_) => Bytes::new(),
                            };
                            // Recorded before the answer: once the exporter has its reply,
                            // the request is here.
                            sink.lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push((path, body));
                            let mut response = Response::new(Full::new(Bytes::new()));
                            response.headers_mut().insert(
                                "content-type",
                                http::HeaderValue::from_static("application/x-protobuf"),
                            );
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Receiver {
            addr,
            requests,
            _runtime: runtime,
        })
    }

    /// Everything received so far, decoded.
    fn received(&self) -> Result<Received, BoxError> {
        let requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let mut received = Received::default();
        for (path, body) in &requests {
            match path.as_str() {
                "/v1/traces" => {
                    for resource in telemetry::otlp::decode_traces(body)?.resource_spans {
                        for scope in resource.scope_spans {
                            for span in scope.spans {
                                received.spans.push(ReceivedSpan {
                                    name: span.name.to_string(),
                                    trace_id: span.span_context.trace_id().to_string(),
                                    span_id: span.span_context.span_id().to_string(),
                                    parent: span.parent_span_id.to_string(),
                                    status: span.status.clone(),
                                    job: span.attributes.iter().find_map(|kv| {
                                        match (kv.key.as_str(), &kv.value) {
                                            ("job.index", Value::I64(job)) => Some(*job),
                                            _ => None,
                                        }
                                    }),
                                });
                            }
                        }
                    }
                }
                "/v1/logs" => {
                    for resource in telemetry::otlp::decode_logs(body)?.resource_logs {
                        for scope in resource.scope_logs {
                            for record in scope.records {
                                received
                                    .logs
                                    .push((record.body.to_string(), record.trace_id.to_string()));
                            }
                        }
                    }
                }
                "/v1/metrics" => {
                    for resource in telemetry::otlp::decode_metrics(body)?.resource_metrics {
                        for scope in resource.scope_metrics {
                            for metric in scope.metrics {
                                if let MetricData::Sum(sum) = &metric.data {
                                    let total: f64 =
                                        sum.points.iter().map(|p| p.value.as_f64()).sum();
                                    received.sums.push((metric.name.clone(), total));
                                }
                            }
                        }
                    }
                }
                other => return Err(format!("a request to an unknown path {other:?}").into()),
            }
        }
        Ok(received)
    }
}

/// One decoded span, reduced to what the assertions need.
#[derive(Debug)]
struct ReceivedSpan {
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    status: Status,
    job: Option<i64>,
}

/// What a receiver decoded: spans, log records (body, trace id), and each sum's total per
/// collection, in arrival order.
#[derive(Debug, Default)]
struct Received {
    spans: Vec<ReceivedSpan>,
    logs: Vec<(String, String)>,
    sums: Vec<(String, f64)>,
}

/// The `ready` line's fields.
#[derive(Debug)]
struct Ready {
    trace_id: String,
    spans: u64,
    logs: u64,
    counter_total: f64,
}

impl Ready {
    fn parse(line: &str) -> Result<Ready, BoxError> {
        let fields: BTreeMap<&str, &str> = line
            .strip_prefix("ready ")
            .ok_or_else(|| format!("not a ready line: {line:?}"))?
            .split(' ')
            .filter_map(|field| field.split_once('='))
            .collect();
        let field = |key: &str| {
            fields
                .get(key)
                .copied()
                .ok_or_else(|| format!("no {key} in {line:?}"))
        };
        Ok(Ready {
            trace_id: field("trace_id")?.to_owned(),
            spans: field("spans")?.parse()?,
            logs: field("logs")?.parse()?,
            counter_total: field("counter_total")?.parse()?,
        })
    }
}

/// A running example: its stdout line by line, its stderr collected.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stdout: JoinHandle<()>,
    stderr: JoinHandle<Vec<u8>>,
}

/// How a run ended.
struct Ended {
    status: ExitStatus,
    ready: Ready,
    /// From the `ready` line to the process's exit, as seen by the test.
    exit_time: Duration,
    stderr: String,
}

impl Running {
    /// Starts the example with a clean environment (no `OTEL_*` from the caller) plus `vars`.
    fn start(args: &[&str], vars: &[(&str, String)]) -> Result<Running, BoxError> {
        let mut command = Command::new(example("process_end")?);
        command.args(args).env_clear();
        for (key, value) in vars {
            command.env(key, value);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut stderr = child.stderr.take().ok_or("no stderr")?;
        let (lines_tx, lines) = mpsc::channel();
        let stdout = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stderr.read_to_end(&mut bytes);
            bytes
        });
        Ok(Running {
            child,
            lines,
            stdout,
            stderr,
        })
    }

    /// Waits for the `ready` line: the example's work has ended.
    fn ready(&mut self) -> Result<(Ready, Instant), BoxError> {
        let deadline = Instant::now() + STEP_DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).map_err(|error| {
                format!("no ready line from process_end ({error}); it printed nothing else")
            })?;
            if line.starts_with("ready ") {
                return Ok((Ready::parse(&line)?, Instant::now()));
            }
        }
    }

    /// Waits for the process to exit (killing it after [`STEP_DEADLINE`]).
    fn wait(mut self, ready: Ready, ready_at: Instant) -> Result<Ended, BoxError> {
        let deadline = ready_at + STEP_DEADLINE;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                self.child.kill()?;
                let _ = self.child.wait();
                return Err(format!("process_end did not exit within {STEP_DEADLINE:?}").into());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let exit_time = ready_at.elapsed();
        let _ = self.stdout.join();
        let stderr = self
            .stderr
            .join()
            .map_err(|_| "the stderr reader panicked")?;
        Ok(Ended {
            status,
            ready,
            exit_time,
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    /// Runs `args` to the end; `signal` (e.g. "TERM") is sent once the example is ready.
    fn run(
        args: &[&str],
        vars: &[(&str, String)],
        signal: Option<&str>,
    ) -> Result<Ended, BoxError> {
        let mut running = Running::start(args, vars)?;
        let (ready, ready_at) = match running.ready() {
            Ok(ready) => ready,
            Err(error) => {
                let _ = running.child.kill();
                let _ = running.child.wait();
                return Err(error);
            }
        };
        if let Some(signal) = signal {
            // The system's `kill`, to the child's pid only: nothing outside this test's own
            // process tree is touched.
            let sent = Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(running.child.id().to_string())
                .status()?;
            if !sent.success() {
                let _ = running.child.kill();
                return Err(format!("kill -{signal} failed: {sent}").into());
            }
        }
        running.wait(ready, ready_at)
    }
}

/// The environment of a run exporting to `endpoint`: OTLP/HTTP protobuf, every delay a
/// minute so that only the exit path exports.
fn otlp_vars(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_SERVICE_NAME", "process_end".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "60000".to_owned()),
        ("OTEL_BLRP_SCHEDULE_DELAY", "60000".to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "60000".to_owned()),
        // Backtraces are slow to print and say nothing here.
        ("RUST_BACKTRACE", "0".to_owned()),
    ]
}

/// Runs the example in `mode` against a fresh receiver and checks that everything it
/// ended before its exit point arrived, once. Returns the run and what arrived.
fn run_and_check(mode: &str, signal: Option<&str>) -> Result<(Ended, Received), BoxError> {
    let receiver = Receiver::start()?;
    let jobs = JOBS.to_string();
    let ended = Running::run(
        &[mode, &jobs],
        &otlp_vars(&format!("http://{}", receiver.addr)),
        signal,
    )?;
    let received = receiver.received()?;
    let ready = &ended.ready;
    let context = || format!("mode {mode}; stderr:\n{}", ended.stderr);

    assert_eq!(ready.spans, u64::from(JOBS), "{}", context());
    // Every span is in the run's trace, and arrived once.
    let ids: BTreeSet<&str> = received.spans.iter().map(|s| s.span_id.as_str()).collect();
    assert_eq!(ids.len(), received.spans.len(), "a span arrived twice");
    assert!(
        received.spans.iter().all(|s| s.trace_id == ready.trace_id),
        "{}",
        context()
    );
    // The root, and every job under it.
    let roots: Vec<&ReceivedSpan> = received
        .spans
        .iter()
        .filter(|s| s.name == "process_end.run")
        .collect();
    assert_eq!(roots.len(), 1, "the root span: {}", context());
    let root = roots[0];
    let jobs: BTreeSet<i64> = received
        .spans
        .iter()
        .filter(|s| s.name == "process_end.job")
        .inspect(|s| assert_eq!(s.parent, root.span_id))
        .filter_map(|s| s.job)
        .collect();
    assert_eq!(
        jobs,
        (0..i64::from(JOBS)).collect::<BTreeSet<_>>(),
        "{}",
        context()
    );

    // Every log record: one per job and the summary (and what the mode adds), in the trace.
    let bodies: BTreeSet<&str> = received.logs.iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(bodies.len(), received.logs.len(), "a record arrived twice");
    for job in 0..JOBS {
        assert!(
            bodies.contains(format!("job {job} done").as_str()),
            "job {job}'s record is missing: {}",
            context()
        );
    }
    assert!(bodies.contains(format!("{JOBS} jobs done").as_str()));
    assert!(received.logs.iter().all(|(_, t)| *t == ready.trace_id));

    // The counter's total, in the last (cumulative) collection.
    let items: Vec<f64> = received
        .sums
        .iter()
        .filter(|(name, _)| name == "process_end.items")
        .map(|(_, total)| *total)
        .collect();
    assert_eq!(
        items.last().copied(),
        Some(ready.counter_total),
        "{}",
        context()
    );
    let expected_total = f64::from(JOBS) * f64::from(JOBS + 1) / 2.0;
    assert_eq!(ready.counter_total, expected_total);
    Ok((ended, received))
}

#[test]
fn returning_from_main_exports_everything() -> TestResult {
    let (ended, received) = run_and_check("return", None)?;
    assert!(ended.status.success(), "{}: {}", ended.status, ended.stderr);
    assert_eq!(received.spans.len(), JOBS as usize + 1);
    assert_eq!(received.logs.len() as u64, ended.ready.logs);
    assert!(ended.stderr.is_empty(), "{}", ended.stderr);
    eprintln!("return: exit {:?} after ready", ended.exit_time);
    Ok(())
}

#[test]
fn a_panic_in_main_exports_everything_and_the_span_that_panicked() -> TestResult {
    let (ended, received) = run_and_check("panic", None)?;
    // Rust's exit code for a panic in main, after unwinding.
    assert_eq!(ended.status.code(), Some(101), "{}", ended.stderr);
    assert!(
        ended.stderr.contains("job 1200: corrupt input"),
        "{}",
        ended.stderr
    );
    // The span open at the panic ended while it unwound, marked as an error.
    let failed: Vec<&ReceivedSpan> = received
        .spans
        .iter()
        .filter(|s| s.name == "process_end.fail")
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", received.spans.len());
    assert_eq!(failed[0].status, Status::error("job 1200: corrupt input"));
    assert_eq!(failed[0].job, Some(i64::from(JOBS)));
    assert_eq!(received.spans.len(), JOBS as usize + 2);
    assert_eq!(received.logs.len() as u64, ended.ready.logs);
    eprintln!("panic: exit {:?} after ready", ended.exit_time);
    Ok(())
}

#[cfg(unix)]
#[test]
fn sigterm_handled_by_the_program_exports_everything() -> TestResult {
    use std::os::unix::process::ExitStatusExt;

    let (ended, received) = run_and_check("sigterm", Some("TERM"))?;
    assert_eq!(ended.status.signal(), None, "killed by the signal");
    assert!(ended.status.success(), "{}: {}", ended.status, ended.stderr);
    // The handler's own record and the root span's attribute, both after the signal.
    assert!(
        received.logs.iter().any(|(b, _)| b == "SIGTERM: stopping"),
        "{:?}",
        received.logs.len()
    );
    assert_eq!(received.logs.len() as u64, ended.ready.logs + 1);
    assert_eq!(received.spans.len(), JOBS as usize + 1);
    assert!(ended.stderr.is_empty(), "{}", ended.stderr);
    eprintln!("sigterm: exit {:?} after the signal", ended.exit_time);
    Ok(())
}

#[test]
fn with_the_collector_down_the_process_exits_within_the_export_deadlines() -> TestResult {
    // A port nobody listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let timeout = Duration::from_millis(1000);
    let mut vars = otlp_vars(&format!("http://127.0.0.1:{port}"));
    vars.push((
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        timeout.as_millis().to_string(),
    ));
    let jobs = JOBS.to_string();
    let ended = Running::run(&["return", &jobs], &vars, None)?;
    assert!(ended.status.success(), "{}: {}", ended.status, ended.stderr);
    // Spans, metrics and logs shut down at once. A batch processor may be in the middle of
    // a try (of a batch that filled during the run) when shutdown starts, and then gives
    // what is left one more try: two deadlines for spans or logs, plus a second for the
    // process to stop. (One signal after another, this took 2.2 to 3.5 s, up to five
    // deadlines.)
    let limit = 2 * timeout + Duration::from_secs(1);
    assert!(
        ended.exit_time < limit,
        "exit took {:?}, over {limit:?}: {}",
        ended.exit_time,
        ended.stderr
    );
    // The losses are reported, never silent.
    assert!(ended.stderr.contains("dropped"), "{}", ended.stderr);
    eprintln!(
        "collector down: exit {:?} after ready; stderr:\n{}",
        ended.exit_time, ended.stderr
    );
    Ok(())
}
