//! The logs pipeline end to end: trace correlation, limits, processors, flush and shutdown,
//! dropped-record counts, and arbitrary records.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;
use proptest::prelude::*;
use telemetry_context::{Context, FutureExt, SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId, Value};
use telemetry_logs::{
    BatchConfig, BatchLogProcessor, ExportError, ExportErrorKind, InMemoryLogExporter, LogError,
    LogExporter, LogLimits, LogProcessor, LogRecord, Logger, LoggerProvider, MAX_VALUE_DEPTH,
    Severity, SimpleLogProcessor,
};

fn pipeline() -> (LoggerProvider, InMemoryLogExporter) {
    let exporter = InMemoryLogExporter::new();
    let provider = LoggerProvider::builder()
        .with_resource(Resource::empty())
        .with_limits(LogLimits::default())
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

fn span(flags: TraceFlags) -> SpanContext {
    SpanContext::new(
        TraceId::random(),
        SpanId::random(),
        flags,
        false,
        TraceState::EMPTY,
    )
}

fn ids(record: &LogRecord) -> (TraceId, SpanId, TraceFlags) {
    (record.trace_id, record.span_id, record.trace_flags)
}

fn ids_of(span: &SpanContext) -> (TraceId, SpanId, TraceFlags) {
    (span.trace_id(), span.span_id(), span.flags())
}

const NONE: (TraceId, SpanId, TraceFlags) = (TraceId::INVALID, SpanId::INVALID, TraceFlags::NONE);

fn info(body: &'static str) -> LogRecord {
    LogRecord::new(Severity::INFO).with_body(body)
}

fn by_body(records: &[LogRecord], body: &str) -> LogRecord {
    records
        .iter()
        .find(|r| r.body.as_str() == Some(body))
        .cloned()
        .unwrap_or_else(|| panic!("no record {body:?} in {records:#?}"))
}

#[test]
fn records_carry_the_current_span_on_this_and_other_threads() {
    let (provider, exporter) = pipeline();
    let logger = provider.logger("test");
    let outer = span(TraceFlags::SAMPLED);
    let inner = span(TraceFlags::NONE);

    logger.emit(info("before"));
    {
        let _outer = Context::current().with_span_context(outer.clone()).attach();
        logger.emit(info("outer"));
        {
            let _inner = Context::current().with_span_context(inner.clone()).attach();
            logger.emit(info("inner"));
        }
        let cx = Context::current();
        let worker = logger.clone();
        std::thread::spawn(move || {
            worker.emit(info("thread without context"));
            cx.run(|| worker.emit(info("thread with context")));
        })
        .join()
        .expect("thread");
    }
    logger.emit(info("after"));

    let records = exporter.records();
    assert_eq!(records.len(), 6);
    assert_eq!(ids(&by_body(&records, "before")), NONE);
    assert_eq!(ids(&by_body(&records, "outer")), ids_of(&outer));
    assert_eq!(ids(&by_body(&records, "inner")), ids_of(&inner));
    assert_eq!(ids(&by_body(&records, "thread without context")), NONE);
    assert_eq!(
        ids(&by_body(&records, "thread with context")),
        ids_of(&outer)
    );
    assert_eq!(ids(&by_body(&records, "after")), NONE);
    for record in &records {
        assert_eq!(record.scope.name(), "test");
        assert_ne!(record.observed_timestamp, Timestamp::UNIX_EPOCH);
    }
}

/// Pending on its first poll, ready on the second: an `.await` point whose resumption the
/// test controls.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _: &mut TaskContext<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            Poll::Pending
        }
    }
}

fn thread_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned()
}

#[test]
fn records_keep_the_span_after_an_await_resumed_on_another_thread() {
    let (provider, exporter) = pipeline();
    let logger = provider.logger("test");
    let parent = span(TraceFlags::SAMPLED);
    let task_logger = logger.clone();
    let mut task: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(
        async move {
            task_logger.emit(info("before await").with_attribute("thread", thread_name()));
            YieldOnce(false).await;
            task_logger.emit(info("after await").with_attribute("thread", thread_name()));
        }
        .with_context(Context::new().with_span_context(parent.clone())),
    );
    let poll = |task: &mut Pin<Box<dyn Future<Output = ()> + Send>>| {
        task.as_mut()
            .poll(&mut TaskContext::from_waker(Waker::noop()))
    };
    let mut task = std::thread::Builder::new()
        .name("first".into())
        .spawn(move || {
            assert!(poll(&mut task).is_pending());
            task
        })
        .expect("spawn")
        .join()
        .expect("first thread");
    std::thread::Builder::new()
        .name("second".into())
        .spawn(move || assert!(poll(&mut task).is_ready()))
        .expect("spawn")
        .join()
        .expect("second thread");
    logger.emit(info("outside the task"));

    let records = exporter.records();
    let before = by_body(&records, "before await");
    let after = by_body(&records, "after await");
    assert_eq!(before.attributes[0].value, Value::from("first"));
    assert_eq!(after.attributes[0].value, Value::from("second"));
    assert_eq!(ids(&before), ids_of(&parent));
    assert_eq!(ids(&after), ids_of(&parent));
    assert_eq!(ids(&by_body(&records, "outside the task")), NONE);
}

#[test]
fn records_keep_the_span_across_tokio_tasks() {
    let (provider, exporter) = pipeline();
    let logger = provider.logger("test");
    let parent = span(TraceFlags::SAMPLED);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("runtime");
    let task_logger = logger.clone();
    let cx = Context::new().with_span_context(parent.clone());
    runtime.block_on(async move {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let logger = task_logger.clone();
                tokio::spawn(
                    async move {
                        for _ in 0..3 {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            logger.emit(info("in task"));
                        }
                    }
                    .with_context(cx.clone()),
                )
            })
            .collect();
        // A task without the context, interleaved with the others on the same workers.
        let bare = task_logger.clone();
        let plain = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(1)).await;
                bare.emit(info("bare task"));
            }
        });
        for handle in handles {
            handle.await.expect("task");
        }
        plain.await.expect("task");
    });
    let records = exporter.records();
    assert_eq!(records.len(), 27);
    for record in &records {
        match record.body.as_str() {
            Some("in task") => assert_eq!(ids(record), ids_of(&parent)),
            Some("bare task") => assert_eq!(ids(record), NONE),
            other => panic!("unexpected record {other:?}"),
        }
    }
}

#[test]
fn an_explicit_context_wins_over_the_current_one() {
    let (provider, exporter) = pipeline();
    let logger = provider.logger("test");
    let current = span(TraceFlags::SAMPLED);
    let explicit = span(TraceFlags::SAMPLED | TraceFlags::RANDOM);
    let preset = span(TraceFlags::NONE);
    {
        let _guard = Context::new().with_span_context(current.clone()).attach();
        logger.emit_with_context(
            info("explicit"),
            &Context::new().with_span_context(explicit.clone()),
        );
        logger.emit_with_context(info("empty context"), &Context::new());
        logger.emit(info("preset in span").with_span_context(&preset));
    }
    logger.emit(info("preset outside").with_span_context(&preset));
    let records = exporter.records();
    assert_eq!(ids(&by_body(&records, "explicit")), ids_of(&explicit));
    assert_eq!(ids(&by_body(&records, "empty context")), NONE);
    assert_eq!(
        ids(&by_body(&records, "preset in span")),
        ids_of(&current),
        "the resolved context's span wins"
    );
    assert_eq!(
        ids(&by_body(&records, "preset outside")),
        ids_of(&preset),
        "without a span, the record keeps its own ids"
    );
}

#[test]
fn limits_apply_to_attributes_but_not_the_body() {
    let exporter = InMemoryLogExporter::new();
    let provider = LoggerProvider::builder()
        .with_resource(Resource::empty())
        .with_limits(LogLimits {
            max_attributes: 2,
            max_attribute_value_length: Some(4),
        })
        .with_simple_exporter(exporter.clone())
        .build();
    let logger = provider.logger("test");
    logger.emit(
        LogRecord::new(Severity::ERROR)
            .with_body("a body longer than four characters")
            .with_attribute("a", "abcdefgh")
            .with_attribute("b", 1i64)
            .with_attribute("a", "second value")
            .with_attribute("c", 2i64)
            .with_attribute("d", 3i64),
    );
    let record = &exporter.records()[0];
    assert_eq!(
        record.attributes,
        vec![KeyValue::new("a", "seco"), KeyValue::new("b", 1i64)]
    );
    assert_eq!(record.dropped_attributes_count, 2);
    assert_eq!(
        record.body,
        Value::from("a body longer than four characters")
    );
}

#[test]
fn enabled_reflects_processors_minimum_severity_and_shutdown() {
    let empty = LoggerProvider::builder()
        .with_resource(Resource::empty())
        .build();
    assert!(!empty.logger("x").enabled(Severity::FATAL), "no processors");

    let exporter = InMemoryLogExporter::new();
    let provider = LoggerProvider::builder()
        .with_resource(Resource::empty())
        .with_min_severity(Severity::WARN)
        .with_simple_exporter(exporter.clone())
        .build();
    let logger = provider.logger("x");
    assert!(!logger.enabled(Severity::INFO4));
    assert!(logger.enabled(Severity::WARN));
    assert!(logger.enabled(Severity::UNSPECIFIED));
    logger.emit(info("dropped: below the minimum"));
    logger.emit(LogRecord::new(Severity::WARN).with_body("kept"));
    logger.emit(LogRecord::new(Severity::UNSPECIFIED).with_body("unspecified kept"));
    provider.shutdown().expect("shutdown");
    assert!(!logger.enabled(Severity::FATAL));
    logger.emit(LogRecord::new(Severity::FATAL).with_body("after shutdown"));
    let bodies: Vec<_> = exporter
        .records()
        .iter()
        .map(|r| r.body.to_string())
        .collect();
    assert_eq!(bodies, vec!["kept", "unspecified kept"]);
}

/// Adds an attribute, to show later processors see earlier changes; counts how each
/// method was called.
#[derive(Debug, Default)]
struct Tagger {
    by_ref: AtomicUsize,
    owned: AtomicUsize,
}

impl LogProcessor for Tagger {
    fn emit(&self, record: &mut LogRecord) {
        self.by_ref.fetch_add(1, Ordering::Relaxed);
        record.attributes.push(KeyValue::new("tagged", true));
    }

    fn emit_owned(&self, _record: LogRecord) {
        self.owned.fetch_add(1, Ordering::Relaxed);
    }

    fn enabled(&self, severity: Severity, scope: &InstrumentationScope) -> bool {
        severity >= Severity::DEBUG && scope.name() != "muted"
    }

    fn force_flush(&self, _timeout: Duration) -> Result<(), LogError> {
        Ok(())
    }

    fn shutdown(&self, _timeout: Duration) -> Result<(), LogError> {
        Ok(())
    }
}

#[test]
fn processors_run_in_order_and_the_last_owns_the_record() {
    let first = Arc::new(Tagger::default());
    let last = Arc::new(Tagger::default());
    let exporter = InMemoryLogExporter::new();
    let provider = LoggerProvider::builder()
        .with_resource(Resource::empty())
        .with_processor(Arc::clone(&first))
        .with_simple_exporter(exporter.clone())
        .with_processor(Arc::clone(&last))
        .build();
    let logger = provider.logger("test");
    logger.emit(info("one"));
    logger.emit(info("two"));
    assert_eq!(first.by_ref.load(Ordering::Relaxed), 2);
    assert_eq!(first.owned.load(Ordering::Relaxed), 0);
    assert_eq!(last.owned.load(Ordering::Relaxed), 2);
    assert_eq!(last.by_ref.load(Ordering::Relaxed), 0);
    let records = exporter.records();
    assert_eq!(records.len(), 2);
    assert!(
        records
            .iter()
            .all(|r| r.attributes == [KeyValue::new("tagged", true)])
    );
    // Any processor that wants a record enables it.
    assert!(
        logger.enabled(Severity::TRACE),
        "the exporting processor accepts all"
    );
    let only_tagger = LoggerProvider::builder()
        .with_resource(Resource::empty())
        .with_processor(Tagger::default())
        .build();
    assert!(!only_tagger.logger("x").enabled(Severity::TRACE));
    assert!(only_tagger.logger("x").enabled(Severity::DEBUG));
    assert!(!only_tagger.logger("muted").enabled(Severity::FATAL));
}

fn slow_batch(exporter: impl LogExporter, config: BatchConfig) -> Arc<BatchLogProcessor> {
    Arc::new(BatchLogProcessor::with_config(exporter, config).expect("batch processor"))
}

#[test]
fn batch_force_flush_and_shutdown() {
    let exporter = InMemoryLogExporter::new();
    let batch = slow_batch(
        exporter.clone(),
        BatchConfig {
            scheduled_delay: Duration::from_secs(3600),
            ..BatchConfig::default()
        },
    );
    let resource = Resource::builder().with_service_name("logs-test").build();
    let provider = LoggerProvider::builder()
        .with_resource(resource.clone())
        .with_processor(Arc::clone(&batch))
        .build();
    let logger = provider.logger("test");
    for _ in 0..10 {
        logger.emit(info("queued"));
    }
    assert!(
        exporter.records().is_empty(),
        "nothing leaves before the delay or a flush"
    );
    provider.force_flush().expect("flush");
    assert_eq!(exporter.records().len(), 10);
    assert_eq!(
        exporter.resource(),
        Some(Resource::detect_merged(&resource))
    );

    logger.emit(info("flushed by shutdown"));
    provider.shutdown().expect("shutdown");
    assert_eq!(exporter.records().len(), 11);
    assert!(exporter.is_shut_down());
    assert!(matches!(
        provider.shutdown(),
        Err(LogError::AlreadyShutDown)
    ));
    assert!(matches!(
        provider.force_flush(),
        Err(LogError::AlreadyShutDown)
    ));
    logger.emit(info("ignored"));
    assert!(matches!(
        batch.shutdown(Duration::from_secs(1)),
        Ok(()) | Err(LogError::AlreadyShutDown)
    ));
    let counts = batch.counts();
    assert_eq!((counts.queue.pushed, counts.queue.exported), (11, 11));
    assert_eq!(counts.queue.dropped(), 0);
}

#[test]
fn simple_processor_flush_and_shutdown() {
    let exporter = InMemoryLogExporter::new();
    let simple = SimpleLogProcessor::new(exporter.clone());
    let mut record = info("direct");
    simple.emit(&mut record);
    assert_eq!(exporter.records().len(), 1);
    simple.force_flush(Duration::from_secs(1)).expect("flush");
    simple.shutdown(Duration::from_secs(1)).expect("shutdown");
    assert!(matches!(
        simple.shutdown(Duration::from_secs(1)),
        Err(LogError::AlreadyShutDown)
    ));
    assert!(matches!(
        simple.force_flush(Duration::from_secs(1)),
        Err(LogError::AlreadyShutDown)
    ));
    simple.emit_owned(info("after shutdown"));
    assert_eq!(exporter.records().len(), 1);
}

/// Blocks every export until the test lets it go, so the queue fills up.
#[derive(Debug)]
struct GatedExporter {
    gate: Arc<Mutex<()>>,
    exported: Arc<AtomicUsize>,
}

impl LogExporter for GatedExporter {
    fn export(&mut self, batch: &[LogRecord]) -> Result<(), ExportError> {
        let _open = self.gate.lock();
        self.exported.fetch_add(batch.len(), Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn a_full_batch_queue_drops_and_counts() {
    let gate = Arc::new(Mutex::new(()));
    let exported = Arc::new(AtomicUsize::new(0));
    let closed = gate.lock();
    let batch = slow_batch(
        GatedExporter {
            gate: Arc::clone(&gate),
            exported: Arc::clone(&exported),
        },
        BatchConfig {
            max_queue_size: 4,
            max_export_batch_size: 1,
            scheduled_delay: Duration::from_millis(1),
            export_timeout: Duration::from_secs(5),
        },
    );
    let provider = LoggerProvider::builder()
        .with_resource(Resource::empty())
        .with_processor(Arc::clone(&batch))
        .build();
    let logger = provider.logger("test");
    for _ in 0..100 {
        logger.emit(info("flood"));
    }
    drop(closed);
    provider.force_flush().expect("flush");
    let counts = batch.counts();
    assert_eq!(counts.queue.pushed, 100);
    assert!(
        counts.queue.dropped_full >= 100 - 4 - 1,
        "the queue holds 4 and the exporter 1: {counts:?}"
    );
    assert_eq!(
        counts.queue.exported + counts.queue.dropped_full,
        100,
        "{counts:?}"
    );
    assert_eq!(
        exported.load(Ordering::Relaxed) as u64,
        counts.queue.exported
    );
    provider.shutdown().expect("shutdown");
}

#[derive(Debug)]
struct FailingExporter;

impl LogExporter for FailingExporter {
    fn export(&mut self, _batch: &[LogRecord]) -> Result<(), ExportError> {
        // Permanent: a transient failure would keep the batch for a retry instead.
        Err(ExportError::with_source(
            ExportErrorKind::Rejected,
            "collector refuses",
        ))
    }
}

#[test]
fn export_failures_are_counted() {
    let batch = slow_batch(FailingExporter, BatchConfig::default());
    let simple = Arc::new(SimpleLogProcessor::new(FailingExporter));
    let provider = LoggerProvider::builder()
        .with_resource(Resource::empty())
        .with_processor(Arc::clone(&simple))
        .with_processor(Arc::clone(&batch))
        .build();
    let logger = provider.logger("test");
    for _ in 0..3 {
        logger.emit(info("lost"));
    }
    provider.force_flush().expect("flush");
    assert_eq!(batch.counts().export_failed, 3);
    assert_eq!(simple.failed_records(), 3);
}

/// Emits through the pipeline from inside `export`, as an exporter whose HTTP client logs
/// would. Without suppression the simple processor would re-enter its own exporter lock.
#[derive(Debug)]
struct ChattyExporter {
    logger: Arc<Mutex<Option<Logger>>>,
    inner: InMemoryLogExporter,
}

impl LogExporter for ChattyExporter {
    fn export(&mut self, batch: &[LogRecord]) -> Result<(), ExportError> {
        if let Some(logger) = self.logger.lock().clone() {
            assert!(!logger.enabled(Severity::FATAL));
            logger.emit(info("from inside the exporter"));
        }
        self.inner.export(batch)
    }
}

#[test]
fn exporters_cannot_feed_records_back() {
    for batched in [false, true] {
        let slot = Arc::new(Mutex::new(None));
        let inner = InMemoryLogExporter::new();
        let exporter = ChattyExporter {
            logger: Arc::clone(&slot),
            inner: inner.clone(),
        };
        let builder = LoggerProvider::builder().with_resource(Resource::empty());
        let provider = if batched {
            builder.with_processor(slow_batch(exporter, BatchConfig::default()))
        } else {
            builder.with_simple_exporter(exporter)
        }
        .build();
        let logger = provider.logger("test");
        *slot.lock() = Some(logger.clone());
        logger.emit(info("once"));
        provider.force_flush().expect("flush");
        // Give a looping pipeline the chance to show itself.
        std::thread::sleep(Duration::from_millis(20));
        provider.force_flush().expect("flush");
        let bodies: Vec<_> = inner.records().iter().map(|r| r.body.to_string()).collect();
        assert_eq!(bodies, vec!["once"], "batched: {batched}");
        *slot.lock() = None;
        provider.shutdown().expect("shutdown");
    }
}

fn arb_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Empty),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        any::<f64>().prop_map(Value::F64),
        ".{0,40}".prop_map(Value::from),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec(("[a-e]{1,2}", inner), 0..6).prop_map(|pairs| {
                Value::Map(
                    pairs
                        .into_iter()
                        .map(|(k, v)| KeyValue::new(k, v))
                        .collect(),
                )
            }),
        ]
    })
}

fn arb_record() -> impl Strategy<Value = LogRecord> {
    (
        0u8..=24,
        arb_value(),
        proptest::collection::vec(("[a-h]{1,2}", arb_value()), 0..24),
        proptest::option::of(".{0,12}"),
        proptest::option::of(any::<u64>()),
        any::<bool>(),
    )
        .prop_map(|(severity, body, attributes, event, timestamp, in_span)| {
            let mut record = LogRecord::new(Severity::from_number(severity).unwrap_or_default())
                .with_body(body)
                .with_attributes(attributes.into_iter().map(|(k, v)| KeyValue::new(k, v)));
            if let Some(event) = event {
                record = record.with_event_name(event);
            }
            if let Some(nanos) = timestamp {
                record = record.with_timestamp(Timestamp::from_unix_nanos(nanos));
            }
            if in_span {
                record = record.with_span_context(&span(TraceFlags::SAMPLED));
            }
            record
        })
}

fn unique_keys(attributes: &[KeyValue]) -> usize {
    let mut keys: Vec<&str> = attributes.iter().map(|kv| kv.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.len()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_records_never_break_the_pipeline(
        records in proptest::collection::vec(arb_record(), 1..20),
        max_attributes in 0u32..10,
        max_len in proptest::option::of(0u32..8),
    ) {
        let simple = InMemoryLogExporter::new();
        let batched = InMemoryLogExporter::new();
        let provider = LoggerProvider::builder()
            .with_resource(Resource::empty())
            .with_limits(LogLimits { max_attributes, max_attribute_value_length: max_len })
            .with_simple_exporter(simple.clone())
            .with_processor(slow_batch(batched.clone(), BatchConfig::default()))
            .build();
        let logger = provider.logger("prop");
        for record in &records {
            logger.emit(record.clone());
        }
        provider.force_flush().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let exported = simple.records();
        prop_assert_eq!(&exported, &batched.records());
        prop_assert_eq!(exported.len(), records.len());
        for (sent, got) in records.iter().zip(&exported) {
            let unique = unique_keys(&sent.attributes);
            prop_assert_eq!(unique_keys(&got.attributes), got.attributes.len());
            prop_assert_eq!(got.attributes.len(), unique.min(max_attributes as usize));
            prop_assert_eq!(got.dropped_attributes_count as usize, unique - got.attributes.len());
            prop_assert_eq!(&got.body, &sent.body);
            prop_assert_eq!(got.severity, sent.severity);
            prop_assert_eq!(ids(got), ids(sent));
            for kv in &got.attributes {
                prop_assert!(kv.value.depth() <= MAX_VALUE_DEPTH);
                if let (Some(max), Some(s)) = (max_len, kv.value.as_str()) {
                    prop_assert!(s.chars().count() <= max as usize);
                }
            }
        }
        provider.shutdown().map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
}
