//! The collected metrics: what a reader hands to an exporter, the OTLP encoder or the
//! dashboard. The shapes follow OTLP's `metrics.proto` so that encoding is a field-by-field
//! walk, with Rust types where OTLP uses sentinels (`Option` for optional fields).

use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId};

/// Everything one collection produced, for one resource (OTLP `ResourceMetrics`).
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceMetrics {
    /// What produced the metrics; the provider's resource.
    pub resource: Resource,
    /// One entry per meter that has at least one metric in this collection.
    pub scope_metrics: Vec<ScopeMetrics>,
}

/// The metrics of one meter (OTLP `ScopeMetrics`).
#[derive(Clone, Debug, PartialEq)]
pub struct ScopeMetrics {
    /// The meter's instrumentation scope: name, version, schema URL and attributes.
    pub scope: InstrumentationScope,
    /// The metric streams of this meter, in instrument registration order.
    pub metrics: Vec<Metric>,
}

/// One metric stream (OTLP `Metric`): an instrument as shaped by a view.
#[derive(Clone, Debug, PartialEq)]
pub struct Metric {
    /// The stream's name: the instrument's (first-seen spelling) or a view's rename.
    pub name: String,
    /// The description; empty when none was given.
    pub description: String,
    /// The unit (UCUM, case-sensitive); empty when none was given.
    pub unit: String,
    /// The aggregated points.
    pub data: MetricData,
}

impl Metric {
    /// Every point's attributes, in the order of the points, whatever the data kind.
    pub fn point_attributes(&self) -> Vec<&[KeyValue]> {
        match &self.data {
            MetricData::Sum(sum) => sum.points.iter().map(|p| &p.attributes[..]).collect(),
            MetricData::Gauge(gauge) => gauge.points.iter().map(|p| &p.attributes[..]).collect(),
            MetricData::Histogram(h) => h.points.iter().map(|p| &p.attributes[..]).collect(),
            MetricData::ExponentialHistogram(h) => {
                h.points.iter().map(|p| &p.attributes[..]).collect()
            }
        }
    }
}

/// The aggregated data of a stream (OTLP `Metric.data` oneof).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MetricData {
    /// Sums of counters and up-down counters.
    Sum(Sum),
    /// Last values of gauges.
    Gauge(Gauge),
    /// Explicit-bucket histograms.
    Histogram(Histogram),
    /// Base-2 exponential histograms.
    ExponentialHistogram(ExponentialHistogram),
}

/// Whether points accumulate since a fixed start or cover only the last interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Temporality {
    /// Each point covers `(start, time]` with `start` fixed for the series: `(T0,T1]`,
    /// `(T0,T2]`, ... (OTLP `AGGREGATION_TEMPORALITY_CUMULATIVE` = 2).
    #[default]
    Cumulative,
    /// Each point covers only the interval since the previous collection: `(T0,T1]`,
    /// `(T1,T2]`, ... (OTLP `AGGREGATION_TEMPORALITY_DELTA` = 1).
    Delta,
}

/// A number as recorded: integers stay integers (OTLP `as_int`), floats stay floats
/// (`as_double`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// From `u64` and `i64` instruments (instruments drop a `u64` above `i64::MAX`, which
    /// OTLP's signed integers cannot carry).
    I64(i64),
    /// From `f64` instruments.
    F64(f64),
}

impl Number {
    /// The value as a float (integers beyond 2^53 lose precision).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::I64(v) => v as f64,
            Number::F64(v) => v,
        }
    }
}

/// A sum stream (OTLP `Sum`).
#[derive(Clone, Debug, PartialEq)]
pub struct Sum {
    /// One point per attribute set.
    pub points: Vec<NumberDataPoint>,
    /// How the points relate to earlier collections.
    pub temporality: Temporality,
    /// True for counters (the sum only grows); false for up-down counters.
    pub is_monotonic: bool,
}

/// A gauge stream (OTLP `Gauge`): last values, no temporality.
#[derive(Clone, Debug, PartialEq)]
pub struct Gauge {
    /// One point per attribute set.
    pub points: Vec<NumberDataPoint>,
}

/// One series' value (OTLP `NumberDataPoint`).
#[derive(Clone, Debug, PartialEq)]
pub struct NumberDataPoint {
    /// The series' attributes, sorted by key, one value per key.
    pub attributes: Vec<KeyValue>,
    /// Start of the interval: when the series was first recorded (cumulative; for an
    /// observable instrument, when it was created) or the previous collection (delta).
    pub start_time: Timestamp,
    /// The collection time, for gauges too.
    pub time: Timestamp,
    /// The sum or last value.
    pub value: Number,
    /// Sampled measurements that contributed, linking the point to traces.
    pub exemplars: Vec<Exemplar>,
}

/// An explicit-bucket histogram stream (OTLP `Histogram`).
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    /// One point per attribute set.
    pub points: Vec<HistogramDataPoint>,
    /// How the points relate to earlier collections.
    pub temporality: Temporality,
}

/// One series' explicit-bucket histogram (OTLP `HistogramDataPoint`).
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramDataPoint {
    /// The series' attributes, sorted by key, one value per key.
    pub attributes: Vec<KeyValue>,
    /// Start of the interval (see [`NumberDataPoint::start_time`]).
    pub start_time: Timestamp,
    /// The collection time.
    pub time: Timestamp,
    /// Number of measurements; always the sum of `bucket_counts`.
    pub count: u64,
    /// Sum of the measurements; `None` for instruments that can record negative values
    /// (the spec says such a sum is not meaningful), or when disabled.
    pub sum: Option<f64>,
    /// Smallest measurement, when min/max recording is on and there was a measurement.
    pub min: Option<f64>,
    /// Largest measurement, likewise.
    pub max: Option<f64>,
    /// Upper-inclusive bucket boundaries, strictly increasing: bucket `i` counts values in
    /// `(bounds[i-1], bounds[i]]`, the first bucket `(-inf, bounds[0]]`, the last
    /// `(bounds[n-1], +inf)`.
    pub bounds: Vec<f64>,
    /// Measurement counts per bucket; `bounds.len() + 1` entries.
    pub bucket_counts: Vec<u64>,
    /// Sampled measurements, at most one per bucket.
    pub exemplars: Vec<Exemplar>,
}

/// A base-2 exponential histogram stream (OTLP `ExponentialHistogram`).
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialHistogram {
    /// One point per attribute set.
    pub points: Vec<ExponentialHistogramDataPoint>,
    /// How the points relate to earlier collections.
    pub temporality: Temporality,
}

/// One series' exponential histogram (OTLP `ExponentialHistogramDataPoint`).
///
/// With `base = 2^(2^-scale)`, bucket index `i` counts values whose magnitude lies in
/// `(base^i, base^(i+1)]`.
#[derive(Clone, Debug, PartialEq)]
pub struct ExponentialHistogramDataPoint {
    /// The series' attributes, sorted by key, one value per key.
    pub attributes: Vec<KeyValue>,
    /// Start of the interval (see [`NumberDataPoint::start_time`]).
    pub start_time: Timestamp,
    /// The collection time.
    pub time: Timestamp,
    /// Number of measurements: `zero_count` plus all positive and negative bucket counts.
    pub count: u64,
    /// Sum of the measurements; `None` for instruments that can record negative values.
    pub sum: Option<f64>,
    /// Smallest measurement, when recorded.
    pub min: Option<f64>,
    /// Largest measurement, when recorded.
    pub max: Option<f64>,
    /// Resolution: larger is finer. Between -10 and 20.
    pub scale: i32,
    /// Measurements whose magnitude is at most `zero_threshold`.
    pub zero_count: u64,
    /// The zero bucket's width; 0 here (only exact zeros).
    pub zero_threshold: f64,
    /// Buckets of positive values.
    pub positive: ExponentialBuckets,
    /// Buckets of negative values, indexed by magnitude.
    pub negative: ExponentialBuckets,
    /// Sampled measurements.
    pub exemplars: Vec<Exemplar>,
}

/// A dense run of exponential buckets.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ExponentialBuckets {
    /// Index of the first entry of `counts`.
    pub offset: i32,
    /// Counts for indexes `offset, offset + 1, ...`.
    pub counts: Vec<u64>,
}

/// A sampled measurement kept beside an aggregated point (OTLP `Exemplar`).
#[derive(Clone, Debug, PartialEq)]
pub struct Exemplar {
    /// The measurement's attributes that the stream dropped (a view's attribute filter);
    /// empty when nothing was dropped.
    pub filtered_attributes: Vec<KeyValue>,
    /// When the measurement was taken.
    pub time: Timestamp,
    /// The measured value.
    pub value: Number,
    /// The trace of the span active during the measurement, if one was.
    pub trace_id: Option<TraceId>,
    /// The span active during the measurement, if one was.
    pub span_id: Option<SpanId>,
}

impl HistogramDataPoint {
    /// Estimates the `q` quantile (`0.0..=1.0`, e.g. `0.99` for p99): linear interpolation
    /// inside the bucket that holds it, with the open-ended first and last buckets closed by
    /// the recorded min and max. `None` for an empty point or a `q` out of range.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let mut buckets = Vec::with_capacity(self.bucket_counts.len());
        for (i, &count) in self.bucket_counts.iter().enumerate() {
            let lower = if i == 0 {
                f64::NEG_INFINITY
            } else {
                self.bounds.get(i - 1).copied().unwrap_or(f64::INFINITY)
            };
            let upper = self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((lower, upper, count));
        }
        interpolate(&buckets, self.min, self.max, q)
    }
}

impl ExponentialHistogramDataPoint {
    /// Estimates the `q` quantile (`0.0..=1.0`) as [`HistogramDataPoint::quantile`] does,
    /// interpolating linearly inside the exponential bucket that holds it.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let width = (-f64::from(self.scale)).exp2();
        let edge = |index: i64| (index as f64 * width).exp2();
        let mut buckets = Vec::new();
        let negative = &self.negative;
        for (offset, &count) in negative.counts.iter().enumerate().rev() {
            let index = i64::from(negative.offset) + offset as i64;
            buckets.push((-edge(index + 1), -edge(index), count));
        }
        buckets.push((-self.zero_threshold, self.zero_threshold, self.zero_count));
        let positive = &self.positive;
        for (offset, &count) in positive.counts.iter().enumerate() {
            let index = i64::from(positive.offset) + offset as i64;
            buckets.push((edge(index), edge(index + 1), count));
        }
        interpolate(&buckets, self.min, self.max, q)
    }
}

/// The `q` quantile of ascending `(lower, upper, count)` buckets, each bound clamped to the
/// known min and max.
fn interpolate(
    buckets: &[(f64, f64, u64)],
    min: Option<f64>,
    max: Option<f64>,
    q: f64,
) -> Option<f64> {
    let total: u64 = buckets.iter().map(|b| b.2).sum();
    if total == 0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for &(lower, upper, count) in buckets {
        if count == 0 {
            continue;
        }
        let through = below + count;
        if rank <= through as f64 {
            let lower = min.map_or(lower, |min| lower.max(min));
            let upper = max.map_or(upper, |max| upper.min(max));
            let estimate = match (lower.is_finite(), upper.is_finite()) {
                (true, true) => {
                    let fraction = ((rank - below as f64) / count as f64).clamp(0.0, 1.0);
                    lower + (upper - lower) * fraction
                }
                (true, false) => lower,
                (false, true) => upper,
                (false, false) => return None,
            };
            return Some(estimate);
        }
        below = through;
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn explicit(bounds: &[f64], counts: &[u64], min: f64, max: f64) -> HistogramDataPoint {
        HistogramDataPoint {
            attributes: Vec::new(),
            start_time: Timestamp::UNIX_EPOCH,
            time: Timestamp::UNIX_EPOCH,
            count: counts.iter().sum(),
            sum: None,
            min: Some(min),
            max: Some(max),
            bounds: bounds.to_vec(),
            bucket_counts: counts.to_vec(),
            exemplars: Vec::new(),
        }
    }

    #[test]
    fn explicit_quantiles_interpolate_inside_buckets() {
        // 10 values in (0, 10], 10 in (10, 20]; min 1, max 20.
        let point = explicit(&[0.0, 10.0, 20.0], &[0, 10, 10, 0], 1.0, 20.0);
        assert_eq!(point.quantile(0.0), Some(1.0));
        assert_eq!(point.quantile(0.5), Some(10.0));
        assert_eq!(point.quantile(0.75), Some(15.0));
        assert_eq!(point.quantile(1.0), Some(20.0));
        assert_eq!(point.quantile(1.5), None);
        assert_eq!(point.quantile(f64::NAN), None);
        // The open last bucket is closed by max.
        let tail = explicit(&[10.0], &[0, 4], 12.0, 40.0);
        assert_eq!(tail.quantile(1.0), Some(40.0));
        assert_eq!(tail.quantile(0.5), Some(26.0));
        assert_eq!(explicit(&[1.0], &[0, 0], 0.0, 0.0).quantile(0.5), None);
    }

    #[test]
    fn exponential_quantiles_cover_both_signs() {
        let point = ExponentialHistogramDataPoint {
            attributes: Vec::new(),
            start_time: Timestamp::UNIX_EPOCH,
            time: Timestamp::UNIX_EPOCH,
            count: 4,
            sum: None,
            min: Some(-4.0),
            max: Some(8.0),
            scale: 0,
            zero_count: 1,
            zero_threshold: 0.0,
            // (4, 8] at scale 0 is index 2; (2, 4] is index 1.
            positive: ExponentialBuckets {
                offset: 2,
                counts: vec![2],
            },
            negative: ExponentialBuckets {
                offset: 1,
                counts: vec![1],
            },
            exemplars: Vec::new(),
        };
        assert_eq!(point.quantile(0.0), Some(-4.0));
        assert_eq!(point.quantile(0.25), Some(-2.0));
        assert_eq!(point.quantile(0.5), Some(0.0));
        assert_eq!(point.quantile(1.0), Some(8.0));
        assert_eq!(point.quantile(0.75), Some(6.0));
    }
}
