//! What the integration tests share: one global provider per test binary, and lookups.

use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use telemetry_core::Value;
use telemetry_span::{InMemorySpanExporter, Sampler, SpanData, TracerProvider, global};

/// Installs (once per process) a provider that exports synchronously to memory, then takes
/// the lock that serializes the tests of this binary and empties the exporter.
pub(crate) fn exporter() -> (MutexGuard<'static, ()>, InMemorySpanExporter) {
    static LOCK: Mutex<()> = Mutex::new(());
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    let lock = LOCK.lock().unwrap_or_else(PoisonError::into_inner);
    let exporter = EXPORTER
        .get_or_init(|| {
            let exporter = InMemorySpanExporter::new();
            let provider = TracerProvider::builder()
                .with_sampler(Sampler::AlwaysOn)
                .with_simple_exporter(exporter.clone())
                .build();
            global::set_tracer_provider(provider);
            exporter
        })
        .clone();
    exporter.reset();
    (lock, exporter)
}

/// The only span whose name ends with `suffix`.
pub(crate) fn span<'a>(spans: &'a [SpanData], suffix: &str) -> &'a SpanData {
    let mut found = spans.iter().filter(|span| span.name.ends_with(suffix));
    let span = found
        .next()
        .unwrap_or_else(|| panic!("no span named *{suffix} in {spans:#?}"));
    assert!(found.next().is_none(), "several spans named *{suffix}");
    span
}

/// The value of attribute `key`.
pub(crate) fn attribute<'a>(span: &'a SpanData, key: &str) -> &'a Value {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .map(|kv| &kv.value)
        .unwrap_or_else(|| panic!("no attribute {key} in {:?}", span.attributes))
}

/// The `exception` event's (type, message).
pub(crate) fn exception(span: &SpanData) -> (String, String) {
    let events: Vec<_> = span
        .events
        .iter()
        .filter(|e| e.name == "exception")
        .collect();
    assert_eq!(events.len(), 1, "{:?}", span.events);
    let get = |key: &str| {
        events[0]
            .attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_str())
            .unwrap_or_else(|| panic!("no {key}"))
            .to_owned()
    };
    (get("exception.type"), get("exception.message"))
}
