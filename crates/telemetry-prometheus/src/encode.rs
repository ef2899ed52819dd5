//! The Prometheus text format (0.0.4) and OpenMetrics 1.0 text encoders.
//!
//! Both formats share one walk: metrics are first grouped into families by their final
//! Prometheus name (two scopes often have an instrument of the same name, and a family's
//! samples must be contiguous under a single TYPE line), then each family is written in the
//! chosen dialect. The dialects differ in the counter family's name (text: `x_total`;
//! OpenMetrics: `x`, with samples `x_total`), the UNIT line, HELP escaping and `# EOF`, and in
//! what only OpenMetrics can carry: a `_created` sample (the series' start time) for counters
//! and histograms, and exemplars on counter and histogram bucket samples, labelled with the
//! `trace_id` and `span_id` of the measurement's span, as the OpenTelemetry compatibility
//! specification asks. The text format has no place for either, so there they are left out.

use std::collections::HashMap;
use std::io::Write as _;

use telemetry_core::Timestamp;
use telemetry_core::{InstrumentationScope, KeyValue, Resource, Value};
use telemetry_metrics::data::{
    Exemplar, HistogramDataPoint, MetricData, Number, NumberDataPoint, ResourceMetrics, Temporality,
};

use crate::name;

/// The label carrying the instrumentation scope's name on every sample.
pub const SCOPE_NAME_LABEL: &str = "otel_scope_name";
/// The label carrying the instrumentation scope's version on every sample, when it has one.
pub const SCOPE_VERSION_LABEL: &str = "otel_scope_version";
/// The gauge whose labels are the resource's attributes (value 1).
pub const TARGET_INFO: &str = "target_info";

/// The two text dialects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Text,
    OpenMetrics,
}

/// Encodes collected metrics into Prometheus exposition text, with configurable extras.
///
/// [`encode_text`] and [`encode_openmetrics`] use the defaults: `otel_scope_name` and
/// `otel_scope_version` labels on every sample, and a `target_info` gauge for a non-empty
/// resource.
#[derive(Clone, Copy, Debug)]
pub struct Encoder {
    scope_labels: bool,
    target_info: bool,
}

/// What an encoding left out, so that the caller can say so (dropping is never silent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EncodeReport {
    dropped_metrics: usize,
    dropped_labels: usize,
}

impl EncodeReport {
    /// Metrics left out whole: delta temporality (Prometheus needs cumulative values),
    /// exponential histograms (only Prometheus' protobuf format carries native histograms),
    /// and metrics whose Prometheus name clashes with a family of another type.
    pub fn dropped_metrics(&self) -> usize {
        self.dropped_metrics
    }

    /// Attributes left out of a sample because their sanitized name is one the encoder
    /// writes itself (`le` on histograms, `otel_scope_name`, `otel_scope_version`).
    pub fn dropped_labels(&self) -> usize {
        self.dropped_labels
    }

    /// True when nothing was dropped.
    pub fn is_complete(&self) -> bool {
        self.dropped_metrics == 0 && self.dropped_labels == 0
    }
}

/// Prometheus' metric types, as far as OpenTelemetry data maps onto them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn type_name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }

    /// Every sample name a family of this kind writes: a clash on any of them between two
    /// families would make one family's samples look like another's.
    fn claimed_names(self, base: &str) -> Vec<String> {
        match self {
            // `_created` is written in OpenMetrics only, but claimed in both dialects so that
            // the same families come out of either.
            Kind::Counter => vec![
                base.to_owned(),
                format!("{base}_total"),
                format!("{base}_created"),
            ],
            Kind::Gauge => vec![base.to_owned()],
            Kind::Histogram => vec![
                base.to_owned(),
                format!("{base}_bucket"),
                format!("{base}_sum"),
                format!("{base}_count"),
                format!("{base}_created"),
            ],
        }
    }
}

#[derive(Debug)]
enum Points<'a> {
    Number(&'a [NumberDataPoint]),
    Histogram(&'a [HistogramDataPoint]),
}

#[derive(Debug)]
struct Part<'a> {
    scope: &'a InstrumentationScope,
    points: Points<'a>,
}

#[derive(Debug)]
struct Family<'a> {
    base: String,
    kind: Kind,
    help: &'a str,
    unit: Option<String>,
    parts: Vec<Part<'a>>,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder::new()
    }
}

impl Encoder {
    /// An encoder with the specification's defaults: scope labels and `target_info` on.
    pub fn new() -> Self {
        Encoder {
            scope_labels: true,
            target_info: true,
        }
    }

    /// Whether every sample gets `otel_scope_name` and `otel_scope_version` labels
    /// (default: yes). Without them, same-named instruments of two scopes merge into one
    /// family whose series may collide.
    pub fn with_scope_labels(mut self, on: bool) -> Self {
        self.scope_labels = on;
        self
    }

    /// Whether a non-empty resource is written as the `target_info` gauge (default: yes).
    pub fn with_target_info(mut self, on: bool) -> Self {
        self.target_info = on;
        self
    }

    /// Appends the Prometheus text format 0.0.4 (`text/plain; version=0.0.4`) to `out`.
    pub fn encode_text(&self, metrics: &ResourceMetrics, out: &mut Vec<u8>) -> EncodeReport {
        self.encode(metrics, out, Dialect::Text)
    }

    /// Appends OpenMetrics 1.0 text (`application/openmetrics-text; version=1.0.0`),
    /// terminated by `# EOF`, to `out`.
    pub fn encode_openmetrics(&self, metrics: &ResourceMetrics, out: &mut Vec<u8>) -> EncodeReport {
        self.encode(metrics, out, Dialect::OpenMetrics)
    }

    fn encode(
        &self,
        metrics: &ResourceMetrics,
        out: &mut Vec<u8>,
        dialect: Dialect,
    ) -> EncodeReport {
        let mut report = EncodeReport::default();
        let write_target = self.target_info && !metrics.resource.is_empty();
        let families = group(metrics, write_target, &mut report);
        if write_target {
            write_target_info(&metrics.resource, out, dialect);
        }
        for family in &families {
            self.write_family(family, out, dialect, &mut report);
        }
        if dialect == Dialect::OpenMetrics {
            out.extend_from_slice(b"# EOF\n");
        }
        report
    }

    fn write_family(
        &self,
        family: &Family<'_>,
        out: &mut Vec<u8>,
        dialect: Dialect,
        report: &mut EncodeReport,
    ) {
        let base = family.base.as_str();
        let type_name = match (family.kind, dialect) {
            (Kind::Counter, Dialect::Text) => format!("{base}_total"),
            _ => base.to_owned(),
        };
        if !family.help.is_empty() {
            out.extend_from_slice(b"# HELP ");
            out.extend_from_slice(type_name.as_bytes());
            out.push(b' ');
            escape_help(family.help, dialect, out);
            out.push(b'\n');
        }
        write_line(
            out,
            format_args!("# TYPE {type_name} {}\n", family.kind.type_name()),
        );
        if dialect == Dialect::OpenMetrics
            && let Some(unit) = &family.unit
        {
            write_line(out, format_args!("# UNIT {type_name} {unit}\n"));
        }
        let openmetrics = dialect == Dialect::OpenMetrics;
        let created = format!("{base}_created");
        for part in &family.parts {
            let scope = self.scope_labels.then_some(part.scope);
            match part.points {
                Points::Number(points) => {
                    let counter = family.kind == Kind::Counter;
                    let sample = if counter {
                        format!("{base}_total")
                    } else {
                        base.to_owned()
                    };
                    for point in points {
                        let labels = labels(&point.attributes, scope, &[], report);
                        // OpenMetrics 1.0 allows exemplars on counters, not on gauges.
                        let exemplar = (openmetrics && counter)
                            .then(|| latest(&point.exemplars, |_| true))
                            .flatten();
                        let value = number(point.value);
                        write_sample(out, &sample, &labels, None, &value, exemplar);
                        // A start time at the epoch means "unknown": no `_created` then.
                        if openmetrics && counter && point.start_time != Timestamp::UNIX_EPOCH {
                            let start = seconds(point.start_time);
                            write_sample(out, &created, &labels, None, &start, None);
                        }
                    }
                }
                Points::Histogram(points) => {
                    let bucket = format!("{base}_bucket");
                    for point in points {
                        let labels = labels(&point.attributes, scope, &["le"], report);
                        let exemplars: &[Exemplar] =
                            if openmetrics { &point.exemplars } else { &[] };
                        let mut cumulative = 0u64;
                        // Exemplars go on the first bucket written whose bound holds them.
                        let mut lower = f64::NEG_INFINITY;
                        for (i, bound) in point.bounds.iter().enumerate() {
                            cumulative = cumulative
                                .saturating_add(point.bucket_counts.get(i).copied().unwrap_or(0));
                            // A non-finite bound cannot be ordered below +Inf; its counts
                            // still reach the later buckets through `cumulative`.
                            if !bound.is_finite() {
                                continue;
                            }
                            let le = float(*bound);
                            let exemplar = latest(exemplars, |v| v > lower && v <= *bound);
                            lower = *bound;
                            let total = cumulative.to_string();
                            write_sample(out, &bucket, &labels, Some(&le), &total, exemplar);
                        }
                        let count = point.count.to_string();
                        let exemplar = latest(exemplars, |v| v > lower || v.is_nan());
                        write_sample(out, &bucket, &labels, Some("+Inf"), &count, exemplar);
                        if let Some(sum) = point.sum {
                            let sum = float(sum);
                            write_sample(out, &format!("{base}_sum"), &labels, None, &sum, None);
                        }
                        write_sample(out, &format!("{base}_count"), &labels, None, &count, None);
                        if openmetrics && point.start_time != Timestamp::UNIX_EPOCH {
                            let start = seconds(point.start_time);
                            write_sample(out, &created, &labels, None, &start, None);
                        }
                    }
                }
            }
        }
    }
}

/// Appends the Prometheus text format 0.0.4 of `metrics` to `out`, with the default
/// [`Encoder`].
pub fn encode_text(metrics: &ResourceMetrics, out: &mut Vec<u8>) -> EncodeReport {
    Encoder::new().encode_text(metrics, out)
}

/// Appends OpenMetrics 1.0 text of `metrics` to `out`, ending with `# EOF`, with the default
/// [`Encoder`].
pub fn encode_openmetrics(metrics: &ResourceMetrics, out: &mut Vec<u8>) -> EncodeReport {
    Encoder::new().encode_openmetrics(metrics, out)
}

/// Groups the metrics into families by Prometheus name, in first-seen order. A metric that
/// would share a name with a family of another kind (or another unit-suffixed base) is
/// dropped whole, as the specification requires, rather than emit conflicting TYPE lines.
fn group<'a>(
    metrics: &'a ResourceMetrics,
    reserve_target_info: bool,
    report: &mut EncodeReport,
) -> Vec<Family<'a>> {
    let mut families: Vec<Family<'a>> = Vec::new();
    // Sample name -> the family that writes it.
    let mut claimed: HashMap<String, usize> = HashMap::new();
    if reserve_target_info {
        claimed.insert(TARGET_INFO.to_owned(), usize::MAX);
    }
    for scope_metrics in &metrics.scope_metrics {
        for metric in &scope_metrics.metrics {
            let (kind, points) = match &metric.data {
                MetricData::Sum(sum) if sum.temporality == Temporality::Cumulative => {
                    let kind = if sum.is_monotonic {
                        Kind::Counter
                    } else {
                        Kind::Gauge
                    };
                    (kind, Points::Number(&sum.points))
                }
                MetricData::Gauge(gauge) => (Kind::Gauge, Points::Number(&gauge.points)),
                MetricData::Histogram(h) if h.temporality == Temporality::Cumulative => {
                    (Kind::Histogram, Points::Histogram(&h.points))
                }
                _ => {
                    report.dropped_metrics += 1;
                    continue;
                }
            };
            let base = name::family_base(&metric.name, &metric.unit, kind == Kind::Counter);
            let names = kind.claimed_names(&base);
            let owner = names.iter().find_map(|n| claimed.get(n).copied());
            let part = Part {
                scope: &scope_metrics.scope,
                points,
            };
            match owner {
                Some(index)
                    if families
                        .get(index)
                        .is_some_and(|f| f.kind == kind && f.base == base) =>
                {
                    families[index].parts.push(part);
                }
                Some(_) => report.dropped_metrics += 1,
                None => {
                    let index = families.len();
                    for n in names {
                        claimed.insert(n, index);
                    }
                    families.push(Family {
                        base,
                        kind,
                        help: &metric.description,
                        unit: name::unit_suffix(&metric.unit),
                        parts: vec![part],
                    });
                }
            }
        }
    }
    families
}

fn write_target_info(resource: &Resource, out: &mut Vec<u8>, dialect: Dialect) {
    let help = "Target metadata";
    out.extend_from_slice(b"# HELP target_info ");
    escape_help(help, dialect, out);
    out.extend_from_slice(b"\n# TYPE target_info gauge\n");
    let mut ignored = EncodeReport::default();
    let labels = labels(resource.attributes(), None, &[], &mut ignored);
    write_sample(out, TARGET_INFO, &labels, None, "1", None);
}

/// The sample's labels: attributes under sanitized names, values of attributes whose names
/// sanitize alike joined by `;` in the order of their original keys (as the specification
/// says), then the scope labels. Attributes named like a label the encoder writes itself are
/// dropped and counted.
fn labels(
    attributes: &[KeyValue],
    scope: Option<&InstrumentationScope>,
    reserved: &[&str],
    report: &mut EncodeReport,
) -> Vec<(String, String)> {
    let mut named: Vec<(String, &str, &Value)> = Vec::with_capacity(attributes.len());
    for kv in attributes {
        let label = name::label_name(kv.key.as_str());
        let is_reserved = reserved.contains(&label.as_str())
            || (scope.is_some() && (label == SCOPE_NAME_LABEL || label == SCOPE_VERSION_LABEL));
        if is_reserved {
            report.dropped_labels += 1;
            continue;
        }
        named.push((label, kv.key.as_str(), &kv.value));
    }
    named.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
    let mut out: Vec<(String, String)> = Vec::with_capacity(named.len() + 2);
    for (label, _, value) in named {
        let text = attribute_text(value);
        match out.last_mut() {
            Some((last, joined)) if *last == label => {
                joined.push(';');
                joined.push_str(&text);
            }
            _ => out.push((label, text)),
        }
    }
    if let Some(scope) = scope {
        out.push((SCOPE_NAME_LABEL.to_owned(), scope.name().to_owned()));
        if let Some(version) = scope.version() {
            out.push((SCOPE_VERSION_LABEL.to_owned(), version.to_owned()));
        }
    }
    out
}

/// The most recent of `exemplars` whose value `holds`.
fn latest(exemplars: &[Exemplar], holds: impl Fn(f64) -> bool) -> Option<&Exemplar> {
    exemplars
        .iter()
        .filter(|exemplar| holds(as_f64(exemplar.value)))
        .max_by_key(|exemplar| exemplar.time)
}

fn as_f64(value: Number) -> f64 {
    match value {
        Number::I64(v) => v as f64,
        Number::F64(v) => v,
    }
}

/// A timestamp in OpenMetrics' unit, seconds since the epoch, to the nanosecond.
fn seconds(time: Timestamp) -> String {
    let nanos = time.as_unix_nanos();
    format!("{}.{:09}", nanos / 1_000_000_000, nanos % 1_000_000_000)
}

/// Appends an OpenMetrics exemplar: ` # {trace_id="…",span_id="…"} value timestamp`. The label
/// set (at most 128 characters in OpenMetrics) is the two ids, 63 characters, or empty for a
/// measurement taken outside a span.
fn write_exemplar(out: &mut Vec<u8>, exemplar: &Exemplar) {
    out.extend_from_slice(b" # {");
    if let Some(trace_id) = exemplar.trace_id {
        write_line(out, format_args!("trace_id=\"{trace_id}\""));
    }
    if let Some(span_id) = exemplar.span_id {
        if exemplar.trace_id.is_some() {
            out.push(b',');
        }
        write_line(out, format_args!("span_id=\"{span_id}\""));
    }
    out.extend_from_slice(b"} ");
    out.extend_from_slice(number(exemplar.value).as_bytes());
    out.push(b' ');
    out.extend_from_slice(seconds(exemplar.time).as_bytes());
}

fn write_sample(
    out: &mut Vec<u8>,
    name: &str,
    labels: &[(String, String)],
    le: Option<&str>,
    value: &str,
    exemplar: Option<&Exemplar>,
) {
    out.extend_from_slice(name.as_bytes());
    if !labels.is_empty() || le.is_some() {
        out.push(b'{');
        let extra = le.map(|le| ("le", le));
        let all = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain(extra);
        for (i, (key, value)) in all.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"=\"");
            escape_label_value(value, out);
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.push(b' ');
    out.extend_from_slice(value.as_bytes());
    if let Some(exemplar) = exemplar {
        write_exemplar(out, exemplar);
    }
    out.push(b'\n');
}

fn write_line(out: &mut Vec<u8>, args: std::fmt::Arguments<'_>) {
    // Writing into a Vec cannot fail.
    let _ = out.write_fmt(args);
}

fn escape_label_value(value: &str, out: &mut Vec<u8>) {
    for &b in value.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// The text format escapes only `\` and newlines in HELP; OpenMetrics also escapes `"`.
fn escape_help(help: &str, dialect: Dialect, out: &mut Vec<u8>) {
    for &b in help.as_bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'"' if dialect == Dialect::OpenMetrics => out.extend_from_slice(b"\\\""),
            _ => out.push(b),
        }
    }
}

fn number(value: Number) -> String {
    match value {
        Number::I64(v) => v.to_string(),
        Number::F64(v) => float(v),
    }
}

/// A float as both formats spell it: `+Inf`, `-Inf`, `NaN`, otherwise the shortest text that
/// parses back to the same value, always with a `.` or an exponent (`5.0`, `0.25`, `1e300`) so
/// that `le` values match what Prometheus itself writes.
pub(crate) fn float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_owned()
    } else if value == f64::INFINITY {
        "+Inf".to_owned()
    } else if value == f64::NEG_INFINITY {
        "-Inf".to_owned()
    } else {
        format!("{value:?}")
    }
}

/// A non-string attribute as a label value, per the attribute specification: scalars as
/// their literal, byte arrays in base64, arrays and maps as JSON.
fn attribute_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.as_str().to_owned(),
        Value::Empty => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::I64(v) => v.to_string(),
        Value::F64(v) => json_float(*v),
        Value::Bytes(bytes) => base64(bytes),
        Value::Array(_) | Value::Map(_) => {
            let mut out = String::new();
            json(value, &mut out);
            out
        }
    }
}

fn json_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        format!("{v}")
    }
}

fn json(value: &Value, out: &mut String) {
    match value {
        Value::Empty => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::I64(v) => out.push_str(&v.to_string()),
        // JSON has no NaN or infinities: those become strings.
        Value::F64(v) if !v.is_finite() => json_string(&json_float(*v), out),
        Value::F64(v) => out.push_str(&format!("{v}")),
        Value::String(s) => json_string(s.as_str(), out),
        Value::Bytes(bytes) => json_string(&base64(bytes), out),
        Value::Array(values) => {
            out.push('[');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json(v, out);
            }
            out.push(']');
        }
        Value::Map(pairs) => {
            out.push('{');
            for (i, kv) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(kv.key.as_str(), out);
                out.push(':');
                json(&kv.value, out);
            }
            out.push('}');
        }
    }
}

fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use telemetry_core::{SpanId, TraceId};
    use telemetry_metrics::data::{
        ExponentialBuckets, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
        Metric, ScopeMetrics, Sum,
    };

    fn point(attributes: Vec<KeyValue>, value: Number) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time: Timestamp::UNIX_EPOCH,
            time: Timestamp::UNIX_EPOCH,
            value,
            exemplars: Vec::new(),
        }
    }

    fn metric(name: &str, unit: &str, description: &str, data: MetricData) -> Metric {
        Metric {
            name: name.to_owned(),
            description: description.to_owned(),
            unit: unit.to_owned(),
            data,
        }
    }

    fn sum(monotonic: bool, temporality: Temporality, points: Vec<NumberDataPoint>) -> MetricData {
        MetricData::Sum(Sum {
            points,
            temporality,
            is_monotonic: monotonic,
        })
    }

    fn histogram_point(attributes: Vec<KeyValue>, sum: Option<f64>) -> HistogramDataPoint {
        HistogramDataPoint {
            attributes,
            start_time: Timestamp::UNIX_EPOCH,
            time: Timestamp::UNIX_EPOCH,
            count: 6,
            sum,
            min: None,
            max: None,
            bounds: vec![0.5, 5.0, 10.0],
            bucket_counts: vec![1, 2, 0, 3],
            exemplars: Vec::new(),
        }
    }

    fn scope(name: &str, version: Option<&str>) -> InstrumentationScope {
        let builder = InstrumentationScope::builder(name.to_owned());
        match version {
            Some(v) => builder.with_version(v.to_owned()).build(),
            None => builder.build(),
        }
    }

    fn resource_metrics(
        resource: Resource,
        scopes: Vec<(InstrumentationScope, Vec<Metric>)>,
    ) -> ResourceMetrics {
        ResourceMetrics {
            resource,
            scope_metrics: scopes
                .into_iter()
                .map(|(scope, metrics)| ScopeMetrics { scope, metrics })
                .collect(),
        }
    }

    fn text(metrics: &ResourceMetrics) -> (String, EncodeReport) {
        let mut out = Vec::new();
        let report = encode_text(metrics, &mut out);
        (String::from_utf8(out).unwrap_or_default(), report)
    }

    fn openmetrics(metrics: &ResourceMetrics) -> (String, EncodeReport) {
        let mut out = Vec::new();
        let report = encode_openmetrics(metrics, &mut out);
        (String::from_utf8(out).unwrap_or_default(), report)
    }

    /// One metric of every kind that Prometheus can carry.
    fn every_kind() -> ResourceMetrics {
        let resource = Resource::builder()
            .with_service_name("shop")
            .with_attribute(KeyValue::new("host.name", "a\"b"))
            .build();
        let get = || vec![KeyValue::new("http.method", "GET")];
        resource_metrics(
            resource,
            vec![(
                scope("checkout", Some("1.2")),
                vec![
                    metric(
                        "http.server.requests",
                        "{request}",
                        "Requests \"served\"\nso far \\ total",
                        sum(
                            true,
                            Temporality::Cumulative,
                            vec![point(get(), Number::I64(7))],
                        ),
                    ),
                    metric(
                        "queue.depth",
                        "{item}",
                        "",
                        sum(
                            false,
                            Temporality::Cumulative,
                            vec![point(vec![], Number::I64(-3))],
                        ),
                    ),
                    metric(
                        "cpu.utilization",
                        "1",
                        "",
                        MetricData::Gauge(Gauge {
                            points: vec![point(vec![], Number::F64(0.25))],
                        }),
                    ),
                    metric(
                        "http.server.duration",
                        "ms",
                        "Latency",
                        MetricData::Histogram(Histogram {
                            points: vec![histogram_point(get(), Some(42.5))],
                            temporality: Temporality::Cumulative,
                        }),
                    ),
                ],
            )],
        )
    }

    fn exemplar(value: Number, seconds: u64, ids: Option<(&str, &str)>) -> Exemplar {
        let (trace_id, span_id) = match ids {
            Some((trace, span)) => (TraceId::from_hex(trace).ok(), SpanId::from_hex(span).ok()),
            None => (None, None),
        };
        Exemplar {
            filtered_attributes: vec![KeyValue::new("dropped", "by a view")],
            time: Timestamp::from_unix_nanos(seconds * 1_000_000_000 + 250_000_000),
            value,
            trace_id,
            span_id,
        }
    }

    #[test]
    fn openmetrics_carries_created_times_and_exemplars_the_text_format_drops() {
        const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
        let start = Timestamp::from_unix_nanos(1_700_000_000_500_000_000);
        let mut counter = point(vec![], Number::I64(9));
        counter.start_time = start;
        counter.exemplars = vec![
            exemplar(
                Number::I64(4),
                1_700_000_010,
                Some((TRACE, "00f067aa0ba902b7")),
            ),
            exemplar(
                Number::I64(5),
                1_700_000_020,
                Some((TRACE, "00f067aa0ba902b8")),
            ),
        ];
        let mut gauge = point(vec![], Number::F64(1.5));
        gauge.exemplars = vec![exemplar(Number::F64(1.5), 1_700_000_010, None)];
        let mut histogram = histogram_point(vec![], Some(42.5));
        histogram.start_time = start;
        histogram.exemplars = vec![
            exemplar(
                Number::F64(0.25),
                1_700_000_011,
                Some((TRACE, "0000000000000001")),
            ),
            exemplar(
                Number::F64(0.5),
                1_700_000_012,
                Some((TRACE, "0000000000000002")),
            ),
            exemplar(Number::F64(3.0), 1_700_000_013, None),
            exemplar(
                Number::F64(12.0),
                1_700_000_014,
                Some((TRACE, "0000000000000003")),
            ),
        ];
        let metrics = resource_metrics(
            Resource::empty(),
            vec![(
                scope("s", None),
                vec![
                    metric(
                        "jobs",
                        "",
                        "",
                        sum(true, Temporality::Cumulative, vec![counter]),
                    ),
                    metric(
                        "temp",
                        "",
                        "",
                        MetricData::Gauge(Gauge {
                            points: vec![gauge],
                        }),
                    ),
                    metric(
                        "latency",
                        "",
                        "",
                        MetricData::Histogram(Histogram {
                            points: vec![histogram],
                            temporality: Temporality::Cumulative,
                        }),
                    ),
                ],
            )],
        );
        let (out, report) = openmetrics(&metrics);
        let ids = |span: &str| format!("trace_id=\"{TRACE}\",span_id=\"{span}\"");
        let expected = format!(
            "\
# TYPE jobs counter
jobs_total{{otel_scope_name=\"s\"}} 9 # {{{}}} 5 1700000020.250000000
jobs_created{{otel_scope_name=\"s\"}} 1700000000.500000000
# TYPE temp gauge
temp{{otel_scope_name=\"s\"}} 1.5
# TYPE latency histogram
latency_bucket{{otel_scope_name=\"s\",le=\"0.5\"}} 1 # {{{}}} 0.5 1700000012.250000000
latency_bucket{{otel_scope_name=\"s\",le=\"5.0\"}} 3 # {{}} 3.0 1700000013.250000000
latency_bucket{{otel_scope_name=\"s\",le=\"10.0\"}} 3
latency_bucket{{otel_scope_name=\"s\",le=\"+Inf\"}} 6 # {{{}}} 12.0 1700000014.250000000
latency_sum{{otel_scope_name=\"s\"}} 42.5
latency_count{{otel_scope_name=\"s\"}} 6
latency_created{{otel_scope_name=\"s\"}} 1700000000.500000000
# EOF
",
            ids("00f067aa0ba902b8"),
            ids("0000000000000002"),
            ids("0000000000000003"),
        );
        assert_eq!(out, expected);
        assert!(report.is_complete());

        let (text, _) = text(&metrics);
        assert!(!text.contains("trace_id"), "{text}");
        assert!(!text.contains("_created"), "{text}");
        assert!(
            text.contains("jobs_total{otel_scope_name=\"s\"} 9\n"),
            "{text}"
        );
    }

    #[test]
    fn text_format_of_every_kind() {
        let (out, report) = text(&every_kind());
        let expected = "\
# HELP target_info Target metadata
# TYPE target_info gauge
target_info{host_name=\"a\\\"b\",service_name=\"shop\"} 1
# HELP http_server_requests_total Requests \"served\"\\nso far \\\\ total
# TYPE http_server_requests_total counter
http_server_requests_total{http_method=\"GET\",otel_scope_name=\"checkout\",otel_scope_version=\"1.2\"} 7
# TYPE queue_depth gauge
queue_depth{otel_scope_name=\"checkout\",otel_scope_version=\"1.2\"} -3
# TYPE cpu_utilization_ratio gauge
cpu_utilization_ratio{otel_scope_name=\"checkout\",otel_scope_version=\"1.2\"} 0.25
# HELP http_server_duration_milliseconds Latency
# TYPE http_server_duration_milliseconds histogram
http_server_duration_milliseconds_bucket{http_method=\"GET\",otel_scope_name=\"checkout\",otel_scope_version=\"1.2\",le=\"0.5\"} 1
http_server_duration_milliseconds_bucket{http_method=\"GET\",otel_scope_name=\"checkout\",otel_scope_version=\"1.2\",le=\"5.0\"} 3
http_server_duration_milliseconds_bucket{http_method=\"GET\",otel_scope_name=\"checkout\",otel_scope_version=\"1.2\",le=\"10.0\"} 3
http_server_duration_milliseconds_bucket{http_method=\"GET\",otel_scope_name=\"checkout\",otel_scope_version=\"1.2\",le=\"+Inf\"} 6
http_server_duration_milliseconds_sum{http_method=\"GET\",otel_scope_name=\"checkout\",otel_scope_version=\"1.2\"} 42.5
http_server_duration_milliseconds_count{http_method=\"GET\",otel_scope_name=\"checkout\",otel_scope_version=\"1.2\"} 6
";
        assert_eq!(out, expected);
        assert!(report.is_complete());
    }

    #[test]
    fn openmetrics_of_every_kind() {
        let (out, report) = openmetrics(&every_kind());
        let labels = "otel_scope_name=\"checkout\",otel_scope_version=\"1.2\"";
        let expected = format!(
            "\
# HELP target_info Target metadata
# TYPE target_info gauge
target_info{{host_name=\"a\\\"b\",service_name=\"shop\"}} 1
# HELP http_server_requests Requests \\\"served\\\"\\nso far \\\\ total
# TYPE http_server_requests counter
http_server_requests_total{{http_method=\"GET\",{labels}}} 7
# TYPE queue_depth gauge
queue_depth{{{labels}}} -3
# TYPE cpu_utilization_ratio gauge
# UNIT cpu_utilization_ratio ratio
cpu_utilization_ratio{{{labels}}} 0.25
# HELP http_server_duration_milliseconds Latency
# TYPE http_server_duration_milliseconds histogram
# UNIT http_server_duration_milliseconds milliseconds
http_server_duration_milliseconds_bucket{{http_method=\"GET\",{labels},le=\"0.5\"}} 1
http_server_duration_milliseconds_bucket{{http_method=\"GET\",{labels},le=\"5.0\"}} 3
http_server_duration_milliseconds_bucket{{http_method=\"GET\",{labels},le=\"10.0\"}} 3
http_server_duration_milliseconds_bucket{{http_method=\"GET\",{labels},le=\"+Inf\"}} 6
http_server_duration_milliseconds_sum{{http_method=\"GET\",{labels}}} 42.5
http_server_duration_milliseconds_count{{http_method=\"GET\",{labels}}} 6
# EOF
"
        );
        assert_eq!(out, expected);
        assert!(report.is_complete());
    }

    #[test]
    fn counters_with_units_put_the_unit_before_total() {
        let metrics = resource_metrics(
            Resource::empty(),
            vec![(
                scope("s", None),
                vec![
                    metric(
                        "sent_total",
                        "By",
                        "",
                        sum(
                            true,
                            Temporality::Cumulative,
                            vec![point(vec![], Number::I64(5))],
                        ),
                    ),
                    metric(
                        "busy",
                        "s",
                        "",
                        sum(
                            true,
                            Temporality::Cumulative,
                            vec![point(vec![], Number::F64(1.5))],
                        ),
                    ),
                ],
            )],
        );
        let (out, _) = text(&metrics);
        assert_eq!(
            out,
            "# TYPE sent_bytes_total counter\nsent_bytes_total{otel_scope_name=\"s\"} 5\n\
             # TYPE busy_seconds_total counter\nbusy_seconds_total{otel_scope_name=\"s\"} 1.5\n"
        );
        let (out, _) = openmetrics(&metrics);
        assert!(out.contains(
            "# TYPE busy_seconds counter\n# UNIT busy_seconds seconds\nbusy_seconds_total{"
        ));
    }

    #[test]
    fn histograms_without_sum_and_with_odd_bounds() {
        let mut odd = histogram_point(vec![], None);
        odd.bounds = vec![1.0, f64::INFINITY];
        odd.bucket_counts = vec![2, 1, 3];
        let metrics = resource_metrics(
            Resource::empty(),
            vec![(
                scope("s", None),
                vec![metric(
                    "h",
                    "",
                    "",
                    MetricData::Histogram(Histogram {
                        points: vec![odd],
                        temporality: Temporality::Cumulative,
                    }),
                )],
            )],
        );
        let (out, _) = text(&metrics);
        assert_eq!(
            out,
            "# TYPE h histogram\nh_bucket{otel_scope_name=\"s\",le=\"1.0\"} 2\n\
             h_bucket{otel_scope_name=\"s\",le=\"+Inf\"} 6\nh_count{otel_scope_name=\"s\"} 6\n"
        );
    }

    #[test]
    fn delta_and_exponential_data_are_dropped_and_counted() {
        let exponential = ExponentialHistogramDataPoint {
            attributes: Vec::new(),
            start_time: Timestamp::UNIX_EPOCH,
            time: Timestamp::UNIX_EPOCH,
            count: 1,
            sum: Some(1.0),
            min: None,
            max: None,
            scale: 0,
            zero_count: 0,
            zero_threshold: 0.0,
            positive: ExponentialBuckets {
                offset: 0,
                counts: vec![1],
            },
            negative: ExponentialBuckets::default(),
            exemplars: Vec::new(),
        };
        let metrics = resource_metrics(
            Resource::empty(),
            vec![(
                scope("s", None),
                vec![
                    metric(
                        "d",
                        "",
                        "",
                        sum(
                            true,
                            Temporality::Delta,
                            vec![point(vec![], Number::I64(1))],
                        ),
                    ),
                    metric(
                        "dh",
                        "",
                        "",
                        MetricData::Histogram(Histogram {
                            points: vec![histogram_point(vec![], None)],
                            temporality: Temporality::Delta,
                        }),
                    ),
                    metric(
                        "e",
                        "",
                        "",
                        MetricData::ExponentialHistogram(ExponentialHistogram {
                            points: vec![exponential],
                            temporality: Temporality::Cumulative,
                        }),
                    ),
                ],
            )],
        );
        let (out, report) = text(&metrics);
        assert_eq!(out, "");
        assert_eq!(report.dropped_metrics(), 3);
        let (out, _) = openmetrics(&metrics);
        assert_eq!(out, "# EOF\n");
    }

    #[test]
    fn same_names_from_two_scopes_share_one_family() {
        let counter = |v| {
            metric(
                "hits",
                "",
                "first help wins",
                sum(
                    true,
                    Temporality::Cumulative,
                    vec![point(vec![], Number::I64(v))],
                ),
            )
        };
        let metrics = resource_metrics(
            Resource::empty(),
            vec![
                (scope("a", None), vec![counter(1)]),
                (
                    scope("b", Some("2")),
                    vec![
                        counter(2),
                        // "hits" as a gauge would conflict with the counter family: dropped.
                        metric(
                            "hits",
                            "",
                            "",
                            MetricData::Gauge(Gauge {
                                points: vec![point(vec![], Number::I64(9))],
                            }),
                        ),
                        // "hits_total" sanitizes to the counter's sample name: dropped too.
                        metric(
                            "hits.total",
                            "",
                            "",
                            MetricData::Gauge(Gauge {
                                points: vec![point(vec![], Number::I64(9))],
                            }),
                        ),
                    ],
                ),
            ],
        );
        let (out, report) = text(&metrics);
        assert_eq!(
            out,
            "# HELP hits_total first help wins\n# TYPE hits_total counter\n\
             hits_total{otel_scope_name=\"a\"} 1\n\
             hits_total{otel_scope_name=\"b\",otel_scope_version=\"2\"} 2\n"
        );
        assert_eq!(report.dropped_metrics(), 2);
    }

    #[test]
    fn a_metric_named_target_info_yields_to_the_resource() {
        let metrics = resource_metrics(
            Resource::builder().with_service_name("x").build(),
            vec![(
                scope("s", None),
                vec![metric(
                    "target_info",
                    "",
                    "",
                    MetricData::Gauge(Gauge {
                        points: vec![point(vec![], Number::I64(2))],
                    }),
                )],
            )],
        );
        let (out, report) = text(&metrics);
        assert_eq!(out.matches("# TYPE target_info").count(), 1);
        assert!(out.contains("target_info{service_name=\"x\"} 1\n"));
        assert_eq!(report.dropped_metrics(), 1);
        // Without target_info the metric is the user's to have.
        let mut buffer = Vec::new();
        Encoder::new()
            .with_target_info(false)
            .encode_text(&metrics, &mut buffer);
        assert!(
            String::from_utf8_lossy(&buffer).contains("target_info{otel_scope_name=\"s\"} 2\n")
        );
    }

    #[test]
    fn labels_are_sanitized_merged_escaped_and_typed() {
        let attributes = vec![
            KeyValue::new("a.b", "dot"),
            KeyValue::new("a-b", "dash"),
            KeyValue::new("quote", "say \"hi\"\\\nbye"),
            KeyValue::new("flag", true),
            KeyValue::new("n", 42i64),
            KeyValue::new("x", 1.5),
            KeyValue::new(
                "list",
                Value::Array(vec![Value::from("a"), Value::I64(1), Value::F64(f64::NAN)]),
            ),
            KeyValue::new("raw", Value::Bytes(vec![0xff, 0x00, 0x10, 0x20])),
            KeyValue::new("map", Value::Map(vec![KeyValue::new("k", "v\"")])),
            KeyValue::new("le", "reserved only on histograms"),
            KeyValue::new("otel.scope.name", "spoofed"),
            KeyValue::new("", Value::Empty),
        ];
        let mut report = EncodeReport::default();
        let scope = scope("s", None);
        let labels = labels(&attributes, Some(&scope), &[], &mut report);
        let rendered: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(
            rendered,
            [
                "_=",
                // Sorted by original key: "a-b" < "a.b".
                "a_b=dash;dot",
                "flag=true",
                "le=reserved only on histograms",
                "list=[\"a\",1,\"NaN\"]",
                "map={\"k\":\"v\\\"\"}",
                "n=42",
                "quote=say \"hi\"\\\nbye",
                "raw=/wAQIA==",
                "x=1.5",
                "otel_scope_name=s",
            ]
        );
        assert_eq!(report.dropped_labels(), 1);
        let mut out = Vec::new();
        write_sample(&mut out, "m", &labels[7..8], None, "1", None);
        assert_eq!(out, b"m{quote=\"say \\\"hi\\\"\\\\\\nbye\"} 1\n");
        // Without scope labels `otel.scope.name` is the user's, but `le` stays reserved on
        // histograms.
        let unscoped = super::labels(&attributes, None, &["le"], &mut report);
        assert!(unscoped.iter().all(|(k, _)| k != "le"));
        assert!(unscoped.contains(&("otel_scope_name".to_owned(), "spoofed".to_owned())));
        assert_eq!(report.dropped_labels(), 2);
    }

    #[test]
    fn scope_labels_can_be_turned_off() {
        let mut out = Vec::new();
        Encoder::new()
            .with_scope_labels(false)
            .with_target_info(false)
            .encode_text(&every_kind(), &mut out);
        let out = String::from_utf8_lossy(&out);
        assert!(!out.contains("otel_scope"));
        assert!(!out.contains("target_info"));
        assert!(out.contains("queue_depth -3\n"));
    }

    #[test]
    fn floats_are_spelled_the_prometheus_way() {
        let cases = [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (5.0, "5.0"),
            (0.1, "0.1"),
            (1e300, "1e300"),
            (1.5e-9, "1.5e-9"),
            (123456.789, "123456.789"),
        ];
        for (value, expected) in cases {
            assert_eq!(float(value), expected);
            if value.is_finite() {
                assert_eq!(expected.parse::<f64>().ok(), Some(value));
            }
        }
        assert_eq!(number(Number::I64(i64::MIN)), "-9223372036854775808");
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
    }
}
