//! `tracing` spans bridged to our spans through the process-wide subscriber that installing
//! a pipeline sets up (the `tracing` feature). One installed pipeline: tests take turns.

use std::sync::{Mutex, MutexGuard};

use telemetry::logs::InMemoryLogExporter;
use telemetry::prelude::*;
use telemetry::span::{InMemorySpanExporter, SpanData};

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

fn find<'a>(spans: &'a [SpanData], name: &str) -> Result<&'a SpanData, String> {
    spans
        .iter()
        .find(|s| s.name.as_str() == name)
        .ok_or_else(|| format!("no span {name:?} in {spans:#?}"))
}

fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[tracing::instrument(fields(otel.kind = "client"))]
fn fetch(id: u64) -> u64 {
    tracing::info!("fetching");
    id * 2
}

#[test]
fn tracing_spans_nest_with_ours_and_carry_fields_events_and_status() -> TestResult {
    let _turn = turn();
    let (telemetry, spans, logs) = pipeline()?;
    let _installed = telemetry.install();

    let ours = telemetry::start_span("ours.root", None);
    {
        let _current = ours.enter();
        let outer = tracing::info_span!("outer", user = "ann", retries = 3_i64, ok = true);
        let _outer = outer.enter();
        assert_eq!(fetch(21), 42);
        let inner = tracing::info_span!("inner", otel.status_code = tracing::field::Empty);
        {
            let _inner = inner.enter();
            // A span of ours inside a tracing span is its child.
            drop(telemetry::start_span("ours.leaf", None));
            inner.record("otel.status_code", "error");
        }
        drop(inner);
        let later = tracing::info_span!(parent: None, "detached.root");
        later.follows_from(outer.id());
        drop(later);
    }
    drop(ours);
    telemetry.force_flush()?;

    let finished = spans.finished_spans();
    let root = find(&finished, "ours.root")?;
    let outer = find(&finished, "outer")?;
    let fetch = find(&finished, "fetch")?;
    let inner = find(&finished, "inner")?;
    let leaf = find(&finished, "ours.leaf")?;
    let detached = find(&finished, "detached.root")?;

    assert_eq!(outer.parent_span_id, root.span_context.span_id());
    assert_eq!(fetch.parent_span_id, outer.span_context.span_id());
    assert_eq!(inner.parent_span_id, outer.span_context.span_id());
    assert_eq!(leaf.parent_span_id, inner.span_context.span_id());
    for span in [outer, fetch, inner, leaf] {
        assert_eq!(span.span_context.trace_id(), root.span_context.trace_id());
    }
    assert!(!detached.parent_span_id.is_valid());
    assert_ne!(
        detached.span_context.trace_id(),
        root.span_context.trace_id()
    );
    assert_eq!(detached.links.len(), 1);
    assert_eq!(
        detached.links[0].span_context.span_id(),
        outer.span_context.span_id()
    );

    assert_eq!(
        attribute(outer, "user").and_then(Value::as_str),
        Some("ann")
    );
    assert_eq!(attribute(outer, "retries").and_then(Value::as_i64), Some(3));
    assert_eq!(attribute(outer, "ok").and_then(Value::as_bool), Some(true));
    assert_eq!(attribute(fetch, "id").and_then(Value::as_i64), Some(21));
    assert_eq!(fetch.kind, SpanKind::Client);
    assert!(attribute(fetch, "otel.kind").is_none());
    assert_eq!(inner.status, Status::error(""));
    assert_eq!(outer.status, Status::Unset);

    // The event inside `fetch` is a log record of that span.
    let records = logs.records();
    let fetching = records
        .iter()
        .find(|r| r.body.to_string() == "fetching")
        .ok_or_else(|| format!("no log record in {records:#?}"))?;
    assert_eq!(fetching.span_id, fetch.span_context.span_id());

    // After exit, the current context is back to none.
    assert!(telemetry::get_current_span().is_none());
    Ok(())
}

#[test]
fn tracing_spans_entered_across_threads_and_exited_out_of_order_restore_the_context() -> TestResult
{
    let _turn = turn();
    let (telemetry, spans, _) = pipeline()?;
    let _installed = telemetry.install();

    let a = tracing::info_span!("a");
    let b = tracing::info_span!("b");
    let entered_a = a.enter();
    let entered_b = b.enter();
    // Exiting `a` first leaves `b`, still entered, current; exiting `b` then leaves
    // nothing current.
    drop(entered_a);
    let current = telemetry::get_current_span().map(|s| s.span_context().span_id());
    drop(entered_b);
    assert!(telemetry::get_current_span().is_none());

    let handle = a.clone();
    std::thread::spawn(move || {
        let _entered = handle.enter();
        drop(telemetry::start_span("on.thread", None));
    })
    .join()
    .map_err(|_| "the thread panicked")?;
    drop((a, b));
    telemetry.force_flush()?;

    let finished = spans.finished_spans();
    let a = find(&finished, "a")?;
    let b = find(&finished, "b")?;
    assert_eq!(current, Some(b.span_context.span_id()));
    let on_thread = find(&finished, "on.thread")?;
    assert_eq!(on_thread.parent_span_id, a.span_context.span_id());
    Ok(())
}

#[test]
fn verbose_and_suppressed_spans_are_not_bridged_and_stay_transparent() -> TestResult {
    let _turn = turn();
    let (telemetry, spans, _) = pipeline()?;
    let _installed = telemetry.install();

    let outer = tracing::info_span!("kept");
    {
        let _outer = outer.enter();
        let debug = tracing::debug_span!("too.verbose");
        let _debug = debug.enter();
        drop(telemetry::start_span("inside.debug", None));
        let _quiet = telemetry::logs::SuppressGuard::new();
        drop(tracing::info_span!("during.export").entered());
    }
    drop(outer);
    telemetry.force_flush()?;

    let finished = spans.finished_spans();
    let kept = find(&finished, "kept")?;
    let inside = find(&finished, "inside.debug")?;
    assert_eq!(inside.parent_span_id, kept.span_context.span_id());
    assert!(find(&finished, "too.verbose").is_err());
    assert!(find(&finished, "during.export").is_err());
    assert_eq!(finished.len(), 2, "{finished:#?}");
    Ok(())
}

#[test]
fn tracing_spans_follow_whichever_pipeline_is_installed() -> TestResult {
    let _turn = turn();
    let (first, first_spans, _) = pipeline()?;
    let (second, second_spans, _) = pipeline()?;
    {
        let _installed = first.install();
        drop(tracing::info_span!("into.first").entered());
        let _nested = second.install();
        drop(tracing::info_span!("into.second").entered());
    }
    // Nothing installed: the span does not record and reaches neither.
    drop(tracing::info_span!("into.none").entered());
    first.force_flush()?;
    second.force_flush()?;
    let names = |spans: &InMemorySpanExporter| -> Vec<String> {
        spans
            .finished_spans()
            .iter()
            .map(|s| s.name.to_string())
            .collect()
    };
    assert_eq!(names(&first_spans), ["into.first"]);
    assert_eq!(names(&second_spans), ["into.second"]);
    let scope = &first_spans.finished_spans()[0].scope;
    assert_eq!(
        scope.name(),
        telemetry::span::TracingSpanLayer::GLOBAL_SCOPE
    );
    Ok(())
}
