//! What context propagation costs: our W3C Trace Context and Baggage code against
//! opentelemetry_sdk's and fastrace's, in the same run.
//!
//! Every group holds our implementation and its peers side by side, so criterion reports them
//! together and the ratios compare like with like on the same machine:
//!
//! - `context/traceparent_parse`: [`TraceParent::parse`] against fastrace's
//!   `SpanContext::decode_w3c_traceparent`. opentelemetry_sdk has no public standalone
//!   parser, so its figure is a whole `TraceContextPropagator` extract from a
//!   `HashMap<String, String>` holding only `traceparent`; our propagator extract from the same
//!   carrier sits beside it as the like-for-like comparison.
//! - `context/traceparent_format`: [`format_traceparent`] (a `[u8; 55]`, no allocation)
//!   against fastrace's `encode_w3c_traceparent` (a `String`), plus both propagators
//!   injecting into a `HashMap<String, String>`.
//! - `context/headermap_extract/*` and `context/headermap_inject/*`: both propagator stacks
//!   (trace context alone, then trace context with baggage) on an `http::HeaderMap` carrying
//!   `traceparent`, `tracestate` and a small `baggage`.
//! - `context/carrier_floor`: only the carriers' own work that any propagator must pay
//!   (the lookups of an extract, the value copies and inserts of an inject), with the values
//!   already formatted, so the figures above can be read against what is left to gain.
//!
//! opentelemetry 0.33 has no carrier for `http::HeaderMap` (that lives in the
//! `opentelemetry-http` crate, which is not a dependency), so [`OtelHeaderExtractor`] and
//! [`OtelHeaderInjector`] below do what `opentelemetry-http`'s `HeaderExtractor` and
//! `HeaderInjector` do; see their docs for how that compares with our carrier.
//!
//! Both sides are handed the parent context explicitly: ours through `extract(&cx, ..)`,
//! opentelemetry's through `extract_with_context` (its `extract` only adds a lookup of the
//! thread's current context first). opentelemetry's trace context inject also writes an empty
//! `tracestate` when there is none; that is its behaviour, and it is measured as is.
//!
//! Inject benchmarks clear one reused carrier before every call (clearing keeps the map's
//! capacity), so each iteration writes the same headers into an empty map and nothing grows.
//! Every setup is checked once before measuring, so a benchmark never times a path that
//! silently failed.

use std::collections::HashMap;
use std::hint::black_box;
use std::str::FromStr;

use criterion::{Criterion, criterion_group, criterion_main};
use fastrace::collector::SpanContext as FastraceSpanContext;
use http::{HeaderMap, HeaderName, HeaderValue};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::propagation::{
    Extractor as OtelExtractor, Injector as OtelInjector, TextMapCompositePropagator,
    TextMapPropagator as OtelTextMapPropagator,
};
use opentelemetry::trace::{
    SpanContext as OtelSpanContext, SpanId as OtelSpanId, TraceContextExt,
    TraceFlags as OtelTraceFlags, TraceId as OtelTraceId, TraceState as OtelTraceState,
};
use opentelemetry::{Context as OtelContext, KeyValue, StringValue};
use opentelemetry_sdk::propagation::{
    BaggagePropagator as OtelBaggagePropagator,
    TraceContextPropagator as OtelTraceContextPropagator,
};
use telemetry_context::{
    Baggage, CompositePropagator, Context, SpanContext, TextMapPropagator, TraceContextPropagator,
    TraceFlags, TraceParent, TraceState, format_traceparent,
};
use telemetry_core::{SpanId, TraceId};

/// The W3C specification's example `traceparent`.
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";
/// The W3C specification's example `tracestate`.
const TRACESTATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
/// A small baggage, as the W3C Baggage specification's example.
const BAGGAGE: &str = "userId=alice,serverNode=DF%2028,isProduction=false";
const BAGGAGE_ENTRIES: [(&str, &str); 3] = [
    ("userId", "alice"),
    ("serverNode", "DF 28"),
    ("isProduction", "false"),
];

/// Reads an `http::HeaderMap` for opentelemetry's propagators, as `opentelemetry-http`'s
/// `HeaderExtractor` does.
///
/// The work matches our `Extractor for HeaderMap`: one `HeaderMap::get` per field, which
/// hashes the name. The one difference is forced by opentelemetry's `Extractor` returning
/// `&str`: `HeaderValue::to_str` scans the value for visible ASCII first, where our carrier
/// hands the bytes to a parser that checks every byte anyway.
#[derive(Debug)]
struct OtelHeaderExtractor<'a>(&'a HeaderMap);

impl OtelExtractor for OtelHeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|value| value.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Writes an `http::HeaderMap` for opentelemetry's propagators, as `opentelemetry-http`'s
/// `HeaderInjector` does.
///
/// The work matches our `Injector for HeaderMap`: `HeaderValue::from_str` (a check and a copy
/// into the map's storage) and one `HeaderMap::insert`. The one difference is forced by
/// opentelemetry's `Injector` taking the name as a non-`'static` `&str`: it goes through
/// `HeaderName::from_bytes`, where our carrier uses `HeaderName::from_static`.
#[derive(Debug)]
struct OtelHeaderInjector<'a>(&'a mut HeaderMap);

impl OtelInjector for OtelHeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(key.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The same trace, span, flags, tracestate and baggage, in both libraries' context types.
struct Contexts {
    ours: Context,
    otel: OtelContext,
}

fn contexts(with_trace_state: bool) -> Contexts {
    let trace_state = if with_trace_state {
        TraceState::parse(TRACESTATE).expect("valid tracestate")
    } else {
        TraceState::EMPTY
    };
    let mut baggage = Baggage::EMPTY;
    for (name, value) in BAGGAGE_ENTRIES {
        baggage = baggage.insert(name, value).expect("valid baggage entry");
    }
    let ours = Context::new()
        .with_span_context(SpanContext::new(
            TraceId::from_hex(TRACE_ID).expect("valid trace id"),
            SpanId::from_hex(SPAN_ID).expect("valid span id"),
            TraceFlags::SAMPLED,
            true,
            trace_state,
        ))
        .with_baggage(baggage);

    let otel_trace_state = if with_trace_state {
        OtelTraceState::from_str(TRACESTATE).expect("valid tracestate")
    } else {
        OtelTraceState::default()
    };
    let otel = OtelContext::new()
        .with_remote_span_context(OtelSpanContext::new(
            OtelTraceId::from_hex(TRACE_ID).expect("valid trace id"),
            OtelSpanId::from_hex(SPAN_ID).expect("valid span id"),
            OtelTraceFlags::SAMPLED,
            true,
            otel_trace_state,
        ))
        .with_baggage(
            BAGGAGE_ENTRIES
                .into_iter()
                .map(|(name, value)| KeyValue::new(name, value))
                .collect::<Vec<_>>(),
        );
    Contexts { ours, otel }
}

/// An incoming request's propagation headers.
fn incoming_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("traceparent", TRACEPARENT),
        ("tracestate", TRACESTATE),
        ("baggage", BAGGAGE),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers
}

fn otel_w3c() -> TextMapCompositePropagator {
    TextMapCompositePropagator::new(vec![
        Box::new(OtelTraceContextPropagator::new()),
        Box::new(OtelBaggagePropagator::new()),
    ])
}

fn traceparent_parse(c: &mut Criterion) {
    // Check once that every contender accepts the value, so no benchmark times a rejection.
    let parsed = TraceParent::parse(TRACEPARENT.as_bytes()).expect("valid traceparent");
    assert_eq!(parsed.trace_id.to_string(), TRACE_ID);
    let fastrace = FastraceSpanContext::decode_w3c_traceparent(TRACEPARENT).expect("valid");
    assert_eq!(format!("{:032x}", fastrace.trace_id.0), TRACE_ID);
    let carrier: HashMap<String, String> =
        HashMap::from([("traceparent".to_owned(), TRACEPARENT.to_owned())]);
    let ours_cx = TraceContextPropagator.extract(&Context::new(), &carrier);
    assert_eq!(
        ours_cx.span_context().map(|sc| sc.trace_id().to_string()),
        Some(TRACE_ID.to_owned())
    );
    let otel = OtelTraceContextPropagator::new();
    let otel_cx = otel.extract_with_context(&OtelContext::new(), &carrier);
    assert_eq!(
        otel_cx.span().span_context().trace_id().to_string(),
        TRACE_ID
    );

    let mut group = c.benchmark_group("context/traceparent_parse");
    group.bench_function("telemetry TraceParent::parse", |b| {
        b.iter(|| TraceParent::parse(black_box(TRACEPARENT.as_bytes())));
    });
    group.bench_function("fastrace SpanContext::decode_w3c_traceparent", |b| {
        b.iter(|| FastraceSpanContext::decode_w3c_traceparent(black_box(TRACEPARENT)));
    });
    let empty = Context::new();
    group.bench_function("telemetry TraceContextPropagator extract (HashMap)", |b| {
        b.iter(|| TraceContextPropagator.extract(black_box(&empty), black_box(&carrier)));
    });
    let otel_empty = OtelContext::new();
    group.bench_function(
        "opentelemetry_sdk TraceContextPropagator extract (HashMap)",
        |b| {
            b.iter(|| otel.extract_with_context(black_box(&otel_empty), black_box(&carrier)));
        },
    );
    group.finish();
}

fn traceparent_format(c: &mut Criterion) {
    let trace_id = TraceId::from_hex(TRACE_ID).expect("valid trace id");
    let span_id = SpanId::from_hex(SPAN_ID).expect("valid span id");
    let flags = TraceFlags::SAMPLED;
    let fastrace = FastraceSpanContext::decode_w3c_traceparent(TRACEPARENT).expect("valid");
    let Contexts { ours, otel } = contexts(false);
    let ours_propagator = TraceContextPropagator;
    let otel_propagator = OtelTraceContextPropagator::new();

    // Check once that every contender writes the same header.
    assert_eq!(
        &format_traceparent(trace_id, span_id, flags),
        TRACEPARENT.as_bytes()
    );
    assert_eq!(fastrace.encode_w3c_traceparent(), TRACEPARENT);
    let mut ours_carrier: HashMap<String, String> = HashMap::new();
    ours_propagator.inject(&ours, &mut ours_carrier);
    assert_eq!(ours_carrier["traceparent"], TRACEPARENT);
    let mut otel_carrier: HashMap<String, String> = HashMap::new();
    otel_propagator.inject_context(&otel, &mut otel_carrier);
    assert_eq!(otel_carrier["traceparent"], TRACEPARENT);

    let mut group = c.benchmark_group("context/traceparent_format");
    group.bench_function("telemetry format_traceparent ([u8; 55])", |b| {
        b.iter(|| format_traceparent(black_box(trace_id), black_box(span_id), black_box(flags)));
    });
    group.bench_function("telemetry format_traceparent to String", |b| {
        b.iter(|| {
            let bytes =
                format_traceparent(black_box(trace_id), black_box(span_id), black_box(flags));
            std::str::from_utf8(&bytes).map(str::to_owned)
        });
    });
    group.bench_function(
        "fastrace SpanContext::encode_w3c_traceparent (String)",
        |b| {
            b.iter(|| black_box(&fastrace).encode_w3c_traceparent());
        },
    );
    group.bench_function("telemetry TraceContextPropagator inject (HashMap)", |b| {
        b.iter(|| {
            ours_carrier.clear();
            ours_propagator.inject(black_box(&ours), &mut ours_carrier);
            black_box(&ours_carrier);
        });
    });
    group.bench_function(
        "opentelemetry_sdk TraceContextPropagator inject_context (HashMap)",
        |b| {
            b.iter(|| {
                otel_carrier.clear();
                otel_propagator.inject_context(black_box(&otel), &mut otel_carrier);
                black_box(&otel_carrier);
            });
        },
    );
    group.finish();
}

fn headermap_extract(c: &mut Criterion) {
    let headers = incoming_headers();
    let ours_tc = TraceContextPropagator;
    let ours_w3c = CompositePropagator::w3c();
    let otel_tc = OtelTraceContextPropagator::new();
    let otel_w3c = otel_w3c();
    let empty = Context::new();
    let otel_empty = OtelContext::new();

    // Check once that both stacks extract the whole context.
    let ours_cx = ours_w3c.extract(&empty, &headers);
    let ours_sc = ours_cx.span_context().expect("extracted");
    assert_eq!(ours_sc.trace_id().to_string(), TRACE_ID);
    assert_eq!(ours_sc.trace_state().header(), TRACESTATE);
    assert_eq!(ours_cx.baggage().get("serverNode"), Some("DF 28"));
    let otel_cx = otel_w3c.extract_with_context(&otel_empty, &OtelHeaderExtractor(&headers));
    let otel_span = otel_cx.span();
    let otel_sc = otel_span.span_context();
    assert_eq!(otel_sc.trace_id().to_string(), TRACE_ID);
    assert_eq!(otel_sc.trace_state().header(), TRACESTATE);
    assert_eq!(
        otel_cx.baggage().get("serverNode").map(StringValue::as_str),
        Some("DF 28")
    );

    let mut group = c.benchmark_group("context/headermap_extract/tracecontext");
    group.bench_function("telemetry TraceContextPropagator", |b| {
        b.iter(|| ours_tc.extract(black_box(&empty), black_box(&headers)));
    });
    group.bench_function("opentelemetry_sdk TraceContextPropagator", |b| {
        b.iter(|| {
            otel_tc.extract_with_context(
                black_box(&otel_empty),
                &OtelHeaderExtractor(black_box(&headers)),
            )
        });
    });
    group.finish();

    let mut group = c.benchmark_group("context/headermap_extract/w3c_with_baggage");
    group.bench_function("telemetry CompositePropagator::w3c", |b| {
        b.iter(|| ours_w3c.extract(black_box(&empty), black_box(&headers)));
    });
    group.bench_function("opentelemetry_sdk TextMapCompositePropagator", |b| {
        b.iter(|| {
            otel_w3c.extract_with_context(
                black_box(&otel_empty),
                &OtelHeaderExtractor(black_box(&headers)),
            )
        });
    });
    group.finish();
}

fn headermap_inject(c: &mut Criterion) {
    let Contexts { ours, otel } = contexts(true);
    let ours_tc = TraceContextPropagator;
    let ours_w3c = CompositePropagator::w3c();
    let otel_tc = OtelTraceContextPropagator::new();
    let otel_w3c = otel_w3c();
    let mut ours_headers = HeaderMap::new();
    let mut otel_headers = HeaderMap::new();

    // Check once that both stacks write the same three headers. opentelemetry's baggage is a
    // hash map, so its members come out in any order: compare them sorted.
    ours_w3c.inject(&ours, &mut ours_headers);
    otel_w3c.inject_context(&otel, &mut OtelHeaderInjector(&mut otel_headers));
    let sorted_members = |value: &HeaderValue| {
        let mut members: Vec<String> = value
            .to_str()
            .expect("ASCII baggage")
            .split(',')
            .map(str::to_owned)
            .collect();
        members.sort();
        members
    };
    for headers in [&ours_headers, &otel_headers] {
        assert_eq!(headers["traceparent"], TRACEPARENT);
        assert_eq!(headers["tracestate"], TRACESTATE);
        assert_eq!(
            sorted_members(&headers["baggage"]),
            sorted_members(&HeaderValue::from_static(BAGGAGE))
        );
    }

    let mut group = c.benchmark_group("context/headermap_inject/tracecontext");
    group.bench_function("telemetry TraceContextPropagator", |b| {
        b.iter(|| {
            ours_headers.clear();
            ours_tc.inject(black_box(&ours), &mut ours_headers);
            black_box(&ours_headers);
        });
    });
    group.bench_function("opentelemetry_sdk TraceContextPropagator", |b| {
        b.iter(|| {
            otel_headers.clear();
            otel_tc.inject_context(black_box(&otel), &mut OtelHeaderInjector(&mut otel_headers));
            black_box(&otel_headers);
        });
    });
    group.finish();

    let mut group = c.benchmark_group("context/headermap_inject/w3c_with_baggage");
    group.bench_function("telemetry CompositePropagator::w3c", |b| {
        b.iter(|| {
            ours_headers.clear();
            ours_w3c.inject(black_box(&ours), &mut ours_headers);
            black_box(&ours_headers);
        });
    });
    group.bench_function("opentelemetry_sdk TextMapCompositePropagator", |b| {
        b.iter(|| {
            otel_headers.clear();
            otel_w3c.inject_context(black_box(&otel), &mut OtelHeaderInjector(&mut otel_headers));
            black_box(&otel_headers);
        });
    });
    group.finish();
}

/// Looks each of `names` up in `headers`, reading every value as an extract does.
///
/// Not inlined, here and below, so that a profile counts each floor routine once per
/// iteration (the instruction-count method of docs/performance.md).
#[inline(never)]
fn headermap_lookups(headers: &HeaderMap, names: &[HeaderName]) -> usize {
    names
        .iter()
        .flat_map(|name| headers.get_all(name))
        .map(|value| value.as_bytes().len())
        .sum()
}

/// Clears `headers` and inserts each `(name, value)`, copying the value into a
/// `HeaderValue` as an inject must.
#[inline(never)]
fn headermap_inserts(headers: &mut HeaderMap, fields: &[(HeaderName, &str)]) {
    headers.clear();
    for (name, value) in fields {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(name.clone(), value);
        }
    }
}

/// Clears `map` and inserts `traceparent`, allocating its name and value as `String`s.
#[inline(never)]
fn hashmap_insert(map: &mut HashMap<String, String>, value: &str) {
    map.clear();
    map.insert("traceparent".to_owned(), value.to_owned());
}

/// Looks `traceparent` up in `map`.
#[inline(never)]
fn hashmap_lookup(map: &HashMap<String, String>) -> Option<usize> {
    map.get("traceparent").map(String::len)
}

/// What the carriers alone cost: the floor under every propagator's extract and inject.
///
/// Each routine does exactly the carrier calls one of the benchmarks above makes through our
/// propagators, with the header values ready-made: a `HashMap<String, String>` inject must
/// allocate the name and the value as two `String`s, a `HeaderMap` inject must copy each value
/// into a `HeaderValue`, and an extract must look each field up.
fn carrier_floor(c: &mut Criterion) {
    let headers = incoming_headers();
    let traceparent = HeaderName::from_static("traceparent");
    let tracestate = HeaderName::from_static("tracestate");
    let baggage = HeaderName::from_static("baggage");
    let trace_context = [traceparent.clone(), tracestate.clone()];
    let w3c = [traceparent.clone(), tracestate.clone(), baggage.clone()];
    // Check once that the lookups find what the extract benchmarks read.
    assert_eq!(
        headermap_lookups(&headers, &w3c),
        TRACEPARENT.len() + TRACESTATE.len() + BAGGAGE.len()
    );
    let carrier: HashMap<String, String> =
        HashMap::from([("traceparent".to_owned(), TRACEPARENT.to_owned())]);
    assert_eq!(hashmap_lookup(&carrier), Some(TRACEPARENT.len()));

    let mut group = c.benchmark_group("context/carrier_floor");
    let mut map: HashMap<String, String> = HashMap::new();
    group.bench_function("HashMap<String, String> insert traceparent", |b| {
        b.iter(|| {
            hashmap_insert(&mut map, black_box(TRACEPARENT));
            black_box(&map);
        });
    });
    group.bench_function("HashMap<String, String> get traceparent", |b| {
        b.iter(|| hashmap_lookup(black_box(&carrier)));
    });
    group.bench_function("HeaderMap get_all traceparent, tracestate", |b| {
        b.iter(|| headermap_lookups(black_box(&headers), &trace_context));
    });
    group.bench_function("HeaderMap get_all traceparent, tracestate, baggage", |b| {
        b.iter(|| headermap_lookups(black_box(&headers), &w3c));
    });
    let mut header_map = HeaderMap::new();
    let trace_context_values = [
        (traceparent.clone(), TRACEPARENT),
        (tracestate.clone(), TRACESTATE),
    ];
    let w3c_values = [
        (traceparent, TRACEPARENT),
        (tracestate, TRACESTATE),
        (baggage, BAGGAGE),
    ];
    group.bench_function("HeaderMap insert traceparent, tracestate", |b| {
        b.iter(|| {
            headermap_inserts(&mut header_map, black_box(&trace_context_values));
            black_box(&header_map);
        });
    });
    group.bench_function("HeaderMap insert traceparent, tracestate, baggage", |b| {
        b.iter(|| {
            headermap_inserts(&mut header_map, black_box(&w3c_values));
            black_box(&header_map);
        });
    });
    group.finish();
}

criterion_group!(
    benches,
    traceparent_parse,
    traceparent_format,
    headermap_extract,
    headermap_inject,
    carrier_floor
);
criterion_main!(benches);
