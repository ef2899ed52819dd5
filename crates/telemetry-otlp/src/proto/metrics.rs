//! `ExportMetricsServiceRequest`: metrics written straight from [`ResourceMetrics`] into a
//! buffer, and read back into [`MetricsData`].
//!
//! Fields are written in field-number order (a `oneof` at the place of its lowest member),
//! the order prost and the other official encoders use, so our bytes equal theirs.

use telemetry_core::{KeyValue, SpanId, Timestamp, TraceId};
use telemetry_metrics::data::{
    Exemplar, ExponentialBuckets, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, MetricData, Number, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, Temporality,
};

use super::common::{
    Strings, build_resource, push_key_value, read_resource, read_scope, write_attributes,
    write_resource, write_scope,
};
use super::wire::{Field, I64, LEN, Reader, VARINT, Writer, key};
use crate::error::{DecodeError, DecodeErrorKind};
use crate::metrics::MetricsData;

const REQUEST: &str = "opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest";
const RESOURCE_METRICS: &str = "opentelemetry.proto.metrics.v1.ResourceMetrics";
const SCOPE_METRICS: &str = "opentelemetry.proto.metrics.v1.ScopeMetrics";
const METRIC: &str = "opentelemetry.proto.metrics.v1.Metric";
const GAUGE: &str = "opentelemetry.proto.metrics.v1.Gauge";
const SUM: &str = "opentelemetry.proto.metrics.v1.Sum";
const HISTOGRAM: &str = "opentelemetry.proto.metrics.v1.Histogram";
const EXP_HISTOGRAM: &str = "opentelemetry.proto.metrics.v1.ExponentialHistogram";
const NUMBER_POINT: &str = "opentelemetry.proto.metrics.v1.NumberDataPoint";
const HISTOGRAM_POINT: &str = "opentelemetry.proto.metrics.v1.HistogramDataPoint";
const EXP_POINT: &str = "opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint";
const BUCKETS: &str = "opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint.Buckets";
const EXEMPLAR: &str = "opentelemetry.proto.metrics.v1.Exemplar";
const SUMMARY: &str = "opentelemetry.proto.metrics.v1.Summary";

// ExportMetricsServiceRequest
const REQUEST_RESOURCE_METRICS: u32 = key(1, LEN);
// ResourceMetrics
const RM_RESOURCE: u32 = key(1, LEN);
const RM_SCOPE_METRICS: u32 = key(2, LEN);
const RM_SCHEMA_URL: u32 = key(3, LEN);
// ScopeMetrics
const SM_SCOPE: u32 = key(1, LEN);
const SM_METRICS: u32 = key(2, LEN);
const SM_SCHEMA_URL: u32 = key(3, LEN);
// Metric
const METRIC_NAME: u32 = key(1, LEN);
const METRIC_DESCRIPTION: u32 = key(2, LEN);
const METRIC_UNIT: u32 = key(3, LEN);
const METRIC_GAUGE: u32 = key(5, LEN);
const METRIC_SUM: u32 = key(7, LEN);
const METRIC_HISTOGRAM: u32 = key(9, LEN);
const METRIC_EXP_HISTOGRAM: u32 = key(10, LEN);
// Gauge, Sum, Histogram, ExponentialHistogram
const DATA_POINTS: u32 = key(1, LEN);
const DATA_TEMPORALITY: u32 = key(2, VARINT);
const SUM_IS_MONOTONIC: u32 = key(3, VARINT);
// NumberDataPoint
const NDP_START: u32 = key(2, I64);
const NDP_TIME: u32 = key(3, I64);
const NDP_AS_DOUBLE: u32 = key(4, I64);
const NDP_EXEMPLARS: u32 = key(5, LEN);
const NDP_AS_INT: u32 = key(6, I64);
const NDP_ATTRIBUTES: u32 = key(7, LEN);
// HistogramDataPoint
const HDP_START: u32 = key(2, I64);
const HDP_TIME: u32 = key(3, I64);
const HDP_COUNT: u32 = key(4, I64);
const HDP_SUM: u32 = key(5, I64);
const HDP_BUCKET_COUNTS: u32 = key(6, LEN);
const HDP_BOUNDS: u32 = key(7, LEN);
const HDP_EXEMPLARS: u32 = key(8, LEN);
const HDP_ATTRIBUTES: u32 = key(9, LEN);
const HDP_MIN: u32 = key(11, I64);
const HDP_MAX: u32 = key(12, I64);
// ExponentialHistogramDataPoint
const EDP_ATTRIBUTES: u32 = key(1, LEN);
const EDP_START: u32 = key(2, I64);
const EDP_TIME: u32 = key(3, I64);
const EDP_COUNT: u32 = key(4, I64);
const EDP_SUM: u32 = key(5, I64);
const EDP_SCALE: u32 = key(6, VARINT);
const EDP_ZERO_COUNT: u32 = key(7, I64);
const EDP_POSITIVE: u32 = key(8, LEN);
const EDP_NEGATIVE: u32 = key(9, LEN);
const EDP_EXEMPLARS: u32 = key(11, LEN);
const EDP_MIN: u32 = key(12, I64);
const EDP_MAX: u32 = key(13, I64);
const EDP_ZERO_THRESHOLD: u32 = key(14, I64);
// ExponentialHistogramDataPoint.Buckets
const BUCKETS_OFFSET: u32 = key(1, VARINT);
const BUCKETS_COUNTS: u32 = key(2, LEN);
// Exemplar
const EX_TIME: u32 = key(2, I64);
const EX_AS_DOUBLE: u32 = key(3, I64);
const EX_SPAN_ID: u32 = key(4, LEN);
const EX_TRACE_ID: u32 = key(5, LEN);
const EX_AS_INT: u32 = key(6, I64);
const EX_FILTERED_ATTRIBUTES: u32 = key(7, LEN);

/// OTLP `AggregationTemporality` values.
pub(crate) fn temporality_value(temporality: Temporality) -> u64 {
    match temporality {
        Temporality::Delta => 1,
        Temporality::Cumulative => 2,
    }
}

/// The temporality of an OTLP enum value. `AGGREGATION_TEMPORALITY_UNSPECIFIED` (0) has no
/// counterpart in our types; it reads as cumulative, the SDK default, so that a sender that
/// leaves the field out is still understood (re-encoding then says cumulative).
pub(crate) fn temporality(value: i64) -> Option<Temporality> {
    match value {
        0 | 2 => Some(Temporality::Cumulative),
        1 => Some(Temporality::Delta),
        _ => None,
    }
}

/// `sint32` zigzag encoding: small negatives stay short.
pub(crate) fn zigzag(value: i32) -> u64 {
    u64::from(((value << 1) ^ (value >> 31)) as u32)
}

/// Undoes [`zigzag`]; like any decoder, keeps only the low 32 bits of the varint.
pub(crate) fn unzigzag(value: u64) -> i32 {
    let value = value as u32;
    ((value >> 1) as i32) ^ -((value & 1) as i32)
}

/// Appends an `ExportMetricsServiceRequest` holding one collection. A collection without
/// scopes writes nothing (an empty request), since OTLP senders should not send empty
/// envelopes.
pub(crate) fn write_request(out: &mut Vec<u8>, metrics: &ResourceMetrics) {
    if metrics.scope_metrics.is_empty() {
        return;
    }
    write_resource_metrics(&mut Writer::new(out), metrics);
}

/// Appends an `ExportMetricsServiceRequest` with exactly the envelopes of `data`.
pub(crate) fn write_metrics_data(out: &mut Vec<u8>, data: &MetricsData) {
    let w = &mut Writer::new(out);
    for metrics in &data.resource_metrics {
        write_resource_metrics(w, metrics);
    }
}

fn write_resource_metrics(w: &mut Writer<'_>, metrics: &ResourceMetrics) {
    let nested = w.begin(REQUEST_RESOURCE_METRICS, 3);
    // Our types keep no dropped counts for resources and scopes (see crate::metrics).
    write_resource(w, RM_RESOURCE, &metrics.resource, 0);
    for scope_metrics in &metrics.scope_metrics {
        write_scope_metrics(w, scope_metrics);
    }
    let schema_url = metrics.resource.schema_url().unwrap_or_default();
    w.bytes_field(RM_SCHEMA_URL, schema_url.as_bytes());
    w.end(nested);
}

fn write_scope_metrics(w: &mut Writer<'_>, scope_metrics: &ScopeMetrics) {
    let nested = w.begin(RM_SCOPE_METRICS, 3);
    let scope = &scope_metrics.scope;
    write_scope(w, SM_SCOPE, scope, 0);
    for metric in &scope_metrics.metrics {
        write_metric(w, metric);
    }
    w.bytes_field(
        SM_SCHEMA_URL,
        scope.schema_url().unwrap_or_default().as_bytes(),
    );
    w.end(nested);
}

fn write_metric(w: &mut Writer<'_>, metric: &Metric) {
    // `MetricData` is non-exhaustive: a kind added later that this encoder does not know is
    // left out whole, since a metric without data is one receivers drop anyway.
    if !matches!(
        metric.data,
        MetricData::Gauge(_)
            | MetricData::Sum(_)
            | MetricData::Histogram(_)
            | MetricData::ExponentialHistogram(_)
    ) {
        return;
    }
    // A metric holds every point of a stream: often a few hundred bytes, so two length bytes.
    let nested = w.begin(SM_METRICS, 2);
    w.bytes_field(METRIC_NAME, metric.name.as_bytes());
    w.bytes_field(METRIC_DESCRIPTION, metric.description.as_bytes());
    w.bytes_field(METRIC_UNIT, metric.unit.as_bytes());
    match &metric.data {
        MetricData::Gauge(gauge) => {
            let data = w.begin(METRIC_GAUGE, 2);
            for point in &gauge.points {
                write_number_point(w, point);
            }
            w.end(data);
        }
        MetricData::Sum(sum) => {
            let data = w.begin(METRIC_SUM, 2);
            for point in &sum.points {
                write_number_point(w, point);
            }
            w.uint_field(DATA_TEMPORALITY, temporality_value(sum.temporality));
            w.uint_field(SUM_IS_MONOTONIC, u64::from(sum.is_monotonic));
            w.end(data);
        }
        MetricData::Histogram(histogram) => {
            let data = w.begin(METRIC_HISTOGRAM, 2);
            for point in &histogram.points {
                write_histogram_point(w, point);
            }
            w.uint_field(DATA_TEMPORALITY, temporality_value(histogram.temporality));
            w.end(data);
        }
        MetricData::ExponentialHistogram(histogram) => {
            let data = w.begin(METRIC_EXP_HISTOGRAM, 2);
            for point in &histogram.points {
                write_exponential_point(w, point);
            }
            w.uint_field(DATA_TEMPORALITY, temporality_value(histogram.temporality));
            w.end(data);
        }
        // Excluded above.
        _ => {}
    }
    w.end(nested);
}

/// A `oneof { double as_double; sfixed64 as_int; }` member, written even when zero.
fn write_number(w: &mut Writer<'_>, as_double: u32, as_int: u32, value: Number) {
    match value {
        Number::F64(v) => w.fixed64_always(as_double, v.to_bits()),
        // sfixed64 is the two's complement, little-endian.
        Number::I64(v) => w.fixed64_always(as_int, v as u64),
    }
}

/// An `optional double`: written when present, even when zero.
fn write_optional_double(w: &mut Writer<'_>, field_key: u32, value: Option<f64>) {
    if let Some(value) = value {
        w.fixed64_always(field_key, value.to_bits());
    }
}

fn write_number_point(w: &mut Writer<'_>, point: &NumberDataPoint) {
    let nested = w.begin(DATA_POINTS, 1);
    w.fixed64_field(NDP_START, point.start_time.as_unix_nanos());
    w.fixed64_field(NDP_TIME, point.time.as_unix_nanos());
    // The oneof sits at its lowest member (4), so an int value (6) precedes exemplars (5).
    write_number(w, NDP_AS_DOUBLE, NDP_AS_INT, point.value);
    write_exemplars(w, NDP_EXEMPLARS, &point.exemplars);
    write_attributes(w, NDP_ATTRIBUTES, &point.attributes);
    w.end(nested);
}

fn write_histogram_point(w: &mut Writer<'_>, point: &HistogramDataPoint) {
    let nested = w.begin(DATA_POINTS, 2);
    w.fixed64_field(HDP_START, point.start_time.as_unix_nanos());
    w.fixed64_field(HDP_TIME, point.time.as_unix_nanos());
    w.fixed64_field(HDP_COUNT, point.count);
    write_optional_double(w, HDP_SUM, point.sum);
    write_packed_fixed64(w, HDP_BUCKET_COUNTS, point.bucket_counts.iter().copied());
    write_packed_fixed64(w, HDP_BOUNDS, point.bounds.iter().map(|b| b.to_bits()));
    write_exemplars(w, HDP_EXEMPLARS, &point.exemplars);
    write_attributes(w, HDP_ATTRIBUTES, &point.attributes);
    write_optional_double(w, HDP_MIN, point.min);
    write_optional_double(w, HDP_MAX, point.max);
    w.end(nested);
}

fn write_exponential_point(w: &mut Writer<'_>, point: &ExponentialHistogramDataPoint) {
    let nested = w.begin(DATA_POINTS, 2);
    write_attributes(w, EDP_ATTRIBUTES, &point.attributes);
    w.fixed64_field(EDP_START, point.start_time.as_unix_nanos());
    w.fixed64_field(EDP_TIME, point.time.as_unix_nanos());
    w.fixed64_field(EDP_COUNT, point.count);
    write_optional_double(w, EDP_SUM, point.sum);
    w.uint_field(EDP_SCALE, zigzag(point.scale));
    w.fixed64_field(EDP_ZERO_COUNT, point.zero_count);
    write_buckets(w, EDP_POSITIVE, &point.positive);
    write_buckets(w, EDP_NEGATIVE, &point.negative);
    write_exemplars(w, EDP_EXEMPLARS, &point.exemplars);
    write_optional_double(w, EDP_MIN, point.min);
    write_optional_double(w, EDP_MAX, point.max);
    // A plain proto3 double: omitted when zero, negative zero included, as prost does.
    if point.zero_threshold != 0.0 {
        w.fixed64_always(EDP_ZERO_THRESHOLD, point.zero_threshold.to_bits());
    }
    w.end(nested);
}

/// A packed repeated `fixed64` or `double`: its length is known up front, so nothing moves.
fn write_packed_fixed64(
    w: &mut Writer<'_>,
    field_key: u32,
    values: impl ExactSizeIterator<Item = u64>,
) {
    if values.len() == 0 {
        return;
    }
    w.key(field_key);
    w.varint(values.len() as u64 * 8);
    for value in values {
        w.fixed64(value);
    }
}

/// `Buckets` is a message field with explicit presence; prost writes it whenever it is set,
/// and our points always have both, so it is always written (possibly empty).
fn write_buckets(w: &mut Writer<'_>, field_key: u32, buckets: &ExponentialBuckets) {
    let nested = w.begin(field_key, 1);
    w.uint_field(BUCKETS_OFFSET, zigzag(buckets.offset));
    if !buckets.counts.is_empty() {
        let packed = w.begin(BUCKETS_COUNTS, 1);
        for &count in &buckets.counts {
            w.varint(count);
        }
        w.end(packed);
    }
    w.end(nested);
}

fn write_exemplars(w: &mut Writer<'_>, field_key: u32, exemplars: &[Exemplar]) {
    for exemplar in exemplars {
        let nested = w.begin(field_key, 1);
        w.fixed64_field(EX_TIME, exemplar.time.as_unix_nanos());
        // Written at as_double's place (3), before the ids, whichever member it is.
        write_number(w, EX_AS_DOUBLE, EX_AS_INT, exemplar.value);
        if let Some(span_id) = exemplar.span_id.filter(|id| id.is_valid()) {
            w.bytes_always(EX_SPAN_ID, span_id.as_bytes());
        }
        if let Some(trace_id) = exemplar.trace_id.filter(|id| id.is_valid()) {
            w.bytes_always(EX_TRACE_ID, trace_id.as_bytes());
        }
        write_attributes(w, EX_FILTERED_ATTRIBUTES, &exemplar.filtered_attributes);
        w.end(nested);
    }
}

/// Reads an `ExportMetricsServiceRequest` (or a `MetricsData`: same fields, same numbers).
pub(crate) fn read_request(input: &[u8]) -> Result<MetricsData, DecodeError> {
    let mut data = MetricsData::default();
    let strings = &mut Strings::new();
    Reader::new(input).fields(REQUEST, |r, field| {
        match field.number {
            1 => data
                .resource_metrics
                .push(read_resource_metrics(r.message_field(field)?, strings)?),
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(data)
}

fn read_resource_metrics<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<ResourceMetrics, DecodeError> {
    let mut attributes = Vec::new();
    let mut schema_url = "";
    let mut scope_metrics = Vec::new();
    r.fields(RESOURCE_METRICS, |r, field| {
        match field.number {
            // The dropped count has no place in `ResourceMetrics`; it is decoded and dropped.
            1 => (attributes, _) = read_resource(r.message_field(field)?, strings)?,
            2 => scope_metrics.push(read_scope_metrics(r.message_field(field)?, strings)?),
            3 => schema_url = r.str_field(field)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(ResourceMetrics {
        resource: build_resource(attributes, schema_url),
        scope_metrics,
    })
}

fn read_scope_metrics<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<ScopeMetrics, DecodeError> {
    // Unlike spans, metrics do not carry their scope, so one pass suffices even when the
    // scope comes after them.
    let mut fields = None;
    let mut schema_url = "";
    let mut metrics = Vec::new();
    r.fields(SCOPE_METRICS, |r, field| {
        match field.number {
            1 => fields = Some(read_scope(r.message_field(field)?, strings)?),
            2 => {
                if let Some(metric) = read_metric(r.message_field(field)?, strings)? {
                    metrics.push(metric);
                }
            }
            3 => schema_url = r.str_field(field)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    // The scope's dropped count has no place in `ScopeMetrics`; it is dropped.
    Ok(ScopeMetrics {
        scope: fields.unwrap_or_default().build(schema_url),
        metrics,
    })
}

/// Reads a `Metric`; `None` for a metric our types cannot hold: a `Summary` (which this SDK
/// never produces and `MetricData` has no variant for) or one with no data. Such metrics
/// are skipped rather than failing the whole request, as a collector drops what it cannot
/// convert. `metadata` is skipped as an unknown field.
fn read_metric<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<Option<Metric>, DecodeError> {
    let mut metric = Metric {
        name: String::new(),
        description: String::new(),
        unit: String::new(),
        data: MetricData::Gauge(Gauge { points: Vec::new() }),
    };
    let mut has_data = false;
    r.fields(METRIC, |r, field| {
        match field.number {
            1 => metric.name = r.str_field(field)?.to_owned(),
            2 => metric.description = r.str_field(field)?.to_owned(),
            3 => metric.unit = r.str_field(field)?.to_owned(),
            // As for any oneof, the last member present wins.
            5 => {
                metric.data = MetricData::Gauge(read_gauge(r.message_field(field)?, strings)?);
                has_data = true;
            }
            7 => {
                metric.data = MetricData::Sum(read_sum(r.message_field(field)?, strings)?);
                has_data = true;
            }
            9 => {
                metric.data =
                    MetricData::Histogram(read_histogram(r.message_field(field)?, strings)?);
                has_data = true;
            }
            10 => {
                metric.data = MetricData::ExponentialHistogram(read_exponential_histogram(
                    r.message_field(field)?,
                    strings,
                )?);
                has_data = true;
            }
            11 => {
                // Still walked, so that a malformed summary is an error like anything else.
                r.message_field(field)?.fields(SUMMARY, Reader::skip)?;
                has_data = false;
            }
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(has_data.then_some(metric))
}

fn enum_value(r: &mut Reader<'_>, field: Field) -> Result<i64, DecodeError> {
    // Enums are int32: a negative one is sign-extended to ten bytes, and a decoder keeps the
    // low 32 bits.
    Ok(i64::from(r.varint_field(field)? as i32))
}

fn read_temporality(r: &mut Reader<'_>, field: Field) -> Result<Temporality, DecodeError> {
    let value = enum_value(r, field)?;
    temporality(value)
        .ok_or_else(|| DecodeError::new(DecodeErrorKind::UnknownEnumValue(value), field.offset))
}

fn read_gauge<'a>(r: Reader<'a>, strings: &mut Strings<'a>) -> Result<Gauge, DecodeError> {
    let mut points = Vec::new();
    r.fields(GAUGE, |r, field| {
        match field.number {
            1 => points.push(read_number_point(r.message_field(field)?, strings)?),
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(Gauge { points })
}

fn read_sum<'a>(r: Reader<'a>, strings: &mut Strings<'a>) -> Result<Sum, DecodeError> {
    let mut sum = Sum {
        points: Vec::new(),
        temporality: Temporality::Cumulative,
        is_monotonic: false,
    };
    r.fields(SUM, |r, field| {
        match field.number {
            1 => sum
                .points
                .push(read_number_point(r.message_field(field)?, strings)?),
            2 => sum.temporality = read_temporality(r, field)?,
            3 => sum.is_monotonic = r.varint_field(field)? != 0,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(sum)
}

fn read_histogram<'a>(r: Reader<'a>, strings: &mut Strings<'a>) -> Result<Histogram, DecodeError> {
    let mut histogram = Histogram {
        points: Vec::new(),
        temporality: Temporality::Cumulative,
    };
    r.fields(HISTOGRAM, |r, field| {
        match field.number {
            1 => histogram
                .points
                .push(read_histogram_point(r.message_field(field)?, strings)?),
            2 => histogram.temporality = read_temporality(r, field)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(histogram)
}

fn read_exponential_histogram<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<ExponentialHistogram, DecodeError> {
    let mut histogram = ExponentialHistogram {
        points: Vec::new(),
        temporality: Temporality::Cumulative,
    };
    r.fields(EXP_HISTOGRAM, |r, field| {
        match field.number {
            1 => histogram
                .points
                .push(read_exponential_point(r.message_field(field)?, strings)?),
            2 => histogram.temporality = read_temporality(r, field)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(histogram)
}

fn timestamp(r: &mut Reader<'_>, field: Field) -> Result<Timestamp, DecodeError> {
    Ok(Timestamp::from_unix_nanos(r.fixed64_field(field)?))
}

fn double(r: &mut Reader<'_>, field: Field) -> Result<f64, DecodeError> {
    Ok(f64::from_bits(r.fixed64_field(field)?))
}

/// An `sfixed64`: the two's complement, little-endian.
fn sfixed64(r: &mut Reader<'_>, field: Field) -> Result<i64, DecodeError> {
    Ok(r.fixed64_field(field)? as i64)
}

/// Reads a repeated `fixed64` or `double` field's next elements into `values`: packed (one
/// length-delimited run) or not (one element per field), as a parser must accept both.
fn push_fixed64s(
    r: &mut Reader<'_>,
    field: Field,
    values: &mut Vec<u64>,
) -> Result<(), DecodeError> {
    if field.wire_type != LEN {
        values.push(r.fixed64_field(field)?);
        return Ok(());
    }
    let mut packed = r.message_field(field)?;
    if packed.remaining() % 8 != 0 {
        // The run ends inside its last element.
        return Err(DecodeError::new(
            DecodeErrorKind::Truncated,
            packed.offset() + packed.remaining() / 8 * 8,
        ));
    }
    // The run is in the input already, so its length bounds the growth.
    values.reserve(packed.remaining() / 8);
    while packed.remaining() > 0 {
        values.push(packed.fixed64()?);
    }
    Ok(())
}

/// Reads a repeated `uint64` field's next elements, packed or not.
fn push_varints(
    r: &mut Reader<'_>,
    field: Field,
    values: &mut Vec<u64>,
) -> Result<(), DecodeError> {
    if field.wire_type != LEN {
        values.push(r.varint_field(field)?);
        return Ok(());
    }
    let mut packed = r.message_field(field)?;
    while packed.remaining() > 0 {
        values.push(packed.varint()?);
    }
    Ok(())
}

fn read_number_point<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<NumberDataPoint, DecodeError> {
    // A point without a value (`flags` saying NO_RECORDED_VALUE) reads as integer zero:
    // `NumberDataPoint::value` is not optional, and the flags have no place in our types.
    let mut point = NumberDataPoint {
        attributes: Vec::new(),
        start_time: Timestamp::UNIX_EPOCH,
        time: Timestamp::UNIX_EPOCH,
        value: Number::I64(0),
        exemplars: Vec::new(),
    };
    r.fields(NUMBER_POINT, |r, field| {
        match field.number {
            2 => point.start_time = timestamp(r, field)?,
            3 => point.time = timestamp(r, field)?,
            4 => point.value = Number::F64(double(r, field)?),
            5 => point
                .exemplars
                .push(read_exemplar(r.message_field(field)?, strings)?),
            6 => point.value = Number::I64(sfixed64(r, field)?),
            7 => push_key_value(r, field, &mut point.attributes, strings)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(point)
}

fn read_histogram_point<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<HistogramDataPoint, DecodeError> {
    let mut point = HistogramDataPoint {
        attributes: Vec::new(),
        start_time: Timestamp::UNIX_EPOCH,
        time: Timestamp::UNIX_EPOCH,
        count: 0,
        sum: None,
        min: None,
        max: None,
        bounds: Vec::new(),
        bucket_counts: Vec::new(),
        exemplars: Vec::new(),
    };
    let mut bounds = Vec::new();
    r.fields(HISTOGRAM_POINT, |r, field| {
        match field.number {
            2 => point.start_time = timestamp(r, field)?,
            3 => point.time = timestamp(r, field)?,
            4 => point.count = r.fixed64_field(field)?,
            5 => point.sum = Some(double(r, field)?),
            6 => push_fixed64s(r, field, &mut point.bucket_counts)?,
            7 => push_fixed64s(r, field, &mut bounds)?,
            8 => point
                .exemplars
                .push(read_exemplar(r.message_field(field)?, strings)?),
            9 => push_key_value(r, field, &mut point.attributes, strings)?,
            11 => point.min = Some(double(r, field)?),
            12 => point.max = Some(double(r, field)?),
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    point.bounds = bounds.into_iter().map(f64::from_bits).collect();
    Ok(point)
}

fn read_exponential_point<'a>(
    r: Reader<'a>,
    strings: &mut Strings<'a>,
) -> Result<ExponentialHistogramDataPoint, DecodeError> {
    let mut point = ExponentialHistogramDataPoint {
        attributes: Vec::new(),
        start_time: Timestamp::UNIX_EPOCH,
        time: Timestamp::UNIX_EPOCH,
        count: 0,
        sum: None,
        min: None,
        max: None,
        scale: 0,
        zero_count: 0,
        zero_threshold: 0.0,
        positive: ExponentialBuckets::default(),
        negative: ExponentialBuckets::default(),
        exemplars: Vec::new(),
    };
    r.fields(EXP_POINT, |r, field| {
        match field.number {
            1 => push_key_value(r, field, &mut point.attributes, strings)?,
            2 => point.start_time = timestamp(r, field)?,
            3 => point.time = timestamp(r, field)?,
            4 => point.count = r.fixed64_field(field)?,
            5 => point.sum = Some(double(r, field)?),
            6 => point.scale = unzigzag(r.varint_field(field)?),
            7 => point.zero_count = r.fixed64_field(field)?,
            8 => point.positive = read_buckets(r.message_field(field)?)?,
            9 => point.negative = read_buckets(r.message_field(field)?)?,
            11 => point
                .exemplars
                .push(read_exemplar(r.message_field(field)?, strings)?),
            12 => point.min = Some(double(r, field)?),
            13 => point.max = Some(double(r, field)?),
            14 => point.zero_threshold = double(r, field)?,
            // `flags` (10) has no place in our types.
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(point)
}

fn read_buckets(r: Reader<'_>) -> Result<ExponentialBuckets, DecodeError> {
    let mut buckets = ExponentialBuckets::default();
    r.fields(BUCKETS, |r, field| {
        match field.number {
            1 => buckets.offset = unzigzag(r.varint_field(field)?),
            2 => push_varints(r, field, &mut buckets.counts)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(buckets)
}

/// An exemplar's trace or span id: absent (empty, or all zeroes, which means no span) or
/// exactly `N` bytes.
fn exemplar_id<const N: usize>(
    r: &mut Reader<'_>,
    field: Field,
) -> Result<Option<[u8; N]>, DecodeError> {
    let bytes = r.bytes_field(field)?;
    if bytes.is_empty() {
        return Ok(None);
    }
    let id: [u8; N] = bytes.try_into().map_err(|_| {
        DecodeError::new(
            DecodeErrorKind::InvalidIdLength {
                expected: N,
                found: bytes.len(),
            },
            field.offset,
        )
    })?;
    Ok(id.iter().any(|&b| b != 0).then_some(id))
}

fn read_exemplar<'a>(r: Reader<'a>, strings: &mut Strings<'a>) -> Result<Exemplar, DecodeError> {
    // As for a point, an exemplar without a value reads as integer zero.
    let mut exemplar = Exemplar {
        filtered_attributes: Vec::<KeyValue>::new(),
        time: Timestamp::UNIX_EPOCH,
        value: Number::I64(0),
        trace_id: None,
        span_id: None,
    };
    r.fields(EXEMPLAR, |r, field| {
        match field.number {
            2 => exemplar.time = timestamp(r, field)?,
            3 => exemplar.value = Number::F64(double(r, field)?),
            4 => exemplar.span_id = exemplar_id::<8>(r, field)?.map(SpanId::from_bytes),
            5 => exemplar.trace_id = exemplar_id::<16>(r, field)?.map(TraceId::from_bytes),
            6 => exemplar.value = Number::I64(sfixed64(r, field)?),
            7 => push_key_value(r, field, &mut exemplar.filtered_attributes, strings)?,
            _ => r.skip(field)?,
        }
        Ok(())
    })?;
    Ok(exemplar)
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
    fn every_field_round_trips() -> Result<(), DecodeError> {
        let data = sample_data();
        assert_eq!(read_request(&encode(&data))?, data);
        Ok(())
    }

    #[test]
    fn truncation_at_every_byte_is_an_error_never_a_panic() {
        let bytes = encode(&sample_data());
        for len in 1..bytes.len() {
            assert!(
                read_request(&bytes[..len]).is_err(),
                "prefix of {len} bytes decoded"
            );
        }
        assert_eq!(read_request(&[]), Ok(MetricsData::default()));
    }

    #[test]
    fn sint32_zigzag_round_trips_at_the_extremes() {
        for value in [0, -1, 1, -64, 63, i32::MIN, i32::MAX] {
            assert_eq!(unzigzag(zigzag(value)), value);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i32::MIN), u64::from(u32::MAX));
    }

    /// A request with one metric whose body is `metric`.
    fn request_with_metric(metric: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let w = &mut Writer::new(&mut out);
        let rm = w.begin(REQUEST_RESOURCE_METRICS, 1);
        let sm = w.begin(RM_SCOPE_METRICS, 1);
        w.bytes_always(SM_METRICS, metric);
        w.end(sm);
        w.end(rm);
        out
    }

    /// A metric with name "m" and one data member `data_key` holding `data`.
    fn metric_with(data_key: u32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let w = &mut Writer::new(&mut out);
        w.bytes_field(METRIC_NAME, b"m");
        w.bytes_always(data_key, data);
        out
    }

    /// A histogram data point body, wrapped as a histogram metric.
    fn histogram_point(point: &[u8]) -> Vec<u8> {
        let mut histogram = Vec::new();
        Writer::new(&mut histogram).bytes_always(DATA_POINTS, point);
        request_with_metric(&metric_with(METRIC_HISTOGRAM, &histogram))
    }

    #[test]
    fn unpacked_repeated_fields_are_accepted() -> Result<(), DecodeError> {
        let mut point = Vec::new();
        let w = &mut Writer::new(&mut point);
        w.fixed64_always(key(6, I64), 3);
        w.fixed64_always(key(7, I64), 2.5f64.to_bits());
        w.fixed64_always(key(6, I64), 4);
        // Packed after unpacked: both append.
        w.bytes_always(HDP_BOUNDS, &5.0f64.to_bits().to_le_bytes());
        let data = read_request(&histogram_point(&point))?;
        let metric = &data.resource_metrics[0].scope_metrics[0].metrics[0];
        let MetricData::Histogram(histogram) = &metric.data else {
            panic!("not a histogram: {metric:?}");
        };
        assert_eq!(histogram.points[0].bucket_counts, [3, 4]);
        assert_eq!(histogram.points[0].bounds, [2.5, 5.0]);
        Ok(())
    }

    #[test]
    fn summaries_and_metrics_without_data_are_skipped() -> Result<(), DecodeError> {
        let summary = metric_with(key(11, LEN), &[0x09, 0, 0, 0, 0, 0, 0, 0, 0]);
        let data = read_request(&request_with_metric(&summary))?;
        assert!(data.resource_metrics[0].scope_metrics[0].metrics.is_empty());
        let empty = read_request(&request_with_metric(&[0x0a, 0x01, b'm']))?;
        assert!(
            empty.resource_metrics[0].scope_metrics[0]
                .metrics
                .is_empty()
        );
        // A malformed summary is still an error.
        let bad = metric_with(key(11, LEN), &[0x09, 0]);
        let error = read_request(&request_with_metric(&bad)).expect_err("truncated summary");
        assert_eq!(error.kind(), DecodeErrorKind::Truncated);
        assert_eq!(error.message(), Some(SUMMARY));
        Ok(())
    }

    #[test]
    fn invalid_fields_are_typed_errors() {
        let cases: Vec<(&str, Vec<u8>, DecodeErrorKind, &str, u32)> = vec![
            (
                "packed doubles cut inside an element",
                histogram_point(&[0x3a, 0x03, 1, 2, 3]),
                DecodeErrorKind::Truncated,
                HISTOGRAM_POINT,
                7,
            ),
            (
                "unknown temporality",
                request_with_metric(&metric_with(METRIC_SUM, &[0x10, 0x05])),
                DecodeErrorKind::UnknownEnumValue(5),
                SUM,
                2,
            ),
            (
                "count as a varint",
                histogram_point(&[0x20, 0x01]),
                DecodeErrorKind::WrongWireType { found: 0 },
                HISTOGRAM_POINT,
                4,
            ),
            (
                "short exemplar trace id",
                histogram_point(&[0x42, 0x05, 0x2a, 0x03, 1, 2, 3]),
                DecodeErrorKind::InvalidIdLength {
                    expected: 16,
                    found: 3,
                },
                EXEMPLAR,
                5,
            ),
        ];
        for (name, bytes, kind, message, field) in cases {
            let error = read_request(&bytes).expect_err(name);
            assert_eq!(error.kind(), kind, "{name}");
            assert_eq!(error.message(), Some(message), "{name}");
            assert_eq!(error.field(), Some(field), "{name}");
        }
    }

    #[test]
    fn an_empty_collection_writes_nothing() {
        let mut data = sample_data();
        let mut out = Vec::new();
        data.resource_metrics[0].scope_metrics.clear();
        write_request(&mut out, &data.resource_metrics[0]);
        assert!(out.is_empty());
    }
}
