//! The `tracing` bridges together: `TracingSpanLayer` makes tracing spans ours, and
//! `telemetry-logs`' `TracingLayer` turns tracing events into log records carrying the ids of
//! the span they happen in, in plain threads and in tasks of a multi-thread tokio runtime.
//! Nothing is installed process-wide: every test scopes its own dispatcher.

use std::collections::HashMap;
use std::time::Duration;

use telemetry_context::{Context, SpanContext};
use telemetry_core::{Resource, SpanId, TraceId, Value};
use telemetry_logs::{InMemoryLogExporter, LogRecord, LoggerProvider, Severity, TracingLayer};
use telemetry_span::{InMemorySpanExporter, Sampler, SpanData, TracerProvider, TracingSpanLayer};
use tracing::instrument::WithSubscriber;
use tracing::{Dispatch, Instrument};
use tracing_subscriber::layer::SubscriberExt;

#[path = "../examples/tracing_bridge.rs"]
mod example;

struct Pipelines {
    spans: InMemorySpanExporter,
    records: InMemoryLogExporter,
    tracer_provider: TracerProvider,
    logger_provider: LoggerProvider,
    dispatch: Dispatch,
}

fn pipelines(sampler: Sampler) -> Pipelines {
    let spans = InMemorySpanExporter::new();
    let tracer_provider = TracerProvider::builder()
        .with_resource(Resource::empty())
        .with_sampler(sampler)
        .with_simple_exporter(spans.clone())
        .build();
    let records = InMemoryLogExporter::new();
    let logger_provider = LoggerProvider::builder()
        .with_resource(Resource::empty())
        .with_min_severity(Severity::TRACE)
        .with_simple_exporter(records.clone())
        .build();
    let dispatch = Dispatch::new(
        tracing_subscriber::registry()
            .with(TracingSpanLayer::new(tracer_provider.tracer("bridge")))
            .with(TracingLayer::new(&logger_provider)),
    );
    Pipelines {
        spans,
        records,
        tracer_provider,
        logger_provider,
        dispatch,
    }
}

fn by_name<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|span| span.name == name)
        .unwrap_or_else(|| panic!("no span named {name}"))
}

fn body(record: &LogRecord) -> String {
    record.body.to_string()
}

fn record<'a>(records: &'a [LogRecord], text: &str) -> &'a LogRecord {
    records
        .iter()
        .find(|record| body(record) == text)
        .unwrap_or_else(|| panic!("no record {text:?}"))
}

fn attribute<'a>(record: &'a LogRecord, key: &str) -> Option<&'a Value> {
    record
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

fn ids(span: &SpanData) -> (TraceId, SpanId) {
    (span.span_context.trace_id(), span.span_context.span_id())
}

fn record_ids(record: &LogRecord) -> (TraceId, SpanId) {
    (record.trace_id, record.span_id)
}

#[test]
fn events_inside_bridged_spans_carry_their_ids() {
    let p = pipelines(Sampler::AlwaysOn);
    let tracer = p.tracer_provider.tracer("direct");
    tracing::dispatcher::with_default(&p.dispatch, || {
        tracing::info!("outside");
        let request = tracing::info_span!("request");
        request.in_scope(|| {
            tracing::info!("in request");
            tracing::info_span!("query").in_scope(|| tracing::warn!("in query"));
            tracer.in_span("ours", |_| tracing::info!("in our span"));
            tracing::info!("back in request");
        });
        // Not entered: the layer finds the ids in the span's extensions.
        tracing::info!(parent: &request, "explicit parent");
        std::thread::scope(|scope| {
            scope.spawn(|| {
                tracing::dispatcher::with_default(&p.dispatch, || {
                    let _entered = request.enter();
                    tracing::info!("other thread");
                });
            });
        });
    });
    let spans = p.spans.finished_spans();
    let records = p.records.records();
    let (request, query, ours) = (
        by_name(&spans, "request"),
        by_name(&spans, "query"),
        by_name(&spans, "ours"),
    );
    assert!(!record(&records, "outside").has_trace_context());
    for text in [
        "in request",
        "back in request",
        "explicit parent",
        "other thread",
    ] {
        assert_eq!(record_ids(record(&records, text)), ids(request), "{text}");
    }
    assert_eq!(record_ids(record(&records, "in query")), ids(query));
    assert_eq!(record_ids(record(&records, "in our span")), ids(ours));
    assert_eq!(ours.parent_span_id, request.span_context.span_id());
    assert!(record(&records, "in query").trace_flags.is_sampled());
    p.tracer_provider.shutdown().expect("span shutdown");
    p.logger_provider.shutdown().expect("log shutdown");
}

#[test]
fn unsampled_spans_still_give_their_ids_to_records() {
    let p = pipelines(Sampler::AlwaysOff);
    let context = tracing::dispatcher::with_default(&p.dispatch, || {
        tracing::info_span!("dropped").in_scope(|| {
            tracing::info!("inside");
            Context::current_span_context()
        })
    });
    let context = context.expect("a context");
    assert!(p.spans.finished_spans().is_empty());
    let records = p.records.records();
    let inside = record(&records, "inside");
    assert_eq!(inside.span_id, context.span_id());
    assert!(!inside.trace_flags.is_sampled());
}

/// One task of the async test: a span around the whole task, a child span around one step,
/// and events before, inside and after the step, with `.await`s that let the runtime move
/// the task to another worker.
async fn task(n: i64) {
    tracing::info!(task = n, "start");
    tokio::task::yield_now().await;
    async {
        tracing::info!(task = n, "step begins");
        tokio::time::sleep(Duration::from_millis(1)).await;
        tracing::info!(task = n, "step ends");
    }
    .instrument(tracing::info_span!("step", task = n))
    .await;
    tokio::task::yield_now().await;
    tracing::info!(task = n, "end");
}

#[test]
fn instrumented_futures_on_a_multi_thread_runtime() {
    const TASKS: i64 = 16;
    let p = pipelines(Sampler::AlwaysOn);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut handles = Vec::new();
        for n in 0..TASKS {
            let future = task(n)
                .instrument(tracing::dispatcher::with_default(&p.dispatch, || {
                    tracing::info_span!("task", task = n)
                }))
                .with_subscriber(p.dispatch.clone());
            handles.push(tokio::spawn(future));
        }
        // A task of no span, polled between the others on the same workers: no context may
        // leak into it.
        let bystander = tokio::spawn(
            async {
                for _ in 0..200 {
                    assert_eq!(Context::current_span_context(), None, "a context leaked");
                    tracing::info!("bystander");
                    tokio::task::yield_now().await;
                }
            }
            .with_subscriber(p.dispatch.clone()),
        );
        for handle in handles {
            handle.await.expect("task");
        }
        bystander.await.expect("bystander");
    });
    drop(runtime);

    let spans = p.spans.finished_spans();
    let records = p.records.records();
    assert_eq!(spans.len(), 2 * TASKS as usize);
    let task_of = |span: &SpanData| {
        span.attributes
            .iter()
            .find(|kv| kv.key == "task")
            .and_then(|kv| kv.value.as_i64())
            .expect("a task attribute")
    };
    let mut task_spans: HashMap<i64, &SpanData> = HashMap::new();
    let mut step_spans: HashMap<i64, &SpanData> = HashMap::new();
    for span in &spans {
        let map = if span.name == "task" {
            &mut task_spans
        } else {
            &mut step_spans
        };
        assert!(map.insert(task_of(span), span).is_none(), "one per task");
    }
    for n in 0..TASKS {
        let (task, step) = (task_spans[&n], step_spans[&n]);
        assert_eq!(task.parent_span_id, SpanId::INVALID, "task {n} is a root");
        assert_eq!(step.parent_span_id, task.span_context.span_id(), "task {n}");
        assert_eq!(step.span_context.trace_id(), task.span_context.trace_id());
        for record in records
            .iter()
            .filter(|r| attribute(r, "task").and_then(Value::as_i64) == Some(n))
        {
            let expected = match body(record).as_str() {
                "start" | "end" => task,
                "step begins" | "step ends" => step,
                other => panic!("unexpected record {other}"),
            };
            assert_eq!(
                record_ids(record),
                ids(expected),
                "task {n}: {}",
                body(record)
            );
        }
    }
    let bystanders = records.iter().filter(|r| body(r) == "bystander");
    assert_eq!(bystanders.clone().count(), 200);
    assert!(bystanders.clone().all(|r| !r.has_trace_context()));
    assert_eq!(records.len(), 4 * TASKS as usize + 200);
}

#[test]
fn the_example_runs() {
    example::main().expect("the example runs and its checks pass");
    assert_eq!(
        Context::current_span_context(),
        None::<SpanContext>,
        "the example leaves nothing attached"
    );
}
