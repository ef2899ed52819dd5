//! A metric exporter for people: one line per data point, on standard output or any writer.
//!
//! Meant for development and examples: greppable `key=value` pairs, not a contract.

use std::fmt::{self, Write as _};
use std::io::{self, Write};

use telemetry_core::line;

use crate::data::{MetricData, Number, ResourceMetrics, Temporality};
use crate::error::{ExportError, ExportErrorKind};
use crate::instrument::InstrumentKind;
use crate::reader::{PushMetricExporter, TemporalityPreference};

/// Writes each data point of a collection as one human-readable line.
///
/// ```text
/// metric "requests" scope=shop type=sum(cumulative, monotonic) value=42 attributes={route=/cart}
/// metric "latency" scope=shop type=histogram(cumulative) count=3 sum=0.36 min=0.02 max=0.3 attributes={}
/// ```
///
/// A collection is written with one `write_all`, so it does not interleave with other
/// output mid-line.
pub struct ConsoleMetricExporter {
    out: Box<dyn Write + Send>,
    temporality: TemporalityPreference,
    shut_down: bool,
}

impl ConsoleMetricExporter {
    /// An exporter writing to standard output, asking for cumulative temporality.
    pub fn new() -> Self {
        Self::with_writer(io::stdout())
    }

    /// An exporter writing to `out`.
    pub fn with_writer(out: impl Write + Send + 'static) -> Self {
        ConsoleMetricExporter {
            out: Box::new(out),
            temporality: TemporalityPreference::Cumulative,
            shut_down: false,
        }
    }

    /// Asks the reader for `preference`'s temporality (delta shows per-interval changes).
    pub fn with_temporality(mut self, preference: TemporalityPreference) -> Self {
        self.temporality = preference;
        self
    }
}

impl Default for ConsoleMetricExporter {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ConsoleMetricExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleMetricExporter")
            .field("temporality", &self.temporality)
            .field("shut_down", &self.shut_down)
            .finish_non_exhaustive()
    }
}

impl PushMetricExporter for ConsoleMetricExporter {
    fn export(&mut self, metrics: &ResourceMetrics) -> Result<(), ExportError> {
        if self.shut_down {
            return Err(ExportError::new(ExportErrorKind::ShutDown));
        }
        let text = format_metrics(metrics);
        if text.is_empty() {
            return Ok(());
        }
        self.out
            .write_all(text.as_bytes())
            .and_then(|()| self.out.flush())
            .map_err(|error| ExportError::with_source(ExportErrorKind::Unavailable, error))
    }

    fn force_flush(&mut self) -> Result<(), ExportError> {
        self.out
            .flush()
            .map_err(|error| ExportError::with_source(ExportErrorKind::Unavailable, error))
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shut_down = true;
        self.out
            .flush()
            .map_err(|error| ExportError::with_source(ExportErrorKind::Unavailable, error))
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.temporality.temporality(kind)
    }
}

/// The lines of one collection. Writing to a `String` cannot fail, hence the ignored results.
fn format_metrics(metrics: &ResourceMetrics) -> String {
    let mut text = String::new();
    for scope in &metrics.scope_metrics {
        for metric in &scope.metrics {
            let head = format!("metric {:?} scope={}", metric.name, scope.scope.name());
            let unit = if metric.unit.is_empty() {
                String::new()
            } else {
                format!(" unit={}", metric.unit)
            };
            match &metric.data {
                MetricData::Sum(sum) => {
                    let monotonic = if sum.is_monotonic { ", monotonic" } else { "" };
                    for point in &sum.points {
                        let _ = write!(
                            text,
                            "{head} type=sum({}{monotonic}) value={}{unit} attributes=",
                            temporality_name(sum.temporality),
                            number(point.value)
                        );
                        line::push_attributes(&mut text, &point.attributes);
                        text.push('\n');
                    }
                }
                MetricData::Gauge(gauge) => {
                    for point in &gauge.points {
                        let _ = write!(
                            text,
                            "{head} type=gauge value={}{unit} attributes=",
                            number(point.value)
                        );
                        line::push_attributes(&mut text, &point.attributes);
                        text.push('\n');
                    }
                }
                MetricData::Histogram(histogram) => {
                    for point in &histogram.points {
                        let _ = write!(
                            text,
                            "{head} type=histogram({}) count={}",
                            temporality_name(histogram.temporality),
                            point.count
                        );
                        optional(&mut text, "sum", point.sum);
                        optional(&mut text, "min", point.min);
                        optional(&mut text, "max", point.max);
                        let _ = write!(text, "{unit} attributes=");
                        line::push_attributes(&mut text, &point.attributes);
                        text.push('\n');
                    }
                }
                MetricData::ExponentialHistogram(histogram) => {
                    for point in &histogram.points {
                        let _ = write!(
                            text,
                            "{head} type=exponential_histogram({}) count={} scale={}",
                            temporality_name(histogram.temporality),
                            point.count,
                            point.scale
                        );
                        optional(&mut text, "sum", point.sum);
                        optional(&mut text, "min", point.min);
                        optional(&mut text, "max", point.max);
                        let _ = write!(text, "{unit} attributes=");
                        line::push_attributes(&mut text, &point.attributes);
                        text.push('\n');
                    }
                }
            }
        }
    }
    text
}

fn temporality_name(temporality: Temporality) -> &'static str {
    match temporality {
        Temporality::Cumulative => "cumulative",
        Temporality::Delta => "delta",
    }
}

fn number(value: Number) -> String {
    match value {
        Number::I64(v) => v.to_string(),
        Number::F64(v) => v.to_string(),
    }
}

fn optional(text: &mut String, name: &str, value: Option<f64>) {
    if let Some(value) = value {
        let _ = write!(text, " {name}={value}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::provider::MeterProvider;
    use crate::reader::ManualReader;
    use telemetry_core::{KeyValue, Resource};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Buffer {
        fn text(&self) -> String {
            let bytes = self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            String::from_utf8_lossy(&bytes).into_owned()
        }
    }

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    struct Broken;

    impl Write for Broken {
        fn write(&mut self, _bytes: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }

        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::other("disk full"))
        }
    }

    fn collect() -> Result<ResourceMetrics, Box<dyn std::error::Error>> {
        let reader = ManualReader::new();
        let provider = MeterProvider::builder()
            .with_resource(Resource::empty())
            .with_reader(reader.clone())
            .build();
        let meter = provider.meter("shop");
        let requests = meter.u64_counter("requests").build()?;
        requests.add(40, &[KeyValue::new("route", "/cart")]);
        requests.add(2, &[KeyValue::new("route", "/cart")]);
        let latency = meter.f64_histogram("latency").with_unit("s").build()?;
        latency.record(0.5, &[]);
        latency.record(1.5, &[]);
        let temperature = meter.i64_gauge("temperature").build()?;
        temperature.record(-3, &[KeyValue::new("room", "a\nb")]);
        Ok(reader.collect()?)
    }

    #[test]
    fn one_line_per_point() -> Result<(), Box<dyn std::error::Error>> {
        let metrics = collect()?;
        let buffer = Buffer::default();
        let mut exporter = ConsoleMetricExporter::with_writer(buffer.clone());
        exporter.export(&metrics)?;
        let text = buffer.text();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_unstable();
        assert_eq!(
            lines,
            [
                "metric \"latency\" scope=shop type=histogram(cumulative) count=2 sum=2 min=0.5 max=1.5 unit=s attributes={}",
                "metric \"requests\" scope=shop type=sum(cumulative, monotonic) value=42 attributes={route=/cart}",
                "metric \"temperature\" scope=shop type=gauge value=-3 attributes={room=a\\nb}",
            ]
        );
        Ok(())
    }

    #[test]
    fn temporality_is_the_configured_preference() {
        let exporter = ConsoleMetricExporter::with_writer(Buffer::default())
            .with_temporality(TemporalityPreference::Delta);
        assert_eq!(
            exporter.temporality(InstrumentKind::Counter),
            Temporality::Delta
        );
        assert_eq!(
            ConsoleMetricExporter::with_writer(Buffer::default())
                .temporality(InstrumentKind::Counter),
            Temporality::Cumulative
        );
    }

    #[test]
    fn write_failures_and_shutdown_are_errors() -> Result<(), Box<dyn std::error::Error>> {
        let metrics = collect()?;
        let mut broken = ConsoleMetricExporter::with_writer(Broken);
        assert_eq!(
            broken.export(&metrics).map_err(|e| e.kind()).err(),
            Some(ExportErrorKind::Unavailable)
        );
        let mut exporter = ConsoleMetricExporter::with_writer(Buffer::default());
        exporter.shutdown()?;
        assert_eq!(
            exporter.export(&metrics).map_err(|e| e.kind()).err(),
            Some(ExportErrorKind::ShutDown)
        );
        Ok(())
    }

    #[test]
    fn exponential_histograms_and_temporalities_show_their_shape()
    -> Result<(), Box<dyn std::error::Error>> {
        use crate::view::{Aggregation, View};

        let reader = ManualReader::with_temporality(TemporalityPreference::Delta);
        let provider = MeterProvider::builder()
            .with_resource(Resource::empty())
            .with_reader(reader.clone())
            .with_view(
                View::builder()
                    .with_instrument_name("sizes")
                    .with_aggregation(Aggregation::exponential_histogram())
                    .build()?,
            )
            .build();
        let meter = provider.meter("shop");
        let sizes = meter.f64_histogram("sizes").with_unit("By").build()?;
        for size in [1.0, 2.0, 4.0] {
            sizes.record(size, &[]);
        }
        meter.u64_counter("sold").build()?.add(3, &[]);
        meter.i64_up_down_counter("queue").build()?.add(-2, &[]);

        let buffer = Buffer::default();
        let mut exporter = ConsoleMetricExporter::with_writer(buffer.clone())
            .with_temporality(TemporalityPreference::Delta);
        exporter.export(&reader.collect()?)?;
        let text = buffer.text();
        let mut lines: Vec<&str> = text.lines().collect();
        lines.sort_unstable();
        // Scale 6 is the finest at which 1..=4 fits the default 160 buckets.
        assert_eq!(
            lines,
            [
                // The delta preference keeps up-down counters cumulative, as the SDK spec says.
                "metric \"queue\" scope=shop type=sum(cumulative) value=-2 attributes={}",
                "metric \"sizes\" scope=shop type=exponential_histogram(delta) count=3 scale=6 sum=7 min=1 max=4 unit=By attributes={}",
                "metric \"sold\" scope=shop type=sum(delta, monotonic) value=3 attributes={}",
            ]
        );
        Ok(())
    }

    #[test]
    fn a_collection_without_points_writes_nothing() -> Result<(), Box<dyn std::error::Error>> {
        let reader = ManualReader::new();
        let _provider = MeterProvider::builder()
            .with_resource(Resource::empty())
            .with_reader(reader.clone())
            .build();
        let buffer = Buffer::default();
        let mut exporter = ConsoleMetricExporter::with_writer(buffer.clone());
        exporter.export(&reader.collect()?)?;
        assert_eq!(buffer.text(), "");
        Ok(())
    }

    #[test]
    fn a_failed_flush_is_unavailable() {
        let mut broken = ConsoleMetricExporter::with_writer(Broken);
        assert_eq!(
            broken.force_flush().map_err(|e| e.kind()).err(),
            Some(ExportErrorKind::Unavailable)
        );
        assert_eq!(
            broken.shutdown().map_err(|e| e.kind()).err(),
            Some(ExportErrorKind::Unavailable),
            "shutdown flushes too"
        );
    }
}
