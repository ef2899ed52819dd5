//! `CompositePropagator::w3c()` extracting from arbitrary header lines, then injecting and
//! extracting again.
//!
//! The input is read as UTF-8 (lossily) and split into lines `name:value`; a line without
//! `:` is a name with an empty value. Properties:
//! - a span context is extracted exactly when there is one `traceparent` line (names
//!   compared case-insensitively) and it parses; it is then remote, with that line's ids
//!   and its known flags;
//! - the injected carrier holds only the propagator's fields, each once, in lowercase;
//! - extracting from it gives the same span context and baggage, and injecting that again
//!   writes the same lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetry_context::{
    CompositePropagator, Context, TRACEPARENT, TextMapPropagator, TraceParent,
};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let carrier: Vec<(String, String)> = text
        .split('\n')
        .map(|line| match line.split_once(':') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => (line.to_owned(), String::new()),
        })
        .collect();

    let propagator = CompositePropagator::w3c();
    let first = propagator.extract(&Context::new(), &carrier);

    let traceparents: Vec<&str> = carrier
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case(TRACEPARENT))
        .map(|(_, value)| value.as_str())
        .collect();
    let expected = match traceparents.as_slice() {
        [only] => TraceParent::parse(only.as_bytes()).ok(),
        _ => None,
    };
    match (expected, first.span_context()) {
        (None, None) => {}
        (Some(parent), Some(span_context)) => {
            assert!(span_context.is_remote());
            assert!(span_context.is_valid());
            assert_eq!(span_context.trace_id(), parent.trace_id);
            assert_eq!(span_context.span_id(), parent.parent_id);
            assert_eq!(span_context.flags(), parent.flags.known());
        }
        (expected, extracted) => {
            panic!("expected traceparent {expected:?}, extracted {extracted:?}")
        }
    }

    let mut out: Vec<(String, String)> = Vec::new();
    propagator.inject(&first, &mut out);
    for (i, (name, _)) in out.iter().enumerate() {
        assert!(
            propagator.fields().contains(&name.as_str()),
            "injected {name:?}"
        );
        assert!(
            !out[..i].iter().any(|(earlier, _)| earlier == name),
            "{name:?} twice"
        );
    }

    let second = propagator.extract(&Context::new(), &out);
    assert_eq!(
        second.span_context(),
        first.span_context(),
        "span context lost in {out:?}"
    );
    assert_eq!(second.baggage(), first.baggage(), "baggage lost in {out:?}");

    let mut again: Vec<(String, String)> = Vec::new();
    propagator.inject(&second, &mut again);
    assert_eq!(again, out, "injection is not a fixpoint");
});
