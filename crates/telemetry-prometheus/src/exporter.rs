//! The pull exporter: a cumulative reader the user registers with their provider, rendered
//! on demand in the format the scraper asked for.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use telemetry_core::diagnostic;
use telemetry_metrics::{ManualReader, MetricError, TemporalityPreference};

use crate::encode::Encoder;

/// The exposition formats the exporter writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format an `Accept` header asks for: OpenMetrics when it lists
    /// `application/openmetrics-text` with a non-zero quality at least as high as any range
    /// that covers the text format (`text/plain`, `text/*`, `*/*`); the text format
    /// otherwise, also without a header, as every Prometheus version understands it.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let (mut openmetrics, mut text) = (0.0f64, 0.0f64);
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let slot = if media.eq_ignore_ascii_case("application/openmetrics-text") {
                &mut openmetrics
            } else if media.eq_ignore_ascii_case("text/plain")
                || media.eq_ignore_ascii_case("text/*")
                || media == "*/*"
            {
                &mut text
            } else {
                continue;
            };
            *slot = slot.max(quality(parts));
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }
}

/// The `q` parameter among a media range's or coding's parameters; 1 when absent, 0 when
/// unparsable (a client that garbles it gets the safe default).
fn quality<'a>(params: impl Iterator<Item = &'a str>) -> f64 {
    for param in params {
        if let Some((key, value)) = param.split_once('=')
            && key.trim().eq_ignore_ascii_case("q")
        {
            return value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|q| q.is_finite())
                .unwrap_or(0.0);
        }
    }
    1.0
}

/// Whether an `Accept-Encoding` header accepts gzip (`gzip` or `*` with a non-zero quality).
pub(crate) fn accepts_gzip(accept_encoding: Option<&str>) -> bool {
    accept_encoding.is_some_and(|header| {
        header.split(',').any(|coding| {
            let mut parts = coding.split(';');
            let name = parts.next().unwrap_or("").trim();
            (name.eq_ignore_ascii_case("gzip") || name == "*") && quality(parts) > 0.0
        })
    })
}

/// Why rendering failed.
#[derive(Debug)]
pub struct RenderError {
    source: MetricError,
}

impl RenderError {
    /// The collection error: the reader is not registered with a provider yet, or the
    /// provider was shut down.
    pub fn metric_error(&self) -> &MetricError {
        &self.source
    }
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("collecting metrics for Prometheus failed")
    }
}

impl std::error::Error for RenderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// The Prometheus pull exporter: owns a cumulative [`ManualReader`] and renders what it
/// collects as Prometheus text or OpenMetrics.
///
/// Prometheus computes rates from ever-growing counters, so the reader is always
/// cumulative; there is no way to give the exporter a delta reader. Clones share the reader.
#[derive(Clone, Debug)]
pub struct PrometheusExporter {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    reader: ManualReader,
    encoder: Encoder,
    /// Set by the first render that dropped data, so the diagnostic is reported once.
    /// Relaxed: two racing renders may both report, which is harmless.
    warned: AtomicBool,
}

/// Configures a [`PrometheusExporter`].
#[derive(Debug)]
pub struct PrometheusExporterBuilder {
    encoder: Encoder,
    cardinality_limit: Option<usize>,
}

impl Default for PrometheusExporter {
    fn default() -> Self {
        PrometheusExporter::new()
    }
}

impl PrometheusExporter {
    /// An exporter with the specification's defaults.
    pub fn new() -> Self {
        PrometheusExporter::builder().build()
    }

    /// Starts configuring an exporter.
    pub fn builder() -> PrometheusExporterBuilder {
        PrometheusExporterBuilder {
            encoder: Encoder::new(),
            cardinality_limit: None,
        }
    }

    /// The reader to register with the provider
    /// (`MeterProvider::builder().with_reader(exporter.reader())`).
    pub fn reader(&self) -> ManualReader {
        self.inner.reader.clone()
    }

    /// Collects now and renders in `format`.
    pub fn render(&self, format: Format) -> Result<Vec<u8>, RenderError> {
        let metrics = self
            .inner
            .reader
            .collect()
            .map_err(|source| RenderError { source })?;
        let mut body = Vec::with_capacity(4096);
        let report = match format {
            Format::Text => self.inner.encoder.encode_text(&metrics, &mut body),
            Format::OpenMetrics => self.inner.encoder.encode_openmetrics(&metrics, &mut body),
        };
        if !report.is_complete() && !self.inner.warned.swap(true, Ordering::Relaxed) {
            diagnostic::report(
                "prometheus",
                format_args!(
                    "left {} metric(s) and {} attribute(s) out of a scrape (delta temporality, \
                     exponential histograms, clashing names or reserved label names); \
                     reported once",
                    report.dropped_metrics(),
                    report.dropped_labels()
                ),
            );
        }
        Ok(body)
    }
}

impl PrometheusExporterBuilder {
    /// Whether samples carry `otel_scope_name` and `otel_scope_version` (default: yes).
    pub fn with_scope_labels(mut self, on: bool) -> Self {
        self.encoder = self.encoder.with_scope_labels(on);
        self
    }

    /// Whether the resource is exposed as `target_info` (default: yes).
    pub fn with_target_info(mut self, on: bool) -> Self {
        self.encoder = self.encoder.with_target_info(on);
        self
    }

    /// The reader's default series limit per stream (the provider's when unset or 0).
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.cardinality_limit = Some(limit);
        self
    }

    /// Builds the exporter.
    pub fn build(self) -> PrometheusExporter {
        PrometheusExporter {
            inner: Arc::new(Inner {
                reader: ManualReader::with_settings(
                    TemporalityPreference::Cumulative,
                    self.cardinality_limit,
                ),
                encoder: self.encoder,
                warned: AtomicBool::new(false),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_picks_openmetrics_only_when_asked() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                          version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        let cases = [
            ("prometheus' header", Some(prometheus), Format::OpenMetrics),
            ("no header", None, Format::Text),
            ("text only", Some("text/plain;version=0.0.4"), Format::Text),
            ("wildcard", Some("*/*"), Format::Text),
            (
                "case and spaces",
                Some(" Application/OpenMetrics-Text ; q=0.3"),
                Format::OpenMetrics,
            ),
            (
                "refused",
                Some("application/openmetrics-text;q=0"),
                Format::Text,
            ),
            (
                "garbled q",
                Some("application/openmetrics-text;q=x"),
                Format::Text,
            ),
            ("empty", Some(""), Format::Text),
            (
                "text preferred",
                Some("application/openmetrics-text;q=0.4, text/plain;q=0.9"),
                Format::Text,
            ),
            (
                "tie goes to openmetrics",
                Some("text/plain, application/openmetrics-text"),
                Format::OpenMetrics,
            ),
            (
                "wildcard below",
                Some("application/openmetrics-text;q=0.2, */*;q=0.1"),
                Format::OpenMetrics,
            ),
        ];
        for (case, accept, expected) in cases {
            assert_eq!(Format::negotiate(accept), expected, "{case}");
        }
    }

    #[test]
    fn gzip_is_used_only_when_accepted() {
        let cases = [
            (Some("gzip"), true),
            (Some("deflate, gzip;q=0.5"), true),
            (Some("*"), true),
            (Some("gzip;q=0"), false),
            (Some("identity"), false),
            (None, false),
        ];
        for (header, expected) in cases {
            assert_eq!(accepts_gzip(header), expected, "{header:?}");
        }
    }

    #[test]
    fn rendering_before_registration_is_an_error() {
        let exporter = PrometheusExporter::new();
        let err = exporter.render(Format::Text).err();
        assert!(matches!(
            err.as_ref().map(RenderError::metric_error),
            Some(MetricError::NotRegistered)
        ));
        assert!(err.is_some_and(|e| std::error::Error::source(&e).is_some()));
    }
}
