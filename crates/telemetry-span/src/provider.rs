//! The tracer provider: the pipeline's configuration and its processors.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use telemetry_batcher::BuildError;
use telemetry_core::{InstrumentationScope, Resource, SpanId, StringValue, TraceId};

use crate::batch::BatchSpanProcessor;
use crate::error::{TraceError, combine};
use crate::exporter::SpanExporter;
use crate::limits::SpanLimits;
use crate::processor::{SimpleSpanProcessor, SpanProcessor};
use crate::sampler::Sampler;
use crate::tracer::Tracer;

/// Default deadline of [`TracerProvider::force_flush`] and [`TracerProvider::shutdown`].
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Makes trace and span ids. The default uses a fast thread-local random generator.
pub trait IdGenerator: Send + Sync + fmt::Debug {
    /// A new, valid trace id.
    fn new_trace_id(&self) -> TraceId;
    /// A new, valid span id.
    fn new_span_id(&self) -> SpanId;
    /// True when trace ids are random in at least their right-most 7 bytes, so root spans
    /// may carry the W3C `random` flag.
    fn trace_ids_are_random(&self) -> bool {
        false
    }
}

/// The entry point of tracing: holds the resource, sampler, limits and processors, and
/// hands out [`Tracer`]s. Cloning is cheap; clones share one pipeline.
#[derive(Clone, Debug)]
pub struct TracerProvider {
    pub(crate) inner: Arc<ProviderInner>,
}

/// Configures a [`TracerProvider`].
#[derive(Debug)]
pub struct TracerProviderBuilder {
    resource: Option<Resource>,
    /// Set by `with_exact_resource`: the resource is used as given, not merged over the
    /// detected one.
    exact_resource: bool,
    sampler: Option<Sampler>,
    limits: Option<SpanLimits>,
    processors: Vec<Box<dyn SpanProcessor>>,
    id_generator: Option<Arc<dyn IdGenerator>>,
}

#[derive(Debug)]
pub(crate) struct ProviderInner {
    pub(crate) resource: Resource,
    pub(crate) sampler: Sampler,
    pub(crate) limits: SpanLimits,
    pub(crate) processors: Vec<Box<dyn SpanProcessor>>,
    /// Whether any processor's `on_start` does something ([`SpanProcessor::needs_on_start`]):
    /// only then does a span start read the whole current context to hand it over.
    pub(crate) calls_on_start: bool,
    /// Whether every processor ends spans in place ([`SpanProcessor::ends_in_place`]): then
    /// an ending span goes to them straight out of its cell.
    pub(crate) ends_in_place: bool,
    /// `None` for the built-in random generator, which is called without dynamic dispatch.
    pub(crate) id_generator: Option<Arc<dyn IdGenerator>>,
    /// Set once by `shutdown`; read by every span start. Relaxed: a span starting during
    /// shutdown may record or not, and processors ignore spans after their own shutdown.
    pub(crate) shut_down: AtomicBool,
}

impl ProviderInner {
    #[inline]
    pub(crate) fn new_trace_id(&self) -> TraceId {
        match &self.id_generator {
            None => TraceId::random(),
            Some(generator) => generator.new_trace_id(),
        }
    }

    #[inline]
    pub(crate) fn new_span_id(&self) -> SpanId {
        match &self.id_generator {
            None => SpanId::random(),
            Some(generator) => generator.new_span_id(),
        }
    }

    pub(crate) fn trace_ids_are_random(&self) -> bool {
        self.id_generator
            .as_ref()
            .is_none_or(|generator| generator.trace_ids_are_random())
    }

    #[inline]
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Relaxed)
    }
}

impl TracerProvider {
    /// Starts configuring a provider. Unset parts come from the environment: the resource
    /// from [`Resource::detect`], the sampler from `OTEL_TRACES_SAMPLER`, the limits from the
    /// `OTEL_SPAN_*` variables.
    pub fn builder() -> TracerProviderBuilder {
        TracerProviderBuilder {
            resource: None,
            exact_resource: false,
            sampler: None,
            limits: None,
            processors: Vec::new(),
            id_generator: None,
        }
    }

    /// A tracer for the instrumentation scope `name` (a crate or module path).
    pub fn tracer(&self, name: impl Into<StringValue>) -> Tracer {
        self.tracer_with_scope(InstrumentationScope::builder(name).build())
    }

    /// A tracer for a fully described scope (version, schema URL, attributes).
    pub fn tracer_with_scope(&self, scope: InstrumentationScope) -> Tracer {
        Tracer::new(Arc::clone(&self.inner), scope)
    }

    /// The resource every span of this provider is exported with.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// The sampler.
    pub fn sampler(&self) -> &Sampler {
        &self.inner.sampler
    }

    /// The span limits.
    pub fn limits(&self) -> SpanLimits {
        self.inner.limits
    }

    /// Exports everything ended so far, within [`DEFAULT_FLUSH_TIMEOUT`].
    pub fn force_flush(&self) -> Result<(), TraceError> {
        self.force_flush_with_timeout(DEFAULT_FLUSH_TIMEOUT)
    }

    /// Exports everything ended so far, within `timeout` for each processor.
    pub fn force_flush_with_timeout(&self, timeout: Duration) -> Result<(), TraceError> {
        if self.inner.is_shut_down() {
            return Err(TraceError::AlreadyShutDown);
        }
        combine(self.inner.processors.iter().map(|p| p.force_flush(timeout)))
    }

    /// Flushes and stops every processor, within [`DEFAULT_FLUSH_TIMEOUT`]. Spans started
    /// afterwards do not record. A second call is an error.
    pub fn shutdown(&self) -> Result<(), TraceError> {
        self.shutdown_with_timeout(DEFAULT_FLUSH_TIMEOUT)
    }

    /// [`TracerProvider::shutdown`] with a deadline for each processor.
    pub fn shutdown_with_timeout(&self, timeout: Duration) -> Result<(), TraceError> {
        if self.inner.shut_down.swap(true, Ordering::Relaxed) {
            return Err(TraceError::AlreadyShutDown);
        }
        combine(self.inner.processors.iter().map(|p| p.shutdown(timeout)))
    }
}

impl TracerProviderBuilder {
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

    /// Sets the sampler (otherwise from `OTEL_TRACES_SAMPLER`, default parent-based always-on).
    pub fn with_sampler(mut self, sampler: Sampler) -> Self {
        self.sampler = Some(sampler);
        self
    }

    /// Sets the span limits (otherwise from the `OTEL_SPAN_*` variables).
    pub fn with_span_limits(mut self, limits: SpanLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Sets the id generator.
    pub fn with_id_generator(mut self, generator: impl IdGenerator + 'static) -> Self {
        self.id_generator = Some(Arc::new(generator));
        self
    }

    /// Adds a processor; processors run in the order added.
    pub fn with_span_processor(mut self, processor: impl SpanProcessor) -> Self {
        self.processors.push(Box::new(processor));
        self
    }

    /// Adds a [`SimpleSpanProcessor`] exporting through `exporter`.
    pub fn with_simple_exporter(self, exporter: impl SpanExporter) -> Self {
        self.with_span_processor(SimpleSpanProcessor::new(exporter))
    }

    /// Adds a [`BatchSpanProcessor`] (with the `OTEL_BSP_*` settings) exporting through
    /// `exporter`. Fails only if its worker thread cannot be started.
    pub fn with_batch_exporter(self, exporter: impl SpanExporter) -> Result<Self, BuildError> {
        Ok(self.with_span_processor(BatchSpanProcessor::new(exporter)?))
    }

    /// The provider.
    pub fn build(self) -> TracerProvider {
        let resource = match self.resource {
            Some(resource) if self.exact_resource => resource,
            Some(user) => Resource::detect_merged(&user),
            None => Resource::detect(),
        };
        for processor in &self.processors {
            processor.set_resource(&resource);
        }
        let calls_on_start = self.processors.iter().any(|p| p.needs_on_start());
        let ends_in_place =
            !self.processors.is_empty() && self.processors.iter().all(|p| p.ends_in_place());
        TracerProvider {
            inner: Arc::new(ProviderInner {
                resource,
                sampler: self.sampler.unwrap_or_else(Sampler::from_env),
                limits: self.limits.unwrap_or_else(SpanLimits::from_env),
                processors: self.processors,
                calls_on_start,
                ends_in_place,
                id_generator: self.id_generator,
                shut_down: AtomicBool::new(false),
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
        let exact = TracerProvider::builder()
            .with_exact_resource(given())
            .build();
        assert_eq!(exact.resource(), &given());
        let merged = TracerProvider::builder().with_resource(given()).build();
        assert_eq!(merged.resource().service_name(), Some("exact"));
        assert!(merged.resource().get("telemetry.sdk.language").is_some());
        // The last setter wins.
        let plain_again = TracerProvider::builder()
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
