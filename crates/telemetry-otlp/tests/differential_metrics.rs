//! Differential tests of the metrics codec against an independent implementation: the prost
//! types of the `opentelemetry-proto` crate, generated from the `.proto` files.
//!
//! For random metric data:
//! - our protobuf bytes, decoded by prost, equal the prost message built from the data, and
//!   are the very bytes prost writes for it;
//! - prost's bytes for that message, decoded by us, give back the data;
//! - our OTLP/JSON, parsed by opentelemetry-proto's serde types, equals the same message, and
//!   their JSON, parsed by us, gives back the data;
//! - every prefix of a request decodes to an error or a shorter request, never a panic.
//!
//! `to_prost` below maps our types to prost's field by field from the proto definitions; it
//! shares no code with the crate's encoders.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1 as pc;
use opentelemetry_proto::tonic::metrics::v1 as pm;
use opentelemetry_proto::tonic::resource::v1 as pr;
use proptest::prelude::*;
use prost::Message;
use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId, Value};
use telemetry_metrics::data::{
    Exemplar, ExponentialBuckets, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, MetricData, Number, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, Temporality,
};
use telemetry_otlp::{
    MetricsData, decode_metrics, decode_metrics_json, encode_metrics, encode_metrics_data,
    encode_metrics_data_json, encode_metrics_json,
};

fn any_value(value: &Value) -> pc::AnyValue {
    use pc::any_value::Value as V;
    let value = match value {
        Value::Empty => None,
        Value::Bool(v) => Some(V::BoolValue(*v)),
        Value::I64(v) => Some(V::IntValue(*v)),
        Value::F64(v) => Some(V::DoubleValue(*v)),
        Value::String(s) => Some(V::StringValue(s.to_string())),
        Value::Bytes(b) => Some(V::BytesValue(b.clone())),
        Value::Array(values) => Some(V::ArrayValue(pc::ArrayValue {
            values: values.iter().map(any_value).collect(),
        })),
        Value::Map(pairs) => Some(V::KvlistValue(pc::KeyValueList {
            values: key_values(pairs),
        })),
    };
    pc::AnyValue { value }
}

fn key_values(attributes: &[KeyValue]) -> Vec<pc::KeyValue> {
    attributes
        .iter()
        .map(|kv| pc::KeyValue {
            key: kv.key.to_string(),
            value: Some(any_value(&kv.value)),
            key_strindex: 0,
        })
        .collect()
}

fn temporality(temporality: Temporality) -> i32 {
    match temporality {
        Temporality::Delta => pm::AggregationTemporality::Delta as i32,
        Temporality::Cumulative => pm::AggregationTemporality::Cumulative as i32,
    }
}

fn exemplars(exemplars: &[Exemplar]) -> Vec<pm::Exemplar> {
    exemplars
        .iter()
        .map(|e| pm::Exemplar {
            filtered_attributes: key_values(&e.filtered_attributes),
            time_unix_nano: e.time.as_unix_nanos(),
            span_id: e
                .span_id
                .map(|id| id.to_bytes().to_vec())
                .unwrap_or_default(),
            trace_id: e
                .trace_id
                .map(|id| id.to_bytes().to_vec())
                .unwrap_or_default(),
            value: Some(match e.value {
                Number::I64(v) => pm::exemplar::Value::AsInt(v),
                Number::F64(v) => pm::exemplar::Value::AsDouble(v),
            }),
        })
        .collect()
}

fn number_points(points: &[NumberDataPoint]) -> Vec<pm::NumberDataPoint> {
    points
        .iter()
        .map(|p| pm::NumberDataPoint {
            attributes: key_values(&p.attributes),
            start_time_unix_nano: p.start_time.as_unix_nanos(),
            time_unix_nano: p.time.as_unix_nanos(),
            exemplars: exemplars(&p.exemplars),
            flags: 0,
            value: Some(match p.value {
                Number::I64(v) => pm::number_data_point::Value::AsInt(v),
                Number::F64(v) => pm::number_data_point::Value::AsDouble(v),
            }),
        })
        .collect()
}

fn buckets(buckets: &ExponentialBuckets) -> pm::exponential_histogram_data_point::Buckets {
    pm::exponential_histogram_data_point::Buckets {
        offset: buckets.offset,
        bucket_counts: buckets.counts.clone(),
    }
}

fn metric(metric: &Metric) -> pm::Metric {
    use pm::metric::Data;
    let data = match &metric.data {
        MetricData::Gauge(g) => Data::Gauge(pm::Gauge {
            data_points: number_points(&g.points),
        }),
        MetricData::Sum(s) => Data::Sum(pm::Sum {
            data_points: number_points(&s.points),
            aggregation_temporality: temporality(s.temporality),
            is_monotonic: s.is_monotonic,
        }),
        MetricData::Histogram(h) => Data::Histogram(pm::Histogram {
            data_points: h
                .points
                .iter()
                .map(|p| pm::HistogramDataPoint {
                    attributes: key_values(&p.attributes),
                    start_time_unix_nano: p.start_time.as_unix_nanos(),
                    time_unix_nano: p.time.as_unix_nanos(),
                    count: p.count,
                    sum: p.sum,
                    bucket_counts: p.bucket_counts.clone(),
                    explicit_bounds: p.bounds.clone(),
                    exemplars: exemplars(&p.exemplars),
                    flags: 0,
                    min: p.min,
                    max: p.max,
                })
                .collect(),
            aggregation_temporality: temporality(h.temporality),
        }),
        MetricData::ExponentialHistogram(h) => {
            Data::ExponentialHistogram(pm::ExponentialHistogram {
                data_points: h
                    .points
                    .iter()
                    .map(|p| pm::ExponentialHistogramDataPoint {
                        attributes: key_values(&p.attributes),
                        start_time_unix_nano: p.start_time.as_unix_nanos(),
                        time_unix_nano: p.time.as_unix_nanos(),
                        count: p.count,
                        sum: p.sum,
                        scale: p.scale,
                        zero_count: p.zero_count,
                        positive: Some(buckets(&p.positive)),
                        negative: Some(buckets(&p.negative)),
                        flags: 0,
                        exemplars: exemplars(&p.exemplars),
                        min: p.min,
                        max: p.max,
                        zero_threshold: p.zero_threshold,
                    })
                    .collect(),
                aggregation_temporality: temporality(h.temporality),
            })
        }
        other => panic!("a metric kind this test does not know: {other:?}"),
    };
    pm::Metric {
        name: metric.name.clone(),
        description: metric.description.clone(),
        unit: metric.unit.clone(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

fn resource_metrics(rm: &ResourceMetrics) -> pm::ResourceMetrics {
    pm::ResourceMetrics {
        resource: Some(pr::Resource {
            attributes: key_values(rm.resource.attributes()),
            ..Default::default()
        }),
        scope_metrics: rm
            .scope_metrics
            .iter()
            .map(|sm| pm::ScopeMetrics {
                scope: Some(pc::InstrumentationScope {
                    name: sm.scope.name().to_owned(),
                    version: sm.scope.version().unwrap_or_default().to_owned(),
                    attributes: key_values(sm.scope.attributes()),
                    dropped_attributes_count: 0,
                }),
                metrics: sm.metrics.iter().map(metric).collect(),
                schema_url: sm.scope.schema_url().unwrap_or_default().to_owned(),
            })
            .collect(),
        schema_url: rm.resource.schema_url().unwrap_or_default().to_owned(),
    }
}

fn to_prost(data: &MetricsData) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: data.resource_metrics.iter().map(resource_metrics).collect(),
    }
}

// Strategies.

fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z.]{1,12}", 1 => any::<String>()]
}

fn non_empty_text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z.]{1,12}", 1 => ".+"]
}

/// Finite only: NaN is not equal to itself.
fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), Just(-0.0), -1e300..1e300f64]
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Empty),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::I64),
        (-1e300..1e300f64).prop_map(Value::F64),
        text().prop_map(Value::from),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(Value::Bytes),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::vec((text(), inner), 0..3).prop_map(|pairs| {
                Value::Map(
                    pairs
                        .into_iter()
                        .map(|(k, v)| KeyValue::new(k, v))
                        .collect(),
                )
            }),
        ]
    })
}

fn attributes(max: usize) -> impl Strategy<Value = Vec<KeyValue>> {
    proptest::collection::vec((text(), value()), 0..max).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| KeyValue::new(k, v))
            .collect()
    })
}

fn number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::I64),
        finite().prop_map(Number::F64)
    ]
}

fn time() -> impl Strategy<Value = Timestamp> {
    any::<u64>().prop_map(Timestamp::from_unix_nanos)
}

fn exemplar() -> impl Strategy<Value = Exemplar> {
    (
        attributes(2),
        time(),
        number(),
        proptest::option::of(1..=u128::MAX),
        proptest::option::of(1..=u64::MAX),
    )
        .prop_map(|(filtered_attributes, time, value, trace, span)| Exemplar {
            filtered_attributes,
            time,
            value,
            trace_id: trace.map(TraceId::from_int),
            span_id: span.map(SpanId::from_int),
        })
}

fn exemplars_strategy() -> impl Strategy<Value = Vec<Exemplar>> {
    proptest::collection::vec(exemplar(), 0..3)
}

fn number_point() -> impl Strategy<Value = NumberDataPoint> {
    (
        attributes(4),
        time(),
        time(),
        number(),
        exemplars_strategy(),
    )
        .prop_map(
            |(attributes, start_time, time, value, exemplars)| NumberDataPoint {
                attributes,
                start_time,
                time,
                value,
                exemplars,
            },
        )
}

fn temporality_strategy() -> impl Strategy<Value = Temporality> {
    prop_oneof![Just(Temporality::Cumulative), Just(Temporality::Delta)]
}

fn histogram_point() -> impl Strategy<Value = HistogramDataPoint> {
    (
        (attributes(4), time(), time(), any::<u64>()),
        (
            proptest::option::of(finite()),
            proptest::option::of(finite()),
            proptest::option::of(finite()),
        ),
        proptest::collection::vec(finite(), 0..6),
        proptest::collection::vec(any::<u64>(), 0..7),
        exemplars_strategy(),
    )
        .prop_map(
            |(
                (attributes, start_time, time, count),
                (sum, min, max),
                bounds,
                bucket_counts,
                exemplars,
            )| {
                HistogramDataPoint {
                    attributes,
                    start_time,
                    time,
                    count,
                    sum,
                    min,
                    max,
                    bounds,
                    bucket_counts,
                    exemplars,
                }
            },
        )
}

fn exponential_buckets() -> impl Strategy<Value = ExponentialBuckets> {
    (any::<i32>(), proptest::collection::vec(any::<u64>(), 0..6))
        .prop_map(|(offset, counts)| ExponentialBuckets { offset, counts })
}

fn exponential_point() -> impl Strategy<Value = ExponentialHistogramDataPoint> {
    (
        (attributes(4), time(), time(), any::<u64>()),
        (
            proptest::option::of(finite()),
            proptest::option::of(finite()),
            proptest::option::of(finite()),
        ),
        (
            any::<i32>(),
            any::<u64>(),
            prop_oneof![Just(0.0), 0.0..1e3f64],
        ),
        (exponential_buckets(), exponential_buckets()),
        exemplars_strategy(),
    )
        .prop_map(
            |(
                (attributes, start_time, time, count),
                (sum, min, max),
                (scale, zero_count, zero_threshold),
                (positive, negative),
                exemplars,
            )| ExponentialHistogramDataPoint {
                attributes,
                start_time,
                time,
                count,
                sum,
                min,
                max,
                scale,
                zero_count,
                zero_threshold,
                positive,
                negative,
                exemplars,
            },
        )
}

fn metric_data() -> impl Strategy<Value = MetricData> {
    prop_oneof![
        proptest::collection::vec(number_point(), 0..3)
            .prop_map(|points| MetricData::Gauge(Gauge { points })),
        (
            proptest::collection::vec(number_point(), 0..3),
            temporality_strategy(),
            any::<bool>()
        )
            .prop_map(|(points, temporality, is_monotonic)| MetricData::Sum(Sum {
                points,
                temporality,
                is_monotonic,
            })),
        (
            proptest::collection::vec(histogram_point(), 0..3),
            temporality_strategy()
        )
            .prop_map(|(points, temporality)| MetricData::Histogram(Histogram {
                points,
                temporality
            })),
        (
            proptest::collection::vec(exponential_point(), 0..3),
            temporality_strategy()
        )
            .prop_map(|(points, temporality)| {
                MetricData::ExponentialHistogram(ExponentialHistogram {
                    points,
                    temporality,
                })
            }),
    ]
}

fn metric_strategy() -> impl Strategy<Value = Metric> {
    (text(), text(), text(), metric_data()).prop_map(|(name, description, unit, data)| Metric {
        name,
        description,
        unit,
        data,
    })
}

fn scope() -> impl Strategy<Value = InstrumentationScope> {
    (
        non_empty_text(),
        proptest::option::of(non_empty_text()),
        proptest::option::of(non_empty_text()),
        attributes(3),
    )
        .prop_map(|(name, version, schema_url, attributes)| {
            let mut builder = InstrumentationScope::builder(name);
            if let Some(version) = version {
                builder = builder.with_version(version);
            }
            if let Some(url) = schema_url {
                builder = builder.with_schema_url(url);
            }
            builder.with_attributes(attributes).build()
        })
}

fn resource() -> impl Strategy<Value = Resource> {
    // Keys are unique: the resource builder keeps one value per key.
    (
        proptest::collection::btree_map(text(), value(), 0..5),
        proptest::option::of(non_empty_text()),
    )
        .prop_map(|(attributes, schema_url)| {
            let mut builder = Resource::builder()
                .with_attributes(attributes.into_iter().map(|(k, v)| KeyValue::new(k, v)));
            if let Some(url) = schema_url {
                builder = builder.with_schema_url(url);
            }
            builder.build()
        })
}

fn collection() -> impl Strategy<Value = ResourceMetrics> {
    (
        resource(),
        proptest::collection::vec(
            (scope(), proptest::collection::vec(metric_strategy(), 0..4)),
            0..3,
        ),
    )
        .prop_map(|(resource, scopes)| ResourceMetrics {
            resource,
            scope_metrics: scopes
                .into_iter()
                .map(|(scope, metrics)| ScopeMetrics { scope, metrics })
                .collect(),
        })
}

fn metrics_data() -> impl Strategy<Value = MetricsData> {
    proptest::collection::vec(collection(), 0..3)
        .prop_map(|resource_metrics| MetricsData { resource_metrics })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn prost_decodes_our_bytes_to_the_same_message(data in metrics_data()) {
        let mut bytes = Vec::new();
        encode_metrics_data(&data, &mut bytes);
        let decoded = ExportMetricsServiceRequest::decode(bytes.as_slice());
        prop_assert_eq!(decoded.ok(), Some(to_prost(&data)));
        // Canonical encoding: the same bytes prost writes for the same message.
        prop_assert_eq!(&bytes, &to_prost(&data).encode_to_vec());
    }

    #[test]
    fn we_decode_prost_bytes_to_the_same_data(data in metrics_data()) {
        let bytes = to_prost(&data).encode_to_vec();
        prop_assert_eq!(decode_metrics(&bytes), Ok(data));
    }

    #[test]
    fn one_collection_encodes_as_its_own_request(collection in collection()) {
        // Reuse a dirty buffer, as an exporter does.
        let mut bytes = vec![0xff; 3];
        bytes.clear();
        encode_metrics(&collection, &mut bytes);
        let expected = MetricsData {
            resource_metrics: if collection.scope_metrics.is_empty() {
                Vec::new()
            } else {
                vec![collection.clone()]
            },
        };
        prop_assert_eq!(&bytes, &to_prost(&expected).encode_to_vec());
        prop_assert_eq!(decode_metrics(&bytes), Ok(expected.clone()));

        let mut json = Vec::new();
        encode_metrics_json(&collection, &mut json);
        prop_assert_eq!(decode_metrics_json(&json), Ok(expected));
    }

    #[test]
    fn every_prefix_decodes_or_fails_without_panicking(data in metrics_data()) {
        let mut bytes = Vec::new();
        encode_metrics_data(&data, &mut bytes);
        for len in 0..bytes.len() {
            let _ = decode_metrics(&bytes[..len]);
        }
    }

    #[test]
    fn prost_serde_reads_our_json_and_we_read_theirs(data in metrics_data()) {
        let mut json = Vec::new();
        encode_metrics_data_json(&data, &mut json);
        let theirs: Result<ExportMetricsServiceRequest, _> = serde_json::from_slice(&json);
        prop_assert_eq!(
            theirs.map_err(|e| e.to_string()),
            Ok(to_prost(&data)),
            "{}",
            String::from_utf8_lossy(&json)
        );
        let their_json = serde_json::to_vec(&to_prost(&data)).unwrap_or_default();
        prop_assert_eq!(decode_metrics_json(&their_json), Ok(data.clone()));
        // Pretty-printed input is the same input.
        let pretty: serde_json::Value = serde_json::from_slice(&json).unwrap_or_default();
        let pretty = serde_json::to_vec_pretty(&pretty).unwrap_or_default();
        prop_assert_eq!(decode_metrics_json(&pretty), Ok(data));
    }

    #[test]
    fn hostile_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_metrics(&bytes);
        let _ = decode_metrics_json(&bytes);
    }

    #[test]
    fn mutated_valid_requests_never_panic_and_re_encode_stably(
        data in metrics_data(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = Vec::new();
        encode_metrics_data(&data, &mut bytes);
        if !bytes.is_empty() {
            for (index, byte) in flips {
                let i = index.index(bytes.len());
                bytes[i] = byte;
            }
        }
        if let Ok(decoded) = decode_metrics(&bytes) {
            // Compared as bytes: a flipped byte can turn a double into a NaN.
            let mut again = Vec::new();
            encode_metrics_data(&decoded, &mut again);
            let redecoded = decode_metrics(&again);
            prop_assert!(redecoded.is_ok(), "our own encoding fails to decode: {:?}", redecoded);
            let mut third = Vec::new();
            encode_metrics_data(&redecoded.unwrap_or_default(), &mut third);
            prop_assert_eq!(third, again);
        }
    }
}
