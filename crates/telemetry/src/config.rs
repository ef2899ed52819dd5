//! The pipeline's configuration: what the `OTEL_*` variables say, and a builder that says the
//! same in code.
//!
//! Every setting is read once, when the builder is made from an environment: a value that
//! does not parse is reported then (through `telemetry_core::diagnostic`) and the default is
//! used. Nothing here panics on any input.

use std::fmt;
use std::time::Duration;

use telemetry_context::{
    BaggagePropagator, CompositePropagator, TextMapPropagator, TraceContextPropagator,
};
use telemetry_core::env::{self, EnvSource, ProcessEnv};
use telemetry_core::{Resource, diagnostic};
use telemetry_logs::{
    BatchConfig as LogBatchConfig, LogExporter, LogLimits, MAX_QUEUE_SIZE as MAX_LOG_QUEUE_SIZE,
    Severity,
};
#[cfg(feature = "otlp")]
use telemetry_metrics::TemporalityPreference;
use telemetry_metrics::{
    DEFAULT_EXPORT_INTERVAL, DEFAULT_EXPORT_TIMEOUT, ExemplarFilter, PushMetricExporter, View,
};
use telemetry_span::{BatchConfig as SpanBatchConfig, Sampler, SpanExporter, SpanLimits};

/// Where one signal's data goes (`OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER`,
/// `OTEL_LOGS_EXPORTER`; a comma-separated list of these names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExporterKind {
    /// OTLP, over the protocol of `OTEL_EXPORTER_OTLP_PROTOCOL` (`otlp`, the default). Needs
    /// the `otlp` feature; without it the choice is reported and ignored.
    Otlp,
    /// One human-readable line per span, point or record on standard output (`console`).
    Console,
}

/// A propagator named in `OTEL_PROPAGATORS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PropagatorKind {
    /// W3C `traceparent` and `tracestate` (`tracecontext`).
    TraceContext,
    /// W3C `baggage` (`baggage`).
    Baggage,
}

/// Settings for a [`Telemetry`](crate::Telemetry) pipeline: everything the standard
/// variables configure, and the exporters and views only code can give.
///
/// [`TelemetryBuilder::new`] starts from the specification's defaults and ignores the
/// environment; [`TelemetryBuilder::from_env`] starts from the process environment;
/// [`TelemetryBuilder::from_env_source`] from any [`EnvSource`] (a map in tests). Setters
/// called afterwards win over the environment.
pub struct TelemetryBuilder {
    pub(crate) disabled: bool,
    pub(crate) resource: Resource,
    pub(crate) traces: Vec<ExporterKind>,
    pub(crate) metrics: Vec<ExporterKind>,
    pub(crate) logs: Vec<ExporterKind>,
    pub(crate) propagators: Vec<PropagatorKind>,
    pub(crate) sampler: Sampler,
    pub(crate) span_limits: SpanLimits,
    pub(crate) log_limits: LogLimits,
    pub(crate) span_batch: SpanBatchConfig,
    pub(crate) log_batch: LogBatchConfig,
    pub(crate) metric_interval: Duration,
    pub(crate) metric_timeout: Duration,
    pub(crate) exemplar_filter: ExemplarFilter,
    pub(crate) min_log_severity: Severity,
    #[cfg(feature = "otlp")]
    pub(crate) otlp: OtlpSettings,
    pub(crate) span_exporters: Vec<Box<dyn SpanExporter>>,
    pub(crate) metric_exporters: Vec<Box<dyn PushMetricExporter>>,
    pub(crate) log_exporters: Vec<Box<dyn LogExporter>>,
    pub(crate) views: Vec<View>,
    pub(crate) scope: &'static str,
    /// The OTLP ports (gRPC, HTTP) `start_dashboard_server` opens; `None` for the
    /// dashboard's defaults.
    #[cfg(feature = "dashboard")]
    pub(crate) dashboard_otlp_ports: Option<(u16, u16)>,
}

/// The OTLP exporters' settings, per signal.
#[cfg(feature = "otlp")]
#[derive(Clone, Debug)]
pub(crate) struct OtlpSettings {
    pub(crate) traces: telemetry_otlp::ExporterConfig,
    pub(crate) metrics: telemetry_otlp::ExporterConfig,
    pub(crate) logs: telemetry_otlp::ExporterConfig,
    pub(crate) temporality: TemporalityPreference,
}

impl fmt::Debug for TelemetryBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("TelemetryBuilder");
        debug
            .field("disabled", &self.disabled)
            .field("resource", &self.resource)
            .field("traces", &self.traces)
            .field("metrics", &self.metrics)
            .field("logs", &self.logs)
            .field("propagators", &self.propagators)
            .field("sampler", &self.sampler)
            .field("span_batch", &self.span_batch)
            .field("log_batch", &self.log_batch)
            .field("metric_interval", &self.metric_interval)
            .field("metric_timeout", &self.metric_timeout);
        #[cfg(feature = "otlp")]
        debug.field("otlp", &self.otlp);
        debug
            .field("span_exporters", &self.span_exporters.len())
            .field("metric_exporters", &self.metric_exporters.len())
            .field("log_exporters", &self.log_exporters.len())
            .finish_non_exhaustive()
    }
}

impl Default for TelemetryBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl TelemetryBuilder {
    /// The specification's defaults, without reading the environment: enabled, OTLP for
    /// every signal, W3C trace context and baggage, parent-based always-on sampling, the
    /// default batch and reader settings, and a resource with `telemetry.sdk.*` and
    /// `service.name = unknown_service:<executable>`.
    pub fn new() -> Self {
        Self::from_env_source(&[] as &[(&str, &str)])
    }

    /// The settings the process environment's `OTEL_*` variables give.
    pub fn from_env() -> Self {
        Self::from_env_source(&ProcessEnv)
    }

    /// The settings the `OTEL_*` variables of `env` give; see the crate docs for the list.
    /// Bad values are reported once each, here, and replaced by their defaults.
    pub fn from_env_source(env: &(impl EnvSource + ?Sized)) -> Self {
        let metric_timeout = match env::read_millis(env, "OTEL_METRIC_EXPORT_TIMEOUT") {
            // The specification's 0 means "no limit".
            Some(Duration::ZERO) => Duration::MAX,
            Some(timeout) => timeout,
            None => DEFAULT_EXPORT_TIMEOUT,
        };
        TelemetryBuilder {
            disabled: env::read_bool(env, "OTEL_SDK_DISABLED").unwrap_or(false),
            resource: Resource::detect_from(env),
            traces: exporters(env, "OTEL_TRACES_EXPORTER"),
            metrics: exporters(env, "OTEL_METRICS_EXPORTER"),
            logs: exporters(env, "OTEL_LOGS_EXPORTER"),
            propagators: propagators(env),
            sampler: Sampler::from_env_source(env),
            span_limits: SpanLimits::from_env_source(env),
            log_limits: LogLimits::from_env_source(env),
            span_batch: SpanBatchConfig::from_env_source(env),
            // telemetry-logs caps the queue already; capped again so this stays bounded
            // whatever the reader does.
            log_batch: capped_log_batch(LogBatchConfig::from_env_source(env)),
            metric_interval: env::read_millis(env, "OTEL_METRIC_EXPORT_INTERVAL")
                .filter(|interval| !interval.is_zero())
                .unwrap_or(DEFAULT_EXPORT_INTERVAL),
            metric_timeout,
            exemplar_filter: ExemplarFilter::from_env(env).unwrap_or_default(),
            min_log_severity: Severity::UNSPECIFIED,
            #[cfg(feature = "otlp")]
            otlp: OtlpSettings {
                traces: telemetry_otlp::ExporterConfig::from_env_source(
                    env,
                    telemetry_otlp::Signal::Traces,
                ),
                metrics: telemetry_otlp::ExporterConfig::from_env_source(
                    env,
                    telemetry_otlp::Signal::Metrics,
                ),
                logs: telemetry_otlp::ExporterConfig::from_env_source(
                    env,
                    telemetry_otlp::Signal::Logs,
                ),
                temporality: TemporalityPreference::from_env(env).unwrap_or_default(),
            },
            span_exporters: Vec::new(),
            metric_exporters: Vec::new(),
            log_exporters: Vec::new(),
            views: Vec::new(),
            scope: crate::SCOPE,
            #[cfg(feature = "dashboard")]
            dashboard_otlp_ports: None,
        }
    }

    /// Turns the whole pipeline off (`OTEL_SDK_DISABLED=true`): spans do not record,
    /// instruments and loggers accept calls and drop them, nothing is exported. Context
    /// still propagates.
    pub fn with_disabled(mut self, disabled: bool) -> Self {
        self.disabled = disabled;
        self
    }

    /// Sets `service.name` (`OTEL_SERVICE_NAME`).
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.resource = self
            .resource
            .merge(&Resource::builder().with_service_name(name.into()).build())
            .unwrap_or_else(|_| self.resource.clone());
        self
    }

    /// Merges `resource` over the current one; its attributes win
    /// (`OTEL_RESOURCE_ATTRIBUTES` is the weaker source, as the specification asks). On a
    /// schema URL conflict `resource` is used alone, with a warning.
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = self.resource.merge(&resource).unwrap_or_else(|error| {
            diagnostic::report(
                "telemetry",
                format_args!("{error}; using the given resource alone"),
            );
            resource
        });
        self
    }

    /// Sets the exporters of spans (`OTEL_TRACES_EXPORTER`); empty means none.
    pub fn with_traces_exporters(mut self, kinds: impl IntoIterator<Item = ExporterKind>) -> Self {
        self.traces = kinds.into_iter().collect();
        self
    }

    /// Sets the exporters of metrics (`OTEL_METRICS_EXPORTER`); empty means none.
    pub fn with_metrics_exporters(mut self, kinds: impl IntoIterator<Item = ExporterKind>) -> Self {
        self.metrics = kinds.into_iter().collect();
        self
    }

    /// Sets the exporters of log records (`OTEL_LOGS_EXPORTER`); empty means none.
    pub fn with_logs_exporters(mut self, kinds: impl IntoIterator<Item = ExporterKind>) -> Self {
        self.logs = kinds.into_iter().collect();
        self
    }

    /// Sets the exporters of every signal at once.
    pub fn with_exporters(self, kinds: impl IntoIterator<Item = ExporterKind> + Clone) -> Self {
        self.with_traces_exporters(kinds.clone())
            .with_metrics_exporters(kinds.clone())
            .with_logs_exporters(kinds)
    }

    /// Sets the propagators (`OTEL_PROPAGATORS`), in order; empty means none.
    pub fn with_propagators(mut self, kinds: impl IntoIterator<Item = PropagatorKind>) -> Self {
        self.propagators = Vec::new();
        for kind in kinds {
            if !self.propagators.contains(&kind) {
                self.propagators.push(kind);
            }
        }
        self
    }

    /// Sets the sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`).
    pub fn with_sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = sampler;
        self
    }

    /// Sets the span limits (`OTEL_SPAN_*`, `OTEL_ATTRIBUTE_*`).
    pub fn with_span_limits(mut self, limits: SpanLimits) -> Self {
        self.span_limits = limits;
        self
    }

    /// Sets the log record limits (`OTEL_LOGRECORD_*`).
    pub fn with_log_limits(mut self, limits: LogLimits) -> Self {
        self.log_limits = limits;
        self
    }

    /// Sets the batch span processor's settings (`OTEL_BSP_*`).
    pub fn with_span_batch_config(mut self, config: SpanBatchConfig) -> Self {
        self.span_batch = config;
        self
    }

    /// Sets the batch log processor's settings (`OTEL_BLRP_*`). A `max_queue_size` above
    /// [`telemetry::logs::MAX_QUEUE_SIZE`](telemetry_logs::MAX_QUEUE_SIZE) is reported and
    /// capped: the queue is allocated up front.
    pub fn with_log_batch_config(mut self, config: LogBatchConfig) -> Self {
        self.log_batch = capped_log_batch(config);
        self
    }

    /// Sets the time between metric exports (`OTEL_METRIC_EXPORT_INTERVAL`; zero is
    /// ignored).
    pub fn with_metric_export_interval(mut self, interval: Duration) -> Self {
        if !interval.is_zero() {
            self.metric_interval = interval;
        }
        self
    }

    /// Sets how long a metric export may take (`OTEL_METRIC_EXPORT_TIMEOUT`); zero means no
    /// limit, as the variable's 0 does.
    pub fn with_metric_export_timeout(mut self, timeout: Duration) -> Self {
        self.metric_timeout = if timeout.is_zero() {
            Duration::MAX
        } else {
            timeout
        };
        self
    }

    /// Sets the exemplar filter (`OTEL_METRICS_EXEMPLAR_FILTER`).
    pub fn with_exemplar_filter(mut self, filter: ExemplarFilter) -> Self {
        self.exemplar_filter = filter;
        self
    }

    /// Drops log records below `severity` before any processor sees them.
    pub fn with_min_log_severity(mut self, severity: Severity) -> Self {
        self.min_log_severity = severity;
        self
    }

    /// Sets the OTLP exporter settings of spans (`OTEL_EXPORTER_OTLP_TRACES_*`).
    #[cfg(feature = "otlp")]
    pub fn with_otlp_traces(mut self, config: telemetry_otlp::ExporterConfig) -> Self {
        self.otlp.traces = config;
        self
    }

    /// Sets the OTLP exporter settings of metrics (`OTEL_EXPORTER_OTLP_METRICS_*`).
    #[cfg(feature = "otlp")]
    pub fn with_otlp_metrics(mut self, config: telemetry_otlp::ExporterConfig) -> Self {
        self.otlp.metrics = config;
        self
    }

    /// Sets the OTLP exporter settings of log records (`OTEL_EXPORTER_OTLP_LOGS_*`).
    #[cfg(feature = "otlp")]
    pub fn with_otlp_logs(mut self, config: telemetry_otlp::ExporterConfig) -> Self {
        self.otlp.logs = config;
        self
    }

    /// Sets the temporality the OTLP metric exporter asks for
    /// (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
    #[cfg(feature = "otlp")]
    pub fn with_otlp_temporality(mut self, preference: TemporalityPreference) -> Self {
        self.otlp.temporality = preference;
        self
    }

    /// Adds a span exporter of your own, behind its own batch processor (with the
    /// `OTEL_BSP_*` settings), besides those the exporter kinds name.
    pub fn with_span_exporter(mut self, exporter: impl SpanExporter) -> Self {
        self.span_exporters.push(Box::new(exporter));
        self
    }

    /// Adds a metric exporter of your own, behind its own periodic reader, besides those the
    /// exporter kinds name.
    pub fn with_metric_exporter(mut self, exporter: impl PushMetricExporter) -> Self {
        self.metric_exporters.push(Box::new(exporter));
        self
    }

    /// Adds a log exporter of your own, behind its own batch processor (with the
    /// `OTEL_BLRP_*` settings), besides those the exporter kinds name.
    pub fn with_log_exporter(mut self, exporter: impl LogExporter) -> Self {
        self.log_exporters.push(Box::new(exporter));
        self
    }

    /// Adds a metrics view.
    pub fn with_view(mut self, view: View) -> Self {
        self.views.push(view);
        self
    }

    /// Sets the instrumentation scope name of the pipeline's own tracer, meter and logger
    /// ([`Telemetry::tracer`](crate::Telemetry::tracer) and the rest, which the `create_*`
    /// functions use); `"telemetry"` by default. The free span functions
    /// ([`start_span`](crate::start_span), [`traced`](crate::traced())) keep the scope
    /// `"telemetry"`, as `#[traced]` keeps its module path.
    pub fn with_scope_name(mut self, name: &'static str) -> Self {
        self.scope = name;
        self
    }

    /// Sets the ports on 127.0.0.1 where
    /// [`start_dashboard_server`](crate::start_dashboard_server) takes OTLP from other
    /// processes: `grpc` for OTLP/gRPC and `http` for OTLP/HTTP; 0 picks a free port. By
    /// default the dashboard's own, 4317 and 4318 (free ports when those are taken). Tests
    /// and programs that run several dashboards set `(0, 0)`.
    ///
    /// ```
    /// let _guard = telemetry::TelemetryBuilder::new()
    ///     .with_exporters([])
    ///     .with_dashboard_otlp_ports(0, 0)
    ///     .init();
    /// let dashboard = telemetry::start_dashboard_server(0)?;
    /// assert_ne!(dashboard.grpc_addr().port(), 4317);
    /// assert_ne!(dashboard.http_addr().port(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "dashboard")]
    pub fn with_dashboard_otlp_ports(mut self, grpc: u16, http: u16) -> Self {
        self.dashboard_otlp_ports = Some((grpc, http));
        self
    }

    /// The composite propagator the settings name.
    pub(crate) fn propagator(&self) -> CompositePropagator {
        CompositePropagator::new(
            self.propagators
                .iter()
                .map(|kind| -> Box<dyn TextMapPropagator> {
                    match kind {
                        PropagatorKind::TraceContext => Box::new(TraceContextPropagator),
                        PropagatorKind::Baggage => Box::new(BaggagePropagator),
                    }
                })
                .collect(),
        )
    }
}

/// `config` with its queue no larger than telemetry-logs' cap (and its export batch no
/// larger than the queue), reporting a cut: the ring is allocated up front, so a huge value
/// would abort the process on allocation.
fn capped_log_batch(mut config: LogBatchConfig) -> LogBatchConfig {
    if config.max_queue_size > MAX_LOG_QUEUE_SIZE {
        diagnostic::report(
            "telemetry",
            format_args!(
                "log batch max_queue_size {} exceeds {MAX_LOG_QUEUE_SIZE}; using {MAX_LOG_QUEUE_SIZE}",
                config.max_queue_size
            ),
        );
        config.max_queue_size = MAX_LOG_QUEUE_SIZE;
        config.max_export_batch_size = config.max_export_batch_size.min(MAX_LOG_QUEUE_SIZE);
    }
    config
}

/// Reads an exporter list: comma-separated, case-insensitive, `none` alone for none.
/// Unknown names are reported and skipped; a list with no usable name is the default
/// (`otlp`), as for any unknown value.
fn exporters(env: &(impl EnvSource + ?Sized), name: &str) -> Vec<ExporterKind> {
    let Some(value) = env::read_string(env, name) else {
        return vec![ExporterKind::Otlp];
    };
    let mut kinds = Vec::new();
    let mut none = false;
    let mut unknown = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let kind = match item.to_ascii_lowercase().as_str() {
            "otlp" => ExporterKind::Otlp,
            // `logging` is the older name some SDKs still accept.
            "console" | "logging" => ExporterKind::Console,
            "none" => {
                none = true;
                continue;
            }
            _ => {
                unknown.push(item);
                continue;
            }
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    // One report per name and value, however many init() calls read the environment
    // again, so both complaints go in the same message.
    let mixed = none && !kinds.is_empty();
    match (unknown.is_empty(), mixed) {
        (true, false) => {}
        (false, false) => {
            env::report_invalid_once(
                name,
                &value,
                format_args!("unknown exporter(s) {unknown:?} ignored"),
            );
        }
        (true, true) => {
            env::report_invalid_once(
                name,
                &value,
                format_args!("mixes `none` with exporters; using the exporters"),
            );
        }
        (false, true) => {
            env::report_invalid_once(
                name,
                &value,
                format_args!(
                    "unknown exporter(s) {unknown:?} ignored; mixes `none` with exporters, \
                     using the exporters"
                ),
            );
        }
    }
    if none {
        return kinds;
    }
    if kinds.is_empty() {
        return vec![ExporterKind::Otlp];
    }
    kinds
}

/// Reads `OTEL_PROPAGATORS`: comma-separated, deduplicated, `none` for none; unknown names
/// (`b3`, `jaeger`, ... which this SDK does not implement) are reported and skipped.
fn propagators(env: &(impl EnvSource + ?Sized)) -> Vec<PropagatorKind> {
    const NAME: &str = "OTEL_PROPAGATORS";
    let default = vec![PropagatorKind::TraceContext, PropagatorKind::Baggage];
    let Some(value) = env::read_string(env, NAME) else {
        return default;
    };
    let mut kinds = Vec::new();
    let mut unknown = Vec::new();
    let mut none = false;
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let kind = match item.to_ascii_lowercase().as_str() {
            "tracecontext" => PropagatorKind::TraceContext,
            "baggage" => PropagatorKind::Baggage,
            "none" => {
                none = true;
                continue;
            }
            _ => {
                unknown.push(item);
                continue;
            }
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if !unknown.is_empty() {
        env::report_invalid_once(
            NAME,
            &value,
            format_args!("unknown or unsupported propagator(s) {unknown:?} ignored"),
        );
    }
    if kinds.is_empty() && !none && !unknown.is_empty() {
        return default;
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exporter_lists_follow_the_spec() {
        let env = [
            ("OTEL_TRACES_EXPORTER", "Console, otlp,console"),
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "zipkin"),
        ];
        assert_eq!(
            exporters(&env, "OTEL_TRACES_EXPORTER"),
            [ExporterKind::Console, ExporterKind::Otlp]
        );
        assert_eq!(exporters(&env, "OTEL_METRICS_EXPORTER"), []);
        assert_eq!(exporters(&env, "OTEL_LOGS_EXPORTER"), [ExporterKind::Otlp]);
        assert_eq!(exporters(&env, "UNSET"), [ExporterKind::Otlp]);
        let mixed = [("X", "none,console")];
        assert_eq!(exporters(&mixed, "X"), [ExporterKind::Console]);
    }

    #[test]
    fn propagator_lists_follow_the_spec() {
        let default = [PropagatorKind::TraceContext, PropagatorKind::Baggage];
        assert_eq!(propagators(&[] as &[(&str, &str)]), default);
        assert_eq!(
            propagators(&[("OTEL_PROPAGATORS", "baggage,b3,BAGGAGE")]),
            [PropagatorKind::Baggage]
        );
        assert_eq!(propagators(&[("OTEL_PROPAGATORS", "none")]), []);
        assert_eq!(propagators(&[("OTEL_PROPAGATORS", "b3")]), default);
    }

    #[test]
    fn the_environment_sets_every_option_and_bad_values_fall_back() {
        let env = [
            ("OTEL_SDK_DISABLED", "TRUE"),
            ("OTEL_SERVICE_NAME", "checkout"),
            ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test"),
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
            ("OTEL_BSP_MAX_QUEUE_SIZE", "lots"),
            ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "64"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1500"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "0"),
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2.5"),
        ];
        let builder = TelemetryBuilder::from_env_source(&env);
        assert!(builder.disabled);
        assert_eq!(builder.resource.service_name(), Some("checkout"));
        assert_eq!(
            builder
                .resource
                .get("deployment.environment")
                .and_then(|v| v.as_str()),
            Some("test")
        );
        assert_eq!(
            builder.span_batch.scheduled_delay,
            Duration::from_millis(250)
        );
        assert_eq!(builder.span_batch.max_queue_size, 2048);
        assert_eq!(builder.log_batch.max_export_batch_size, 64);
        assert_eq!(builder.metric_interval, Duration::from_millis(1500));
        assert_eq!(builder.metric_timeout, Duration::MAX);
        assert!(matches!(builder.sampler, Sampler::TraceIdRatioBased(r) if r == 1.0));
    }

    #[test]
    fn new_ignores_the_environment_and_setters_win() {
        let builder = TelemetryBuilder::new()
            .with_service_name("svc")
            .with_exporters([ExporterKind::Console])
            .with_propagators([PropagatorKind::Baggage, PropagatorKind::Baggage]);
        assert!(!builder.disabled);
        assert_eq!(builder.resource.service_name(), Some("svc"));
        assert_eq!(builder.traces, [ExporterKind::Console]);
        assert_eq!(builder.logs, [ExporterKind::Console]);
        assert_eq!(builder.propagators, [PropagatorKind::Baggage]);
        assert_eq!(builder.propagator().fields(), ["baggage"]);
        assert_eq!(builder.metric_interval, DEFAULT_EXPORT_INTERVAL);
    }

    #[test]
    fn a_zero_metric_timeout_means_no_limit_from_code_as_from_the_environment() {
        let builder = TelemetryBuilder::new().with_metric_export_timeout(Duration::ZERO);
        assert_eq!(builder.metric_timeout, Duration::MAX);
        let builder = builder.with_metric_export_timeout(Duration::from_secs(3));
        assert_eq!(builder.metric_timeout, Duration::from_secs(3));
    }

    #[test]
    fn a_huge_log_queue_is_capped_and_the_pipeline_still_builds() -> Result<(), crate::BuildError> {
        let env = [
            ("OTEL_BLRP_MAX_QUEUE_SIZE", "1000000000"),
            ("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", "1000000000"),
        ];
        let builder = TelemetryBuilder::from_env_source(&env);
        assert_eq!(builder.log_batch.max_queue_size, MAX_LOG_QUEUE_SIZE);
        assert!(builder.log_batch.max_export_batch_size <= MAX_LOG_QUEUE_SIZE);

        let huge = LogBatchConfig {
            max_queue_size: 1_000_000_000,
            max_export_batch_size: 1_000_000_000,
            ..LogBatchConfig::default()
        };
        let builder = TelemetryBuilder::new().with_log_batch_config(huge);
        assert_eq!(builder.log_batch.max_queue_size, MAX_LOG_QUEUE_SIZE);
        assert_eq!(builder.log_batch.max_export_batch_size, MAX_LOG_QUEUE_SIZE);
        let small = LogBatchConfig {
            max_queue_size: 16,
            max_export_batch_size: 8,
            ..LogBatchConfig::default()
        };
        assert_eq!(
            TelemetryBuilder::new()
                .with_log_batch_config(small)
                .log_batch,
            small
        );

        // Building allocates the capped ring (a few MB), not a billion slots.
        let exporter = telemetry_logs::InMemoryLogExporter::default();
        let telemetry = builder
            .with_exporters([])
            .with_log_exporter(exporter.clone())
            .build()?;
        telemetry
            .logger()
            .emit(telemetry_logs::LogRecord::new(Severity::INFO).with_body("kept"));
        assert!(telemetry.force_flush().is_ok());
        assert_eq!(exporter.records().len(), 1);
        Ok(())
    }
}
