//! Our encoders' bytes read by a second, independent decoder: the Python `opentelemetry-proto`
//! package's generated classes (tests/python/decode.py), which must parse every request with
//! no unknown field in any message, and accept our OTLP/JSON as the same message. The summary
//! it prints (`MessageToDict` with proto field names) is compared, whole, with what the
//! source data says each field must be.
//!
//! The interpreter is `$TELEMETRY_PYTHON`, else `<workspace>/target/python-peers/bin/python`
//! (made by `scripts/python-peers.sh`). Without either the tests print why and pass, unless
//! `TELEMETRY_REQUIRE_PEERS=1`, when they fail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value as J, json};
use telemetry_context::{SpanContext, TraceFlags, TraceState};
use telemetry_core::{InstrumentationScope, KeyValue, Resource, SpanId, Timestamp, TraceId, Value};
use telemetry_logs::{LogRecord, Severity};
use telemetry_metrics::data::{
    Exemplar, ExponentialBuckets, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge,
    Histogram, HistogramDataPoint, Metric, MetricData, Number, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum, Temporality,
};
use telemetry_otlp::{
    Compression, HttpSpanExporter, LogsData, LogsEncoder, MetricsData, Protocol, ResourceLogs,
    ResourceSpans, ScopeLogs, ScopeSpans, TraceEncoder, TracesData, encode_logs_data,
    encode_logs_data_json, encode_metrics, encode_metrics_data, encode_metrics_data_json,
    encode_metrics_json, encode_traces_data, encode_traces_data_json,
};
use telemetry_span::{Event, Link, SpanData, SpanExporter, SpanKind, Status};

type TestResult = Result<(), Box<dyn std::error::Error>>;

// ---------------------------------------------------------------------------------------
// The peer
// ---------------------------------------------------------------------------------------

/// The interpreter to use, or `None` (after saying why) when the test should skip.
fn python() -> Option<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("TELEMETRY_PYTHON").map(PathBuf::from),
        Some(workspace.join("target/python-peers/bin/python")),
    ];
    if let Some(found) = candidates.into_iter().flatten().find(|path| path.exists()) {
        return Some(found);
    }
    let message = "no Python peer: set TELEMETRY_PYTHON or run scripts/python-peers.sh";
    if std::env::var("TELEMETRY_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
        panic!("{message} (TELEMETRY_REQUIRE_PEERS=1)");
    }
    eprintln!("skipping: {message}");
    None
}

/// A file in the temp dir that this process alone names, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn with(contents: &[u8]) -> std::io::Result<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "telemetry-python-proto-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, contents)?;
        Ok(TempFile(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// What decode.py says about `proto` (and `json`, the same request in OTLP/JSON): its
/// summary on success, its complaint on failure.
fn peer_decode(
    python: &Path,
    kind: &str,
    proto: &[u8],
    json: Option<&[u8]>,
) -> Result<Result<J, String>, Box<dyn std::error::Error>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/decode.py");
    let proto_file = TempFile::with(proto)?;
    let json_file = json.map(TempFile::with).transpose()?;
    let mut command = Command::new(python);
    command.arg(&script).arg(kind).arg(&proto_file.0);
    if let Some(file) = &json_file {
        command.arg(&file.0);
    }
    let output = command.output()?;
    if !output.status.success() {
        return Ok(Err(String::from_utf8_lossy(&output.stderr).into_owned()));
    }
    Ok(Ok(serde_json::from_slice(&output.stdout)?))
}

/// Whether the peer's own encoding of the message it read must be our bytes exactly.
#[derive(Clone, Copy, PartialEq)]
enum Bytes {
    /// Ours are in field-number order, as the peer writes.
    Same,
    /// Ours may differ in field order only: the metrics encoder writes a point's value
    /// oneof where prost does, at its lowest member's position (as_double, 4), so an
    /// `as_int` (6) precedes the exemplars (5), while the peer writes by number.
    OrderMayDiffer,
}

/// Runs the peer on both encodings and checks its summary against `expected` field by field.
fn check(
    python: &Path,
    kind: &str,
    (proto, json): (&[u8], &[u8]),
    expected: &J,
    bytes: Bytes,
) -> TestResult {
    let summary = peer_decode(python, kind, proto, Some(json))?
        .map_err(|complaint| format!("the peer refused our {kind}: {complaint}"))?;
    assert_eq!(summary["json_matches_protobuf"], J::Bool(true));
    assert_same(&summary["request"], expected, "request");
    if bytes == Bytes::Same {
        assert_eq!(
            summary["reencoded"], "same",
            "the peer re-encodes our {kind} to other bytes"
        );
    }
    Ok(())
}

/// `assert_eq!` that names the first differing path, since the values are large.
fn assert_same(actual: &J, expected: &J, path: &str) {
    match (actual, expected) {
        (J::Object(a), J::Object(e)) => {
            for key in a.keys().chain(e.keys()) {
                let (x, y) = (a.get(key), e.get(key));
                match (x, y) {
                    (Some(x), Some(y)) => assert_same(x, y, &format!("{path}.{key}")),
                    _ => panic!("{path}.{key}: peer has {x:?}, expected {y:?}"),
                }
            }
        }
        (J::Array(a), J::Array(e)) => {
            assert_eq!(a.len(), e.len(), "{path}: lengths differ");
            for (index, (x, y)) in a.iter().zip(e).enumerate() {
                assert_same(x, y, &format!("{path}[{index}]"));
            }
        }
        _ => assert_eq!(actual, expected, "{path}"),
    }
}

// ---------------------------------------------------------------------------------------
// What `MessageToDict(preserving_proto_field_name=True, use_integers_for_enums=True)` prints
// for our data: proto3 fields without presence are left out at their default value, fields
// with presence (sub-messages, oneofs, `optional`) are printed when set; 64-bit integers are
// strings; decode.py turns ids and bytes values into hex.
// ---------------------------------------------------------------------------------------

/// An object of fields without presence: defaults are left out, as the peer leaves them.
fn obj(fields: Vec<(&str, J)>) -> Map<String, J> {
    let is_default = |value: &J| match value {
        J::Null | J::Bool(false) => true,
        J::Bool(true) => false,
        J::String(s) => s.is_empty() || s == "0",
        J::Number(n) => n.as_f64() == Some(0.0),
        J::Array(items) => items.is_empty(),
        J::Object(_) => false,
    };
    fields
        .into_iter()
        .filter(|(_, value)| !is_default(value))
        .map(|(key, value)| (key.to_owned(), value))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn nanos(time: Timestamp) -> J {
    J::from(time.as_unix_nanos().to_string())
}

fn any_value(value: &Value) -> J {
    match value {
        Value::Empty => json!({}),
        Value::Bool(v) => json!({ "bool_value": v }),
        Value::I64(v) => json!({ "int_value": v.to_string() }),
        Value::F64(v) => json!({ "double_value": v }),
        Value::String(v) => json!({ "string_value": v.as_str() }),
        Value::Bytes(v) => json!({ "bytes_value": hex(v) }),
        Value::Array(values) => {
            let values: Vec<J> = values.iter().map(any_value).collect();
            json!({ "array_value": obj(vec![("values", J::from(values))]) })
        }
        Value::Map(pairs) => json!({ "kvlist_value": obj(vec![("values", key_values(pairs))]) }),
    }
}

fn key_values(pairs: &[KeyValue]) -> J {
    pairs
        .iter()
        .map(|kv| {
            let mut out = obj(vec![("key", J::from(kv.key.as_str()))]);
            out.insert("value".to_owned(), any_value(&kv.value));
            J::Object(out)
        })
        .collect()
}

fn resource(resource: &Resource, dropped: u32) -> J {
    J::Object(obj(vec![
        ("attributes", key_values(resource.attributes())),
        ("dropped_attributes_count", J::from(dropped)),
    ]))
}

fn scope(scope: &InstrumentationScope, dropped: u32) -> J {
    J::Object(obj(vec![
        ("name", J::from(scope.name())),
        ("version", J::from(scope.version().unwrap_or_default())),
        ("attributes", key_values(scope.attributes())),
        ("dropped_attributes_count", J::from(dropped)),
    ]))
}

/// An envelope: `resource` or `scope` (always written), its items, and its schema URL.
fn envelope(head: (&str, J), items: (&str, Vec<J>), schema_url: Option<&str>) -> J {
    let mut out = obj(vec![
        (items.0, J::from(items.1)),
        ("schema_url", J::from(schema_url.unwrap_or_default())),
    ]);
    out.insert(head.0.to_owned(), head.1);
    J::Object(out)
}

/// `SpanFlags`: the W3C flags, and bits 8 and 9 for "whether remote is known" and "remote".
fn span_flags(flags: TraceFlags, is_remote: bool) -> J {
    J::from(u32::from(flags.bits()) | 0x100 | if is_remote { 0x200 } else { 0 })
}

fn span(span: &SpanData) -> J {
    let context = &span.span_context;
    let events: Vec<J> = span
        .events
        .iter()
        .map(|event| {
            J::Object(obj(vec![
                ("time_unix_nano", nanos(event.timestamp)),
                ("name", J::from(event.name.as_str())),
                ("attributes", key_values(&event.attributes)),
                (
                    "dropped_attributes_count",
                    J::from(event.dropped_attributes_count),
                ),
            ]))
        })
        .collect();
    let links: Vec<J> = span
        .links
        .iter()
        .map(|link| {
            let linked = &link.span_context;
            J::Object(obj(vec![
                ("trace_id", J::from(linked.trace_id().to_string())),
                ("span_id", J::from(linked.span_id().to_string())),
                ("trace_state", J::from(linked.trace_state().header())),
                ("attributes", key_values(&link.attributes)),
                (
                    "dropped_attributes_count",
                    J::from(link.dropped_attributes_count),
                ),
                ("flags", span_flags(linked.flags(), linked.is_remote())),
            ]))
        })
        .collect();
    let parent = if span.parent_span_id.is_valid() {
        span.parent_span_id.to_string()
    } else {
        String::new()
    };
    let mut out = obj(vec![
        ("trace_id", J::from(context.trace_id().to_string())),
        ("span_id", J::from(context.span_id().to_string())),
        ("trace_state", J::from(context.trace_state().header())),
        ("parent_span_id", J::from(parent)),
        ("flags", span_flags(context.flags(), span.parent_is_remote)),
        ("name", J::from(span.name.as_str())),
        ("kind", J::from(span.kind.otlp_value())),
        ("start_time_unix_nano", nanos(span.start_time)),
        ("end_time_unix_nano", nanos(span.end_time)),
        ("attributes", key_values(&span.attributes)),
        (
            "dropped_attributes_count",
            J::from(span.dropped_attributes_count),
        ),
        ("events", J::from(events)),
        ("dropped_events_count", J::from(span.dropped_events_count)),
        ("links", J::from(links)),
        ("dropped_links_count", J::from(span.dropped_links_count)),
    ]);
    let status = match &span.status {
        Status::Unset => None,
        Status::Ok => Some(obj(vec![("code", J::from(1))])),
        Status::Error { description } => Some(obj(vec![
            ("message", J::from(description.as_str())),
            ("code", J::from(2)),
        ])),
    };
    if let Some(status) = status {
        out.insert("status".to_owned(), J::Object(status));
    }
    J::Object(out)
}

fn traces_request(data: &TracesData) -> J {
    let resource_spans: Vec<J> = data
        .resource_spans
        .iter()
        .map(|rs| {
            let scopes = rs
                .scope_spans
                .iter()
                .map(|ss| {
                    envelope(
                        ("scope", scope(&ss.scope, ss.scope_dropped_attributes_count)),
                        ("spans", ss.spans.iter().map(span).collect()),
                        ss.scope.schema_url(),
                    )
                })
                .collect();
            envelope(
                (
                    "resource",
                    resource(&rs.resource, rs.resource_dropped_attributes_count),
                ),
                ("scope_spans", scopes),
                rs.resource.schema_url(),
            )
        })
        .collect();
    J::Object(obj(vec![("resource_spans", J::from(resource_spans))]))
}

fn exemplars(exemplars: &[Exemplar]) -> J {
    exemplars
        .iter()
        .map(|exemplar| {
            let mut out = obj(vec![
                (
                    "filtered_attributes",
                    key_values(&exemplar.filtered_attributes),
                ),
                ("time_unix_nano", nanos(exemplar.time)),
                (
                    "trace_id",
                    J::from(
                        exemplar
                            .trace_id
                            .map(|id| id.to_string())
                            .unwrap_or_default(),
                    ),
                ),
                (
                    "span_id",
                    J::from(
                        exemplar
                            .span_id
                            .map(|id| id.to_string())
                            .unwrap_or_default(),
                    ),
                ),
            ]);
            insert_number(&mut out, exemplar.value);
            J::Object(out)
        })
        .collect()
}

/// The `as_int`/`as_double` oneof: printed even at zero.
fn insert_number(out: &mut Map<String, J>, value: Number) {
    match value {
        Number::I64(v) => out.insert("as_int".to_owned(), J::from(v.to_string())),
        Number::F64(v) => out.insert("as_double".to_owned(), J::from(v)),
    };
}

/// The `optional double` fields: printed whenever set, zero included.
fn insert_optional(out: &mut Map<String, J>, key: &str, value: Option<f64>) {
    if let Some(value) = value {
        out.insert(key.to_owned(), J::from(value));
    }
}

fn strings(values: &[u64]) -> J {
    values.iter().map(|v| J::from(v.to_string())).collect()
}

fn number_points(points: &[NumberDataPoint]) -> J {
    points
        .iter()
        .map(|point| {
            let mut out = obj(vec![
                ("attributes", key_values(&point.attributes)),
                ("start_time_unix_nano", nanos(point.start_time)),
                ("time_unix_nano", nanos(point.time)),
                ("exemplars", exemplars(&point.exemplars)),
            ]);
            insert_number(&mut out, point.value);
            J::Object(out)
        })
        .collect()
}

fn temporality(temporality: Temporality) -> J {
    J::from(match temporality {
        Temporality::Delta => 1,
        Temporality::Cumulative => 2,
    })
}

fn buckets(buckets: &ExponentialBuckets) -> J {
    J::Object(obj(vec![
        ("offset", J::from(buckets.offset)),
        ("bucket_counts", strings(&buckets.counts)),
    ]))
}

fn metric(metric: &Metric) -> J {
    let (key, data) = match &metric.data {
        MetricData::Sum(sum) => (
            "sum",
            obj(vec![
                ("data_points", number_points(&sum.points)),
                ("aggregation_temporality", temporality(sum.temporality)),
                ("is_monotonic", J::from(sum.is_monotonic)),
            ]),
        ),
        MetricData::Gauge(gauge) => (
            "gauge",
            obj(vec![("data_points", number_points(&gauge.points))]),
        ),
        MetricData::Histogram(histogram) => {
            let points = histogram
                .points
                .iter()
                .map(|point| {
                    let mut out = obj(vec![
                        ("attributes", key_values(&point.attributes)),
                        ("start_time_unix_nano", nanos(point.start_time)),
                        ("time_unix_nano", nanos(point.time)),
                        ("count", J::from(point.count.to_string())),
                        ("bucket_counts", strings(&point.bucket_counts)),
                        ("explicit_bounds", J::from(point.bounds.clone())),
                        ("exemplars", exemplars(&point.exemplars)),
                    ]);
                    insert_optional(&mut out, "sum", point.sum);
                    insert_optional(&mut out, "min", point.min);
                    insert_optional(&mut out, "max", point.max);
                    J::Object(out)
                })
                .collect();
            (
                "histogram",
                obj(vec![
                    ("data_points", points),
                    (
                        "aggregation_temporality",
                        temporality(histogram.temporality),
                    ),
                ]),
            )
        }
        MetricData::ExponentialHistogram(histogram) => {
            let points = histogram
                .points
                .iter()
                .map(|point| {
                    let mut out = obj(vec![
                        ("attributes", key_values(&point.attributes)),
                        ("start_time_unix_nano", nanos(point.start_time)),
                        ("time_unix_nano", nanos(point.time)),
                        ("count", J::from(point.count.to_string())),
                        ("scale", J::from(point.scale)),
                        ("zero_count", J::from(point.zero_count.to_string())),
                        ("exemplars", exemplars(&point.exemplars)),
                        ("zero_threshold", J::from(point.zero_threshold)),
                    ]);
                    out.insert("positive".to_owned(), buckets(&point.positive));
                    out.insert("negative".to_owned(), buckets(&point.negative));
                    insert_optional(&mut out, "sum", point.sum);
                    insert_optional(&mut out, "min", point.min);
                    insert_optional(&mut out, "max", point.max);
                    J::Object(out)
                })
                .collect();
            (
                "exponential_histogram",
                obj(vec![
                    ("data_points", points),
                    (
                        "aggregation_temporality",
                        temporality(histogram.temporality),
                    ),
                ]),
            )
        }
        other => panic!("no expectation written for {other:?}"),
    };
    let mut out = obj(vec![
        ("name", J::from(metric.name.as_str())),
        ("description", J::from(metric.description.as_str())),
        ("unit", J::from(metric.unit.as_str())),
    ]);
    out.insert(key.to_owned(), J::Object(data));
    J::Object(out)
}

fn metrics_request(data: &MetricsData) -> J {
    let resource_metrics: Vec<J> = data
        .resource_metrics
        .iter()
        .map(|rm| {
            let scopes = rm
                .scope_metrics
                .iter()
                .map(|sm| {
                    envelope(
                        ("scope", scope(&sm.scope, 0)),
                        ("metrics", sm.metrics.iter().map(metric).collect()),
                        sm.scope.schema_url(),
                    )
                })
                .collect();
            envelope(
                ("resource", resource(&rm.resource, 0)),
                ("scope_metrics", scopes),
                rm.resource.schema_url(),
            )
        })
        .collect();
    J::Object(obj(vec![("resource_metrics", J::from(resource_metrics))]))
}

fn log_record(record: &LogRecord) -> J {
    let id = |valid: bool, text: String| if valid { text } else { String::new() };
    let mut out = obj(vec![
        ("time_unix_nano", record.timestamp.map_or(J::Null, nanos)),
        ("observed_time_unix_nano", nanos(record.observed_timestamp)),
        ("severity_number", J::from(record.severity.number())),
        (
            "severity_text",
            J::from(record.severity_text.as_ref().map_or("", |t| t.as_str())),
        ),
        ("attributes", key_values(&record.attributes)),
        (
            "dropped_attributes_count",
            J::from(record.dropped_attributes_count),
        ),
        ("flags", J::from(record.trace_flags.bits())),
        (
            "trace_id",
            J::from(id(record.trace_id.is_valid(), record.trace_id.to_string())),
        ),
        (
            "span_id",
            J::from(id(record.span_id.is_valid(), record.span_id.to_string())),
        ),
        (
            "event_name",
            J::from(record.event_name.as_ref().map_or("", |t| t.as_str())),
        ),
    ]);
    if record.body != Value::Empty {
        out.insert("body".to_owned(), any_value(&record.body));
    }
    J::Object(out)
}

fn logs_request(data: &LogsData) -> J {
    let resource_logs: Vec<J> = data
        .resource_logs
        .iter()
        .map(|rl| {
            let scopes = rl
                .scope_logs
                .iter()
                .map(|sl| {
                    envelope(
                        ("scope", scope(&sl.scope, sl.scope_dropped_attributes_count)),
                        ("log_records", sl.records.iter().map(log_record).collect()),
                        sl.scope.schema_url(),
                    )
                })
                .collect();
            envelope(
                (
                    "resource",
                    resource(&rl.resource, rl.resource_dropped_attributes_count),
                ),
                ("scope_logs", scopes),
                rl.resource.schema_url(),
            )
        })
        .collect();
    J::Object(obj(vec![("resource_logs", J::from(resource_logs))]))
}

// ---------------------------------------------------------------------------------------
// Data: every field kind, in several resources and scopes.
// ---------------------------------------------------------------------------------------

fn time(offset: u64) -> Timestamp {
    Timestamp::from_unix_nanos(1_700_000_000_123_456_789 + offset)
}

/// One attribute of every value kind, nested kinds included.
fn every_value_kind() -> Vec<KeyValue> {
    vec![
        KeyValue::new("str", "héllo"),
        KeyValue::new("empty.str", ""),
        KeyValue::new("bool", true),
        KeyValue::new("false", false),
        KeyValue::new("int", -9_007_199_254_740_993i64),
        KeyValue::new("zero", 0i64),
        KeyValue::new("double", 2.5f64),
        KeyValue::new("bytes", vec![0u8, 1, 254, 255]),
        KeyValue::new(
            "array",
            Value::Array(vec![
                Value::from(1i64),
                Value::from("two"),
                Value::Empty,
                Value::Array(Vec::new()),
            ]),
        ),
        KeyValue::new(
            "kvlist",
            Value::Map(vec![
                KeyValue::new("inner", 1.25f64),
                KeyValue::new("deeper", Value::Map(vec![KeyValue::new("x", false)])),
            ]),
        ),
        KeyValue::new("nothing", Value::Empty),
    ]
}

fn context(trace: u128, span: u64, flags: u8, remote: bool, state: &str) -> SpanContext {
    let state = TraceState::parse(state).expect("a valid tracestate");
    SpanContext::new(
        TraceId::from_int(trace),
        SpanId::from_int(span),
        TraceFlags::from_bits(flags),
        remote,
        state,
    )
}

fn traces_data() -> TracesData {
    let web = InstrumentationScope::builder("web")
        .with_version("1.0.0")
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .with_attributes([KeyValue::new("scope.attr", "s")])
        .build();
    let db = InstrumentationScope::builder("db").build();
    let full = SpanData {
        span_context: context(
            0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
            0xb7ad_6b71_6920_3331,
            1,
            false,
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
        ),
        parent_span_id: SpanId::from_int(0x00f0_67aa_0ba9_02b7),
        parent_is_remote: true,
        name: "GET /orders/{id}".into(),
        kind: SpanKind::Server,
        start_time: time(0),
        end_time: time(1_500_000),
        attributes: every_value_kind(),
        dropped_attributes_count: 3,
        events: vec![
            Event {
                name: "exception".into(),
                timestamp: time(1_000),
                attributes: vec![KeyValue::new("exception.type", "Timeout")],
                dropped_attributes_count: 1,
            },
            Event {
                name: "retry".into(),
                timestamp: time(2_000),
                attributes: Vec::new(),
                dropped_attributes_count: 0,
            },
        ],
        dropped_events_count: 4,
        links: vec![
            Link {
                span_context: context(0x1111, 0x2222, 0, true, "k=v"),
                attributes: vec![KeyValue::new("link.kind", "follows")],
                dropped_attributes_count: 2,
            },
            Link::new(context(0x3333, 0x4444, 1, false, ""), Vec::new()),
        ],
        dropped_links_count: 5,
        status: Status::error("deadline exceeded"),
        scope: web.clone(),
    };
    let child = SpanData {
        span_context: context(
            0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
            0x5555,
            0,
            false,
            "",
        ),
        parent_span_id: SpanId::from_int(0xb7ad_6b71_6920_3331),
        parent_is_remote: false,
        name: "SELECT".into(),
        kind: SpanKind::Client,
        start_time: time(10),
        end_time: time(20),
        attributes: Vec::new(),
        dropped_attributes_count: 0,
        events: Vec::new(),
        dropped_events_count: 0,
        links: Vec::new(),
        dropped_links_count: 0,
        status: Status::Ok,
        scope: db.clone(),
    };
    let root = SpanData {
        span_context: context(0xabcd, 0x6666, 1, false, ""),
        parent_span_id: SpanId::INVALID,
        name: "tick".into(),
        kind: SpanKind::Internal,
        status: Status::Unset,
        scope: web.clone(),
        ..child.clone()
    };
    let producer = SpanData {
        span_context: context(0xef01, 0x7777, 1, false, ""),
        kind: SpanKind::Producer,
        name: "publish".into(),
        scope: db.clone(),
        ..root.clone()
    };
    let consumer = SpanData {
        span_context: context(0xef01, 0x8888, 1, false, ""),
        parent_span_id: SpanId::from_int(0x7777),
        parent_is_remote: true,
        kind: SpanKind::Consumer,
        name: "consume".into(),
        scope: db.clone(),
        ..root.clone()
    };
    TracesData {
        resource_spans: vec![
            ResourceSpans {
                resource: Resource::builder()
                    .with_service_name("orders")
                    .with_attribute(KeyValue::new("host.cores", 8i64))
                    .with_schema_url("https://opentelemetry.io/schemas/1.25.0")
                    .build(),
                resource_dropped_attributes_count: 2,
                scope_spans: vec![
                    ScopeSpans {
                        scope: web.clone(),
                        scope_dropped_attributes_count: 1,
                        spans: vec![full, root],
                    },
                    ScopeSpans {
                        scope: db.clone(),
                        scope_dropped_attributes_count: 0,
                        spans: vec![child],
                    },
                ],
            },
            ResourceSpans {
                resource: Resource::builder().with_service_name("queue").build(),
                resource_dropped_attributes_count: 0,
                scope_spans: vec![ScopeSpans {
                    scope: db,
                    scope_dropped_attributes_count: 0,
                    spans: vec![producer, consumer],
                }],
            },
        ],
    }
}

fn exemplar(value: Number, with_ids: bool) -> Exemplar {
    Exemplar {
        filtered_attributes: vec![KeyValue::new("user", "u1")],
        time: time(50),
        value,
        trace_id: with_ids.then(|| TraceId::from_int(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10)),
        span_id: with_ids.then(|| SpanId::from_int(0x1112_1314_1516_1718)),
    }
}

fn number_point(
    value: Number,
    attributes: Vec<KeyValue>,
    exemplars: Vec<Exemplar>,
) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        start_time: time(0),
        time: time(1_000),
        value,
        exemplars,
    }
}

fn resource_metrics(service: &str, with_histograms: bool) -> ResourceMetrics {
    let meter = InstrumentationScope::builder("checkout")
        .with_version("2.1")
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .with_attributes([KeyValue::new("meter.attr", 1i64)])
        .build();
    let runtime = InstrumentationScope::builder("runtime").build();
    let mut checkout = vec![
        Metric {
            name: "orders".to_owned(),
            description: "Orders placed".to_owned(),
            unit: "{order}".to_owned(),
            data: MetricData::Sum(Sum {
                points: vec![
                    number_point(
                        Number::I64(42),
                        vec![KeyValue::new("region", "eu")],
                        vec![exemplar(Number::I64(7), true)],
                    ),
                    number_point(Number::I64(0), every_value_kind(), Vec::new()),
                ],
                temporality: Temporality::Delta,
                is_monotonic: true,
            }),
        },
        Metric {
            name: "queue.depth".to_owned(),
            description: String::new(),
            unit: String::new(),
            data: MetricData::Sum(Sum {
                points: vec![number_point(Number::F64(-0.5), Vec::new(), Vec::new())],
                temporality: Temporality::Cumulative,
                is_monotonic: false,
            }),
        },
    ];
    if with_histograms {
        checkout.push(Metric {
            name: "latency".to_owned(),
            description: "Request latency".to_owned(),
            unit: "ms".to_owned(),
            data: MetricData::Histogram(Histogram {
                points: vec![
                    HistogramDataPoint {
                        attributes: vec![KeyValue::new("route", "/pay")],
                        start_time: time(0),
                        time: time(1_000),
                        count: 6,
                        sum: Some(123.5),
                        min: Some(0.0),
                        max: Some(99.0),
                        bounds: vec![0.0, 10.0, 100.0],
                        bucket_counts: vec![1, 2, 3, 0],
                        exemplars: vec![exemplar(Number::F64(7.25), true)],
                    },
                    HistogramDataPoint {
                        attributes: Vec::new(),
                        start_time: time(0),
                        time: time(1_000),
                        count: 0,
                        sum: None,
                        min: None,
                        max: None,
                        bounds: Vec::new(),
                        bucket_counts: vec![0],
                        exemplars: Vec::new(),
                    },
                ],
                temporality: Temporality::Cumulative,
            }),
        });
        checkout.push(Metric {
            name: "size".to_owned(),
            description: String::new(),
            unit: "By".to_owned(),
            data: MetricData::ExponentialHistogram(ExponentialHistogram {
                points: vec![
                    ExponentialHistogramDataPoint {
                        attributes: vec![KeyValue::new("kind", "upload")],
                        start_time: time(0),
                        time: time(1_000),
                        count: 9,
                        sum: Some(1e9 + 0.25),
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
                        exemplars: vec![exemplar(Number::I64(-3), false)],
                    },
                    ExponentialHistogramDataPoint {
                        attributes: Vec::new(),
                        start_time: time(0),
                        time: time(1_000),
                        count: 0,
                        sum: None,
                        min: None,
                        max: None,
                        scale: 20,
                        zero_count: 0,
                        zero_threshold: 0.0,
                        positive: ExponentialBuckets::default(),
                        negative: ExponentialBuckets::default(),
                        exemplars: Vec::new(),
                    },
                ],
                temporality: Temporality::Delta,
            }),
        });
    }
    let gauge = Metric {
        name: "cpu.temperature".to_owned(),
        description: String::new(),
        unit: "Cel".to_owned(),
        data: MetricData::Gauge(Gauge {
            points: vec![
                number_point(
                    Number::F64(61.5),
                    vec![KeyValue::new("core", 0i64)],
                    Vec::new(),
                ),
                number_point(
                    Number::I64(-12),
                    vec![KeyValue::new("core", 1i64)],
                    Vec::new(),
                ),
            ],
        }),
    };
    ResourceMetrics {
        resource: Resource::builder()
            .with_service_name(service.to_owned())
            .with_schema_url("https://opentelemetry.io/schemas/1.25.0")
            .build(),
        scope_metrics: vec![
            ScopeMetrics {
                scope: meter,
                metrics: checkout,
            },
            ScopeMetrics {
                scope: runtime,
                metrics: vec![gauge],
            },
        ],
    }
}

fn logs_data() -> LogsData {
    let api = InstrumentationScope::builder("api")
        .with_version("3.1")
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .with_attributes([KeyValue::new("scope.attr", 1i64)])
        .build();
    let jobs = InstrumentationScope::builder("jobs").build();
    let full = LogRecord {
        timestamp: Some(time(5)),
        observed_timestamp: time(6),
        severity: Severity::WARN2,
        severity_text: Some("warning".into()),
        body: Value::Map(vec![
            KeyValue::new("msg", "disk almost full"),
            KeyValue::new(
                "free",
                Value::Array(vec![Value::from(1i64), Value::from(2.5f64)]),
            ),
        ]),
        attributes: every_value_kind().into(),
        dropped_attributes_count: 2,
        trace_id: TraceId::from_int(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
        span_id: SpanId::from_int(0x00f0_67aa_0ba9_02b7),
        trace_flags: TraceFlags::SAMPLED,
        event_name: Some("disk.low".into()),
        scope: api.clone(),
    };
    let bytes_body = LogRecord {
        observed_timestamp: time(7),
        severity: Severity::FATAL4,
        body: Value::Bytes(vec![0xde, 0xad, 0xbe, 0xef]),
        scope: api.clone(),
        ..LogRecord::default()
    };
    let bare = LogRecord {
        observed_timestamp: time(8),
        scope: jobs.clone(),
        ..LogRecord::default()
    };
    let plain = LogRecord {
        observed_timestamp: time(9),
        severity: Severity::INFO,
        body: Value::from("plain"),
        scope: jobs.clone(),
        ..LogRecord::default()
    };
    LogsData {
        resource_logs: vec![
            ResourceLogs {
                resource: Resource::builder()
                    .with_service_name("checkout")
                    .with_schema_url("https://opentelemetry.io/schemas/1.25.0")
                    .build(),
                resource_dropped_attributes_count: 7,
                scope_logs: vec![
                    ScopeLogs {
                        scope: api,
                        scope_dropped_attributes_count: 2,
                        records: vec![full, bytes_body],
                    },
                    ScopeLogs {
                        scope: jobs.clone(),
                        scope_dropped_attributes_count: 0,
                        records: vec![bare],
                    },
                ],
            },
            ResourceLogs {
                resource: Resource::builder().with_service_name("worker").build(),
                resource_dropped_attributes_count: 0,
                scope_logs: vec![ScopeLogs {
                    scope: jobs,
                    scope_dropped_attributes_count: 0,
                    records: vec![plain],
                }],
            },
        ],
    }
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

/// The body of the one request an [`HttpSpanExporter`] sends for `batch` with gzip on, as it
/// crossed a loopback socket, gunzipped: what a collector actually receives.
fn body_on_the_wire(
    protocol: Protocol,
    resource: &Resource,
    batch: &[SpanData],
) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/v1/traces", listener.local_addr()?);
    // A hand-written HTTP/1.1 server for one request: nothing between the socket and the
    // bytes compared.
    let server = std::thread::spawn(move || -> std::io::Result<(String, Vec<u8>)> {
        let (stream, _) = listener.accept()?;
        let mut reader = BufReader::new(stream.try_clone()?);
        let (mut length, mut encoding) = (0, String::new());
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let lower = line.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("content-length:") {
                length = value.trim().parse().unwrap_or(0);
            }
            if let Some(value) = lower.strip_prefix("content-encoding:") {
                encoding = value.trim().to_owned();
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let mut stream = stream;
        stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")?;
        Ok((encoding, body))
    });
    let mut exporter = HttpSpanExporter::builder()
        .endpoint(url)
        .protocol(protocol)
        .compression(Compression::Gzip)
        .build()?;
    exporter.set_resource(resource);
    exporter.export(batch)?;
    exporter.shutdown()?;
    let (encoding, gzipped) = server.join().map_err(|_| "server thread panicked")??;
    assert_eq!(encoding, "gzip");
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gzipped[..]).read_to_end(&mut plain)?;
    Ok(plain)
}

#[test]
fn the_peer_reads_what_the_http_exporter_puts_on_the_wire() -> TestResult {
    let Some(python) = python() else {
        return Ok(());
    };
    let data = traces_data();
    let first = &data.resource_spans[0];
    let batch: Vec<SpanData> = first
        .scope_spans
        .iter()
        .flat_map(|scope| scope.spans.clone())
        .collect();
    let proto = body_on_the_wire(Protocol::HttpProtobuf, &first.resource, &batch)?;
    let json = body_on_the_wire(Protocol::HttpJson, &first.resource, &batch)?;
    let mut expected = TracesData {
        resource_spans: vec![first.clone()],
    };
    expected.resource_spans[0].resource_dropped_attributes_count = 0;
    for scope in &mut expected.resource_spans[0].scope_spans {
        scope.scope_dropped_attributes_count = 0;
    }
    check(
        &python,
        "traces",
        (&proto, &json),
        &traces_request(&expected),
        Bytes::Same,
    )
}

#[test]
fn the_peer_reads_our_traces() -> TestResult {
    let Some(python) = python() else {
        return Ok(());
    };
    let data = traces_data();
    let (mut proto, mut json) = (Vec::new(), Vec::new());
    encode_traces_data(&data, &mut proto);
    encode_traces_data_json(&data, &mut json);
    check(
        &python,
        "traces",
        (&proto, &json),
        &traces_request(&data),
        Bytes::Same,
    )?;

    // The exporter's path: one resource's batch, grouped by scope by the encoder.
    let first = &data.resource_spans[0];
    let batch: Vec<SpanData> = first
        .scope_spans
        .iter()
        .flat_map(|scope| scope.spans.clone())
        .collect();
    let mut encoder = TraceEncoder::new();
    let (mut proto, mut json) = (Vec::new(), Vec::new());
    encoder.encode(&first.resource, &batch, &mut proto);
    encoder.encode_json(&first.resource, &batch, &mut json);
    let mut expected = TracesData {
        resource_spans: vec![first.clone()],
    };
    expected.resource_spans[0].resource_dropped_attributes_count = 0;
    for scope in &mut expected.resource_spans[0].scope_spans {
        scope.scope_dropped_attributes_count = 0;
    }
    check(
        &python,
        "traces",
        (&proto, &json),
        &traces_request(&expected),
        Bytes::Same,
    )
}

#[test]
fn the_peer_reads_our_metrics() -> TestResult {
    let Some(python) = python() else {
        return Ok(());
    };
    let collection = resource_metrics("checkout", true);
    let (mut proto, mut json) = (Vec::new(), Vec::new());
    encode_metrics(&collection, &mut proto);
    encode_metrics_json(&collection, &mut json);
    let expected = MetricsData {
        resource_metrics: vec![collection],
    };
    check(
        &python,
        "metrics",
        (&proto, &json),
        &metrics_request(&expected),
        Bytes::OrderMayDiffer,
    )?;

    let data = MetricsData {
        resource_metrics: vec![
            resource_metrics("checkout", true),
            resource_metrics("sidecar", false),
        ],
    };
    let (mut proto, mut json) = (Vec::new(), Vec::new());
    encode_metrics_data(&data, &mut proto);
    encode_metrics_data_json(&data, &mut json);
    check(
        &python,
        "metrics",
        (&proto, &json),
        &metrics_request(&data),
        Bytes::OrderMayDiffer,
    )
}

#[test]
fn the_peer_reads_our_logs() -> TestResult {
    let Some(python) = python() else {
        return Ok(());
    };
    let data = logs_data();
    let (mut proto, mut json) = (Vec::new(), Vec::new());
    encode_logs_data(&data, &mut proto);
    encode_logs_data_json(&data, &mut json);
    check(
        &python,
        "logs",
        (&proto, &json),
        &logs_request(&data),
        Bytes::Same,
    )?;

    // The exporter's path: one resource's records, grouped by scope by the encoder.
    let first = &data.resource_logs[0];
    let batch: Vec<LogRecord> = first
        .scope_logs
        .iter()
        .flat_map(|scope| scope.records.clone())
        .collect();
    let mut encoder = LogsEncoder::new();
    let (mut proto, mut json) = (Vec::new(), Vec::new());
    encoder.encode(&first.resource, &batch, &mut proto);
    encoder.encode_json(&first.resource, &batch, &mut json);
    let mut expected = LogsData {
        resource_logs: vec![first.clone()],
    };
    expected.resource_logs[0].resource_dropped_attributes_count = 0;
    for scope in &mut expected.resource_logs[0].scope_logs {
        scope.scope_dropped_attributes_count = 0;
    }
    check(
        &python,
        "logs",
        (&proto, &json),
        &logs_request(&expected),
        Bytes::Same,
    )
}

/// A request the peer must refuse: name, protobuf bytes, OTLP/JSON, and what it must say.
type RefusalCase = (
    &'static str,
    &'static [u8],
    Option<&'static [u8]>,
    &'static str,
);

#[test]
fn the_peer_is_strict_about_unknown_fields_and_bad_json() -> TestResult {
    let Some(python) = python() else {
        return Ok(());
    };
    // The oracle is only as good as its strictness: each of these must be refused.
    let cases: [RefusalCase; 4] = [
        // ExportTraceServiceRequest { field 99: varint 1 }
        (
            "top level",
            &[0x98, 0x06, 0x01],
            None,
            "unknown fields in: <root>",
        ),
        // ExportTraceServiceRequest { resource_spans { field 99: varint 1 } }
        (
            "nested",
            &[0x0a, 0x03, 0x98, 0x06, 0x01],
            None,
            "unknown fields in: .resource_spans[0]",
        ),
        ("truncated", &[0x0a, 0x05, 0x0a], None, "does not parse"),
        (
            "unknown JSON key",
            &[],
            Some(br#"{"resourceSpans":[],"extra":1}"#),
            "OTLP/JSON does not parse",
        ),
    ];
    for (name, proto, json, expected) in cases {
        match peer_decode(&python, "traces", proto, json)? {
            Ok(summary) => panic!("{name}: accepted as {summary}"),
            Err(complaint) => assert!(complaint.contains(expected), "{name}: {complaint}"),
        }
    }
    // And a JSON request that means another message than the protobuf one.
    let data = traces_data();
    let mut proto = Vec::new();
    encode_traces_data(&data, &mut proto);
    let empty = br#"{"resourceSpans":[]}"#;
    match peer_decode(&python, "traces", &proto, Some(empty))? {
        Ok(summary) => panic!("a different JSON request passed: {summary}"),
        Err(complaint) => assert!(complaint.contains("another message"), "{complaint}"),
    }
    Ok(())
}
