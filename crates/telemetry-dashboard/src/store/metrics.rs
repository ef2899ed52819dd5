//! Metric series: one per (resource, scope, instrument, attribute set), with bounded points.
//!
//! A series is found by a canonical key built before any lock is taken. Points keep their
//! arrival number; one global arrival queue gives oldest-first eviction across all series,
//! and a per-series cap drops a series' own oldest point first. A point's attributes live once
//! on its series and are put back on export.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::mem::size_of;
use std::sync::Arc;

use serde_json::{Value as Json, json};
use telemetry_core::{InstrumentationScope, KeyValue, Resource, StringValue};
use telemetry_metrics::data::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, MetricData, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Temporality,
};
use telemetry_otlp::MetricsData;

use super::json as j;

const JOURNAL_CAP: usize = 8192;
/// Bytes charged per point beyond the point: its arrival queue entry.
const POINT_OVERHEAD: usize = size_of::<(u64, u64)>();

/// What kind of stream a series belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Sum {
        temporality: Temporality,
        monotonic: bool,
    },
    Gauge,
    Histogram {
        temporality: Temporality,
    },
    Exponential {
        temporality: Temporality,
    },
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Sum { .. } => "sum",
            Kind::Gauge => "gauge",
            Kind::Histogram { .. } => "histogram",
            Kind::Exponential { .. } => "exponentialHistogram",
        }
    }

    fn temporality(self) -> Option<&'static str> {
        match self {
            Kind::Sum { temporality, .. }
            | Kind::Histogram { temporality }
            | Kind::Exponential { temporality } => Some(match temporality {
                Temporality::Cumulative => "cumulative",
                Temporality::Delta => "delta",
            }),
            Kind::Gauge => None,
        }
    }

    fn is_delta(self) -> bool {
        self.temporality() == Some("delta")
    }
}

/// A metric's identity and description, shared by its series from one batch.
#[derive(Debug, PartialEq)]
pub(crate) struct Meta {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) unit: String,
    pub(crate) kind: Kind,
}

/// One point, its attributes moved to its series.
#[derive(Debug, Clone)]
pub(crate) enum Point {
    Number(NumberDataPoint),
    // Boxed: most points are numbers, and the enum is as large as its largest variant.
    Histogram(Box<HistogramDataPoint>),
    Exponential(Box<ExponentialHistogramDataPoint>),
}

impl Point {
    fn time(&self) -> u64 {
        match self {
            Point::Number(p) => p.time.as_unix_nanos(),
            Point::Histogram(p) => p.time.as_unix_nanos(),
            Point::Exponential(p) => p.time.as_unix_nanos(),
        }
    }

    fn heap(&self) -> usize {
        let exemplars = |list: &[telemetry_metrics::data::Exemplar]| {
            list.iter()
                .map(|e| {
                    size_of::<telemetry_metrics::data::Exemplar>()
                        + super::size::attributes(&e.filtered_attributes)
                })
                .sum::<usize>()
        };
        match self {
            Point::Number(p) => exemplars(&p.exemplars),
            Point::Histogram(p) => {
                size_of::<HistogramDataPoint>()
                    + (p.bounds.capacity() + p.bucket_counts.capacity()) * 8
                    + exemplars(&p.exemplars)
            }
            Point::Exponential(p) => {
                size_of::<ExponentialHistogramDataPoint>()
                    + (p.positive.counts.capacity() + p.negative.counts.capacity()) * 8
                    + exemplars(&p.exemplars)
            }
        }
    }

    fn exemplars(&self) -> &[telemetry_metrics::data::Exemplar] {
        match self {
            Point::Number(p) => &p.exemplars,
            Point::Histogram(p) => &p.exemplars,
            Point::Exponential(p) => &p.exemplars,
        }
    }

    fn with_attributes(&self, attributes: &[KeyValue]) -> Point {
        let mut point = self.clone();
        let target = match &mut point {
            Point::Number(p) => &mut p.attributes,
            Point::Histogram(p) => &mut p.attributes,
            Point::Exponential(p) => &mut p.attributes,
        };
        *target = attributes.to_vec();
        point
    }

    /// The point as (lower, upper, count) ranges, for percentiles.
    fn ranges(&self) -> Vec<(f64, f64, u64)> {
        match self {
            Point::Number(_) => Vec::new(),
            Point::Histogram(p) => {
                let first = p.bounds.first().copied().unwrap_or(0.0);
                let last = p.bounds.last().copied().unwrap_or(0.0);
                let mut out = Vec::with_capacity(p.bucket_counts.len());
                for (i, &count) in p.bucket_counts.iter().enumerate() {
                    if count == 0 {
                        continue;
                    }
                    // The first and last buckets are open: min and max close them.
                    let lower = match i {
                        0 => p.min.unwrap_or(first),
                        _ => p.bounds.get(i - 1).copied().unwrap_or(last),
                    };
                    let upper = p.bounds.get(i).copied().unwrap_or(p.max.unwrap_or(last));
                    let lower = p.min.map_or(lower, |min| lower.max(min));
                    let upper = p.max.map_or(upper, |max| upper.min(max)).max(lower);
                    out.push((lower, upper, count));
                }
                out
            }
            Point::Exponential(p) => {
                let base = 2f64.powf(2f64.powi(-p.scale.clamp(-10, 20)));
                let mut out = Vec::new();
                if p.zero_count > 0 {
                    out.push((-p.zero_threshold, p.zero_threshold, p.zero_count));
                }
                for (i, &count) in p.positive.counts.iter().enumerate() {
                    let index = f64::from(p.positive.offset) + i as f64;
                    if count > 0 {
                        out.push((base.powf(index), base.powf(index + 1.0), count));
                    }
                }
                for (i, &count) in p.negative.counts.iter().enumerate() {
                    let index = f64::from(p.negative.offset) + i as f64;
                    if count > 0 {
                        out.push((-base.powf(index + 1.0), -base.powf(index), count));
                    }
                }
                // Not `f64::clamp`: it panics on NaN or min > max, which input may carry.
                let (low, high) = (p.min.unwrap_or(f64::MIN), p.max.unwrap_or(f64::MAX));
                for range in &mut out {
                    range.0 = range.0.max(low).min(high);
                    range.1 = range.1.max(low).min(high);
                }
                out
            }
        }
    }

    /// The point's non-empty buckets as (lower, upper, count) with their own bounds (`None`
    /// for the open ends of an explicit histogram), for heatmaps: unlike [`Self::ranges`],
    /// not narrowed by min and max, so the same bucket of two points has the same bounds.
    fn buckets(&self) -> Vec<(Option<f64>, Option<f64>, u64)> {
        match self {
            Point::Number(_) => Vec::new(),
            Point::Histogram(p) => p
                .bucket_counts
                .iter()
                .enumerate()
                .filter(|&(_, &count)| count > 0)
                .map(|(i, &count)| {
                    let lower = i.checked_sub(1).and_then(|i| p.bounds.get(i).copied());
                    (lower, p.bounds.get(i).copied(), count)
                })
                .collect(),
            Point::Exponential(p) => {
                let base = 2f64.powf(2f64.powi(-p.scale.clamp(-10, 20)));
                let mut out = Vec::new();
                if p.zero_count > 0 {
                    out.push((
                        Some(-p.zero_threshold),
                        Some(p.zero_threshold),
                        p.zero_count,
                    ));
                }
                let sides = [(&p.positive, 1.0), (&p.negative, -1.0)];
                for (side, sign) in sides {
                    for (i, &count) in side.counts.iter().enumerate() {
                        let index = f64::from(side.offset) + i as f64;
                        if count > 0 {
                            let (a, b) = (sign * base.powf(index), sign * base.powf(index + 1.0));
                            out.push((Some(a.min(b)), Some(a.max(b)), count));
                        }
                    }
                }
                out
            }
        }
    }

    fn count_sum(&self) -> (u64, Option<f64>, Option<f64>, Option<f64>) {
        match self {
            Point::Number(p) => (1, Some(p.value.as_f64()), None, None),
            Point::Histogram(p) => (p.count, p.sum, p.min, p.max),
            Point::Exponential(p) => (p.count, p.sum, p.min, p.max),
        }
    }
}

/// A point ready for the store, built before the lock is taken.
#[derive(Debug)]
pub(crate) struct PreparedPoint {
    pub(crate) key: String,
    pub(crate) meta: Arc<Meta>,
    pub(crate) resource: Resource,
    pub(crate) scope: InstrumentationScope,
    pub(crate) service: StringValue,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) point: Point,
    pub(crate) bytes: usize,
}

/// Splits decoded metrics into prepared points; returns them and how many points were of a
/// kind this store does not know.
pub(crate) fn prepare(data: MetricsData) -> (Vec<PreparedPoint>, u64) {
    let mut out = Vec::new();
    let mut unknown = 0;
    for resource_metrics in data.resource_metrics {
        let resource = resource_metrics.resource;
        let service = super::service_of(&resource);
        let resource_key = canonical(resource.attributes());
        for scope_metrics in resource_metrics.scope_metrics {
            let scope = scope_metrics.scope;
            for metric in scope_metrics.metrics {
                let (kind, points): (Kind, Vec<(Vec<KeyValue>, Point)>) = match metric.data {
                    MetricData::Sum(sum) => (
                        Kind::Sum {
                            temporality: sum.temporality,
                            monotonic: sum.is_monotonic,
                        },
                        sum.points.into_iter().map(number).collect(),
                    ),
                    MetricData::Gauge(gauge) => {
                        (Kind::Gauge, gauge.points.into_iter().map(number).collect())
                    }
                    MetricData::Histogram(histogram) => (
                        Kind::Histogram {
                            temporality: histogram.temporality,
                        },
                        histogram
                            .points
                            .into_iter()
                            .map(|mut p| {
                                (
                                    std::mem::take(&mut p.attributes),
                                    Point::Histogram(Box::new(p)),
                                )
                            })
                            .collect(),
                    ),
                    MetricData::ExponentialHistogram(histogram) => (
                        Kind::Exponential {
                            temporality: histogram.temporality,
                        },
                        histogram
                            .points
                            .into_iter()
                            .map(|mut p| {
                                (
                                    std::mem::take(&mut p.attributes),
                                    Point::Exponential(Box::new(p)),
                                )
                            })
                            .collect(),
                    ),
                    _ => {
                        unknown += 1;
                        continue;
                    }
                };
                let meta = Arc::new(Meta {
                    name: metric.name,
                    description: metric.description,
                    unit: metric.unit,
                    kind,
                });
                for (attributes, point) in points {
                    let mut key = String::with_capacity(resource_key.len() + 64);
                    let _ = write!(
                        key,
                        "{resource_key}\u{1f}{}\u{1f}{}\u{1f}{}\u{1f}{:?}\u{1f}{}",
                        scope.name(),
                        scope.version().unwrap_or(""),
                        meta.name,
                        meta.kind,
                        canonical(&attributes)
                    );
                    let bytes = size_of::<StoredPoint>() + POINT_OVERHEAD + point.heap();
                    out.push(PreparedPoint {
                        key,
                        meta: meta.clone(),
                        resource: resource.clone(),
                        scope: scope.clone(),
                        service: service.clone(),
                        attributes,
                        point,
                        bytes,
                    });
                }
            }
        }
    }
    (out, unknown)
}

fn number(mut point: NumberDataPoint) -> (Vec<KeyValue>, Point) {
    (std::mem::take(&mut point.attributes), Point::Number(point))
}

/// Attributes in a canonical order and rendering, for series keys.
fn canonical(attributes: &[KeyValue]) -> String {
    let mut pairs: Vec<String> = attributes
        .iter()
        .map(|kv| format!("{}={:?}", kv.key, kv.value))
        .collect();
    pairs.sort();
    pairs.join("\u{1e}")
}

#[derive(Debug)]
struct StoredPoint {
    arrival: u64,
    bytes: usize,
    point: Point,
}

/// One series and its points, oldest first.
#[derive(Debug)]
pub(crate) struct Series {
    id: u64,
    key: String,
    meta: Arc<Meta>,
    resource: Resource,
    scope: InstrumentationScope,
    service: StringValue,
    attributes: Vec<KeyValue>,
    points: VecDeque<StoredPoint>,
    /// Bytes of the series itself (key, attributes), charged while it exists.
    bytes: usize,
}

impl Series {
    fn header(&self) -> Json {
        json!({
            "seriesId": self.id.to_string(),
            "metric": self.meta.name,
            "service": self.service.as_str(),
            "scope": self.scope.name(),
            "attributes": j::attributes(&self.attributes),
        })
    }

    fn latest(&self) -> Json {
        let mut out = self.header();
        if let Some(last) = self.points.back() {
            let (count, sum, _, _) = last.point.count_sum();
            out["timeUnixNano"] = j::nanos(last.point.time());
            out["timeMs"] = j::millis(last.point.time());
            match &last.point {
                Point::Number(p) => out["value"] = json!(p.value.as_f64()),
                _ => {
                    out["count"] = json!(count);
                    out["sum"] = json!(sum);
                }
            }
        }
        out
    }
}

/// What a series request wants.
#[derive(Debug, Default)]
pub(crate) struct SeriesQuery {
    pub(crate) service: Option<String>,
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) start: Option<u64>,
    pub(crate) end: Option<u64>,
    pub(crate) step: Option<u64>,
}

/// Why a series request could not be answered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SeriesError {
    /// `end` before `start`.
    EmptyRange,
    /// More steps than [`MAX_STEPS`].
    TooManySteps,
}

/// The most exemplars (those with a trace id, linking to a trace) one bucket carries.
const MAX_BUCKET_EXEMPLARS: usize = 5;

/// The most series one answer carries (the oldest series first).
pub(crate) const MAX_SERIES_PER_ANSWER: usize = 1000;

/// The most buckets one series answer may have.
pub(crate) const MAX_STEPS: u64 = 2000;

/// The metric series of the store.
#[derive(Debug)]
pub(crate) struct MetricStore {
    series: HashMap<u64, Series>,
    by_key: HashMap<String, u64>,
    by_name: BTreeMap<String, BTreeSet<u64>>,
    next_id: u64,
    arrival: VecDeque<(u64, u64)>,
    next_arrival: u64,
    journal: VecDeque<(u64, u64)>,
    journal_trimmed: u64,
    pub(crate) budget: usize,
    pub(crate) used: usize,
    pub(crate) points: u64,
    pub(crate) evicted_points: u64,
    pub(crate) evicted_series: u64,
    pub(crate) dropped_points: u64,
    max_points_per_series: usize,
    max_series: usize,
}

impl MetricStore {
    pub(crate) fn new(
        budget: usize,
        max_points_per_series: usize,
        max_series: usize,
    ) -> MetricStore {
        MetricStore {
            series: HashMap::new(),
            by_key: HashMap::new(),
            by_name: BTreeMap::new(),
            next_id: 1,
            arrival: VecDeque::new(),
            next_arrival: 0,
            journal: VecDeque::new(),
            journal_trimmed: 0,
            budget,
            used: 0,
            points: 0,
            evicted_points: 0,
            evicted_series: 0,
            dropped_points: 0,
            max_points_per_series: max_points_per_series.max(1),
            max_series,
        }
    }

    /// Series stored.
    pub(crate) fn series_count(&self) -> usize {
        self.series.len()
    }

    /// Stores points at live `position` and evicts the oldest until within the budget.
    /// Returns how many points were refused (series cap).
    pub(crate) fn insert(&mut self, points: Vec<PreparedPoint>, position: u64) -> u64 {
        let mut refused = 0;
        let mut touched = HashSet::new();
        for prepared in points {
            let id = match self.by_key.get(&prepared.key) {
                Some(&id) => id,
                None => {
                    if self.series.len() >= self.max_series {
                        refused += 1;
                        continue;
                    }
                    let id = self.next_id;
                    self.next_id += 1;
                    let bytes = size_of::<Series>()
                        + 2 * prepared.key.len()
                        + size_of::<Meta>()
                        + prepared.meta.name.len() * 2
                        + super::size::attributes(&prepared.attributes)
                        + 64;
                    self.used += bytes;
                    self.by_key.insert(prepared.key.clone(), id);
                    self.by_name
                        .entry(prepared.meta.name.clone())
                        .or_default()
                        .insert(id);
                    self.series.insert(
                        id,
                        Series {
                            id,
                            key: prepared.key,
                            meta: prepared.meta,
                            resource: prepared.resource,
                            scope: prepared.scope,
                            service: prepared.service,
                            attributes: prepared.attributes,
                            points: VecDeque::new(),
                            bytes,
                        },
                    );
                    id
                }
            };
            let Some(series) = self.series.get_mut(&id) else {
                continue;
            };
            let arrival = self.next_arrival;
            self.next_arrival += 1;
            // The point's heap, and the inline slots of the two deques as their capacity grows.
            let heap = prepared.bytes - size_of::<StoredPoint>() - POINT_OVERHEAD;
            let slots = series.points.capacity();
            series.points.push_back(StoredPoint {
                arrival,
                bytes: heap,
                point: prepared.point,
            });
            let queue = self.arrival.capacity();
            self.arrival.push_back((arrival, id));
            self.used += heap
                + (series.points.capacity() - slots) * size_of::<StoredPoint>()
                + (self.arrival.capacity() - queue) * POINT_OVERHEAD;
            self.points += 1;
            if series.points.len() > self.max_points_per_series
                && let Some(old) = series.points.pop_front()
            {
                self.used = self.used.saturating_sub(old.bytes);
                self.points -= 1;
                self.evicted_points += 1;
            }
            if touched.insert(id) {
                self.journal.push_back((position, id));
            }
        }
        while self.journal.len() > JOURNAL_CAP {
            if let Some((dropped, _)) = self.journal.pop_front() {
                self.journal_trimmed = self.journal_trimmed.max(dropped);
            }
        }
        // Queue entries of points the per-series cap already dropped are stale: skip them.
        while self.used > self.budget {
            let Some((arrival, id)) = self.arrival.pop_front() else {
                break;
            };
            let Some(series) = self.series.get_mut(&id) else {
                continue;
            };
            if series.points.front().is_none_or(|p| p.arrival != arrival) {
                continue;
            }
            if let Some(old) = series.points.pop_front() {
                self.used = self.used.saturating_sub(old.bytes);
                self.points -= 1;
                self.evicted_points += 1;
            }
            if series.points.is_empty() {
                self.remove_series(id);
            }
        }
        // The queue can hold stale entries of capped series; keep it from outgrowing the points.
        if self.arrival.len() > 2 * (self.points as usize) + 1024 {
            let series = &self.series;
            self.arrival.retain(|(arrival, id)| {
                series
                    .get(id)
                    .is_some_and(|s| s.points.front().is_some_and(|p| p.arrival <= *arrival))
            });
        }
        let capacity = self.arrival.capacity();
        if capacity > 1024 && self.arrival.len() < capacity / 4 {
            self.arrival.shrink_to(self.arrival.len() * 2);
            let freed = capacity - self.arrival.capacity();
            self.used = self.used.saturating_sub(freed * POINT_OVERHEAD);
        }
        self.dropped_points += refused;
        refused
    }

    fn remove_series(&mut self, id: u64) {
        if let Some(series) = self.series.remove(&id) {
            let slots = series.points.capacity() * size_of::<StoredPoint>();
            self.used = self.used.saturating_sub(series.bytes + slots);
            self.by_key.remove(&series.key);
            if let Some(ids) = self.by_name.get_mut(&series.meta.name) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_name.remove(&series.meta.name);
                }
            }
            self.evicted_series += 1;
        }
    }

    /// The metric names with their description, type and series count.
    pub(crate) fn list(&self) -> Json {
        let list: Vec<Json> = self
            .by_name
            .iter()
            .filter_map(|(name, ids)| {
                let first = self.series.get(ids.iter().next()?)?;
                let mut services: Vec<&str> = ids
                    .iter()
                    .filter_map(|id| self.series.get(id))
                    .map(|s| s.service.as_str())
                    .collect();
                services.sort_unstable();
                services.dedup();
                // (service, scope) pairs, so a list can group instruments as they were made.
                let mut groups: Vec<(&str, &str)> = ids
                    .iter()
                    .filter_map(|id| self.series.get(id))
                    .map(|s| (s.service.as_str(), s.scope.name()))
                    .collect();
                groups.sort_unstable();
                groups.dedup();
                let mut scopes: Vec<&str> = groups.iter().map(|g| g.1).collect();
                scopes.sort_unstable();
                scopes.dedup();
                let points: usize = ids
                    .iter()
                    .filter_map(|id| self.series.get(id))
                    .map(|s| s.points.len())
                    .sum();
                Some(json!({
                    "name": name,
                    "description": first.meta.description,
                    "unit": first.meta.unit,
                    "type": first.meta.kind.name(),
                    "temporality": first.meta.kind.temporality(),
                    "monotonic": matches!(first.meta.kind, Kind::Sum { monotonic: true, .. }),
                    "seriesCount": ids.len(),
                    "pointCount": points,
                    "services": services,
                    "scopes": scopes,
                    "groups": groups
                        .iter()
                        .map(|(service, scope)| json!({"service": service, "scope": scope}))
                        .collect::<Vec<_>>(),
                }))
            })
            .collect();
        Json::Array(list)
    }

    /// Whether a metric of this name is stored.
    pub(crate) fn has_metric(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The series of metric `name` bucketed by `step` over the range.
    pub(crate) fn series(&self, name: &str, query: &SeriesQuery) -> Result<Json, SeriesError> {
        let matching: Vec<&Series> = self
            .by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|id| self.series.get(id))
            .filter(|s| {
                query
                    .service
                    .as_ref()
                    .is_none_or(|name| s.service.as_str() == name)
            })
            .filter(|s| {
                query
                    .attributes
                    .iter()
                    .all(|(k, v)| j::attribute_matches(&s.attributes, k, v))
            })
            .collect();
        let times = matching
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.point.time()));
        let (first, last) = times.fold((u64::MAX, 0), |(lo, hi), t| (lo.min(t), hi.max(t)));
        let start = query
            .start
            .unwrap_or(if first == u64::MAX { 0 } else { first });
        let end = query.end.unwrap_or(last.max(start));
        if end < start {
            return Err(SeriesError::EmptyRange);
        }
        let span = end - start;
        let step = query.step.unwrap_or((span / 60).max(1_000_000)).max(1);
        if span / step >= MAX_STEPS {
            return Err(SeriesError::TooManySteps);
        }
        let series: Vec<Json> = matching
            .iter()
            .take(MAX_SERIES_PER_ANSWER)
            .map(|s| {
                // Sparse: only buckets with points cost memory.
                let mut groups: BTreeMap<u64, Vec<&Point>> = BTreeMap::new();
                // A cumulative histogram's step shows what was recorded during it: its last
                // point minus the last point before it, which may lie before `start`.
                let mut before: Option<&Point> = None;
                for stored in &s.points {
                    let t = stored.point.time();
                    if (start..=end).contains(&t) {
                        groups
                            .entry((t - start) / step)
                            .or_default()
                            .push(&stored.point);
                    } else if t < start && before.is_none_or(|b| b.time() <= t) {
                        before = Some(&stored.point);
                    }
                }
                let windowed = matches!(
                    s.meta.kind,
                    Kind::Histogram {
                        temporality: Temporality::Cumulative
                    } | Kind::Exponential {
                        temporality: Temporality::Cumulative
                    }
                );
                let mut previous = before;
                let points: Vec<Json> = groups
                    .iter()
                    .map(|(i, group)| {
                        let time = start + i * step;
                        let last = group.iter().copied().max_by_key(|p| p.time());
                        match (windowed, last) {
                            (true, Some(last)) => {
                                let step_point = previous
                                    .and_then(|prev| cumulative_difference(last, prev, group));
                                previous = Some(last);
                                match step_point {
                                    Some(point) => aggregate(s.meta.kind, time, &[&point]),
                                    // The first point, or after a reset: all of it is new.
                                    None => aggregate(s.meta.kind, time, &[last]),
                                }
                            }
                            _ => aggregate(s.meta.kind, time, group),
                        }
                    })
                    .collect();
                let mut out = s.header();
                out["points"] = Json::Array(points);
                out
            })
            .collect();
        let meta = matching.first().map(|s| &s.meta);
        Ok(json!({
            "metric": name,
            "type": meta.map(|m| m.kind.name()),
            "unit": meta.map(|m| m.unit.as_str()),
            "startUnixNano": j::nanos(start),
            "endUnixNano": j::nanos(end),
            "stepNanos": j::nanos(step),
            "series": series,
            "truncated": matching.len() > MAX_SERIES_PER_ANSWER,
        }))
    }

    /// Latest values of the series changed after live position `since`.
    pub(crate) fn changed_since(&self, since: u64, upto: u64, cap: usize) -> (Vec<Json>, bool) {
        let mut truncated = self.journal_trimmed > since;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (position, id) in self.journal.iter().rev() {
            if *position <= since {
                break;
            }
            if *position > upto || !seen.insert(*id) {
                continue;
            }
            let Some(series) = self.series.get(id) else {
                continue;
            };
            if out.len() >= cap {
                truncated = true;
                break;
            }
            out.push(series.latest());
        }
        (out, truncated)
    }

    /// The points with a time in `[start, end]` as OTLP, grouped by resource, scope and metric.
    pub(crate) fn export(&self, start: u64, end: u64) -> MetricsData {
        let mut data = MetricsData::default();
        let mut ids: Vec<&u64> = self.series.keys().collect();
        ids.sort_unstable();
        for series in ids.into_iter().filter_map(|id| self.series.get(id)) {
            let points: Vec<Point> = series
                .points
                .iter()
                .filter(|p| (start..=end).contains(&p.point.time()))
                .map(|p| p.point.with_attributes(&series.attributes))
                .collect();
            if points.is_empty() {
                continue;
            }
            let resource = match data
                .resource_metrics
                .iter()
                .rposition(|r| r.resource == series.resource)
            {
                Some(index) => &mut data.resource_metrics[index],
                None => {
                    data.resource_metrics.push(ResourceMetrics {
                        resource: series.resource.clone(),
                        scope_metrics: Vec::new(),
                    });
                    let last = data.resource_metrics.len() - 1;
                    &mut data.resource_metrics[last]
                }
            };
            let scope = match resource
                .scope_metrics
                .iter()
                .rposition(|s| s.scope == series.scope)
            {
                Some(index) => &mut resource.scope_metrics[index],
                None => {
                    resource.scope_metrics.push(ScopeMetrics {
                        scope: series.scope.clone(),
                        metrics: Vec::new(),
                    });
                    let last = resource.scope_metrics.len() - 1;
                    &mut resource.scope_metrics[last]
                }
            };
            let meta = &series.meta;
            let existing = scope.metrics.iter().rposition(|m| {
                m.name == meta.name
                    && m.description == meta.description
                    && m.unit == meta.unit
                    && kind_of(&m.data) == Some(meta.kind)
            });
            let metric = match existing {
                Some(index) => &mut scope.metrics[index],
                None => {
                    scope.metrics.push(Metric {
                        name: meta.name.clone(),
                        description: meta.description.clone(),
                        unit: meta.unit.clone(),
                        data: empty_data(meta.kind),
                    });
                    let last = scope.metrics.len() - 1;
                    &mut scope.metrics[last]
                }
            };
            for point in points {
                match (&mut metric.data, point) {
                    (MetricData::Sum(sum), Point::Number(p)) => sum.points.push(p),
                    (MetricData::Gauge(gauge), Point::Number(p)) => gauge.points.push(p),
                    (MetricData::Histogram(h), Point::Histogram(p)) => h.points.push(*p),
                    (MetricData::ExponentialHistogram(h), Point::Exponential(p)) => {
                        h.points.push(*p);
                    }
                    _ => {}
                }
            }
        }
        data
    }
}

fn kind_of(data: &MetricData) -> Option<Kind> {
    match data {
        MetricData::Sum(sum) => Some(Kind::Sum {
            temporality: sum.temporality,
            monotonic: sum.is_monotonic,
        }),
        MetricData::Gauge(_) => Some(Kind::Gauge),
        MetricData::Histogram(h) => Some(Kind::Histogram {
            temporality: h.temporality,
        }),
        MetricData::ExponentialHistogram(h) => Some(Kind::Exponential {
            temporality: h.temporality,
        }),
        _ => None,
    }
}

fn empty_data(kind: Kind) -> MetricData {
    match kind {
        Kind::Sum {
            temporality,
            monotonic,
        } => MetricData::Sum(Sum {
            points: Vec::new(),
            temporality,
            is_monotonic: monotonic,
        }),
        Kind::Gauge => MetricData::Gauge(Gauge { points: Vec::new() }),
        Kind::Histogram { temporality } => MetricData::Histogram(Histogram {
            points: Vec::new(),
            temporality,
        }),
        Kind::Exponential { temporality } => {
            MetricData::ExponentialHistogram(ExponentialHistogram {
                points: Vec::new(),
                temporality,
            })
        }
    }
}

/// What a cumulative histogram recorded between `previous` and `current` (two points of one
/// series), carrying the exemplars of `group`: counts and sum subtracted bucket by bucket. `None`
/// when the two do not line up: a reset (new start time, a count that went down) or
/// different bounds or scale, in which case the caller takes `current` whole.
fn cumulative_difference(current: &Point, previous: &Point, group: &[&Point]) -> Option<Point> {
    let exemplars = || {
        group
            .iter()
            .flat_map(|p| p.exemplars().iter().cloned())
            .take(MAX_BUCKET_EXEMPLARS)
            .collect()
    };
    let counts = |now: &[u64], then: &[u64]| -> Option<Vec<u64>> {
        (now.len() == then.len())
            .then(|| {
                now.iter()
                    .zip(then)
                    .map(|(a, b)| a.checked_sub(*b))
                    .collect()
            })
            .flatten()
    };
    let sum = |now: Option<f64>, then: Option<f64>| match (now, then) {
        (Some(a), Some(b)) => Some(a - b),
        _ => None,
    };
    match (current, previous) {
        (Point::Histogram(now), Point::Histogram(then)) => {
            if now.start_time != then.start_time
                || now.count < then.count
                || now.bounds != then.bounds
            {
                return None;
            }
            let bucket_counts = counts(&now.bucket_counts, &then.bucket_counts)?;
            Some(Point::Histogram(Box::new(HistogramDataPoint {
                attributes: Vec::new(),
                start_time: then.time,
                time: now.time,
                count: now.count - then.count,
                sum: sum(now.sum, then.sum),
                // Min and max are over all time; the step's own are unknown.
                min: None,
                max: None,
                bounds: now.bounds.clone(),
                bucket_counts,
                exemplars: exemplars(),
            })))
        }
        (Point::Exponential(now), Point::Exponential(then)) => {
            let aligned =
                |a: &telemetry_metrics::data::ExponentialBuckets,
                 b: &telemetry_metrics::data::ExponentialBuckets| {
                    // Counts of `b` moved to `a`'s offset; `b` must lie within `a`.
                    let shift = usize::try_from(b.offset.checked_sub(a.offset)?).ok()?;
                    if shift + b.counts.len() > a.counts.len() {
                        return None;
                    }
                    let mut then = vec![0; a.counts.len()];
                    then[shift..shift + b.counts.len()].copy_from_slice(&b.counts);
                    counts(&a.counts, &then)
                };
            if now.start_time != then.start_time
                || now.count < then.count
                || now.scale != then.scale
                || now.zero_count < then.zero_count
            {
                return None;
            }
            let positive = aligned(&now.positive, &then.positive)?;
            let negative = aligned(&now.negative, &then.negative)?;
            Some(Point::Exponential(Box::new(
                ExponentialHistogramDataPoint {
                    attributes: Vec::new(),
                    start_time: then.time,
                    time: now.time,
                    count: now.count - then.count,
                    sum: sum(now.sum, then.sum),
                    min: None,
                    max: None,
                    scale: now.scale,
                    zero_count: now.zero_count - then.zero_count,
                    zero_threshold: now.zero_threshold,
                    positive: telemetry_metrics::data::ExponentialBuckets {
                        offset: now.positive.offset,
                        counts: positive,
                    },
                    negative: telemetry_metrics::data::ExponentialBuckets {
                        offset: now.negative.offset,
                        counts: negative,
                    },
                    exemplars: exemplars(),
                },
            )))
        }
        _ => None,
    }
}

/// One bucket of a series answer. Numbers give count, min, max, avg, sum and last; histograms
/// give count, sum, min, max, p50/p90/p95/p99 and the buckets of the distribution recorded
/// during the step: merged over the bucket's points for delta temporality; for cumulative,
/// the caller passes the difference from the previous step (see `cumulative_difference`).
fn aggregate(kind: Kind, time: u64, points: &[&Point]) -> Json {
    let mut out = json!({"timeUnixNano": j::nanos(time), "timeMs": j::millis(time)});
    let exemplars: Vec<Json> = points
        .iter()
        .flat_map(|point| point.exemplars())
        .filter(|e| e.trace_id.is_some())
        .take(MAX_BUCKET_EXEMPLARS)
        .map(|e| {
            json!({
                "value": e.value.as_f64(),
                "timeUnixNano": j::nanos(e.time.as_unix_nanos()),
                "traceId": e.trace_id.map(|id| id.to_string()),
                "spanId": e.span_id.map(|id| id.to_string()),
            })
        })
        .collect();
    if !exemplars.is_empty() {
        out["exemplars"] = Json::Array(exemplars);
    }
    if let Kind::Sum { .. } | Kind::Gauge = kind {
        let values: Vec<f64> = points
            .iter()
            .filter_map(|p| match p {
                Point::Number(p) => Some(p.value.as_f64()),
                _ => None,
            })
            .collect();
        let sum: f64 = values.iter().sum();
        out["count"] = json!(values.len());
        out["min"] = json!(values.iter().copied().fold(f64::INFINITY, f64::min));
        out["max"] = json!(values.iter().copied().fold(f64::NEG_INFINITY, f64::max));
        out["avg"] = json!(sum / values.len().max(1) as f64);
        out["sum"] = json!(sum);
        out["last"] = json!(values.last());
        return out;
    }
    let chosen: Vec<&Point> = if kind.is_delta() {
        points.to_vec()
    } else {
        points.last().copied().into_iter().collect()
    };
    let mut count = 0;
    let mut sum = None::<f64>;
    let mut min = None::<f64>;
    let mut max = None::<f64>;
    let mut ranges = Vec::new();
    let mut buckets = Vec::new();
    for point in chosen {
        let (c, s, lo, hi) = point.count_sum();
        count += c;
        if let Some(s) = s {
            sum = Some(sum.unwrap_or(0.0) + s);
        }
        if let Some(lo) = lo {
            min = Some(min.map_or(lo, |m| m.min(lo)));
        }
        if let Some(hi) = hi {
            max = Some(max.map_or(hi, |m| m.max(hi)));
        }
        ranges.extend(point.ranges());
        buckets.extend(point.buckets());
    }
    ranges.sort_by(|a, b| a.0.total_cmp(&b.0));
    out["count"] = json!(count);
    out["sum"] = json!(sum);
    out["min"] = json!(min);
    out["max"] = json!(max);
    out["p50"] = json!(percentile(&ranges, 0.50));
    out["p90"] = json!(percentile(&ranges, 0.90));
    out["p95"] = json!(percentile(&ranges, 0.95));
    out["p99"] = json!(percentile(&ranges, 0.99));
    out["buckets"] = merge_buckets(buckets)
        .into_iter()
        .map(|(lo, hi, count)| json!({"lo": lo, "hi": hi, "count": count}))
        .collect();
    out
}

/// At most this many buckets per answer point: merged delta points of differing exponential
/// scales could otherwise give thousands.
const MAX_ANSWER_BUCKETS: usize = 320;

/// Sums buckets with the same bounds, sorted by lower bound (open lower end first), then
/// halves the list by joining neighbours until it fits [`MAX_ANSWER_BUCKETS`].
fn merge_buckets(
    mut buckets: Vec<(Option<f64>, Option<f64>, u64)>,
) -> Vec<(Option<f64>, Option<f64>, u64)> {
    let key = |b: &(Option<f64>, Option<f64>, u64)| {
        (
            b.0.unwrap_or(f64::NEG_INFINITY),
            b.1.unwrap_or(f64::INFINITY),
        )
    };
    buckets.sort_by(|a, b| {
        let (a, b) = (key(a), key(b));
        a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1))
    });
    let mut merged: Vec<(Option<f64>, Option<f64>, u64)> = Vec::with_capacity(buckets.len());
    for bucket in buckets {
        match merged.last_mut() {
            Some(last) if key(last) == key(&bucket) => {
                last.2 = last.2.saturating_add(bucket.2);
            }
            _ => merged.push(bucket),
        }
    }
    while merged.len() > MAX_ANSWER_BUCKETS {
        merged = merged
            .chunks(2)
            .map(|pair| {
                let count = pair.iter().fold(0u64, |n, b| n.saturating_add(b.2));
                (pair[0].0, pair[pair.len() - 1].1, count)
            })
            .collect();
    }
    merged
}

/// The `q` quantile of a distribution given as sorted ranges, interpolating linearly inside
/// the range it falls in.
pub(crate) fn percentile(ranges: &[(f64, f64, u64)], q: f64) -> Option<f64> {
    let total: u64 = ranges.iter().map(|r| r.2).sum();
    if total == 0 {
        return None;
    }
    let target = q * total as f64;
    let mut seen = 0.0;
    for &(lower, upper, count) in ranges {
        let next = seen + count as f64;
        if next >= target {
            let fraction = ((target - seen) / count as f64).clamp(0.0, 1.0);
            return Some(lower + (upper - lower) * fraction);
        }
        seen = next;
    }
    ranges.last().map(|r| r.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_merge_by_bounds_and_stay_bounded() {
        let merged = merge_buckets(vec![
            (Some(5.0), Some(10.0), 2),
            (None, Some(5.0), 1),
            (Some(5.0), Some(10.0), 3),
            (Some(10.0), None, 4),
        ]);
        assert_eq!(
            merged,
            vec![
                (None, Some(5.0), 1),
                (Some(5.0), Some(10.0), 5),
                (Some(10.0), None, 4)
            ]
        );
        let many: Vec<_> = (0..1000)
            .map(|i| (Some(f64::from(i)), Some(f64::from(i + 1)), 1))
            .collect();
        let merged = merge_buckets(many);
        assert!(merged.len() <= MAX_ANSWER_BUCKETS);
        assert_eq!(merged.iter().map(|b| b.2).sum::<u64>(), 1000);
        assert_eq!(merged.first().unwrap().0, Some(0.0));
        assert_eq!(merged.last().unwrap().1, Some(1000.0));
    }

    #[test]
    fn exponential_differences_align_offsets_and_refuse_what_does_not_line_up() {
        use telemetry_metrics::data::ExponentialBuckets;
        let point = |time: u64, scale: i32, offset: i32, counts: Vec<u64>| {
            Point::Exponential(Box::new(ExponentialHistogramDataPoint {
                attributes: Vec::new(),
                start_time: telemetry_core::Timestamp::UNIX_EPOCH,
                time: telemetry_core::Timestamp::from_unix_nanos(time),
                count: counts.iter().sum(),
                sum: Some(1.0),
                min: None,
                max: None,
                scale,
                zero_count: 0,
                zero_threshold: 0.0,
                positive: ExponentialBuckets { offset, counts },
                negative: ExponentialBuckets::default(),
                exemplars: Vec::new(),
            }))
        };
        // The later point's buckets grew downwards by one index.
        let then = point(1, 3, 5, vec![2, 1]);
        let now = point(2, 3, 4, vec![1, 3, 1]);
        let Some(Point::Exponential(step)) = cumulative_difference(&now, &then, &[]) else {
            panic!("aligned points subtract");
        };
        assert_eq!(step.positive.offset, 4);
        assert_eq!(step.positive.counts, vec![1, 1, 0]);
        assert_eq!(step.count, 2);
        // A rescale or fewer counts than before cannot be subtracted.
        assert!(cumulative_difference(&point(2, 2, 2, vec![9]), &then, &[]).is_none());
        assert!(cumulative_difference(&point(2, 3, 5, vec![1, 1]), &then, &[]).is_none());
    }

    #[test]
    fn percentile_interpolates_within_the_bucket() {
        let ranges = [(0.0, 10.0, 50), (10.0, 20.0, 50)];
        assert_eq!(percentile(&ranges, 0.5), Some(10.0));
        assert_eq!(percentile(&ranges, 0.75), Some(15.0));
        assert_eq!(percentile(&[], 0.5), None);
    }

    #[test]
    fn explicit_histogram_open_buckets_are_closed_by_min_and_max() {
        let point = Point::Histogram(Box::new(HistogramDataPoint {
            attributes: Vec::new(),
            start_time: telemetry_core::Timestamp::UNIX_EPOCH,
            time: telemetry_core::Timestamp::UNIX_EPOCH,
            count: 3,
            sum: Some(30.0),
            min: Some(2.0),
            max: Some(150.0),
            bounds: vec![10.0, 100.0],
            bucket_counts: vec![1, 1, 1],
            exemplars: Vec::new(),
        }));
        assert_eq!(
            point.ranges(),
            vec![(2.0, 10.0, 1), (10.0, 100.0, 1), (100.0, 150.0, 1)]
        );
    }

    #[test]
    fn exponential_buckets_cover_powers_of_the_base() {
        let point = Point::Exponential(Box::new(ExponentialHistogramDataPoint {
            attributes: Vec::new(),
            start_time: telemetry_core::Timestamp::UNIX_EPOCH,
            time: telemetry_core::Timestamp::UNIX_EPOCH,
            count: 2,
            sum: None,
            min: None,
            max: None,
            scale: 0,
            zero_count: 0,
            zero_threshold: 0.0,
            positive: telemetry_metrics::data::ExponentialBuckets {
                offset: 1,
                counts: vec![1, 1],
            },
            negative: telemetry_metrics::data::ExponentialBuckets {
                offset: 0,
                counts: Vec::new(),
            },
            exemplars: Vec::new(),
        }));
        assert_eq!(point.ranges(), vec![(2.0, 4.0, 1), (4.0, 8.0, 1)]);
    }

    #[test]
    fn hostile_histograms_give_answers_not_panics() {
        let mut point = ExponentialHistogramDataPoint {
            attributes: Vec::new(),
            start_time: telemetry_core::Timestamp::UNIX_EPOCH,
            time: telemetry_core::Timestamp::UNIX_EPOCH,
            count: 3,
            sum: Some(f64::NAN),
            min: Some(10.0),
            max: Some(-10.0),
            scale: i32::MIN,
            zero_count: 1,
            zero_threshold: f64::NAN,
            positive: telemetry_metrics::data::ExponentialBuckets {
                offset: i32::MAX,
                counts: vec![1, u64::MAX / 4],
            },
            negative: telemetry_metrics::data::ExponentialBuckets {
                offset: i32::MIN,
                counts: vec![1],
            },
            exemplars: Vec::new(),
        };
        let bucket = aggregate(
            Kind::Exponential {
                temporality: Temporality::Delta,
            },
            0,
            &[&Point::Exponential(Box::new(point.clone()))],
        );
        assert_eq!(bucket["count"], 3);
        point.min = Some(f64::NAN);
        let _ = Point::Exponential(Box::new(point)).ranges();
        let explicit = Point::Histogram(Box::new(HistogramDataPoint {
            attributes: Vec::new(),
            start_time: telemetry_core::Timestamp::UNIX_EPOCH,
            time: telemetry_core::Timestamp::UNIX_EPOCH,
            count: 2,
            sum: None,
            min: None,
            max: None,
            bounds: Vec::new(),
            bucket_counts: vec![1, 1, 1],
            exemplars: Vec::new(),
        }));
        assert_eq!(explicit.ranges().len(), 3);
    }
}
