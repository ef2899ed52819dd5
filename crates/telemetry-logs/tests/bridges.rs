//! The `log` and `tracing` bridges, without installing anything process-wide: the `log`
//! bridge called directly, the tracing layer under a scoped dispatcher.

use std::sync::Arc;

use log::Log;
use telemetry_context::{Context, SpanContext, TraceFlags, TraceState};
use telemetry_core::{KeyValue, Resource, SpanId, TraceId, Value};
use telemetry_logs::{
    InMemoryLogExporter, LogBridge, LogRecord, LoggerProvider, Severity, TracingLayer,
};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

fn pipeline(min: Severity) -> (LoggerProvider, InMemoryLogExporter) {
    let exporter = InMemoryLogExporter::new();
    let provider = LoggerProvider::builder()
        .with_resource(Resource::empty())
        .with_min_severity(min)
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

fn span() -> SpanContext {
    SpanContext::new(
        TraceId::random(),
        SpanId::random(),
        TraceFlags::SAMPLED,
        false,
        TraceState::EMPTY,
    )
}

fn attribute<'a>(record: &'a LogRecord, key: &str) -> Option<&'a Value> {
    record
        .attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
}

#[test]
fn log_records_become_log_records() {
    let (provider, exporter) = pipeline(Severity::UNSPECIFIED);
    let bridge = LogBridge::new(&provider);
    let parent = span();
    let pairs: [(&str, i64); 2] = [("user.id", 7), ("attempt", 2)];
    let _guard = Context::new().with_span_context(parent.clone()).attach();
    bridge.log(
        &log::Record::builder()
            .level(log::Level::Warn)
            .target("billing")
            .args(format_args!("charge {} failed", 42))
            .key_values(&pairs)
            .build(),
    );
    let records = exporter.records();
    let record = &records[0];
    assert_eq!(record.severity, Severity::WARN);
    assert_eq!(record.severity_text.as_deref(), Some("WARN"));
    assert_eq!(record.body, Value::from("charge 42 failed"));
    assert_eq!(record.scope.name(), "log");
    assert_eq!(
        attribute(record, "code.namespace"),
        Some(&Value::from("billing"))
    );
    assert_eq!(attribute(record, "user.id"), Some(&Value::from(7i64)));
    assert_eq!(attribute(record, "attempt"), Some(&Value::from(2i64)));
    assert_eq!(
        (record.trace_id, record.span_id),
        (parent.trace_id(), parent.span_id())
    );
    assert!(record.timestamp.is_some());
}

#[test]
fn log_levels_map_to_severities_and_respect_the_minimum() {
    let (provider, exporter) = pipeline(Severity::INFO);
    let bridge = LogBridge::new(&provider);
    let table = [
        (log::Level::Error, Severity::ERROR, true),
        (log::Level::Warn, Severity::WARN, true),
        (log::Level::Info, Severity::INFO, true),
        (log::Level::Debug, Severity::DEBUG, false),
        (log::Level::Trace, Severity::TRACE, false),
    ];
    for (level, _, expected) in table {
        let metadata = log::Metadata::builder().level(level).build();
        assert_eq!(bridge.enabled(&metadata), expected, "{level}");
        bridge.log(
            &log::Record::builder()
                .level(level)
                .args(format_args!("at {}", level))
                .build(),
        );
    }
    let severities: Vec<Severity> = exporter.records().iter().map(|r| r.severity).collect();
    let expected: Vec<Severity> = table
        .iter()
        .filter(|(_, _, kept)| *kept)
        .map(|(_, severity, _)| *severity)
        .collect();
    assert_eq!(severities, expected);
}

#[test]
fn tracing_events_become_log_records() {
    let (provider, exporter) = pipeline(Severity::UNSPECIFIED);
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new(&provider));
    let parent = span();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(
            user.id = 7u64,
            ratio = 0.5,
            ok = true,
            name = "ada",
            big = u64::MAX,
            debug = ?vec![1, 2],
            "checkout {}",
            "done"
        );
        let _guard = Context::new().with_span_context(parent.clone()).attach();
        let tracing_span = tracing::info_span!("work");
        let _entered = tracing_span.enter();
        tracing::error!(message = "inside");
    });
    let records = exporter.records();
    assert_eq!(records.len(), 2);
    let outside = &records[0];
    assert_eq!(outside.body, Value::from("checkout done"));
    assert_eq!(outside.severity, Severity::INFO);
    assert_eq!(outside.scope.name(), "tracing");
    assert_eq!(attribute(outside, "user.id"), Some(&Value::from(7i64)));
    assert_eq!(attribute(outside, "ratio"), Some(&Value::from(0.5)));
    assert_eq!(attribute(outside, "ok"), Some(&Value::from(true)));
    assert_eq!(attribute(outside, "name"), Some(&Value::from("ada")));
    assert_eq!(
        attribute(outside, "big"),
        Some(&Value::from(u64::MAX.to_string()))
    );
    assert_eq!(attribute(outside, "debug"), Some(&Value::from("[1, 2]")));
    assert_eq!(
        attribute(outside, "code.namespace"),
        Some(&Value::from(module_path!()))
    );
    assert!(!outside.has_trace_context(), "no span was current");
    let inside = &records[1];
    assert_eq!(inside.body, Value::from("inside"));
    assert_eq!(inside.severity, Severity::ERROR);
    assert_eq!(
        (inside.trace_id, inside.span_id),
        (parent.trace_id(), parent.span_id()),
        "our current span, whatever tracing span is entered"
    );
}

#[test]
fn tracing_levels_map_to_severities() {
    let (provider, exporter) = pipeline(Severity::UNSPECIFIED);
    let subscriber = tracing_subscriber::registry().with(TracingLayer::new(&provider));
    tracing::subscriber::with_default(subscriber, || {
        tracing::error!("e");
        tracing::warn!("w");
        tracing::info!("i");
        tracing::debug!("d");
        tracing::trace!("t");
    });
    let got: Vec<(String, u8, Option<String>)> = exporter
        .records()
        .iter()
        .map(|r| {
            (
                r.body.to_string(),
                r.severity.number(),
                r.severity_text.as_ref().map(ToString::to_string),
            )
        })
        .collect();
    let expected: Vec<(String, u8, Option<String>)> = [
        ("e", 17, "ERROR"),
        ("w", 13, "WARN"),
        ("i", 9, "INFO"),
        ("d", 5, "DEBUG"),
        ("t", 1, "TRACE"),
    ]
    .iter()
    .map(|(b, n, t)| ((*b).to_owned(), *n, Some((*t).to_owned())))
    .collect();
    assert_eq!(got, expected);
}

/// Stands in for a span bridge that records ids in a tracing span's extensions without
/// attaching a context.
struct StoreIds(Arc<SpanContext>);

impl<S> Layer<S> for StoreIds
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        _attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: LayerContext<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert((*self.0).clone());
        }
    }
}

#[test]
fn tracing_spans_with_ids_in_their_extensions_stamp_their_events() {
    let (provider, exporter) = pipeline(Severity::UNSPECIFIED);
    let ids = Arc::new(span());
    let subscriber = tracing_subscriber::registry()
        .with(StoreIds(Arc::clone(&ids)))
        .with(TracingLayer::new(&provider));
    let current = span();
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!("outside any span");
        let outer = tracing::info_span!("outer");
        let _outer = outer.enter();
        let inner = tracing::debug_span!("inner");
        let _inner = inner.enter();
        tracing::info!("inside tracing spans");
        let _guard = Context::new().with_span_context(current.clone()).attach();
        tracing::info!("inside our span too");
    });
    let records = exporter.records();
    let stamped: Vec<(String, SpanId)> = records
        .iter()
        .map(|r| (r.body.to_string(), r.span_id))
        .collect();
    assert_eq!(
        stamped,
        vec![
            ("outside any span".to_owned(), SpanId::INVALID),
            ("inside tracing spans".to_owned(), ids.span_id()),
            ("inside our span too".to_owned(), current.span_id()),
        ]
    );
    assert_eq!(records[1].trace_id, ids.trace_id());
    assert_eq!(
        records[0].attributes,
        vec![KeyValue::new("code.namespace", module_path!())]
    );
}
