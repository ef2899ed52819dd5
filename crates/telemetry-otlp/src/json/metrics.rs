//! `ExportMetricsServiceRequest` in OTLP/JSON.
//!
//! What our metric types cannot hold is dropped on decode exactly as by the protobuf
//! decoder (see `crate::metrics`): summaries and metrics without data are skipped.

use telemetry_core::{SpanId, Timestamp, TraceId};
use telemetry_metrics::data::{
    Exemplar, ExponentialBuckets, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, MetricData, Number, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, Temporality,
};

use super::common::{
    object_or_empty, read_attributes, read_resource, read_scope, write_attributes, write_resource,
    write_scope, write_string,
};
use super::parse::{Json, Map, get, parse};
use super::read::{
    boolean, double, enumeration, error, field, hex_id, int64, list, string, uint64,
};
use super::write::JsonWriter;
use crate::error::{JsonError, JsonErrorKind};
use crate::metrics::MetricsData;
use crate::proto::metrics::{temporality, temporality_value};

/// Appends `{"resourceMetrics":[…]}` holding one collection (nothing inside when it has no
/// scopes).
pub(crate) fn write_request(out: &mut Vec<u8>, metrics: &ResourceMetrics) {
    let w = &mut JsonWriter::new(out);
    w.begin_object();
    if !metrics.scope_metrics.is_empty() {
        w.key("resourceMetrics");
        w.begin_array();
        write_resource_metrics(w, metrics);
        w.end_array();
    }
    w.end_object();
}

/// Appends `{"resourceMetrics":[…]}` with exactly the envelopes of `data`.
pub(crate) fn write_metrics_data(out: &mut Vec<u8>, data: &MetricsData) {
    let w = &mut JsonWriter::new(out);
    w.begin_object();
    if !data.resource_metrics.is_empty() {
        w.key("resourceMetrics");
        w.begin_array();
        for metrics in &data.resource_metrics {
            write_resource_metrics(w, metrics);
        }
        w.end_array();
    }
    w.end_object();
}

fn write_resource_metrics(w: &mut JsonWriter<'_>, metrics: &ResourceMetrics) {
    w.begin_object();
    write_resource(w, &metrics.resource, 0);
    if !metrics.scope_metrics.is_empty() {
        w.key("scopeMetrics");
        w.begin_array();
        for scope_metrics in &metrics.scope_metrics {
            let scope = &scope_metrics.scope;
            w.begin_object();
            write_scope(w, scope, 0);
            // Kinds `MetricData` may gain later are left out, as by the protobuf encoder.
            let mut known = scope_metrics.metrics.iter().filter(|m| {
                matches!(
                    m.data,
                    MetricData::Gauge(_)
                        | MetricData::Sum(_)
                        | MetricData::Histogram(_)
                        | MetricData::ExponentialHistogram(_)
                )
            });
            if let Some(first) = known.next() {
                w.key("metrics");
                w.begin_array();
                write_metric(w, first);
                for metric in known {
                    write_metric(w, metric);
                }
                w.end_array();
            }
            write_string(w, "schemaUrl", scope.schema_url().unwrap_or_default());
            w.end_object();
        }
        w.end_array();
    }
    write_string(
        w,
        "schemaUrl",
        metrics.resource.schema_url().unwrap_or_default(),
    );
    w.end_object();
}

fn write_metric(w: &mut JsonWriter<'_>, metric: &Metric) {
    w.begin_object();
    write_string(w, "name", &metric.name);
    write_string(w, "description", &metric.description);
    write_string(w, "unit", &metric.unit);
    match &metric.data {
        MetricData::Gauge(gauge) => {
            w.key("gauge");
            w.begin_object();
            write_points(w, &gauge.points, write_number_point);
            w.end_object();
        }
        MetricData::Sum(sum) => {
            w.key("sum");
            w.begin_object();
            write_points(w, &sum.points, write_number_point);
            write_temporality(w, sum.temporality);
            if sum.is_monotonic {
                w.key("isMonotonic");
                w.bool(true);
            }
            w.end_object();
        }
        MetricData::Histogram(histogram) => {
            w.key("histogram");
            w.begin_object();
            write_points(w, &histogram.points, write_histogram_point);
            write_temporality(w, histogram.temporality);
            w.end_object();
        }
        MetricData::ExponentialHistogram(histogram) => {
            w.key("exponentialHistogram");
            w.begin_object();
            write_points(w, &histogram.points, write_exponential_point);
            write_temporality(w, histogram.temporality);
            w.end_object();
        }
        // Filtered out by the caller.
        _ => {}
    }
    w.end_object();
}

fn write_points<P>(w: &mut JsonWriter<'_>, points: &[P], write: fn(&mut JsonWriter<'_>, &P)) {
    if points.is_empty() {
        return;
    }
    w.key("dataPoints");
    w.begin_array();
    for point in points {
        write(w, point);
    }
    w.end_array();
}

fn write_temporality(w: &mut JsonWriter<'_>, value: Temporality) {
    w.key("aggregationTemporality");
    w.number(temporality_value(value));
}

fn write_time(w: &mut JsonWriter<'_>, key: &str, time: Timestamp) {
    if time != Timestamp::UNIX_EPOCH {
        w.key(key);
        w.u64_string(time.as_unix_nanos());
    }
}

/// A `fixed64` count: a decimal string, omitted when zero.
fn write_u64(w: &mut JsonWriter<'_>, key: &str, value: u64) {
    if value != 0 {
        w.key(key);
        w.u64_string(value);
    }
}

fn write_optional_double(w: &mut JsonWriter<'_>, key: &str, value: Option<f64>) {
    if let Some(value) = value {
        w.key(key);
        w.double(value);
    }
}

/// The `value` oneof: `asDouble` as a number, `asInt` (sfixed64) as a decimal string.
fn write_number(w: &mut JsonWriter<'_>, value: Number) {
    match value {
        Number::F64(v) => {
            w.key("asDouble");
            w.double(v);
        }
        Number::I64(v) => {
            w.key("asInt");
            w.i64_string(v);
        }
    }
}

fn write_exemplars(w: &mut JsonWriter<'_>, exemplars: &[Exemplar]) {
    if exemplars.is_empty() {
        return;
    }
    w.key("exemplars");
    w.begin_array();
    for exemplar in exemplars {
        w.begin_object();
        write_attributes(w, "filteredAttributes", &exemplar.filtered_attributes);
        write_time(w, "timeUnixNano", exemplar.time);
        write_number(w, exemplar.value);
        if let Some(span_id) = exemplar.span_id.filter(|id| id.is_valid()) {
            w.key("spanId");
            w.ascii_string(&span_id.to_hex_array());
        }
        if let Some(trace_id) = exemplar.trace_id.filter(|id| id.is_valid()) {
            w.key("traceId");
            w.ascii_string(&trace_id.to_hex_array());
        }
        w.end_object();
    }
    w.end_array();
}

fn write_number_point(w: &mut JsonWriter<'_>, point: &NumberDataPoint) {
    w.begin_object();
    write_attributes(w, "attributes", &point.attributes);
    write_time(w, "startTimeUnixNano", point.start_time);
    write_time(w, "timeUnixNano", point.time);
    write_number(w, point.value);
    write_exemplars(w, &point.exemplars);
    w.end_object();
}

fn write_histogram_point(w: &mut JsonWriter<'_>, point: &HistogramDataPoint) {
    w.begin_object();
    write_attributes(w, "attributes", &point.attributes);
    write_time(w, "startTimeUnixNano", point.start_time);
    write_time(w, "timeUnixNano", point.time);
    write_u64(w, "count", point.count);
    write_optional_double(w, "sum", point.sum);
    if !point.bucket_counts.is_empty() {
        w.key("bucketCounts");
        w.begin_array();
        for &count in &point.bucket_counts {
            w.u64_string(count);
        }
        w.end_array();
    }
    if !point.bounds.is_empty() {
        w.key("explicitBounds");
        w.begin_array();
        for &bound in &point.bounds {
            w.double(bound);
        }
        w.end_array();
    }
    write_exemplars(w, &point.exemplars);
    write_optional_double(w, "min", point.min);
    write_optional_double(w, "max", point.max);
    w.end_object();
}

fn write_buckets(w: &mut JsonWriter<'_>, key: &str, buckets: &ExponentialBuckets) {
    w.key(key);
    w.begin_object();
    if buckets.offset != 0 {
        w.key("offset");
        w.signed_number(i64::from(buckets.offset));
    }
    if !buckets.counts.is_empty() {
        w.key("bucketCounts");
        w.begin_array();
        for &count in &buckets.counts {
            w.u64_string(count);
        }
        w.end_array();
    }
    w.end_object();
}

fn write_exponential_point(w: &mut JsonWriter<'_>, point: &ExponentialHistogramDataPoint) {
    w.begin_object();
    write_attributes(w, "attributes", &point.attributes);
    write_time(w, "startTimeUnixNano", point.start_time);
    write_time(w, "timeUnixNano", point.time);
    write_u64(w, "count", point.count);
    write_optional_double(w, "sum", point.sum);
    if point.scale != 0 {
        w.key("scale");
        w.signed_number(i64::from(point.scale));
    }
    write_u64(w, "zeroCount", point.zero_count);
    write_buckets(w, "positive", &point.positive);
    write_buckets(w, "negative", &point.negative);
    write_exemplars(w, &point.exemplars);
    write_optional_double(w, "min", point.min);
    write_optional_double(w, "max", point.max);
    if point.zero_threshold != 0.0 {
        w.key("zeroThreshold");
        w.double(point.zero_threshold);
    }
    w.end_object();
}

/// Parses an `ExportMetricsServiceRequest` (or `MetricsData`) in OTLP/JSON.
pub(crate) fn read_request(input: &[u8]) -> Result<MetricsData, JsonError> {
    let json = parse(input)?;
    let map = object_or_empty(&json)?;
    Ok(MetricsData {
        resource_metrics: list(map, "resourceMetrics", read_resource_metrics)?,
    })
}

fn read_resource_metrics(value: &Json<'_>) -> Result<ResourceMetrics, JsonError> {
    let map = object_or_empty(value)?;
    let schema_url = field(map, "schemaUrl", string)?.unwrap_or_default();
    // The dropped count has no place in `ResourceMetrics`.
    let (resource, _) = read_resource(get(map, "resource").unwrap_or(&Json::Null), schema_url)
        .map_err(|e| e.under("resource"))?;
    Ok(ResourceMetrics {
        resource,
        scope_metrics: list(map, "scopeMetrics", read_scope_metrics)?,
    })
}

fn read_scope_metrics(value: &Json<'_>) -> Result<ScopeMetrics, JsonError> {
    let map = object_or_empty(value)?;
    let schema_url = field(map, "schemaUrl", string)?.unwrap_or_default();
    // The dropped count has no place in `ScopeMetrics`.
    let (scope, _) = read_scope(get(map, "scope").unwrap_or(&Json::Null), schema_url)
        .map_err(|e| e.under("scope"))?;
    let metrics = list(map, "metrics", read_metric)?;
    Ok(ScopeMetrics {
        scope,
        metrics: metrics.into_iter().flatten().collect(),
    })
}

/// Reads a `Metric`; `None` for a summary or a metric without data, as in protobuf.
fn read_metric(value: &Json<'_>) -> Result<Option<Metric>, JsonError> {
    let map = object_or_empty(value)?;
    // One member of the oneof is expected; should a sender write several, the first in the
    // proto's field order wins, as for `AnyValue`.
    let data = if let Some(gauge) = field(map, "gauge", read_gauge)? {
        MetricData::Gauge(gauge)
    } else if let Some(sum) = field(map, "sum", read_sum)? {
        MetricData::Sum(sum)
    } else if let Some(histogram) = field(map, "histogram", read_histogram)? {
        MetricData::Histogram(histogram)
    } else if let Some(histogram) = field(map, "exponentialHistogram", read_exponential)? {
        MetricData::ExponentialHistogram(histogram)
    } else {
        return Ok(None);
    };
    Ok(Some(Metric {
        name: field(map, "name", string)?.unwrap_or_default().to_owned(),
        description: field(map, "description", string)?
            .unwrap_or_default()
            .to_owned(),
        unit: field(map, "unit", string)?.unwrap_or_default().to_owned(),
        data,
    }))
}

fn read_temporality(map: &Map<'_>) -> Result<Temporality, JsonError> {
    let value = field(map, "aggregationTemporality", enumeration)?.unwrap_or_default();
    temporality(value)
        .ok_or_else(|| error(JsonErrorKind::UnknownEnumValue).under("aggregationTemporality"))
}

fn read_gauge(value: &Json<'_>) -> Result<Gauge, JsonError> {
    let map = object_or_empty(value)?;
    Ok(Gauge {
        points: list(map, "dataPoints", read_number_point)?,
    })
}

fn read_sum(value: &Json<'_>) -> Result<Sum, JsonError> {
    let map = object_or_empty(value)?;
    Ok(Sum {
        points: list(map, "dataPoints", read_number_point)?,
        temporality: read_temporality(map)?,
        is_monotonic: field(map, "isMonotonic", boolean)?.unwrap_or_default(),
    })
}

fn read_histogram(value: &Json<'_>) -> Result<Histogram, JsonError> {
    let map = object_or_empty(value)?;
    Ok(Histogram {
        points: list(map, "dataPoints", read_histogram_point)?,
        temporality: read_temporality(map)?,
    })
}

fn read_exponential(value: &Json<'_>) -> Result<ExponentialHistogram, JsonError> {
    let map = object_or_empty(value)?;
    Ok(ExponentialHistogram {
        points: list(map, "dataPoints", read_exponential_point)?,
        temporality: read_temporality(map)?,
    })
}

fn time(map: &Map<'_>, key: &str) -> Result<Timestamp, JsonError> {
    Ok(Timestamp::from_unix_nanos(
        field(map, key, uint64)?.unwrap_or_default(),
    ))
}

/// An `int32` or `sint32`: a number (or a string, as proto3 JSON parsers also accept).
fn int32(value: &Json<'_>) -> Result<i32, JsonError> {
    i32::try_from(int64(value)?).map_err(|_| error(JsonErrorKind::InvalidNumber))
}

/// The `value` oneof; a point without one reads as integer zero, as in protobuf.
fn read_number(map: &Map<'_>) -> Result<Number, JsonError> {
    if let Some(v) = field(map, "asDouble", double)? {
        return Ok(Number::F64(v));
    }
    Ok(Number::I64(field(map, "asInt", int64)?.unwrap_or_default()))
}

/// An exemplar id: absent, empty or all zeroes for none, else hex of `N` bytes.
fn exemplar_id<const N: usize>(map: &Map<'_>, key: &str) -> Result<Option<[u8; N]>, JsonError> {
    if matches!(field(map, key, string)?, None | Some("")) {
        return Ok(None);
    }
    Ok(field(map, key, hex_id::<N>)?.filter(|id| id.iter().any(|&b| b != 0)))
}

fn read_exemplar(value: &Json<'_>) -> Result<Exemplar, JsonError> {
    let map = object_or_empty(value)?;
    Ok(Exemplar {
        filtered_attributes: read_attributes(map, "filteredAttributes")?,
        time: time(map, "timeUnixNano")?,
        value: read_number(map)?,
        trace_id: exemplar_id::<16>(map, "traceId")?.map(TraceId::from_bytes),
        span_id: exemplar_id::<8>(map, "spanId")?.map(SpanId::from_bytes),
    })
}

fn read_number_point(value: &Json<'_>) -> Result<NumberDataPoint, JsonError> {
    let map = object_or_empty(value)?;
    Ok(NumberDataPoint {
        attributes: read_attributes(map, "attributes")?,
        start_time: time(map, "startTimeUnixNano")?,
        time: time(map, "timeUnixNano")?,
        value: read_number(map)?,
        exemplars: list(map, "exemplars", read_exemplar)?,
    })
}

fn read_histogram_point(value: &Json<'_>) -> Result<HistogramDataPoint, JsonError> {
    let map = object_or_empty(value)?;
    Ok(HistogramDataPoint {
        attributes: read_attributes(map, "attributes")?,
        start_time: time(map, "startTimeUnixNano")?,
        time: time(map, "timeUnixNano")?,
        count: field(map, "count", uint64)?.unwrap_or_default(),
        sum: field(map, "sum", double)?,
        min: field(map, "min", double)?,
        max: field(map, "max", double)?,
        bounds: list(map, "explicitBounds", double)?,
        bucket_counts: list(map, "bucketCounts", uint64)?,
        exemplars: list(map, "exemplars", read_exemplar)?,
    })
}

fn read_buckets(value: &Json<'_>) -> Result<ExponentialBuckets, JsonError> {
    let map = object_or_empty(value)?;
    Ok(ExponentialBuckets {
        offset: field(map, "offset", int32)?.unwrap_or_default(),
        counts: list(map, "bucketCounts", uint64)?,
    })
}

fn read_exponential_point(value: &Json<'_>) -> Result<ExponentialHistogramDataPoint, JsonError> {
    let map = object_or_empty(value)?;
    Ok(ExponentialHistogramDataPoint {
        attributes: read_attributes(map, "attributes")?,
        start_time: time(map, "startTimeUnixNano")?,
        time: time(map, "timeUnixNano")?,
        count: field(map, "count", uint64)?.unwrap_or_default(),
        sum: field(map, "sum", double)?,
        min: field(map, "min", double)?,
        max: field(map, "max", double)?,
        scale: field(map, "scale", int32)?.unwrap_or_default(),
        zero_count: field(map, "zeroCount", uint64)?.unwrap_or_default(),
        zero_threshold: field(map, "zeroThreshold", double)?.unwrap_or_default(),
        positive: field(map, "positive", read_buckets)?.unwrap_or_default(),
        negative: field(map, "negative", read_buckets)?.unwrap_or_default(),
        exemplars: list(map, "exemplars", read_exemplar)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::sample_data;

    fn encode(data: &MetricsData) -> Vec<u8> {
        let mut out = Vec::new();
        write_metrics_data(&mut out, data);
        out
    }

    #[test]
    fn every_field_round_trips() -> Result<(), JsonError> {
        let data = sample_data();
        assert_eq!(read_request(&encode(&data))?, data);
        Ok(())
    }

    #[test]
    fn the_encoding_follows_otlp_json() {
        let json = String::from_utf8(encode(&sample_data())).unwrap_or_default();
        for expected in [
            r#""asInt":"42""#,
            r#""asInt":"-7""#,
            r#""asDouble":0.5"#,
            r#""aggregationTemporality":1"#,
            r#""isMonotonic":true"#,
            r#""bucketCounts":["1","2","3","0"]"#,
            r#""explicitBounds":[0.0,10.0,100.0]"#,
            r#""count":"6""#,
            r#""scale":-3"#,
            r#""offset":-2"#,
            r#""traceId":"0102030405060708090a0b0c0d0e0f10""#,
            r#""spanId":"1112131415161718""#,
        ] {
            assert!(json.contains(expected), "{expected} missing from {json}");
        }
    }

    #[test]
    fn errors_name_their_path() {
        let cases: &[(&str, JsonErrorKind, &str)] = &[
            (
                r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"sum":{"aggregationTemporality":7}}]}]}]}"#,
                JsonErrorKind::UnknownEnumValue,
                "resourceMetrics[0].scopeMetrics[0].metrics[0].sum.aggregationTemporality",
            ),
            (
                r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"gauge":{"dataPoints":[{"exemplars":[{"traceId":"01"}]}]}}]}]}]}"#,
                JsonErrorKind::InvalidId,
                "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0].exemplars[0].traceId",
            ),
            (
                r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"exponentialHistogram":{"dataPoints":[{"scale":3000000000}]}}]}]}]}"#,
                JsonErrorKind::InvalidNumber,
                "resourceMetrics[0].scopeMetrics[0].metrics[0].exponentialHistogram.dataPoints[0].scale",
            ),
        ];
        for (input, kind, path) in cases {
            let error = read_request(input.as_bytes()).expect_err(input);
            assert_eq!(error.kind(), *kind, "{input}");
            assert_eq!(error.path(), *path, "{input}");
        }
    }

    #[test]
    fn summaries_are_skipped_and_unknown_keys_ignored() -> Result<(), JsonError> {
        let input = br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
            {"name":"s","summary":{"dataPoints":[{"count":"1"}]}},
            {"name":"g","gauge":{"dataPoints":[{"asInt":5,"future":[1]}]},"metadata":[]}
        ]}]}]}"#;
        let data = read_request(input)?;
        let metrics = &data.resource_metrics[0].scope_metrics[0].metrics;
        assert_eq!(metrics.len(), 1);
        assert_eq!(metrics[0].name, "g");
        let MetricData::Gauge(gauge) = &metrics[0].data else {
            panic!("not a gauge: {:?}", metrics[0]);
        };
        assert_eq!(gauge.points[0].value, Number::I64(5));
        Ok(())
    }
}
