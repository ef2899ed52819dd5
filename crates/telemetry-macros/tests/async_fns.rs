//! `#[traced]` on `async fn`s, on a multi-threaded tokio runtime, through the global
//! provider (its own test binary, since it installs one).

mod support;

use std::fmt;
use std::time::Duration;

use telemetry_context::FutureExt;
use telemetry_core::{SpanId, Value};
use telemetry_macros::traced;
use telemetry_span::{SpanKind, SpanRef, Status};

use support::{attribute, exception, exporter, span};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

fn current_id() -> SpanId {
    SpanRef::current().map_or(SpanId::INVALID, |span| span.span_context().span_id())
}

#[traced(fields(ms))]
async fn leaf(ms: u64) -> SpanId {
    let own = current_id();
    tokio::time::sleep(Duration::from_millis(ms)).await;
    tokio::task::yield_now().await;
    // Still current after resuming, perhaps on another worker thread.
    assert_eq!(current_id(), own);
    own
}

#[traced(kind = "server")]
async fn request() -> (SpanId, Vec<SpanId>) {
    let own = current_id();
    let first = leaf(3).await;
    // A spawned task carries the context only when asked to.
    let second = tokio::spawn(leaf(1).with_current_context())
        .await
        .expect("the task completes");
    let (third, fourth) = tokio::join!(leaf(2), leaf(1));
    // Without it, the task's span is the root of a new trace.
    let orphan = tokio::spawn(leaf(0)).await.expect("the task completes");
    assert_ne!(orphan, SpanId::INVALID);
    assert_eq!(current_id(), own);
    (own, vec![first, second, third, fourth])
}

#[test]
fn spans_nest_across_await_threads_and_spawn() {
    let (_lock, exporter) = exporter();
    let (own, leaves) = runtime().block_on(async {
        let handle = tokio::spawn(request());
        assert!(SpanRef::current().is_none());
        handle.await.expect("the task completes")
    });

    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 6);
    let root = span(&spans, "::request");
    let orphan = spans.iter().find(|s| *attribute(s, "ms") == Value::I64(0));
    assert!(orphan.is_some_and(|s| s.parent_span_id == SpanId::INVALID
        && s.span_context.trace_id() != root.span_context.trace_id()));
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(root.span_context.span_id(), own);
    assert_eq!(root.parent_span_id, SpanId::INVALID);
    let mut leaf_ids = Vec::new();
    let children = spans
        .iter()
        .filter(|s| s.name == "async_fns::leaf" && s.parent_span_id != SpanId::INVALID);
    for leaf in children {
        assert_eq!(leaf.parent_span_id, own);
        assert_eq!(leaf.span_context.trace_id(), root.span_context.trace_id());
        assert!(leaf.end_time <= root.end_time);
        leaf_ids.push(leaf.span_context.span_id());
    }
    leaf_ids.sort_by_key(|id| id.to_bytes());
    let mut expected = leaves;
    expected.sort_by_key(|id| id.to_bytes());
    assert_eq!(leaf_ids, expected);
    assert_eq!(*attribute(&spans[0], "ms"), Value::I64(3));
}

#[traced]
async fn fetch(fail: bool) -> Result<u8, String> {
    tokio::time::sleep(Duration::from_millis(1)).await;
    if fail {
        Err(String::from("unavailable"))?;
    }
    Ok(1)
}

#[traced]
async fn async_explode() -> u8 {
    tokio::time::sleep(Duration::from_millis(1)).await;
    panic!("async boom");
}

#[test]
fn err_and_panic_set_error_ok_leaves_unset() {
    let (_lock, exporter) = exporter();
    runtime().block_on(async {
        assert_eq!(fetch(false).await, Ok(1));
        assert_eq!(fetch(true).await, Err("unavailable".to_owned()));
        let joined = tokio::spawn(async_explode()).await;
        assert!(joined.is_err_and(|e| e.is_panic()));
    });

    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[0].status, Status::Unset);
    assert!(spans[0].events.is_empty());
    assert_eq!(spans[1].status, Status::error("unavailable"));
    assert_eq!(
        exception(&spans[1]),
        ("alloc::string::String".to_owned(), "unavailable".to_owned())
    );
    assert_eq!(spans[2].status, Status::error("the function panicked"));
    assert_eq!(exception(&spans[2]).0, "panic");
}

#[test]
fn a_future_dropped_early_ends_its_span_without_error() {
    let (_lock, exporter) = exporter();
    runtime().block_on(async {
        // Never polled: no span at all (it starts on the first poll).
        drop(leaf(1));
        let timed_out = tokio::time::timeout(Duration::from_millis(5), leaf(10_000)).await;
        assert!(timed_out.is_err());
    });
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].status, Status::Unset);
    assert!(spans[0].events.is_empty());
}

#[derive(Debug, Default)]
struct Connection {
    reads: u8,
}

trait Store {
    async fn load(&self, key: &str) -> Option<String>;
}

impl Connection {
    #[traced]
    async fn read(&self) -> u8 {
        tokio::task::yield_now().await;
        self.reads
    }

    #[traced]
    async fn counter(&mut self) -> &mut u8 {
        tokio::task::yield_now().await;
        &mut self.reads
    }

    #[traced]
    async fn try_counter(&mut self, ok: bool) -> Result<&mut u8, fmt::Error> {
        tokio::task::yield_now().await;
        if ok {
            Ok(&mut self.reads)
        } else {
            Err(fmt::Error)
        }
    }

    #[traced]
    async fn close(self) -> u8 {
        self.reads
    }
}

impl Store for Connection {
    #[traced(name = "load", fields(key))]
    async fn load(&self, key: &str) -> Option<String> {
        tokio::task::yield_now().await;
        Some(format!("{key}={}", self.reads))
    }
}

#[traced(fields(value))]
async fn echo<T: fmt::Debug + Send>(value: T) -> T {
    tokio::task::yield_now().await;
    value
}

#[traced]
async fn total(items: impl IntoIterator<Item = u8>) -> u8 {
    items.into_iter().sum()
}

#[test]
fn async_methods_and_generics() {
    let (_lock, exporter) = exporter();
    runtime().block_on(async {
        let mut connection = Connection::default();
        *connection.counter().await += 2;
        if let Ok(reads) = connection.try_counter(true).await {
            *reads += 1;
        }
        assert!(connection.try_counter(false).await.is_err());
        assert_eq!(connection.read().await, 3);
        assert_eq!(connection.load("k").await.as_deref(), Some("k=3"));
        assert_eq!(connection.close().await, 3);
        assert_eq!(echo(Some('x')).await, Some('x'));
        assert_eq!(total([1, 2]).await, 3);
    });
    let spans = exporter.finished_spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "async_fns::counter",
            "async_fns::try_counter",
            "async_fns::try_counter",
            "async_fns::read",
            "load",
            "async_fns::close",
            "async_fns::echo",
            "async_fns::total"
        ]
    );
    assert_eq!(spans[1].status, Status::Unset);
    assert_eq!(
        spans[2].status,
        Status::error("an error occurred when formatting an argument")
    );
    assert_eq!(*attribute(&spans[4], "key"), Value::from("k"));
    assert_eq!(*attribute(&spans[6], "value"), Value::from("Some('x')"));
}

/// A stand-in for the facade: what `crate = path` expects under `path::__private`.
mod facade {
    pub(crate) mod __private {
        pub(crate) use telemetry_context as context;
        pub(crate) use telemetry_core as core;
        pub(crate) use telemetry_span as span;
    }
}

#[traced(crate = crate::facade, attributes(via = "facade"))]
fn through_facade() -> Result<(), String> {
    Err("sync".into())
}

#[traced(crate = "crate::facade", name = "async through the facade")]
async fn async_through_facade() -> u8 {
    tokio::task::yield_now().await;
    through_facade().map_or(0, |()| 1)
}

#[test]
fn crate_option_points_at_a_facade() {
    let (_lock, exporter) = exporter();
    assert_eq!(runtime().block_on(async_through_facade()), 0);
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].name, "async_fns::through_facade");
    assert_eq!(*attribute(&spans[0], "via"), Value::from("facade"));
    assert_eq!(spans[0].status, Status::error("sync"));
    assert_eq!(spans[1].name, "async through the facade");
    assert_eq!(spans[0].parent_span_id, spans[1].span_context.span_id());
}
