//! The process-wide provider (its own test binary, since it changes process state).

use telemetry_core::KeyValue;
use telemetry_span::{InMemorySpanExporter, Sampler, TracerProvider, global};

fn provider(exporter: &InMemorySpanExporter) -> TracerProvider {
    TracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_simple_exporter(exporter.clone())
        .build()
}

#[test]
fn spans_follow_whichever_provider_is_installed() {
    // Nothing installed: spans do not record but still have valid ids.
    let span = global::start_span("scope", "before", vec![]);
    assert!(!span.is_recording());
    assert!(span.span_context().is_valid());
    drop(span);

    let first = InMemorySpanExporter::new();
    assert!(global::set_tracer_provider(provider(&first)).is_none());
    drop(global::start_span(
        "scope",
        "one",
        vec![KeyValue::new("k", 1i64)],
    ));
    // Another thread sees the same provider.
    std::thread::spawn(|| drop(global::start_span("scope", "two", vec![])))
        .join()
        .expect("thread");

    let second = InMemorySpanExporter::new();
    let previous = global::set_tracer_provider(provider(&second)).expect("first provider");
    drop(global::start_span("other-scope", "three", vec![]));
    previous.shutdown().expect("shutdown");

    let names = |e: &InMemorySpanExporter| {
        e.finished_spans()
            .iter()
            .map(|s| s.name.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&first), vec!["one", "two"]);
    assert_eq!(names(&second), vec!["three"]);
    assert_eq!(first.finished_spans()[0].scope.name(), "scope");
    assert_eq!(
        first.finished_spans()[0].attributes,
        vec![KeyValue::new("k", 1i64)]
    );
    assert_eq!(second.finished_spans()[0].scope.name(), "other-scope");

    let taken = global::take_tracer_provider().expect("second provider");
    assert!(!global::start_span("scope", "after", vec![]).is_recording());
    taken.shutdown().expect("shutdown");
    assert_eq!(global::tracer("scope").scope().name(), "scope");
}
