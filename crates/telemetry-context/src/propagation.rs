//! Moving a context across process boundaries through text carriers such as HTTP headers.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};
use telemetry_core::diagnostic;

use crate::baggage::Baggage;
use crate::context::Context;
use crate::span_context::SpanContext;
use crate::traceparent::{TraceParent, format_traceparent};
use crate::tracestate::TraceState;

/// The `traceparent` header name.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` header name.
pub const TRACESTATE: &str = "tracestate";
/// The `baggage` header name.
pub const BAGGAGE: &str = "baggage";

/// Our field names as `http` header names, built at compile time, so that a `HeaderMap`
/// lookup or insert only hashes the name instead of parsing and lowercasing it every call.
const TRACEPARENT_NAME: HeaderName = HeaderName::from_static(TRACEPARENT);
const TRACESTATE_NAME: HeaderName = HeaderName::from_static(TRACESTATE);
const BAGGAGE_NAME: HeaderName = HeaderName::from_static(BAGGAGE);

/// Reads fields from a carrier. Names are matched case-insensitively, as HTTP requires.
pub trait Extractor {
    /// The first value of `name`.
    fn get(&self, name: &str) -> Option<&[u8]>;

    /// Calls `visit` with every value of `name`, in order: several header lines with the same
    /// name are distinct values (a duplicated `traceparent` is invalid; `tracestate` lines
    /// combine).
    fn get_all<'a>(&'a self, name: &str, visit: &mut dyn FnMut(&'a [u8]));

    /// The field names present.
    fn keys(&self) -> Vec<&str>;
}

/// Writes fields into a carrier.
pub trait Injector {
    /// Sets `name` (lowercase) to `value`, replacing earlier values.
    fn set(&mut self, name: &'static str, value: &str);
}

/// Injects a [`Context`] into carriers and extracts one from them.
pub trait TextMapPropagator: Send + Sync + fmt::Debug {
    /// Writes the fields of `cx` this propagator owns into `injector`.
    fn inject(&self, cx: &Context, injector: &mut dyn Injector);

    /// Returns `cx` updated with what `extractor` carries. Invalid input never fails: the
    /// context comes back unchanged.
    fn extract(&self, cx: &Context, extractor: &dyn Extractor) -> Context;

    /// The field names this propagator reads and writes.
    fn fields(&self) -> &[&'static str];
}

/// W3C Trace Context: `traceparent` and `tracestate`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextPropagator;

impl TraceContextPropagator {
    /// Extracts the remote span context, or `None` when `traceparent` is missing, duplicated
    /// or invalid. An invalid `tracestate` is dropped without affecting `traceparent`.
    pub fn extract_span_context(extractor: &dyn Extractor) -> Option<SpanContext> {
        let mut count = 0usize;
        let mut first: Option<&[u8]> = None;
        extractor.get_all(TRACEPARENT, &mut |value| {
            count += 1;
            first.get_or_insert(value);
        });
        if count != 1 {
            return None;
        }
        let parent = TraceParent::parse(first?).ok()?;
        let (first, more) = all_values(extractor, TRACESTATE);
        let trace_state = match first {
            None => TraceState::EMPTY,
            Some(first) => {
                TraceState::parse_headers(std::iter::once(first).chain(more)).unwrap_or_default()
            }
        };
        Some(SpanContext::new(
            parent.trace_id,
            parent.parent_id,
            parent.flags.known(),
            true,
            trace_state,
        ))
    }
}

impl TextMapPropagator for TraceContextPropagator {
    fn inject(&self, cx: &Context, injector: &mut dyn Injector) {
        let Some(span_context) = cx.span_context().filter(|sc| sc.is_valid()) else {
            return;
        };
        let bytes = format_traceparent(
            span_context.trace_id(),
            span_context.span_id(),
            span_context.flags(),
        );
        if let Ok(value) = std::str::from_utf8(&bytes) {
            injector.set(TRACEPARENT, value);
        }
        let trace_state = span_context.trace_state();
        if !trace_state.is_empty() {
            injector.set(TRACESTATE, trace_state.header());
        }
    }

    fn extract(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match Self::extract_span_context(extractor) {
            Some(span_context) => cx.with_span_context(span_context),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> &[&'static str] {
        &[TRACEPARENT, TRACESTATE]
    }
}

/// W3C Baggage: the `baggage` header.
#[derive(Debug, Clone, Copy, Default)]
pub struct BaggagePropagator;

impl TextMapPropagator for BaggagePropagator {
    fn inject(&self, cx: &Context, injector: &mut dyn Injector) {
        let baggage = cx.baggage();
        if !baggage.is_empty() {
            injector.set(BAGGAGE, baggage.header());
        }
    }

    fn extract(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let (first, more) = all_values(extractor, BAGGAGE);
        let parsed = Baggage::parse_headers(first.into_iter().chain(more));
        // Dropping data is never silent; but the header comes from outside, so one sender's
        // bad header must not flood the program's stderr: the first such drop is reported.
        if (parsed.invalid > 0 || parsed.over_limit > 0)
            && !BAGGAGE_DROP_REPORTED.swap(true, Ordering::Relaxed)
        {
            diagnostic::report(
                "propagation",
                format_args!(
                    "dropped {} malformed and {} over-limit baggage members from an incoming \
                     header; later drops are not reported",
                    parsed.invalid, parsed.over_limit
                ),
            );
        }
        if parsed.baggage.is_empty() {
            cx.clone()
        } else {
            cx.with_baggage(parsed.baggage)
        }
    }

    fn fields(&self) -> &[&'static str] {
        &[BAGGAGE]
    }
}

/// Whether a baggage member dropped on extraction has been reported.
static BAGGAGE_DROP_REPORTED: AtomicBool = AtomicBool::new(false);

/// The values of `name`: the first, and the rest, which allocate only when there are several
/// lines (the usual request has one).
fn all_values<'a>(extractor: &'a dyn Extractor, name: &str) -> (Option<&'a [u8]>, Vec<&'a [u8]>) {
    let mut first = None;
    let mut more = Vec::new();
    extractor.get_all(name, &mut |value| {
        if first.is_none() {
            first = Some(value);
        } else {
            more.push(value);
        }
    });
    (first, more)
}

/// Runs several propagators in order: each injects its fields, and each extracts on top of
/// what the previous ones extracted.
#[derive(Debug)]
pub struct CompositePropagator {
    propagators: Vec<Box<dyn TextMapPropagator>>,
    fields: Vec<&'static str>,
}

impl CompositePropagator {
    /// Combines `propagators`, in order.
    pub fn new(propagators: Vec<Box<dyn TextMapPropagator>>) -> Self {
        let mut fields: Vec<&'static str> = Vec::new();
        for field in propagators.iter().flat_map(|p| p.fields().iter().copied()) {
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        CompositePropagator {
            propagators,
            fields,
        }
    }

    /// The OpenTelemetry default (`OTEL_PROPAGATORS=tracecontext,baggage`).
    pub fn w3c() -> Self {
        Self::new(vec![
            Box::new(TraceContextPropagator),
            Box::new(BaggagePropagator),
        ])
    }
}

impl TextMapPropagator for CompositePropagator {
    fn inject(&self, cx: &Context, injector: &mut dyn Injector) {
        for propagator in &self.propagators {
            propagator.inject(cx, injector);
        }
    }

    fn extract(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        self.propagators.iter().fold(cx.clone(), |cx, propagator| {
            propagator.extract(&cx, extractor)
        })
    }

    fn fields(&self) -> &[&'static str] {
        &self.fields
    }
}

impl Extractor for HeaderMap {
    fn get(&self, name: &str) -> Option<&[u8]> {
        HeaderMap::get(self, name).map(HeaderValue::as_bytes)
    }

    fn get_all<'a>(&'a self, name: &str, visit: &mut dyn FnMut(&'a [u8])) {
        let values = match name {
            TRACEPARENT => HeaderMap::get_all(self, &TRACEPARENT_NAME),
            TRACESTATE => HeaderMap::get_all(self, &TRACESTATE_NAME),
            BAGGAGE => HeaderMap::get_all(self, &BAGGAGE_NAME),
            _ => HeaderMap::get_all(self, name),
        };
        for value in values {
            visit(value.as_bytes());
        }
    }

    fn keys(&self) -> Vec<&str> {
        HeaderMap::keys(self).map(HeaderName::as_str).collect()
    }
}

impl Injector for HeaderMap {
    fn set(&mut self, name: &'static str, value: &str) {
        // Values we write are ASCII; a value that is not a valid header is skipped rather
        // than sent corrupted.
        let Ok(value) = HeaderValue::from_str(value) else {
            return;
        };
        let name = match name {
            TRACEPARENT => TRACEPARENT_NAME,
            TRACESTATE => TRACESTATE_NAME,
            BAGGAGE => BAGGAGE_NAME,
            // A custom propagator's field: `from_static` would panic on an uppercase or
            // otherwise invalid name, so it is checked, and a bad one skipped and reported.
            _ => match HeaderName::from_bytes(name.as_bytes()) {
                Ok(name) => name,
                Err(_) => {
                    diagnostic::report(
                        "propagation",
                        format_args!("{name:?} is not a valid HTTP header name; not injected"),
                    );
                    return;
                }
            },
        };
        self.insert(name, value);
    }
}

impl Extractor for HashMap<String, String> {
    fn get(&self, name: &str) -> Option<&[u8]> {
        match HashMap::get(self, name) {
            Some(value) => Some(value.as_bytes()),
            None => self
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_bytes()),
        }
    }

    fn get_all<'a>(&'a self, name: &str, visit: &mut dyn FnMut(&'a [u8])) {
        for (key, value) in self {
            if key.eq_ignore_ascii_case(name) {
                visit(value.as_bytes());
            }
        }
    }

    fn keys(&self) -> Vec<&str> {
        HashMap::keys(self).map(String::as_str).collect()
    }
}

impl Injector for HashMap<String, String> {
    fn set(&mut self, name: &'static str, value: &str) {
        self.retain(|key, _| !key.eq_ignore_ascii_case(name));
        self.insert(name.to_owned(), value.to_owned());
    }
}

/// A list of header lines, in order, as a multi-valued carrier.
impl Extractor for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_bytes())
    }

    fn get_all<'a>(&'a self, name: &str, visit: &mut dyn FnMut(&'a [u8])) {
        for (key, value) in self {
            if key.eq_ignore_ascii_case(name) {
                visit(value.as_bytes());
            }
        }
    }

    fn keys(&self) -> Vec<&str> {
        self.iter().map(|(k, _)| k.as_str()).collect()
    }
}

impl Injector for Vec<(String, String)> {
    fn set(&mut self, name: &'static str, value: &str) {
        self.retain(|(key, _)| !key.eq_ignore_ascii_case(name));
        self.push((name.to_owned(), value.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TraceFlags;
    use http::HeaderMap;
    use telemetry_core::{SpanId, TraceId};

    #[test]
    fn custom_header_names_are_checked_not_trusted() {
        let mut headers = HeaderMap::new();
        Injector::set(&mut headers, "X-Custom-Id", "1");
        assert_eq!(
            headers.get("x-custom-id").map(HeaderValue::as_bytes),
            Some(&b"1"[..])
        );
        Injector::set(&mut headers, "bad name", "2");
        Injector::set(&mut headers, "", "3");
        assert_eq!(headers.len(), 1, "invalid names are skipped, never a panic");
    }

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";

    fn headers(lines: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in lines {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    fn extract(lines: &[(&str, &str)]) -> Option<SpanContext> {
        TraceContextPropagator::extract_span_context(&headers(lines))
    }

    #[test]
    fn extracts_a_remote_context() {
        let tp = format!("00-{TRACE}-{PARENT}-03");
        let sc = extract(&[
            ("TraceParent", &tp),
            ("tracestate", "foo=1"),
            ("TRACESTATE", "bar=2"),
        ])
        .expect("valid");
        assert_eq!(sc.trace_id().to_string(), TRACE);
        assert_eq!(sc.span_id().to_string(), PARENT);
        assert!(sc.is_remote());
        assert!(sc.flags().is_sampled() && sc.flags().is_random());
        assert_eq!(sc.trace_state().header(), "foo=1,bar=2");
    }

    #[test]
    fn invalid_or_duplicated_traceparent_extracts_nothing() {
        let tp = format!("00-{TRACE}-{PARENT}-01");
        assert_eq!(extract(&[]), None);
        assert_eq!(
            extract(&[("traceparent", &tp), ("traceparent", &tp)]),
            None,
            "two lines"
        );
        assert_eq!(extract(&[("traceparent", &tp.to_uppercase())]), None);
        assert_eq!(extract(&[("trace-parent", &tp)]), None, "not the header");
        assert_eq!(
            extract(&[("tracestate", "foo=1")]),
            None,
            "tracestate alone"
        );
    }

    #[test]
    fn bad_tracestate_keeps_traceparent() {
        let tp = format!("00-{TRACE}-{PARENT}-01");
        let sc = extract(&[("traceparent", &tp), ("tracestate", "FOO=1")]).expect("valid");
        assert!(sc.trace_state().is_empty());
        assert_eq!(sc.trace_id().to_string(), TRACE);
    }

    #[test]
    fn unknown_flags_are_cleared_on_the_way_out() {
        let tp = format!("00-{TRACE}-{PARENT}-ff");
        let cx = TraceContextPropagator.extract(&Context::new(), &headers(&[("traceparent", &tp)]));
        let mut out = HeaderMap::new();
        TraceContextPropagator.inject(&cx, &mut out);
        assert_eq!(
            out.get(TRACEPARENT).map(HeaderValue::as_bytes),
            Some(format!("00-{TRACE}-{PARENT}-03").as_bytes())
        );
        assert!(
            out.get(TRACESTATE).is_none(),
            "empty tracestate is not sent"
        );
    }

    #[test]
    fn invalid_contexts_are_not_injected() {
        let mut out: HashMap<String, String> = HashMap::new();
        TraceContextPropagator.inject(&Context::new(), &mut out);
        TraceContextPropagator.inject(
            &Context::new().with_span_context(SpanContext::INVALID),
            &mut out,
        );
        assert!(out.is_empty());
    }

    #[test]
    fn failed_extraction_keeps_the_previous_context() {
        let previous = SpanContext::new(
            TraceId::from_int(9),
            SpanId::from_int(9),
            TraceFlags::SAMPLED,
            false,
            TraceState::EMPTY,
        );
        let cx = Context::new().with_span_context(previous.clone());
        let after = CompositePropagator::w3c().extract(
            &cx,
            &headers(&[("traceparent", "garbage"), ("baggage", "=")]),
        );
        assert_eq!(after.span_context(), Some(&previous));
        assert!(after.baggage().is_empty());
    }

    #[test]
    fn composite_round_trips_through_every_carrier() {
        let propagator = CompositePropagator::w3c();
        assert_eq!(propagator.fields(), &[TRACEPARENT, TRACESTATE, BAGGAGE]);
        let state = TraceState::parse("vendor=x").expect("valid");
        let sc = SpanContext::new(
            TraceId::random(),
            SpanId::random(),
            TraceFlags::SAMPLED,
            false,
            state,
        );
        let baggage = Baggage::EMPTY.insert("user", "a b").expect("valid");
        let cx = Context::new()
            .with_span_context(sc.clone())
            .with_baggage(baggage.clone());

        let mut map: HashMap<String, String> = HashMap::new();
        propagator.inject(&cx, &mut map);
        let mut lines: Vec<(String, String)> = Vec::new();
        propagator.inject(&cx, &mut lines);
        let mut header_map = HeaderMap::new();
        propagator.inject(&cx, &mut header_map);

        let carriers: [&dyn Extractor; 3] = [&map, &lines, &header_map];
        for carrier in carriers {
            let back = propagator.extract(&Context::new(), carrier);
            let extracted = back.span_context().expect("extracted");
            assert_eq!(
                (extracted.trace_id(), extracted.span_id()),
                (sc.trace_id(), sc.span_id())
            );
            assert_eq!(extracted.trace_state().header(), "vendor=x");
            assert_eq!(back.baggage(), &baggage);
            assert_eq!(carrier.get("BAGGAGE"), Some(&b"user=a%20b"[..]));
            assert_eq!(carrier.keys().len(), 3);
        }
    }
}
