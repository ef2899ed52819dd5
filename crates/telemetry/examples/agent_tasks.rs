//! An agent that decomposes a task recursively into subtasks, half of them on OS threads
//! and half as tokio tasks, all in one trace: the context follows every hop. Each level has
//! its own metric series, and a failing subtask marks its span and its ancestors' ERROR.
//!
//! ```text
//! cargo run -p telemetry --example agent_tasks
//! ```
#![allow(
    clippy::print_stdout,
    reason = "an example reports to its user on stdout"
)]

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use telemetry::prelude::*;
use telemetry::{ExporterKind, TelemetryBuilder};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// How deep the agent plans: the root is level 0, leaves are at this level.
const MAX_DEPTH: u32 = 3;
/// Subtasks per task.
const BRANCHING: u32 = 3;

/// Tasks that returned an error, counted as their spans end.
static FAILED_TASKS: AtomicU32 = AtomicU32::new(0);
/// Every task run.
static ALL_TASKS: AtomicU32 = AtomicU32::new(0);

/// Why a task failed.
#[derive(Debug)]
enum TaskError {
    /// A leaf the agent could not solve.
    Unsolvable(String),
    /// One or more subtasks failed.
    Subtasks { task: String, failed: usize },
    /// A subtask's thread or tokio task died.
    Lost(String),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Unsolvable(task) => write!(f, "task {task} is unsolvable"),
            TaskError::Subtasks { task, failed } => {
                write!(f, "task {task}: {failed} subtask(s) failed")
            }
            TaskError::Lost(task) => write!(f, "task {task} was lost"),
        }
    }
}

impl Error for TaskError {}

type TaskFuture = Pin<Box<dyn Future<Output = Result<u32, TaskError>> + Send>>;

/// Boxed so the recursion has a nameable type.
fn solve_boxed(task: String, depth: u32, runtime: Handle) -> TaskFuture {
    Box::pin(solve(task, depth, runtime))
}

/// One task: a span (child of the caller's, wherever it runs), one count and one duration
/// at its level, and either a leaf's answer or its subtasks' sum.
#[traced(name = "agent.task", fields(task, depth))]
async fn solve(task: String, depth: u32, runtime: Handle) -> Result<u32, TaskError> {
    let started = Instant::now();
    let level = [KeyValue::new("agent.level", i64::from(depth))];
    ALL_TASKS.fetch_add(1, Ordering::Relaxed);
    let _ = telemetry::record_metric("agent.tasks", 1, &level);

    let outcome = if depth == MAX_DEPTH {
        solve_leaf(&task).await
    } else {
        solve_subtasks(&task, depth, &runtime).await
    };

    let _ = telemetry::record_metric(
        "agent.task.duration",
        started.elapsed().as_secs_f64(),
        &level,
    );
    if outcome.is_err() {
        FAILED_TASKS.fetch_add(1, Ordering::Relaxed);
        let _ = telemetry::record_metric("agent.task.errors", 1, &level);
    }
    outcome
}

/// A leaf "thinks" briefly; a few are unsolvable, deterministically.
async fn solve_leaf(task: &str) -> Result<u32, TaskError> {
    tokio::time::sleep(Duration::from_millis(2)).await;
    let digits: u32 = task.chars().filter_map(|c| c.to_digit(10)).sum();
    if digits % 4 == 3 {
        log::warn!("giving up on {task}");
        return Err(TaskError::Unsolvable(task.to_owned()));
    }
    Ok(digits)
}

/// Even subtasks go to fresh OS threads, odd ones to tokio tasks; both carry the current
/// context, so their spans are children of this one.
async fn solve_subtasks(task: &str, depth: u32, runtime: &Handle) -> Result<u32, TaskError> {
    let mut pending = Vec::new();
    for i in 0..BRANCHING {
        let subtask = format!("{task}.{i}");
        let future = solve_boxed(subtask.clone(), depth + 1, runtime.clone());
        let (done, result) = oneshot::channel();
        if i % 2 == 0 {
            let cx = Context::current();
            let runtime = runtime.clone();
            std::thread::spawn(move || {
                let _ = done.send(runtime.block_on(future.with_context(cx)));
            });
        } else {
            let future = future.with_current_context();
            tokio::spawn(async move {
                let _ = done.send(future.await);
            });
        }
        pending.push((subtask, result));
    }
    let mut sum = 0;
    let mut failed = 0;
    for (subtask, result) in pending {
        match result.await {
            Ok(Ok(value)) => sum += value,
            Ok(Err(_)) => failed += 1,
            Err(_) => return Err(TaskError::Lost(subtask)),
        }
    }
    if failed > 0 {
        return Err(TaskError::Subtasks {
            task: task.to_owned(),
            failed,
        });
    }
    Ok(sum)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut builder = TelemetryBuilder::from_env()
        .with_exporters([ExporterKind::Console])
        .with_scope_name("agent_tasks");
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        builder = builder.with_service_name("agent");
    }
    let guard = builder.init();
    telemetry::create_counter("agent.tasks")?;
    telemetry::create_counter("agent.task.errors")?;
    telemetry::create_histogram("agent.task.duration")?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()?;
    let root = telemetry::start_span("agent.run", None);
    let trace_id = root.span_context().trace_id();
    let outcome = runtime.block_on(
        solve_boxed("0".to_owned(), 0, runtime.handle().clone())
            .with_context(root.context_with(&Context::current())),
    );
    if let Err(error) = &outcome {
        root.set_status(Status::error(error.to_string()));
    }
    drop(root);
    drop(runtime);

    println!(
        "agent done: tasks={} error_spans={} trace_id={trace_id} outcome={}",
        ALL_TASKS.load(Ordering::Relaxed),
        // The root span is ERROR too when the outcome is.
        FAILED_TASKS.load(Ordering::Relaxed) + u32::from(outcome.is_err()),
        match &outcome {
            Ok(sum) => format!("ok({sum})"),
            Err(error) => format!("error({error})"),
        }
    );
    drop(guard);
    Ok(())
}
