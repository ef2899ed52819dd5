//! The logger provider: the pipeline's configuration and its processors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use telemetry_batcher::BuildError;
use telemetry_core::{InstrumentationScope, Resource, StringValue};

use crate::batch::BatchLogProcessor;
use crate::error::{LogError, combine};
use crate::exporter::LogExporter;
use crate::limits::LogLimits;
use crate::logger::Logger;
use crate::processor::{LogProcessor, SimpleLogProcessor};
use crate::severity::Severity;

/// Default deadline of [`LoggerProvider::force_flush`] and [`LoggerProvider::shutdown`].
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// The entry point of logging: holds the resource, limits and processors, and hands out
/// [`Logger`]s, one per instrumentation scope. Cloning is cheap; clones share one pipeline.
#[derive(Clone, Debug)]
pub struct LoggerProvider {
    pub(crate) inner: Arc<ProviderInner>,
}

/// Configures a [`LoggerProvider`].
#[derive(Debug)]
pub struct LoggerProviderBuilder {
    resource: Option<Resource>,
    /// Set by `with_exact_resource`: the resource is used as given, not merged over the
    /// detected one.
    exact_resource: bool,
    limits: Option<LogLimits>,
    min_severity: Severity,
    processors: Vec<Box<dyn LogProcessor>>,
}

#[derive(Debug)]
pub(crate) struct ProviderInner {
    pub(crate) resource: Resource,
    pub(crate) limits: LogLimits,
    pub(crate) min_severity: Severity,
    pub(crate) processors: Vec<Box<dyn LogProcessor>>,
    /// Set once by `shutdown`; read by every emit. Relaxed: a record emitted during shutdown
    /// may go either way, and processors ignore records after their own shutdown.
    pub(crate) shut_down: AtomicBool,
    /// Set by the first record that loses attributes to the limits, so that is reported
    /// once. Relaxed: only the report depends on it.
    pub(crate) reported_dropped_attributes: AtomicBool,
}

impl ProviderInner {
    #[inline]
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Relaxed)
    }
}

impl LoggerProvider {
    /// Starts configuring a provider. Unset parts come from the environment: the resource
    /// from [`Resource::detect`], the limits from the `OTEL_LOGRECORD_*` variables.
    pub fn builder() -> LoggerProviderBuilder {
        LoggerProviderBuilder {
            resource: None,
            exact_resource: false,
            limits: None,
            min_severity: Severity::UNSPECIFIED,
            processors: Vec::new(),
        }
    }

    /// A logger for the instrumentation scope `name` (a crate or module path).
    pub fn logger(&self, name: impl Into<StringValue>) -> Logger {
        self.logger_with_scope(InstrumentationScope::builder(name).build())
    }

    /// A logger for a fully described scope (version, schema URL, attributes).
    pub fn logger_with_scope(&self, scope: InstrumentationScope) -> Logger {
        Logger::new(Arc::clone(&self.inner), scope)
    }

    /// The resource every record of this provider is exported with.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// The attribute limits.
    pub fn limits(&self) -> LogLimits {
        self.inner.limits
    }

    /// The least severity emitted; records below it (other than unspecified ones) are
    /// dropped at emit.
    pub fn min_severity(&self) -> Severity {
        self.inner.min_severity
    }

    /// Exports everything emitted so far, within [`DEFAULT_FLUSH_TIMEOUT`].
    pub fn force_flush(&self) -> Result<(), LogError> {
        self.force_flush_with_timeout(DEFAULT_FLUSH_TIMEOUT)
    }

    /// Exports everything emitted so far, within `timeout` for each processor.
    pub fn force_flush_with_timeout(&self, timeout: Duration) -> Result<(), LogError> {
        if self.inner.is_shut_down() {
            return Err(LogError::AlreadyShutDown);
        }
        combine(self.inner.processors.iter().map(|p| p.force_flush(timeout)))
    }

    /// Flushes and stops every processor, within [`DEFAULT_FLUSH_TIMEOUT`]. Records emitted
    /// afterwards are ignored. A second call is an error.
    pub fn shutdown(&self) -> Result<(), LogError> {
        self.shutdown_with_timeout(DEFAULT_FLUSH_TIMEOUT)
    }

    /// [`LoggerProvider::shutdown`] with a deadline for each processor.
    pub fn shutdown_with_timeout(&self, timeout: Duration) -> Result<(), LogError> {
        if self.inner.shut_down.swap(true, Ordering::Relaxed) {
            return Err(LogError::AlreadyShutDown);
        }
        combine(self.inner.processors.iter().map(|p| p.shutdown(timeout)))
    }
}

impl LoggerProviderBuilder {
    /// Sets the resource, merged over the detected one ([`Resource::detect_merged`]);
    /// without it, [`Resource::detect`].
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self.exact_resource = false;
        self
    }

    /// Sets the resource, used exactly as given: nothing is detected or merged under it.
    /// For callers that detected the resource themselves (the `telemetry` facade, from
    /// its own environment source), so the environment is read, and its errors reported,
    /// once.
    pub fn with_exact_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self.exact_resource = true;
        self
    }

    /// Sets the attribute limits (otherwise from the `OTEL_LOGRECORD_*` variables).
    pub fn with_limits(mut self, limits: LogLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Drops records less severe than `severity` at emit, and makes
    /// [`Logger::enabled`] say so. Records of unspecified severity always pass, as the
    /// spec's `minimum_severity` has it.
    pub fn with_min_severity(mut self, severity: Severity) -> Self {
        self.min_severity = severity;
        self
    }

    /// Adds a processor; processors run in the order added.
    pub fn with_processor(mut self, processor: impl LogProcessor) -> Self {
        self.processors.push(Box::new(processor));
        self
    }

    /// Adds a [`SimpleLogProcessor`] exporting through `exporter`.
    pub fn with_simple_exporter(self, exporter: impl LogExporter) -> Self {
        self.with_processor(SimpleLogProcessor::new(exporter))
    }

    /// Adds a [`BatchLogProcessor`] (with the `OTEL_BLRP_*` settings) exporting through
    /// `exporter`. Fails only if its worker thread cannot be started.
    pub fn with_batch_exporter(self, exporter: impl LogExporter) -> Result<Self, BuildError> {
        Ok(self.with_processor(BatchLogProcessor::new(exporter)?))
    }

    /// The provider.
    pub fn build(self) -> LoggerProvider {
        let resource = match self.resource {
            Some(resource) if self.exact_resource => resource,
            Some(user) => Resource::detect_merged(&user),
            None => Resource::detect(),
        };
        for processor in &self.processors {
            processor.set_resource(&resource);
        }
        LoggerProvider {
            inner: Arc::new(ProviderInner {
                resource,
                limits: self.limits.unwrap_or_else(LogLimits::from_env),
                min_severity: self.min_severity,
                processors: self.processors,
                shut_down: AtomicBool::new(false),
                reported_dropped_attributes: AtomicBool::new(false),
            }),
        }
    }
}

#[cfg(test)]
mod exact_resource_tests {
    use super::*;

    #[test]
    fn an_exact_resource_is_used_as_given_and_a_plain_one_is_merged() {
        let given = || Resource::builder().with_service_name("exact").build();
        let exact = LoggerProvider::builder()
            .with_exact_resource(given())
            .build();
        assert_eq!(exact.resource(), &given());
        let merged = LoggerProvider::builder().with_resource(given()).build();
        assert_eq!(merged.resource().service_name(), Some("exact"));
        assert!(merged.resource().get("telemetry.sdk.language").is_some());
        // The last setter wins.
        let plain_again = LoggerProvider::builder()
            .with_exact_resource(given())
            .with_resource(given())
            .build();
        assert!(
            plain_again
                .resource()
                .get("telemetry.sdk.language")
                .is_some()
        );
    }
}
