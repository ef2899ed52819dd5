//! Observable instruments through the public API: what their callbacks may report, what
//! reaches the reader, and what a second registration of the same name does.

use telemetry_core::KeyValue;
use telemetry_metrics::data::{Metric, MetricData, Number, ResourceMetrics};
use telemetry_metrics::{InstrumentKind, ManualReader, MeterProvider};

type TestResult = Result<(), Box<dyn std::error::Error>>;

fn metrics_named<'a>(metrics: &'a ResourceMetrics, name: &str) -> Vec<&'a Metric> {
    metrics
        .scope_metrics
        .iter()
        .flat_map(|scope| &scope.metrics)
        .filter(|metric| metric.name == name)
        .collect()
}

fn only<'a>(metrics: &'a ResourceMetrics, name: &str) -> &'a Metric {
    let found = metrics_named(metrics, name);
    assert_eq!(found.len(), 1, "one metric {name} in {metrics:#?}");
    found[0]
}

/// The (attributes, value) pairs of a sum or gauge, in export order.
fn values(metric: &Metric) -> Vec<(Vec<KeyValue>, Number)> {
    let points = match &metric.data {
        MetricData::Sum(sum) => &sum.points,
        MetricData::Gauge(gauge) => &gauge.points,
        other => panic!("not a sum or gauge: {other:?}"),
    };
    points
        .iter()
        .map(|point| (point.attributes.clone(), point.value))
        .collect()
}

#[test]
fn callbacks_values_an_instrument_cannot_take_are_dropped_and_counted_per_collection() -> TestResult
{
    let reader = ManualReader::new();
    let provider = MeterProvider::builder().with_reader(reader.clone()).build();
    let meter = provider.meter("m");
    let counter = meter
        .f64_observable_counter("cpu.time")
        .with_callback(|observer| {
            observer.observe(-1.0, &[KeyValue::new("state", "negative")]);
            observer.observe(f64::NAN, &[KeyValue::new("state", "nan")]);
            observer.observe(2.5, &[KeyValue::new("state", "user")]);
        })
        .build()?;
    let gauge = meter
        .u64_observable_gauge("queue.depth")
        // Above i64::MAX: not representable in an OTLP int point.
        .with_callback(|observer| {
            observer.observe(u64::MAX, &[KeyValue::new("queue", "huge")]);
            observer.observe(7, &[KeyValue::new("queue", "a")]);
        })
        .build()?;
    let temperature = meter
        .f64_observable_gauge("temperature")
        .with_callback(|observer| {
            observer.observe(f64::INFINITY, &[]);
            observer.observe(-40.0, &[]);
        })
        .build()?;
    assert_eq!(counter.dropped_measurements(), 0, "no callback ran yet");

    let first = reader.collect()?;
    assert_eq!(
        values(only(&first, "cpu.time")),
        [(vec![KeyValue::new("state", "user")], Number::F64(2.5))]
    );
    assert_eq!(
        values(only(&first, "queue.depth")),
        [(vec![KeyValue::new("queue", "a")], Number::I64(7))]
    );
    assert_eq!(
        values(only(&first, "temperature")),
        [(vec![], Number::F64(-40.0))],
        "a gauge takes negative values but not infinities"
    );
    assert_eq!(counter.dropped_measurements(), 2);
    assert_eq!(gauge.dropped_measurements(), 1);
    assert_eq!(temperature.dropped_measurements(), 1);

    // Each collection runs the callbacks again, so the drops add up; a clone shares them.
    reader.collect()?;
    assert_eq!(counter.clone().dropped_measurements(), 4);
    assert_eq!(gauge.dropped_measurements(), 2);
    Ok(())
}

#[test]
fn an_observable_carries_its_description_unit_and_kind_to_the_export() -> TestResult {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder().with_reader(reader.clone()).build();
    let meter = provider.meter("m");
    let connections = meter
        .f64_observable_up_down_counter("pool.connections")
        .with_description("Open connections")
        .with_unit("{connection}")
        .with_callback(|observer| {
            observer.observe(-3.0, &[KeyValue::new("pool", "a")]);
        })
        .build()?;
    let offset = meter
        .i64_observable_gauge("clock.offset")
        .with_unit("ms")
        .with_callback(|observer| observer.observe(-12, &[]))
        .build()?;

    let descriptor = connections.descriptor();
    assert_eq!(descriptor.name, "pool.connections");
    assert_eq!(descriptor.description, "Open connections");
    assert_eq!(descriptor.unit, "{connection}");
    assert_eq!(descriptor.kind, InstrumentKind::ObservableUpDownCounter);
    assert_eq!(offset.descriptor().kind, InstrumentKind::ObservableGauge);

    let metrics = reader.collect()?;
    let metric = only(&metrics, "pool.connections");
    assert_eq!(
        (&metric.description[..], &metric.unit[..]),
        ("Open connections", "{connection}")
    );
    match &metric.data {
        MetricData::Sum(sum) => assert!(!sum.is_monotonic, "an up-down counter goes down"),
        other => panic!("an up-down counter exports a sum, not {other:?}"),
    }
    assert_eq!(
        values(metric),
        [(vec![KeyValue::new("pool", "a")], Number::F64(-3.0))],
        "an up-down counter takes negative values"
    );
    let metric = only(&metrics, "clock.offset");
    assert_eq!(metric.unit, "ms");
    assert!(matches!(metric.data, MetricData::Gauge(_)));
    assert_eq!(values(metric), [(vec![], Number::I64(-12))]);
    Ok(())
}

#[test]
fn registering_a_name_again_with_another_unit_keeps_the_first_instrument() -> TestResult {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder().with_reader(reader.clone()).build();
    let meter = provider.meter("m");
    let first = meter
        .u64_counter("requests")
        .with_unit("{request}")
        .with_description("Requests served")
        .build()?;
    let second = meter
        .u64_counter("Requests")
        .with_unit("1")
        .with_description("something else")
        .build()?;
    assert_eq!(first, second, "same name (any case), kind and value type");
    assert_eq!(second.descriptor().unit, "{request}");
    first.add(1, &[]);
    second.add(2, &[]);

    let metrics = reader.collect()?;
    let metric = only(&metrics, "requests");
    assert_eq!(
        (&metric.unit[..], &metric.description[..]),
        ("{request}", "Requests served")
    );
    assert_eq!(values(metric), [(vec![], Number::I64(3))]);
    Ok(())
}

#[test]
fn one_name_as_two_kinds_keeps_both_streams() -> TestResult {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder().with_reader(reader.clone()).build();
    let meter = provider.meter("m");
    let counter = meter.u64_counter("latency").build()?;
    let histogram = meter.f64_histogram("latency").build()?;
    counter.add(1, &[]);
    histogram.record(0.25, &[]);

    // The conflict is reported, but neither instrument loses its data.
    let metrics = reader.collect()?;
    let both = metrics_named(&metrics, "latency");
    assert_eq!(both.len(), 2, "{metrics:#?}");
    assert!(both.iter().any(|m| matches!(m.data, MetricData::Sum(_))));
    assert!(
        both.iter()
            .any(|m| matches!(&m.data, MetricData::Histogram(h) if h.points[0].count == 1))
    );
    Ok(())
}
