//! Property tests: no value, attribute set or order of operations panics or corrupts a
//! series; invalid values are dropped and counted, valid ones all land.

use proptest::prelude::*;
use telemetry_core::KeyValue;
use telemetry_metrics::data::{MetricData, Number};
use telemetry_metrics::{Aggregation, ManualReader, MeterProvider, View};

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(-0.0),
        Just(f64::MIN_POSITIVE),
        Just(f64::from_bits(1)),
        Just(f64::MAX),
        -1e6..1e6f64,
    ]
}

proptest! {
    #[test]
    fn counters_and_histograms_keep_exact_totals(values in proptest::collection::vec(any_f64(), 0..200)) {
        let reader = ManualReader::new();
        let provider = MeterProvider::builder()
            .with_reader(reader.clone())
            .with_view(View::builder().with_instrument_name("expo").with_aggregation(Aggregation::exponential_histogram()).build().map_err(|e| TestCaseError::fail(e.to_string()))?)
            .build();
        let meter = provider.meter("m");
        let counter = meter.f64_counter("c").build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let histogram = meter.f64_histogram("h").build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let expo = meter.f64_histogram("expo").build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let gauge = meter.f64_gauge("g").build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let updown = meter.f64_up_down_counter("u").build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (i, &value) in values.iter().enumerate() {
            let attributes = [KeyValue::new("v", value), KeyValue::new("i", (i % 3) as i64)];
            counter.add(value, &attributes[1..]);
            histogram.record(value, &attributes[1..]);
            expo.record(value, &[]);
            gauge.record(value, &attributes);
            updown.add(value, &[]);
        }
        let valid: Vec<f64> = values.iter().copied().filter(|v| v.is_finite() && *v >= 0.0).collect();
        let finite = values.iter().filter(|v| v.is_finite()).count() as u64;
        prop_assert_eq!(counter.dropped_measurements(), (values.len() - valid.len()) as u64);
        prop_assert_eq!(gauge.dropped_measurements(), values.len() as u64 - finite);

        let metrics = reader.collect().map_err(|e| TestCaseError::fail(e.to_string()))?;
        for metric in metrics.scope_metrics.iter().flat_map(|s| &s.metrics) {
            match (&metric.name[..], &metric.data) {
                ("c", MetricData::Sum(sum)) => {
                    let total: f64 = sum.points.iter().map(|p| p.value.as_f64()).sum();
                    let expected: f64 = valid.iter().sum();
                    prop_assert!(total == expected || (total - expected).abs() <= expected.abs() * 1e-9 || !expected.is_finite());
                }
                ("h", MetricData::Histogram(h)) => {
                    let count: u64 = h.points.iter().map(|p| p.count).sum();
                    prop_assert_eq!(count, valid.len() as u64);
                    for point in &h.points {
                        prop_assert_eq!(point.bucket_counts.iter().sum::<u64>(), point.count);
                        prop_assert!(point.min.is_none_or(|m| m >= 0.0));
                    }
                }
                ("expo", MetricData::ExponentialHistogram(h)) => {
                    let point = &h.points[0];
                    let buckets: u64 = point.positive.counts.iter().chain(&point.negative.counts).sum();
                    prop_assert_eq!(point.count, valid.len() as u64);
                    prop_assert_eq!(buckets + point.zero_count, point.count);
                    prop_assert!(point.positive.counts.len() <= 160);
                    prop_assert!((-10..=20).contains(&point.scale));
                }
                ("g", MetricData::Gauge(g)) => {
                    for point in &g.points {
                        prop_assert!(point.value.as_f64().is_finite());
                    }
                }
                ("u", MetricData::Sum(sum)) => {
                    prop_assert_eq!(sum.points.len(), 1);
                    prop_assert!(!matches!(sum.points[0].value, Number::I64(_)));
                }
                (name, data) => prop_assert!(false, "unexpected {} {:?}", name, data),
            }
        }
    }

    #[test]
    fn integer_instruments_take_any_value(values in proptest::collection::vec(any::<i64>(), 0..100)) {
        let reader = ManualReader::new();
        let provider = MeterProvider::builder().with_reader(reader.clone()).build();
        let meter = provider.meter("m");
        let updown = meter.i64_up_down_counter("u").build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let counter = meter.u64_counter("c").build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut expected = 0i64;
        let mut counted = 0i64;
        let mut dropped = 0u64;
        for &value in &values {
            updown.add(value, &[]);
            counter.add(value.unsigned_abs(), &[]);
            expected = expected.wrapping_add(value);
            // A u64 beyond i64::MAX cannot be carried by OTLP and is dropped.
            match i64::try_from(value.unsigned_abs()) {
                Ok(magnitude) => counted = counted.wrapping_add(magnitude),
                Err(_) => dropped += 1,
            }
        }
        prop_assert_eq!(counter.dropped_measurements(), dropped);
        let metrics = reader.collect().map_err(|e| TestCaseError::fail(e.to_string()))?;
        if !values.is_empty() {
            let sum = metrics.scope_metrics[0].metrics.iter().find(|m| m.name == "u").and_then(|m| match &m.data {
                MetricData::Sum(s) => Some(s.points[0].value),
                _ => None,
            });
            prop_assert_eq!(sum, Some(Number::I64(expected)));
        }
        if values.len() as u64 > dropped {
            let sum = metrics.scope_metrics[0].metrics.iter().find(|m| m.name == "c").and_then(|m| match &m.data {
                MetricData::Sum(s) => Some(s.points[0].value),
                _ => None,
            });
            prop_assert_eq!(sum, Some(Number::I64(counted)));
        }
    }

    #[test]
    fn exponential_histograms_stay_bounded_for_any_max_size(
        values in proptest::collection::vec(any_f64(), 1..100),
        max_size in 2u32..20,
        max_scale in -10i8..=20,
    ) {
        let reader = ManualReader::new();
        let view = View::builder()
            .with_instrument_name("x")
            .with_aggregation(Aggregation::Base2ExponentialHistogram { max_size, max_scale, record_min_max: true })
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let provider = MeterProvider::builder().with_reader(reader.clone()).with_view(view).build();
        let histogram = provider.meter("m").f64_histogram("x").build().map_err(|e| TestCaseError::fail(e.to_string()))?;
        for &value in &values {
            histogram.record(value, &[]);
        }
        let metrics = reader.collect().map_err(|e| TestCaseError::fail(e.to_string()))?;
        if let Some(metric) = metrics.scope_metrics.first().map(|s| &s.metrics[0]) {
            let MetricData::ExponentialHistogram(h) = &metric.data else {
                return Err(TestCaseError::fail("not exponential"));
            };
            let point = &h.points[0];
            prop_assert!(point.scale <= i32::from(max_scale));
            // At the coarsest scale every double fits in three buckets.
            prop_assert!(point.positive.counts.len() <= (max_size as usize).max(3));
        }
    }
}
