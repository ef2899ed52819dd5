//! The JSON query API over the store: routing, parameters and answers.
//!
//! Every route, parameter and response shape is documented in `docs/dashboard-api.md`.
//! Errors are `{"error": "..."}` with 400 (bad parameter), 404 (unknown route or id), 405
//! (wrong method) or 413 (import over its limits).

mod jsonl;
mod params;

use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value as Json, json};

use crate::backend::{ApiRequest, ApiResponse};
use crate::store::logs::LogQuery;
use crate::store::metrics::{SeriesError, SeriesQuery};
use crate::store::traces::{TraceQuery, cursor_string, parse_cursor};
use crate::store::{ChartType, Store};
use params::{Params, parse_trace_id, parse_u64, percent_decode};

const JSON: &str = "application/json";
/// The most log records one trace answer carries (the newest).
const MAX_TRACE_LOGS: usize = 10_000;

/// A request the API could not answer, as the status and message it answers with.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn method(allowed: &str) -> ApiError {
        ApiError {
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("this route takes {allowed}"),
        }
    }

    fn into_response(self) -> ApiResponse {
        ApiResponse {
            status: self.status,
            content_type: JSON,
            body: serde_json::to_vec(&json!({"error": self.message})).unwrap_or_default(),
        }
    }
}

fn ok(body: &Json) -> ApiResponse {
    ApiResponse {
        status: StatusCode::OK,
        content_type: JSON,
        body: serde_json::to_vec(body).unwrap_or_default(),
    }
}

/// Answers one `/api/` request.
pub(crate) fn handle(store: &Store, request: &ApiRequest<'_>) -> ApiResponse {
    match route(store, request) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

fn expect(request: &ApiRequest<'_>, method: &Method) -> Result<(), ApiError> {
    if request.method == method {
        Ok(())
    } else {
        Err(ApiError::method(method.as_str()))
    }
}

fn route(store: &Store, request: &ApiRequest<'_>) -> Result<ApiResponse, ApiError> {
    let Some(rest) = request.path.strip_prefix("/api/") else {
        return Err(ApiError::not_found("no such route"));
    };
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        ["services"] => {
            expect(request, &Method::GET)?;
            Params::parse(request.query, &[])?;
            Ok(ok(&store.services_json()))
        }
        ["traces"] => {
            expect(request, &Method::GET)?;
            search_traces(store, request.query)
        }
        ["traces", id] => {
            expect(request, &Method::GET)?;
            Params::parse(request.query, &[])?;
            one_trace(store, &percent_decode(id)?)
        }
        ["metrics"] => {
            expect(request, &Method::GET)?;
            Params::parse(request.query, &[])?;
            Ok(ok(&store.metrics.lock().list()))
        }
        ["metrics", name, "series"] => {
            expect(request, &Method::GET)?;
            metric_series(store, &percent_decode(name)?, request.query)
        }
        ["logs"] => {
            expect(request, &Method::GET)?;
            search_logs(store, request.query)
        }
        ["health"] => {
            expect(request, &Method::GET)?;
            Params::parse(request.query, &[])?;
            Ok(ok(&store.health_json()))
        }
        ["views"] => views(store, request),
        ["export"] => {
            expect(request, &Method::GET)?;
            jsonl::export(store, request.query)
        }
        ["import"] => {
            expect(request, &Method::POST)?;
            Params::parse(request.query, &[])?;
            jsonl::import(store, request.body)
        }
        _ => Err(ApiError::not_found("no such route")),
    }
}

fn search_traces(store: &Store, query: Option<&str>) -> Result<ApiResponse, ApiError> {
    let params = Params::parse(
        query,
        &[
            "service",
            "spanName",
            "minDuration",
            "maxDuration",
            "status",
            "attr",
            "start",
            "end",
            "limit",
            "cursor",
        ],
    )?;
    let error = match params.get("status") {
        None => None,
        Some("error") => Some(true),
        Some("ok") => Some(false),
        Some(other) => {
            return Err(ApiError::bad(format!(
                "status must be error or ok, got {other:?}"
            )));
        }
    };
    let cursor = params
        .get("cursor")
        .map(|text| {
            parse_cursor(text).ok_or_else(|| ApiError::bad("cursor is not one this API gave"))
        })
        .transpose()?;
    let trace_query = TraceQuery {
        service: params.get("service").map(str::to_owned),
        span_name: params.get("spanName").map(str::to_owned),
        min_duration: params.duration("minDuration")?,
        max_duration: params.duration("maxDuration")?,
        error,
        attributes: params.attributes()?,
        start: params.time("start")?,
        end: params.time("end")?,
        limit: params.limit(20)?,
        cursor,
    };
    let (traces, next) = store.traces.lock().search(&trace_query);
    Ok(ok(&json!({
        "traces": traces,
        "nextCursor": next.map(cursor_string),
    })))
}

fn one_trace(store: &Store, id: &str) -> Result<ApiResponse, ApiError> {
    let id = parse_trace_id(id)?;
    let Some(mut trace) = store
        .traces
        .lock()
        .traces
        .get(&id)
        .map(crate::store::traces::Trace::detail)
    else {
        return Err(ApiError::not_found(format!("no trace {id} in the store")));
    };
    let (logs, _) = store.logs.lock().search(&LogQuery {
        trace_id: Some(id),
        limit: MAX_TRACE_LOGS,
        ..LogQuery::default()
    });
    let mut logs = logs;
    logs.reverse();
    trace["logs"] = Json::Array(logs);
    Ok(ok(&trace))
}

fn metric_series(store: &Store, name: &str, query: Option<&str>) -> Result<ApiResponse, ApiError> {
    let params = Params::parse(query, &["service", "attr", "start", "end", "step"])?;
    let series_query = SeriesQuery {
        service: params.get("service").map(str::to_owned),
        attributes: params.attributes()?,
        start: params.time("start")?,
        end: params.time("end")?,
        step: params.duration("step")?,
    };
    if series_query.step == Some(0) {
        return Err(ApiError::bad("step must be above zero"));
    }
    let metrics = store.metrics.lock();
    if !metrics.has_metric(name) {
        return Err(ApiError::not_found(format!(
            "no metric {name:?} in the store"
        )));
    }
    match metrics.series(name, &series_query) {
        Ok(answer) => Ok(ok(&answer)),
        Err(SeriesError::EmptyRange) => Err(ApiError::bad("end is before start")),
        Err(SeriesError::TooManySteps) => Err(ApiError::bad(format!(
            "the range holds more than {} steps: use a larger step",
            crate::store::metrics::MAX_STEPS
        ))),
    }
}

fn search_logs(store: &Store, query: Option<&str>) -> Result<ApiResponse, ApiError> {
    let params = Params::parse(
        query,
        &[
            "severity", "text", "traceId", "spanId", "service", "attr", "start", "end", "limit",
            "cursor",
        ],
    )?;
    let cursor = params
        .get("cursor")
        .map(|text| parse_u64(text).ok_or_else(|| ApiError::bad("cursor is not one this API gave")))
        .transpose()?;
    let log_query = LogQuery {
        min_severity: params.severity("severity")?,
        text: params.get("text").map(str::to_ascii_lowercase),
        trace_id: params.trace_id("traceId")?,
        span_id: params.span_id("spanId")?,
        service: params.get("service").map(str::to_owned),
        attributes: params.attributes()?,
        start: params.time("start")?,
        end: params.time("end")?,
        limit: params.limit(100)?,
        cursor,
    };
    let (logs, next) = store.logs.lock().search(&log_query);
    Ok(ok(&json!({
        "logs": logs,
        "nextCursor": next.map(|seq| seq.to_string()),
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewView {
    metric: String,
    chart: String,
}

fn views(store: &Store, request: &ApiRequest<'_>) -> Result<ApiResponse, ApiError> {
    Params::parse(request.query, &[])?;
    if *request.method == Method::POST {
        let view: NewView = serde_json::from_slice(request.body).map_err(|error| {
            ApiError::bad(format!(
                "the body must be {{\"metric\": ..., \"chart\": ...}}: {error}"
            ))
        })?;
        let chart: ChartType = view
            .chart
            .parse()
            .map_err(|error| ApiError::bad(format!("{error}")))?;
        store
            .register_view(&view.metric, chart)
            .map_err(|error| ApiError::bad(error.to_string()))?;
    } else if *request.method != Method::GET {
        return Err(ApiError::method("GET or POST"));
    }
    Ok(ok(&store.views_json()))
}
