//! The hot recording paths the benchmarks measure, each run many times in a loop of its own,
//! with exact totals checked afterwards: the repeated calls are what the per-thread series
//! cache and the bound handles speed up, so these totals are what they must not get wrong.
//!
//! Each loop is an `#[inline(never)]` function named `loop_*`, so this binary doubles as the
//! instruction-count harness for the recording paths: built in release and run under
//! `valgrind --tool=callgrind` with `HOT_PATH_ITERATIONS` raised, each loop's inclusive cost
//! divided by the iteration count is the cost of one measurement.

use std::hint::black_box;

use telemetry_context::{Context, SpanContext, TraceFlags, TraceState};
use telemetry_core::{KeyValue, SpanId, TraceId};
use telemetry_metrics::data::{MetricData, Number, ResourceMetrics};
use telemetry_metrics::{
    AttributeFilter, BoundCounter, Counter, ExemplarFilter, Histogram, ManualReader, MeterProvider,
    TemporalityPreference, View,
};

/// How many measurements each loop records: small by default so the test is fast.
fn iterations() -> u64 {
    std::env::var("HOT_PATH_ITERATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10_000)
}

fn attributes() -> [KeyValue; 3] {
    [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.route", "/api/users"),
        KeyValue::new("http.response.status_code", 200i64),
    ]
}

#[inline(never)]
fn loop_counter_add_0_attributes(counter: &Counter<u64>, n: u64) {
    for _ in 0..n {
        counter.add(black_box(1), &[]);
    }
}

#[inline(never)]
fn loop_counter_add_3_attributes(counter: &Counter<u64>, attributes: &[KeyValue; 3], n: u64) {
    for _ in 0..n {
        counter.add(black_box(1), attributes);
    }
}

#[inline(never)]
fn loop_bound_counter_add(bound: &BoundCounter<u64>, n: u64) {
    for _ in 0..n {
        bound.add(black_box(1));
    }
}

#[inline(never)]
fn loop_histogram_record_3_attributes(
    histogram: &Histogram<f64>,
    attributes: &[KeyValue; 3],
    n: u64,
) {
    let mut value = 0.0;
    for _ in 0..n {
        value = if value > 2000.0 { 0.0 } else { value + 7.3 };
        histogram.record(black_box(value), attributes);
    }
}

/// Every point of the metric `name`: (attributes, sum value or histogram count).
fn points(metrics: &ResourceMetrics, name: &str) -> Vec<(Vec<KeyValue>, i64)> {
    let mut found = Vec::new();
    for metric in metrics
        .scope_metrics
        .iter()
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == name)
    {
        match &metric.data {
            MetricData::Sum(sum) => {
                for point in &sum.points {
                    let Number::I64(value) = point.value else {
                        panic!("an integer counter gave {:?}", point.value);
                    };
                    found.push((point.attributes.clone(), value));
                }
            }
            MetricData::Histogram(histogram) => {
                for point in &histogram.points {
                    assert_eq!(point.count, point.bucket_counts.iter().sum::<u64>());
                    found.push((point.attributes.clone(), point.count as i64));
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    found
}

fn sorted(mut attributes: Vec<KeyValue>) -> Vec<KeyValue> {
    attributes.sort_by(|a, b| a.key.cmp(&b.key));
    attributes
}

fn run(filter: ExemplarFilter) -> Result<(), Box<dyn std::error::Error>> {
    let n = iterations();
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_exemplar_filter(filter)
        .build();
    let meter = provider.meter("hot");
    let attributes = attributes();

    let plain = meter.u64_counter("plain").build()?;
    loop_counter_add_0_attributes(&plain, n);
    let labelled = meter.u64_counter("labelled").build()?;
    loop_counter_add_3_attributes(&labelled, &attributes, n);
    let bound_counter = meter.u64_counter("bound").build()?;
    let bound = bound_counter.bind(&attributes);
    loop_bound_counter_add(&bound, n);
    let histogram = meter.f64_histogram("latency").build()?;
    loop_histogram_record_3_attributes(&histogram, &attributes, n);

    let metrics = reader.collect()?;
    let n = i64::try_from(n)?;
    let expected = sorted(attributes.to_vec());
    assert_eq!(points(&metrics, "plain"), vec![(Vec::new(), n)]);
    for name in ["labelled", "bound", "latency"] {
        assert_eq!(
            points(&metrics, name),
            vec![(expected.clone(), n)],
            "{name}"
        );
    }
    provider.shutdown()?;
    Ok(())
}

#[test]
fn hot_paths_count_every_measurement_with_trace_based_exemplars()
-> Result<(), Box<dyn std::error::Error>> {
    run(ExemplarFilter::TraceBased)
}

#[test]
fn hot_paths_count_every_measurement_without_exemplars() -> Result<(), Box<dyn std::error::Error>> {
    run(ExemplarFilter::AlwaysOff)
}

/// The point value of the series whose attributes are `attributes` (any order).
fn value_for(metrics: &ResourceMetrics, name: &str, attributes: &[KeyValue]) -> Option<i64> {
    let wanted = sorted(attributes.to_vec());
    points(metrics, name)
        .into_iter()
        .find(|(found, _)| *found == wanted)
        .map(|(_, value)| value)
}

#[test]
fn repeated_calls_through_the_cache_land_in_the_series_the_contents_name()
-> Result<(), Box<dyn std::error::Error>> {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder().with_reader(reader.clone()).build();
    let meter = provider.meter("cache");
    let a = meter.u64_counter("a").build()?;
    let b = meter.u64_counter("b").build()?;
    // One array at one address, its contents changed between calls in every way the cache's
    // prints look at: another static string of the same length, an owned string with the
    // same text, an owned string with other text of the same length, a scalar of another
    // type with the same bits, and a key changed under the same value.
    let mut attributes = [KeyValue::new("route", "/a"), KeyValue::new("code", 1i64)];
    let owned_a = String::from("/a");
    let owned_c = String::from("/c");
    for _ in 0..3 {
        attributes[0] = KeyValue::new("route", "/a");
        attributes[1] = KeyValue::new("code", 1i64);
        a.add(1, &attributes);
        b.add(10, &attributes); // same address, another instrument
        attributes[0] = KeyValue::new("route", "/b");
        a.add(1, &attributes);
        attributes[0] = KeyValue::new("route", owned_a.clone());
        a.add(1, &attributes); // same text as "/a": the "/a" series
        attributes[0] = KeyValue::new("route", owned_c.clone());
        a.add(1, &attributes);
        attributes[1] = KeyValue::new("code", f64::from_bits(1));
        a.add(1, &attributes);
        attributes[1] = KeyValue::new("kode", 1i64);
        a.add(1, &attributes);
        // And the same contents from another array: the same series as the first add.
        let copy = [KeyValue::new("code", 1i64), KeyValue::new("route", "/a")];
        a.add(100, &copy);
    }
    let metrics = reader.collect()?;
    let route_a = [KeyValue::new("route", "/a"), KeyValue::new("code", 1i64)];
    assert_eq!(value_for(&metrics, "a", &route_a), Some(3 * 102));
    assert_eq!(value_for(&metrics, "b", &route_a), Some(30));
    assert_eq!(points(&metrics, "b").len(), 1);
    let route_b = [KeyValue::new("route", "/b"), KeyValue::new("code", 1i64)];
    assert_eq!(value_for(&metrics, "a", &route_b), Some(3));
    let route_c = [KeyValue::new("route", "/c"), KeyValue::new("code", 1i64)];
    assert_eq!(value_for(&metrics, "a", &route_c), Some(3));
    let float_code = [
        KeyValue::new("route", "/c"),
        KeyValue::new("code", f64::from_bits(1)),
    ];
    assert_eq!(value_for(&metrics, "a", &float_code), Some(3));
    let kode = [KeyValue::new("route", "/c"), KeyValue::new("kode", 1i64)];
    assert_eq!(value_for(&metrics, "a", &kode), Some(3));
    assert_eq!(points(&metrics, "a").len(), 5);
    provider.shutdown()?;
    Ok(())
}

#[test]
fn a_cached_call_site_respects_the_cardinality_limit() -> Result<(), Box<dyn std::error::Error>> {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_cardinality_limit(2)
        .build();
    let counter = provider.meter("limit").u64_counter("c").build()?;
    let first = [KeyValue::new("k", 1i64)];
    let second = [KeyValue::new("k", 2i64)];
    let third = [KeyValue::new("k", 3i64)];
    for _ in 0..10 {
        counter.add(1, &first);
        counter.add(1, &second);
        counter.add(1, &third); // past the limit, every time
    }
    let metrics = reader.collect()?;
    assert_eq!(value_for(&metrics, "c", &first), Some(10));
    assert_eq!(value_for(&metrics, "c", &second), Some(10));
    assert_eq!(value_for(&metrics, "c", &third), None);
    let overflow = [KeyValue::new(telemetry_metrics::OVERFLOW_ATTRIBUTE, true)];
    assert_eq!(value_for(&metrics, "c", &overflow), Some(10));
    provider.shutdown()?;
    Ok(())
}

#[test]
fn a_cached_call_site_follows_views_and_readers_of_both_temporalities()
-> Result<(), Box<dyn std::error::Error>> {
    let cumulative = ManualReader::new();
    let delta = ManualReader::with_temporality(TemporalityPreference::Delta);
    let provider = MeterProvider::builder()
        .with_reader(cumulative.clone())
        .with_reader(delta.clone())
        .with_view(
            View::builder()
                .with_instrument_name("filtered")
                .with_attribute_filter(AttributeFilter::Keep(vec!["route".to_owned()]))
                .build()?,
        )
        .build();
    let meter = provider.meter("views");
    let filtered = meter.u64_counter("filtered").build()?;
    let mut attributes = [KeyValue::new("route", "/a"), KeyValue::new("user", "u1")];
    for i in 0..20i64 {
        attributes[1] = KeyValue::new("user", i % 4);
        filtered.add(1, &attributes);
    }
    let route = [KeyValue::new("route", "/a")];
    let first_cumulative = cumulative.collect()?;
    assert_eq!(value_for(&first_cumulative, "filtered", &route), Some(20));
    assert_eq!(points(&first_cumulative, "filtered").len(), 1);
    assert_eq!(value_for(&delta.collect()?, "filtered", &route), Some(20));
    for _ in 0..5 {
        filtered.add(1, &attributes);
    }
    assert_eq!(
        value_for(&cumulative.collect()?, "filtered", &route),
        Some(25)
    );
    assert_eq!(value_for(&delta.collect()?, "filtered", &route), Some(5));

    // After shutdown, recording through a warm cache is harmless and collecting fails.
    provider.shutdown()?;
    filtered.add(1, &attributes);
    assert!(cumulative.collect().is_err());
    Ok(())
}

#[test]
fn the_trace_based_filter_still_records_the_sampled_span_on_every_fast_path()
-> Result<(), Box<dyn std::error::Error>> {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_exemplar_filter(ExemplarFilter::TraceBased)
        .build();
    let meter = provider.meter("exemplars");
    let counter = meter.u64_counter("c").build()?;
    let histogram = meter.f64_histogram("h").build()?;
    let attributes = attributes();
    let bound = counter.bind(&attributes);
    // Warm the thread cache outside any span, then record inside an unsampled span and a
    // sampled one.
    for _ in 0..3 {
        counter.add(1, &attributes);
        histogram.record(1.0, &attributes);
        bound.add(1);
    }
    for (flags, value) in [(TraceFlags::NONE, 2.0), (TraceFlags::SAMPLED, 3.0)] {
        let span = SpanContext::new(
            TraceId::from_int(0x5eed),
            SpanId::from_int(if flags.is_sampled() { 0xaa } else { 0xbb }),
            flags,
            false,
            TraceState::EMPTY,
        );
        let _guard = Context::new().with_span_context(span).attach();
        counter.add(5, &attributes);
        histogram.record(value, &attributes);
        bound.add(7);
    }
    let metrics = reader.collect()?;
    for metric in metrics.scope_metrics.iter().flat_map(|s| &s.metrics) {
        let exemplars = match &metric.data {
            MetricData::Sum(sum) => sum.points[0].exemplars.clone(),
            MetricData::Histogram(h) => h.points[0].exemplars.clone(),
            other => panic!("unexpected {other:?}"),
        };
        let expected: Vec<Number> = match metric.name.as_str() {
            // The counter's series is also the bound handle's.
            "c" => vec![Number::I64(5), Number::I64(7)],
            _ => vec![Number::F64(3.0)],
        };
        let values: Vec<Number> = exemplars.iter().map(|e| e.value).collect();
        assert_eq!(values, expected, "{}", metric.name);
        for exemplar in &exemplars {
            assert_eq!(exemplar.trace_id, Some(TraceId::from_int(0x5eed)));
            assert_eq!(exemplar.span_id, Some(SpanId::from_int(0xaa)));
        }
    }
    provider.shutdown()?;
    Ok(())
}

#[test]
fn threads_sharing_one_attribute_array_keep_exact_sums() -> Result<(), Box<dyn std::error::Error>> {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder().with_reader(reader.clone()).build();
    let counter = provider.meter("threads").u64_counter("c").build()?;
    let shared = std::sync::Arc::new(attributes());
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let counter = counter.clone();
            let shared = std::sync::Arc::clone(&shared);
            std::thread::spawn(move || {
                let own = [KeyValue::new("thread", t as i64)];
                for _ in 0..1000 {
                    counter.add(1, &shared[..]);
                    counter.add(2, &own);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().map_err(|_| "a recording thread panicked")?;
    }
    let metrics = reader.collect()?;
    assert_eq!(value_for(&metrics, "c", &attributes()), Some(4000));
    for t in 0..4i64 {
        assert_eq!(
            value_for(&metrics, "c", &[KeyValue::new("thread", t)]),
            Some(2000)
        );
    }
    provider.shutdown()?;
    Ok(())
}
