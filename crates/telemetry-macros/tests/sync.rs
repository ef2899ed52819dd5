//! `#[traced]` on synchronous functions and methods, through the global provider (its own
//! test binary, since it installs one).

mod support;

use std::fmt;

use telemetry_core::{SpanId, Value};
use telemetry_macros::traced;
use telemetry_span::{SpanKind, SpanRef, Status};

use support::{attribute, exception, exporter, span};

mod shop {
    use super::traced;

    #[traced]
    pub(crate) fn checkout() {}

    #[traced(name = "custom name", kind = "server")]
    pub(crate) fn renamed() {}
}

#[test]
fn names_default_to_the_module_path_and_can_be_overridden() {
    let (_lock, exporter) = exporter();
    shop::checkout();
    shop::renamed();
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans[0].name, "sync::shop::checkout");
    assert_eq!(spans[0].scope.name(), "sync::shop");
    assert_eq!(spans[0].kind, SpanKind::Internal);
    assert_eq!(spans[1].name, "custom name");
    assert_eq!(spans[1].kind, SpanKind::Server);
    for span in &spans {
        assert_eq!(span.parent_span_id, SpanId::INVALID);
        assert_eq!(span.status, Status::Unset);
        assert!(span.events.is_empty());
        assert!(span.end_time >= span.start_time);
    }
}

#[traced(kind = "client")]
fn client() {}
#[traced(kind = "producer")]
fn producer() {}
#[traced(kind = "consumer")]
fn consumer() {}
#[traced(kind = "internal")]
fn internal() {}

#[test]
fn every_kind() {
    let (_lock, exporter) = exporter();
    client();
    producer();
    consumer();
    internal();
    let kinds: Vec<SpanKind> = exporter.finished_spans().iter().map(|s| s.kind).collect();
    use SpanKind::*;
    assert_eq!(kinds, [Client, Producer, Consumer, Internal]);
}

#[traced(attributes(
    answer = 42,
    "dotted.key" = "static",
    http.request.method = String::from("GET"),
    ratio = 0.5,
    flag = !input.is_empty(),
    r#type = input.len() as i64,
))]
fn with_attributes(input: &str) -> usize {
    input.len()
}

#[test]
fn attributes_are_set_at_start() {
    let (_lock, exporter) = exporter();
    assert_eq!(with_attributes("abc"), 3);
    let spans = exporter.finished_spans();
    let span = span(&spans, "::with_attributes");
    let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "answer",
            "dotted.key",
            "http.request.method",
            "ratio",
            "flag",
            "type"
        ]
    );
    assert_eq!(*attribute(span, "answer"), Value::I64(42));
    assert_eq!(*attribute(span, "dotted.key"), Value::from("static"));
    assert_eq!(*attribute(span, "http.request.method"), Value::from("GET"));
    assert_eq!(*attribute(span, "ratio"), Value::F64(0.5));
    assert_eq!(*attribute(span, "flag"), Value::Bool(true));
    assert_eq!(*attribute(span, "type"), Value::I64(3));
}

#[derive(Debug)]
#[allow(dead_code)] // Read through `Debug` only.
struct Point {
    x: i32,
}

#[allow(clippy::too_many_arguments, clippy::needless_pass_by_value)]
#[traced(fields(id, name, owned, flag, small, float, big, huge, point, by_ref, by_mut))]
fn with_fields(
    id: u64,
    name: &str,
    owned: String,
    flag: bool,
    small: i32,
    float: f32,
    big: usize,
    huge: u64,
    point: Point,
    by_ref: &i64,
    by_mut: &mut Vec<u8>,
) -> usize {
    // Only used through `fields`.
    let _ = (
        id, name, owned, flag, small, float, big, huge, point, by_ref,
    );
    by_mut.push(1);
    by_mut.len()
}

#[traced(record(value))]
fn recorded<T: fmt::Debug>(value: T) -> T {
    value
}

#[test]
fn fields_record_arguments() {
    let (_lock, exporter) = exporter();
    let mut bytes = vec![0];
    let out = with_fields(
        7,
        "name",
        "owned".into(),
        true,
        -3,
        1.5,
        12,
        u64::MAX,
        Point { x: 1 },
        &4,
        &mut bytes,
    );
    assert_eq!(out, 2);
    assert_eq!(recorded([1, 2]), [1, 2]);

    let spans = exporter.finished_spans();
    let span_ = span(&spans, "::with_fields");
    assert_eq!(*attribute(span_, "id"), Value::I64(7));
    assert_eq!(*attribute(span_, "name"), Value::from("name"));
    assert_eq!(*attribute(span_, "owned"), Value::from("owned"));
    assert_eq!(*attribute(span_, "flag"), Value::Bool(true));
    assert_eq!(*attribute(span_, "small"), Value::I64(-3));
    assert_eq!(*attribute(span_, "float"), Value::F64(1.5));
    assert_eq!(*attribute(span_, "big"), Value::I64(12));
    assert_eq!(*attribute(span_, "huge"), Value::from(u64::MAX.to_string()));
    assert_eq!(*attribute(span_, "point"), Value::from("Point { x: 1 }"));
    assert_eq!(*attribute(span_, "by_ref"), Value::I64(4));
    // Recorded at start, before the body pushed.
    assert_eq!(*attribute(span_, "by_mut"), Value::from("[0]"));
    assert_eq!(
        *attribute(span(&spans, "::recorded"), "value"),
        Value::from("[1, 2]")
    );
}

#[traced]
fn outer() -> (SpanId, SpanId) {
    let own = SpanRef::current().map(|s| s.span_context().span_id());
    let inner = inner();
    // Current again after the child returned.
    assert_eq!(SpanRef::current().map(|s| s.span_context().span_id()), own);
    (own.unwrap_or(SpanId::INVALID), inner)
}

#[traced]
fn inner() -> SpanId {
    SpanRef::current().map_or(SpanId::INVALID, |s| s.span_context().span_id())
}

#[test]
fn nested_calls_form_a_tree_and_the_span_is_current_in_the_body() {
    let (_lock, exporter) = exporter();
    let (outer_id, inner_id) = outer();
    assert!(SpanRef::current().is_none());
    let spans = exporter.finished_spans();
    let (outer, inner) = (span(&spans, "::outer"), span(&spans, "::inner"));
    assert_eq!(outer.span_context.span_id(), outer_id);
    assert_eq!(inner.span_context.span_id(), inner_id);
    assert_eq!(inner.parent_span_id, outer_id);
    assert_eq!(inner.span_context.trace_id(), outer.span_context.trace_id());
    assert_eq!(outer.parent_span_id, SpanId::INVALID);
}

#[derive(Debug, PartialEq)]
struct ParseError(String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad input: {}", self.0)
    }
}

impl From<std::num::ParseIntError> for ParseError {
    fn from(error: std::num::ParseIntError) -> Self {
        ParseError(error.to_string())
    }
}

#[traced]
fn parse(input: &str) -> Result<i64, ParseError> {
    if input.is_empty() {
        return Err(ParseError("empty".into()));
    }
    // `?` converts through `From`, as it would without the attribute.
    let value = input.parse::<i64>()?;
    Ok(value * 2)
}

#[traced]
fn io_alias(fail: bool) -> std::io::Result<()> {
    if fail {
        Err(std::io::Error::other("disk on fire"))?;
    }
    Ok(())
}

#[test]
fn err_sets_error_with_an_exception_event_and_ok_leaves_unset() {
    let (_lock, exporter) = exporter();
    assert_eq!(parse("21"), Ok(42));
    assert_eq!(parse(""), Err(ParseError("empty".into())));
    assert!(parse("x").is_err());
    assert!(io_alias(true).is_err());
    assert!(io_alias(false).is_ok());

    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 5);
    assert_eq!(spans[0].status, Status::Unset);
    assert!(spans[0].events.is_empty());

    assert_eq!(spans[1].status, Status::error("bad input: empty"));
    assert_eq!(
        exception(&spans[1]),
        ("sync::ParseError".to_owned(), "bad input: empty".to_owned())
    );
    assert_eq!(
        spans[2].status,
        Status::error("bad input: invalid digit found in string")
    );
    assert_eq!(spans[3].status, Status::error("disk on fire"));
    assert_eq!(exception(&spans[3]).0, "std::io::error::Error");
    assert_eq!(spans[4].status, Status::Unset);
}

#[traced]
fn explode(message: &str) -> u8 {
    if !message.is_empty() {
        panic!("{message}");
    }
    0
}

#[traced]
fn explode_in_result() -> Result<(), ParseError> {
    explode("nested");
    Ok(())
}

#[test]
fn a_panic_marks_the_span_and_keeps_unwinding() {
    let (_lock, exporter) = exporter();
    let caught = std::panic::catch_unwind(|| explode("boom"));
    let payload = caught
        .err()
        .and_then(|p| p.downcast_ref::<String>().cloned());
    assert_eq!(payload.as_deref(), Some("boom"));
    assert!(std::panic::catch_unwind(explode_in_result).is_err());
    // The context was restored while unwinding.
    assert!(SpanRef::current().is_none());

    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 3);
    for span in &spans {
        assert_eq!(span.status, Status::error("the function panicked"));
        assert_eq!(
            exception(span),
            ("panic".to_owned(), "the function panicked".to_owned())
        );
    }
    // Both spans of the nested panic, child first, as a tree.
    assert_eq!(spans[1].parent_span_id, spans[2].span_context.span_id());
}

#[test]
fn a_call_made_while_unwinding_is_not_blamed_for_the_panic() {
    struct CallsOnDrop;
    impl Drop for CallsOnDrop {
        fn drop(&mut self) {
            assert_eq!(explode(""), 0);
        }
    }
    let (_lock, exporter) = exporter();
    let caught = std::panic::catch_unwind(|| {
        let _calls = CallsOnDrop;
        panic!("elsewhere");
    });
    assert!(caught.is_err());
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].status, Status::Unset);
}

#[derive(Debug, Default)]
struct Counter {
    count: u8,
    slots: Vec<u8>,
}

trait Describe {
    fn describe(&self) -> String;
}

impl Counter {
    #[traced]
    fn new() -> Self {
        Self::default()
    }

    #[traced(fields(by))]
    fn bump(&mut self, by: u8) -> u8 {
        self.count += by;
        self.count
    }

    #[traced]
    fn get(&self) -> u8 {
        self.count
    }

    /// Returns a borrow of `self` from a `Result` function (the body runs in a closure).
    #[traced]
    fn slot(&mut self, index: usize) -> Result<&mut u8, String> {
        let len = self.slots.len();
        self.slots
            .get_mut(index)
            .ok_or_else(|| format!("{index} >= {len}"))
    }

    #[traced]
    fn into_count(self) -> u8 {
        self.count
    }
}

impl Describe for Counter {
    #[traced(name = "describe")]
    fn describe(&self) -> String {
        format!("{self:?}")
    }
}

#[test]
fn methods_with_every_receiver() {
    let (_lock, exporter) = exporter();
    let mut counter = Counter::new();
    counter.slots.push(0);
    assert_eq!(counter.bump(2), 2);
    assert_eq!(counter.get(), 2);
    if let Ok(slot) = counter.slot(0) {
        *slot = 9;
    }
    assert_eq!(counter.slot(3), Err("3 >= 1".to_owned()));
    assert!(counter.describe().contains("slots: [9]"));
    assert_eq!(counter.into_count(), 2);

    let spans = exporter.finished_spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sync::new",
            "sync::bump",
            "sync::get",
            "sync::slot",
            "sync::slot",
            "describe",
            "sync::into_count"
        ]
    );
    assert_eq!(*attribute(&spans[1], "by"), Value::I64(2));
    assert_eq!(spans[3].status, Status::Unset);
    assert_eq!(spans[4].status, Status::error("3 >= 1"));
}

#[traced(fields(value))]
fn generic<T: fmt::Debug + Clone>(value: &T) -> Vec<T> {
    vec![value.clone(), value.clone()]
}

#[traced]
fn sum(items: impl IntoIterator<Item = u32>) -> u32 {
    items.into_iter().sum()
}

#[traced]
fn generic_error<E: fmt::Display>(error: Option<E>) -> Result<(), E> {
    error.map_or(Ok(()), Err)
}

#[traced]
fn opaque(fail: bool) -> Result<impl fmt::Display, ParseError> {
    if fail {
        Err(ParseError("opaque".into()))?;
    }
    Ok(5)
}

#[traced]
fn iterator(n: u8) -> impl Iterator<Item = u8> {
    0..n
}

#[test]
fn generics_and_impl_trait() {
    let (_lock, exporter) = exporter();
    assert_eq!(generic(&"x"), ["x", "x"]);
    assert_eq!(sum([1, 2, 3]), 6);
    assert_eq!(generic_error(Some("generic")), Err("generic"));
    assert_eq!(generic_error::<String>(None), Ok(()));
    assert_eq!(opaque(false).map(|v| v.to_string()), Ok("5".to_owned()));
    assert!(opaque(true).is_err());
    assert_eq!(iterator(3).count(), 3);

    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 7);
    assert_eq!(*attribute(&spans[0], "value"), Value::from("\"x\""));
    assert_eq!(spans[2].status, Status::error("generic"));
    assert_eq!(exception(&spans[2]).0, "&str");
    assert_eq!(spans[3].status, Status::Unset);
    assert_eq!(spans[5].status, Status::error("bad input: opaque"));
}
