//! The bounded store of traces, metric series and logs; [`Store`] documents its rules.

mod hash;
mod json;
pub(crate) mod logs;
pub(crate) mod metrics;
pub(crate) mod red;
mod signature;
mod size;
pub(crate) mod traces;

use std::collections::HashMap;
use std::fmt;
use std::mem::size_of;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::{Mutex, RwLock};
use serde_json::{Value as Json, json};
use telemetry_core::{Resource, StringValue};
use telemetry_otlp::{LogsData, MetricsData, Signal, TracesData};
use telemetry_span::{SpanKind, Status};

use crate::backend::{
    ApiRequest, ApiResponse, Backend, IngestOutcome, IngestSource, Refusal, Transport,
};
use logs::{LogStore, StoredLog};
use metrics::MetricStore;
use red::{RateWindow, Red, RedSample};
use traces::{SpanSource, StoredSpan, TraceStore};

/// The default memory budget: 256 MiB.
pub const DEFAULT_MEMORY_BUDGET: usize = 256 * 1024 * 1024;
/// The smallest budget the store accepts; smaller ones are raised to it.
pub const MIN_MEMORY_BUDGET: usize = 1024 * 1024;
/// Percent of the budget for traces.
pub const TRACES_SHARE_PERCENT: usize = 60;
/// Percent of the budget for logs.
pub const LOGS_SHARE_PERCENT: usize = 25;
/// Percent of the budget for metrics.
pub const METRICS_SHARE_PERCENT: usize = 15;
/// The most views [`Store::register_view`] keeps.
pub const MAX_VIEWS: usize = 256;
/// The longest metric name a view may name, in bytes.
pub const MAX_VIEW_NAME: usize = 255;

/// How the store is sized. `StoreConfig::default()` gives the documented defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreConfig {
    /// The total memory budget in bytes, split across signals (see the module docs).
    pub memory_budget_bytes: usize,
    /// The most spans one trace may hold; later spans of a full trace are refused.
    pub max_spans_per_trace: usize,
    /// The most points one metric series keeps; its oldest goes first.
    pub max_points_per_series: usize,
    /// The most metric series; points of new series beyond it are refused.
    pub max_series: usize,
    /// The most RED keys (services plus root operations) with live figures. Each key holds up
    /// to six latency histograms of about 10 KiB, charged to the traces' share of the budget.
    pub max_red_keys: usize,
    /// The most items of each kind (traces, logs, series) in one live delta.
    pub live_max_items: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            memory_budget_bytes: DEFAULT_MEMORY_BUDGET,
            max_spans_per_trace: 10_000,
            max_points_per_series: 1024,
            max_series: 50_000,
            max_red_keys: 128,
            live_max_items: 200,
        }
    }
}

/// How a registered view charts its metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChartType {
    /// A line per series.
    Line,
    /// Stacked areas.
    Area,
    /// Bars per step.
    Bar,
    /// A heatmap of a histogram's buckets over time.
    Heatmap,
    /// A single number: the latest value.
    Stat,
}

impl ChartType {
    /// The lowercase name used by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            ChartType::Line => "line",
            ChartType::Area => "area",
            ChartType::Bar => "bar",
            ChartType::Heatmap => "heatmap",
            ChartType::Stat => "stat",
        }
    }
}

impl std::str::FromStr for ChartType {
    type Err = ViewError;

    fn from_str(text: &str) -> Result<Self, ViewError> {
        Ok(match text {
            "line" => ChartType::Line,
            "area" => ChartType::Area,
            "bar" => ChartType::Bar,
            "heatmap" => ChartType::Heatmap,
            "stat" => ChartType::Stat,
            _ => return Err(ViewError::UnknownChart),
        })
    }
}

/// Why a view was not registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ViewError {
    /// The metric name is empty or longer than [`MAX_VIEW_NAME`].
    BadMetricName,
    /// The chart type is not one of line, area, bar, heatmap, stat.
    UnknownChart,
    /// [`MAX_VIEWS`] views are registered already.
    TooManyViews,
}

impl fmt::Display for ViewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ViewError::BadMetricName => {
                write!(f, "the metric name must be 1 to {MAX_VIEW_NAME} bytes")
            }
            ViewError::UnknownChart => {
                f.write_str("the chart type must be one of line, area, bar, heatmap, stat")
            }
            ViewError::TooManyViews => write!(f, "at most {MAX_VIEWS} views can be registered"),
        }
    }
}

impl std::error::Error for ViewError {}

/// A registered view: a metric and how to chart it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// The metric's name.
    pub metric: String,
    /// The chart type.
    pub chart: ChartType,
}

/// Ingest counters of one (signal, transport).
#[derive(Debug, Default)]
struct SourceStats {
    batches: u64,
    items: u64,
    rejected: u64,
    rate: RateWindow,
}

#[derive(Debug, Default)]
struct Stats {
    sources: HashMap<(&'static str, Transport), SourceStats>,
    refusals: HashMap<(&'static str, &'static str, Transport), u64>,
    /// Items dropped before storing: invalid ids, unknown metric kinds.
    invalid: HashMap<&'static str, u64>,
}

/// The dashboard's data side: a memory-bounded store of traces, logs and metric series, its
/// live RED figures, the query API and the live stream. Share it as `Arc<Store>`.
///
/// # Memory budget
///
/// One budget in bytes (default 256 MiB) is split across the signals: 60 % for traces, 25 %
/// for logs, 15 % for metrics. A signal never borrows another's unused share: a flood of one
/// signal can then never evict another's data, and each signal's usage is predictable from
/// its own rate. Usage is the estimated heap size of what is stored: inline size plus every
/// string, attribute and vector capacity, and the index entries. Strings shared between items
/// are counted for each (which errs high), hash-table slack is not (which errs low); a test
/// with a counting allocator holds the estimate for spans, log records and metric points
/// within 15 % below and 20 % above what is really allocated. The live RED windows are
/// charged to the traces' share (`redBytes` in `/api/health`), and take no new service or
/// operation once they hold a quarter of it. When a signal is over its share, its oldest
/// data (by arrival) is
/// evicted until it fits: whole traces for spans, records for logs, points for metrics (and a
/// series with it when its last point goes). Evictions are counted and shown in `/api/health`.
///
/// # Refusals
///
/// The store never answers with backpressure: a live viewer prefers new data to old, so it
/// makes room by evicting. Two things are refused, with OTLP partial success and a count:
/// the part of one batch beyond half a signal's share (so one huge batch cannot wipe out
/// everything else; the items are taken in order until the half is used), and items over a
/// structural cap (spans per trace, series count).
///
/// # Concurrency
///
/// Each signal has its own `parking_lot` mutex. An ingest builds everything it stores (the
/// stored items, their sizes, series keys, RED samples) before it takes the lock, and holds
/// it only to link the items into the indexes and evict. Queries hold one signal's lock while
/// they scan, bounded by their limit and a cap on the items one query looks at.
///
/// # Live position
///
/// A global counter advances once per stored batch, taken while the signal's lock is held, so
/// when a reader has seen position `p` and then takes a signal's lock, every batch at or
/// before `p` is in it. A delta covers the positions after `since` up to the position read at
/// its start.
///
/// # Example
///
/// ```
/// use std::sync::Arc;
///
/// use http::{Method, StatusCode};
/// use telemetry_dashboard::backend::{ApiRequest, Backend};
/// use telemetry_dashboard::{Store, StoreConfig};
///
/// let store = Arc::new(Store::new(StoreConfig {
///     memory_budget_bytes: 64 * 1024 * 1024,
///     ..StoreConfig::default()
/// }));
/// let response = store.api(&ApiRequest {
///     method: &Method::GET,
///     path: "/api/health",
///     query: None,
///     body: b"",
/// });
/// assert_eq!(response.status, StatusCode::OK);
/// assert_eq!(store.used_bytes(), 0);
/// ```
#[derive(Debug)]
pub struct Store {
    config: StoreConfig,
    pub(crate) traces: Mutex<TraceStore>,
    pub(crate) logs: Mutex<LogStore>,
    pub(crate) metrics: Mutex<MetricStore>,
    pub(crate) red: Mutex<Red>,
    stats: Mutex<Stats>,
    views: RwLock<Vec<View>>,
    /// The live position: written by `advance` under a signal's lock (AcqRel, so a reader's
    /// Acquire load sees the position only after the batch's lock was taken); read by
    /// `live_position` and `live_delta`. Grows by one per stored batch.
    position: AtomicU64,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(StoreConfig::default())
    }
}

/// The current unix time in nanoseconds.
pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
        })
}

/// `service.name` of a resource, or `unknown_service` as the spec says; shared (an `Arc`),
/// so the per-item clones of one batch do not allocate.
pub(crate) fn service_of(resource: &Resource) -> StringValue {
    match resource.get("service.name") {
        Some(telemetry_core::Value::String(name)) if name.is_static() => name.clone(),
        Some(telemetry_core::Value::String(name)) => {
            StringValue::from(Arc::<str>::from(name.as_str()))
        }
        _ => StringValue::from_static("unknown_service"),
    }
}

fn signal_name(signal: Signal) -> &'static str {
    match signal {
        Signal::Traces => "traces",
        Signal::Metrics => "metrics",
        Signal::Logs => "logs",
        _ => "other",
    }
}

fn refusal_name(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::Malformed => "malformed",
        Refusal::TooLarge => "too_large",
        Refusal::UnsupportedMediaType => "unsupported_media_type",
        Refusal::Unauthorized => "unauthorized",
    }
}

/// Splits `items` where their sizes pass `allowance`; returns the kept items and the count
/// of those cut off.
fn cap_batch<T>(mut items: Vec<T>, allowance: usize, size: impl Fn(&T) -> usize) -> (Vec<T>, u64) {
    let mut total = 0usize;
    let cut = items.iter().position(|item| {
        total = total.saturating_add(size(item));
        total > allowance
    });
    match cut {
        Some(index) => {
            let rest = items.split_off(index);
            (items, rest.len() as u64)
        }
        None => (items, 0),
    }
}

fn share_of(budget: usize, percent: usize) -> usize {
    budget / 100 * percent
}

/// An acceptance naming each reason for the items refused (`(count, reason)` pairs).
fn outcome(reasons: &[(u64, &str)]) -> IngestOutcome {
    let rejected = reasons.iter().map(|(count, _)| count).sum();
    let message = reasons
        .iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, reason)| format!("{count} {reason}"))
        .collect::<Vec<_>>()
        .join("; ");
    IngestOutcome::Accepted { rejected, message }
}

impl Store {
    /// A store sized by `config`; a budget below [`MIN_MEMORY_BUDGET`] is raised to it.
    pub fn new(mut config: StoreConfig) -> Store {
        config.memory_budget_bytes = config.memory_budget_bytes.max(MIN_MEMORY_BUDGET);
        let budget = config.memory_budget_bytes;
        let share = |percent: usize| share_of(budget, percent);
        Store {
            traces: Mutex::new(TraceStore::new(
                share(TRACES_SHARE_PERCENT),
                config.max_spans_per_trace.max(1),
            )),
            logs: Mutex::new(LogStore::new(share(LOGS_SHARE_PERCENT))),
            metrics: Mutex::new(MetricStore::new(
                share(METRICS_SHARE_PERCENT),
                config.max_points_per_series,
                config.max_series,
            )),
            // A quarter of the traces' share at most, which the default key cap never reaches
            // (128 keys of six ~10 KiB histograms against 38 MiB); it binds on small budgets.
            red: Mutex::new(Red::new(
                config.max_red_keys,
                share(TRACES_SHARE_PERCENT) / 4,
            )),
            stats: Mutex::new(Stats::default()),
            views: RwLock::new(Vec::new()),
            position: AtomicU64::new(0),
            config,
        }
    }

    /// A signal's share of the budget, in bytes.
    fn share(&self, percent: usize) -> usize {
        share_of(self.config.memory_budget_bytes, percent)
    }

    /// The configuration in force (after the minimum budget was applied).
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Bytes in use across all signals, by the store's estimate.
    pub fn used_bytes(&self) -> usize {
        // One lock at a time: never two signals' locks held together.
        let traces = {
            let traces = self.traces.lock();
            traces.used + traces.reserved
        };
        let logs = self.logs.lock().used;
        traces + logs + self.metrics.lock().used
    }

    /// Registers (or replaces) the view of `metric_name`.
    pub fn register_view(&self, metric_name: &str, chart: ChartType) -> Result<(), ViewError> {
        if metric_name.is_empty() || metric_name.len() > MAX_VIEW_NAME {
            return Err(ViewError::BadMetricName);
        }
        let mut views = self.views.write();
        if let Some(view) = views.iter_mut().find(|view| view.metric == metric_name) {
            view.chart = chart;
        } else if views.len() >= MAX_VIEWS {
            return Err(ViewError::TooManyViews);
        } else {
            views.push(View {
                metric: metric_name.to_owned(),
                chart,
            });
        }
        drop(views);
        self.position.fetch_add(1, Ordering::AcqRel);
        Ok(())
    }

    /// The registered views, in registration order.
    pub fn views(&self) -> Vec<View> {
        self.views.read().clone()
    }

    /// The registered views as JSON.
    pub(crate) fn views_json(&self) -> Json {
        let views = self.views.read();
        Json::Array(
            views
                .iter()
                .map(|view| json!({"metric": view.metric, "chart": view.chart.as_str()}))
                .collect(),
        )
    }

    /// Advances the live position; call with the lock of the signal being changed held.
    fn advance(&self) -> u64 {
        self.position.fetch_add(1, Ordering::AcqRel) + 1
    }

    fn count(&self, signal: &'static str, source: &IngestSource, items: u64, rejected: u64) {
        let mut stats = self.stats.lock();
        let entry = stats.sources.entry((signal, source.transport)).or_default();
        entry.batches += 1;
        entry.items += items;
        entry.rejected += rejected;
        entry.rate.add(now_nanos(), items);
    }

    fn count_invalid(&self, signal: &'static str, count: u64) {
        if count > 0 {
            *self.stats.lock().invalid.entry(signal).or_default() += count;
        }
    }

    /// Store usage per signal as JSON.
    pub(crate) fn usage_json(&self) -> Json {
        let (traces, logs, metrics) = {
            let t = self.traces.lock();
            let traces = json!({
                "usedBytes": t.used, "budgetBytes": t.budget, "redBytes": t.reserved,
                "traces": t.traces.len(), "spans": t.spans,
                "evictedTraces": t.evicted_traces, "evictedSpans": t.evicted_spans,
                "droppedSpans": t.dropped_spans,
            });
            drop(t);
            let l = self.logs.lock();
            let logs = json!({
                "usedBytes": l.used, "budgetBytes": l.budget, "records": l.len(),
                "evictedRecords": l.evicted,
            });
            drop(l);
            let m = self.metrics.lock();
            let metrics = json!({
                "usedBytes": m.used, "budgetBytes": m.budget,
                "series": m.series_count(), "points": m.points,
                "evictedPoints": m.evicted_points, "evictedSeries": m.evicted_series,
                "droppedPoints": m.dropped_points,
            });
            (traces, logs, metrics)
        };
        json!({
            "budgetBytes": self.config.memory_budget_bytes,
            "traces": traces,
            "logs": logs,
            "metrics": metrics,
        })
    }

    /// The health figures as JSON: ingest, RED, usage, evictions and refusals.
    pub(crate) fn health_json(&self) -> Json {
        let now = now_nanos();
        let mut out = self.ingest_json(now);
        out["timeUnixNano"] = json::nanos(now);
        out["red"] = self.red.lock().to_json(now);
        out["store"] = self.usage_json();
        out
    }

    /// `ingest`, `sources`, `refusals` and `invalid` of `/api/health` (also in live deltas).
    fn ingest_json(&self, now: u64) -> Json {
        let (sources, refusals, invalid, per_signal) = {
            let stats = self.stats.lock();
            let mut per_signal: HashMap<&'static str, (u64, u64, f64)> = HashMap::new();
            let mut sources: Vec<Json> = stats
                .sources
                .iter()
                .map(|((signal, transport), s)| {
                    let rate = s.rate.per_second(now);
                    let total = per_signal.entry(signal).or_default();
                    total.0 += s.items;
                    total.1 += s.rejected;
                    total.2 += rate;
                    json!({
                        "signal": signal, "transport": transport.as_str(),
                        "batches": s.batches, "items": s.items, "rejected": s.rejected,
                        "ratePerSec": rate,
                    })
                })
                .collect();
            sources.sort_by_key(|s| (s["signal"].to_string(), s["transport"].to_string()));
            let mut refusals: Vec<Json> = stats
                .refusals
                .iter()
                .map(|((signal, reason, transport), count)| {
                    json!({"signal": signal, "reason": reason,
                           "transport": transport.as_str(), "count": count})
                })
                .collect();
            refusals.sort_by_key(ToString::to_string);
            (sources, refusals, json!(stats.invalid), per_signal)
        };
        let ingest: serde_json::Map<String, Json> = ["traces", "metrics", "logs"]
            .iter()
            .map(|signal| {
                let (items, rejected, rate) = per_signal.get(signal).copied().unwrap_or_default();
                (
                    (*signal).to_owned(),
                    json!({"items": items, "rejected": rejected, "ratePerSec": rate}),
                )
            })
            .collect();
        json!({
            "ingest": ingest,
            "sources": sources,
            "refusals": refusals,
            "invalid": invalid,
        })
    }

    /// The services with stored spans or live figures, each with its operations.
    pub(crate) fn services_json(&self) -> Json {
        let now = now_nanos();
        let mut names: Vec<StringValue> = Vec::new();
        let mut stored: HashMap<StringValue, (u64, Vec<(StringValue, u64)>)> = HashMap::new();
        {
            let traces = self.traces.lock();
            for (name, stats) in &traces.services {
                let operations = stats
                    .operations
                    .iter()
                    .map(|(op, count)| (op.clone(), *count))
                    .collect();
                stored.insert(name.clone(), (stats.spans, operations));
                names.push(name.clone());
            }
        }
        let red = self.red.lock();
        for name in red.service_names() {
            if !stored.contains_key(name) {
                names.push(name.clone());
            }
        }
        names.sort();
        let list: Vec<Json> = names
            .iter()
            .map(|name| {
                let (spans, mut operations) = stored.remove(name).unwrap_or_default();
                operations.sort();
                json!({
                    "name": name.as_str(),
                    "spans": spans,
                    "operations": operations.iter().map(|(op, count)| json!({"name": op.as_str(), "spans": count})).collect::<Vec<_>>(),
                    "red": red.service(name, now).to_json(),
                })
            })
            .collect();
        Json::Array(list)
    }
}

impl Backend for Store {
    fn ingest_traces(&self, data: TracesData, source: &IngestSource) -> IngestOutcome {
        let mut items: Vec<(StoredSpan, Option<RedSample>)> = Vec::new();
        let mut invalid = 0;
        let mut scratch = Vec::new();
        for resource_spans in data.resource_spans {
            let service = service_of(&resource_spans.resource);
            let source = Arc::new(SpanSource::new(resource_spans.resource, service.clone()));
            let spans: usize = resource_spans
                .scope_spans
                .iter()
                .map(|s| s.spans.len())
                .sum();
            let share = source.bytes() / spans.max(1);
            for scope_spans in resource_spans.scope_spans {
                for span in scope_spans.spans {
                    if !span.span_context.trace_id().is_valid() {
                        invalid += 1;
                        continue;
                    }
                    let entry = !span.parent_span_id.is_valid()
                        || span.parent_is_remote
                        || matches!(span.kind, SpanKind::Server | SpanKind::Consumer);
                    let sample = entry.then(|| {
                        let start = span.start_time.as_unix_nanos();
                        let end = span.end_time.as_unix_nanos().max(start);
                        RedSample {
                            service: service.clone(),
                            root_operation: (!span.parent_span_id.is_valid())
                                .then(|| span.name.clone()),
                            end,
                            micros: (end - start) / 1000,
                            error: matches!(span.status, Status::Error { .. }),
                        }
                    });
                    let stored = StoredSpan::new(span, source.clone(), share, &mut scratch);
                    items.push((stored, sample));
                }
            }
        }
        self.count_invalid("traces", invalid);
        let budget = self.share(TRACES_SHARE_PERCENT);
        // An upper bound of what each span may cost: as if it started a trace, and with its
        // inline size twice (a trace's span vector at most doubles its length), so the half
        // is never overrun and older data is never evicted for an oversized batch.
        let (items, over) = cap_batch(items, budget / 2, |(span, _)| {
            span.bytes + size_of::<StoredSpan>() + traces::TRACE_OVERHEAD
        });
        let (spans, samples): (Vec<StoredSpan>, Vec<Option<RedSample>>) = items.into_iter().unzip();
        let samples: Vec<RedSample> = samples.into_iter().flatten().collect();
        let count = spans.len() as u64;
        // RED first: its size is charged to the traces' share, which the insert keeps.
        let red_bytes = {
            let mut red = self.red.lock();
            red.record(&samples, now_nanos());
            red.bytes()
        };
        let refused = {
            let mut traces = self.traces.lock();
            traces.reserved = red_bytes;
            if spans.is_empty() {
                0
            } else {
                let position = self.advance();
                traces.insert(spans, position)
            }
        };
        if over > 0 {
            self.traces.lock().dropped_spans += over;
        }
        self.count("traces", source, count - refused, over + refused + invalid);
        outcome(&[
            (
                over,
                "spans beyond half the trace memory budget in one batch",
            ),
            (refused, "spans of traces over their span limit"),
            (invalid, "spans with an invalid trace id"),
        ])
    }

    fn ingest_metrics(&self, data: MetricsData, source: &IngestSource) -> IngestOutcome {
        let (points, unknown) = metrics::prepare(data);
        self.count_invalid("metrics", unknown);
        let budget = self.share(METRICS_SHARE_PERCENT);
        let (points, over) = cap_batch(points, budget / 2, |p| p.bytes);
        let count = points.len() as u64;
        let refused = if points.is_empty() {
            0
        } else {
            let mut metrics = self.metrics.lock();
            let position = self.advance();
            metrics.insert(points, position)
        };
        if over > 0 {
            self.metrics.lock().dropped_points += over;
        }
        self.count("metrics", source, count - refused, over + refused);
        outcome(&[
            (
                over,
                "data points beyond half the metric memory budget in one batch",
            ),
            (refused, "data points of new series over the series limit"),
        ])
    }

    fn ingest_logs(&self, data: LogsData, source: &IngestSource) -> IngestOutcome {
        let mut records = Vec::new();
        for resource_logs in data.resource_logs {
            let resource = resource_logs.resource;
            let service = service_of(&resource);
            let count: usize = resource_logs
                .scope_logs
                .iter()
                .map(|s| s.records.len())
                .sum();
            let share = size::resource(&resource) / count.max(1);
            let mut scratch = Vec::new();
            let resource_bits = signature::attribute_signature(resource.attributes(), &mut scratch);
            for scope_logs in resource_logs.scope_logs {
                for record in scope_logs.records {
                    records.push(StoredLog::new(
                        record,
                        resource.clone(),
                        service.clone(),
                        share,
                        resource_bits,
                        &mut scratch,
                    ));
                }
            }
        }
        let budget = self.share(LOGS_SHARE_PERCENT);
        let (records, over) = cap_batch(records, budget / 2, |r| r.bytes);
        let count = records.len() as u64;
        if !records.is_empty() {
            let mut logs = self.logs.lock();
            let position = self.advance();
            logs.insert(records, position);
        }
        self.count("logs", source, count, over);
        outcome(&[(
            over,
            "log records beyond half the log memory budget in one batch",
        )])
    }

    fn record_refusal(&self, signal: Signal, refusal: Refusal, source: &IngestSource) {
        let mut stats = self.stats.lock();
        *stats
            .refusals
            .entry((signal_name(signal), refusal_name(refusal), source.transport))
            .or_default() += 1;
    }

    fn api(&self, request: &ApiRequest<'_>) -> ApiResponse {
        crate::api::handle(self, request)
    }

    fn live_position(&self) -> u64 {
        self.position.load(Ordering::Acquire)
    }

    fn live_delta(&self, since: u64) -> Option<(u64, Vec<u8>)> {
        let upto = self.position.load(Ordering::Acquire);
        if since >= upto {
            return None;
        }
        let cap = self.config.live_max_items;
        let (traces, traces_cut) = self.traces.lock().changed_since(since, upto, cap);
        let (logs, logs_cut) = self.logs.lock().added_since(since, upto, cap);
        let (metrics, metrics_cut) = self.metrics.lock().changed_since(since, upto, cap);
        let now = now_nanos();
        let mut delta = self.ingest_json(now);
        delta["from"] = json!(since.to_string());
        delta["position"] = json!(upto.to_string());
        delta["timeUnixNano"] = json::nanos(now);
        // A list cut short is left out: the page must query anyway, and at high ingest rates
        // every event would otherwise carry a full list nobody reads (~90 KB at 50k spans/s).
        let list = |items: Vec<Json>, cut: bool| Json::Array(if cut { Vec::new() } else { items });
        delta["traces"] = list(traces, traces_cut);
        delta["logs"] = list(logs, logs_cut);
        delta["metrics"] = list(metrics, metrics_cut);
        delta["red"] = self.red.lock().to_json(now);
        delta["store"] = self.usage_json();
        delta["views"] = self.views_json();
        delta["truncated"] = json!(traces_cut || logs_cut || metrics_cut);
        Some((upto, serde_json::to_vec(&delta).unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_batch_keeps_the_prefix_that_fits() {
        let (kept, cut) = cap_batch(vec![4, 4, 4, 4], 9, |n| *n);
        assert_eq!((kept, cut), (vec![4, 4], 2));
        let (kept, cut) = cap_batch(vec![1, 2], 9, |n| *n);
        assert_eq!((kept, cut), (vec![1, 2], 0));
    }

    #[test]
    fn small_budgets_are_raised_and_split_by_the_documented_shares() {
        let store = Store::new(StoreConfig {
            memory_budget_bytes: 10,
            ..StoreConfig::default()
        });
        assert_eq!(store.config().memory_budget_bytes, MIN_MEMORY_BUDGET);
        let split =
            store.traces.lock().budget + store.logs.lock().budget + store.metrics.lock().budget;
        assert!(split <= MIN_MEMORY_BUDGET && split > MIN_MEMORY_BUDGET - 100);
    }

    #[test]
    fn views_replace_by_metric_and_refuse_bad_input() {
        let store = Store::default();
        store.register_view("latency", ChartType::Line).unwrap();
        store.register_view("latency", ChartType::Heatmap).unwrap();
        assert_eq!(
            store.views(),
            vec![View {
                metric: "latency".into(),
                chart: ChartType::Heatmap
            }]
        );
        assert_eq!(
            store.register_view("", ChartType::Bar),
            Err(ViewError::BadMetricName)
        );
        assert_eq!("pie".parse::<ChartType>(), Err(ViewError::UnknownChart));
        for i in 1..MAX_VIEWS {
            store
                .register_view(&format!("m{i}"), ChartType::Stat)
                .unwrap();
        }
        assert_eq!(
            store.register_view("one.more", ChartType::Stat),
            Err(ViewError::TooManyViews)
        );
    }
}
