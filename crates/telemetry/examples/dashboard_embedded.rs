//! A program that shows its own telemetry: an agent works through batches of tasks (spans
//! for each batch, task and tool call; metrics; logs) while the dashboard it started serves
//! them live at http://127.0.0.1:PORT/, fed straight from its pipeline.
//!
//! ```text
//! cargo run -p telemetry --example dashboard_embedded              # port 18888, until Ctrl-C
//! cargo run -p telemetry --example dashboard_embedded -- 9000 --seconds 30
//! cargo run -p telemetry --example dashboard_embedded -- 0 --otlp-port 0   # all ports free
//! ```
//!
//! Port 0 picks a free port; the address is printed either way. The same dashboard takes
//! OTLP from other processes on the addresses it prints: 4317 (gRPC) and 4318 (HTTP) by
//! default, `--otlp-port N` for N and N + 1, `--otlp-port 0` for two free ports.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "an example reports to its user on stdout"
)]

use std::error::Error;
use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};

use telemetry::prelude::*;
use telemetry::{ChartType, Counter, Gauge, Histogram, TelemetryBuilder, UpDownCounter};

/// The usual dashboard port.
const DEFAULT_PORT: u16 = 18888;
/// Tasks per batch.
const TASKS_PER_BATCH: u64 = 6;
/// The pause between batches, so the charts move at a watchable pace.
const PAUSE: Duration = Duration::from_millis(250);
/// The tools an agent calls, in turn.
const TOOLS: [&str; 3] = ["search", "read_file", "run_tests"];

/// What the command line asked for.
struct Args {
    port: u16,
    seconds: Option<u64>,
    /// The OTLP ports (gRPC, HTTP), when `--otlp-port` gave them.
    otlp_ports: Option<(u16, u16)>,
}

/// A command line that does not parse.
#[derive(Debug)]
struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}\nusage: dashboard_embedded [PORT] [--seconds N] [--otlp-port N]",
            self.0
        )
    }
}

impl Error for UsageError {}

fn parse_args() -> Result<Args, UsageError> {
    let mut args = Args {
        port: DEFAULT_PORT,
        seconds: None,
        otlp_ports: None,
    };
    let mut words = std::env::args().skip(1);
    while let Some(word) = words.next() {
        if word == "--seconds" {
            let value = words
                .next()
                .ok_or_else(|| UsageError("--seconds needs a number".to_owned()))?;
            let seconds = value
                .parse()
                .map_err(|_| UsageError(format!("--seconds {value:?} is not a number")))?;
            args.seconds = Some(seconds);
        } else if word == "--otlp-port" {
            let value = words
                .next()
                .ok_or_else(|| UsageError("--otlp-port needs a port".to_owned()))?;
            let grpc: u16 = value
                .parse()
                .map_err(|_| UsageError(format!("--otlp-port {value:?} is not a port")))?;
            // 0 asks for two free ports; N for N and the port after it.
            let http = match grpc {
                0 => 0,
                _ => grpc.checked_add(1).ok_or_else(|| {
                    UsageError(format!("--otlp-port {grpc} leaves no port for OTLP/HTTP"))
                })?,
            };
            args.otlp_ports = Some((grpc, http));
        } else {
            args.port = word
                .parse()
                .map_err(|_| UsageError(format!("{word:?} is not a port")))?;
        }
    }
    Ok(args)
}

/// Why a task failed.
#[derive(Debug)]
struct ToolError {
    tool: &'static str,
}

impl fmt::Display for ToolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the {} tool timed out", self.tool)
    }
}

impl Error for ToolError {}

/// One tool call: a span of its own; every 7th call fails, deterministically.
#[traced(name = "agent.tool", attributes(component = "tools"))]
fn call_tool(tool: &'static str, call: u64) -> Result<u64, ToolError> {
    std::thread::sleep(Duration::from_millis(1 + call % 4));
    if call % 7 == 6 {
        return Err(ToolError { tool });
    }
    Ok(40 + (call * 37) % 300)
}

/// The pipeline and the instruments the agent records into.
struct Instruments {
    telemetry: Telemetry,
    tasks: Counter<f64>,
    tokens: Counter<f64>,
    duration: Histogram<f64>,
    active: UpDownCounter<f64>,
    queue: Gauge<f64>,
}

/// One task: calls each tool in turn, under its own span.
fn run_task(instruments: &Instruments, task: u64, calls: &mut u64) -> Result<u64, ToolError> {
    let started = Instant::now();
    instruments.active.add(1.0, &[]);
    let outcome = instruments.telemetry.traced(
        "agent.task",
        vec![KeyValue::new("agent.task.id", task as i64)],
        || {
            let mut tokens = 0;
            for tool in TOOLS {
                *calls += 1;
                tokens += call_tool(tool, *calls)?;
            }
            Ok(tokens)
        },
    );
    instruments.active.add(-1.0, &[]);
    let result = [KeyValue::new(
        "outcome",
        if outcome.is_ok() { "ok" } else { "error" },
    )];
    instruments.tasks.add(1.0, &result);
    instruments
        .duration
        .record(started.elapsed().as_secs_f64() * 1000.0, &result);
    match &outcome {
        Ok(tokens) => instruments.tokens.add(*tokens as f64, &[]),
        Err(error) => log::warn!("task {task} failed: {error}"),
    }
    outcome
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = parse_args()?;
    // Everything goes to the embedded dashboard: no OTLP exporter, which by default would
    // send to localhost:4318, the dashboard's own OTLP port, and show everything twice.
    let mut builder = TelemetryBuilder::from_env()
        .with_exporters([])
        .with_scope_name("dashboard_embedded");
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        builder = builder.with_service_name("agent");
    }
    if let Some((grpc, http)) = args.otlp_ports {
        builder = builder.with_dashboard_otlp_ports(grpc, http);
    }
    let guard = builder.init();

    telemetry::register_view("agent.task.duration", ChartType::Heatmap)?;
    telemetry::register_view("agent.tasks", ChartType::Line)?;
    let dashboard = telemetry::start_dashboard_server(args.port)?;
    telemetry::register_view("agent.tokens", ChartType::Bar)?;
    telemetry::register_view("agent.tasks.active", ChartType::Area)?;
    telemetry::register_view("agent.queue.depth", ChartType::Stat)?;
    println!("dashboard: http://{}/", dashboard.ui_addr());
    println!(
        "OTLP from other processes: http://{} (HTTP), {} (gRPC)",
        dashboard.http_addr(),
        dashboard.grpc_addr()
    );
    // The test and other tools read the address as soon as it is printed.
    std::io::stdout().flush()?;

    let instruments = Instruments {
        telemetry: guard.telemetry().clone(),
        tasks: telemetry::create_counter("agent.tasks")?,
        tokens: telemetry::create_counter("agent.tokens")?,
        duration: telemetry::create_histogram("agent.task.duration")?,
        active: telemetry::create_up_down_counter("agent.tasks.active")?,
        queue: telemetry::create_gauge("agent.queue.depth")?,
    };
    let logger = guard.telemetry().logger().clone();
    let deadline = args
        .seconds
        .map(|seconds| Instant::now() + Duration::from_secs(seconds));
    let (mut batches, mut tasks, mut failed, mut calls) = (0_u64, 0_u64, 0_u64, 0_u64);
    while deadline.is_none_or(|deadline| Instant::now() < deadline) {
        batches += 1;
        let batch = telemetry::start_span("agent.batch", None);
        batch.set_attribute(KeyValue::new("agent.batch", batches as i64));
        {
            let _current = batch.enter();
            for i in 0..TASKS_PER_BATCH {
                instruments.queue.record((TASKS_PER_BATCH - i) as f64, &[]);
                tasks += 1;
                if run_task(&instruments, tasks, &mut calls).is_err() {
                    failed += 1;
                }
            }
            instruments.queue.record(0.0, &[]);
            logger.emit(
                LogRecord::new(Severity::INFO)
                    .with_body(format!("batch {batches} done: {tasks} tasks so far")),
            );
        }
        drop(batch);
        // Every open page sees this batch now, not at the next tick.
        telemetry::update_display();
        std::thread::sleep(PAUSE);
    }

    println!(
        "dashboard_embedded done: batches={batches} tasks={tasks} failed={failed} tool_calls={calls}"
    );
    dashboard.shutdown()?;
    drop(guard);
    Ok(())
}
