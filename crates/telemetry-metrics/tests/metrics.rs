//! End-to-end behaviour through the public API: instruments, series, temporality, views,
//! exemplars and readers.

use std::time::Duration;

use telemetry_context::{Context, SpanContext, TraceFlags, TraceState};
use telemetry_core::{KeyValue, Resource, SpanId, Timestamp, TraceId};
use telemetry_metrics::data::{
    ExponentialHistogramDataPoint, HistogramDataPoint, Metric, MetricData, Number, NumberDataPoint,
    ResourceMetrics, Temporality,
};
use telemetry_metrics::{
    Aggregation, AttributeFilter, ExemplarFilter, InMemoryMetricExporter, InstrumentErrorKind,
    ManualReader, MeterProvider, MetricError, OVERFLOW_ATTRIBUTE, PeriodicReader,
    TemporalityPreference, View,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn provider_with(reader: &ManualReader) -> MeterProvider {
    MeterProvider::builder()
        .with_resource(Resource::builder().with_service_name("test").build())
        .with_reader(reader.clone())
        .build()
}

fn metric<'a>(metrics: &'a ResourceMetrics, name: &str) -> &'a Metric {
    metrics
        .scope_metrics
        .iter()
        .flat_map(|scope| &scope.metrics)
        .find(|metric| metric.name == name)
        .unwrap_or_else(|| panic!("no metric {name} in {metrics:#?}"))
}

fn has_metric(metrics: &ResourceMetrics, name: &str) -> bool {
    metrics
        .scope_metrics
        .iter()
        .flat_map(|scope| &scope.metrics)
        .any(|metric| metric.name == name)
}

fn sum_points(metric: &Metric) -> (&[NumberDataPoint], Temporality, bool) {
    match &metric.data {
        MetricData::Sum(sum) => (&sum.points, sum.temporality, sum.is_monotonic),
        other => panic!("not a sum: {other:?}"),
    }
}

fn gauge_points(metric: &Metric) -> &[NumberDataPoint] {
    match &metric.data {
        MetricData::Gauge(gauge) => &gauge.points,
        other => panic!("not a gauge: {other:?}"),
    }
}

fn histogram_points(metric: &Metric) -> (&[HistogramDataPoint], Temporality) {
    match &metric.data {
        MetricData::Histogram(h) => (&h.points, h.temporality),
        other => panic!("not a histogram: {other:?}"),
    }
}

fn exponential_points(metric: &Metric) -> &[ExponentialHistogramDataPoint] {
    match &metric.data {
        MetricData::ExponentialHistogram(h) => &h.points,
        other => panic!("not an exponential histogram: {other:?}"),
    }
}

fn value_of(points: &[NumberDataPoint], attributes: &[KeyValue]) -> Option<Number> {
    points
        .iter()
        .find(|p| p.attributes == attributes)
        .map(|p| p.value)
}

#[test]
fn attribute_order_and_repeats_make_one_series() -> TestResult {
    let reader = ManualReader::new();
    let provider = provider_with(&reader);
    let counter = provider.meter("m").u64_counter("requests").build()?;
    counter.add(1, &[KeyValue::new("a", 1i64), KeyValue::new("b", "x")]);
    counter.add(2, &[KeyValue::new("b", "x"), KeyValue::new("a", 1i64)]);
    counter.add(
        4,
        &[
            KeyValue::new("a", 9i64),
            KeyValue::new("b", "x"),
            KeyValue::new("a", 1i64),
        ],
    );
    counter.add(8, &[KeyValue::new("a", 2i64), KeyValue::new("b", "x")]);
    let metrics = reader.collect()?;
    let (points, temporality, monotonic) = sum_points(metric(&metrics, "requests"));
    assert_eq!((temporality, monotonic), (Temporality::Cumulative, true));
    assert_eq!(points.len(), 2);
    let sorted = [KeyValue::new("a", 1i64), KeyValue::new("b", "x")];
    assert_eq!(value_of(points, &sorted), Some(Number::I64(7)));
    assert_eq!(metrics.resource.service_name(), Some("test"));
    Ok(())
}

#[test]
fn the_same_instrument_twice_is_one_instrument() -> TestResult {
    let reader = ManualReader::new();
    let provider = provider_with(&reader);
    let meter = provider.meter("m");
    let first = meter.f64_counter("Bytes.Sent").with_unit("By").build()?;
    let second = meter.f64_counter("bytes.sent").with_unit("By").build()?;
    assert_eq!(first, second);
    first.add(1.5, &[]);
    second.add(2.0, &[]);
    // Another meter is another namespace.
    let other = provider.meter("other").f64_counter("bytes.sent").build()?;
    assert_ne!(first, other);
    other.add(100.0, &[]);
    assert_eq!(provider.meter("m").scope(), meter.scope());

    let metrics = reader.collect()?;
    assert_eq!(metrics.scope_metrics.len(), 2);
    let mine = &metrics.scope_metrics[0];
    assert_eq!(mine.scope.name(), "m");
    assert_eq!(mine.metrics.len(), 1);
    assert_eq!(mine.metrics[0].name, "Bytes.Sent");
    let (points, _, _) = sum_points(&mine.metrics[0]);
    assert_eq!(points[0].value, Number::F64(3.5));
    Ok(())
}

#[test]
fn invalid_names_and_units_are_typed_errors() {
    let provider = MeterProvider::builder().build();
    let meter = provider.meter("m");
    let error = meter.u64_counter("1st").build().expect_err("invalid name");
    assert_eq!(error.kind(), InstrumentErrorKind::NameStart);
    assert_eq!(error.name(), "1st");
    let error = meter
        .f64_histogram("ok")
        .with_unit("µs")
        .build()
        .expect_err("invalid unit");
    assert_eq!(error.kind(), InstrumentErrorKind::InvalidUnit);
    let error = meter
        .f64_histogram("ok")
        .with_boundaries([2.0, 1.0])
        .build()
        .expect_err("invalid boundaries");
    assert_eq!(error.kind(), InstrumentErrorKind::InvalidBoundaries);
    assert!(
        meter
            .u64_observable_gauge("bad name")
            .with_callback(|_| {})
            .build()
            .is_err()
    );
}

#[test]
fn invalid_values_are_dropped_and_counted() -> TestResult {
    let reader = ManualReader::new();
    let provider = provider_with(&reader);
    let meter = provider.meter("m");
    let counter = meter.f64_counter("c").build()?;
    counter.add(1.0, &[]);
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0] {
        counter.add(bad, &[]);
    }
    let histogram = meter.f64_histogram("h").build()?;
    histogram.record(3.0, &[]);
    histogram.record(f64::NAN, &[]);
    histogram.record(-2.0, &[]);
    let gauge = meter.f64_gauge("g").build()?;
    gauge.record(-4.0, &[]);
    gauge.record(f64::INFINITY, &[]);

    let big = meter.u64_counter("big").build()?;
    big.add(u64::MAX, &[]);
    big.add(1 << 63, &[]);
    big.add(7, &[]);
    assert_eq!(big.dropped_measurements(), 2);
    assert_eq!(counter.dropped_measurements(), 4);
    assert_eq!(histogram.dropped_measurements(), 2);
    assert_eq!(gauge.dropped_measurements(), 1);
    let metrics = reader.collect()?;
    assert_eq!(
        sum_points(metric(&metrics, "big")).0[0].value,
        Number::I64(7)
    );
    assert_eq!(
        sum_points(metric(&metrics, "c")).0[0].value,
        Number::F64(1.0)
    );
    let (points, _) = histogram_points(metric(&metrics, "h"));
    assert_eq!((points[0].count, points[0].sum), (1, Some(3.0)));
    assert_eq!(
        gauge_points(metric(&metrics, "g"))[0].value,
        Number::F64(-4.0)
    );
    Ok(())
}

#[test]
fn cumulative_and_delta_across_two_collections() -> TestResult {
    let cumulative = ManualReader::new();
    let delta = ManualReader::with_temporality(TemporalityPreference::Delta);
    let provider = MeterProvider::builder()
        .with_reader(cumulative.clone())
        .with_reader(delta.clone())
        .build();
    let created = Timestamp::now();
    let meter = provider.meter("m");
    let counter = meter.u64_counter("c").build()?;
    let histogram = meter.u64_histogram("h").build()?;
    let a = [KeyValue::new("k", "a")];
    let b = [KeyValue::new("k", "b")];
    counter.add(5, &a);
    counter.add(1, &b);
    histogram.record(7, &a);

    let c1 = cumulative.collect()?;
    let d1 = delta.collect()?;
    counter.add(3, &a);
    histogram.record(20, &a);
    let c2 = cumulative.collect()?;
    let d2 = delta.collect()?;

    // Cumulative: running totals, every seen series, the same start time.
    let (p1, t, _) = sum_points(metric(&c1, "c"));
    assert_eq!(t, Temporality::Cumulative);
    let (p2, _, _) = sum_points(metric(&c2, "c"));
    assert_eq!(value_of(p2, &a), Some(Number::I64(8)));
    assert_eq!(value_of(p2, &b), Some(Number::I64(1)));
    let start = |points: &[NumberDataPoint]| {
        points
            .iter()
            .find(|p| p.attributes == a)
            .map(|p| (p.start_time, p.time))
    };
    let (start1, time1) = start(p1).ok_or("series a")?;
    let (start2, time2) = start(p2).ok_or("series a")?;
    assert_eq!(start1, start2);
    assert!(start1 >= created && start1 <= time1 && time1 < time2);

    // Delta: only the interval, only series with measurements, start = previous collection.
    let (q1, t, _) = sum_points(metric(&d1, "c"));
    assert_eq!(t, Temporality::Delta);
    assert_eq!(value_of(q1, &a), Some(Number::I64(5)));
    let (q2, _, _) = sum_points(metric(&d2, "c"));
    assert_eq!(q2.len(), 1);
    assert_eq!(value_of(q2, &a), Some(Number::I64(3)));
    assert_eq!(q2[0].start_time, q1[0].time);
    assert!(q1[0].start_time >= created);

    let (h1, _) = histogram_points(metric(&c2, "h"));
    assert_eq!(
        (h1[0].count, h1[0].sum, h1[0].min, h1[0].max),
        (2, Some(27.0), Some(7.0), Some(20.0))
    );
    let (h2, t) = histogram_points(metric(&d2, "h"));
    assert_eq!(t, Temporality::Delta);
    assert_eq!(
        (h2[0].count, h2[0].sum, h2[0].min, h2[0].max),
        (1, Some(20.0), Some(20.0), Some(20.0))
    );

    // A third delta collection without measurements reports nothing.
    let d3 = delta.collect()?;
    assert!(!has_metric(&d3, "c") && !has_metric(&d3, "h"));
    Ok(())
}

#[test]
fn overflow_starts_at_the_2001st_series() -> TestResult {
    let reader = ManualReader::new();
    let provider = provider_with(&reader);
    let counter = provider.meter("m").u64_counter("c").build()?;
    for i in 0..2000i64 {
        counter.add(1, &[KeyValue::new("i", i)]);
    }
    let metrics = reader.collect()?;
    let (points, _, _) = sum_points(metric(&metrics, "c"));
    assert_eq!(points.len(), 2000, "2000 sets fit without overflow");

    for i in 2000..2010i64 {
        counter.add(1, &[KeyValue::new("i", i)]);
    }
    counter.add(5, &[KeyValue::new("i", 0i64)]);
    let metrics = reader.collect()?;
    let (points, _, _) = sum_points(metric(&metrics, "c"));
    assert_eq!(points.len(), 2001);
    let overflow = [KeyValue::new(OVERFLOW_ATTRIBUTE, true)];
    assert_eq!(value_of(points, &overflow), Some(Number::I64(10)));
    assert_eq!(
        value_of(points, &[KeyValue::new("i", 0i64)]),
        Some(Number::I64(6))
    );
    let total: i64 = points
        .iter()
        .map(|p| match p.value {
            Number::I64(v) => v,
            Number::F64(v) => v as i64,
        })
        .sum();
    assert_eq!(total, 2015, "every measurement lands in exactly one series");
    Ok(())
}

#[test]
fn delta_streams_forget_idle_series_and_make_room() -> TestResult {
    let reader = ManualReader::with_temporality(TemporalityPreference::Delta);
    let provider = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_cardinality_limit(3)
        .build();
    let counter = provider.meter("m").u64_counter("c").build()?;
    let bound = counter.bind(&[KeyValue::new("bound", true)]);
    for i in 0..3i64 {
        counter.add(1, &[KeyValue::new("i", i)]);
    }
    bound.add(1);
    let first = reader.collect()?;
    let (points, _, _) = sum_points(metric(&first, "c"));
    // The bound series counts against the limit, so the third set overflowed.
    assert_eq!(points.len(), 4);
    assert!(value_of(points, &[KeyValue::new(OVERFLOW_ATTRIBUTE, true)]).is_some());
    let _idle = reader.collect()?;
    // The idle series are gone; new sets fit again, and the bound handle still works.
    for i in 10..12i64 {
        counter.add(1, &[KeyValue::new("i", i)]);
    }
    bound.add(2);
    let third = reader.collect()?;
    let (points, _, _) = sum_points(metric(&third, "c"));
    assert_eq!(points.len(), 3);
    assert!(value_of(points, &[KeyValue::new(OVERFLOW_ATTRIBUTE, true)]).is_none());
    assert_eq!(
        value_of(points, &[KeyValue::new("bound", true)]),
        Some(Number::I64(2))
    );
    Ok(())
}

#[test]
fn bound_handles_feed_the_same_series() -> TestResult {
    let reader = ManualReader::new();
    let provider = provider_with(&reader);
    let meter = provider.meter("m");
    let counter = meter.i64_up_down_counter("queue").build()?;
    let attributes = [KeyValue::new("q", "jobs"), KeyValue::new("p", 1i64)];
    let bound = counter.bind(&attributes);
    bound.add(10);
    bound.add(-3);
    counter.add(1, &[KeyValue::new("p", 1i64), KeyValue::new("q", "jobs")]);
    let histogram = meter.f64_histogram("latency").build()?;
    let bound_histogram = histogram.bind(&[]);
    bound_histogram.record(4.0);
    bound_histogram.record(f64::NAN);
    let gauge = meter.u64_gauge("level").build()?;
    gauge.bind(&[KeyValue::new("tank", 1i64)]).record(42);

    let metrics = reader.collect()?;
    let (points, _, monotonic) = sum_points(metric(&metrics, "queue"));
    assert!(!monotonic);
    let sorted = [KeyValue::new("p", 1i64), KeyValue::new("q", "jobs")];
    assert_eq!(value_of(points, &sorted), Some(Number::I64(8)));
    let (points, _) = histogram_points(metric(&metrics, "latency"));
    assert_eq!(points[0].count, 1);
    assert_eq!(histogram.dropped_measurements(), 1);
    let points = gauge_points(metric(&metrics, "level"));
    assert_eq!(points[0].value, Number::I64(42));
    Ok(())
}

#[test]
fn views_rename_filter_reaggregate_and_drop() -> TestResult {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_view(
            View::builder()
                .with_instrument_name("http.server.duration")
                .with_name("latency")
                .with_description("request latency")
                .with_attribute_filter(AttributeFilter::Keep(vec!["route".to_owned()]))
                .with_aggregation(Aggregation::explicit_buckets([10.0, 100.0]))
                .build()?,
        )
        .with_view(
            View::builder()
                .with_instrument_name("debug.*")
                .with_aggregation(Aggregation::Drop)
                .build()?,
        )
        .with_view(
            View::builder()
                .with_instrument_name("size?")
                .with_aggregation(Aggregation::exponential_histogram())
                .with_attribute_filter(AttributeFilter::Drop(vec!["user".to_owned()]))
                .build()?,
        )
        .build();
    let meter = provider.meter("m");
    let duration = meter.f64_histogram("http.server.duration").build()?;
    duration.record(
        5.0,
        &[KeyValue::new("route", "/a"), KeyValue::new("peer", "1")],
    );
    duration.record(
        50.0,
        &[KeyValue::new("route", "/a"), KeyValue::new("peer", "2")],
    );
    meter.u64_counter("debug.calls").build()?.add(1, &[]);
    let sizes = meter.u64_histogram("size1").build()?;
    sizes.record(
        1,
        &[KeyValue::new("user", "u1"), KeyValue::new("kind", "x")],
    );
    sizes.record(
        4,
        &[KeyValue::new("user", "u2"), KeyValue::new("kind", "x")],
    );
    meter.u64_counter("untouched").build()?.add(1, &[]);

    let metrics = reader.collect()?;
    assert!(!has_metric(&metrics, "debug.calls"));
    assert!(!has_metric(&metrics, "http.server.duration"));
    let latency = metric(&metrics, "latency");
    assert_eq!(latency.description, "request latency");
    let (points, _) = histogram_points(latency);
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].attributes, vec![KeyValue::new("route", "/a")]);
    assert_eq!(points[0].bounds, vec![10.0, 100.0]);
    assert_eq!(points[0].bucket_counts, vec![1, 1, 0]);

    let points = exponential_points(metric(&metrics, "size1"));
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].attributes, vec![KeyValue::new("kind", "x")]);
    assert_eq!(points[0].count, 2);
    assert_eq!(points[0].sum, Some(5.0));
    assert_eq!(points[0].positive.counts.iter().sum::<u64>(), 2);
    assert!(has_metric(&metrics, "untouched"));
    Ok(())
}

#[test]
fn two_matching_views_make_two_streams_and_negative_histograms_have_no_sum() -> TestResult {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_view(
            View::builder()
                .with_instrument_name("balance")
                .with_name("balance.histogram")
                .with_aggregation(Aggregation::explicit_buckets([0.0]))
                .build()?,
        )
        .with_view(
            View::builder()
                .with_instrument_kind(telemetry_metrics::InstrumentKind::UpDownCounter)
                .build()?,
        )
        .build();
    let balance = provider.meter("m").f64_up_down_counter("balance").build()?;
    balance.add(-5.0, &[]);
    balance.add(2.0, &[]);
    let metrics = reader.collect()?;
    let (points, _) = histogram_points(metric(&metrics, "balance.histogram"));
    assert_eq!(points[0].bucket_counts, vec![1, 1]);
    assert_eq!(points[0].sum, None);
    assert_eq!(points[0].min, Some(-5.0));
    let (points, _, _) = sum_points(metric(&metrics, "balance"));
    assert_eq!(points[0].value, Number::F64(-3.0));
    Ok(())
}

#[test]
fn observable_instruments_report_per_collection() -> TestResult {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let cumulative = ManualReader::new();
    let delta = ManualReader::with_temporality(TemporalityPreference::Delta);
    let provider = MeterProvider::builder()
        .with_reader(cumulative.clone())
        .with_reader(delta.clone())
        .build();
    let meter = provider.meter("m");
    let total = Arc::new(AtomicU64::new(10));
    let seen = Arc::clone(&total);
    let _bytes = meter
        .u64_observable_counter("bytes")
        .with_callback(move |observer| {
            observer.observe(seen.load(Ordering::Relaxed), &[KeyValue::new("dir", "in")]);
            observer.observe(u64::MAX / 2, &[]);
        })
        .build()?;
    let _temperature = meter
        .f64_observable_gauge("temperature")
        .with_callback(|observer| {
            observer.observe(21.5, &[]);
            observer.observe(f64::NAN, &[KeyValue::new("bad", true)]);
        })
        .build()?;

    let c1 = cumulative.collect()?;
    let d1 = delta.collect()?;
    total.store(25, Ordering::Relaxed);
    let c2 = cumulative.collect()?;
    let d2 = delta.collect()?;
    let dir = [KeyValue::new("dir", "in")];
    assert_eq!(
        value_of(sum_points(metric(&c1, "bytes")).0, &dir),
        Some(Number::I64(10))
    );
    assert_eq!(
        value_of(sum_points(metric(&c2, "bytes")).0, &dir),
        Some(Number::I64(25))
    );
    assert_eq!(
        value_of(sum_points(metric(&d1, "bytes")).0, &dir),
        Some(Number::I64(10))
    );
    assert_eq!(
        value_of(sum_points(metric(&d2, "bytes")).0, &dir),
        Some(Number::I64(15))
    );
    assert_eq!(
        value_of(sum_points(metric(&d2, "bytes")).0, &[]),
        Some(Number::I64(0))
    );
    let gauge = gauge_points(metric(&c2, "temperature"));
    assert_eq!(gauge.len(), 1, "the NaN observation is dropped");
    assert_eq!(gauge[0].value, Number::F64(21.5));
    Ok(())
}

fn sampled_span() -> SpanContext {
    SpanContext::new(
        TraceId::from_int(0xabc),
        SpanId::from_int(0xdef),
        TraceFlags::SAMPLED,
        false,
        TraceState::EMPTY,
    )
}

#[test]
fn exemplars_link_points_to_the_active_sampled_span() -> TestResult {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_exemplar_filter(ExemplarFilter::TraceBased)
        .with_view(
            View::builder()
                .with_instrument_name("h")
                .with_attribute_filter(AttributeFilter::Keep(vec![]))
                .build()?,
        )
        .build();
    let meter = provider.meter("m");
    let histogram = meter.f64_histogram("h").build()?;
    let counter = meter.u64_counter("c").build()?;
    histogram.record(1.0, &[]); // no span: no exemplar
    {
        let _guard = Context::new().with_span_context(sampled_span()).attach();
        histogram.record(7.0, &[KeyValue::new("user", "u1")]);
        counter.add(3, &[]);
    }
    let metrics = reader.collect()?;
    let (points, _) = histogram_points(metric(&metrics, "h"));
    assert_eq!(points[0].exemplars.len(), 1);
    let exemplar = &points[0].exemplars[0];
    assert_eq!(exemplar.value, Number::F64(7.0));
    assert_eq!(exemplar.trace_id, Some(TraceId::from_int(0xabc)));
    assert_eq!(exemplar.span_id, Some(SpanId::from_int(0xdef)));
    assert_eq!(
        exemplar.filtered_attributes,
        vec![KeyValue::new("user", "u1")]
    );
    let (points, _, _) = sum_points(metric(&metrics, "c"));
    assert_eq!(points[0].exemplars.len(), 1);
    assert_eq!(points[0].exemplars[0].value, Number::I64(3));
    // Exemplars cover one interval.
    let again = reader.collect()?;
    assert!(
        histogram_points(metric(&again, "h")).0[0]
            .exemplars
            .is_empty()
    );
    Ok(())
}

#[test]
fn exemplars_can_be_turned_off() -> TestResult {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_exemplar_filter(ExemplarFilter::AlwaysOff)
        .build();
    let histogram = provider.meter("m").f64_histogram("h").build()?;
    {
        let _guard = Context::new().with_span_context(sampled_span()).attach();
        histogram.record(7.0, &[]);
    }
    let metrics = reader.collect()?;
    assert!(
        histogram_points(metric(&metrics, "h")).0[0]
            .exemplars
            .is_empty()
    );
    Ok(())
}

#[test]
fn periodic_reader_exports_flushes_and_shuts_down() -> TestResult {
    let exporter = InMemoryMetricExporter::with_temporality(TemporalityPreference::Delta);
    let reader = PeriodicReader::builder(exporter.clone())
        .with_interval(Duration::from_secs(3600))
        .with_timeout(Duration::from_secs(10))
        .build();
    let provider = MeterProvider::builder().with_reader(reader).build();
    let counter = provider.meter("m").u64_counter("c").build()?;
    counter.add(2, &[]);
    provider.force_flush()?;
    counter.add(3, &[]);
    provider.shutdown()?;
    assert!(matches!(
        provider.shutdown(),
        Err(MetricError::AlreadyShutDown)
    ));
    assert!(matches!(
        provider.force_flush(),
        Err(MetricError::AlreadyShutDown)
    ));
    assert!(exporter.is_shut_down());

    let exported = exporter.exported();
    assert_eq!(exported.len(), 2);
    let values: Vec<Number> = exported
        .iter()
        .map(|m| sum_points(metric(m, "c")).0[0].value)
        .collect();
    assert_eq!(values, vec![Number::I64(2), Number::I64(3)]);
    Ok(())
}

#[test]
fn periodic_reader_exports_on_its_interval() -> TestResult {
    let exporter = InMemoryMetricExporter::new();
    let reader = PeriodicReader::builder(exporter.clone())
        .with_interval(Duration::from_millis(20))
        .build();
    let provider = MeterProvider::builder().with_reader(reader).build();
    provider.meter("m").u64_counter("c").build()?.add(1, &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while exporter.exported().len() < 2 {
        assert!(std::time::Instant::now() < deadline, "no periodic export");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(provider);
    assert!(
        exporter.is_shut_down(),
        "dropping the provider shuts the reader down"
    );
    Ok(())
}

#[test]
fn a_shut_down_provider_collects_nothing() -> TestResult {
    let reader = ManualReader::new();
    let provider = provider_with(&reader);
    provider.shutdown()?;
    assert!(matches!(
        reader.collect(),
        Err(MetricError::AlreadyShutDown)
    ));
    // Instruments still work; they just record nowhere.
    provider.meter("m").u64_counter("late").build()?.add(1, &[]);
    Ok(())
}

#[test]
fn observable_streams_fold_filtered_sets_and_cap_cardinality() -> TestResult {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_view(
            View::builder()
                .with_instrument_name("cpu.time")
                .with_attribute_filter(AttributeFilter::Drop(vec!["cpu".to_owned()]))
                .build()?,
        )
        .with_view(
            View::builder()
                .with_instrument_name("connections")
                .with_cardinality_limit(2)
                .build()?,
        )
        .build();
    let meter = provider.meter("m");
    let _cpu = meter
        .f64_observable_counter("cpu.time")
        .with_callback(|observer| {
            for cpu in 0..4i64 {
                observer.observe(
                    1.5,
                    &[KeyValue::new("cpu", cpu), KeyValue::new("mode", "user")],
                );
            }
        })
        .build()?;
    let _connections = meter
        .i64_observable_up_down_counter("connections")
        .with_callback(|observer| {
            for peer in 0..5i64 {
                observer.observe(peer, &[KeyValue::new("peer", peer)]);
            }
        })
        .build()?;
    let metrics = reader.collect()?;
    let (points, _, monotonic) = sum_points(metric(&metrics, "cpu.time"));
    assert!(monotonic);
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].attributes, vec![KeyValue::new("mode", "user")]);
    assert_eq!(points[0].value, Number::F64(6.0));

    let (points, _, monotonic) = sum_points(metric(&metrics, "connections"));
    assert!(!monotonic);
    assert_eq!(points.len(), 3);
    assert_eq!(
        value_of(points, &[KeyValue::new("peer", 0i64)]),
        Some(Number::I64(0))
    );
    assert_eq!(
        value_of(points, &[KeyValue::new("peer", 1i64)]),
        Some(Number::I64(1))
    );
    let overflow = [KeyValue::new(OVERFLOW_ATTRIBUTE, true)];
    assert_eq!(value_of(points, &overflow), Some(Number::I64(2 + 3 + 4)));
    Ok(())
}

#[test]
fn registering_an_observable_twice_adds_callbacks() -> TestResult {
    let reader = ManualReader::new();
    let provider = provider_with(&reader);
    let meter = provider.meter("m");
    let _first = meter
        .u64_observable_gauge("level")
        .with_callback(|observer| observer.observe(1, &[KeyValue::new("tank", "a")]))
        .build()?;
    let _second = meter
        .u64_observable_gauge("LEVEL")
        .with_callback(|observer| observer.observe(2, &[KeyValue::new("tank", "b")]))
        .build()?;
    let metrics = reader.collect()?;
    assert_eq!(metrics.scope_metrics[0].metrics.len(), 1);
    let points = gauge_points(metric(&metrics, "level"));
    assert_eq!(points.len(), 2);
    Ok(())
}

#[test]
fn advisory_parameters_apply_unless_a_view_overrides_them() -> TestResult {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_reader(reader.clone())
        .with_view(
            View::builder()
                .with_instrument_name("overridden")
                .with_attribute_filter(AttributeFilter::Keep(vec!["b".to_owned()]))
                .with_aggregation(Aggregation::explicit_buckets([100.0]))
                .build()?,
        )
        .build();
    let meter = provider.meter("m");
    let advised = meter
        .u64_histogram("advised")
        .with_boundaries([1.0, 2.0])
        .with_attribute_keys(["a"])
        .build()?;
    let overridden = meter
        .u64_histogram("overridden")
        .with_boundaries([1.0, 2.0])
        .with_attribute_keys(["a"])
        .build()?;
    let attributes = [KeyValue::new("a", 1i64), KeyValue::new("b", 2i64)];
    advised.record(2, &attributes);
    overridden.record(2, &attributes);
    let metrics = reader.collect()?;
    let (points, _) = histogram_points(metric(&metrics, "advised"));
    assert_eq!(points[0].attributes, vec![KeyValue::new("a", 1i64)]);
    assert_eq!(points[0].bounds, vec![1.0, 2.0]);
    assert_eq!(points[0].bucket_counts, vec![0, 1, 0]);
    let (points, _) = histogram_points(metric(&metrics, "overridden"));
    assert_eq!(points[0].attributes, vec![KeyValue::new("b", 2i64)]);
    assert_eq!(points[0].bounds, vec![100.0]);
    Ok(())
}

#[test]
fn cardinality_limits_come_from_view_then_reader_then_provider() -> TestResult {
    let limited = ManualReader::with_settings(TemporalityPreference::Cumulative, Some(2));
    let unlimited = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_reader(limited.clone())
        .with_reader(unlimited.clone())
        .with_cardinality_limit(5)
        .with_view(
            View::builder()
                .with_instrument_name("viewed")
                .with_cardinality_limit(3)
                .build()?,
        )
        .build();
    let meter = provider.meter("m");
    let plain = meter.u64_counter("plain").build()?;
    let viewed = meter.u64_counter("viewed").build()?;
    for i in 0..10i64 {
        plain.add(1, &[KeyValue::new("i", i)]);
        viewed.add(1, &[KeyValue::new("i", i)]);
    }
    let series = |metrics: &ResourceMetrics, name: &str| sum_points(metric(metrics, name)).0.len();
    let (a, b) = (limited.collect()?, unlimited.collect()?);
    // Each count is the limit plus the overflow series.
    assert_eq!((series(&a, "plain"), series(&a, "viewed")), (3, 4));
    assert_eq!((series(&b, "plain"), series(&b, "viewed")), (6, 4));
    Ok(())
}

#[test]
fn meters_carry_their_full_scope_and_handles_are_thread_safe() -> TestResult {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<MeterProvider>();
    assert_send_sync::<telemetry_metrics::Meter>();
    assert_send_sync::<telemetry_metrics::Counter<u64>>();
    assert_send_sync::<telemetry_metrics::BoundHistogram<f64>>();
    assert_send_sync::<telemetry_metrics::ObservableGauge<f64>>();
    assert_send_sync::<ManualReader>();
    assert_send_sync::<PeriodicReader>();

    let reader = ManualReader::new();
    let provider = provider_with(&reader);
    let scope = telemetry_core::InstrumentationScope::builder("lib")
        .with_version("1.2.3")
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .with_attributes([KeyValue::new("tier", "gold")])
        .build();
    let meter = provider.meter_with_scope(scope.clone());
    // A scope that differs only in version is another meter.
    let older = provider.meter_with_scope(
        telemetry_core::InstrumentationScope::builder("lib")
            .with_version("1.0.0")
            .build(),
    );
    meter.u64_counter("c").build()?.add(1, &[]);
    older.u64_counter("c").build()?.add(2, &[]);
    let metrics = reader.collect()?;
    assert_eq!(metrics.scope_metrics.len(), 2);
    assert_eq!(metrics.scope_metrics[0].scope, scope);
    assert_eq!(metrics.scope_metrics[1].scope.version(), Some("1.0.0"));
    Ok(())
}

#[test]
fn a_failing_exporter_is_reported_to_the_flusher() -> TestResult {
    use telemetry_metrics::{ExportError, ExportErrorKind, PushMetricExporter};

    #[derive(Debug)]
    struct Refusing;
    impl PushMetricExporter for Refusing {
        fn export(&mut self, _metrics: &ResourceMetrics) -> Result<(), ExportError> {
            Err(ExportError::new(ExportErrorKind::Rejected))
        }
    }
    let reader = PeriodicReader::builder(Refusing)
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = MeterProvider::builder().with_reader(reader).build();
    provider.meter("m").u64_counter("c").build()?.add(1, &[]);
    match provider.force_flush() {
        Err(MetricError::Export(error)) => assert_eq!(error.kind(), ExportErrorKind::Rejected),
        other => return Err(format!("expected an export error, got {other:?}").into()),
    }
    Ok(())
}

#[test]
fn gauges_keep_the_last_value_per_series() -> TestResult {
    let cumulative = ManualReader::new();
    let delta = ManualReader::with_temporality(TemporalityPreference::Delta);
    let provider = MeterProvider::builder()
        .with_reader(cumulative.clone())
        .with_reader(delta.clone())
        .build();
    let gauge = provider.meter("m").i64_gauge("temperature").build()?;
    let room = [KeyValue::new("room", "lab")];
    gauge.record(20, &room);
    gauge.record(-3, &room);
    let (c1, d1) = (cumulative.collect()?, delta.collect()?);
    assert_eq!(
        gauge_points(metric(&c1, "temperature"))[0].value,
        Number::I64(-3)
    );
    assert_eq!(
        gauge_points(metric(&d1, "temperature"))[0].value,
        Number::I64(-3)
    );
    let (c2, d2) = (cumulative.collect()?, delta.collect()?);
    // Cumulative repeats the last value; delta reports only series recorded in the interval.
    assert_eq!(
        gauge_points(metric(&c2, "temperature"))[0].value,
        Number::I64(-3)
    );
    assert!(!has_metric(&d2, "temperature"));
    Ok(())
}
