//! The span pipeline end to end: trees, status, limits, sampling and processors.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use proptest::prelude::*;
use telemetry_context::{
    CompositePropagator, Context, FutureExt, SpanContext, TextMapPropagator, TraceFlags, TraceState,
};
use telemetry_core::{KeyValue, SpanId, Timestamp, TraceId, Value};
use telemetry_span::{
    BatchConfig, BatchSpanProcessor, InMemorySpanExporter, Sampler, SamplingDecision,
    SamplingResult, ShouldSample, SpanData, SpanKind, SpanLimits, SpanProcessor, SpanRef, Status,
    TraceError, Tracer, TracerProvider,
};

fn pipeline() -> (TracerProvider, InMemorySpanExporter) {
    let exporter = InMemorySpanExporter::new();
    let provider = TracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_limits(SpanLimits::default())
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

/// name → parent name, for asserting a whole tree at once.
fn tree(spans: &[SpanData]) -> Vec<(String, Option<String>)> {
    let mut edges: Vec<(String, Option<String>)> = spans
        .iter()
        .map(|span| {
            let parent = spans
                .iter()
                .find(|p| p.span_context.span_id() == span.parent_span_id)
                .map(|p| p.name.to_string());
            (span.name.to_string(), parent)
        })
        .collect();
    edges.sort();
    edges
}

/// An agent that splits a task into two subtasks down to `depth`, alternating threads and
/// async tasks.
fn agent(tracer: &Tracer, task: String, depth: u32) {
    let name = task.clone();
    tracer.in_span(name, move |_| {
        if depth == 0 {
            return;
        }
        let left = format!("{task}.0");
        let right = format!("{task}.1");
        let cx = Context::current();
        let worker = {
            let tracer = tracer.clone();
            std::thread::spawn(move || cx.run(|| agent(&tracer, left, depth - 1)))
        };
        // The other half runs as an async task, on a runtime of its own thread, carrying the
        // context across an `.await`.
        let task = {
            let tracer = tracer.clone();
            let future = async move {
                tokio::task::yield_now().await;
                agent(&tracer, right, depth - 1);
            }
            .with_current_context();
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("runtime");
                runtime.block_on(future);
            })
        };
        task.join().expect("task");
        worker.join().expect("worker");
    });
}

#[test]
fn recursive_work_across_threads_and_tasks_forms_one_tree() {
    let (provider, exporter) = pipeline();
    let tracer = provider.tracer("agent");
    agent(&tracer, "t".to_owned(), 3);
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 15);
    let trace_id = spans[0].span_context.trace_id();
    assert!(
        spans.iter().all(|s| s.span_context.trace_id() == trace_id),
        "one trace"
    );
    let mut expected = Vec::new();
    let mut frontier = vec![("t".to_owned(), None::<String>)];
    while let Some((name, parent)) = frontier.pop() {
        if name.len() < 7 {
            frontier.push((format!("{name}.0"), Some(name.clone())));
            frontier.push((format!("{name}.1"), Some(name.clone())));
        }
        expected.push((name, parent));
    }
    expected.sort();
    assert_eq!(tree(&spans), expected);
}

#[test]
fn status_rules() {
    let (provider, exporter) = pipeline();
    let tracer = provider.tracer("status");
    let cases: Vec<(&str, Vec<Status>, Status)> = vec![
        ("default is unset", vec![], Status::Unset),
        ("error", vec![Status::error("boom")], Status::error("boom")),
        (
            "ok is final",
            vec![Status::Ok, Status::error("late")],
            Status::Ok,
        ),
        (
            "unset never changes anything",
            vec![Status::error("boom"), Status::Unset],
            Status::error("boom"),
        ),
        (
            "error can become ok",
            vec![Status::error("boom"), Status::Ok],
            Status::Ok,
        ),
        (
            "last error wins",
            vec![Status::error("a"), Status::error("b")],
            Status::error("b"),
        ),
    ];
    for (name, steps, _) in &cases {
        let span = tracer.start(*name);
        for status in steps {
            span.set_status(status.clone());
        }
    }
    let spans = exporter.finished_spans();
    for (name, _, expected) in &cases {
        let span = spans.iter().find(|s| s.name == *name).expect("exported");
        assert_eq!(&span.status, expected, "{name}");
    }
}

#[test]
fn a_span_records_attributes_events_links_and_errors() {
    let (provider, exporter) = pipeline();
    let tracer = provider.tracer("details");
    let target = tracer.start("target");
    let span = tracer
        .span_builder("op")
        .with_kind(SpanKind::Client)
        .with_attributes([KeyValue::new("a", 1i64), KeyValue::new("a", 2i64)])
        .start();
    span.set_attribute(KeyValue::new("b", "x"));
    span.add_event("checkpoint", vec![KeyValue::new("n", 3i64)]);
    span.add_link(
        target.span_context().clone(),
        vec![KeyValue::new("why", "follows")],
    );
    span.update_name("renamed");
    span.record_error(&std::io::Error::other("disk on fire"));
    let span_context = span.span_context().clone();
    span.end();
    span.set_attribute(KeyValue::new("after", "end"));
    assert!(!span.is_recording());
    drop(span);
    drop(target);

    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 2, "ending twice exports once");
    let op = &spans[0];
    assert_eq!(op.name, "renamed");
    assert_eq!(op.kind, SpanKind::Client);
    assert_eq!(
        op.attributes,
        vec![KeyValue::new("a", 2i64), KeyValue::new("b", "x")]
    );
    assert_eq!(op.events.len(), 2);
    assert_eq!(op.events[0].name, "checkpoint");
    assert_eq!(op.events[1].name, "exception");
    assert_eq!(
        op.events[1].attributes[0],
        KeyValue::new("exception.type", "std::io::error::Error")
    );
    assert_eq!(
        op.events[1].attributes[1],
        KeyValue::new("exception.message", "disk on fire")
    );
    assert_eq!(op.status, Status::error("disk on fire"));
    assert_eq!(
        op.links[0].span_context.span_id(),
        spans[1].span_context.span_id()
    );
    assert_eq!(op.span_context, span_context);
    assert!(op.end_time >= op.start_time);
    assert!(op.start_time.as_unix_nanos() > 1_600_000_000_000_000_000);
    assert!(
        op.span_context.flags().is_random(),
        "root trace ids are random"
    );
}

#[test]
fn limits_drop_and_count() {
    let exporter = InMemorySpanExporter::new();
    let limits = SpanLimits {
        max_attributes_per_span: 2,
        max_events_per_span: 1,
        max_links_per_span: 1,
        max_attributes_per_event: 1,
        max_attributes_per_link: 1,
        max_attribute_value_length: Some(3),
    };
    let provider = TracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_limits(limits)
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("limits");
    let other = SpanContext::new(
        TraceId::from_int(5),
        SpanId::from_int(5),
        TraceFlags::SAMPLED,
        false,
        TraceState::EMPTY,
    );
    {
        let span = tracer
            .span_builder("limited")
            .with_links([
                telemetry_span::Link::new(other.clone(), vec![]),
                telemetry_span::Link::new(other.clone(), vec![]),
            ])
            .start();
        span.set_attributes([
            KeyValue::new("a", "abcdef"),
            KeyValue::new("b", 1i64),
            KeyValue::new("c", 2i64),
        ]);
        span.add_event(
            "e1",
            vec![KeyValue::new("x", 1i64), KeyValue::new("y", 2i64)],
        );
        span.add_event("e2", vec![]);
        span.add_link(other, vec![]);
    }
    let span = &exporter.finished_spans()[0];
    assert_eq!(
        span.attributes,
        vec![KeyValue::new("a", "abc"), KeyValue::new("b", 1i64)]
    );
    assert_eq!(span.dropped_attributes_count, 1);
    assert_eq!((span.events.len(), span.dropped_events_count), (1, 1));
    assert_eq!(span.events[0].dropped_attributes_count, 1);
    assert_eq!((span.links.len(), span.dropped_links_count), (1, 2));
}

#[derive(Debug)]
struct Recording(Mutex<Vec<(String, bool)>>);

impl SpanProcessor for Recording {
    fn on_end(&self, span: SpanData) {
        self.0
            .lock()
            .push((span.name.to_string(), span.span_context.is_sampled()));
    }

    fn force_flush(&self, _: Duration) -> Result<(), TraceError> {
        Ok(())
    }

    fn shutdown(&self, _: Duration) -> Result<(), TraceError> {
        Ok(())
    }
}

#[derive(Debug)]
struct ByName;

impl ShouldSample for ByName {
    fn should_sample(
        &self,
        _: Option<&SpanContext>,
        _: TraceId,
        name: &str,
        _: SpanKind,
        _: &[KeyValue],
        _: &[telemetry_span::Link],
    ) -> SamplingResult {
        let decision = match name {
            "drop" => SamplingDecision::Drop,
            "record" => SamplingDecision::RecordOnly,
            _ => SamplingDecision::RecordAndSample,
        };
        let trace_state =
            (name == "sample").then(|| TraceState::parse("sampler=yes").expect("valid"));
        SamplingResult {
            decision,
            attributes: vec![KeyValue::new("sampler.saw", name.to_owned())],
            trace_state,
        }
    }

    fn description(&self) -> String {
        "ByName".to_owned()
    }
}

#[test]
fn processors_see_recorded_spans_and_exporters_only_sampled_ones() {
    let seen = Arc::new(Recording(Mutex::new(Vec::new())));
    let exporter = InMemorySpanExporter::new();
    let provider = TracerProvider::builder()
        .with_sampler(Sampler::Custom(Arc::new(ByName)))
        .with_span_processor(Arc::clone(&seen))
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("sampling");
    for name in ["drop", "record", "sample"] {
        let span = tracer.start(name);
        assert_eq!(span.is_recording(), name != "drop", "{name}");
        assert_eq!(span.span_context().is_sampled(), name == "sample", "{name}");
        assert!(
            span.span_context().is_valid(),
            "even dropped spans have ids"
        );
    }
    assert_eq!(
        *seen.0.lock(),
        vec![("record".to_owned(), false), ("sample".to_owned(), true)]
    );
    let exported = exporter.finished_spans();
    assert_eq!(exported.len(), 1);
    assert_eq!(
        exported[0].attributes,
        vec![KeyValue::new("sampler.saw", "sample")]
    );
    assert_eq!(
        exported[0].span_context.trace_state().header(),
        "sampler=yes"
    );
}

#[test]
fn unsampled_parents_propagate_their_decision() {
    let (provider, exporter) = pipeline();
    let tracer = provider.tracer("remote");
    let parent_based = TracerProvider::builder()
        .with_sampler(Sampler::default())
        .with_simple_exporter(exporter.clone())
        .build()
        .tracer("pb");

    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
            .parse()
            .expect("value"),
    );
    headers.insert("tracestate", "congo=t61rcWkgMzE".parse().expect("value"));
    let remote = CompositePropagator::w3c().extract(&Context::new(), &headers);
    let span = parent_based
        .span_builder("child of unsampled")
        .with_parent_context(remote.clone())
        .start();
    assert!(!span.is_recording());
    assert_eq!(
        span.span_context().trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert!(!span.span_context().is_sampled());
    let mut out = http::HeaderMap::new();
    CompositePropagator::w3c().inject(&span.context_with(&Context::new()), &mut out);
    assert!(out["traceparent"].to_str().expect("ascii").ends_with("-00"));
    assert_eq!(out["tracestate"], "congo=t61rcWkgMzE");
    drop(span);

    // AlwaysOn samples the child of an unsampled remote parent, keeping trace and state.
    {
        let _guard = remote.attach();
        let _child = tracer.start("child of remote");
    }
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].parent_span_id.to_string(), "00f067aa0ba902b7");
    assert!(spans[0].parent_is_remote);
    assert_eq!(
        spans[0].span_context.trace_state().header(),
        "congo=t61rcWkgMzE"
    );
    drop(provider);
}

#[test]
fn the_current_span_is_reachable_and_changeable() {
    let (provider, exporter) = pipeline();
    let tracer = provider.tracer("current");
    assert!(SpanRef::current().is_none());
    tracer.in_span("outer", |_| {
        let current = SpanRef::current().expect("current span");
        current.set_attribute(KeyValue::new("set.through", "current"));
        tracer.in_span("inner", |inner| {
            assert_eq!(
                SpanRef::current().map(|s| s.span_context().span_id()),
                Some(inner.span_context().span_id())
            );
        });
    });
    assert!(SpanRef::current().is_none());
    let spans = exporter.finished_spans();
    let outer = spans.iter().find(|s| s.name == "outer").expect("outer");
    assert_eq!(
        outer.attributes,
        vec![KeyValue::new("set.through", "current")]
    );
    let explicit_root = tracer.in_span("x", |_| tracer.span_builder("root").as_root().start());
    assert!(
        !explicit_root
            .span_context()
            .trace_id()
            .to_string()
            .is_empty()
    );
    drop(explicit_root);
    let spans = exporter.finished_spans();
    let root = spans.iter().find(|s| s.name == "root").expect("root");
    assert_eq!(root.parent_span_id, SpanId::INVALID);
}

/// A batch processor alone takes each ending span straight out of its cell
/// (`SpanProcessor::on_end_in_place`): the span must arrive whole and once, and a span it
/// does not export (recorded, not sampled) must still end.
#[test]
fn a_lone_batch_processor_takes_spans_from_their_cells() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = InMemorySpanExporter::new();
    let config = BatchConfig {
        scheduled_delay: Duration::from_secs(60),
        ..BatchConfig::default()
    };
    let processor = BatchSpanProcessor::with_config(exporter.clone(), config)?;
    assert!(processor.ends_in_place());
    let provider = TracerProvider::builder()
        .with_sampler(Sampler::Custom(Arc::new(ByName)))
        .with_span_processor(processor)
        .build();
    let tracer = provider.tracer("in place");
    let recorded = tracer.start("record");
    let recorded_handle = recorded.handle();
    drop(recorded);
    assert!(!recorded_handle.is_recording(), "a skipped span still ends");

    let sampled = tracer.start("sample");
    sampled.set_attribute(KeyValue::new("k", 1i64));
    sampled.add_event("e", Vec::new());
    let handle = sampled.handle();
    sampled.end();
    handle.end();
    handle.set_attribute(KeyValue::new("late", true));
    assert!(!handle.is_recording());
    drop(sampled);
    drop(handle);
    provider.force_flush()?;
    let exported = exporter.finished_spans();
    assert_eq!(exported.len(), 1, "ended once, and only the sampled span");
    let span = &exported[0];
    assert_eq!(span.name.as_str(), "sample");
    assert!(span.end_time >= span.start_time && span.end_time > Timestamp::UNIX_EPOCH);
    assert_eq!(
        span.attributes,
        vec![
            KeyValue::new("sampler.saw", "sample"),
            KeyValue::new("k", 1i64)
        ]
    );
    assert_eq!(span.events.len(), 1);
    Ok(())
}

/// With several processors that all end in place, each gets the whole span, once.
#[test]
fn batch_processors_side_by_side_each_get_every_span() -> Result<(), Box<dyn std::error::Error>> {
    let (first, second) = (InMemorySpanExporter::new(), InMemorySpanExporter::new());
    let provider = TracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_batch_exporter(first.clone())?
        .with_batch_exporter(second.clone())?
        .build();
    let tracer = provider.tracer("side by side");
    for i in 0..10i64 {
        let span = tracer.start("s");
        span.set_attribute(KeyValue::new("i", i));
    }
    provider.force_flush()?;
    for exporter in [first, second] {
        let spans = exporter.finished_spans();
        let seen: Vec<_> = spans.iter().map(|s| s.attributes.clone()).collect();
        let expected: Vec<_> = (0..10i64).map(|i| vec![KeyValue::new("i", i)]).collect();
        assert_eq!(seen, expected);
        assert!(spans.iter().all(|s| s.end_time >= s.start_time));
    }
    Ok(())
}

#[test]
fn batch_processor_flushes_and_shuts_down() -> Result<(), Box<dyn std::error::Error>> {
    let exporter = InMemorySpanExporter::new();
    let config = BatchConfig {
        scheduled_delay: Duration::from_secs(60),
        ..BatchConfig::default()
    };
    let provider = TracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(BatchSpanProcessor::with_config(exporter.clone(), config)?)
        .build();
    let tracer = provider.tracer("batch");
    for i in 0..1000 {
        let _span = tracer.start(format!("s{i}"));
    }
    provider.force_flush()?;
    assert_eq!(
        exporter.finished_spans().len(),
        1000,
        "flush exports everything ended before it"
    );
    assert!(
        exporter
            .resource()
            .is_some_and(|r| r.service_name().is_some())
    );
    let _late = tracer.start("late");
    drop(_late);
    provider.shutdown()?;
    assert_eq!(exporter.finished_spans().len(), 1001, "shutdown flushes");
    assert!(matches!(
        provider.shutdown(),
        Err(TraceError::AlreadyShutDown)
    ));
    assert!(matches!(
        provider.force_flush(),
        Err(TraceError::AlreadyShutDown)
    ));
    let after = tracer.start("after shutdown");
    assert!(!after.is_recording());
    Ok(())
}

#[test]
fn a_full_queue_drops_and_counts_without_blocking() -> Result<(), Box<dyn std::error::Error>> {
    #[derive(Debug)]
    struct Slow;
    impl telemetry_span::SpanExporter for Slow {
        fn export(&mut self, _: &[SpanData]) -> Result<(), telemetry_span::ExportError> {
            std::thread::sleep(Duration::from_millis(50));
            Ok(())
        }
    }
    let config = BatchConfig {
        max_queue_size: 64,
        max_export_batch_size: 16,
        ..BatchConfig::default()
    };
    let processor = Arc::new(BatchSpanProcessor::with_config(Slow, config)?);
    let provider = TracerProvider::builder()
        .with_sampler(Sampler::AlwaysOn)
        .with_span_processor(Arc::clone(&processor))
        .build();
    let tracer = provider.tracer("flood");
    for _ in 0..10_000 {
        let _span = tracer.start("s");
    }
    let counts = processor.counts();
    assert_eq!(counts.queue.pushed, 10_000);
    assert!(counts.queue.dropped_full > 0);
    provider.shutdown_with_timeout(Duration::from_secs(10))?;
    let counts = processor.counts();
    assert_eq!(
        counts.queue.exported + counts.queue.dropped(),
        10_000,
        "every span is exported or counted"
    );
    Ok(())
}

#[test]
fn explicit_timestamps_are_kept() {
    let (provider, exporter) = pipeline();
    let tracer = provider.tracer("time");
    let start = Timestamp::from_unix_nanos(1_700_000_000_000_000_000);
    let span = tracer.span_builder("timed").with_start_time(start).start();
    span.end_with_timestamp(Timestamp::from_unix_nanos(1_700_000_000_000_001_000));
    drop(span);
    let span = &exporter.finished_spans()[0];
    assert_eq!(
        span.end_time.saturating_duration_since(span.start_time),
        Duration::from_micros(1)
    );
}

#[derive(Debug, Clone)]
enum Op {
    Attribute(String, i64),
    Event(String),
    Status(u8),
    Link,
    Rename(String),
    Child,
    End,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        ("[a-c]{0,3}", any::<i64>()).prop_map(|(k, v)| Op::Attribute(k, v)),
        ".{0,8}".prop_map(Op::Event),
        (0u8..3).prop_map(Op::Status),
        Just(Op::Link),
        ".{0,8}".prop_map(Op::Rename),
        Just(Op::Child),
        Just(Op::End),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_sequence_of_operations_is_safe(ops in proptest::collection::vec(op(), 0..40)) {
        let (provider, exporter) = pipeline();
        let tracer = provider.tracer("prop");
        let span = tracer.start("root");
        let mut children = Vec::new();
        let mut ended = false;
        for op in ops {
            match op {
                Op::Attribute(k, v) => span.set_attribute(KeyValue::new(k, v)),
                Op::Event(name) => span.add_event(name, vec![]),
                Op::Status(0) => span.set_status(Status::Unset),
                Op::Status(1) => span.set_status(Status::Ok),
                Op::Status(_) => span.set_status(Status::error("e")),
                Op::Link => span.add_link(span.span_context().clone(), vec![]),
                Op::Rename(name) => span.update_name(name),
                Op::Child => children.push(tracer.span_builder("child").with_parent(&span).start()),
                Op::End => { span.end(); ended = true; }
            }
        }
        let child_count = children.len();
        drop(children);
        drop(span);
        let spans = exporter.finished_spans();
        prop_assert_eq!(spans.len(), child_count + 1);
        let root = spans.iter().find(|s| s.parent_span_id == SpanId::INVALID).expect("root exported");
        prop_assert!(root.attributes.len() <= 128);
        prop_assert!(spans.iter().filter(|s| s.parent_span_id != SpanId::INVALID).all(|s| s.parent_span_id == root.span_context.span_id()));
        let _ = ended;
        let _ = Value::Empty;
    }
}
