//! Runs each example as a user would and checks what it prints (and, for `quickstart`, what
//! reaches an OTLP collector). `cargo test` builds the examples next to the test binaries;
//! a test fails, saying so, when an example binary is older than its sources.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::io::Read;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// The example binary `name` in `target/<profile>/examples`: built there by a plain
/// `cargo test -p telemetry` or by `cargo build --examples` (scripts/test-all.sh does the
/// latter), but not by `cargo test --all-targets`, which builds examples as test targets.
fn example(name: &str) -> Result<PathBuf, Box<dyn std::error::Error>> {
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
    // `cargo test --test examples` alone does not rebuild the examples: refuse to test a
    // binary older than its sources rather than pass or fail on old code. (Building it from
    // here would work too, but would compete for the target directory with other builds.)
    let built = std::fs::metadata(&path)?.modified()?;
    let manifest_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![manifest_dir.join("examples").join(format!("{name}.rs"))];
    for entry in std::fs::read_dir(manifest_dir.join("src"))? {
        sources.push(entry?.path());
    }
    for source in sources {
        if std::fs::metadata(&source)?.modified()? > built {
            return Err(format!(
                "{} is older than {}: rebuild the examples (`cargo test -p telemetry` or \
                 `cargo build -p telemetry --examples`) before `cargo test --test examples`",
                path.display(),
                source.display()
            )
            .into());
        }
    }
    Ok(path)
}

/// What an example printed.
struct Output {
    stdout: Vec<u8>,
}

/// Runs an example with a clean environment (no `OTEL_*` from the caller) plus `vars`, and
/// a deadline so a hang fails the test instead of stalling CI. Its output is read as it
/// comes, so a chatty example never blocks on a full pipe.
fn run(name: &str, vars: &[(&str, String)]) -> Result<Output, Box<dyn std::error::Error>> {
    let mut command = Command::new(example(name)?);
    command.env_clear();
    for (key, value) in vars {
        command.env(key, value);
    }
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill()?;
            let _ = child.wait();
            return Err(format!("example {name} did not finish in 30 s").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = stdout.join().map_err(|_| "the stdout reader panicked")?;
    let stderr = stderr.join().map_err(|_| "the stderr reader panicked")?;
    if !status.success() {
        return Err(format!(
            "example {name} failed: {status}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        )
        .into());
    }
    Ok(Output { stdout })
}

/// The value of `key=` in `line`, up to the next space.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    line[start..].split(' ').next()
}

#[test]
fn quickstart_writes_to_the_console_and_to_an_otlp_collector() -> TestResult {
    let received: Arc<Mutex<Vec<(String, Bytes)>>> = Arc::default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let port = listener.local_addr()?.port();
    let sink = Arc::clone(&received);
    // A minimal OTLP/HTTP collector: records each POST's path and body, answers 200 with
    // an empty (valid, all-default) protobuf response.
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

    let output = run(
        "quickstart",
        &[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )],
    )?;
    let stdout = String::from_utf8(output.stdout)?;
    let trace_id = stdout
        .lines()
        .find(|line| line.starts_with("quickstart: checkout"))
        .and_then(|line| field(line, "trace_id"))
        .ok_or_else(|| format!("no checkout line in:\n{stdout}"))?;
    let span_lines: Vec<&str> = stdout.lines().filter(|l| l.starts_with("span ")).collect();
    assert_eq!(span_lines.len(), 4, "{stdout}");
    assert!(
        span_lines
            .iter()
            .all(|l| field(l, "trace_id") == Some(trace_id))
    );
    assert_eq!(
        span_lines
            .iter()
            .filter(|l| l.contains("status=error"))
            .count(),
        1,
        "{stdout}"
    );
    assert!(stdout.contains("log "), "{stdout}");
    assert!(stdout.contains("skipping an item"), "{stdout}");
    assert!(stdout.contains("metric \"shop.orders\""), "{stdout}");
    assert!(
        stdout.contains("metric \"shop.checkout.duration\""),
        "{stdout}"
    );

    let received = received
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let paths: BTreeSet<&str> = received.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        BTreeSet::from(["/v1/logs", "/v1/metrics", "/v1/traces"]),
        "{received:?}"
    );
    let mut names = BTreeSet::new();
    for (_, body) in received.iter().filter(|(path, _)| path == "/v1/traces") {
        let traces = telemetry::otlp::decode_traces(body)?;
        for resource in &traces.resource_spans {
            assert_eq!(resource.resource.service_name(), Some("quickstart"));
            for scope in &resource.scope_spans {
                for span in &scope.spans {
                    assert_eq!(span.span_context.trace_id().to_string(), trace_id);
                    names.insert(span.name.to_string());
                }
            }
        }
    }
    assert_eq!(
        names,
        BTreeSet::from(["checkout".to_owned(), "price.lookup".to_owned()])
    );
    Ok(())
}

#[test]
fn agent_tasks_is_one_trace_with_errors_marked_and_metrics_per_level() -> TestResult {
    let output = run("agent_tasks", &[])?;
    let stdout = String::from_utf8(output.stdout)?;
    let summary = stdout
        .lines()
        .find(|line| line.starts_with("agent done:"))
        .ok_or_else(|| format!("no summary in:\n{stdout}"))?;
    let trace_id = field(summary, "trace_id").ok_or("no trace id")?;
    let tasks: usize = field(summary, "tasks").ok_or("no task count")?.parse()?;
    let error_spans: usize = field(summary, "error_spans")
        .ok_or("no error count")?
        .parse()?;
    // 1 + 3 + 9 + 27 tasks, plus the root span.
    assert_eq!(tasks, 40);
    let spans: Vec<&str> = stdout.lines().filter(|l| l.starts_with("span ")).collect();
    assert_eq!(spans.len(), tasks + 1, "{stdout}");
    assert!(
        spans.iter().all(|l| field(l, "trace_id") == Some(trace_id)),
        "every span, on threads and tokio tasks alike, is in the root's trace:\n{stdout}"
    );
    // Every span but the root has a parent.
    assert_eq!(spans.iter().filter(|l| l.contains(" parent=- ")).count(), 1);
    let errors = spans.iter().filter(|l| l.contains("status=error")).count();
    assert!(error_spans > 0);
    assert_eq!(errors, error_spans, "{stdout}");
    for (level, count) in [(0, 1), (1, 3), (2, 9), (3, 27)] {
        let line = format!(
            "metric \"agent.tasks\" scope=agent_tasks type=sum(cumulative, monotonic) \
             value={count} attributes={{agent.level={level}}}"
        );
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{stdout}"
        );
    }
    Ok(())
}

#[test]
fn http_services_share_one_trace_across_two_processes() -> TestResult {
    let output = run("http_services", &[])?;
    let stdout = String::from_utf8(output.stdout)?;
    let front = stdout
        .lines()
        .find(|l| l.starts_with("frontend trace_id="))
        .and_then(|l| field(l, "trace_id"))
        .ok_or_else(|| format!("no frontend trace id in:\n{stdout}"))?;
    let back = stdout
        .lines()
        .find(|l| l.starts_with("  [backend] backend trace_id="))
        .and_then(|l| field(l, "trace_id"))
        .ok_or_else(|| format!("no backend trace id in:\n{stdout}"))?;
    assert_eq!(front, back, "{stdout}");
    assert!(stdout.contains("same trace: true"), "{stdout}");
    // The server span is a child of the client span from the other process.
    let client = stdout
        .lines()
        .find(|l| l.starts_with("span \"GET\"") && l.contains("kind=client"))
        .ok_or_else(|| format!("no client span in:\n{stdout}"))?;
    let server = stdout
        .lines()
        .find(|l| l.contains("span \"GET /inventory\"") && l.contains("kind=server"))
        .ok_or_else(|| format!("no server span in:\n{stdout}"))?;
    let client_id = field(client, "span_id").ok_or("no client span id")?;
    assert_eq!(
        field(server, "parent"),
        Some(format!("{client_id}(remote)").as_str())
    );
    assert!(server.contains("http.response.status_code=200"), "{server}");
    Ok(())
}

/// The JSON answer to `GET path` on a local HTTP server, over HTTP/1.0 so the answer is
/// not chunked and ends with the connection.
fn http_get(addr: &str, path: &str) -> Result<serde_json::Value, Box<dyn std::error::Error>> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP response from {addr}{path}: {response:?}"))?;
    if !head.starts_with("HTTP/1.0 200") && !head.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {head}").into());
    }
    Ok(serde_json::from_str(body)?)
}

/// The `key` strings of the objects in `array`.
fn strings<'a>(array: &'a serde_json::Value, key: &str) -> Vec<&'a str> {
    array
        .as_array()
        .map(|items| items.iter().filter_map(|item| item[key].as_str()).collect())
        .unwrap_or_default()
}

#[test]
fn dashboard_embedded_shows_its_own_spans_metrics_and_views() -> TestResult {
    use std::io::BufRead;

    let mut child = Command::new(example("dashboard_embedded")?)
        // Every port free: the default OTLP ports may be taken, and tests bind no fixed port.
        .args(["0", "--seconds", "3", "--otlp-port", "0"])
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    // Lines as they come, so the test can query the dashboard while the example runs.
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let outcome = (|| -> Result<(), Box<dyn std::error::Error>> {
        let first = lines.recv_timeout(Duration::from_secs(20))?;
        let addr = first
            .strip_prefix("dashboard: http://")
            .and_then(|rest| rest.strip_suffix('/'))
            .ok_or_else(|| format!("no dashboard address in {first:?}"))?
            .to_owned();
        assert!(addr.starts_with("127.0.0.1:"), "{addr}");
        assert_ne!(addr, "127.0.0.1:0", "the actual port is printed");
        let otlp = lines.recv_timeout(Duration::from_secs(20))?;
        assert!(
            otlp.starts_with("OTLP from other processes: http://127.0.0.1:"),
            "{otlp}"
        );
        // --otlp-port 0: free ports, not the defaults.
        assert!(
            !otlp.contains(":4318 (HTTP)") && !otlp.contains(":4317 (gRPC)"),
            "{otlp}"
        );

        // update_display runs after every batch: the first batch shows within a second or so.
        let wanted_metrics = [
            "agent.queue.depth",
            "agent.task.duration",
            "agent.tasks",
            "agent.tasks.active",
            "agent.tokens",
        ];
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let (services, traces, metrics) = loop {
            let services = http_get(&addr, "/api/services")?;
            let traces = http_get(&addr, "/api/traces?service=agent")?;
            let metrics = http_get(&addr, "/api/metrics")?;
            let names = strings(&metrics, "name");
            let ready = strings(&traces["traces"], "rootName").contains(&"agent.batch")
                && wanted_metrics.iter().all(|m| names.contains(m));
            if ready || std::time::Instant::now() > deadline {
                break (services, traces, metrics);
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        assert_eq!(strings(&services, "name"), ["agent"], "{services}");
        let operations = strings(&services[0]["operations"], "name");
        for operation in ["agent.batch", "agent.task", "agent.tool"] {
            assert!(operations.contains(&operation), "{operation}: {services}");
        }
        let batch = traces["traces"]
            .as_array()
            .and_then(|traces| traces.iter().find(|t| t["rootName"] == "agent.batch"))
            .ok_or_else(|| format!("no agent.batch trace in {traces}"))?;
        // The batch, its 6 tasks and their tool calls (3 each, fewer after a failure).
        let span_count = batch["spanCount"].as_u64().ok_or("no spanCount")?;
        assert!((13..=25).contains(&span_count), "{batch}");
        let names = strings(&metrics, "name");
        for metric in wanted_metrics {
            assert!(names.contains(&metric), "{metric}: {metrics}");
        }
        let views = http_get(&addr, "/api/views")?;
        let views: Vec<(&str, &str)> = strings(&views, "metric")
            .into_iter()
            .zip(strings(&views, "chart"))
            .collect();
        assert_eq!(
            views,
            [
                ("agent.task.duration", "heatmap"),
                ("agent.tasks", "line"),
                ("agent.tokens", "bar"),
                ("agent.tasks.active", "area"),
                ("agent.queue.depth", "stat"),
            ]
        );
        let logs = http_get(&addr, "/api/logs?text=failed")?;
        let bodies = strings(&logs["logs"], "body");
        assert!(bodies.iter().any(|b| b.starts_with("task ")), "{logs}");

        // --seconds: it stops by itself and reports what it did.
        let summary = loop {
            let line = lines.recv_timeout(Duration::from_secs(20))?;
            if line.starts_with("dashboard_embedded done:") {
                break line;
            }
        };
        let batches: u64 = field(&summary, "batches").ok_or("no batches")?.parse()?;
        let tasks: u64 = field(&summary, "tasks").ok_or("no tasks")?.parse()?;
        assert!(batches >= 1, "{summary}");
        assert_eq!(tasks, batches * 6, "{summary}");
        Ok(())
    })();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            child.kill()?;
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let _ = reader.join();
    outcome?;
    let status = status.ok_or("dashboard_embedded did not stop after --seconds")?;
    assert!(status.success(), "{status}");
    Ok(())
}
