//! The `log` bridge installed as the process's logger (its own test binary, since `log`
//! allows one logger per process).

use telemetry_context::{Context, SpanContext, TraceFlags, TraceState};
use telemetry_core::{Resource, SpanId, TraceId, Value};
use telemetry_logs::{InMemoryLogExporter, LogBridge, LoggerProvider, Severity};

#[test]
fn log_macros_reach_the_pipeline() {
    let exporter = InMemoryLogExporter::new();
    let provider = LoggerProvider::builder()
        .with_resource(Resource::empty())
        .with_simple_exporter(exporter.clone())
        .build();
    LogBridge::new(&provider)
        .install(log::LevelFilter::Debug)
        .expect("no other logger");
    assert!(
        LogBridge::new(&provider)
            .install(log::LevelFilter::Trace)
            .is_err(),
        "one logger per process"
    );

    log::error!("e");
    log::warn!("w");
    log::info!(order_id = 42, paid = true, note = "fast"; "order {} placed", 42);
    log::debug!("d");
    log::trace!("filtered by log's max level");

    let span = SpanContext::new(
        TraceId::random(),
        SpanId::random(),
        TraceFlags::SAMPLED,
        false,
        TraceState::EMPTY,
    );
    let worker = std::thread::spawn({
        let cx = Context::new().with_span_context(span.clone());
        move || cx.run(|| log::warn!("from a thread inside a span"))
    });
    worker.join().expect("thread");

    let records = exporter.records();
    let got: Vec<(String, Severity)> = records
        .iter()
        .map(|r| (r.body.to_string(), r.severity))
        .collect();
    assert_eq!(
        got,
        vec![
            ("e".to_owned(), Severity::ERROR),
            ("w".to_owned(), Severity::WARN),
            ("order 42 placed".to_owned(), Severity::INFO),
            ("d".to_owned(), Severity::DEBUG),
            ("from a thread inside a span".to_owned(), Severity::WARN),
        ]
    );
    let order = &records[2];
    let attribute = |key: &str| {
        order
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .map(|kv| kv.value.clone())
    };
    assert_eq!(attribute("order_id"), Some(Value::from(42i64)));
    assert_eq!(attribute("paid"), Some(Value::from(true)));
    assert_eq!(attribute("note"), Some(Value::from("fast")));
    assert_eq!(
        attribute("code.namespace"),
        Some(Value::from(module_path!()))
    );
    assert!(!order.has_trace_context());
    assert_eq!(
        (records[4].trace_id, records[4].span_id),
        (span.trace_id(), span.span_id())
    );

    provider.shutdown().expect("shutdown");
    log::error!("after shutdown");
    assert_eq!(exporter.records().len(), 5);
}
