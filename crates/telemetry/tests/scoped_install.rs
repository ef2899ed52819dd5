//! Scoped installs, `#[traced]` through the facade, and the `log`/`tracing` bridges. They
//! share the process-wide pipeline, so this file's tests take turns.

use std::sync::{Mutex, MutexGuard};

use telemetry::logs::InMemoryLogExporter;
use telemetry::prelude::*;
use telemetry::span::InMemorySpanExporter;

type TestResult = Result<(), Box<dyn std::error::Error>>;

static TURN: Mutex<()> = Mutex::new(());

fn turn() -> MutexGuard<'static, ()> {
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn pipeline()
-> Result<(Telemetry, InMemorySpanExporter, InMemoryLogExporter), telemetry::BuildError> {
    let spans = InMemorySpanExporter::new();
    let logs = InMemoryLogExporter::new();
    let telemetry = Telemetry::builder()
        .with_exporters([])
        .with_span_exporter(spans.clone())
        .with_log_exporter(logs.clone())
        .build()?;
    Ok((telemetry, spans, logs))
}

#[traced(name = "checkout", attributes(tier = "gold"))]
fn checkout(amount: i64) -> Result<i64, std::num::TryFromIntError> {
    u8::try_from(amount).map(i64::from)
}

#[test]
fn scoped_installs_nest_and_restore() -> TestResult {
    let _turn = turn();
    let (outer, outer_spans, _) = pipeline()?;
    let (inner, inner_spans, _) = pipeline()?;
    assert!(telemetry::global().is_disabled());
    {
        let _outer = outer.install();
        drop(telemetry::start_span("to-outer", None));
        {
            let _inner = inner.install();
            drop(telemetry::start_span("to-inner", None));
            assert!(checkout(300).is_err());
            assert_eq!(checkout(3)?, 3);
        }
        drop(telemetry::start_span("to-outer-again", None));
    }
    assert!(telemetry::global().is_disabled());
    drop(telemetry::start_span("to-nobody", None));
    outer.force_flush()?;
    inner.force_flush()?;

    let names = |exporter: &InMemorySpanExporter| -> Vec<String> {
        let mut names: Vec<String> = exporter
            .finished_spans()
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names(&outer_spans), ["to-outer", "to-outer-again"]);
    assert_eq!(names(&inner_spans), ["checkout", "checkout", "to-inner"]);
    let failed = inner_spans
        .finished_spans()
        .into_iter()
        .filter(|s| s.name.as_str() == "checkout" && s.status != Status::Unset)
        .count();
    assert_eq!(failed, 1);
    Ok(())
}

#[test]
fn log_and_tracing_records_reach_the_installed_pipeline_with_the_trace() -> TestResult {
    let _turn = turn();
    let (telemetry, _, logs) = pipeline()?;
    let _installed = telemetry.install();
    let span = telemetry::start_span("logging", None);
    {
        let _current = span.enter();
        log::warn!(target: "bridge-test", "from log");
        log::debug!("below the default level: dropped");
        tracing::error!(answer = 42, "from tracing");
    }
    telemetry.force_flush()?;
    let records = logs.records();
    let bodies: Vec<String> = records.iter().map(|r| r.body.to_string()).collect();
    assert_eq!(bodies, ["from log", "from tracing"], "{records:#?}");
    assert!(
        records
            .iter()
            .all(|r| r.trace_id == span.span_context().trace_id())
    );
    assert!(
        records[1]
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "answer" && kv.value == Value::I64(42))
    );
    Ok(())
}

#[test]
fn guards_dropped_out_of_order_remove_only_their_own_pipeline() -> TestResult {
    let _turn = turn();
    let (first, first_spans, _) = pipeline()?;
    let (second, second_spans, _) = pipeline()?;
    let first_guard = first.install();
    let second_guard = second.install();
    drop(first_guard);
    // The later install is still the current one.
    drop(telemetry::start_span("while-second", None));
    drop(second_guard);
    assert!(telemetry::global().is_disabled());
    drop(telemetry::start_span("after-both", None));
    first.force_flush()?;
    second.force_flush()?;
    assert!(first_spans.finished_spans().is_empty());
    let names: Vec<String> = second_spans
        .finished_spans()
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["while-second"]);
    Ok(())
}
