//! OTLP JSON Lines export and import (the collector file exporter's format).
//!
//! Each line is one `ExportTraceServiceRequest`, `ExportLogsServiceRequest` or
//! `ExportMetricsServiceRequest` in OTLP/JSON. Export writes spans and log records in lines
//! of at most [`ITEMS_PER_LINE`] items, and one metrics line per resource. Import decodes
//! every line before it stores any: a bad line answers 400 naming it and nothing is stored,
//! so an import can be fixed and sent again without duplicating what came before the bad line.

use std::collections::HashMap;
use std::fmt;

use http::StatusCode;
use serde::de::IgnoredAny;
use serde_json::json;
use telemetry_otlp::{
    JsonError, LogsData, MetricsData, TracesData, decode_logs_json, decode_metrics_json,
    decode_traces_json, encode_logs_data_json, encode_metrics_data_json, encode_traces_data_json,
};

use super::params::Params;
use super::{ApiError, ok};
use crate::backend::{ApiResponse, Backend, IngestOutcome, IngestSource, Transport};
use crate::store::logs::to_logs_data;
use crate::store::traces::to_traces_data;
use crate::store::{Store, logs::StoredLog, traces::StoredSpan};

/// Spans or log records per exported line.
pub(crate) const ITEMS_PER_LINE: usize = 1000;
/// The most lines one import may hold.
pub(crate) const MAX_IMPORT_LINES: usize = 100_000;

/// `GET /api/export?traceId=..` or `?start=..&end=..`.
pub(super) fn export(store: &Store, query: Option<&str>) -> Result<ApiResponse, ApiError> {
    let params = Params::parse(query, &["traceId", "start", "end"])?;
    let trace_id = params.trace_id("traceId")?;
    let (start, end) = (params.time("start")?, params.time("end")?);
    let mut out = Vec::new();
    match (trace_id, start, end) {
        (Some(id), None, None) => {
            let spans = {
                let traces = store.traces.lock();
                let Some(trace) = traces.traces.get(&id) else {
                    return Err(ApiError::not_found(format!("no trace {id} in the store")));
                };
                chunks(
                    &trace.spans.iter().collect::<Vec<_>>(),
                    |chunk: &[&StoredSpan]| to_traces_data(chunk.iter().copied()),
                )
            };
            let logs = {
                let logs = store.logs.lock();
                chunks(
                    &logs.records(Some(id), 0, u64::MAX),
                    |chunk: &[&StoredLog]| to_logs_data(chunk.iter().copied()),
                )
            };
            write_lines(&mut out, &spans, &logs, &[]);
        }
        (None, Some(start), Some(end)) => {
            if end < start {
                return Err(ApiError::bad("end is before start"));
            }
            let spans = {
                let traces = store.traces.lock();
                chunks(
                    &traces.spans_between(start, end),
                    |chunk: &[&StoredSpan]| to_traces_data(chunk.iter().copied()),
                )
            };
            let logs = {
                let logs = store.logs.lock();
                chunks(&logs.records(None, start, end), |chunk: &[&StoredLog]| {
                    to_logs_data(chunk.iter().copied())
                })
            };
            let metrics = store.metrics.lock().export(start, end);
            let metrics: Vec<MetricsData> = metrics
                .resource_metrics
                .into_iter()
                .map(|resource| MetricsData {
                    resource_metrics: vec![resource],
                })
                .collect();
            write_lines(&mut out, &spans, &logs, &metrics);
        }
        _ => {
            return Err(ApiError::bad(
                "export takes either traceId, or both start and end (unix nanoseconds)",
            ));
        }
    }
    Ok(ApiResponse {
        status: StatusCode::OK,
        content_type: "application/x-ndjson",
        body: out,
    })
}

fn chunks<T, D>(items: &[T], convert: impl Fn(&[T]) -> D) -> Vec<D> {
    items.chunks(ITEMS_PER_LINE).map(convert).collect()
}

fn write_lines(
    out: &mut Vec<u8>,
    spans: &[TracesData],
    logs: &[LogsData],
    metrics: &[MetricsData],
) {
    for data in spans {
        encode_traces_data_json(data, out);
        out.push(b'\n');
    }
    for data in logs {
        encode_logs_data_json(data, out);
        out.push(b'\n');
    }
    for data in metrics {
        encode_metrics_data_json(data, out);
        out.push(b'\n');
    }
}

enum Line {
    Traces(TracesData),
    Logs(LogsData),
    Metrics(MetricsData),
}

/// `POST /api/import`: every line decoded first, then all stored, or none.
pub(super) fn import(store: &Store, body: &[u8]) -> Result<ApiResponse, ApiError> {
    let mut decoded = Vec::new();
    for (index, raw) in body.split(|b| *b == b'\n').enumerate() {
        let number = index + 1;
        let line = raw.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if decoded.len() >= MAX_IMPORT_LINES {
            return Err(ApiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!("an import holds at most {MAX_IMPORT_LINES} lines"),
            });
        }
        decoded.push(decode_line(line).map_err(|error| {
            ApiError::bad(format!("line {number}: {error}; nothing was imported"))
        })?);
    }
    let source = IngestSource {
        transport: Transport::Import,
        peer: None,
    };
    let (mut spans, mut records, mut points, mut rejected) = (0u64, 0u64, 0u64, 0u64);
    for line in decoded {
        let outcome = match line {
            Line::Traces(data) => {
                spans += data
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len() as u64)
                    .sum::<u64>();
                store.ingest_traces(data, &source)
            }
            Line::Logs(data) => {
                records += data
                    .resource_logs
                    .iter()
                    .flat_map(|r| &r.scope_logs)
                    .map(|s| s.records.len() as u64)
                    .sum::<u64>();
                store.ingest_logs(data, &source)
            }
            Line::Metrics(data) => {
                points += point_count(&data);
                store.ingest_metrics(data, &source)
            }
        };
        if let IngestOutcome::Accepted { rejected: r, .. } = outcome {
            rejected += r;
        }
    }
    Ok(ok(&json!({
        "spans": spans,
        "logRecords": records,
        "dataPoints": points,
        "rejected": rejected,
    })))
}

fn point_count(data: &MetricsData) -> u64 {
    use telemetry_metrics::data::MetricData;
    data.resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            MetricData::Sum(d) => d.points.len() as u64,
            MetricData::Gauge(d) => d.points.len() as u64,
            MetricData::Histogram(d) => d.points.len() as u64,
            MetricData::ExponentialHistogram(d) => d.points.len() as u64,
            _ => 0,
        })
        .sum()
}

/// Why one import line was refused.
#[derive(Debug)]
enum LineError {
    /// Not a JSON object at all.
    NotObject(serde_json::Error),
    /// An object without any signal's top-level key.
    NoSignal,
    /// The signal's OTLP/JSON decoder refused it.
    Decode(JsonError),
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::NotObject(error) => write!(f, "not a JSON object: {error}"),
            LineError::NoSignal => {
                f.write_str("no resourceSpans, resourceLogs or resourceMetrics key")
            }
            LineError::Decode(error) => write!(f, "not OTLP/JSON: {error}"),
        }
    }
}

impl std::error::Error for LineError {}

/// Decodes one line, choosing the signal by its top-level key.
fn decode_line(line: &[u8]) -> Result<Line, LineError> {
    let keys: HashMap<String, IgnoredAny> =
        serde_json::from_slice(line).map_err(LineError::NotObject)?;
    if keys.contains_key("resourceSpans") {
        decode_traces_json(line)
            .map(Line::Traces)
            .map_err(LineError::Decode)
    } else if keys.contains_key("resourceLogs") {
        decode_logs_json(line)
            .map(Line::Logs)
            .map_err(LineError::Decode)
    } else if keys.contains_key("resourceMetrics") {
        decode_metrics_json(line)
            .map(Line::Metrics)
            .map_err(LineError::Decode)
    } else {
        Err(LineError::NoSignal)
    }
}
