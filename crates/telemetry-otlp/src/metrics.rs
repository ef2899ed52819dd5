//! What a decoded `ExportMetricsServiceRequest` holds, in this workspace's own types.
//!
//! Each resource's metrics are a [`ResourceMetrics`] of `telemetry-metrics`, the type a
//! metric reader hands to exporters, so a receiver can feed decoded metrics to the same
//! stores and exporters as local ones and re-encode them with the same encoder.
//!
//! What those types cannot carry is dropped on decode (each drop is commented where it
//! happens): the resource's and scopes' `dropped_attributes_count`, a metric's `metadata`,
//! data point `flags` (`NO_RECORDED_VALUE`), and whole metrics of the `Summary` type or with
//! no data at all.

use telemetry_metrics::data::ResourceMetrics;

/// The content of one `ExportMetricsServiceRequest` (or OTLP `MetricsData`).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MetricsData {
    /// One entry per resource, in input order.
    pub resource_metrics: Vec<ResourceMetrics>,
}

#[cfg(test)]
pub(crate) use sample::sample_data;

/// One request exercising every field our types carry, for the codecs' tests.
#[cfg(test)]
mod sample {
    use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId};
    use telemetry_metrics::data::{
        Exemplar, ExponentialBuckets, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
        Histogram, HistogramDataPoint, Metric, MetricData, Number, NumberDataPoint,
        ResourceMetrics, ScopeMetrics, Sum, Temporality,
    };

    use super::MetricsData;

    fn exemplar(value: Number, ids: bool) -> Exemplar {
        Exemplar {
            filtered_attributes: vec![KeyValue::new("user", "u1")],
            time: Timestamp::from_unix_nanos(1_700_000_000_100_000_000),
            value,
            trace_id: ids.then(|| TraceId::from_int(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10)),
            span_id: ids.then(|| SpanId::from_int(0x1112_1314_1516_1718)),
        }
    }

    fn metric(name: &str, data: MetricData) -> Metric {
        Metric {
            name: name.to_owned(),
            description: format!("{name} described"),
            unit: "ms".to_owned(),
            data,
        }
    }

    pub(crate) fn sample_data() -> MetricsData {
        let start = Timestamp::from_unix_nanos(1_700_000_000_000_000_000);
        let time = Timestamp::from_unix_nanos(1_700_000_060_000_000_000);
        let attributes = vec![
            KeyValue::new("http.route", "/users"),
            KeyValue::new("ok", true),
        ];
        let number = |value| NumberDataPoint {
            attributes: attributes.clone(),
            start_time: start,
            time,
            value,
            exemplars: vec![exemplar(value, true), exemplar(Number::I64(-3), false)],
        };
        let scope = InstrumentationScope::builder("meter")
            .with_version("2.0")
            .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
            .with_attributes([KeyValue::new("scope.attr", 1i64)])
            .build();
        let metrics = vec![
            metric(
                "requests",
                MetricData::Sum(Sum {
                    points: vec![number(Number::I64(42)), number(Number::I64(-7))],
                    temporality: Temporality::Delta,
                    is_monotonic: true,
                }),
            ),
            metric(
                "queue.depth",
                MetricData::Sum(Sum {
                    points: vec![number(Number::F64(0.5))],
                    temporality: Temporality::Cumulative,
                    is_monotonic: false,
                }),
            ),
            metric(
                "temperature",
                MetricData::Gauge(Gauge {
                    points: vec![number(Number::F64(-12.25)), number(Number::I64(0))],
                }),
            ),
            metric(
                "latency",
                MetricData::Histogram(Histogram {
                    points: vec![HistogramDataPoint {
                        attributes: attributes.clone(),
                        start_time: start,
                        time,
                        count: 6,
                        sum: Some(123.5),
                        min: Some(0.0),
                        max: Some(99.0),
                        bounds: vec![0.0, 10.0, 100.0],
                        bucket_counts: vec![1, 2, 3, 0],
                        exemplars: vec![exemplar(Number::F64(7.0), true)],
                    }],
                    temporality: Temporality::Cumulative,
                }),
            ),
            metric(
                "size",
                MetricData::ExponentialHistogram(ExponentialHistogram {
                    points: vec![ExponentialHistogramDataPoint {
                        attributes,
                        start_time: start,
                        time,
                        count: 9,
                        sum: None,
                        min: Some(-4.0),
                        max: Some(1e9),
                        scale: -3,
                        zero_count: 1,
                        zero_threshold: 1e-9,
                        positive: ExponentialBuckets {
                            offset: -2,
                            counts: vec![1, 0, 300],
                        },
                        negative: ExponentialBuckets {
                            offset: 5,
                            counts: vec![4],
                        },
                        exemplars: Vec::new(),
                    }],
                    temporality: Temporality::Delta,
                }),
            ),
        ];
        MetricsData {
            resource_metrics: vec![ResourceMetrics {
                resource: Resource::builder()
                    .with_service_name("checkout")
                    .with_schema_url("https://opentelemetry.io/schemas/1.25.0")
                    .build(),
                scope_metrics: vec![ScopeMetrics { scope, metrics }],
            }],
        }
    }
}
